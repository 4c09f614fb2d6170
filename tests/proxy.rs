//! The inspecting proxy over real sockets: a raw client and tungstenite in front, tungstenite
//! and hand-written servers behind; both legs captured, frames relayed as they came (re-masked
//! toward the server), closes and drops carried over, a 502 when the upstream cannot be used.

mod common;
use common::tungstenite_echo;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wsscope::client::{Trust, WsUrl};
use wsscope::event::{ClosedBy, Direction, Endpoint, ErrorKind, Event, EventKind, HttpOutcome};
use wsscope::protocol::{encode_frame, FrameHeader, OpCode};
use wsscope::proxy::{self, ProxyConfig, ProxyHandle};

fn server<F: Fn(TcpStream) + Send + 'static>(serve: F) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let t = std::thread::spawn(move || {
        if let Some(Ok(s)) = listener.incoming().next() {
            serve(s);
        }
    });
    (addr, t)
}

fn start(upstream: &str, trust: Trust) -> (ProxyHandle, crossbeam_channel::Receiver<Vec<Event>>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let ctx = common::peer_context(tx);
    let mut config = ProxyConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        WsUrl::parse(upstream).expect("url"),
    );
    config.trust = trust;
    config.close_timeout = Duration::from_secs(2);
    (proxy::start(config, ctx).expect("proxy"), rx)
}

/// Events until both legs (or the one leg) of the first proxied connection are closed.
fn until_closed(rx: &crossbeam_channel::Receiver<Vec<Event>>, legs: usize) -> Vec<Event> {
    let end = Instant::now() + Duration::from_secs(15);
    let mut out = Vec::new();
    while out
        .iter()
        .filter(|e: &&Event| matches!(e.kind, EventKind::Closed { .. }))
        .count()
        < legs
    {
        match rx.recv_deadline(end) {
            Ok(b) => out.extend(b),
            Err(_) => panic!("legs never closed: {out:#?}"),
        }
    }
    out
}

fn leg(events: &[Event], endpoint: Endpoint) -> u64 {
    events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Opened { endpoint: ep, .. } if ep == endpoint => Some(e.conn),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {endpoint:?} leg"))
}

/// A frame as seen: FIN, opcode, unmasked payload, masking key.
type Seen = (bool, OpCode, Vec<u8>, Option<[u8; 4]>);

fn frames(events: &[Event], conn: u64, dir: Direction) -> Vec<Seen> {
    events
        .iter()
        .filter(|e| e.conn == conn)
        .filter_map(|e| match &e.kind {
            EventKind::Frame { direction, frame } if *direction == dir => Some((
                frame.header.fin,
                frame.header.opcode,
                frame.payload.to_vec(),
                frame.header.mask_key,
            )),
            _ => None,
        })
        .collect()
}

fn closed(events: &[Event], conn: u64) -> Option<(Option<u16>, ClosedBy, bool)> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Closed {
            code, by, clean, ..
        } if e.conn == conn => Some((code.map(u16::from), *by, *clean)),
        _ => None,
    })
}

/// A raw client: the upgrade request, then the head of the answer.
fn raw_client(addr: SocketAddr, extra: &str) -> (TcpStream, String) {
    raw_client_host(addr, &addr.to_string(), extra)
}

/// [`raw_client`] with the Host field given.
fn raw_client_host(addr: SocketAddr, host: &str, extra: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let req = format!(
        "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    s.write_all(req.as_bytes()).expect("request");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    (s, String::from_utf8_lossy(&head).into_owned())
}

fn masked(opcode: OpCode, fin: bool, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut h = FrameHeader::new(opcode, payload.len() as u64, Some(key));
    h.fin = fin;
    let mut v = Vec::new();
    encode_frame(h, payload, &mut v);
    v
}

/// Reads one unmasked server frame (short lengths only): opcode and payload.
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).expect("frame header");
    let len = usize::from(h[1] & 0x7f);
    assert!(
        len < 126 && h[1] & 0x80 == 0,
        "short unmasked frames only: {h:?}"
    );
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).expect("payload");
    (h[0] & 0x0f, p)
}

/// A fragmented text with a ping between its fragments, relayed as it came: the same FIN,
/// opcodes and payloads on both legs, re-masked with wsscope's own keys toward the server; the
/// server's pong and echo come back unmasked; the close is relayed both ways and both legs end
/// clean. The subprotocol the upstream chose is the one the client gets.
#[test]
fn frames_are_relayed_as_they_came() {
    let (up, t) = server(tungstenite_echo);
    let (mut p, rx) = start(&format!("ws://{up}/"), Trust::System);
    let (mut s, head) = raw_client(
        p.local_addr(),
        "Sec-WebSocket-Protocol: chat, superchat\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{head}"
    );
    assert!(head.contains("Sec-WebSocket-Protocol: chat"), "{head}");
    let key = [1, 2, 3, 4];
    let mut out = masked(OpCode::Text, false, b"hel", key);
    out.extend(masked(OpCode::Ping, true, b"p", key));
    out.extend(masked(OpCode::Continuation, true, b"lo", key));
    s.write_all(&out).expect("frames");
    assert_eq!(
        read_frame(&mut s),
        (0xA, b"p".to_vec()),
        "the upstream's pong"
    );
    assert_eq!(read_frame(&mut s), (0x1, b"hello".to_vec()), "the echo");
    s.write_all(&masked(OpCode::Close, true, &[0x03, 0xe8], key))
        .expect("close");
    assert_eq!(
        read_frame(&mut s),
        (0x8, vec![0x03, 0xe8]),
        "the upstream's close, relayed"
    );
    let events = until_closed(&rx, 2);
    t.join().expect("upstream");
    p.stop();
    let (a, b) = (
        leg(&events, Endpoint::ProxyToClient),
        leg(&events, Endpoint::ProxyToServer),
    );
    let relay = |c| {
        events.iter().find_map(|e| match e.kind {
            EventKind::Relay { peer } if e.conn == c => Some(peer),
            _ => None,
        })
    };
    assert_eq!((relay(a), relay(b)), (Some(b), Some(a)));
    let from_client = frames(&events, a, Direction::ClientToServer);
    let to_upstream = frames(&events, b, Direction::ClientToServer);
    let shape = |f: &[Seen]| {
        f.iter()
            .map(|(fin, op, p, _)| (*fin, *op, p.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&from_client), shape(&to_upstream));
    assert_eq!(from_client.len(), 4);
    assert!(from_client.iter().all(|f| f.3 == Some(key)));
    assert!(
        to_upstream
            .iter()
            .all(|f| f.3.is_some() && f.3 != Some(key)),
        "re-masked with our keys"
    );
    let back = frames(&events, a, Direction::ServerToClient);
    assert!(back.iter().all(|f| f.3.is_none()), "a server never masks");
    assert_eq!(
        shape(&back),
        shape(&frames(&events, b, Direction::ServerToClient))
    );
    assert_eq!(
        closed(&events, a),
        Some((Some(1000), ClosedBy::Client, true))
    );
    assert_eq!(
        closed(&events, b),
        Some((Some(1000), ClosedBy::Client, true))
    );
}

/// Nothing listens upstream: the client gets 502 naming why, and both legs are in the capture.
#[test]
fn an_unreachable_upstream_gets_the_client_a_502() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let (mut p, rx) = start(&format!("ws://127.0.0.1:{port}/"), Trust::System);
    let (mut s, head) = raw_client(p.local_addr(), "");
    assert!(head.starts_with("HTTP/1.1 502"), "{head}");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    assert!(body.contains("connection refused"), "{body}");
    let events = until_closed(&rx, 1);
    p.stop();
    assert!(events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::Error(ErrorKind::Connect { .. }))));
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::Http {
            status: 502,
            outcome: HttpOutcome::BadGateway(_),
            ..
        }
    )));
}

/// The upstream refuses the upgrade: 502 with its status; its answer is captured on its leg.
#[test]
fn a_refusing_upstream_gets_the_client_a_502() {
    let (up, t) = server(|mut s| {
        let mut b = [0u8; 4096];
        let _ = s.read(&mut b);
        let _ = s.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno");
    });
    let (mut p, rx) = start(&format!("ws://{up}/"), Trust::System);
    let (mut s, head) = raw_client(p.local_addr(), "");
    assert!(head.starts_with("HTTP/1.1 502"), "{head}");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    assert!(body.contains("403"), "{body}");
    let events = until_closed(&rx, 2);
    t.join().expect("upstream");
    p.stop();
    let b = leg(&events, Endpoint::ProxyToServer);
    assert!(events
        .iter()
        .any(|e| e.conn == b && matches!(&e.kind, EventKind::Http { status: 403, .. })));
}

/// The upstream drops TCP in the middle of a message: what came is captured on its leg, and the
/// client is closed with 1001 (going away).
#[test]
fn an_upstream_drop_closes_the_client_with_1001() {
    let (up, t) = server(|mut s| {
        let mut b = [0u8; 4096];
        let n = s.read(&mut b).unwrap_or(0);
        let head = String::from_utf8_lossy(&b[..n]).into_owned();
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap_or("")
            .trim()
            .to_string();
        let accept = wsscope::protocol::AcceptDerivation::new(&key).accept;
        let _ = s.write_all(format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").as_bytes());
        // The first fragment of a text, then gone.
        let _ = s.write_all(&[0x01, 3, b'a', b'b', b'c']);
        std::thread::sleep(Duration::from_millis(100));
    });
    let (mut p, rx) = start(&format!("ws://{up}/"), Trust::System);
    let (mut s, head) = raw_client(p.local_addr(), "");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(
        read_frame(&mut s),
        (0x1, b"abc".to_vec()),
        "the fragment, relayed"
    );
    let (op, body) = read_frame(&mut s);
    assert_eq!(
        (op, body.get(..2)),
        (0x8, Some(&[0x03, 0xe9][..])),
        "close 1001"
    );
    s.write_all(&masked(OpCode::Close, true, &[0x03, 0xe9], [9, 9, 9, 9]))
        .expect("close back");
    let events = until_closed(&rx, 2);
    t.join().expect("upstream");
    p.stop();
    let (a, b) = (
        leg(&events, Endpoint::ProxyToClient),
        leg(&events, Endpoint::ProxyToServer),
    );
    assert_eq!(
        closed(&events, b),
        Some((Some(1006), ClosedBy::Server, false))
    );
    assert_eq!(
        closed(&events, a),
        Some((Some(1001), ClosedBy::Server, true))
    );
}

/// A frame that breaks a rule (unmasked, from a client: §5.1) is not relayed: the client is
/// failed with 1002 and the upstream closed with the same code.
#[test]
fn a_violation_fails_the_leg_and_closes_the_other_with_its_code() {
    let (up, t) = server(tungstenite_echo);
    let (mut p, rx) = start(&format!("ws://{up}/"), Trust::System);
    let (mut s, head) = raw_client(p.local_addr(), "");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut unmasked = Vec::new();
    encode_frame(
        FrameHeader::new(OpCode::Text, 2, None),
        b"hi",
        &mut unmasked,
    );
    s.write_all(&unmasked).expect("frame");
    let (op, body) = read_frame(&mut s);
    assert_eq!(
        (op, body.get(..2)),
        (0x8, Some(&[0x03, 0xea][..])),
        "close 1002"
    );
    let events = until_closed(&rx, 2);
    t.join().expect("upstream");
    p.stop();
    let b = leg(&events, Endpoint::ProxyToServer);
    let sent_up = frames(&events, b, Direction::ClientToServer);
    assert_eq!(
        sent_up.len(),
        1,
        "only the close went upstream: {sent_up:?}"
    );
    assert_eq!(sent_up[0].1, OpCode::Close);
    assert_eq!(sent_up[0].2.get(..2), Some(&[0x03, 0xea][..]));
}

/// tungstenite as the client in front of a wss:// upstream (rcgen certificate, --ca-file).
#[test]
fn tungstenite_through_the_proxy_to_a_wss_upstream() {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let pem = std::env::temp_dir().join(format!("wsscope-proxy-{}.pem", std::process::id()));
    std::fs::write(&pem, ck.cert.pem()).expect("pem");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        ck.signing_key.serialize_der(),
    ));
    let tls = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .expect("config"),
    );
    let (up, t) = server(move |s| {
        if let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&tls)) {
            tungstenite_echo(rustls::StreamOwned::new(conn, s));
        }
    });
    let (mut p, rx) = start(
        &format!("wss://localhost:{}/", up.port()),
        Trust::CaFile(pem.clone()),
    );
    let (mut ws, _) = tungstenite::connect(format!("ws://{}/x", p.local_addr()))
        .expect("connect through the proxy");
    ws.send(tungstenite::Message::text("through TLS"))
        .expect("send");
    let echo = ws.read().expect("echo");
    assert_eq!(echo.into_text().expect("text").as_str(), "through TLS");
    ws.close(None).expect("close");
    while ws.read().is_ok() {}
    let events = until_closed(&rx, 2);
    t.join().expect("upstream");
    p.stop();
    let _ = std::fs::remove_file(&pem);
    let b = leg(&events, Endpoint::ProxyToServer);
    assert!(events
        .iter()
        .any(|e| e.conn == b && matches!(e.kind, EventKind::Tls(_))));
    assert!(events.iter().any(|e| e.conn == b
        && matches!(&e.kind, EventKind::Handshake(h) if h.request.path == "/x" && h.client_failure().is_none())));
}

/// The user injects frames on either leg (the window's composer): a text to the client, and a
/// text to the upstream, whose echo comes back through the relay; a control frame too long is
/// refused with the reason.
#[test]
fn frames_injected_on_either_leg() {
    use wsscope::event::{Command, SendRefusal};
    let (up, t) = server(tungstenite_echo);
    let (mut p, rx) = start(&format!("ws://{up}/"), Trust::System);
    let (mut s, head) = raw_client(p.local_addr(), "");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // Both legs are registered once the relay runs.
    let end = Instant::now() + Duration::from_secs(10);
    let mut events = Vec::new();
    while !events
        .iter()
        .any(|e: &Event| matches!(e.kind, EventKind::Relay { .. }) && e.conn == 1)
    {
        events.extend(rx.recv_deadline(end).expect("relay event"));
    }
    let (a, b) = (1, 2);
    assert!(p.command(Command::Text(a, "to the client".into())));
    assert_eq!(read_frame(&mut s), (0x1, b"to the client".to_vec()));
    assert!(p.command(Command::Text(b, "to the upstream".into())));
    assert_eq!(
        read_frame(&mut s),
        (0x1, b"to the upstream".to_vec()),
        "its echo, relayed"
    );
    assert!(p.command(Command::Ping(a, vec![0; 126])));
    s.write_all(&masked(OpCode::Close, true, &[0x03, 0xe8], [5, 6, 7, 8]))
        .expect("close");
    assert_eq!(read_frame(&mut s).0, 0x8);
    events.extend(until_closed(&rx, 2));
    t.join().expect("upstream");
    p.stop();
    let sent_up = frames(&events, b, Direction::ClientToServer);
    assert_eq!(sent_up[0].1, OpCode::Text);
    assert!(sent_up[0].3.is_some(), "masked toward the server");
    assert!(events.iter().any(|e| e.conn == a
        && matches!(
            e.kind,
            EventKind::Error(ErrorKind::NotSent(SendRefusal::ControlTooLong(126)))
        )));
    assert!(
        !p.command(Command::Text(a, "gone".into())),
        "the legs are closed"
    );
}

/// A proxy on loopback refuses a Host that is not a loopback name (DNS rebinding) with 403,
/// before anything is asked of the upstream.
#[test]
fn a_foreign_host_is_refused_before_the_upstream_is_asked() {
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind");
    let up = upstream.local_addr().expect("addr");
    let (mut p, rx) = start(&format!("ws://{up}/"), Trust::System);
    let (_s, head) = raw_client_host(p.local_addr(), "evil.example", "");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let events = until_closed(&rx, 1);
    p.stop();
    assert!(!events.iter().any(|e| matches!(
        e.kind,
        EventKind::Opened {
            endpoint: Endpoint::ProxyToServer,
            ..
        }
    )));
    upstream.set_nonblocking(true).expect("nonblocking");
    assert!(upstream.accept().is_err(), "the upstream was never called");
}
