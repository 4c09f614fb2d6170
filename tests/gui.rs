//! The window driven through egui_kittest (no GPU), with the real server running on port 0 and
//! tungstenite as the client.

use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable as _;
use egui_kittest::Harness;
use wsscope::gui::WsscopeApp;
use wsscope::server::ServerConfig;

fn offline() -> Harness<'static, WsscopeApp> {
    Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .build_eframe(|_cc| WsscopeApp::offline())
}

fn live() -> Harness<'static, WsscopeApp> {
    Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .with_max_steps(1000)
        .build_eframe(|cc| {
            WsscopeApp::with_server(
                ServerConfig {
                    port: 0,
                    ..ServerConfig::default()
                },
                &cc.egui_ctx,
            )
        })
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
    assert!(
        h.query_all_by_label_contains("payload text \"Hello\"")
            .count()
            > 0
    );
    assert!(
        h.query_all_by_label_contains("37 fa 21 3d (37fa213d)")
            .count()
            > 0
    );
}

#[test]
fn a_real_client_appears_and_its_frames_can_be_inspected() {
    let mut h = live();
    step_until(&mut h, "listening", |h| h.state().server_addr().is_some());
    let addr = h
        .state()
        .server_addr()
        .unwrap_or_else(|| panic!("no server"));
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
        h.state().capture().frames.len() >= 4
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
    // Clear forgets the frames but keeps the connection row.
    h.get_by_label("Live").click();
    h.run_steps(2);
    h.get_by_label("clear").click();
    h.run_steps(2);
    assert_eq!(h.state().capture().frames.len(), 0);
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
