//! Issue #14, a stalled consumer stalls no one, over real sockets: when the consumer (the window,
//! a paused pager) lags, the server pauses reading from the connections that produce the most,
//! so a quiet client still gets its echoes while a flood waits; past the ceiling it pauses every
//! WebSocket, so many producers at once cannot hold more memory; once the consumer drains again
//! everything resumes and nothing is lost.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::Message as M;
use wsscope::event::{Direction, Event, EventKind, LimitKind};
use wsscope::protocol::OpCode;
use wsscope::server::{ServerConfig, Supervisor};

mod common;
use common::frame;

const WAIT: Duration = Duration::from_secs(10);

/// A small bound keeps the tests fast: 256 KiB (the ceiling is then 1.25 MiB).
const BOUND: usize = 256 << 10;

/// Each flooded message: its number (8 bytes, big-endian), then filler.
const FLOOD_MESSAGE: usize = 16 << 10;

fn config(event_loops: usize) -> ServerConfig {
    ServerConfig {
        port: 0,
        event_loops,
        max_in_flight: BOUND,
        ..ServerConfig::default()
    }
}

/// What the tests keep of the events (not the TCP bytes: a flood makes many).
fn kept(e: &Event) -> bool {
    matches!(
        e.kind,
        EventKind::Message { .. } | EventKind::Limit { .. } | EventKind::Closed { .. }
    )
}

/// Drains into `seen` until `done` holds (for what was seen).
fn drain_until(
    sup: &mut Supervisor,
    seen: &mut Vec<Event>,
    what: &str,
    done: impl Fn(&[Event]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        sup.drain(Duration::from_millis(20), |b| {
            seen.extend(b.into_iter().filter(kept));
        });
        if done(seen) {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("{what} did not happen");
}

fn closed(seen: &[Event], id: u64) -> bool {
    seen.iter()
        .any(|e| e.conn == id && matches!(e.kind, EventKind::Closed { .. }))
}

/// The payloads of connection `id`'s messages one way.
fn messages(seen: &[Event], id: u64, direction: Direction) -> Vec<&[u8]> {
    seen.iter()
        .filter(|e| e.conn == id)
        .filter_map(|e| match &e.kind {
            EventKind::Message {
                direction: d,
                message,
            } if *d == direction => Some(&message.payload[..]),
            _ => None,
        })
        .collect()
}

/// The pause limits seen on connection `id`.
fn pauses(seen: &[Event], id: u64, kind: LimitKind) -> Vec<(u64, u64)> {
    seen.iter()
        .filter(|e| e.conn == id)
        .filter_map(|e| match e.kind {
            EventKind::Limit {
                kind: k,
                limit,
                actual,
            } if k == kind => Some((limit, actual)),
            _ => None,
        })
        .collect()
}

/// Waits (up to `within`) until `n` has not changed for `quiet`; returns its value then.
fn settles(n: impl Fn() -> usize, quiet: Duration, within: Duration) -> Option<usize> {
    let deadline = Instant::now() + within;
    let mut last = n();
    let mut since = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let now = n();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return Some(last);
        }
    }
    None
}

/// A client that sends numbered binary messages of [`FLOOD_MESSAGE`] bytes as fast as the server
/// takes them, and checks on a thread of its own that their echoes come back complete and in
/// order, until stopped; then it closes with 1000.
struct BigFlood {
    stop: Arc<AtomicBool>,
    /// Echoes received so far: when it stops growing, the server stopped reading the flood.
    echoed: Arc<AtomicUsize>,
    writer: JoinHandle<usize>,
    reader: JoinHandle<()>,
}

impl BigFlood {
    fn start(addr: SocketAddr) -> Self {
        // The echoes stop while the flood is paused: no read timeout.
        let mut s = common::upgraded(addr);
        let mut r = s.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let echoed = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&echoed);
        let reader = std::thread::spawn(move || {
            // The server's frames are unmasked (§5.1); it does not fragment its echoes.
            let mut next = 0u64;
            loop {
                let mut h = [0u8; 2];
                if r.read_exact(&mut h).is_err() {
                    panic!("the connection ended before the server's close");
                }
                let len = match h[1] & 0x7f {
                    126 => {
                        let mut l = [0u8; 2];
                        r.read_exact(&mut l).unwrap_or_else(|e| panic!("{e}"));
                        u64::from(u16::from_be_bytes(l))
                    }
                    127 => {
                        let mut l = [0u8; 8];
                        r.read_exact(&mut l).unwrap_or_else(|e| panic!("{e}"));
                        u64::from_be_bytes(l)
                    }
                    n => u64::from(n),
                };
                let mut payload = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
                r.read_exact(&mut payload).unwrap_or_else(|e| panic!("{e}"));
                match h[0] & 0x0f {
                    0x2 => {
                        let mut n = [0u8; 8];
                        n.copy_from_slice(&payload[..8]);
                        assert_eq!(u64::from_be_bytes(n), next, "echoes in order");
                        assert_eq!(payload.len(), FLOOD_MESSAGE);
                        next += 1;
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    0x8 => return,
                    op => panic!("unexpected opcode {op}"),
                }
            }
        });
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let writer = std::thread::spawn(move || {
            let mut n = 0u64;
            let mut payload = vec![0x5a; FLOOD_MESSAGE];
            while !flag.load(Ordering::Relaxed) {
                payload[..8].copy_from_slice(&n.to_be_bytes());
                // Blocks while the server does not read us.
                s.write_all(&frame(OpCode::Binary, true, &payload))
                    .unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
            s.write_all(&frame(OpCode::Close, true, &1000u16.to_be_bytes()))
                .unwrap_or_else(|e| panic!("{e}"));
            usize::try_from(n).unwrap_or(usize::MAX)
        });
        Self {
            stop,
            echoed,
            writer,
            reader,
        }
    }

    fn echoed(&self) -> usize {
        self.echoed.load(Ordering::Relaxed)
    }

    /// Asks the writer to stop after its current write (it completes once the server reads
    /// again), and close.
    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for the close; returns how many messages were sent, every one of them echoed.
    fn join(self) -> usize {
        self.stop();
        let sent = self
            .writer
            .join()
            .unwrap_or_else(|_| panic!("the flood's writer failed"));
        self.reader
            .join()
            .unwrap_or_else(|_| panic!("the flood's reader failed"));
        assert_eq!(
            self.echoed.load(Ordering::Relaxed),
            sent,
            "every flooded message was echoed"
        );
        sent
    }
}

/// One client floods big messages and nobody drains: the flood is paused at the bound, and a
/// quiet client (a student sending one message at a time) still gets each echo at once, on
/// the same event loop (`event_loops` 1) or another one (2). Once the consumer drains the flood
/// resumes, and every message is echoed in order and captured.
fn a_quiet_client_is_served_while_a_flood_waits(event_loops: usize) {
    let cfg = config(event_loops);
    let ceiling = cfg.in_flight_ceiling();
    let mut sup = Supervisor::new(None);
    let addr = sup
        .start(cfg)
        .unwrap_or_else(|e| panic!("cannot start: {e}"));
    let flood = BigFlood::start(addr);
    let stalled = settles(|| flood.echoed(), Duration::from_millis(500), WAIT)
        .unwrap_or_else(|| panic!("the flood was never paused with nothing drained"));
    assert!(stalled > 0, "the flood was echoed at first");
    let held = sup.in_flight();
    // Paused as the busiest, past the bound by one read's events: not by the ceiling.
    assert!(
        held > BOUND && held <= ceiling,
        "{held} bytes in flight (bound {BOUND}, ceiling {ceiling})"
    );

    // The quiet client: connection 2.
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut quiet, _) = tungstenite::client(format!("ws://{addr}/quiet"), s)
        .unwrap_or_else(|e| panic!("the quiet client's handshake: {e}"));
    for i in 0..3 {
        let text = format!("question {i}");
        quiet
            .send(M::text(text.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        match quiet.read() {
            Ok(echo) => assert_eq!(echo, M::text(text)),
            Err(e) => panic!("no echo for the quiet client while the flood waits: {e}"),
        }
    }
    // Its closing handshake completes too.
    quiet.close(None).unwrap_or_else(|e| panic!("{e}"));
    common::read_until_closed(&mut quiet, "the quiet client's close");
    // Meanwhile the flood stayed paused, and what is in flight under the ceiling.
    assert_eq!(
        flood.echoed(),
        stalled,
        "the flood was read with nothing drained"
    );
    let held = sup.in_flight();
    assert!(
        held <= ceiling,
        "{held} bytes in flight (ceiling {ceiling})"
    );

    // The consumer catches up: the flood resumes.
    let mut seen = Vec::new();
    drain_until(&mut sup, &mut seen, "the flood resumed", |_| {
        flood.echoed() > stalled + 100
    });
    flood.stop();
    drain_until(&mut sup, &mut seen, "both connections closed", |s| {
        closed(s, 1) && closed(s, 2)
    });
    let sent = flood.join();
    let numbers = |d| -> Vec<u64> {
        messages(&seen, 1, d)
            .iter()
            .map(|p| {
                assert_eq!(p.len(), FLOOD_MESSAGE);
                let mut n = [0u8; 8];
                n.copy_from_slice(&p[..8]);
                u64::from_be_bytes(n)
            })
            .collect()
    };
    let all: Vec<u64> = (0..sent as u64).collect();
    assert_eq!(
        numbers(Direction::ClientToServer),
        all,
        "every message captured, in order"
    );
    assert_eq!(
        numbers(Direction::ServerToClient),
        all,
        "every echo captured, in order"
    );
    assert_eq!(
        messages(&seen, 2, Direction::ClientToServer),
        [&b"question 0"[..], b"question 1", b"question 2"]
    );
    // The window says which connection was paused, and that it was not everyone.
    let flood_pauses = pauses(&seen, 1, LimitKind::ReadsPaused);
    assert!(
        !flood_pauses.is_empty(),
        "the flood's pause was not reported"
    );
    assert!(flood_pauses
        .iter()
        .all(|&(limit, actual)| limit == BOUND as u64 && actual > limit));
    assert!(pauses(&seen, 2, LimitKind::ReadsPaused).is_empty());
    assert!(pauses(&seen, 0, LimitKind::AllReadsPaused).is_empty());
    sup.shutdown(Duration::from_secs(1), |_| {});
}

#[test]
fn a_quiet_client_on_the_floods_event_loop_gets_its_echoes() {
    a_quiet_client_is_served_while_a_flood_waits(1);
}

#[test]
fn a_quiet_client_on_another_event_loop_gets_its_echoes() {
    a_quiet_client_is_served_while_a_flood_waits(2);
}

/// Many clients each sending one big message at once, nobody draining: each is under its fair
/// share before its first read, but together they would hold about 14 MiB of events. Past the
/// ceiling no WebSocket is read: what is in flight stays under the ceiling plus one read's events
/// (about 770 KiB: a 128 KiB read and its echo, each way the bytes, frames and messages). Once the
/// consumer drains, every client gets its echo.
#[test]
fn many_producers_cannot_push_in_flight_past_the_ceiling() {
    const N: usize = 24;
    const SIZE: usize = 96 << 10;
    let cfg = config(1);
    let ceiling = cfg.in_flight_ceiling();
    let mut sup = Supervisor::new(None);
    let addr = sup
        .start(cfg)
        .unwrap_or_else(|e| panic!("cannot start: {e}"));
    let (sent_tx, sent_rx) = crossbeam_channel::unbounded();
    let echoed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<JoinHandle<()>> = (0..N)
        .map(|i| {
            let sent = sent_tx.clone();
            let echoed = Arc::clone(&echoed);
            std::thread::spawn(move || {
                let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
                s.set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap_or_else(|e| panic!("{e}"));
                let (mut ws, _) = tungstenite::client(format!("ws://{addr}/many"), s)
                    .unwrap_or_else(|e| panic!("handshake {i}: {e}"));
                let payload = vec![i as u8; SIZE];
                ws.send(M::binary(payload.clone()))
                    .unwrap_or_else(|e| panic!("{e}"));
                let _ = sent.send(());
                let echo = ws.read().unwrap_or_else(|e| panic!("echo {i}: {e}"));
                assert_eq!(echo, M::binary(payload));
                echoed.fetch_add(1, Ordering::Relaxed);
                ws.close(None).unwrap_or_else(|e| panic!("{e}"));
                while ws.read().is_ok() {}
            })
        })
        .collect();
    for _ in 0..N {
        sent_rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("a client could not send: {e}"));
    }
    let held = settles(|| sup.in_flight(), Duration::from_millis(500), WAIT)
        .unwrap_or_else(|| panic!("what is in flight kept changing with nothing drained"));
    assert!(
        held > ceiling,
        "{held} bytes in flight: the clients never reached the ceiling ({ceiling})"
    );
    assert!(
        held <= ceiling + (800 << 10),
        "{held} bytes in flight, past the ceiling ({ceiling}) by more than one read's events"
    );
    let early = echoed.load(Ordering::Relaxed);
    assert!(early < N, "every client was served with nothing drained");

    let mut seen = Vec::new();
    drain_until(&mut sup, &mut seen, "every client closed", |s| {
        (1..=N as u64).all(|id| closed(s, id))
    });
    for c in clients {
        c.join().unwrap_or_else(|_| panic!("a client failed"));
    }
    let mut fills: Vec<u8> = (1..=N as u64)
        .map(|id| {
            let got = messages(&seen, id, Direction::ClientToServer);
            assert_eq!(got.len(), 1, "connection {id}");
            assert_eq!(messages(&seen, id, Direction::ServerToClient), got);
            assert_eq!(got[0].len(), SIZE);
            assert!(got[0].iter().all(|&b| b == got[0][0]));
            got[0][0]
        })
        .collect();
    fills.sort_unstable();
    assert_eq!(fills, (0..N as u8).collect::<Vec<_>>());
    // The window says every WebSocket was paused, and why.
    let all = pauses(&seen, 0, LimitKind::AllReadsPaused);
    assert!(!all.is_empty(), "the ceiling's pause was not reported");
    assert!(all
        .iter()
        .all(|&(limit, actual)| limit == ceiling as u64 && actual > limit));
    sup.shutdown(Duration::from_secs(1), |_| {});
}
