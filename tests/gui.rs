//! The window driven through egui_kittest (no GPU), with the real server running on port 0 and
//! tungstenite as the client.

use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable as _;
mod common;
use common::{late_client, tshark, Flood};
use egui_kittest::Harness;
use wsscope::gui::{Settings, WsscopeApp};
use wsscope::server::ServerConfig;

/// The default settings in English whatever `LANG` says: the tests find widgets by their
/// English labels.
fn english() -> Settings {
    Settings {
        lang: wsscope::gui::i18n::Lang::En,
        ..Settings::default()
    }
}

fn offline() -> Harness<'static, WsscopeApp> {
    Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .build_eframe(|cc| WsscopeApp::with_settings(&cc.egui_ctx, english()))
}

fn live() -> Harness<'static, WsscopeApp> {
    Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .with_max_steps(1000)
        .build_eframe(|cc| {
            WsscopeApp::with_server_and_settings(
                ServerConfig {
                    port: 0,
                    ..ServerConfig::default()
                },
                &cc.egui_ctx,
                english(),
            )
        })
}

/// The window with its server listening, and the server's address.
fn listening() -> (Harness<'static, WsscopeApp>, std::net::SocketAddr) {
    let mut h = live();
    step_until(&mut h, "listening", |h| h.state().server_addr().is_some());
    let addr = h
        .state()
        .server_addr()
        .unwrap_or_else(|| panic!("no server"));
    (h, addr)
}

/// Steps the UI until `done` holds (events arrive from other threads).
fn step_until(
    h: &mut Harness<'static, WsscopeApp>,
    what: &str,
    done: impl Fn(&Harness<'static, WsscopeApp>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        h.step();
        if done(h) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what} did not happen");
}

#[test]
fn accept_tab_shows_the_rfc_derivation() {
    let mut h = offline();
    h.run();
    assert!(
        h.query_all_by_label_contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            .count()
            > 0
    );
    assert!(
        h.query_all_by_label_contains("b3 7a 4f 2c c0 62 4f 16")
            .count()
            > 0
    );
}

#[test]
fn typing_a_key_recomputes_the_accept_value() {
    let mut h = offline();
    h.run();
    h.get_by_label("Sec-WebSocket-Key:").focus();
    h.run();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Sec-WebSocket-Key:")
        .type_text("x3JJHMbDL1EzLkh9GBhXDw==");
    h.run();
    assert!(
        h.query_all_by_label_contains("HSmrc0sMlYUkAGmm5OPpG2HaGWk=")
            .count()
            > 0,
        "accept for x3JJHMbDL1EzLkh9GBhXDw== not shown"
    );
}

#[test]
fn decode_tab_shows_the_masked_hello() {
    let mut h = offline();
    h.run();
    h.get_by_label("Decode frames").click();
    h.run();
    // The same anatomy view as a live frame: fields, the key, the unmasked text.
    assert!(h.query_all_by_label("0x1 text").count() > 0);
    assert!(
        h.query_all_by_label_contains("37 fa 21 3d (37fa213d)")
            .count()
            > 0
    );
    assert!(h.query_all_by_label("Hello").count() > 0, "payload text");
    assert!(
        h.query_all_by_label("Message 1: text in 1 frame(s), 5 bytes")
            .count()
            > 0
    );
    assert_eq!(h.query_all_by_label_contains("Rules broken").count(), 0);
    // Judged as sent by a server, the same bytes break §5.1.
    h.get_by_label("server").click();
    h.run();
    assert!(
        h.query_all_by_label_contains("a server MUST NOT mask any frame it sends")
            .count()
            > 0
    );
}

/// Draining does not depend on painting: a window that is never drawn (minimised, hidden, or a
/// frame that takes long) still takes every event, and the server keeps answering.
#[test]
fn a_window_that_does_not_paint_still_captures_everything() {
    let (h, addr) = listening();
    let client = std::thread::spawn(move || {
        let (mut ws, _) =
            tungstenite::connect(format!("ws://{addr}/ws")).unwrap_or_else(|e| panic!("{e}"));
        // A server stalled by its consumer fails the test instead of hanging it.
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for i in 0..2000 {
            ws.send(tungstenite::Message::text(format!("message {i}")))
                .unwrap_or_else(|e| panic!("{e}"));
            let reply = ws.read().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                reply.into_text().unwrap_or_default().as_str(),
                format!("message {i}")
            );
        }
        let _ = ws.close(None);
        while ws.read().is_ok() {}
    });
    client.join().unwrap_or_else(|_| panic!("client failed"));
    // No step() since the server started: nothing was painted.
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.state().capture().frame_count() < 4002 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let c = h.state().capture();
    assert_eq!(
        c.frame_count(),
        4002,
        "2000 echoed messages and two close frames"
    );
    assert_eq!(c.message_count(), 4000);
}

/// A window that is neither painted nor able to store (the UI holds the store, as a long frame
/// does) stalls no one: the server pauses the flooding client at its bound and still answers a
/// new client's handshake; once the store is free every event of both is captured.
#[test]
fn a_window_that_cannot_keep_up_still_answers_handshakes() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .with_max_steps(1000)
        .build_eframe(|cc| {
            WsscopeApp::with_server_and_settings(
                ServerConfig {
                    port: 0,
                    event_loops: 1,
                    max_in_flight: 1 << 20,
                    ..ServerConfig::default()
                },
                &cc.egui_ctx,
                english(),
            )
        });
    step_until(&mut h, "listening", |h| h.state().server_addr().is_some());
    let addr = h
        .state()
        .server_addr()
        .unwrap_or_else(|| panic!("no server"));
    // No step() from here: nothing is painted.
    let (flood, sent, answered) = {
        // Held like a frame that takes long: the ingest thread cannot store what it drains.
        let _painting = h.state().capture();
        let flood = Flood::start(addr);
        let stalled = flood.stalls(Duration::from_millis(500), Duration::from_secs(30));
        assert!(stalled, "the server kept echoing with nothing stored");
        let (handshake, late) = late_client(addr, Duration::from_secs(5));
        let answered = handshake.recv_timeout(Duration::from_secs(10));
        flood.stop();
        (flood, late, answered)
    };
    match answered {
        Ok(Ok(())) => {}
        other => panic!("the handshake was not answered while the window lagged: {other:?}"),
    }
    let n = flood.join();
    sent.join()
        .unwrap_or_else(|_| panic!("the late client failed"));
    // Each flooded message and its echo, "hello" and its echo, two closing handshakes.
    let frames = 2 * n + 2 + 4;
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.state().capture().frame_count() < frames && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let c = h.state().capture();
    assert_eq!(c.frame_count(), frames);
    assert_eq!(c.message_count(), 2 * n + 2);
}

#[test]
fn a_real_client_appears_and_its_frames_can_be_inspected() {
    let (mut h, addr) = listening();
    let client = std::thread::spawn(move || {
        let (mut ws, _) =
            tungstenite::connect(format!("ws://{addr}/ws")).unwrap_or_else(|e| panic!("{e}"));
        ws.send(tungstenite::Message::text("Hello from the test"))
            .unwrap_or_else(|e| panic!("{e}"));
        let reply = ws.read().unwrap_or_else(|e| panic!("{e}"));
        let _ = ws.close(None);
        while ws.read().is_ok() {}
        reply
    });
    step_until(&mut h, "four frames captured", |h| {
        h.state().capture().frame_count() >= 4
    });
    let reply = client.join().unwrap_or_else(|_| panic!("client panicked"));
    assert_eq!(reply, tungstenite::Message::text("Hello from the test"));
    h.run_steps(3);
    // The connection row shows its path; the table shows the frames.
    assert!(h.query_all_by_label_contains("/ws").count() > 0);
    assert!(h.query_all_by_label("\"Hello from the test\"").count() >= 2);
    // Select the first frame (client -> server): its anatomy appears.
    h.get_all_by_label("\"Hello from the test\"")
        .next()
        .unwrap_or_else(|| panic!("no row"))
        .click();
    h.run_steps(3);
    assert!(h.query_all_by_label_contains("Frame 1").count() > 0);
    assert!(h.query_all_by_label("0x1 text").count() > 0);
    assert!(h.query_all_by_label_contains("1 — masked").count() > 0);
    assert!(
        h.query_all_by_label_contains("19 bytes — 7-bit form")
            .count()
            > 0
    );
    // The handshake tab shows the checklist for this connection.
    h.get_by_label("Handshake").click();
    h.run_steps(3);
    assert!(h.query_all_by_label("PASS").count() >= 7);
    assert!(h.query_all_by_label_contains("GET /ws HTTP/1.1").count() > 0);
    // The filter keeps the client's frames only (its text and its close).
    h.get_by_label("Live").click();
    h.run_steps(2);
    h.get_by_label("Filter:").focus();
    h.get_by_label("Filter:").type_text("c->s");
    h.run_steps(2);
    let total = h.state().capture().frame_count();
    assert!(
        h.query_all_by_label(&format!("2 of {total} frames match"))
            .count()
            > 0
    );
    h.get_by_label("Filter:").type_text(" hello");
    h.run_steps(2);
    assert!(
        h.query_all_by_label(&format!("1 of {total} frames match"))
            .count()
            > 0
    );
    // Clear forgets the frames but keeps the connection row.
    h.get_by_label("clear").click();
    h.run_steps(2);
    assert_eq!(h.state().capture().frame_count(), 0);
    assert_eq!(h.state().capture().connections.len(), 1);
}

#[test]
fn classroom_controls_change_zoom_and_theme() {
    let mut h = offline();
    h.run();
    let before = h.ctx.zoom_factor();
    h.get_by_label("present").click();
    h.run();
    assert!(
        h.ctx.zoom_factor() > before + 0.5,
        "zoom {}",
        h.ctx.zoom_factor()
    );
    h.get_by_label("A-").click();
    h.run();
    assert!(h.ctx.zoom_factor() < 1.6);
    let dark = h.ctx.theme() == egui::Theme::Dark;
    h.get_by_label(if dark { "light" } else { "dark" }).click();
    h.run();
    assert_ne!(h.ctx.theme() == egui::Theme::Dark, dark);
}

#[test]
fn language_switch_changes_labels_and_back() {
    let mut h = offline();
    h.run();
    assert!(h.query_all_by_label("Live").count() > 0);
    h.get_by_label("中文").click();
    h.run();
    for zh in [
        "实时",
        "握手",
        "Accept 计算",
        "解码帧",
        "构造帧",
        "两个常见错误",
    ] {
        assert!(h.query_all_by_label(zh).count() > 0, "{zh} missing");
    }
    assert_eq!(h.query_all_by_label("Live").count(), 0);
    assert_eq!(h.state().lang(), wsscope::gui::i18n::Lang::Zh);
    // The derivation itself is data, not text: the same value in both languages.
    assert!(
        h.query_all_by_label_contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            .count()
            > 0
    );
    h.get_by_label("English").click();
    h.run();
    assert!(h.query_all_by_label("Live").count() > 0);
}

/// Every character of every Chinese (and English) string has a glyph in the fonts the window
/// installs, using only the bundled font (what a machine without CJK fonts gets): no tofu.
#[test]
fn every_ui_string_has_glyphs_with_the_bundled_font() {
    use wsscope::gui::{fonts, i18n};
    let ctx = egui::Context::default();
    ctx.run_ui(egui::RawInput::default(), |_| {})
        .textures_delta
        .clear();
    let missing_before =
        ctx.fonts_mut(|f| !f.has_glyphs(&egui::FontId::proportional(14.0), "中文"));
    assert!(
        missing_before,
        "egui's own fonts have CJK glyphs: this test would prove nothing"
    );
    fonts::install(&ctx, fonts::Sources::Bundled);
    ctx.run_ui(egui::RawInput::default(), |_| {})
        .textures_delta
        .clear();
    for lang in [i18n::Lang::En, i18n::Lang::Zh] {
        for s in i18n::every_string(lang) {
            for font in [
                egui::FontId::proportional(14.0),
                egui::FontId::monospace(14.0),
            ] {
                let missing: String = s
                    .chars()
                    .filter(|c| !ctx.fonts_mut(|f| f.has_glyph(&font, *c)))
                    .collect();
                assert!(
                    missing.is_empty(),
                    "no glyph for {missing:?} in {s:?} ({font:?}); rerun assets/fonts/make-subset.sh"
                );
            }
        }
    }
    // Common Chinese payload text, beyond the UI's own characters.
    assert!(ctx.fonts_mut(|f| f.has_glyphs(&egui::FontId::monospace(14.0), "谢谢你，粘包和拆包")));
}

#[test]
fn a_damaged_system_font_is_skipped_not_fatal() {
    use wsscope::gui::fonts;
    assert!(fonts::usable(fonts::BUNDLED_CJK, 0));
    assert!(!fonts::usable(b"not a font at all", 0));
    assert!(!fonts::usable(&[], 0));
    // A collection index past the end is refused too.
    assert!(!fonts::usable(fonts::BUNDLED_CJK, 5));
}

#[test]
fn frame_builder_shows_the_bytes_and_what_a_receiver_reports() {
    let mut h = offline();
    h.run();
    h.get_by_label("Build a frame").click();
    h.run();
    // The defaults build the RFC's masked "Hello".
    assert!(
        h.query_all_by_label("81 85 37 fa 21 3d 7f 9f 4d 51 58")
            .count()
            > 0
    );
    assert!(
        h.query_all_by_label("a receiver accepts this frame")
            .count()
            > 0
    );
    // Set RSV1 with no extension negotiated: the receiver reports §5.2.
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "RSV1")
        .click();
    h.run();
    assert!(
        h.query_all_by_label("c1 85 37 fa 21 3d 7f 9f 4d 51 58")
            .count()
            > 0
    );
    assert!(
        h.query_all_by_label_contains("RSV1-3 MUST be 0 unless an extension defines them")
            .count()
            > 0
    );
    assert_eq!(
        h.query_all_by_label("a receiver accepts this frame")
            .count(),
        0
    );
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "RSV1")
        .click();
    // Force the 16-bit length form for 5 bytes: a non-minimal length.
    h.get_by_label("7+16").click();
    h.run();
    assert!(
        h.query_all_by_label("81 fe 00 05 37 fa 21 3d 7f 9f 4d 51 58")
            .count()
            > 0
    );
    assert!(h.query_all_by_label_contains("§5.2").count() > 0);
    // The bytes go to the decoder tab with one click.
    h.get_by_label("open in the decoder").click();
    h.run();
    assert!(h.query_all_by_label("Frame bytes (hex):").count() > 0);
}

#[test]
fn settings_are_saved_and_restored() {
    use eframe::App as _;
    #[derive(Default)]
    struct Memory(std::collections::HashMap<String, String>);
    impl eframe::Storage for Memory {
        fn get_string(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
        fn set_string(&mut self, key: &str, value: String) {
            self.0.insert(key.to_string(), value);
        }
        fn remove_string(&mut self, key: &str) {
            self.0.remove(key);
        }
        fn flush(&mut self) {}
    }
    let mut h = offline();
    h.run();
    h.get_by_label("中文").click();
    h.run();
    h.get_by_label("投影").click();
    h.run();
    let mut storage = Memory::default();
    h.state_mut().save(&mut storage);
    let saved: wsscope::gui::Settings =
        eframe::get_value(&storage, "wsscope-settings").unwrap_or_else(|| panic!("not saved"));
    assert_eq!(saved.lang, wsscope::gui::i18n::Lang::Zh);
    assert!((saved.zoom - 1.6).abs() < 0.01, "zoom {}", saved.zoom);
    // A new window with those settings opens in Chinese, zoomed.
    let mut h2 = Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .build_eframe(move |cc| WsscopeApp::with_settings(&cc.egui_ctx, saved.clone()));
    h2.run();
    assert!(h2.query_all_by_label("实时").count() > 0);
    assert!((h2.ctx.zoom_factor() - 1.6).abs() < 0.01);
}

#[test]
fn restarting_the_listener_closes_clients_with_1001_and_keeps_the_capture() {
    let (mut h, addr) = listening();
    let client = std::thread::spawn(move || {
        let (mut ws, _) =
            tungstenite::connect(format!("ws://{addr}/")).unwrap_or_else(|e| panic!("{e}"));
        ws.send(tungstenite::Message::text("before the restart"))
            .unwrap_or_else(|e| panic!("{e}"));
        loop {
            match ws.read() {
                Ok(tungstenite::Message::Close(c)) => return c.map(|c| u16::from(c.code)),
                Ok(_) => {}
                Err(e) => panic!("no close frame: {e}"),
            }
        }
    });
    step_until(&mut h, "echo captured", |h| {
        h.state().capture().frame_count() >= 2
    });
    h.state_mut().restart_on_port(0);
    step_until(&mut h, "restarted", |h| {
        !h.state().restarting() && h.state().server_addr().is_some()
    });
    let first_restart = h.state().server_addr();
    // A second restart while one is under way is refused, not stacked (it would orphan a server).
    h.state_mut().restart_on_port(0);
    h.state_mut().restart_on_port(0);
    assert_eq!(h.state().status(), "a restart is already under way");
    step_until(&mut h, "restarted again", |h| {
        !h.state().restarting() && h.state().server_addr().is_some()
    });
    assert_ne!(h.state().server_addr(), first_restart);
    let code = client.join().unwrap_or_else(|_| panic!("client panicked"));
    assert_eq!(code, Some(1001));
    let new_addr = h
        .state()
        .server_addr()
        .unwrap_or_else(|| panic!("no server"));
    // A client of the new listener gets the next connection number; old frames stay.
    let (mut ws, _) =
        tungstenite::connect(format!("ws://{new_addr}/")).unwrap_or_else(|e| panic!("{e}"));
    ws.send(tungstenite::Message::text("after"))
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = ws.read();
    step_until(&mut h, "second connection", |h| {
        h.state().capture().connections.iter().any(|c| c.id == 2)
    });
    let c = h.state().capture();
    assert!(c
        .frames_from(0)
        .any(|(_, f)| c.payload_prefix(f, 64).as_ref() == b"before the restart"));
    let first = c
        .connection(1)
        .unwrap_or_else(|| panic!("first connection gone"));
    assert_eq!(
        first
            .close
            .as_ref()
            .and_then(|cl| cl.code)
            .map(|c| c.code()),
        Some(1001)
    );
}

#[test]
fn a_fragmented_message_is_grouped_and_reassembled() {
    use std::io::{Read, Write};
    let (mut h, addr) = listening();
    let mut s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    s.write_all(
        b"GET /frag HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut head = [0u8; 129];
    let n = s.read(&mut head).unwrap_or_else(|e| panic!("{e}"));
    assert!(head[..n].starts_with(b"HTTP/1.1 101"));
    // "frag" + "ment" + "ed": text, continuation, continuation with FIN; zero mask key so the
    // wire shows the text.
    for (b0, part) in [(0x01u8, "frag"), (0x00, "ment"), (0x80, "ed")] {
        let mut f = vec![b0, 0x80 | part.len() as u8, 0, 0, 0, 0];
        f.extend_from_slice(part.as_bytes());
        s.write_all(&f).unwrap_or_else(|e| panic!("{e}"));
    }
    step_until(&mut h, "message captured", |h| {
        h.state().capture().message_count() > 0
    });
    h.run_steps(3);
    h.get_by_label("\"ment\"").click();
    h.run_steps(3);
    assert!(
        h.query_all_by_label(
            "Part of a text message of 10 bytes carried by 3 frame(s); click one to see it:"
        )
        .count()
            > 0
    );
    assert!(h.query_all_by_label("a middle fragment").count() > 0);
    assert!(
        h.query_all_by_label("The message, reassembled from its fragments (§5.4):")
            .count()
            > 0
    );
    assert!(h.query_all_by_label("fragmented").count() > 0);
    // The group's buttons select the other frames.
    h.get_by_role_and_label(egui::accesskit::Role::Button, "3")
        .click();
    h.run_steps(3);
    assert!(h.query_all_by_label("the last fragment (FIN = 1)").count() > 0);
}

#[test]
fn tcp_vs_frames_shows_sticky_reads_and_jumps_to_a_frame() {
    use std::io::{Read, Write};
    let (mut h, addr) = listening();
    let mut s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    let request = "GET /sticky HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let frame = |p: &str| {
        let mut f = vec![0x81, 0x80 | p.len() as u8, 1, 2, 3, 4];
        f.extend(p.bytes().enumerate().map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]));
        f
    };
    // The handshake and the first frame in one write; then two frames in one write.
    s.write_all(&[request.as_bytes(), &frame("one")].concat())
        .unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(&[frame("two"), frame("three")].concat())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut sink = [0u8; 512];
    let _ = s.read(&mut sink);
    step_until(&mut h, "three frames in", |h| {
        h.state()
            .capture()
            .connections
            .first()
            .is_some_and(|c| c.frames[0] == 3)
    });
    h.run_steps(2);
    h.get_by_label("TCP vs frames").click();
    h.run_steps(3);
    assert!(
        h.query_all_by_label(
            "2 call(s) carried 3 frame(s): 2 call(s) held more than one thing (sticky), 0 frame(s) came in more than one call (split)."
        )
        .count()
            > 0
    );
    assert!(
        h.query_all_by_label(&format!("HTTP {} B", request.len()))
            .count()
            > 0
    );
    assert_eq!(h.query_all_by_label("sticky").count(), 2);
    h.get_by_label("F1 9 B").click();
    h.run_steps(3);
    assert!(h.query_all_by_label("Frame 1 — #1 C->S — text").count() > 0);
}

#[test]
fn the_composer_sends_to_the_selected_connection_after_the_pass() {
    let (mut h, addr) = listening();
    let client = std::thread::spawn(move || {
        let (mut ws, _) =
            tungstenite::connect(format!("ws://{addr}/composer")).unwrap_or_else(|e| panic!("{e}"));
        loop {
            match ws.read() {
                Ok(tungstenite::Message::Text(t)) => return t.to_string(),
                Ok(_) => {}
                Err(e) => panic!("no text from the server: {e}"),
            }
        }
    });
    step_until(&mut h, "connection open", |h| {
        h.state()
            .capture()
            .connections
            .first()
            .is_some_and(|c| c.state == wsscope::capture::ConnState::Open)
    });
    h.run_steps(2);
    // No connection selected: the composer has no target.
    assert!(
        h.query_all_by_label("select an open connection to send to it")
            .count()
            > 0
    );
    h.get_by_label_contains("/composer").click();
    h.run_steps(2);
    h.get_by_label("Send:").focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Send:").type_text("from the composer");
    h.run_steps(2);
    h.get_by_role_and_label(egui::accesskit::Role::Button, "text")
        .click();
    step_until(&mut h, "the client read the text", |_| client.is_finished());
    let got = client.join().unwrap_or_else(|_| panic!("client panicked"));
    assert_eq!(got, "from the composer");
    // What went out is captured too, as a server frame of connection #1.
    step_until(&mut h, "the sent frame captured", |h| {
        let c = h.state().capture();
        let found = c.frames_from(0).any(|(_, f)| {
            f.conn == 1
                && f.direction == wsscope::event::Direction::ServerToClient
                && c.payload_prefix(f, 64).as_ref() == b"from the composer"
        });
        found
    });
    assert_eq!(h.state().status(), "");
}

#[test]
fn the_live_selection_survives_switching_tabs() {
    let (mut h, addr) = listening();
    // Two connections: the other tabs show the selected one, not the newest.
    let mut clients = Vec::new();
    for text in ["first client", "second client"] {
        let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/{}", text.replace(' ', "-")))
            .unwrap_or_else(|e| panic!("{e}"));
        ws.send(tungstenite::Message::text(text))
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = ws.read();
        clients.push(ws);
    }
    step_until(&mut h, "both echoes captured", |h| {
        h.state().capture().frame_count() >= 4
    });
    h.run_steps(2);
    h.get_by_label_contains("/first-client").click();
    h.run_steps(2);
    h.get_all_by_label("\"first client\"")
        .next()
        .unwrap_or_else(|| panic!("no row"))
        .click();
    h.get_by_label("Filter:").focus();
    h.get_by_label("Filter:").type_text("c->s");
    h.run_steps(3);
    let title = "Frame 1 — #1 C->S — text";
    assert!(h.query_all_by_label(title).count() > 0);
    for tab in ["Handshake", "TCP vs frames", "Accept key", "Build a frame"] {
        h.get_by_label(tab).click();
        h.run_steps(2);
        assert_eq!(h.query_all_by_label(title).count(), 0, "{tab} shows Live");
        if tab == "Handshake" {
            assert!(h.query_all_by_label("Connection #1").count() > 0);
            assert!(h.query_all_by_label_contains("GET /first-client").count() > 0);
        }
    }
    h.get_by_label("Live").click();
    h.run_steps(3);
    // The frame, its connection and the filter are as they were left.
    assert!(h.query_all_by_label(title).count() > 0);
    assert!(h.query_all_by_label("1 of 4 frames match").count() > 0);
    assert_eq!(h.query_all_by_label("\"second client\"").count(), 0);
    drop(clients);
}

#[test]
fn the_first_run_speaks_the_environments_language() {
    assert_eq!(
        Settings::default().lang,
        wsscope::gui::i18n::Lang::from_env()
    );
}

#[test]
fn a_command_with_no_server_running_says_so_in_the_status_bar() {
    let mut h = offline();
    h.run();
    assert_eq!(h.state().status(), "");
    // The reply mode goes to the server as a command, after the pass: there is none.
    h.get_by_label("manual").click();
    h.run();
    assert_eq!(h.state().status(), "no server is running");
}

/// A store held below its budget because the window's resident memory was too large says so in
/// the status bar, with the figures, and stops saying it once lifted.
#[test]
fn a_squeezed_store_says_so_in_the_status_bar() {
    let mut h = offline();
    h.run();
    let text =
        "memory: the store keeps at most 100.0 of its 512.0 MiB while the window is 720.0 MiB \
                resident (budget + 200.0 MiB is the most it may take)";
    assert!(h
        .query_by_label_contains("the store keeps at most")
        .is_none());
    h.state_mut()
        .capture_mut()
        .squeeze(Some(100 << 20), 720 << 20);
    h.run();
    h.get_by_label(text);
    h.state_mut().capture_mut().squeeze(None, 300 << 20);
    h.run();
    assert!(h
        .query_by_label_contains("the store keeps at most")
        .is_none());
}

/// Record in the window, close it, open the file in a new window: the same frames, the same
/// payloads, the same handshake; the recording has the server's closing events too.
#[test]
fn a_recording_made_in_the_window_opens_in_another() {
    let dir = std::env::temp_dir().join(format!("wsscope-gui-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("capture.jsonl");
    let (mut h, addr) = listening();
    h.state_mut()
        .apply_options(&wsscope::gui::WindowOptions {
            record: Some(path.clone()),
            budget: Some(64 << 20),
            open: None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let client = std::thread::spawn(move || {
        let (mut ws, _) =
            tungstenite::connect(format!("ws://{addr}/ws")).unwrap_or_else(|e| panic!("{e}"));
        for m in ["one", "двa", "三"] {
            ws.send(tungstenite::Message::text(m))
                .unwrap_or_else(|e| panic!("{e}"));
            let _ = ws.read();
        }
        let _ = ws.close(None);
        while ws.read().is_ok() {}
    });
    client.join().unwrap_or_else(|_| panic!("client failed"));
    step_until(&mut h, "eight frames", |h| {
        h.state().capture().frame_count() >= 8
    });
    let payloads = |c: &wsscope::capture::Capture| -> Vec<(u64, Vec<u8>)> {
        c.frames_from(0)
            .map(|(s, r)| (s, c.payload_prefix(r, 1 << 20).to_vec()))
            .collect()
    };
    let live = payloads(&h.state().capture());
    drop(h);
    let mut opened = offline();
    opened
        .state_mut()
        .apply_options(&wsscope::gui::WindowOptions {
            open: Some(path.clone()),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    step_until(&mut opened, "the file read", |h| {
        h.state().capture().frame_count() >= live.len()
            && h.state()
                .capture()
                .connections
                .iter()
                .all(|c| c.close.is_some())
    });
    let c = opened.state().capture();
    assert_eq!(payloads(&c), live);
    let conn = c
        .connections
        .first()
        .unwrap_or_else(|| panic!("no connection"));
    assert!(conn.handshake.as_ref().is_some_and(|hs| hs.accepted()));
    assert_eq!(c.listening, Some(addr));
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tcpdump capture of a python `websockets` exchange opens in the window like a live capture:
/// the handshake with the server's real answer, and the frames both ways.
#[test]
fn a_tcpdump_capture_opens_in_the_window() {
    // The capture's text has a ✓, which the bundled fonts lack: a payload may hold any
    // character, and the window draws a box for it rather than fail.
    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .allow_missing_glyphs()
        .build_eframe(|cc| WsscopeApp::with_settings(&cc.egui_ctx, english()));
    h.state_mut()
        .apply_options(&wsscope::gui::WindowOptions {
            open: Some(std::path::PathBuf::from("tests/data/ws-lo.pcap")),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    step_until(&mut h, "the capture read", |h| {
        h.state()
            .capture()
            .connections
            .iter()
            .any(|c| c.close.is_some())
    });
    let c = h.state().capture();
    assert_eq!(c.frame_count(), 13);
    let conn = c
        .connections
        .first()
        .unwrap_or_else(|| panic!("no connection"));
    assert_eq!(conn.endpoint, Some(wsscope::event::Endpoint::File));
    assert!(conn.handshake.as_ref().is_some_and(|hs| hs.accepted()));
    assert!(c.frames_from(0).all(|(s, _)| c.frame(s).is_some()));
}

/// Steps the UI until the last export is written; its path and what it wrote.
fn export_done(
    h: &mut Harness<'static, WsscopeApp>,
) -> (std::path::PathBuf, wsscope::gui::Exported) {
    step_until(h, "the export", |h| {
        h.state().export_job().is_some_and(|j| j.result.is_some())
    });
    let job = h
        .state()
        .export_job()
        .unwrap_or_else(|| panic!("no export"));
    match job.result {
        Some(Ok(done)) => {
            // The status bar says where and what.
            h.run();
            let name = job.path.display().to_string();
            assert!(
                h.query_all_by_label_contains(&name).count() > 0,
                "status bar does not name {name}"
            );
            (job.path, done)
        }
        other => panic!("{}: {other:?}", job.path.display()),
    }
}

/// Export from the window: a real session, exported with the menu to pcap (tshark reads the
/// frames the store has), to JSON lines (opened in another window: the same frames), to HAR
/// (the messages).
#[test]
fn the_export_menu_writes_what_the_window_holds() {
    let (mut h, addr) = listening();
    let texts = ["one", "二", "three"];
    let client = std::thread::spawn(move || {
        let (mut ws, _) =
            tungstenite::connect(format!("ws://{addr}/ws")).unwrap_or_else(|e| panic!("{e}"));
        for m in texts {
            ws.send(tungstenite::Message::text(m))
                .unwrap_or_else(|e| panic!("{e}"));
            let _ = ws.read();
        }
        ws.send(tungstenite::Message::binary(vec![0u8, 1, 2, 255]))
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = ws.read();
        ws.send(tungstenite::Message::Ping(vec![7u8; 100].into()))
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = ws.read();
        let _ = ws.close(None);
        while ws.read().is_ok() {}
    });
    client.join().unwrap_or_else(|_| panic!("client failed"));
    step_until(&mut h, "the session captured", |h| {
        let c = h.state().capture();
        c.frame_count() >= 12 && c.connections.iter().all(|c| c.close.is_some())
    });
    // (direction is client→server, opcode, 7-bit length) of every frame in the store.
    let frames = |c: &wsscope::capture::Capture| -> Vec<(bool, u8, u8)> {
        c.frames_from(0)
            .map(|(_, r)| {
                (
                    r.direction == wsscope::event::Direction::ClientToServer,
                    u8::from(r.header.opcode),
                    r.header.len7(),
                )
            })
            .collect()
    };
    let stored = frames(&h.state().capture());

    // pcap, through the menu (the file goes to the current folder).
    h.get_by_label("Export").click();
    h.run();
    h.get_by_label("pcap (Wireshark, tshark)").click();
    h.run();
    let (pcap, done) = export_done(&mut h);
    assert!(
        matches!(done, wsscope::gui::Exported::Pcap(s) if s.connections == 1),
        "{done:?}"
    );
    let seen = tshark().map(|tshark| {
        let out = std::process::Command::new(tshark)
            .args([
                "-r",
                &pcap.to_string_lossy(),
                "-Y",
                "websocket",
                "-T",
                "fields",
            ])
            .args(["-e", "tcp.dstport", "-e", "websocket.opcode"])
            .args(["-e", "websocket.payload_length"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut seen = Vec::new();
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            let mut cols = l.split('\t');
            let to_server = cols.next() == Some(addr.port().to_string().as_str());
            let ops = cols.next().unwrap_or("").split(',');
            let lens = cols.next().unwrap_or("").split(',');
            for (o, n) in ops.zip(lens) {
                let num = |s: &str| s.parse::<u8>().unwrap_or_else(|e| panic!("{s}: {e}"));
                seen.push((to_server, num(o), num(n)));
            }
        }
        seen
    });
    let _ = std::fs::remove_file(&pcap);
    if let Some(seen) = seen {
        assert_eq!(seen, stored);
    }

    // JSON lines and HAR, through the method the menu calls, into a folder of the test's own.
    let dir = std::env::temp_dir().join(format!("wsscope-gui-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let jsonl = dir.join("window.jsonl");
    h.state_mut()
        .export_to(wsscope::gui::ExportFormat::JsonLines, &jsonl);
    let (_, done) = export_done(&mut h);
    assert!(matches!(done, wsscope::gui::Exported::JsonLines { events } if events > 20));
    let har = dir.join("window.har");
    h.state_mut()
        .export_to(wsscope::gui::ExportFormat::Har, &har);
    let (_, done) = export_done(&mut h);
    assert!(
        matches!(done, wsscope::gui::Exported::Har(s) if s.websockets == 1 && s.messages == 8),
        "{done:?}"
    );
    let har: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&har).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    let messages: Vec<(String, String)> = har["log"]["entries"][0]["_webSocketMessages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages: {har}"))
        .iter()
        .map(|m| (m["type"].to_string(), m["data"].to_string()))
        .collect();
    let want: Vec<(String, String)> = texts
        .iter()
        .map(|t| t.to_string())
        .chain(["AAEC/w==".to_string()])
        .flat_map(|d| {
            let d = serde_json::Value::String(d).to_string();
            [
                ("\"send\"".to_string(), d.clone()),
                ("\"receive\"".to_string(), d),
            ]
        })
        .collect();
    assert_eq!(messages, want);

    let whole = |c: &wsscope::capture::Capture| -> Vec<_> {
        c.frames_from(0).map(|(s, _)| c.frame(s)).collect()
    };
    let live = whole(&h.state().capture());
    drop(h);
    let mut opened = offline();
    opened
        .state_mut()
        .apply_options(&wsscope::gui::WindowOptions {
            open: Some(jsonl.clone()),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    step_until(&mut opened, "the file read", |h| {
        let c = h.state().capture();
        c.frame_count() >= stored.len() && c.connections.iter().all(|c| c.close.is_some())
    });
    let c = opened.state().capture();
    assert_eq!(frames(&c), stored);
    assert_eq!(whole(&c), live);
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tungstenite server for one connection: it agrees to `chat` when offered, echoes every data
/// message, and returns what it received (text, or binary as `bin:` and hex).
#[allow(clippy::result_large_err)] // tungstenite's callback type, not ours
fn tungstenite_echo() -> (std::net::SocketAddr, std::thread::JoinHandle<Vec<String>>) {
    use tungstenite::handshake::server::{Request, Response};
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap_or_else(|e| panic!("accept: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut ws = tungstenite::accept_hdr(stream, |req: &Request, mut resp: Response| {
            let offered = req
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if offered.split(',').any(|p| p.trim() == "chat") {
                resp.headers_mut().insert(
                    "Sec-WebSocket-Protocol",
                    tungstenite::http::HeaderValue::from_static("chat"),
                );
            }
            Ok(resp)
        })
        .unwrap_or_else(|e| panic!("handshake: {e}"));
        let mut got = Vec::new();
        while let Ok(msg) = ws.read() {
            match &msg {
                tungstenite::Message::Text(t) => got.push(t.to_string()),
                tungstenite::Message::Binary(b) => got.push(format!("bin:{b:02x?}")),
                _ => continue,
            }
            if ws.send(msg).is_err() {
                break;
            }
        }
        got
    });
    (addr, server)
}

/// Replaces the text of the field labelled `label` with `text`.
fn set_field(h: &mut Harness<'static, WsscopeApp>, label: &str, text: &str) {
    h.get_by_label(label).focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.key_press(egui::Key::Delete);
    h.get_by_label(label).type_text(text);
    h.run_steps(2);
}

/// The Connect tab's Connect button (the tab itself has the same name, and comes first).
fn click_connect(h: &mut Harness<'static, WsscopeApp>, label: &str) {
    h.get_all_by_label(label)
        .last()
        .unwrap_or_else(|| panic!("no {label} button"))
        .click();
    h.run_steps(2);
}

fn client_conn(h: &Harness<'static, WsscopeApp>) -> Option<(u64, wsscope::capture::ConnState)> {
    let c = h.state().capture();
    let found = c
        .connections
        .iter()
        .find(|c| c.endpoint == Some(wsscope::event::Endpoint::Client))
        .map(|c| (c.id, c.state));
    found
}

/// The Connect tab opens a client connection to a tungstenite server; it is in the Live list
/// tagged as a client; the composer and the frame builder send on it (masked, as a client must)
/// and the server's echoes come back; the handshake view judges the answer by §4.1.
#[test]
fn the_connect_tab_opens_a_client_that_the_composer_and_builder_send_on() {
    let (server_addr, server) = tungstenite_echo();
    let mut h = offline();
    h.run();
    h.get_by_label("Connect").click();
    h.run_steps(2);
    set_field(&mut h, "URL", &format!("ws://{server_addr}/chat"));
    set_field(
        &mut h,
        "extra headers (one Name: value per line)",
        "X-Test: 1",
    );
    click_connect(&mut h, "Connect");
    step_until(&mut h, "the client connection open", |h| {
        client_conn(h).is_some_and(|(_, s)| s == wsscope::capture::ConnState::Open)
    });
    let (id, _) = client_conn(&h).unwrap_or_else(|| panic!("no client connection"));
    h.run_steps(2);
    assert!(
        h.query_all_by_label_contains(&format!("#{id} ")).count() > 0,
        "the Connect tab lists #{id}"
    );
    // The Live list shows it with its tag and the server it went to.
    h.get_by_label("Live").click();
    h.run_steps(2);
    let tag = format!("#{id} client → {server_addr}");
    assert!(h.query_all_by_label_contains(&tag).count() > 0, "{tag}");
    assert!(h.query_all_by_label_contains("/chat [chat]").count() > 0);
    // Connecting selected it: the composer sends to it at once.
    set_field(&mut h, "Send:", "hello 你好 from the window");
    h.get_by_role_and_label(egui::accesskit::Role::Button, "text")
        .click();
    step_until(&mut h, "the echo captured", |h| {
        let c = h.state().capture();
        let echoed = c.frames_from(0).any(|(_, f)| {
            f.conn == id
                && f.direction == wsscope::event::Direction::ServerToClient
                && c.payload_prefix(f, 64).as_ref() == "hello 你好 from the window".as_bytes()
        });
        echoed
    });
    {
        let c = h.state().capture();
        let sent: Vec<_> = c
            .frames_from(0)
            .filter(|(_, f)| {
                f.conn == id && f.direction == wsscope::event::Direction::ClientToServer
            })
            .map(|(_, f)| f.header.masked)
            .collect();
        assert_eq!(sent, vec![true], "one masked frame sent");
    }
    h.run_steps(3);
    assert!(
        h.query_all_by_label("\"hello 你好 from the window\"")
            .count()
            >= 2,
        "the text and its echo in the table"
    );
    // The frame builder's default is the RFC's masked "Hello", for a server: sent raw.
    h.get_by_label("Build a frame").click();
    h.run_steps(2);
    h.get_by_label("send raw to the selected connection")
        .click();
    step_until(&mut h, "the raw frame echoed", |h| {
        let c = h.state().capture();
        let echoed = c.frames_from(0).any(|(_, f)| {
            f.conn == id
                && f.direction == wsscope::event::Direction::ServerToClient
                && c.payload_prefix(f, 8).as_ref() == b"Hello"
        });
        echoed
    });
    // The handshake view: what we sent, and the server's answer by §4.1.
    h.get_by_label("Handshake").click();
    h.run_steps(3);
    assert!(
        h.query_all_by_label("The server's answer, as a client checks it (RFC 6455 §4.1)")
            .count()
            > 0
    );
    assert!(
        h.query_all_by_label("Sec-WebSocket-Accept is base64(SHA-1(our key + GUID))")
            .count()
            > 0
    );
    assert!(h.query_all_by_label("§4.1 item 6").count() > 0);
    assert!(h.query_all_by_label_contains("X-Test: 1").count() > 0);
    assert!(
        h.query_all_by_label_contains("— the derivation of our key, as §4.1 item 4 requires")
            .count()
            > 0
    );
    assert_eq!(h.query_all_by_label("FAIL").count(), 0);
    // Disconnect: the closing handshake, 1000, both ways.
    h.get_by_label("Connect").click();
    h.run_steps(2);
    h.get_by_label("Disconnect").click();
    step_until(&mut h, "the client connection closed", |h| {
        client_conn(h).is_some_and(|(_, s)| s == wsscope::capture::ConnState::Closed)
    });
    let got = server.join().unwrap_or_else(|_| panic!("server panicked"));
    assert_eq!(
        got,
        vec![
            "hello 你好 from the window".to_string(),
            "Hello".to_string()
        ]
    );
    let c = h.state().capture();
    let close = c
        .connection(id)
        .and_then(|c| c.close.clone())
        .unwrap_or_else(|| panic!("no close"));
    assert_eq!(close.code.map(|c| c.code()), Some(1000));
    assert!(close.clean);
}

/// A URL that does not parse and a header without a colon are named next to their fields, in
/// the window's language, and nothing is started.
#[test]
fn a_bad_url_or_header_is_shown_next_to_the_field_and_starts_nothing() {
    let mut h = offline();
    h.run();
    h.get_by_label("Connect").click();
    h.run_steps(2);
    set_field(&mut h, "URL", "http://127.0.0.1:8765/");
    set_field(
        &mut h,
        "extra headers (one Name: value per line)",
        "X-Ok: 1\nno colon",
    );
    click_connect(&mut h, "Connect");
    assert!(
        h.query_all_by_label("the scheme must be ws:// or wss:// (§3), not http://")
            .count()
            > 0
    );
    assert!(
        h.query_all_by_label("line 2: a header is Name: value, and this line has no colon")
            .count()
            > 0
    );
    set_field(&mut h, "URL", "ws://");
    click_connect(&mut h, "Connect");
    assert!(h.query_all_by_label_contains("not a URL: ").count() > 0);
    h.get_by_label("中文").click();
    h.run_steps(2);
    set_field(&mut h, "URL", "ws://127.0.0.1:8765/#top");
    click_connect(&mut h, "连接");
    assert!(
        h.query_all_by_label("WebSocket URI 不能带 # 片段（§3）")
            .count()
            > 0
    );
    assert!(
        h.query_all_by_label("第 2 行：头字段的格式是 Name: value，这一行没有冒号")
            .count()
            > 0
    );
    std::thread::sleep(Duration::from_millis(200));
    h.run_steps(2);
    assert!(h.state().capture().connections.is_empty());
    assert!(h.state().capture().notices.is_empty());
    assert_eq!(h.query_all_by_label("从这里打开的连接").count(), 0);
}

/// Nothing listening: the failure comes on connection 0 (no connection existed) and the Connect
/// tab says it for this attempt, as the status bar does, in both languages.
#[test]
fn a_server_that_cannot_be_reached_is_reported_in_the_connect_tab() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut h = offline();
    h.run();
    h.get_by_label("Connect").click();
    h.run_steps(2);
    set_field(&mut h, "URL", &format!("ws://127.0.0.1:{port}/"));
    click_connect(&mut h, "Connect");
    let expected = format!("not connected: cannot connect to 127.0.0.1:{port}: ");
    step_until(&mut h, "the failure shown", |h| {
        h.query_all_by_label_contains(&expected).count() > 0
    });
    assert!(
        h.query_all_by_label_contains("#0 error: cannot connect to")
            .count()
            > 0,
        "the status bar"
    );
    h.get_by_label("中文").click();
    h.run_steps(2);
    assert!(
        h.query_all_by_label_contains(&format!("未能连接：无法连接到 127.0.0.1:{port}"))
            .count()
            > 0
    );
    assert!(h.state().capture().connections.is_empty());
}

/// A server whose 101 carries a wrong Sec-WebSocket-Accept: the handshake view shows the §4.1
/// item 4 failure, says the client failed the connection and why, and the connection is
/// closed with no frame sent.
#[test]
fn a_wrong_accept_is_failed_and_the_handshake_view_says_why() {
    use std::io::{Read as _, Write as _};
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap_or_else(|e| panic!("{e}"));
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        // The RFC's example accept, whatever key came: wrong for a fresh key.
        let _ = s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        );
        // The client closes TCP without a frame.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(rest.is_empty(), "the client sent {rest:?}");
    });
    let mut h = offline();
    h.run();
    h.get_by_label("Connect").click();
    h.run_steps(2);
    set_field(&mut h, "URL", &format!("ws://{addr}/"));
    click_connect(&mut h, "Connect");
    step_until(&mut h, "the client connection closed", |h| {
        client_conn(h).is_some_and(|(_, s)| s == wsscope::capture::ConnState::Closed)
    });
    server.join().unwrap_or_else(|_| panic!("server panicked"));
    h.run_steps(2);
    let failed = "The client failed the connection (§4.1 item 4: Sec-WebSocket-Accept is \
                  base64(SHA-1(our key + GUID)) — s3pPLMBiTxaQ9kYGzzhZRbK+xOo=)";
    assert!(
        h.query_all_by_label_contains(failed).count() > 0,
        "the Connect tab says it"
    );
    h.get_by_label("Handshake").click();
    h.run_steps(3);
    assert!(h.query_all_by_label_contains(failed).count() > 0);
    assert_eq!(h.query_all_by_label("FAIL").count(), 1);
    assert!(
        h.query_all_by_label_contains(
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo= — not the derivation of our key"
        )
        .count()
            > 0
    );
    h.get_by_label("中文").click();
    h.run_steps(2);
    assert!(
        h.query_all_by_label_contains("客户端让连接失败（§4.1 第 4 条")
            .count()
            > 0
    );
}

/// wss:// to a rustls server whose self-signed certificate (made here with rcgen) the Connect
/// tab trusts as a CA file: the Handshake view shows the TLS session and says the byte counts
/// are inside the TLS records; the echo comes back decrypted.
#[test]
fn a_wss_connection_shows_its_tls_session() {
    use std::sync::Arc;
    let params =
        rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap_or_else(|e| panic!("{e}"));
    let key_pair = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let cert = params
        .self_signed(&key_pair)
        .unwrap_or_else(|e| panic!("{e}"));
    let pem = std::env::temp_dir().join(format!("wsscope-gui-ca-{}.pem", std::process::id()));
    std::fs::write(&pem, cert.pem()).unwrap_or_else(|e| panic!("{e}"));
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        key_pair.serialize_der(),
    ));
    let tls = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap_or_else(|e| panic!("{e}"));
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap_or_else(|e| panic!("{e}"));
        let conn = rustls::ServerConnection::new(tls).unwrap_or_else(|e| panic!("{e}"));
        let mut ws = tungstenite::accept(rustls::StreamOwned::new(conn, s))
            .unwrap_or_else(|e| panic!("handshake: {e}"));
        while let Ok(msg) = ws.read() {
            if msg.is_text() && ws.send(msg).is_err() {
                break;
            }
        }
    });
    let mut h = offline();
    h.run();
    h.get_by_label("Connect").click();
    h.run_steps(2);
    set_field(&mut h, "URL", &format!("wss://localhost:{port}/"));
    h.get_by_label("a CA file (PEM)").click();
    h.run_steps(2);
    set_field(&mut h, "wss:// trusts", &pem.display().to_string());
    click_connect(&mut h, "Connect");
    step_until(&mut h, "the wss:// connection open", |h| {
        client_conn(h).is_some_and(|(_, s)| s == wsscope::capture::ConnState::Open)
    });
    let (id, _) = client_conn(&h).unwrap_or_else(|| panic!("no client connection"));
    h.get_by_label("Live").click();
    h.run_steps(2);
    assert!(
        h.query_all_by_label_contains(&format!("#{id} client → 127.0.0.1:{port} · TLS"))
            .count()
            > 0
    );
    set_field(&mut h, "Send:", "inside TLS");
    h.get_by_role_and_label(egui::accesskit::Role::Button, "text")
        .click();
    step_until(&mut h, "the echo captured", |h| {
        let c = h.state().capture();
        let echoed = c.frames_from(0).any(|(_, f)| {
            f.direction == wsscope::event::Direction::ServerToClient
                && c.payload_prefix(f, 16).as_ref() == b"inside TLS"
        });
        echoed
    });
    h.get_by_label("Handshake").click();
    h.run_steps(3);
    assert!(h.query_all_by_label("TLS (wss://)").count() > 0);
    assert!(h.query_all_by_label_contains("TLSv1.").count() > 0);
    assert!(
        h.query_all_by_label(&format!("the CA file {}", pem.display()))
            .count()
            > 0
    );
    assert!(
        h.query_all_by_label_contains("are the decrypted bytes inside those records")
            .count()
            > 0
    );
    h.get_by_label("Connect").click();
    h.run_steps(2);
    h.get_by_label("Disconnect").click();
    step_until(&mut h, "closed", |h| {
        client_conn(h).is_some_and(|(_, s)| s == wsscope::capture::ConnState::Closed)
    });
    server.join().unwrap_or_else(|_| panic!("server panicked"));
    let _ = std::fs::remove_file(&pem);
}

/// A server that refuses the upgrade: the Connect tab says so with the status, and the
/// Handshake view shows §4.1 item 1 failed and the answer's body.
#[test]
fn a_refusal_shows_its_status_and_body() {
    use std::io::{Read as _, Write as _};
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap_or_else(|e| panic!("{e}"));
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let body = "members only: log in first\n";
        let _ = s.write_all(
            format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    });
    let mut h = offline();
    h.run();
    h.get_by_label("Connect").click();
    h.run_steps(2);
    set_field(&mut h, "URL", &format!("ws://{addr}/private"));
    click_connect(&mut h, "Connect");
    step_until(&mut h, "the refusal closed", |h| {
        client_conn(h).is_some_and(|(_, s)| s == wsscope::capture::ConnState::Closed)
    });
    server.join().unwrap_or_else(|_| panic!("server panicked"));
    h.run_steps(2);
    assert!(
        h.query_all_by_label("the server answered 403: no WebSocket")
            .count()
            > 0
    );
    h.get_by_label("Handshake").click();
    h.run_steps(3);
    assert_eq!(h.query_all_by_label("FAIL").count(), 1);
    assert!(h.query_all_by_label("403").count() > 0);
    assert!(
        h.query_all_by_label_contains("The server answered 403, not 101")
            .count()
            > 0
    );
    assert!(
        h.query_all_by_label_contains("members only: log in first")
            .count()
            > 0
    );
}

/// The Connect tab's proxy section: a proxy from a typed address to the URL above; a
/// tungstenite client through it reaches the tungstenite server, and both legs join the Live
/// list, each tagged with the other's number.
#[test]
fn the_connect_tab_starts_a_proxy_whose_legs_join_the_list() {
    let (server_addr, server) = tungstenite_echo();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("port: {e}"))
        .port();
    let mut h = offline();
    h.run();
    h.get_by_label("Connect").click();
    h.run_steps(2);
    set_field(&mut h, "URL", &format!("ws://{server_addr}/"));
    set_field(&mut h, "listen on", &format!("127.0.0.1:{port}"));
    h.get_by_label("Start proxy").click();
    h.run_steps(3);
    assert!(
        h.query_all_by_label_contains(&format!("proxy: ws://127.0.0.1:{port}/"))
            .count()
            > 0,
        "the running proxy is listed"
    );
    let (mut ws, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}/through"))
        .unwrap_or_else(|e| panic!("connect through the proxy: {e}"));
    ws.send(tungstenite::Message::text("via the window's proxy"))
        .unwrap_or_else(|e| panic!("{e}"));
    let echo = ws.read().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        echo.into_text().map(|t| t.to_string()).ok().as_deref(),
        Some("via the window's proxy")
    );
    let _ = ws.close(None);
    while ws.read().is_ok() {}
    step_until(&mut h, "both legs closed", |h| {
        let c = h.state().capture();
        let closed = c
            .connections
            .iter()
            .filter(|c| c.state == wsscope::capture::ConnState::Closed && c.relay.is_some())
            .count();
        closed == 2
    });
    h.get_by_label("Live").click();
    h.run_steps(2);
    assert!(
        h.query_all_by_label_contains(&format!("proxy → {server_addr} (for #1)"))
            .count()
            > 0
    );
    assert!(h.query_all_by_label_contains("(relayed via #2)").count() > 0);
    // The anatomy pairs a relayed frame with its twin on the other leg: same payload, the
    // client's mask on one leg and wsscope's own on the other.
    {
        let c = h.state().capture();
        let (seq, from_client) = c
            .frames_from(0)
            .find(|(_, f)| f.conn == 1 && f.header.opcode == wsscope::protocol::OpCode::Text)
            .map(|(s, f)| (s, f.header))
            .unwrap_or_else(|| panic!("no text on the client's leg"));
        let twin = c
            .relayed_twin(seq)
            .and_then(|t| c.frame_record(t))
            .unwrap_or_else(|| panic!("no twin"));
        assert_eq!(twin.conn, 2);
        assert!(twin.header.masked && from_client.masked);
        assert_ne!(twin.header.mask_key, from_client.mask_key);
        assert_eq!(twin.header.payload_len, from_client.payload_len);
    }
    assert_eq!(
        server.join().unwrap_or_default(),
        vec!["via the window's proxy".to_string()]
    );
}

/// A recording started in the middle of a connection has what the window held before it (the
/// opening, the handshake, the earlier messages) and everything after: read back, it is the
/// whole conversation.
#[test]
fn a_recording_started_mid_capture_keeps_the_open_connections() {
    let dir = std::env::temp_dir().join(format!("wsscope-gui-midrec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("mid.jsonl");
    let (mut h, addr) = listening();
    let (to_client, go) = std::sync::mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let (mut ws, _) =
            tungstenite::connect(format!("ws://{addr}/mid")).unwrap_or_else(|e| panic!("{e}"));
        ws.send(tungstenite::Message::text("before"))
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = ws.read();
        // Wait until the recording has started.
        let _ = go.recv();
        ws.send(tungstenite::Message::text("after"))
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = ws.read();
        let _ = ws.close(None);
        while ws.read().is_ok() {}
    });
    step_until(&mut h, "the first echo", |h| {
        h.state().capture().frame_count() >= 2
    });
    h.state_mut()
        .apply_options(&wsscope::gui::WindowOptions {
            record: Some(path.clone()),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    step_until(&mut h, "the recording begun", |h| {
        h.state().recording_events() > 0
    });
    let _ = to_client.send(());
    client.join().unwrap_or_else(|_| panic!("client failed"));
    step_until(&mut h, "the close", |h| {
        h.state()
            .capture()
            .connections
            .iter()
            .any(|c| c.close.is_some())
    });
    drop(h);
    let events: Vec<wsscope::event::Event> = wsscope::record::Reader::open(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let has = |f: &dyn Fn(&wsscope::event::EventKind) -> bool| events.iter().any(|e| f(&e.kind));
    assert!(has(&|k| matches!(
        k,
        wsscope::event::EventKind::Opened { .. }
    )));
    assert!(has(
        &|k| matches!(k, wsscope::event::EventKind::Handshake(h) if h.request.path == "/mid")
    ));
    let texts: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            wsscope::event::EventKind::Message {
                direction: wsscope::event::Direction::ClientToServer,
                message,
            } => Some(String::from_utf8_lossy(&message.payload).into_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["before", "after"]);
    assert!(has(&|k| matches!(
        k,
        wsscope::event::EventKind::Closed { .. }
    )));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_connections_list_filters_by_number_state_and_address() {
    let (mut h, addr) = listening();
    // Three clients: the second closes, the others stay open until the end.
    let mut open = Vec::new();
    for i in 0..3 {
        let (mut ws, _) =
            tungstenite::connect(format!("ws://{addr}/ws{i}")).unwrap_or_else(|e| panic!("{e}"));
        if i == 1 {
            let _ = ws.close(None);
            while ws.read().is_ok() {}
        } else {
            open.push(ws);
        }
    }
    step_until(&mut h, "three connections, one closed", |h| {
        let c = &h.state().capture().connections;
        c.len() == 3
            && c.iter()
                .filter(|c| c.state == wsscope::capture::ConnState::Closed)
                .count()
                == 1
    });
    let ids: Vec<u64> = h
        .state()
        .capture()
        .connections
        .iter()
        .map(|c| c.id)
        .collect();
    let rows = |h: &Harness<'static, WsscopeApp>| -> Vec<u64> {
        ids.iter()
            .copied()
            .filter(|id| h.query_all_by_label_contains(&format!("#{id} ")).count() > 0)
            .collect()
    };
    h.run_steps(2);
    assert_eq!(rows(&h), ids, "all three listed");
    set_field(&mut h, "Find:", &format!("#{}", ids[2]));
    assert!(h.query_all_by_label("1 of 3 connections").count() > 0);
    assert_eq!(rows(&h), [ids[2]]);
    set_field(&mut h, "Find:", "closed");
    assert_eq!(rows(&h), [ids[1]]);
    set_field(&mut h, "Find:", "open /WS2");
    assert_eq!(
        rows(&h),
        [ids[2]],
        "a word is looked for in the path, case ignored"
    );
    set_field(&mut h, "Find:", "");
    assert_eq!(rows(&h), ids);
    drop(open);
}

/// A client that offers permessage-deflate as Chromium does, over a raw socket, and compresses
/// with wsscope's own deflater (tungstenite has no permessage-deflate): returns the socket and
/// the server's 101.
fn deflate_client(addr: std::net::SocketAddr) -> (std::net::TcpStream, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("{e}"));
    s.write_all(
        b"GET /deflate HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut b).unwrap_or_else(|e| panic!("{e}"));
        assert!(n > 0, "closed during the handshake");
        head.push(b[0]);
    }
    (s, String::from_utf8_lossy(&head).into_owned())
}

/// One masked text frame with RSV1 set: `z` is a compressed message.
fn compressed_frame(z: &[u8]) -> Vec<u8> {
    use wsscope::protocol::{encode_frame, FrameHeader, OpCode};
    let mut h = FrameHeader::new(OpCode::Text, z.len() as u64, Some([1, 2, 3, 4]));
    h.rsv[0] = true;
    let mut v = Vec::new();
    encode_frame(h, z, &mut v);
    v
}

/// Clicks the row of the `nth` data frame the client sent (its payload preview is its label).
fn click_client_data_frame(h: &mut Harness<'static, WsscopeApp>, nth: usize) {
    let label = {
        let c = h.state().capture();
        let r = c
            .frames_from(0)
            .map(|(_, r)| r)
            .filter(|r| {
                r.direction == wsscope::event::Direction::ClientToServer
                    && r.header.opcode == wsscope::protocol::OpCode::Text
            })
            .nth(nth)
            .unwrap_or_else(|| panic!("no client frame {nth}"));
        wsscope::explain::preview(!r.header.rsv[0], &c.payload_prefix(r, 80), 80)
    };
    h.get_all_by_label(&label)
        .next()
        .unwrap_or_else(|| panic!("no row {label}"))
        .click();
    h.run_steps(3);
}

/// permessage-deflate in the window: the server agrees to Chromium's offer; a text sent twice
/// is 43 bytes, compressed once on its own and the second time by reference to the first (the
/// shared window); the anatomy shows both sizes, the ratio and which one needed the other, RSV1
/// reads "compressed", and the handshake tab explains the offer and what was agreed. With the
/// server window's switch off, the same offer is declined and the handshake tab says why.
#[test]
fn a_repeated_text_shrinks_and_the_window_says_why() {
    use std::io::Write;
    use wsscope::protocol::deflate::{DeflateParams, Deflater};
    use wsscope::protocol::Role;
    let (mut h, addr) = listening();
    let (mut s, head) = deflate_client(addr);
    assert!(
        head.contains("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        "{head}"
    );
    let text = "the quick brown fox jumps over the lazy dog";
    let mut d = Deflater::new(&DeflateParams::default(), Role::Client);
    let mut sizes = Vec::new();
    for _ in 0..2 {
        let (z, compressed) = d.deflate(text.as_bytes());
        assert!(compressed);
        sizes.push(z.len());
        s.write_all(&compressed_frame(&z))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // The second one is a back-reference: a few bytes.
    assert!(sizes[1] < 10, "{sizes:?}");
    step_until(&mut h, "both messages and their echoes", |h| {
        h.state().capture().message_count() >= 4
    });
    h.run_steps(3);
    let ratio = |z: usize| {
        let pct = (z as f64 * 100.0 / text.len() as f64).round();
        format!("{} -> {z} bytes, {pct} %", text.len())
    };
    click_client_data_frame(&mut h, 0);
    assert!(
        h.query_all_by_label(&ratio(sizes[0])).count() > 0,
        "{}",
        ratio(sizes[0])
    );
    assert!(
        h.query_all_by_label_contains("RSV1 = 1: compressed (permessage-deflate)")
            .count()
            > 0
    );
    assert!(h.query_all_by_label_contains("Stands alone").count() > 0);
    assert_eq!(
        h.query_all_by_label_contains("Needs the earlier").count(),
        0
    );
    assert!(h.query_all_by_label(text).count() > 0, "the inflated text");
    click_client_data_frame(&mut h, 1);
    assert!(
        h.query_all_by_label(&ratio(sizes[1])).count() > 0,
        "{}",
        ratio(sizes[1])
    );
    assert!(
        h.query_all_by_label_contains("Needs the earlier messages")
            .count()
            > 0
    );
    assert_eq!(h.query_all_by_label_contains("Stands alone").count(), 0);
    assert!(h.query_all_by_label(text).count() > 0, "the inflated text");
    // The handshake: the offer, its parameter, and the agreement.
    h.get_by_label("Handshake").click();
    h.run_steps(3);
    for want in [
        "Compression: permessage-deflate (RFC 7692)",
        "permessage-deflate; client_max_window_bits",
        "the client can use a smaller window if the server asks for one",
        "the server keeps its compression window between messages",
        "the client looks back at most 2^15 = 32768 bytes for a repeat",
    ] {
        assert!(h.query_all_by_label_contains(want).count() > 0, "{want}");
    }
    drop(s);
    // The server window's switch off, the listener restarted: declined, and why.
    h.get_by_label("server…").click();
    h.run_steps(2);
    h.get_by_label("permessage-deflate (compression)").click();
    h.run_steps(2);
    h.get_by_label("restart the listener").click();
    h.run_steps(2);
    step_until(&mut h, "restarted", |h| {
        !h.state().restarting() && h.state().server_addr().is_some_and(|a| a != addr)
    });
    let addr = h
        .state()
        .server_addr()
        .unwrap_or_else(|| panic!("no server"));
    let (s, head) = deflate_client(addr);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(!head.contains("permessage-deflate"), "{head}");
    step_until(&mut h, "second connection", |h| {
        h.state()
            .capture()
            .connections
            .iter()
            .any(|c| c.id == 2 && c.handshake.is_some())
    });
    // No connection is selected: the Handshake tab shows the newest.
    h.run_steps(3);
    assert!(h.query_all_by_label("Connection #2").count() > 0);
    assert!(
        h.query_all_by_label_contains("Offered, but not agreed")
            .count()
            > 0
    );
    assert!(
        h.query_all_by_label_contains("has permessage-deflate switched off")
            .count()
            > 0
    );
    // Not agreed, RSV1 is a violation again (RFC 6455 §5.2), not "compressed".
    let mut s = s;
    let (z, _) = Deflater::new(&DeflateParams::default(), Role::Client).deflate(text.as_bytes());
    s.write_all(&compressed_frame(&z))
        .unwrap_or_else(|e| panic!("{e}"));
    step_until(&mut h, "the RSV1 frame of connection 2", |h| {
        let c = h.state().capture();
        let found = c
            .frames_from(0)
            .any(|(_, r)| r.conn == 2 && r.header.rsv[0]);
        found
    });
    // The server window lies over the tabs: closed first.
    h.get_by_label("Close window").click();
    h.run_steps(2);
    h.get_by_label("Live").click();
    h.run_steps(2);
    // Its bytes are the first message's (a fresh deflater): the connection's own list.
    h.get_all_by_label_contains("#2 ")
        .next()
        .unwrap_or_else(|| panic!("no connection 2"))
        .click();
    h.run_steps(2);
    click_client_data_frame(&mut h, 2);
    assert!(h.query_all_by_label_contains("— #2 C->S — text").count() > 0);
    assert!(h.query_all_by_label("Rules broken").count() > 0);
    assert_eq!(
        h.query_all_by_label_contains("RSV1 = 1: compressed")
            .count(),
        0
    );
    assert_eq!(h.query_all_by_label("Compressed message").count(), 0);
    drop(s);
}

/// The Connect tab's compression switch: on (the default), the client offers permessage-deflate
/// and the window's own server agrees; off, the request carries no offer.
#[test]
fn the_connect_tabs_switch_decides_the_deflate_offer() {
    let (mut h, addr) = listening();
    h.get_by_label("Connect").click();
    h.run_steps(2);
    set_field(&mut h, "URL", &format!("ws://{addr}/on"));
    click_connect(&mut h, "Connect");
    let offered = |h: &Harness<'static, WsscopeApp>, path: &str| -> Option<bool> {
        let c = h.state().capture();
        let found = c
            .connections
            .iter()
            .filter(|c| c.endpoint == Some(wsscope::event::Endpoint::Client))
            .find_map(|c| {
                let hs = c.handshake.as_ref()?;
                (hs.request.path == path && hs.accepted()).then(|| {
                    hs.request
                        .values("Sec-WebSocket-Extensions")
                        .any(|v| v.starts_with(b"permessage-deflate"))
                        && wsscope::protocol::deflate::agreed(hs).is_some()
                })
            });
        found
    };
    step_until(&mut h, "the first client's handshake", |h| {
        offered(h, "/on").is_some()
    });
    assert_eq!(offered(&h, "/on"), Some(true), "offered and agreed");
    h.get_by_label("offer permessage-deflate (compression)")
        .click();
    h.run_steps(2);
    set_field(&mut h, "URL", &format!("ws://{addr}/off"));
    click_connect(&mut h, "Connect");
    step_until(&mut h, "the second client's handshake", |h| {
        offered(h, "/off").is_some()
    });
    assert_eq!(
        offered(&h, "/off"),
        Some(false),
        "no offer with the switch off"
    );
}

/// Heavy traffic spaces repaints that cost much CPU (no GPU) to their share of a CPU, the status
/// bar says so, and stops saying so once the traffic is over.
#[test]
fn heavy_traffic_spaces_costly_repaints_and_says_so() {
    let (mut h, addr) = listening();
    h.state_mut().set_paint_cost(Duration::from_millis(75));
    h.run();
    let note = "heavy traffic: the view refreshes every";
    assert!(h.query_by_label_contains(note).is_none());
    let flood = Flood::start(addr);
    // 75 ms of CPU a repaint, 10 % of a CPU: one every 0.75 s.
    step_until(&mut h, "repaints spaced", |h| {
        h.query_by_label_contains("the view refreshes every 0.8 s, since a refresh costs 75 ms")
            .is_some()
            && h.state().spaced_repaints()
                == Some((Duration::from_millis(750), Duration::from_millis(75)))
    });
    let sent = flood.join();
    assert!(sent > 0);
    step_until(&mut h, "the note gone after the traffic", |h| {
        h.query_by_label_contains(note).is_none()
    });
    assert_eq!(h.state().spaced_repaints(), None);
}
