//! A real browser (headless Chromium) against the real server: the demo page connects and
//! negotiates permessage-deflate as Chromium offers it, and a repeated text goes compressed both
//! ways, the second copy a few bytes on the wire. Skipped when Chromium is not installed,
//! except under CI (CI=true), which installs it (.ci/run).

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use wsscope::event::{Direction, Event, EventKind};
use wsscope::server::ServerConfig;

/// The Chromium binary, or `None` (after saying so) when it is not installed.
fn chromium() -> Option<&'static str> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(name);
        }
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true needs chromium (apt package chromium; .ci/run installs it)"
    );
    eprintln!("note: chromium is not installed; skipping the browser test");
    None
}

/// Loads `url` in headless Chromium until its JavaScript has run, and returns the page's DOM.
/// `virtual_time`: let Chromium run the page's timers ahead (10 s of them); otherwise the DOM is
/// dumped once the page has loaded, in real time.
fn browse(chromium: &str, url: &str, virtual_time: bool) -> String {
    let profile = std::env::temp_dir().join(format!(
        "wsscope-chromium-{}-{}",
        std::process::id(),
        u8::from(virtual_time)
    ));
    let profile_arg = format!("--user-data-dir={}", profile.display());
    let mut args = vec![
        "--headless=new",
        // CI runs as root, where Chromium's sandbox cannot start.
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        &profile_arg,
        "--dump-dom",
        url,
    ];
    if virtual_time {
        args.insert(4, "--virtual-time-budget=10000");
    }
    let out = Command::new(chromium)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{chromium}: {e}"));
    let _ = std::fs::remove_dir_all(&profile);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The server's events until `done` holds for them (or 20 s pass).
fn events_until(
    rx: &crossbeam_channel::Receiver<Vec<Event>>,
    done: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !done(&events) {
        if let Ok(batch) = rx.recv_timeout(Duration::from_millis(50)) {
            events.extend(batch);
        }
    }
    events
}

#[test]
fn chromium_negotiates_compression_on_the_demo_page_and_sends_compressed_frames() {
    let Some(chromium) = chromium() else { return };
    let (handle, rx) = common::start_server(ServerConfig::default());
    let addr = handle.local_addr();

    // The demo page, as a user opens it: it connects back on load.
    let dom = browse(chromium, &format!("http://{addr}/"), true);
    assert!(dom.contains("open (subprotocol: chat)"), "{dom}");
    let events = events_until(&rx, |ev| {
        ev.iter()
            .any(|e| matches!(&e.kind, EventKind::Handshake(h) if h.request.path == "/demo"))
    });
    let hs = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Handshake(h) if h.request.path == "/demo" => Some(h),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no handshake on /demo"));
    let offer: Vec<&str> = hs
        .request
        .values("Sec-WebSocket-Extensions")
        .filter_map(|v| std::str::from_utf8(v).ok())
        .collect();
    assert!(
        offer.iter().any(|v| v.contains("permessage-deflate")),
        "{offer:?}"
    );
    let params = wsscope::protocol::deflate::agreed(hs);
    assert!(params.is_some(), "the 101 did not agree: {hs:?}");

    // A page that sends the same text twice and closes: the second copy refers back to the first.
    // Virtual time does not wait for WebSocket traffic (the DOM could be dumped before the
    // second echo on a busy machine): the page loads in real time instead, and an image from
    // `hold` keeps it loading until the server has seen the page's connection close.
    let hold = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let hold_addr = hold.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let _ = hold.set_nonblocking(true);
    let (release, released) = crossbeam_channel::bounded::<()>(1);
    let holder = std::thread::spawn(move || {
        let mut waiting = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && released.try_recv().is_err() {
            match hold.accept() {
                Ok((s, _)) => waiting.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        for mut s in waiting {
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    let dir = std::env::temp_dir().join(format!("wsscope-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let page = dir.join("twice.html");
    let text = "the quick brown fox jumps over the lazy dog";
    std::fs::write(
        &page,
        format!(
            r#"<!doctype html><html><body><pre id="log"></pre><script>
const log = (t) => {{ document.getElementById('log').textContent += t + '\n'; }};
const ws = new WebSocket('ws://{addr}/twice');
let n = 0;
ws.onopen = () => {{ log('extensions: ' + ws.extensions); ws.send('{text}'); }};
ws.onmessage = (e) => {{ log('echo: ' + e.data); if (++n < 2) ws.send('{text}'); else ws.close(1000, 'done'); }};
ws.onclose = (e) => log('closed ' + e.code);
</script><img src="http://{hold_addr}/hold"></body></html>"#
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("file://{}", page.display());
    let browser = std::thread::spawn(move || browse(chromium, &url, false));

    let twice =
        |e: &Event| matches!(&e.kind, EventKind::Handshake(h) if h.request.path == "/twice");
    let mut events = events;
    events.extend(events_until(&rx, |ev| {
        let conn = events.iter().chain(ev).find(|e| twice(e)).map(|e| e.conn);
        ev.iter()
            .any(|e| Some(e.conn) == conn && matches!(e.kind, EventKind::Closed { .. }))
    }));
    let _ = release.send(());
    let dom = browser
        .join()
        .unwrap_or_else(|_| panic!("the browser thread panicked"));
    let _ = holder.join();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(dom.contains("extensions: permessage-deflate"), "{dom}");
    assert_eq!(dom.matches(&format!("echo: {text}")).count(), 2, "{dom}");
    assert!(dom.contains("closed 1000"), "{dom}");
    let conn = events
        .iter()
        .find(|e| twice(e))
        .map(|e| e.conn)
        .unwrap_or_else(|| panic!("no handshake on /twice"));
    // Each way: two frames with RSV1 (compressed), the second much shorter on the wire, and
    // both messages inflated back to the text.
    for d in [Direction::ClientToServer, Direction::ServerToClient] {
        let frames: Vec<u64> = events
            .iter()
            .filter(|e| e.conn == conn)
            .filter_map(|e| match &e.kind {
                EventKind::Frame { direction, frame } if *direction == d && frame.header.rsv[0] => {
                    Some(frame.header.payload_len)
                }
                _ => None,
            })
            .collect();
        assert_eq!(frames.len(), 2, "{d:?}: compressed frames {frames:?}");
        assert!(
            frames[1] < 10 && frames[1] < frames[0],
            "{d:?}: the second copy is {} bytes on the wire, the first {}",
            frames[1],
            frames[0]
        );
        let texts = events
            .iter()
            .filter(|e| e.conn == conn)
            .filter(|e| {
                matches!(&e.kind,
                EventKind::Message { direction, message }
                    if *direction == d && message.payload[..] == *text.as_bytes())
            })
            .count();
        assert_eq!(texts, 2, "{d:?}: inflated messages");
    }
    handle.shutdown(Duration::from_millis(200));
}
