//! permessage-deflate (RFC 7692) over real sockets. The server: python websockets as a
//! compressing client, and scripted frames for the rules (RSV1 where it is not allowed, a
//! deflate bomb). The client: python websockets and wsscope's own server as compressing
//! servers, hand-written servers for a bomb and for answers a client must refuse.
//! tungstenite 0.30 has no permessage-deflate ("no support for permessage-deflate at the
//! moment", its README), so it is not a compressing peer here.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{events_of_writes, REQUEST};
use wsscope::client::{self, ClientConfig, WsUrl};
use wsscope::event::{Command as Cmd, Direction, Event, EventKind};
use wsscope::protocol::deflate::{self, AnswerProblem, DeflateParams, Deflater};
use wsscope::protocol::handshake::{Found, Handshake, ResponseCheckId};
use wsscope::protocol::{
    encode_frame, AcceptDerivation, CloseCode, Frame, FrameHeader, Limits, OpCode, Role, Rule,
};
use wsscope::server::ServerConfig;

/// python3 with websockets, or `None` (after saying so); under CI a missing one fails.
fn python() -> Option<String> {
    let py = std::env::var("WSSCOPE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import websockets.sync.client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI needs python3 with websockets (set WSSCOPE_PYTHON)"
    );
    eprintln!("note: python websockets not found; skipped");
    None
}

/// A python websockets client (it offers permessage-deflate by default) that sends "Hello"
/// twice, 3000 bytes of repeated text and 10000 binary bytes, and checks every echo.
const CLIENT: &str = r#"
import sys
from websockets.sync.client import connect
with connect(sys.argv[1]) as ws:
    print("extensions:", ws.response.headers.get("Sec-WebSocket-Extensions"))
    for m in ["Hello", "Hello", "abc" * 1000, b"\x00\x01" * 5000]:
        ws.send(m)
        r = ws.recv()
        assert r == m, (r[:20], m[:20])
    print("echoes ok")
"#;

/// Runs [`CLIENT`] against a server with `deflate` on or off; returns what it printed and every
/// event of its connection.
fn python_session(py: &str, deflate: bool) -> (String, Vec<Event>) {
    let (handle, rx) = common::start_server(ServerConfig {
        deflate,
        ..ServerConfig::default()
    });
    let url = format!("ws://127.0.0.1:{}/", handle.local_addr().port());
    let out = Command::new(py)
        .args(["-c", CLIENT, &url])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(batch) = rx.recv_timeout(Duration::from_millis(50)) {
            let closed = batch
                .iter()
                .any(|e| matches!(e.kind, EventKind::Closed { .. }));
            events.extend(batch);
            if closed {
                break;
            }
        }
    }
    handle.shutdown(Duration::from_millis(200));
    (stdout, events)
}

fn frames(events: &[Event], dir: Direction) -> Vec<&Frame> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Frame { direction, frame } if *direction == dir => Some(&**frame),
            _ => None,
        })
        .collect()
}

fn messages(events: &[Event], dir: Direction) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Message { direction, message } if *direction == dir => {
                Some(message.payload.to_vec())
            }
            _ => None,
        })
        .collect()
}

fn data_frames(events: &[Event], dir: Direction) -> Vec<&Frame> {
    frames(events, dir)
        .into_iter()
        .filter(|f| matches!(f.header.opcode, OpCode::Text | OpCode::Binary))
        .collect()
}

/// python websockets offers permessage-deflate; wsscope agrees, inflates what it receives,
/// echoes it compressed (the second "Hello" in 5 bytes: the shared window, §7.2.3.2), and the
/// events show the compressed bytes in frames and the inflated ones in messages, both ways.
#[test]
fn python_websockets_negotiates_and_compresses_both_ways() {
    let Some(py) = python() else { return };
    let (out, events) = python_session(&py, true);
    assert!(out.contains("extensions: permessage-deflate"), "{out}");
    assert!(out.contains("echoes ok"), "{out}");
    let want: Vec<Vec<u8>> = vec![
        b"Hello".to_vec(),
        b"Hello".to_vec(),
        b"abc".repeat(1000),
        b"\x00\x01".repeat(5000),
    ];
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        assert_eq!(messages(&events, dir), want, "{dir:?}");
        let data = data_frames(&events, dir);
        assert_eq!(data.len(), 4, "{dir:?}");
        assert!(
            data.iter().all(|f| f.header.rsv[0]),
            "{dir:?}: RSV1 on each"
        );
        // The wire carries far fewer bytes than the messages.
        assert!(data[2].payload.len() < 100, "{}", data[2].payload.len());
        assert!(data[3].payload.len() < 100, "{}", data[3].payload.len());
        for f in frames(&events, dir) {
            assert!(f.violations.is_empty(), "{dir:?}: {:?}", f.violations);
        }
    }
    // Our own compression, byte for byte as RFC 7692 §7.2.3.1 and §7.2.3.2 show it.
    let ours = data_frames(&events, Direction::ServerToClient);
    assert_eq!(
        &ours[0].payload[..],
        [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
    assert_eq!(&ours[1].payload[..], [0xf2, 0x00, 0x11, 0x00, 0x00]);
}

/// With deflate off, the same client gets no extension and every frame goes uncompressed.
#[test]
fn python_websockets_without_deflate() {
    let Some(py) = python() else { return };
    let (out, events) = python_session(&py, false);
    assert!(out.contains("extensions: None"), "{out}");
    assert!(out.contains("echoes ok"), "{out}");
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        assert!(frames(&events, dir).iter().all(|f| !f.header.rsv[0]));
        assert_eq!(messages(&events, dir).len(), 4);
    }
}

/// The request with a permessage-deflate offer.
fn offer_request() -> String {
    REQUEST.replacen(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
        1,
    )
}

/// One masked frame with RSV1 as given.
fn frame_rsv1(opcode: OpCode, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut h = FrameHeader::new(opcode, payload.len() as u64, Some([9, 8, 7, 6]));
    h.rsv[0] = rsv1;
    let mut v = Vec::new();
    encode_frame(h, payload, &mut v);
    v
}

/// The close code of the server's close frame.
fn server_close(events: &[Event]) -> Option<u16> {
    frames(events, Direction::ServerToClient)
        .into_iter()
        .find(|f| f.header.opcode == OpCode::Close)
        .and_then(|f| f.payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])))
}

fn first_violation(events: &[Event]) -> Option<Rule> {
    frames(events, Direction::ClientToServer)
        .iter()
        .find_map(|f| f.violations.first().map(|v| v.rule))
}

/// §6.1 of RFC 7692: with deflate agreed, RSV1 on a control frame is still a violation (1002),
/// after a compressed message was received and echoed.
#[test]
fn rsv1_on_a_ping_fails_even_with_deflate() {
    let hello = frame_rsv1(
        OpCode::Text,
        true,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    );
    let ping = frame_rsv1(OpCode::Ping, true, b"");
    let events = events_of_writes(
        &[offer_request().into_bytes(), hello, ping],
        Duration::from_millis(20),
    );
    assert_eq!(
        messages(&events, Direction::ServerToClient),
        [b"Hello".to_vec()]
    );
    assert_eq!(first_violation(&events), Some(Rule::ReservedBitSet));
    assert_eq!(server_close(&events), Some(1002));
}

/// Without an offer, deflate is not agreed and a compressed frame's RSV1 is a violation.
#[test]
fn rsv1_without_an_agreement_fails() {
    let hello = frame_rsv1(
        OpCode::Text,
        true,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    );
    let events = events_of_writes(&[REQUEST.as_bytes().to_vec(), hello], Duration::ZERO);
    assert_eq!(first_violation(&events), Some(Rule::ReservedBitSet));
    assert_eq!(server_close(&events), Some(1002));
}

/// A deflate bomb (32 MiB of zeros in about 32 KiB) against the 16 MiB message limit: the
/// server stops inflating at the limit and closes with 1009.
#[test]
fn a_deflate_bomb_gets_1009() {
    let mut d = Deflater::new(&DeflateParams::default(), Role::Client);
    let (bomb, compressed) = d.deflate(&vec![0u8; 32 << 20]);
    assert!(compressed && bomb.len() < 64 * 1024, "{}", bomb.len());
    let events = events_of_writes(
        &[
            offer_request().into_bytes(),
            frame_rsv1(OpCode::Binary, true, &bomb),
        ],
        Duration::ZERO,
    );
    assert!(messages(&events, Direction::ClientToServer).is_empty());
    assert_eq!(server_close(&events), Some(CloseCode::TooBig.code()));
}

// ---- wsscope's client (`wsscope connect`) offering permessage-deflate ----

/// A python websockets echo server on a free port: `default` (it agrees with window bits 12
/// both ways), `off` (no compression) or `nocontext` (it agrees and tells the client to reset
/// its context for every message). Killed on drop.
struct PyServer {
    child: std::process::Child,
    port: u16,
}

impl PyServer {
    fn start(py: &str, mode: &str) -> Self {
        const SERVER: &str = r#"
import sys
from websockets.sync.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
def echo(ws):
    for m in ws:
        ws.send(m)
kw = {}
if sys.argv[1] == "off":
    kw["compression"] = None
elif sys.argv[1] == "nocontext":
    kw["compression"] = None
    kw["extensions"] = [ServerPerMessageDeflateFactory(client_no_context_takeover=True)]
with serve(echo, "127.0.0.1", 0, **kw) as server:
    print(server.socket.getsockname()[1], flush=True)
    server.serve_forever()
"#;
        let mut child = Command::new(py)
            .args(["-c", SERVER, mode])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            use std::io::BufRead as _;
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("python server: {line:?}"));
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs wsscope's client against `url`: sends each text, waits for as many messages back,
/// closes; returns every event of the connection.
fn client_session(config: ClientConfig, texts: &[&str]) -> Vec<Event> {
    client_session_until(config, texts, &|_| true)
}

/// Like [`client_session`], and before closing also waits until `until` holds (or the
/// connection ends): a test that sends nothing must not close before the server's frame arrives.
fn client_session_until(
    config: ClientConfig,
    texts: &[&str],
    until: &dyn Fn(&[Event]) -> bool,
) -> Vec<Event> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let ctx = common::peer_context(tx);
    let handle = client::connect(config, ctx).unwrap_or_else(|e| panic!("{e}"));
    let id = handle.id();
    let mut events: Vec<Event> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let wait = |events: &mut Vec<Event>, done: &dyn Fn(&[Event]) -> bool| {
        while !done(events) {
            match rx.recv_deadline(deadline) {
                Ok(b) => events.extend(b),
                Err(_) => panic!("gave up waiting: {events:#?}"),
            }
        }
    };
    wait(&mut events, &|ev| {
        ev.iter().any(|e| {
            matches!(&e.kind, EventKind::Handshake(_) | EventKind::Closed { .. })
                || matches!(&e.kind, EventKind::Error(_))
        })
    });
    let open = events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::Handshake(h) if h.accepted() && h.client_failure().is_none()));
    if open {
        for t in texts {
            handle.command(Cmd::Text(id, (*t).to_string()));
        }
        let n = texts.len();
        wait(&mut events, &|ev| {
            (messages(ev, Direction::ServerToClient).len() >= n && until(ev))
                || ev
                    .iter()
                    .any(|e| matches!(e.kind, EventKind::Closed { .. }))
        });
        handle.command(Cmd::Close(id, 1000, String::new()));
    }
    while let Ok(b) = rx.recv_deadline(deadline) {
        events.extend(b);
    }
    handle.join();
    events
}

fn client_config(url: &str) -> ClientConfig {
    ClientConfig::new(WsUrl::parse(url).unwrap_or_else(|e| panic!("{e}")))
}

fn handshake(events: &[Event]) -> &Handshake {
    events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Handshake(h) => Some(&**h),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no handshake: {events:#?}"))
}

fn clean_close(events: &[Event]) -> Option<(Option<u16>, bool)> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Closed { code, clean, .. } => Some((code.map(u16::from), *clean)),
        _ => None,
    })
}

/// The texts the client session sends: a repeated "Hello" (the second copy refers back to the
/// first, §7.2.3.2) and 3000 bytes that compress well.
fn texts() -> Vec<String> {
    vec!["Hello".into(), "Hello".into(), "abc".repeat(1000)]
}

/// Chromium's offer to python websockets, which agrees (window bits 12 both ways): what we
/// send goes out compressed with RSV1, the second "Hello" in a few bytes, the echo comes back
/// compressed and inflated, and the close is clean.
#[test]
fn client_compresses_with_python_websockets() {
    let Some(py) = python() else { return };
    let server = PyServer::start(&py, "default");
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let events = client_session(client_config(&server.url()), &refs);
    let hs = handshake(&events);
    assert_eq!(
        hs.request.single("Sec-WebSocket-Extensions").as_deref(),
        Some("permessage-deflate; client_max_window_bits")
    );
    assert!(hs.client_failure().is_none(), "{hs:#?}");
    assert_eq!(
        deflate::agreed(hs),
        Some(DeflateParams {
            server_max_window_bits: Some(12),
            client_max_window_bits: Some(12),
            ..DeflateParams::default()
        })
    );
    let want: Vec<Vec<u8>> = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        assert_eq!(messages(&events, dir), want, "{dir:?}");
        let data = data_frames(&events, dir);
        assert!(
            data.iter().all(|f| f.header.rsv[0]),
            "{dir:?}: RSV1 on each"
        );
        assert!(data[1].payload.len() <= 5, "{dir:?}: {:?}", data[1].payload);
        assert!(data[2].payload.len() < 100, "{}", data[2].payload.len());
        for f in frames(&events, dir) {
            assert!(f.violations.is_empty(), "{dir:?}: {:?}", f.violations);
        }
    }
    // Ours, byte for byte as RFC 7692 §7.2.3.1 and §7.2.3.2 show it.
    let ours = data_frames(&events, Direction::ClientToServer);
    assert_eq!(
        &ours[0].payload[..],
        [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
    assert_eq!(&ours[1].payload[..], [0xf2, 0x00, 0x11, 0x00, 0x00]);
    assert_eq!(clean_close(&events), Some((Some(1000), true)));
}

/// The server agrees with client_no_context_takeover: every message we send starts with an
/// empty window, so the second "Hello" is the same 7 bytes as the first (§7.2.3.2).
#[test]
fn client_honours_client_no_context_takeover() {
    let Some(py) = python() else { return };
    let server = PyServer::start(&py, "nocontext");
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let events = client_session(client_config(&server.url()), &refs);
    let hs = handshake(&events);
    assert!(deflate::agreed(hs).is_some_and(|p| p.client_no_context_takeover));
    let want: Vec<Vec<u8>> = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    assert_eq!(messages(&events, Direction::ServerToClient), want);
    let ours = data_frames(&events, Direction::ClientToServer);
    assert_eq!(&ours[0].payload[..], &ours[1].payload[..]);
    assert_eq!(ours[1].payload.len(), 7);
    // The server keeps its own context: its second "Hello" is short.
    let theirs = data_frames(&events, Direction::ServerToClient);
    assert!(theirs[1].payload.len() <= 5, "{:?}", theirs[1].payload);
    assert_eq!(clean_close(&events), Some((Some(1000), true)));
}

/// Without deflate on either end, nothing is compressed: a server that does not agree, and a
/// client that does not offer (`--no-deflate`).
#[test]
fn client_without_compression() {
    let Some(py) = python() else { return };
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let off = PyServer::start(&py, "off");
    let declined = client_session(client_config(&off.url()), &refs);
    let on = PyServer::start(&py, "default");
    let mut c = client_config(&on.url());
    c.deflate = false;
    let not_offered = client_session(c, &refs);
    for events in [declined, not_offered] {
        assert_eq!(deflate::agreed(handshake(&events)), None);
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            assert!(frames(&events, dir).iter().all(|f| !f.header.rsv[0]));
            assert_eq!(messages(&events, dir).len(), 3);
        }
        assert_eq!(clean_close(&events), Some((Some(1000), true)));
    }
    let events = {
        let mut c = client_config(&on.url());
        c.deflate = false;
        client_session(c, &[])
    };
    assert_eq!(
        handshake(&events)
            .request
            .single("Sec-WebSocket-Extensions"),
        None
    );
}

/// wsscope's client against wsscope's server: both compress, both inflate.
#[test]
fn client_against_wsscope_serve() {
    let (handle, rx) = common::start_server(ServerConfig::default());
    let drain =
        std::thread::spawn(move || while rx.recv_timeout(Duration::from_secs(2)).is_ok() {});
    let url = format!("ws://127.0.0.1:{}/", handle.local_addr().port());
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let events = client_session(client_config(&url), &refs);
    handle.shutdown(Duration::from_millis(200));
    let _ = drain.join();
    assert_eq!(
        deflate::agreed(handshake(&events)),
        Some(DeflateParams::default())
    );
    let want: Vec<Vec<u8>> = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        assert_eq!(messages(&events, dir), want, "{dir:?}");
        let data = data_frames(&events, dir);
        assert!(data.iter().all(|f| f.header.rsv[0]), "{dir:?}");
        assert_eq!(
            &data[1].payload[..],
            [0xf2, 0x00, 0x11, 0x00, 0x00],
            "{dir:?}"
        );
    }
    assert_eq!(clean_close(&events), Some((Some(1000), true)));
}

/// A hand-written server for one connection: answers the upgrade with `extensions` (our key's
/// accept), then writes `after`, then reads until the client is done. Returns its port and
/// what the client sent after the 101.
fn scripted_server(
    extensions: &'static str,
    after: Vec<u8>,
) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let t = std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return Vec::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return Vec::new(),
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let key = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap_or("")
            .trim()
            .to_string();
        let accept = AcceptDerivation::new(&key).accept;
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: {extensions}\r\n\r\n"
        );
        let _ = s.write_all(answer.as_bytes());
        let _ = s.write_all(&after);
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        rest
    });
    (port, t)
}

/// A deflate bomb from the server (32 MiB of zeros in about 32 KiB) against a 1 MiB message
/// limit: the client stops inflating at the limit and closes with 1009.
#[test]
fn a_deflate_bomb_to_the_client_gets_1009() {
    let mut d = Deflater::new(&DeflateParams::default(), Role::Server);
    let (bomb, compressed) = d.deflate(&vec![0u8; 32 << 20]);
    assert!(compressed && bomb.len() < 64 * 1024, "{}", bomb.len());
    let mut h = FrameHeader::new(OpCode::Binary, bomb.len() as u64, None);
    h.rsv[0] = true;
    let mut frame = Vec::new();
    encode_frame(h, &bomb, &mut frame);
    let (port, server) = scripted_server("permessage-deflate", frame);
    let mut c = client_config(&format!("ws://127.0.0.1:{port}/"));
    c.limits = Limits {
        max_frame_size: 1 << 20,
        max_message_size: 1 << 20,
    };
    c.close_timeout = Duration::from_millis(500);
    // Wait for our close (1009 expected), so the session does not close with 1000 first.
    let events = client_session_until(c, &[], &|ev| {
        frames(ev, Direction::ClientToServer)
            .iter()
            .any(|f| f.header.opcode == OpCode::Close)
    });
    let _ = server.join();
    assert!(messages(&events, Direction::ServerToClient).is_empty());
    let close = frames(&events, Direction::ClientToServer)
        .into_iter()
        .find(|f| f.header.opcode == OpCode::Close)
        .and_then(|f| f.payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])));
    assert_eq!(close, Some(CloseCode::TooBig.code()), "{events:#?}");
}

/// A 101 whose permessage-deflate answer we cannot accept fails the handshake (RFC 7692 §7.1,
/// RFC 6455 §4.1 item 5): the client closes TCP without a frame, and the finding names the
/// parameter and the rule.
#[test]
fn a_bad_deflate_answer_fails_the_client_handshake() {
    for (answer, problem) in [
        (
            "permessage-deflate; server_max_window_bits=16",
            AnswerProblem::BadValue {
                param: "server_max_window_bits".into(),
                value: Some("16".into()),
            },
        ),
        (
            "permessage-deflate; foo",
            AnswerProblem::Unknown("foo".into()),
        ),
    ] {
        let (port, server) = scripted_server(answer, Vec::new());
        let events = client_session(client_config(&format!("ws://127.0.0.1:{port}/")), &["x"]);
        let sent_after = server.join().unwrap_or_default();
        assert!(sent_after.is_empty(), "{sent_after:?}");
        let failure = handshake(&events).client_failure().cloned();
        assert_eq!(
            failure.as_ref().map(|f| (f.id, f.detail.clone())),
            Some((
                ResponseCheckId::Extensions,
                Found::BadExtension {
                    value: answer.into(),
                    why: problem
                }
            ))
        );
        assert!(frames(&events, Direction::ClientToServer).is_empty());
    }
}

/// `wsscope connect` against python websockets: the trace says how many bytes each message
/// took on the wire, both ways; with --no-deflate it says nothing of compression.
#[test]
fn the_connect_trace_says_compressed_both_ways() {
    let Some(py) = python() else { return };
    let server = PyServer::start(&py, "default");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "connect".to_string(),
            server.url(),
            "--send".into(),
            "Hello".into(),
            "--send".into(),
            "Hello".into(),
            "--lang".into(),
            "en".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = Command::new(env!("CARGO_BIN_EXE_wsscope"))
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let out = run(&[]);
    for want in [
        "C->S message text 5 bytes in 1 frame(s) (compressed 7 -> 5 bytes)",
        "C->S message text 5 bytes in 1 frame(s) (compressed 5 -> 5 bytes)",
        "S->C message text 5 bytes in 1 frame(s) (compressed 7 -> 5 bytes)",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
    let out = run(&["--no-deflate"]);
    assert!(!out.contains("compressed"), "{out}");
    assert!(
        out.contains("C->S message text 5 bytes in 1 frame(s) \"Hello\""),
        "{out}"
    );
}

// ---- The proxy between two compressing ends ----

/// A proxy in front of `upstream`; its events come on the receiver.
fn proxy_to(
    upstream: &str,
    deflate: bool,
) -> (
    wsscope::proxy::ProxyHandle,
    crossbeam_channel::Receiver<Vec<Event>>,
) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let ctx = common::peer_context(tx);
    let mut config = wsscope::proxy::ProxyConfig::new(
        "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        WsUrl::parse(upstream).unwrap_or_else(|e| panic!("{e}")),
    );
    config.deflate = deflate;
    config.close_timeout = Duration::from_secs(2);
    let handle = wsscope::proxy::start(config, ctx).unwrap_or_else(|e| panic!("{e}"));
    (handle, rx)
}

/// Events until both legs of the proxied connection are closed.
fn both_legs(rx: &crossbeam_channel::Receiver<Vec<Event>>) -> Vec<Event> {
    let end = Instant::now() + Duration::from_secs(15);
    let mut out: Vec<Event> = Vec::new();
    while out
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Closed { .. }))
        .count()
        < 2
    {
        match rx.recv_deadline(end) {
            Ok(b) => out.extend(b),
            Err(_) => panic!("legs never closed: {out:#?}"),
        }
    }
    out
}

/// The events of the leg `endpoint`.
fn leg_events(events: &[Event], endpoint: wsscope::event::Endpoint) -> Vec<Event> {
    let conn = events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Opened { endpoint: ep, .. } if ep == endpoint => Some(e.conn),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {endpoint:?} leg"));
    events.iter().filter(|e| e.conn == conn).cloned().collect()
}

/// python websockets client -> wsscope proxy -> python websockets server, both compressing:
/// the offer goes upstream unchanged and the answer comes back unchanged, every message
/// arrives intact both ways, the compressed bytes are the same on both legs (relayed, never
/// re-compressed), and each leg's tap inflates both directions for display.
#[test]
fn the_proxy_relays_compressed_frames_as_they_are() {
    use wsscope::event::Endpoint;
    let Some(py) = python() else { return };
    let server = PyServer::start(&py, "default");
    let (proxy, rx) = proxy_to(&server.url(), true);
    let url = format!("ws://{}/", proxy.local_addr());
    let out = Command::new(&py)
        .args(["-c", CLIENT, &url])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "extensions: permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("echoes ok"), "{stdout}");
    let events = both_legs(&rx);
    let a = leg_events(&events, Endpoint::ProxyToClient);
    let b = leg_events(&events, Endpoint::ProxyToServer);
    let (ha, hb) = (handshake(&a), handshake(&b));
    // The offer, unchanged upstream; the answer, unchanged back.
    assert_eq!(
        ha.request.single("Sec-WebSocket-Extensions"),
        hb.request.single("Sec-WebSocket-Extensions")
    );
    assert!(ha.request.single("Sec-WebSocket-Extensions").is_some());
    assert!(hb.client_failure().is_none());
    assert_eq!(deflate::agreed(ha), deflate::agreed(hb));
    assert!(deflate::agreed(ha).is_some());
    let want: Vec<Vec<u8>> = vec![
        b"Hello".to_vec(),
        b"Hello".to_vec(),
        b"abc".repeat(1000),
        b"\x00\x01".repeat(5000),
    ];
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        // Inflated on both legs, each with its own context.
        assert_eq!(messages(&a, dir), want, "client leg {dir:?}");
        assert_eq!(messages(&b, dir), want, "upstream leg {dir:?}");
        // The same compressed bytes on both legs, RSV1 kept.
        let wire = |leg: &[Event]| -> Vec<(bool, Vec<u8>)> {
            data_frames(leg, dir)
                .iter()
                .map(|f| (f.header.rsv[0], f.payload.to_vec()))
                .collect()
        };
        assert_eq!(wire(&a), wire(&b), "{dir:?}");
        assert!(wire(&a).iter().all(|(rsv1, _)| *rsv1), "{dir:?}");
        assert!(wire(&a)[2].1.len() < 100, "{dir:?}");
        for leg in [&a, &b] {
            for f in frames(leg, dir) {
                assert!(f.violations.is_empty(), "{dir:?}: {:?}", f.violations);
            }
        }
    }
    drop(proxy);
}

/// `proxy --no-deflate`: the offer is left out upstream, the client is told nothing was
/// agreed, and every frame passes uncompressed.
#[test]
fn the_proxy_without_deflate_strips_the_offer() {
    use wsscope::event::Endpoint;
    let Some(py) = python() else { return };
    let server = PyServer::start(&py, "default");
    let (proxy, rx) = proxy_to(&server.url(), false);
    let url = format!("ws://{}/", proxy.local_addr());
    let out = Command::new(&py)
        .args(["-c", CLIENT, &url])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("extensions: None"), "{stdout}");
    assert!(stdout.contains("echoes ok"), "{stdout}");
    let events = both_legs(&rx);
    let b = leg_events(&events, Endpoint::ProxyToServer);
    assert_eq!(
        handshake(&b).request.single("Sec-WebSocket-Extensions"),
        None
    );
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        assert!(frames(&events, dir).iter().all(|f| !f.header.rsv[0]));
        assert_eq!(messages(&b, dir).len(), 4);
    }
    drop(proxy);
}

/// §6.1 of RFC 7692 through the proxy: RSV1 on a first data frame is a violation when deflate
/// was not agreed (the leg fails with 1002 and nothing is relayed upstream), and relayed as it
/// is when it was.
#[test]
fn the_proxy_accepts_rsv1_only_when_agreed() {
    use wsscope::event::Endpoint;
    let hello = frame_rsv1(
        OpCode::Text,
        true,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    );
    for offer in [false, true] {
        let (up, srx) = common::start_server(ServerConfig::default());
        let drain =
            std::thread::spawn(move || while srx.recv_timeout(Duration::from_secs(2)).is_ok() {});
        let (proxy, rx) = proxy_to(&format!("ws://127.0.0.1:{}/", up.local_addr().port()), true);
        let mut s =
            std::net::TcpStream::connect(proxy.local_addr()).unwrap_or_else(|e| panic!("{e}"));
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let extra = if offer {
            "Sec-WebSocket-Extensions: permessage-deflate\r\n"
        } else {
            ""
        };
        let req = format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        s.write_all(req.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        s.write_all(&hello).unwrap_or_else(|e| panic!("{e}"));
        if offer {
            // The echo, then our close.
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got
                .windows(7)
                .any(|w| w == [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00])
            {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            s.write_all(&frame_rsv1(OpCode::Close, false, &[0x03, 0xe8]))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        let events = both_legs(&rx);
        let a = leg_events(&events, Endpoint::ProxyToClient);
        let b = leg_events(&events, Endpoint::ProxyToServer);
        let upstream_text = data_frames(&b, Direction::ClientToServer)
            .iter()
            .map(|f| (f.header.rsv[0], f.payload.to_vec()))
            .collect::<Vec<_>>();
        if offer {
            assert!(first_violation(&a).is_none());
            assert_eq!(
                upstream_text,
                [(true, vec![0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00])]
            );
            assert_eq!(messages(&a, Direction::ServerToClient), [b"Hello".to_vec()]);
        } else {
            assert_eq!(first_violation(&a), Some(Rule::ReservedBitSet));
            assert_eq!(server_close(&a), Some(1002));
            assert!(upstream_text.is_empty());
        }
        drop(proxy);
        up.shutdown(Duration::from_millis(200));
        let _ = drain.join();
    }
}

/// An upstream that agrees to an extension other than permessage-deflate cannot be followed
/// (its RSV bits and payloads mean nothing to the proxy): the client gets a 502 saying so.
#[test]
fn the_proxy_refuses_an_extension_it_cannot_follow() {
    let (port, server) = scripted_server("x-foo", Vec::new());
    let (proxy, _rx) = proxy_to(&format!("ws://127.0.0.1:{port}/"), true);
    let mut s = std::net::TcpStream::connect(proxy.local_addr()).unwrap_or_else(|e| panic!("{e}"));
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Extensions: x-foo, permessage-deflate\r\n\r\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(answer.contains("the extension x-foo"), "{answer}");
    drop(proxy);
    let _ = server.join();
}
