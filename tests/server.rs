//! The server engine over real sockets on port 0: tungstenite as an independent client, raw
//! `TcpStream` bytes for every violation class and limit, and the captured events.

mod common;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use tungstenite::client::IntoClientRequest as _;
use tungstenite::Message as M;
use wsscope::event::{
    ClosedBy, Command, Direction, ErrorKind, Event, EventKind, LimitKind, ReplyMode,
};
use wsscope::i18n::{listening_warning, Lang};
use wsscope::protocol::{
    close_payload_bytes, encode_frame, CloseCode, FrameHeader, Limits, OpCode,
};
use wsscope::server::{self, ServerConfig, ServerHandle};

const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];
const WAIT: Duration = Duration::from_secs(10);

struct Server {
    handle: Option<ServerHandle>,
    addr: SocketAddr,
    rx: Receiver<Vec<Event>>,
    seen: Vec<Event>,
}

impl Server {
    fn start(config: ServerConfig) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(config.channel_capacity);
        let handle = server::start(ServerConfig { port: 0, ..config }, tx, Arc::new(|| {}))
            .unwrap_or_else(|e| panic!("cannot start: {e}"));
        let addr = handle.local_addr();
        Self {
            handle: Some(handle),
            addr,
            rx,
            seen: Vec::new(),
        }
    }

    fn echo() -> Self {
        Self::start(ServerConfig::default())
    }

    /// Collects events until `pred` holds for one of them; returns it.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + WAIT;
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        while Instant::now() < deadline {
            if let Ok(batch) = self.rx.recv_timeout(Duration::from_millis(50)) {
                // The whole batch is kept: events after the hit are looked at by later waits.
                let hit = batch.iter().find(|e| pred(e)).cloned();
                self.seen.extend(batch);
                if let Some(e) = hit {
                    return e;
                }
            }
        }
        panic!(
            "no event {what} within {WAIT:?}; saw {:#?}",
            self.seen.iter().map(|e| &e.kind).collect::<Vec<_>>()
        );
    }

    fn closed(&mut self, conn: u64) -> (Option<CloseCode>, ClosedBy, bool) {
        let e = self.wait_for("closed", |e| {
            e.conn == conn && matches!(e.kind, EventKind::Closed { .. })
        });
        match e.kind {
            EventKind::Closed {
                code, by, clean, ..
            } => (code, by, clean),
            _ => unreachable!(),
        }
    }

    fn cmd(&self, c: Command) {
        if let Some(h) = &self.handle {
            h.command(c);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let rx = self.rx.clone();
            // Keep draining so shutdown never waits on a full channel.
            let drain =
                std::thread::spawn(
                    move || while rx.recv_timeout(Duration::from_secs(3)).is_ok() {},
                );
            h.shutdown(Duration::from_millis(500));
            let _ = drain.join();
        }
    }
}

const REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let _ = s.set_read_timeout(Some(WAIT));
    let mut v = Vec::new();
    let _ = s.read_to_end(&mut v);
    v
}

/// A raw client after a successful handshake.
fn raw_client(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    s.set_read_timeout(Some(WAIT))
        .unwrap_or_else(|e| panic!("{e}"));
    s.write_all(REQUEST.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    s
}

fn frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut h = FrameHeader::new(opcode, 0, Some(KEY));
    h.fin = fin;
    let mut v = Vec::new();
    encode_frame(h, payload, &mut v);
    v
}

/// The close code in the first close frame of what the server sent.
fn close_code_on_wire(bytes: &[u8]) -> Option<u16> {
    let mut rest = bytes;
    while let Some((h, n)) = FrameHeader::parse(rest) {
        let end = n + h.payload_len as usize;
        let payload = rest.get(n..end)?;
        if h.opcode == OpCode::Close {
            return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
        }
        rest = &rest[end..];
    }
    None
}

#[test]
fn tungstenite_client_full_conversation() {
    let mut srv = Server::echo();
    let mut req = format!("ws://{}/any/path?x=1", srv.addr)
        .into_client_request()
        .unwrap_or_else(|e| panic!("{e}"));
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "superchat, chat".parse().unwrap_or_else(|e| panic!("{e}")),
    );
    let (mut ws, resp) = tungstenite::connect(req).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 101);
    // The first the client offers that the server knows.
    assert_eq!(
        resp.headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.as_bytes()),
        Some(&b"superchat"[..])
    );

    for m in [
        M::text("Hello"),
        M::text("héllo 世界"),
        M::binary(vec![0u8, 1, 2, 255]),
        M::binary(vec![7u8; 70_000]),
    ] {
        ws.send(m.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ws.read().unwrap_or_else(|e| panic!("{e}")), m);
    }
    ws.send(M::Ping(b"hi".to_vec().into()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ws.read().unwrap_or_else(|e| panic!("{e}")),
        M::Pong(b"hi".to_vec().into())
    );
    ws.close(Some(tungstenite::protocol::CloseFrame {
        code: tungstenite::protocol::frame::coding::CloseCode::Library(4001),
        reason: "bye".into(),
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    common::read_until_closed(&mut ws, "the close");

    let hs = srv.wait_for("handshake", |e| matches!(e.kind, EventKind::Handshake(_)));
    let conn = hs.conn;
    if let EventKind::Handshake(h) = hs.kind {
        assert_eq!(h.request.path, "/any/path?x=1");
        assert!(h.accepted());
    }
    assert_eq!(
        srv.closed(conn),
        (Some(CloseCode::Private(4001)), ClosedBy::Client, true)
    );
    // Both directions of every message were captured.
    let msgs = |d: Direction| {
        srv.seen
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::Message { direction, .. } if *direction == d))
            .count()
    };
    assert_eq!(msgs(Direction::ClientToServer), 4);
    assert_eq!(msgs(Direction::ServerToClient), 4);
}

#[test]
fn fragmented_message_is_reassembled_and_echoed_whole() {
    let srv = Server::echo();
    let mut s = raw_client(srv.addr);
    let mut wire = frame(OpCode::Text, false, b"Hel");
    wire.extend(frame(OpCode::Ping, true, b"mid"));
    wire.extend(frame(OpCode::Continuation, true, b"lo"));
    s.write_all(&wire).unwrap_or_else(|e| panic!("{e}"));
    // The pong for the interleaved ping, then the whole message.
    let mut expect = Vec::new();
    encode_frame(FrameHeader::new(OpCode::Pong, 0, None), b"mid", &mut expect);
    encode_frame(
        FrameHeader::new(OpCode::Text, 0, None),
        b"Hello",
        &mut expect,
    );
    let mut got = vec![0u8; expect.len()];
    s.read_exact(&mut got).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, expect);
}

/// Large messages are echoed from the buffer they were unmasked into (no second copy): the
/// bytes on the wire and their order are what encoding each answer would give, whether the
/// echo goes first, follows a pong in the same write, or is followed by one; and the captured
/// frames carry the same payloads.
#[test]
fn large_echoes_keep_their_bytes_and_order_next_to_control_frames() {
    // With the loop polling a while after each turn (the default), and sleeping at once.
    for busy_poll in [ServerConfig::default().busy_poll, Duration::ZERO] {
        large_echoes_with(ServerConfig {
            busy_poll,
            ..ServerConfig::default()
        });
    }
}

fn large_echoes_with(config: ServerConfig) {
    let mut srv = Server::start(config);
    let mut s = raw_client(srv.addr);
    let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let text = "é".repeat(3000);
    let mut wire = frame(OpCode::Binary, true, &big);
    wire.extend(frame(OpCode::Ping, true, b"after"));
    wire.extend(frame(OpCode::Ping, true, b"before"));
    wire.extend(frame(OpCode::Text, true, text.as_bytes()));
    wire.extend(frame(OpCode::Binary, true, &big[..2000]));
    s.write_all(&wire).unwrap_or_else(|e| panic!("{e}"));
    let mut expect = Vec::new();
    encode_frame(FrameHeader::new(OpCode::Binary, 0, None), &big, &mut expect);
    encode_frame(
        FrameHeader::new(OpCode::Pong, 0, None),
        b"after",
        &mut expect,
    );
    encode_frame(
        FrameHeader::new(OpCode::Pong, 0, None),
        b"before",
        &mut expect,
    );
    encode_frame(
        FrameHeader::new(OpCode::Text, 0, None),
        text.as_bytes(),
        &mut expect,
    );
    encode_frame(
        FrameHeader::new(OpCode::Binary, 0, None),
        &big[..2000],
        &mut expect,
    );
    let mut got = vec![0u8; expect.len()];
    s.read_exact(&mut got).unwrap_or_else(|e| panic!("{e}"));
    assert!(got == expect, "the echoes differ from their encoding");
    let sent = |e: &Event, want: &[u8]| {
        matches!(&e.kind, EventKind::Frame { direction: Direction::ServerToClient, frame }
            if frame.payload[..] == *want)
    };
    srv.wait_for("the big echo captured", |e| sent(e, &big));
    srv.wait_for("the text echo captured", |e| sent(e, text.as_bytes()));
    srv.wait_for("the 2000-byte echo captured", |e| sent(e, &big[..2000]));
}

#[test]
fn every_violation_class_gets_its_close_code_on_the_wire_and_an_event() {
    let mut bad_utf8_frag = frame(OpCode::Text, false, "κό".as_bytes());
    bad_utf8_frag.extend(frame(OpCode::Continuation, true, &[0xED, 0xA0, 0x80]));
    let mut after_close_is_ok = frame(OpCode::Close, true, &close_payload_bytes(1000, ""));
    after_close_is_ok.extend(frame(OpCode::Text, true, b"late"));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "rsv1",
            {
                let mut f = frame(OpCode::Text, true, b"x");
                f[0] |= 0x40;
                f
            },
            1002,
        ),
        ("reserved opcode", frame(OpCode::from(0xB), true, b""), 1002),
        ("unmasked", vec![0x81, 0x01, b'x'], 1002),
        ("long ping", frame(OpCode::Ping, true, &[0; 126]), 1002),
        ("fragmented ping", frame(OpCode::Ping, false, b""), 1002),
        (
            "stray continuation",
            frame(OpCode::Continuation, true, b"x"),
            1002,
        ),
        ("bad utf-8", frame(OpCode::Text, true, &[0xC3, 0x28]), 1007),
        ("bad utf-8 across fragments", bad_utf8_frag, 1007),
        ("1-byte close", frame(OpCode::Close, true, &[0x03]), 1002),
        (
            "close 1005",
            frame(OpCode::Close, true, &close_payload_bytes(1005, "")),
            1002,
        ),
        (
            "close reason not utf-8",
            {
                let mut b = close_payload_bytes(1000, "");
                b.push(0xFF);
                frame(OpCode::Close, true, &b)
            },
            1007,
        ),
        (
            "non-minimal length",
            {
                let mut h = FrameHeader::new(OpCode::Binary, 3, Some(KEY));
                h.len_encoding = wsscope::protocol::LenEncoding::Sixteen;
                let mut v = Vec::new();
                h.encode(&mut v);
                v.extend([0; 3]);
                v
            },
            1002,
        ),
        (
            "64-bit top bit",
            {
                let mut v = vec![0x82, 0xFF];
                v.extend((1u64 << 63).to_be_bytes());
                v.extend(KEY);
                v
            },
            1002,
        ),
    ];
    let mut srv = Server::echo();
    for (name, wire, code) in cases {
        let mut s = raw_client(srv.addr);
        s.write_all(&wire).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = read_to_end(&mut s);
        drop(s);
        assert_eq!(
            close_code_on_wire(&got),
            Some(code),
            "{name}: server sent {got:02x?}"
        );
        let hs = srv.wait_for(name, |e| {
            matches!(&e.kind, EventKind::Frame { frame, .. } if !frame.violations.is_empty())
                && !matches!(e.kind, EventKind::Closed { .. })
        });
        let (closed_code, by, _) = srv.closed(hs.conn);
        assert_eq!(closed_code.map(|c| c.code()), Some(code), "{name}");
        assert_eq!(by, ClosedBy::Server, "{name}");
        // A failed connection (§7.1.7) neither answers nor records as received the message its
        // bad frame completed (the unmasked "x" would make one): the frame carries the rule.
        assert!(
            !srv.seen.iter().any(|e| e.conn == hs.conn
                && matches!(
                    e.kind,
                    EventKind::Message {
                        direction: Direction::ClientToServer,
                        ..
                    }
                )),
            "{name}: a rejected message was recorded"
        );
        srv.seen.retain(|e| e.conn != hs.conn);
    }
    // A close followed by data: the close is answered (1000) and the late frame still captured.
    let mut s = raw_client(srv.addr);
    s.write_all(&after_close_is_ok)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(close_code_on_wire(&read_to_end(&mut s)), Some(1000));
}

#[test]
fn message_and_frame_limits_answer_1009() {
    let mut srv = Server::start(ServerConfig {
        limits: Limits {
            max_frame_size: 1000,
            max_message_size: 1500,
        },
        ..ServerConfig::default()
    });
    let mut s = raw_client(srv.addr);
    s.write_all(&frame(OpCode::Binary, true, &[0; 1001]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(close_code_on_wire(&read_to_end(&mut s)), Some(1009));
    // The limit comes with both numbers: the limit in force and what was seen.
    srv.wait_for("frame limit", |e| {
        matches!(
            e.kind,
            EventKind::Limit {
                kind: LimitKind::FrameSize,
                limit: 1000,
                actual: 1001,
            }
        )
    });
    let mut s = raw_client(srv.addr);
    let mut wire = frame(OpCode::Binary, false, &[0; 1000]);
    wire.extend(frame(OpCode::Continuation, true, &[0; 501]));
    s.write_all(&wire).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(close_code_on_wire(&read_to_end(&mut s)), Some(1009));
    srv.wait_for("message limit", |e| {
        matches!(
            e.kind,
            EventKind::Limit {
                kind: LimitKind::MessageSize,
                limit: 1500,
                actual: 1501,
            }
        )
    });
}

#[test]
fn handshake_refusals_and_plain_http() {
    let mut srv = Server::echo();
    let ask = |req: &str| {
        let mut s = TcpStream::connect(srv.addr).unwrap_or_else(|e| panic!("{e}"));
        s.write_all(req.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8_lossy(&read_to_end(&mut s)).into_owned()
    };
    let page = ask("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(
        page.contains("new WebSocket("),
        "the demo page connects back"
    );
    let r = ask("GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
    let r = ask("POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 405 ") && r.contains("Allow: GET"),
        "{r}"
    );
    let r = ask(&REQUEST.replace("Version: 13", "Version: 8"));
    assert!(
        r.starts_with("HTTP/1.1 426 ") && r.contains("Sec-WebSocket-Version: 13"),
        "{r}"
    );
    let r = ask(&REQUEST.replace("dGhlIHNhbXBsZSBub25jZQ==", "short"));
    assert!(
        r.starts_with("HTTP/1.1 400 ") && r.contains("item 5"),
        "{r}"
    );
    let r = ask("\x16\x03\x01\x00\x05hello\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400 "), "TLS to a plain port: {r}");
    srv.wait_for("426 event", |e| {
        matches!(e.kind, EventKind::Http { status: 426, .. })
    });
    srv.wait_for("405 event", |e| {
        matches!(e.kind, EventKind::Http { status: 405, .. })
    });
}

#[test]
fn header_flood_gets_431_and_slowloris_is_cut_off() {
    let mut srv = Server::start(ServerConfig {
        handshake_timeout: Duration::from_millis(600),
        ..ServerConfig::default()
    });
    // Header flood: 100 fields, default limit 64.
    let mut s = TcpStream::connect(srv.addr).unwrap_or_else(|e| panic!("{e}"));
    let mut req = String::from("GET / HTTP/1.1\r\nHost: localhost\r\n");
    for i in 0..100 {
        req.push_str(&format!("X-Flood-{i}: y\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let r = String::from_utf8_lossy(&read_to_end(&mut s)).into_owned();
    assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
    srv.wait_for("header limit", |e| {
        matches!(
            e.kind,
            EventKind::Limit {
                kind: LimitKind::HandshakeHeaders,
                limit: 64,
                actual: 101,
            }
        )
    });
    // A head that never ends: cut at the byte limit, not buffered forever.
    let mut s = TcpStream::connect(srv.addr).unwrap_or_else(|e| panic!("{e}"));
    let junk = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(20_000));
    let _ = s.write_all(junk.as_bytes());
    let r = String::from_utf8_lossy(&read_to_end(&mut s)).into_owned();
    assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
    // Slowloris: one byte at a time, slower than the deadline allows.
    let mut s = TcpStream::connect(srv.addr).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let mut cut = false;
    for b in REQUEST.as_bytes() {
        if s.write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let r = String::from_utf8_lossy(&read_to_end(&mut s)).into_owned();
    assert!(cut || r.starts_with("HTTP/1.1 408 "), "{r}");
    srv.wait_for("timeout", |e| {
        matches!(
            e.kind,
            EventKind::Limit {
                kind: LimitKind::HandshakeTimeout,
                limit: 600,
                actual,
            } if actual >= 600
        )
    });
}

/// One event loop accepts its connections itself; several share a listener thread: the limit
/// holds either way.
#[test]
fn connection_limit_answers_503_and_frees_up() {
    for event_loops in [1, 2] {
        connection_limit_with(event_loops);
    }
}

fn connection_limit_with(event_loops: usize) {
    let mut srv = Server::start(ServerConfig {
        max_connections: 2,
        event_loops,
        ..ServerConfig::default()
    });
    let a = raw_client(srv.addr);
    let _b = raw_client(srv.addr);
    let mut c = TcpStream::connect(srv.addr).unwrap_or_else(|e| panic!("{e}"));
    let r = String::from_utf8_lossy(&read_to_end(&mut c)).into_owned();
    assert!(r.starts_with("HTTP/1.1 503 "), "{r}");
    srv.wait_for("limit", |e| {
        matches!(
            e.kind,
            EventKind::Limit {
                kind: LimitKind::Connections,
                limit: 2,
                actual: 2,
            }
        )
    });
    // An abrupt reset frees a slot, and is reported as an unclean close (1006).
    let a_id = srv
        .wait_for("first open", |e| matches!(e.kind, EventKind::Opened { .. }))
        .conn;
    let _ = a.shutdown(std::net::Shutdown::Both);
    drop(a);
    assert_eq!(
        srv.closed(a_id),
        (Some(CloseCode::Abnormal), ClosedBy::Client, false)
    );
    let deadline = Instant::now() + WAIT;
    while srv.handle.as_ref().map_or(0, |h| h.open_connections()) >= 2 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _d = raw_client(srv.addr);
}

#[test]
fn counters_reconcile_with_what_the_client_sent() {
    let mut srv = Server::echo();
    let mut s = raw_client(srv.addr);
    let mut sent = 0usize;
    let sizes = [0usize, 1, 125, 126, 4000, 65535, 65536, 200_000];
    for (i, n) in sizes.iter().enumerate() {
        let wire = frame(OpCode::Binary, true, &vec![i as u8; *n]);
        sent += wire.len();
        s.write_all(&wire).unwrap_or_else(|e| panic!("{e}"));
    }
    let close = frame(OpCode::Close, true, &close_payload_bytes(1000, ""));
    sent += close.len();
    s.write_all(&close).unwrap_or_else(|e| panic!("{e}"));
    let got = read_to_end(&mut s);
    let hs = srv.wait_for("handshake", |e| matches!(e.kind, EventKind::Handshake(_)));
    let conn = hs.conn;
    let response_len = match &hs.kind {
        EventKind::Handshake(h) => h.response.raw.len(),
        _ => 0,
    };
    assert_eq!(
        srv.closed(conn),
        (Some(CloseCode::Normal), ClosedBy::Client, true)
    );
    let mut read_bytes = 0usize;
    let mut written = 0usize;
    let mut frames_in = 0;
    let mut payload_in = 0usize;
    for e in srv.seen.iter().filter(|e| e.conn == conn) {
        match &e.kind {
            EventKind::Tcp {
                direction: Direction::ClientToServer,
                bytes,
            } => read_bytes += bytes.len(),
            EventKind::Tcp {
                direction: Direction::ServerToClient,
                bytes,
            } => written += bytes.len(),
            EventKind::Frame {
                direction: Direction::ClientToServer,
                frame,
            } => {
                frames_in += 1;
                payload_in += frame.payload.len();
            }
            _ => {}
        }
    }
    assert_eq!(
        read_bytes,
        REQUEST.len() + sent,
        "every byte the client sent was captured"
    );
    assert_eq!(
        written,
        got.len() + response_len,
        "every byte the server wrote (and the 101) was captured"
    );
    assert_eq!(frames_in, sizes.len() + 1);
    assert_eq!(payload_in, sizes.iter().sum::<usize>() + 2);
}

#[test]
fn slow_consumer_loses_nothing() {
    // A channel of 1 batch and a consumer that dawdles: workers must wait, never drop.
    let mut srv = Server::start(ServerConfig {
        channel_capacity: 1,
        ..ServerConfig::default()
    });
    let n = 300;
    let addr = srv.addr;
    let client = std::thread::spawn(move || {
        let mut s = raw_client(addr);
        for i in 0..n {
            let _ = s.write_all(&frame(OpCode::Text, true, format!("m{i}").as_bytes()));
        }
        let _ = s.write_all(&frame(OpCode::Close, true, &close_payload_bytes(1000, "")));
        read_to_end(&mut s)
    });
    let deadline = Instant::now() + WAIT * 3;
    while !srv
        .seen
        .iter()
        .any(|e| matches!(e.kind, EventKind::Closed { .. }))
        && Instant::now() < deadline
    {
        if let Ok(batch) = srv.rx.recv_timeout(Duration::from_millis(50)) {
            srv.seen.extend(batch);
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let echoed = client.join().unwrap_or_else(|_| panic!("client panicked"));
    let received: Vec<String> = srv
        .seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Message {
                direction: Direction::ClientToServer,
                message,
            } => Some(String::from_utf8_lossy(&message.payload).into_owned()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    assert_eq!(received, expected);
    // And every echo reached the client: 300 text frames of 2-4 bytes plus the close.
    let frames = {
        let mut rest = &echoed[..];
        let mut count = 0;
        while let Some((h, len)) = FrameHeader::parse(rest) {
            count += 1;
            rest = &rest[len + h.payload_len as usize..];
        }
        count
    };
    assert_eq!(frames, n + 1, "{:02x?}", &echoed[..echoed.len().min(64)]);
}

#[test]
fn reply_modes_and_commands() {
    let mut srv = Server::start(ServerConfig {
        reply: ReplyMode::Fixed("thank you!!!".into()),
        ..ServerConfig::default()
    });
    let (mut ws, _) =
        tungstenite::connect(format!("ws://{}/ws", srv.addr)).unwrap_or_else(|e| panic!("{e}"));
    ws.send(M::text("hello")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ws.read().unwrap_or_else(|e| panic!("{e}")),
        M::text("thank you!!!")
    );

    srv.cmd(Command::SetReplyMode(ReplyMode::Manual));
    let conn = srv
        .wait_for("open", |e| matches!(e.kind, EventKind::Opened { .. }))
        .conn;
    srv.cmd(Command::Text(conn, "from the teacher".into()));
    assert_eq!(
        ws.read().unwrap_or_else(|e| panic!("{e}")),
        M::text("from the teacher")
    );
    ws.send(M::text("no automatic answer now"))
        .unwrap_or_else(|e| panic!("{e}"));
    srv.cmd(Command::Binary(conn, vec![1, 2, 3]));
    assert_eq!(
        ws.read().unwrap_or_else(|e| panic!("{e}")),
        M::binary(vec![1u8, 2, 3])
    );
    srv.cmd(Command::Ping(conn, b"p".to_vec()));
    assert_eq!(
        ws.read().unwrap_or_else(|e| panic!("{e}")),
        M::Ping(b"p".to_vec().into())
    );
    srv.cmd(Command::SetAutoPong(false));
    srv.cmd(Command::Close(conn, 4000, "class is over".into()));
    match ws.read() {
        Ok(M::Close(Some(cf))) => {
            assert_eq!(u16::from(cf.code), 4000);
            assert_eq!(cf.reason.as_str(), "class is over");
        }
        other => panic!("{other:?}"),
    }
    common::read_until_closed(&mut ws, "the close");
    assert_eq!(
        srv.closed(conn),
        (Some(CloseCode::Private(4000)), ClosedBy::Server, true)
    );
    // A command for a connection that is gone is reported, not lost silently.
    srv.cmd(Command::Text(conn, "late".into()));
    srv.wait_for("error", |e| {
        e.conn == conn && matches!(&e.kind, EventKind::Error(ErrorKind::NotOpen))
    });
}

#[test]
fn shutdown_closes_connections_with_1001() {
    let mut srv = Server::echo();
    let (mut ws, _) =
        tungstenite::connect(format!("ws://{}/", srv.addr)).unwrap_or_else(|e| panic!("{e}"));
    srv.wait_for("open", |e| matches!(e.kind, EventKind::Opened { .. }));
    let handle = srv.handle.take();
    let rx = srv.rx.clone();
    let t = std::thread::spawn(move || {
        if let Some(h) = handle {
            h.shutdown(Duration::from_secs(3));
        }
    });
    match ws.read() {
        Ok(M::Close(Some(cf))) => assert_eq!(u16::from(cf.code), 1001),
        other => panic!("{other:?}"),
    }
    let _ = ws.read();
    let mut stopped = false;
    while let Ok(batch) = rx.recv_timeout(WAIT) {
        stopped |= batch.iter().any(|e| matches!(e.kind, EventKind::Stopped));
    }
    let _ = t.join();
    assert!(stopped);
}

#[test]
fn non_loopback_bind_is_flagged() {
    let mut srv = Server::start(ServerConfig {
        bind: "0.0.0.0".parse().unwrap_or_else(|e| panic!("{e}")),
        ..ServerConfig::default()
    });
    let e = srv.wait_for("listening", |e| {
        matches!(e.kind, EventKind::Listening { .. })
    });
    let EventKind::Listening { addr } = e.kind else {
        panic!("{e:?}");
    };
    assert!(listening_warning(Lang::En, addr).is_some_and(|w| w.contains("0.0.0.0")));
    let mut lo = Server::echo();
    let e = lo.wait_for("listening", |e| {
        matches!(e.kind, EventKind::Listening { .. })
    });
    let EventKind::Listening { addr } = e.kind else {
        panic!("{e:?}");
    };
    assert_eq!(listening_warning(Lang::En, addr), None);
}

/// A client that connects and sends nothing does not hold a shutdown up for its whole
/// handshake time: it is cut off as the server stops (not answered 408 a minute later).
#[test]
fn shutdown_does_not_wait_for_a_silent_handshake() {
    let mut srv = Server::start(ServerConfig {
        handshake_timeout: Duration::from_secs(600),
        ..ServerConfig::default()
    });
    let _silent = std::net::TcpStream::connect(srv.addr).unwrap_or_else(|e| panic!("{e}"));
    srv.wait_for("open", |e| matches!(e.kind, EventKind::Opened { .. }));
    let rx = srv.rx.clone();
    let drain = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while let Ok(batch) = rx.recv_timeout(WAIT) {
            let stop = batch.iter().any(|e| matches!(e.kind, EventKind::Stopped));
            seen.extend(batch);
            if stop {
                break;
            }
        }
        seen
    });
    if let Some(h) = srv.handle.take() {
        h.shutdown(Duration::from_millis(100));
    }
    let seen = drain.join().unwrap_or_else(|_| panic!("drain panicked"));
    assert!(
        seen.iter().any(|e| matches!(e.kind, EventKind::Stopped)),
        "never stopped"
    );
    assert!(seen.iter().any(|e| e.conn == 1
        && matches!(
            e.kind,
            EventKind::Closed {
                by: ClosedBy::Server,
                ..
            }
        )));
    assert!(!seen
        .iter()
        .any(|e| matches!(e.kind, EventKind::Http { status: 408, .. })));
}

#[test]
fn a_client_that_never_reads_holds_up_no_one_else() {
    // One event loop for both connections, so they share a thread; a channel that never fills
    // (this test reads it only at the end).
    let mut srv = Server::start(ServerConfig {
        event_loops: 1,
        channel_capacity: 1 << 20,
        // This is about TCP back-pressure on one connection, not the in-flight bound (which
        // pauses every connection's reads): room for all the stalled client can send.
        max_in_flight: 256 << 20,
        ..ServerConfig::default()
    });
    // The stalled client sends up to 64 MiB of 64 KiB messages and reads nothing: the echoes
    // fill the socket buffers, the server stops reading from it, and the client's writes stop.
    let mut stalled = raw_client(srv.addr);
    stalled
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap_or_else(|e| panic!("{e}"));
    let big = frame(OpCode::Binary, true, &vec![7u8; 64 * 1024]);
    let mut sent = 0usize;
    for _ in 0..1024 {
        match stalled.write_all(&big) {
            Ok(()) => sent += 1,
            Err(_) => break,
        }
    }
    assert!(
        sent < 1024,
        "the server kept reading from a client that never reads"
    );
    // Meanwhile another client on the same loop is served at once.
    let (mut ws, _) =
        tungstenite::connect(format!("ws://{}/ws", srv.addr)).unwrap_or_else(|e| panic!("{e}"));
    // A loop stuck on the stalled client would show as a timeout here, not as a hang.
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(WAIT))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for i in 0..20 {
        ws.send(M::text(format!("still here {i}")))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ws.read().unwrap_or_else(|e| panic!("{e}")),
            M::text(format!("still here {i}"))
        );
    }
    // The stalled client finally reads: every message it managed to send comes back.
    let mut echoed = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + WAIT;
    let count = |bytes: &[u8]| {
        let mut rest = bytes;
        let mut n = 0;
        while let Some((h, len)) = FrameHeader::parse(rest) {
            let end = len + h.payload_len as usize;
            if rest.len() < end {
                break;
            }
            assert_eq!((h.opcode, h.payload_len), (OpCode::Binary, 64 * 1024));
            n += 1;
            rest = &rest[end..];
        }
        n
    };
    while count(&echoed) < sent && Instant::now() < deadline {
        match stalled.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => echoed.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(count(&echoed), sent);
    let stalled_id = srv
        .wait_for("first open", |e| matches!(e.kind, EventKind::Opened { .. }))
        .conn;
    let deadline = Instant::now() + WAIT;
    let received = |srv: &Server| {
        srv.seen
            .iter()
            .filter(|e| {
                e.conn == stalled_id
                    && matches!(
                        e.kind,
                        EventKind::Message {
                            direction: Direction::ClientToServer,
                            ..
                        }
                    )
            })
            .count()
    };
    while received(&srv) < sent && Instant::now() < deadline {
        if let Ok(batch) = srv.rx.recv_timeout(Duration::from_millis(50)) {
            srv.seen.extend(batch);
        }
    }
    assert_eq!(received(&srv), sent);
}

#[test]
fn an_end_of_stream_that_comes_with_the_last_bytes_is_seen() {
    // Each client sends its last frame and its FIN together (one loop, which is blocked for a
    // moment by the first batch, so both are queued before it reads): every connection must
    // still end, once, and the open count go back to zero.
    let mut srv = Server::start(ServerConfig {
        event_loops: 1,
        ..ServerConfig::default()
    });
    let n = 60;
    let mut clients = Vec::new();
    for i in 0..n {
        let mut s = raw_client(srv.addr);
        let _ = s.write_all(&frame(OpCode::Text, true, format!("bye {i}").as_bytes()));
        let _ = s.shutdown(std::net::Shutdown::Write);
        clients.push(s);
    }
    // A partial request head and its FIN: closed by the client, not a 408 much later.
    let mut half = TcpStream::connect(srv.addr).unwrap_or_else(|e| panic!("{e}"));
    let _ = half.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n");
    let _ = half.shutdown(std::net::Shutdown::Write);
    let closed = |srv: &Server| {
        srv.seen
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Closed { .. }))
            .count()
    };
    let deadline = Instant::now() + WAIT;
    while closed(&srv) < n + 1 && Instant::now() < deadline {
        if let Ok(batch) = srv.rx.recv_timeout(Duration::from_millis(50)) {
            srv.seen.extend(batch);
        }
    }
    assert_eq!(closed(&srv), n + 1);
    assert!(!srv
        .seen
        .iter()
        .any(|e| matches!(e.kind, EventKind::Http { status: 408, .. })));
    for s in &mut clients {
        // The echo came back before the server's side closed.
        let got = read_to_end(s);
        assert!(got.starts_with(&[0x81]), "{got:02x?}");
    }
    let deadline = Instant::now() + WAIT;
    while srv.handle.as_ref().map_or(0, |h| h.open_connections()) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(srv.handle.as_ref().map_or(0, |h| h.open_connections()), 0);
}
