//! wsscope's client (`wsscope connect`) against independent servers over real sockets:
//! tungstenite, python `websockets`, a TLS server with a certificate made here (rcgen), and
//! hand-written servers that break §4.1 or drop the connection.

mod common;
use common::tungstenite_echo;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command as Process;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wsscope::client::{self, ClientConfig, ClientHandle, Trust, WsUrl};
use wsscope::event::{
    ClosedBy, Command, Direction, ErrorKind, Event, EventKind, HttpOutcome, IoKind, TlsTrust,
};
use wsscope::protocol::handshake::ResponseCheckId;
use wsscope::protocol::AcceptDerivation;

/// Serves `n` connections on a free loopback port with `serve`.
fn server<F>(n: usize, serve: F) -> (SocketAddr, JoinHandle<()>)
where
    F: Fn(TcpStream) + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let t = std::thread::spawn(move || {
        for s in listener.incoming().take(n).flatten() {
            serve(s);
        }
    });
    (addr, t)
}

/// Starts the client; returns its handle and the receiver of its events.
fn start(config: ClientConfig) -> (ClientHandle, crossbeam_channel::Receiver<Vec<Event>>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let ctx = common::peer_context(tx);
    (client::connect(config, ctx).expect("client thread"), rx)
}

/// Events until the client's thread ends (at most 20 s).
fn rest(rx: &crossbeam_channel::Receiver<Vec<Event>>, out: &mut Vec<Event>) {
    let end = Instant::now() + Duration::from_secs(20);
    while let Ok(b) = rx.recv_deadline(end) {
        out.extend(b);
    }
}

/// Events until `until` holds for one of them (at most 10 s).
fn until(
    rx: &crossbeam_channel::Receiver<Vec<Event>>,
    out: &mut Vec<Event>,
    until: impl Fn(&Event) -> bool,
) {
    let end = Instant::now() + Duration::from_secs(10);
    while !out.iter().any(&until) {
        match rx.recv_deadline(end) {
            Ok(b) => out.extend(b),
            Err(_) => panic!("gave up waiting; events: {out:#?}"),
        }
    }
}

fn config(url: &str) -> ClientConfig {
    ClientConfig::new(WsUrl::parse(url).expect("url"))
}

fn accepted(e: &Event) -> bool {
    matches!(&e.kind, EventKind::Handshake(h) if h.accepted())
}

/// Received messages' payloads, as text.
fn received(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Message {
                direction: Direction::ServerToClient,
                message,
            } => Some(String::from_utf8_lossy(&message.payload).into_owned()),
            _ => None,
        })
        .collect()
}

fn closed(events: &[Event]) -> Option<(Option<u16>, ClosedBy, bool)> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Closed {
            code, by, clean, ..
        } => Some((code.map(u16::from), *by, *clean)),
        _ => None,
    })
}

/// Sends, then closes, against a tungstenite server: the subprotocol is agreed, every frame we
/// sent is masked with a key of its own, the echo comes back, the close is clean, and the
/// handshake passes every §4.1 rule with the accept derived from the key we sent.
#[test]
fn a_session_with_tungstenite() {
    let (addr, t) = server(1, tungstenite_echo);
    let mut c = config(&format!("ws://{addr}/chat"));
    c.protocols = vec!["chat".into(), "superchat".into()];
    let (handle, rx) = start(c);
    let mut events = Vec::new();
    until(&rx, &mut events, accepted);
    let id = handle.id();
    handle.command(Command::Text(id, "hello 你好".into()));
    handle.command(Command::Binary(id, vec![1, 2, 3]));
    handle.command(Command::Ping(id, b"p".to_vec()));
    until(
        &rx,
        &mut events,
        |e| matches!(&e.kind, EventKind::Message { direction: Direction::ServerToClient, message } if message.payload.as_ref() == [1, 2, 3]),
    );
    handle.command(Command::Close(id, 1000, "bye".into()));
    rest(&rx, &mut events);
    handle.join();
    t.join().expect("server");

    let hs = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Handshake(h) => Some(h),
            _ => None,
        })
        .expect("handshake");
    assert_eq!(hs.response.subprotocol.as_deref(), Some("chat"));
    assert_eq!(hs.response.client_checks.len(), ResponseCheckId::ALL.len());
    assert!(hs.client_failure().is_none());
    let key = hs.request.single("Sec-WebSocket-Key").expect("key");
    let sent_accept = hs
        .response
        .accept_check
        .as_ref()
        .and_then(|a| a.sent.clone());
    assert_eq!(sent_accept, Some(AcceptDerivation::new(&key).accept));
    assert_eq!(received(&events), ["hello 你好", "\u{1}\u{2}\u{3}"]);
    let keys: Vec<[u8; 4]> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Frame {
                direction: Direction::ClientToServer,
                frame,
            } => Some(
                frame
                    .header
                    .mask_key
                    .expect("a client masks every frame (§5.3)"),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 4, "text, binary, ping, close");
    let mut distinct = keys.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        keys.len(),
        "a fresh key per frame: {keys:?}"
    );
    // The pong to our ping came back; the close was ours and clean.
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::Frame { direction: Direction::ServerToClient, frame } if frame.header.opcode == wsscope::protocol::OpCode::Pong)));
    assert_eq!(closed(&events), Some((Some(1000), ClosedBy::Client, true)));
    assert!(events.iter().all(|e| e.conn == id));
}

/// A 101 whose accept is not the key's derivation: the client refuses it (§4.1 item 4), says
/// which rule, sends no frame, and closes TCP.
#[test]
fn a_wrong_accept_is_refused_and_named() {
    let (addr, t) = server(1, |mut s| {
        let mut buf = [0u8; 4096];
        let mut head = Vec::new();
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        );
        // Whatever the client does next: it must close, not send frames.
        let mut after = Vec::new();
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.read_to_end(&mut after);
        assert!(after.is_empty(), "the client sent {after:?} after refusing");
    });
    let (handle, rx) = start(config(&format!("ws://{addr}/")));
    let mut events = Vec::new();
    rest(&rx, &mut events);
    handle.join();
    t.join().expect("server saw no frame");
    let hs = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Handshake(h) => Some(h),
            _ => None,
        })
        .expect("handshake");
    let failure = hs.client_failure().expect("a §4.1 failure");
    assert_eq!(failure.id, ResponseCheckId::Accept);
    assert!(!events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Frame { .. })));
    assert_eq!(closed(&events), Some((None, ClosedBy::Client, false)));
    let line = wsscope::cli::trace::trace_line(
        events
            .iter()
            .find(|e| matches!(e.kind, EventKind::Handshake(_)))
            .expect("hs"),
        wsscope::cli::trace::TraceLevel::Summary,
        wsscope::i18n::Lang::En,
    )
    .unwrap_or_default();
    assert!(line.contains("§4.1 item 4"), "{line}");
}

/// A server that answers 403 with a body: the status, the answer and its body are captured;
/// no WebSocket starts.
#[test]
fn a_refusal_keeps_its_status_and_body() {
    let (addr, t) = server(1, |mut s| {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let _ = s.write_all(
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n\r\norigin not allowed!\r\n",
        );
    });
    let (handle, rx) = start(config(&format!("ws://{addr}/x")));
    let mut events = Vec::new();
    rest(&rx, &mut events);
    handle.join();
    t.join().expect("server");
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::Http {
            status: 403,
            outcome: HttpOutcome::ServerAnswer,
            ..
        }
    )));
    let answer: Vec<u8> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Tcp {
                direction: Direction::ServerToClient,
                bytes,
            } => Some(bytes.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(String::from_utf8_lossy(&answer).ends_with("origin not allowed!\r\n"));
    assert!(closed(&events).is_some());
}

/// Nothing listens: one error on connection 0 says so, by name.
#[test]
fn a_refused_connection_is_said_so() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let (handle, rx) = start(config(&format!("ws://127.0.0.1:{port}/")));
    let mut events = Vec::new();
    rest(&rx, &mut events);
    handle.join();
    assert!(
        events.iter().any(|e| e.conn == 0
            && matches!(&e.kind, EventKind::Error(ErrorKind::Connect { failure, .. }) if failure.kind == IoKind::ConnectionRefused)),
        "{events:#?}"
    );
}

/// The server drops TCP in the middle of a frame: what arrived is captured, the connection ends
/// as 1006 started by the server.
#[test]
fn a_drop_mid_message_keeps_what_came() {
    let (addr, t) = server(1, |mut s| {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        let head = String::from_utf8_lossy(&buf[..n]).into_owned();
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap_or("")
            .trim()
            .to_string();
        let accept = AcceptDerivation::new(&key).accept;
        let _ = s.write_all(format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").as_bytes());
        // A text frame announcing 10 bytes, 4 of them sent.
        let _ = s.write_all(&[0x81, 10, b'h', b'a', b'l', b'f']);
        std::thread::sleep(Duration::from_millis(100));
    });
    let (handle, rx) = start(config(&format!("ws://{addr}/")));
    let mut events = Vec::new();
    rest(&rx, &mut events);
    handle.join();
    t.join().expect("server");
    assert!(events.iter().any(accepted));
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::Tcp { direction: Direction::ServerToClient, bytes } if bytes.ends_with(b"half"))));
    assert_eq!(closed(&events), Some((Some(1006), ClosedBy::Server, false)));
}

/// A server that never answers our close: TCP is cut after the close timeout.
#[test]
fn an_unanswered_close_ends_after_the_timeout() {
    let (addr, t) = server(1, |mut s| {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        let head = String::from_utf8_lossy(&buf[..n]).into_owned();
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap_or("")
            .trim()
            .to_string();
        let accept = AcceptDerivation::new(&key).accept;
        let _ = s.write_all(format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").as_bytes());
        // Read everything, answer nothing, until the client goes.
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    let mut c = config(&format!("ws://{addr}/"));
    c.close_timeout = Duration::from_millis(300);
    let (handle, rx) = start(c);
    let mut events = Vec::new();
    until(&rx, &mut events, accepted);
    let asked = Instant::now();
    handle.command(Command::Close(handle.id(), 1000, String::new()));
    rest(&rx, &mut events);
    let took = asked.elapsed();
    handle.join();
    t.join().expect("server");
    assert_eq!(closed(&events), Some((Some(1000), ClosedBy::Client, false)));
    assert!(took < Duration::from_secs(8), "closed after {took:?}");
}

/// A certificate for `localhost` and 127.0.0.1, its PEM in a file, and a rustls server config.
/// `as_ca`: marked as a CA, as `openssl req -x509` makes it by default.
fn tls_server_config_with(as_ca: bool) -> (Arc<rustls::ServerConfig>, tempfile_path::Path) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("params");
    if as_ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let key_pair = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key_pair).expect("certificate");
    let path = tempfile_path::Path::new(if as_ca { "ca-self.pem" } else { "ca.pem" });
    std::fs::write(&path.0, cert.pem()).expect("write pem");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        key_pair.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key)
    .expect("server config");
    (Arc::new(config), path)
}

fn tls_server_config() -> (Arc<rustls::ServerConfig>, tempfile_path::Path) {
    tls_server_config_with(false)
}

/// A self-signed certificate marked as a CA (what `openssl req -x509` makes) is refused as a
/// server's own by the usual check; named in --ca-file, that exact certificate is trusted.
#[test]
fn wss_trusts_the_exact_self_signed_ca_certificate_named() {
    let (tls, pem) = tls_server_config_with(true);
    let (addr, t) = server(1, tls_echo(tls));
    let mut c = config(&format!("wss://localhost:{}/", addr.port()));
    c.trust = Trust::CaFile(pem.0.clone());
    let (handle, rx) = start(c);
    let mut events = Vec::new();
    until(&rx, &mut events, accepted);
    handle.command(Command::Close(handle.id(), 1000, String::new()));
    rest(&rx, &mut events);
    handle.join();
    t.join().expect("server");
    assert!(events.iter().any(|e| matches!(e.kind, EventKind::Tls(_))));
    assert_eq!(closed(&events).map(|c| c.2), Some(true));
}

/// A file path in the temp directory, removed when dropped.
mod tempfile_path {
    pub struct Path(pub std::path::PathBuf);
    impl Path {
        pub fn new(name: &str) -> Self {
            let n = std::sync::atomic::AtomicU64::new(0);
            let _ = n;
            Self(std::env::temp_dir().join(format!(
                "wsscope-client-{}-{:?}-{name}",
                std::process::id(),
                std::thread::current().id()
            )))
        }
    }
    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn tls_echo(config: Arc<rustls::ServerConfig>) -> impl Fn(TcpStream) {
    move |s| {
        let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&config)) else {
            return;
        };
        tungstenite_echo(rustls::StreamOwned::new(conn, s));
    }
}

/// wss:// to a local TLS server whose certificate is trusted by --ca-file: the TLS session is
/// an event of its own, and the frames inside it are decoded like ws://.
#[test]
fn wss_with_a_ca_file() {
    let (tls, pem) = tls_server_config();
    let (addr, t) = server(1, tls_echo(tls));
    let mut c = config(&format!("wss://localhost:{}/", addr.port()));
    c.trust = Trust::CaFile(pem.0.clone());
    let (handle, rx) = start(c);
    let mut events = Vec::new();
    until(&rx, &mut events, accepted);
    handle.command(Command::Text(handle.id(), "secret".into()));
    until(&rx, &mut events, |e| {
        matches!(
            &e.kind,
            EventKind::Message {
                direction: Direction::ServerToClient,
                ..
            }
        )
    });
    handle.command(Command::Close(handle.id(), 1000, String::new()));
    rest(&rx, &mut events);
    handle.join();
    t.join().expect("server");
    let tls_at = events
        .iter()
        .position(|e| matches!(&e.kind, EventKind::Tls(i) if i.server_name == "localhost" && i.trust == TlsTrust::CaFile(pem.0.display().to_string()) && i.certificates == 1))
        .expect("a TLS event");
    let first_tcp = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::Tcp { .. }))
        .expect("tcp");
    assert!(
        tls_at < first_tcp,
        "the TLS session comes before the bytes inside it"
    );
    // The request went inside TLS as plain HTTP: the captured bytes are the decrypted ones.
    assert!(
        matches!(&events[first_tcp].kind, EventKind::Tcp { bytes, .. } if bytes.starts_with(b"GET / HTTP/1.1\r\n"))
    );
    assert_eq!(received(&events), ["secret"]);
    assert_eq!(closed(&events).map(|c| c.2), Some(true));
}

/// wss:// to the same server without its CA: the certificate is refused, and the error says
/// why in rustls's words; with --insecure it is taken.
#[test]
fn wss_refuses_an_unknown_issuer_unless_insecure() {
    let (tls, _pem) = tls_server_config();
    let (addr, t) = server(2, tls_echo(tls));
    let url = format!("wss://127.0.0.1:{}/", addr.port());
    let (handle, rx) = start(config(&url));
    let mut events = Vec::new();
    rest(&rx, &mut events);
    handle.join();
    assert!(
        events.iter().any(|e| matches!(&e.kind, EventKind::Error(ErrorKind::Tls(why)) if why.contains("UnknownIssuer") || why.contains("unknown issuer"))),
        "{events:#?}"
    );
    assert!(!events.iter().any(accepted));

    let mut c = config(&url);
    c.trust = Trust::Insecure;
    let (handle, rx) = start(c);
    let mut events = Vec::new();
    until(&rx, &mut events, accepted);
    handle.command(Command::Close(handle.id(), 1000, String::new()));
    rest(&rx, &mut events);
    handle.join();
    t.join().expect("server");
    assert!(events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::Tls(i) if i.trust == TlsTrust::Insecure)));
}

/// URLs: default ports, IPv6 literals, query strings; other schemes and fragments refused.
#[test]
fn urls() {
    let u = WsUrl::parse("ws://example.com/chat?x=1").expect("url");
    assert_eq!(
        (u.port, u.resource.as_str(), u.host_header().as_str()),
        (80, "/chat?x=1", "example.com")
    );
    let u = WsUrl::parse("wss://example.com").expect("url");
    assert_eq!((u.secure, u.port, u.resource.as_str()), (true, 443, "/"));
    let u = WsUrl::parse("ws://[::1]:8765/").expect("url");
    assert_eq!(
        (u.host.as_str(), u.host_header().as_str()),
        ("[::1]", "[::1]:8765")
    );
    assert!(WsUrl::parse("http://example.com/").is_err());
    assert!(WsUrl::parse("ws://example.com/#frag").is_err());
    assert!(WsUrl::parse("not a url").is_err());
}

/// IPv6 loopback, where the machine has it.
#[test]
fn ipv6_literal() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("note: no IPv6 loopback here; skipped");
        return;
    };
    let port = listener.local_addr().expect("addr").port();
    let t = std::thread::spawn(move || {
        if let Some(Ok(s)) = listener.incoming().next() {
            tungstenite_echo(s);
        }
    });
    let (handle, rx) = start(config(&format!("ws://[::1]:{port}/")));
    let mut events = Vec::new();
    until(&rx, &mut events, accepted);
    handle.command(Command::Close(handle.id(), 1000, String::new()));
    rest(&rx, &mut events);
    handle.join();
    t.join().expect("server");
    let hs = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Handshake(h) => Some(h),
            _ => None,
        })
        .expect("handshake");
    assert_eq!(
        hs.request.single("Host").as_deref(),
        Some(format!("[::1]:{port}").as_str())
    );
}

fn python() -> Option<String> {
    let py = std::env::var("WSSCOPE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Process::new(&py)
        .args(["-c", "import websockets.sync.server"])
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

/// The issue's own example: `wsscope connect ... --protocol chat --send 'hello 你好'` against a
/// python `websockets` echo server that agrees to `chat`.
#[test]
fn the_cli_against_python_websockets() {
    let Some(py) = python() else { return };
    let script = r#"
import sys
from websockets.sync.server import serve
def echo(ws):
    for m in ws:
        ws.send(m)
with serve(echo, "127.0.0.1", 0, subprotocols=["chat"]) as server:
    print(server.socket.getsockname()[1], flush=True)
    server.serve_forever()
"#;
    let mut child = Process::new(&py)
        .args(["-c", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    let mut port = String::new();
    {
        use std::io::BufRead as _;
        let out = child.stdout.take().expect("stdout");
        let _ = std::io::BufReader::new(out).read_line(&mut port);
    }
    let port = port.trim().to_string();
    let out = Process::new(env!("CARGO_BIN_EXE_wsscope"))
        .args([
            "connect",
            &format!("ws://127.0.0.1:{port}/chat"),
            "--protocol",
            "chat",
            "--send",
            "hello 你好",
            "--trace",
            "full",
            "--lang",
            "en",
        ])
        .output()
        .expect("wsscope connect");
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("(subprotocol chat)"), "{stdout}");
    assert!(stdout.contains("the server's accept matches"), "{stdout}");
    assert!(stdout.contains("[PASS] §4.1 item 4"), "{stdout}");
    // Both ends compress by default (permessage-deflate; tests/deflate.rs has the details).
    assert!(
        stdout.contains("S->C message text 12 bytes in 1 frame(s) (compressed "),
        "{stdout}"
    );
    assert!(stdout.contains(" -> 12 bytes) \"hello 你好\""), "{stdout}");
    assert!(stdout.contains("C->S TCP write"), "{stdout}");
    assert!(stdout.contains("clean"), "{stdout}");
}

/// The CLI's errors: a bad URL (exit 2), nothing listening (exit 1), each said in words.
#[test]
fn the_cli_says_what_is_wrong() {
    let run = |args: &[&str]| {
        let out = Process::new(env!("CARGO_BIN_EXE_wsscope"))
            .args(args)
            .output()
            .expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, text) = run(&["connect", "http://127.0.0.1/", "--lang", "en"]);
    assert_eq!(code, Some(2));
    assert!(text.contains("ws:// or wss://"), "{text}");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let (code, text) = run(&[
        "connect",
        &format!("ws://127.0.0.1:{port}/"),
        "--lang",
        "en",
    ]);
    assert_eq!(code, Some(1));
    assert!(text.contains("connection refused"), "{text}");
    let (code, text) = run(&["connect", "ws://127.0.0.1:1/", "--header", "no colon"]);
    assert_eq!(code, Some(2));
    assert!(text.contains("--header"), "{text}");
}

/// Interactive mode, as websocat and wscat: each stdin line a text, `/ping`, `/hex`, `/close`;
/// the echo, the pong and the close are in the trace, and the end of input ends the session.
#[test]
fn the_cli_interactive_from_stdin() {
    let (addr, t) = server(1, tungstenite_echo);
    let mut child = Process::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["connect", &format!("ws://{addr}/"), "--lang", "en"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wsscope connect");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"hello there\n/ping yo\n/hex 01 02\n/nope\n/close 1000 bye\n")
            .expect("write");
        // Dropped: the end of input.
    }
    let out = child.wait_with_output().expect("wait");
    t.join().expect("server");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("S->C message text 11 bytes in 1 frame(s) \"hello there\""),
        "{stdout}"
    );
    assert!(stdout.contains("S->C frame pong"), "{stdout}");
    assert!(
        stdout.contains("S->C message binary 2 bytes in 1 frame(s) 01 02"),
        "{stdout}"
    );
    assert!(stdout.contains("closed by client: 1000"), "{stdout}");
    assert!(stderr.contains("unknown command /nope"), "{stderr}");
}
