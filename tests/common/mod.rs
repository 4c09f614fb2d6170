//! Helpers shared by the integration tests (each test file includes this module; not every
//! file uses every helper).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsscope::event::{Event, EventKind};
use wsscope::protocol::{encode_frame, FrameHeader, OpCode};
use wsscope::server::{self, ServerConfig};

/// A valid upgrade request for `/lab` with the RFC's example key.
pub const REQUEST: &str =
    "GET /lab HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// One masked frame (key 09 08 07 06) as a client sends it.
pub fn frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut h = FrameHeader::new(opcode, 0, Some([9, 8, 7, 6]));
    h.fin = fin;
    let mut v = Vec::new();
    encode_frame(h, payload, &mut v);
    v
}

/// Every event of one scripted client's connection to an echo server, up to its close (the
/// client's bytes in these writes, `pause` apart).
pub fn events_of_writes<W: AsRef<[u8]>>(writes: &[W], pause: Duration) -> Vec<Event> {
    let (tx, rx) = crossbeam_channel::bounded(64);
    let handle = server::start(
        ServerConfig {
            port: 0,
            // REQUEST's `Host: x` is not a loopback name: these captures are about the bytes
            // (their lengths matter), not about the Host rule.
            allowed_hosts: Some(wsscope::protocol::handshake::HostPolicy::Any),
            ..ServerConfig::default()
        },
        tx,
        Arc::new(|| {}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut s = TcpStream::connect(handle.local_addr()).unwrap_or_else(|e| panic!("{e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut reader = s.try_clone().unwrap_or_else(|e| panic!("{e}"));
    let reader = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    for w in writes {
        s.write_all(w.as_ref()).unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(pause);
    }
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
    let _ = reader.join();
    let drain =
        std::thread::spawn(move || while rx.recv_timeout(Duration::from_secs(2)).is_ok() {});
    handle.shutdown(Duration::from_millis(200));
    let _ = drain.join();
    events
}

/// tshark, or `None` (after saying so) when it is not installed. Under CI (CI=true) a missing
/// tshark fails the test: CI installs it (.ci/run).
pub fn tshark() -> Option<&'static str> {
    match Command::new("tshark").arg("--version").output() {
        Ok(o) if o.status.success() => Some("tshark"),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("tshark is not installed, and CI=true: .ci/run installs it (apt package tshark)")
        }
        _ => {
            eprintln!(
                "note: tshark is not installed; skipping the pcap check (apt install tshark)"
            );
            None
        }
    }
}

/// Runs tshark with `args` and returns what it printed (a failure fails the test).
pub fn tshark_run(tshark: &str, args: &[&str]) -> String {
    let out = Command::new(tshark)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A client that sends small text messages (`flood 0`, `flood 1`, ...) as fast as the server
/// takes them, many per write, and reads and drops the echoes on a thread of its own, until
/// stopped; then it closes with 1000.
pub struct Flood {
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// Bytes of echoes read so far: when it stops growing, the server stopped reading.
    pub echoed: Arc<std::sync::atomic::AtomicUsize>,
    writer: std::thread::JoinHandle<usize>,
    reader: std::thread::JoinHandle<()>,
}

/// A raw socket to `addr` after a successful upgrade (the 101's head read, nothing after it),
/// with no read timeout.
pub fn upgraded(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("{e}"));
    // A loopback Host: a loopback bind answers only those.
    s.write_all(REQUEST.replace("Host: x", "Host: localhost").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    // The 101's head, a byte at a time: nothing comes after it until we send frames.
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b)
            .unwrap_or_else(|e| panic!("no answer to the handshake: {e}"));
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s.set_read_timeout(None).unwrap_or_else(|e| panic!("{e}"));
    s
}

impl Flood {
    /// Connects to `addr`, completes the handshake and starts flooding.
    pub fn start(addr: std::net::SocketAddr) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let mut s = upgraded(addr);
        let mut r = s.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let echoed = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&echoed);
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            // Until the server closes (after our close), or resets.
            while let Ok(n @ 1..) = r.read(&mut buf) {
                count.fetch_add(n, Ordering::Relaxed);
            }
        });
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let writer = std::thread::spawn(move || {
            let mut n = 0usize;
            let mut chunk = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                chunk.clear();
                for i in n..n + 100 {
                    chunk.extend(frame(OpCode::Text, true, format!("flood {i}").as_bytes()));
                }
                s.write_all(&chunk).unwrap_or_else(|e| panic!("{e}"));
                n += 100;
            }
            s.write_all(&frame(OpCode::Close, true, &1000u16.to_be_bytes()))
                .unwrap_or_else(|e| panic!("{e}"));
            n
        });
        Self {
            stop,
            echoed,
            writer,
            reader,
        }
    }

    /// Waits (up to `within`) until the echoes stop coming for `quiet`: the server stopped
    /// reading this client. Returns whether they did.
    pub fn stalls(&self, quiet: Duration, within: Duration) -> bool {
        use std::sync::atomic::Ordering;
        let deadline = Instant::now() + within;
        let mut last = self.echoed.load(Ordering::Relaxed);
        let mut since = Instant::now();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.echoed.load(Ordering::Relaxed);
            if now != last {
                last = now;
                since = Instant::now();
            } else if last > 0 && since.elapsed() >= quiet {
                return true;
            }
        }
        false
    }

    /// Asks the writer to stop after its current write, and close.
    pub fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Waits for the close to complete (the server must be reading again); returns how many
    /// messages were sent.
    pub fn join(self) -> usize {
        self.stop();
        let n = self
            .writer
            .join()
            .unwrap_or_else(|_| panic!("the flood's writer panicked"));
        self.reader
            .join()
            .unwrap_or_else(|_| panic!("the flood's reader panicked"));
        n
    }
}

/// A tungstenite client that must complete its handshake with `addr` within `within`; then it
/// sends `hello`, waits for the echo and closes. The receiver gets `Ok` once the handshake is
/// done, or the error.
pub fn late_client(
    addr: std::net::SocketAddr,
    within: Duration,
) -> (
    crossbeam_channel::Receiver<Result<(), String>>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let t = std::thread::spawn(move || {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
        s.set_read_timeout(Some(within))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut ws = match tungstenite::client(format!("ws://{addr}/late"), s) {
            Ok((ws, _)) => ws,
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
                return;
            }
        };
        let _ = tx.send(Ok(()));
        // The echo comes once the consumer has caught up: a longer wait from here.
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap_or_else(|e| panic!("{e}"));
        ws.send(tungstenite::Message::text("hello"))
            .unwrap_or_else(|e| panic!("{e}"));
        let echo = ws.read().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(echo, tungstenite::Message::text("hello"));
        let _ = ws.close(None);
        while ws.read().is_ok() {}
    });
    (rx, t)
}

/// A tungstenite echo server for one connection over `stream` (plain TCP, or TLS): it agrees to
/// the subprotocol `chat` when offered and echoes every text and binary message.
#[allow(clippy::result_large_err)] // tungstenite's callback type, not ours
pub fn tungstenite_echo<S: Read + Write>(stream: S) {
    use tungstenite::handshake::server::{Request, Response};
    let Ok(mut ws) = tungstenite::accept_hdr(stream, |req: &Request, mut resp: Response| {
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
    }) else {
        return;
    };
    while let Ok(msg) = ws.read() {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).is_err() {
            return;
        }
    }
}

/// Reads until the closing handshake is over (tungstenite's `ConnectionClosed`); any other
/// error fails the test, naming `what`.
pub fn read_until_closed<S: Read + Write>(ws: &mut tungstenite::WebSocket<S>, what: &str) {
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => return,
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Starts a server with `config` on a free loopback port; its events come on the receiver.
pub fn start_server(
    config: ServerConfig,
) -> (
    server::ServerHandle,
    crossbeam_channel::Receiver<Vec<Event>>,
) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let handle = server::start(ServerConfig { port: 0, ..config }, tx, Arc::new(|| {}))
        .unwrap_or_else(|e| panic!("{e}"));
    (handle, rx)
}

/// What a client or proxy under test publishes through: its own clock and numbering, events to
/// `tx`, in flight counted by no one.
pub fn peer_context(tx: crossbeam_channel::Sender<Vec<Event>>) -> wsscope::client::Context {
    wsscope::client::Context {
        clock: wsscope::event::Clock::start(),
        conn_ids: Arc::new(std::sync::atomic::AtomicU64::new(1)),
        events: tx,
        waker: None,
        in_flight: None,
    }
}

/// Per connection and direction: the TCP bytes written and the gaps, in order. Asserts that
/// each gap starts where the bytes before it end (nothing missing unsaid) and returns how far
/// each direction goes.
pub fn stream_ends(
    events: &[Event],
) -> std::collections::HashMap<(wsscope::event::ConnId, usize), u64> {
    let mut at: std::collections::HashMap<(wsscope::event::ConnId, usize), u64> =
        std::collections::HashMap::new();
    for e in events {
        match &e.kind {
            EventKind::Tcp { direction, bytes } => {
                *at.entry((e.conn, direction.index())).or_default() += bytes.len() as u64;
            }
            EventKind::Error(wsscope::event::ErrorKind::Gap {
                direction,
                offset,
                missing,
                ..
            }) => {
                let pos = at.entry((e.conn, direction.index())).or_default();
                assert_eq!(
                    *offset, *pos,
                    "a gap of #{} not where its bytes end",
                    e.conn
                );
                *pos = pos.saturating_add(*missing);
            }
            _ => {}
        }
    }
    at
}
