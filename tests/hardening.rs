//! Issue #14 over real sockets: time after the upgrade (the closing-handshake timeout,
//! keepalive pings), who may connect (Origin and Host rules), the 503 that must arrive and a
//! request head dripped one byte at a time.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use tungstenite::Message as M;
use wsscope::event::{ClosedBy, Command, Event, EventKind, HttpOutcome, LimitKind};
use wsscope::protocol::handshake::{CheckId, HostPolicy, OriginPolicy, Outcome};
use wsscope::protocol::{CloseCode, OpCode};
use wsscope::server::{self, ServerConfig, ServerHandle};

mod common;

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
        let addr = server::reachable(handle.local_addr());
        Self {
            handle: Some(handle),
            addr,
            rx,
            seen: Vec::new(),
        }
    }

    /// Collects events until `pred` holds for one of them; returns it.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(batch) = self.rx.recv_timeout(Duration::from_millis(20)) {
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

    /// Every event seen so far and what arrives within `d`.
    fn settle(&mut self, d: Duration) -> &[Event] {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if let Ok(batch) = self.rx.recv_timeout(Duration::from_millis(20)) {
                self.seen.extend(batch);
            }
        }
        &self.seen
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

    fn limit(&mut self, conn: u64, kind: LimitKind) -> (u64, u64) {
        let e = self.wait_for("limit", |e| {
            e.conn == conn && matches!(e.kind, EventKind::Limit { kind: k, .. } if k == kind)
        });
        match e.kind {
            EventKind::Limit { limit, actual, .. } => (limit, actual),
            _ => unreachable!(),
        }
    }

    fn cmd(&self, c: Command) {
        if let Some(h) = &self.handle {
            h.command(c);
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/lab", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let rx = self.rx.clone();
            let drain =
                std::thread::spawn(
                    move || while rx.recv_timeout(Duration::from_secs(3)).is_ok() {},
                );
            h.shutdown(Duration::from_millis(300));
            let _ = drain.join();
        }
    }
}

fn upgrade_request(host: &str, origin: Option<&str>) -> String {
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    format!(
        "GET /lab HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}Sec-WebSocket-Version: 13\r\n\r\n"
    )
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    s.set_read_timeout(Some(WAIT))
        .unwrap_or_else(|e| panic!("{e}"));
    s
}

/// Reads the response head, byte by byte (what follows stays in the socket).
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

/// Sends `request` on a new connection and reads the whole answer (the server closes).
fn ask(addr: SocketAddr, request: &str) -> String {
    let mut s = connect(addr);
    s.write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends `request` on a new connection and reads the answer's head.
fn head_of(addr: SocketAddr, request: &str) -> String {
    let mut s = connect(addr);
    s.write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    read_head(&mut s)
}

/// One unmasked server frame from `s`: opcode and payload.
fn read_frame(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).ok()?;
    assert_eq!(h[1] & 0x80, 0, "a server frame is never masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).ok()?;
            usize::from(u16::from_be_bytes(l))
        }
        127 => panic!("no large frames expected"),
        n => usize::from(n),
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).ok()?;
    Some((h[0] & 0x0f, payload))
}

/// Reads until the server closes (end of stream or reset); how long it took.
fn until_closed(s: &mut TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return start.elapsed(),
            Ok(_) => {}
        }
    }
}

fn fast_timeouts() -> ServerConfig {
    ServerConfig {
        close_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    }
}

/// A close we start that the peer reads but never answers: TCP closes after the close
/// timeout, and the events say so (a close-timeout limit, then a Closed that is not clean).
#[test]
fn an_unanswered_close_of_ours_ends_tcp_after_the_close_timeout() {
    let mut srv = Server::start(fast_timeouts());
    let mut s = connect(srv.addr);
    s.write_all(upgrade_request("localhost", None).as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101"));
    srv.wait_for("handshake", |e| matches!(e.kind, EventKind::Handshake(_)));
    srv.cmd(Command::Close(1, 1000, "bye".into()));
    // The close frame arrives; this peer never answers it.
    let (op, payload) = read_frame(&mut s).unwrap_or_else(|| panic!("no close frame"));
    assert_eq!(op, 0x8);
    assert_eq!(&payload[..2], &1000u16.to_be_bytes());
    let took = until_closed(&mut s);
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    let (limit, actual) = srv.limit(1, LimitKind::CloseTimeout);
    assert_eq!(limit, 300);
    assert!(actual >= 300, "{actual}");
    assert_eq!(
        srv.closed(1),
        (Some(CloseCode::Normal), ClosedBy::Server, false)
    );
}

/// The same close, answered: no timeout, a clean close.
#[test]
fn an_answered_close_of_ours_is_clean_and_not_a_timeout() {
    let mut srv = Server::start(fast_timeouts());
    let (mut ws, _) = tungstenite::connect(srv.url()).unwrap_or_else(|e| panic!("{e}"));
    srv.wait_for("handshake", |e| matches!(e.kind, EventKind::Handshake(_)));
    srv.cmd(Command::Close(1, 4000, "lesson over".into()));
    // tungstenite answers the close as it reads it.
    while ws.read().is_ok() {}
    assert_eq!(
        srv.closed(1),
        (Some(CloseCode::from(4000)), ClosedBy::Server, true)
    );
    let seen = srv.settle(Duration::from_millis(400));
    assert!(!seen
        .iter()
        .any(|e| matches!(e.kind, EventKind::Limit { .. })));
}

/// Without keepalive, a connection that says nothing stays open past every other timeout, and
/// no frame of ours appears on it.
#[test]
fn an_idle_connection_stays_open_and_sees_only_its_own_frames() {
    let mut srv = Server::start(ServerConfig {
        handshake_timeout: Duration::from_millis(200),
        close_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    let (mut ws, _) = tungstenite::connect(srv.url()).unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(Duration::from_millis(1200));
    ws.send(M::text("still here"))
        .unwrap_or_else(|e| panic!("{e}"));
    match ws.read() {
        Ok(M::Text(t)) => assert_eq!(t.as_str(), "still here"),
        other => panic!("{other:?}"),
    }
    let seen = srv.settle(Duration::from_millis(100));
    let server_frames: Vec<OpCode> = seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Frame { direction, frame }
                if *direction == wsscope::event::Direction::ServerToClient =>
            {
                Some(frame.header.opcode)
            }
            _ => None,
        })
        .collect();
    assert_eq!(server_frames, [OpCode::Text]);
    assert!(!seen
        .iter()
        .any(|e| matches!(e.kind, EventKind::Closed { .. })));
}

fn keepalive() -> ServerConfig {
    ServerConfig {
        ping_interval: Some(Duration::from_millis(150)),
        ping_timeout: Duration::from_millis(300),
        close_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    }
}

/// With keepalive, a client that answers pings (tungstenite does, as it reads) stays open
/// through many of them.
#[test]
fn keepalive_pings_a_live_client_which_stays_open() {
    let mut srv = Server::start(keepalive());
    let (mut ws, _) = tungstenite::connect(srv.url()).unwrap_or_else(|e| panic!("{e}"));
    let mut pings = 0;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        match ws.read() {
            Ok(M::Ping(p)) => {
                assert_eq!(p.len(), 4);
                pings += 1;
            }
            Ok(other) => panic!("{other:?}"),
            Err(e) => panic!("the server closed: {e}"),
        }
    }
    assert!(pings >= 3, "{pings} pings");
    ws.send(M::text("alive")).unwrap_or_else(|e| panic!("{e}"));
    loop {
        match ws.read() {
            Ok(M::Text(t)) => {
                assert_eq!(t.as_str(), "alive");
                break;
            }
            Ok(M::Ping(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    let seen = srv.settle(Duration::from_millis(100));
    assert!(!seen
        .iter()
        .any(|e| matches!(e.kind, EventKind::Limit { .. } | EventKind::Closed { .. })));
    // Every ping's pong came back and was captured.
    let pongs = seen
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Frame { frame, .. } if frame.header.opcode == OpCode::Pong))
        .count();
    assert!(pongs >= 3, "{pongs} pongs");
}

/// A peer that never answers a ping is closed with 1011 ("keepalive ping timeout", as
/// python-websockets does), then TCP is closed; the events say why.
#[test]
fn keepalive_closes_a_silent_peer_with_1011() {
    let mut srv = Server::start(keepalive());
    let mut s = connect(srv.addr);
    s.write_all(upgrade_request("127.0.0.1", None).as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101"));
    let start = Instant::now();
    let (op, ping) = read_frame(&mut s).unwrap_or_else(|| panic!("no ping"));
    assert_eq!((op, ping.len()), (0x9, 4));
    let (op, close) = read_frame(&mut s).unwrap_or_else(|| panic!("no close"));
    assert_eq!(op, 0x8);
    assert_eq!(&close[..2], &1011u16.to_be_bytes());
    assert_eq!(&close[2..], b"keepalive ping timeout");
    // Interval, then timeout: at least 450 ms in.
    assert!(start.elapsed() >= Duration::from_millis(400));
    let took = until_closed(&mut s);
    assert!(
        took < Duration::from_secs(5),
        "closed {took:?} after the 1011"
    );
    let (limit, actual) = srv.limit(1, LimitKind::PingTimeout);
    assert_eq!(limit, 300);
    assert!(actual >= 300, "{actual}");
    assert_eq!(
        srv.closed(1),
        (Some(CloseCode::InternalError), ClosedBy::Server, false)
    );
}

fn handshake_of(srv: &mut Server, conn: u64) -> wsscope::protocol::handshake::Handshake {
    let e = srv.wait_for("handshake", |e| {
        e.conn == conn && matches!(e.kind, EventKind::Handshake(_))
    });
    match e.kind {
        EventKind::Handshake(h) => *h,
        _ => unreachable!(),
    }
}

fn check_of(hs: &wsscope::protocol::handshake::Handshake, id: CheckId) -> Outcome {
    hs.checks
        .iter()
        .find(|c| c.id == id)
        .map_or_else(|| panic!("no {id:?} check"), |c| c.outcome)
}

/// Bound to loopback, a Host that is not a loopback name or address (DNS rebinding) gets 403,
/// for the demo page and the upgrade both; loopback names get through.
#[test]
fn on_loopback_a_foreign_host_gets_403() {
    let mut srv = Server::start(ServerConfig::default());
    let port = srv.addr.port();
    let page = ask(srv.addr, "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 403 Forbidden"), "{page}");
    assert!(page.contains("Host evil.example is not allowed"), "{page}");
    assert!(page.contains("--allowed-hosts"), "{page}");
    assert!(!page.contains("<html"), "{page}");
    srv.wait_for("the 403", |e| {
        matches!(&e.kind, EventKind::Http { status: 403, outcome: HttpOutcome::HostNotAllowed(h), .. } if h == "evil.example")
    });
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("127.1.2.3:{port}"),
        format!("[::1]:{port}"),
        "app.localhost".to_string(),
        "LOCALHOST.".to_string(),
    ] {
        let page = ask(srv.addr, &format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        assert!(page.starts_with("HTTP/1.1 200"), "{host}: {page}");
    }
    let refused = ask(srv.addr, &upgrade_request("evil.example:8765", None));
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(refused.contains("DNS rebinding"), "{refused}");
    // Conn 1 was the page; 2-7 the loopback names; 8 the upgrade.
    let hs = handshake_of(&mut srv, 8);
    assert_eq!(hs.response.status, 403);
    assert_eq!(check_of(&hs, CheckId::Host), Outcome::Fail);
    let mut s = connect(srv.addr);
    s.write_all(upgrade_request(&format!("localhost:{port}"), None).as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101"));
}

/// `--allowed-hosts` adds names (`.example.com`: it and its subdomains) to the loopback ones,
/// and any IP address, like webpack-dev-server's allowedHosts; `all` turns the rule off.
#[test]
fn allowed_hosts_adds_names_or_turns_the_rule_off() {
    let policy = HostPolicy::parse(".example.com, lab.test").unwrap_or_else(|e| panic!("{e}"));
    let srv = Server::start(ServerConfig {
        allowed_hosts: Some(policy),
        ..ServerConfig::default()
    });
    for (host, status) in [
        ("www.example.com", "101"),
        ("example.com:8765", "101"),
        ("lab.test", "101"),
        ("10.1.2.3:8765", "101"),
        ("localhost", "101"),
        ("evil.example", "403"),
        ("badexample.com", "403"),
        ("sub.lab.test", "403"),
    ] {
        let r = head_of(srv.addr, &upgrade_request(host, None));
        assert!(r.starts_with(&format!("HTTP/1.1 {status}")), "{host}: {r}");
    }
    let srv = Server::start(ServerConfig {
        allowed_hosts: Some(HostPolicy::parse("all").unwrap_or_else(|e| panic!("{e}"))),
        ..ServerConfig::default()
    });
    let page = ask(srv.addr, "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
}

/// Bound to every interface, the Host rule is off unless asked for.
#[test]
fn on_a_lan_bind_the_host_rule_is_off() {
    let srv = Server::start(ServerConfig {
        bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ..ServerConfig::default()
    });
    let page = ask(srv.addr, "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
}

/// With `--allowed-origins`, a browser handshake from another origin gets 403 naming the rule,
/// and the check list says Pass/Fail for Origin; a client without Origin (not a browser page)
/// is not judged.
#[test]
fn allowed_origins_refuses_other_pages_with_403() {
    let origins = OriginPolicy::parse("http://localhost:8765, http://127.0.0.1:8765/")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut srv = Server::start(ServerConfig {
        allowed_origins: origins,
        ..ServerConfig::default()
    });
    let r = ask(
        srv.addr,
        &upgrade_request("localhost", Some("http://evil.example")),
    );
    assert!(r.starts_with("HTTP/1.1 403 Forbidden"), "{r}");
    assert!(
        r.contains("Origin http://evil.example is not allowed")
            && r.contains("http://localhost:8765,http://127.0.0.1:8765")
            && r.contains("--allowed-origins"),
        "{r}"
    );
    let hs = handshake_of(&mut srv, 1);
    assert_eq!(check_of(&hs, CheckId::Origin), Outcome::Fail);
    assert_eq!(hs.response.failed, [CheckId::Origin]);
    assert!(wsscope::i18n::refusal(wsscope::i18n::Lang::Zh, &hs)
        .is_some_and(|s| s.contains("http://evil.example")));

    let mut s = connect(srv.addr);
    s.write_all(upgrade_request("localhost", Some("http://127.0.0.1:8765")).as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101"));
    assert_eq!(
        check_of(&handshake_of(&mut srv, 2), CheckId::Origin),
        Outcome::Pass
    );

    // tungstenite sends no Origin.
    let (_ws, _) = tungstenite::connect(srv.url()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        check_of(&handshake_of(&mut srv, 3), CheckId::Origin),
        Outcome::Info
    );
}

/// The default accepts any origin (the demo page on 127.0.0.1 or localhost, any port), and
/// the check stays information.
#[test]
fn by_default_any_origin_connects() {
    let mut srv = Server::start(ServerConfig::default());
    let mut s = connect(srv.addr);
    s.write_all(upgrade_request("localhost", Some("http://evil.example")).as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101"));
    assert_eq!(
        check_of(&handshake_of(&mut srv, 1), CheckId::Origin),
        Outcome::Info
    );
}

/// Over the connection limit, the 503 and its reason arrive every time, also to a client whose
/// request is still arriving when the server has answered (a browser's with its cookies, say):
/// the server reads the request before it closes, so the client can finish writing it and
/// then read the answer. Closing with the request unread resets the connection: the client's
/// write fails (broken pipe) and a client like tungstenite reports that, never the 503; on
/// Windows the reset also drops the 503 unread.
#[test]
fn the_503_over_the_limit_always_arrives() {
    let srv = Server::start(ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    });
    let (_held, _) = tungstenite::connect(srv.url()).unwrap_or_else(|e| panic!("{e}"));
    let mut req = upgrade_request("localhost", None).into_bytes();
    let at = req.len() - 2;
    req.splice(
        at..at,
        format!("Cookie: {}\r\n", "c".repeat(4000)).into_bytes(),
    );
    for attempt in 0..50 {
        let mut s = connect(srv.addr);
        s.write_all(&req[..100])
            .unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
        // The server answers and closes its side meanwhile.
        std::thread::sleep(Duration::from_millis(15));
        let rest = s.write_all(&req[100..]);
        assert!(
            rest.is_ok(),
            "attempt {attempt}: the rest of the request: {rest:?}"
        );
        let mut out = Vec::new();
        let read = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(
            read.is_ok()
                && text.starts_with("HTTP/1.1 503")
                && text.contains("1 connections are open"),
            "attempt {attempt}: {read:?}, got {text:?}"
        );
    }
}

/// A request head dripped one byte per write (and read) still completes: the server answers
/// 101 and echoes.
#[test]
fn a_head_dripped_one_byte_at_a_time_completes() {
    let mut srv = Server::start(ServerConfig::default());
    let mut s = connect(srv.addr);
    s.set_nodelay(true).unwrap_or_else(|e| panic!("{e}"));
    let req = upgrade_request("localhost", Some("http://localhost:8765"));
    for b in req.as_bytes() {
        s.write_all(&[*b]).unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(Duration::from_micros(300));
    }
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101"));
    s.write_all(&common::frame(OpCode::Text, true, b"drip"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_frame(&mut s), Some((0x1, b"drip".to_vec())));
    let reads = srv
        .settle(Duration::from_millis(200))
        .iter()
        .filter(|e| {
            matches!(
                &e.kind,
                EventKind::Tcp {
                    direction: wsscope::event::Direction::ClientToServer,
                    ..
                }
            )
        })
        .count();
    // Many reads (Nagle is off, the writes are apart): the head really came in pieces.
    assert!(reads > 20, "{reads} reads");
}
