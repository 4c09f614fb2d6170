//! The server's lifecycle (`server::Supervisor`, used by `wsscope serve` and the window) over real
//! sockets on port 0, with tungstenite as the client: restarts keep one connection numbering and
//! one time line, shutdown completes while the channel is full, the waker fires once until drained.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::Message as M;
use wsscope::event::{Direction, Event, EventKind};
use wsscope::server::{ServerConfig, StartError, Supervisor};

mod common;
use common::{late_client, Flood};

const WAIT: Duration = Duration::from_secs(10);

fn config(port: u16) -> ServerConfig {
    ServerConfig {
        port,
        ..ServerConfig::default()
    }
}

/// Drains into `seen` until `done` holds for what was seen.
fn drain_until(
    sup: &mut Supervisor,
    seen: &mut Vec<Event>,
    what: &str,
    done: impl Fn(&[Event]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        sup.drain(Duration::from_millis(20), |b| seen.extend(b));
        if done(seen) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!(
        "{what} did not happen; saw {:#?}",
        seen.iter().map(|e| (e.conn, &e.kind)).collect::<Vec<_>>()
    );
}

/// Drains until the restart under way is over; returns the new address.
fn restarted(sup: &mut Supervisor, seen: &mut Vec<Event>) -> SocketAddr {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        sup.drain(Duration::from_millis(20), |b| seen.extend(b));
        match sup.poll_restart() {
            None => std::thread::sleep(Duration::from_millis(5)),
            Some(Ok(addr)) => return addr,
            Some(Err(e)) => panic!("restart failed: {e}"),
        }
    }
    panic!("the restart did not finish");
}

fn opened(seen: &[Event]) -> Vec<u64> {
    seen.iter()
        .filter(|e| matches!(e.kind, EventKind::Opened { .. }))
        .map(|e| e.conn)
        .collect()
}

/// The index in `seen` of the first event matching `pred`.
fn position(seen: &[Event], what: &str, pred: impl Fn(&Event) -> bool) -> usize {
    seen.iter()
        .position(pred)
        .unwrap_or_else(|| panic!("no {what} in {:#?}", seen))
}

/// A client that sends `text`, reads the echo, then waits for the server's close code.
fn echo_then_close(addr: SocketAddr, text: &'static str) -> JoinHandle<Option<u16>> {
    let (mut ws, _) =
        tungstenite::connect(format!("ws://{addr}/")).unwrap_or_else(|e| panic!("{e}"));
    ws.send(M::text(text)).unwrap_or_else(|e| panic!("{e}"));
    match ws.read() {
        Ok(M::Text(t)) => assert_eq!(t.as_str(), text),
        other => panic!("no echo: {other:?}"),
    }
    std::thread::spawn(move || close_code(&mut ws))
}

/// Reads until the server's close frame; its code.
fn close_code<S: std::io::Read + std::io::Write>(
    ws: &mut tungstenite::WebSocket<S>,
) -> Option<u16> {
    loop {
        match ws.read() {
            Ok(M::Close(c)) => return c.map(|c| u16::from(c.code)),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

/// Runs `f` on a thread and fails the test if it takes longer than `limit`.
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let t = std::thread::spawn(f);
    let deadline = Instant::now() + limit;
    while !t.is_finished() {
        assert!(Instant::now() < deadline, "{what} took more than {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    t.join().unwrap_or_else(|_| panic!("{what} panicked"))
}

#[test]
fn restarts_release_the_port_and_connection_numbers_and_times_continue() {
    let mut sup = Supervisor::new(None);
    let first = sup
        .start(config(0))
        .unwrap_or_else(|e| panic!("cannot start: {e}"));
    assert_eq!(sup.local_addr(), Some(first));
    let mut seen = Vec::new();
    let client = echo_then_close(first, "before");

    // On the same port: the old server must have released it before the new one binds.
    sup.restart(config(first.port()), Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(sup.restarting());
    assert_eq!(sup.local_addr(), None);
    // A second restart while one is under way is refused, not stacked.
    assert!(matches!(
        sup.restart(config(0), Duration::from_secs(1)),
        Err(StartError::Busy)
    ));
    let second = restarted(&mut sup, &mut seen);
    assert_eq!(second, first);
    assert!(!sup.restarting());
    assert_eq!(
        client.join().unwrap_or_else(|_| panic!("client panicked")),
        Some(1001)
    );
    let client = echo_then_close(second, "after one restart");
    drain_until(&mut sup, &mut seen, "connection 2", |s| {
        opened(s).contains(&2)
    });

    // On a new port.
    sup.restart(config(0), Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let third = restarted(&mut sup, &mut seen);
    assert_ne!(third, second);
    assert_eq!(
        client.join().unwrap_or_else(|_| panic!("client panicked")),
        Some(1001)
    );
    assert!(
        TcpStream::connect(second).is_err(),
        "{second} still listens"
    );
    let client = echo_then_close(third, "after two restarts");
    drain_until(&mut sup, &mut seen, "connection 3", |s| {
        opened(s).contains(&3)
    });

    // One numbering across the three servers.
    assert_eq!(opened(&seen), [1, 2, 3]);
    // One time line: connection 2 opened after connection 1 closed (a new epoch would put it
    // near zero), and the stopped server's last events came before the new one's.
    let closed1 = position(&seen, "close of #1", |e| {
        e.conn == 1 && matches!(e.kind, EventKind::Closed { .. })
    });
    let opened2 = position(&seen, "open of #2", |e| {
        e.conn == 2 && matches!(e.kind, EventKind::Opened { .. })
    });
    assert!(closed1 < opened2);
    assert!(seen[opened2].time > seen[closed1].time);
    let listening: Vec<SocketAddr> = seen
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Listening { addr, .. } => Some(addr),
            _ => None,
        })
        .collect();
    assert_eq!(listening.last(), Some(&third));

    within(WAIT, "shutdown", move || {
        sup.shutdown(Duration::from_secs(1), |_| {});
    });
    assert_eq!(
        client.join().unwrap_or_else(|_| panic!("client panicked")),
        Some(1001)
    );
}

/// A supervisor with one event loop whose channel holds only `capacity` batches.
fn small_channel(capacity: usize) -> (Supervisor, SocketAddr) {
    let mut sup = Supervisor::new(None);
    let addr = sup
        .start(ServerConfig {
            port: 0,
            channel_capacity: capacity,
            event_loops: 1,
            ..ServerConfig::default()
        })
        .unwrap_or_else(|e| panic!("cannot start: {e}"));
    (sup, addr)
}

#[test]
fn shutdown_completes_while_the_channel_is_full() {
    let (mut sup, addr) = small_channel(8);
    // Three clients: a few batches each (the channel has room for them).
    let mut ws: Vec<_> = (0..3)
        .map(|_| {
            let (ws, _) =
                tungstenite::connect(format!("ws://{addr}/")).unwrap_or_else(|e| panic!("{e}"));
            ws
        })
        .collect();
    let mut seen = Vec::new();
    drain_until(&mut sup, &mut seen, "three connections", |s| {
        opened(s).len() == 3
    });
    // Then 300 messages, a TCP read each at most: far more batches than the channel holds,
    // and nobody drains, so the event loop soon waits on the full channel.
    let n = 100;
    let clients: Vec<_> = ws
        .drain(..)
        .enumerate()
        .map(|(c, mut ws)| {
            std::thread::spawn(move || {
                for i in 0..n {
                    ws.send(M::text(format!("{c}:{i}")))
                        .unwrap_or_else(|e| panic!("{e}"));
                }
                close_code(&mut ws)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    let seen = within(WAIT, "shutdown with a full channel", move || {
        sup.shutdown(Duration::from_secs(2), |b| seen.extend(b));
        seen
    });
    for c in clients {
        assert_eq!(
            c.join().unwrap_or_else(|_| panic!("client panicked")),
            Some(1001)
        );
    }
    // Nothing was lost on the way: every message sent, every close, and the end.
    let mut received: Vec<String> = seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Message {
                direction: Direction::ClientToServer,
                message,
            } => Some(String::from_utf8_lossy(&message.payload).into_owned()),
            _ => None,
        })
        .collect();
    received.sort();
    let mut sent: Vec<String> = (0..3)
        .flat_map(|c| (0..n).map(move |i| format!("{c}:{i}")))
        .collect();
    sent.sort();
    assert_eq!(received, sent);
    for conn in 1..=3 {
        position(&seen, "close", |e| {
            e.conn == conn
                && matches!(&e.kind, EventKind::Closed { code: Some(c), .. } if c.code() == 1001)
        });
    }
    assert!(matches!(
        seen.last().map(|e| &e.kind),
        Some(EventKind::Stopped)
    ));
}

#[test]
fn dropping_it_with_a_full_channel_stops_the_server() {
    let (mut sup, addr) = small_channel(2);
    let mut seen = Vec::new();
    let (mut ws, _) =
        tungstenite::connect(format!("ws://{addr}/")).unwrap_or_else(|e| panic!("{e}"));
    drain_until(&mut sup, &mut seen, "the connection", |s| {
        !opened(s).is_empty()
    });
    let client = std::thread::spawn(move || {
        for i in 0..50 {
            ws.send(M::text(format!("{i}")))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        close_code(&mut ws)
    });
    std::thread::sleep(Duration::from_millis(300));
    within(WAIT, "drop with a full channel", move || drop(sup));
    assert_eq!(
        client.join().unwrap_or_else(|_| panic!("client panicked")),
        Some(1001)
    );
    assert!(TcpStream::connect(addr).is_err(), "{addr} still listens");
}

#[test]
fn the_waker_runs_once_until_drained() {
    let wakes = Arc::new(AtomicUsize::new(0));
    let w = Arc::clone(&wakes);
    let mut sup = Supervisor::new(Some(Arc::new(move || {
        w.fetch_add(1, Ordering::SeqCst);
    })));
    let addr = sup
        .start(config(0))
        .unwrap_or_else(|e| panic!("cannot start: {e}"));
    let (mut ws, _) =
        tungstenite::connect(format!("ws://{addr}/")).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..10 {
        ws.send(M::text(format!("{i}")))
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = ws.read();
    }
    // Listening, the handshake and ten echoes: many batches, one wake (nobody drained).
    assert_eq!(wakes.load(Ordering::SeqCst), 1);
    let mut seen = Vec::new();
    let d = sup.drain(Duration::from_secs(1), |b| seen.extend(b));
    assert!(d.batches > 1 && !d.more && !d.finished, "{d:?}");
    ws.send(M::text("again")).unwrap_or_else(|e| panic!("{e}"));
    let _ = ws.read();
    let deadline = Instant::now() + WAIT;
    while wakes.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(wakes.load(Ordering::SeqCst), 2);
    // Commands reach the running server.
    assert!(sup.command(wsscope::event::Command::SetAutoPong(false)));
}

/// wsscope's client talks to wsscope's own server under one supervisor: both ends are captured
/// with distinct numbers on one time line, a command for the client's number reaches the
/// client, and stopping closes the client with 1001 before the supervisor is finished.
/// Drains until the client's and the server's handshakes have both been accepted.
fn both_handshakes(sup: &mut Supervisor, seen: &mut Vec<Event>) {
    drain_until(sup, seen, "both handshakes", |s| {
        s.iter()
            .filter(|e| matches!(&e.kind, EventKind::Handshake(h) if h.accepted()))
            .count()
            == 2
    });
}

#[test]
fn a_client_and_the_server_under_one_supervisor() {
    use wsscope::client::{ClientConfig, WsUrl};
    use wsscope::event::{Command, Endpoint};
    let mut sup = Supervisor::new(None);
    let addr = sup.start(config(0)).expect("start");
    let url = WsUrl::parse(&format!("ws://{addr}/chat")).expect("url");
    let id = sup.connect(ClientConfig::new(url)).expect("connect");
    let mut seen = Vec::new();
    both_handshakes(&mut sup, &mut seen);
    assert!(sup.command(Command::Text(id, "hi from the client".into())));
    // The server echoes: the client receives its own text back.
    drain_until(&mut sup, &mut seen, "the echo at the client", |s| {
        s.iter().any(|e| {
            e.conn == id
                && matches!(&e.kind, EventKind::Message { direction: Direction::ServerToClient, message } if message.payload.as_ref() == b"hi from the client")
        })
    });
    let endpoints: Vec<(u64, Endpoint)> = seen
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Opened { endpoint, .. } => Some((e.conn, endpoint)),
            _ => None,
        })
        .collect();
    assert_eq!(endpoints.len(), 2, "{endpoints:?}");
    assert!(endpoints.contains(&(id, Endpoint::Client)));
    assert!(endpoints
        .iter()
        .any(|&(c, e)| c != id && e == Endpoint::Server));
    assert_eq!(sup.clients().collect::<Vec<_>>(), [id]);
    sup.stop(Duration::from_secs(2));
    let deadline = Instant::now() + WAIT;
    while !sup
        .drain(Duration::from_millis(20), |b| seen.extend(b))
        .finished
    {
        assert!(Instant::now() < deadline, "never finished");
        std::thread::sleep(Duration::from_millis(5));
    }
    let client_close = seen.iter().find_map(|e| match &e.kind {
        EventKind::Closed { code, clean, .. } if e.conn == id => {
            Some((code.map(u16::from), *clean))
        }
        _ => None,
    });
    assert_eq!(client_close, Some((Some(1001), true)));
}

/// A proxy under the same supervisor, in front of its own server: a tungstenite client through
/// it gives three connections on one time line (the client's leg, the upstream leg, the
/// server's own), and a frame injected on the client's leg reaches the client.
#[test]
fn a_proxy_in_front_of_the_server_under_one_supervisor() {
    use wsscope::client::WsUrl;
    use wsscope::event::{Command, Endpoint};
    use wsscope::proxy::ProxyConfig;
    let mut sup = Supervisor::new(None);
    let addr = sup.start(config(0)).expect("start");
    let upstream = WsUrl::parse(&format!("ws://{addr}/")).expect("url");
    let front = sup
        .proxy(ProxyConfig::new(
            "127.0.0.1:0".parse().expect("addr"),
            upstream,
        ))
        .expect("proxy");
    let (mut ws, _) = tungstenite::connect(format!("ws://{front}/via")).expect("connect");
    let mut seen = Vec::new();
    drain_until(&mut sup, &mut seen, "three handshakes", |s| {
        s.iter()
            .filter(|e| matches!(&e.kind, EventKind::Handshake(h) if h.accepted()))
            .count()
            == 3
    });
    let leg = seen
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Opened {
                endpoint: Endpoint::ProxyToClient,
                ..
            } => Some(e.conn),
            _ => None,
        })
        .expect("client leg");
    // The relay registers its legs right after the handshakes.
    drain_until(&mut sup, &mut seen, "the relay", |s| {
        s.iter()
            .filter(|e| matches!(e.kind, EventKind::Relay { .. }))
            .count()
            == 2
    });
    assert!(sup.command(Command::Text(leg, "injected".into())));
    assert_eq!(
        ws.read().expect("read").into_text().expect("text").as_str(),
        "injected"
    );
    ws.send(M::text("round trip")).expect("send");
    assert_eq!(
        ws.read().expect("echo").into_text().expect("text").as_str(),
        "round trip"
    );
    sup.stop(Duration::from_secs(2));
    let deadline = Instant::now() + WAIT;
    while !sup
        .drain(Duration::from_millis(20), |b| seen.extend(b))
        .finished
    {
        let _ = ws.read();
        assert!(Instant::now() < deadline, "never finished");
    }
    let closed = seen
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Closed { .. }))
        .count();
    assert_eq!(closed, 3, "every connection ended");
}

/// A consumer that drains nothing stalls no one: one client floods, nobody drains, and the
/// event loop (one, shared by both clients) pauses the flood's reads at the bound instead of
/// waiting on the consumer, so a new client's handshake is answered at once. Once the consumer
/// drains again, reads resume and every event of both clients is there.
#[test]
fn a_consumer_that_drains_nothing_stalls_no_handshake() {
    let bound = 1 << 20;
    let mut sup = Supervisor::new(None);
    sup.start(ServerConfig {
        port: 0,
        event_loops: 1,
        max_in_flight: bound,
        ..ServerConfig::default()
    })
    .unwrap_or_else(|e| panic!("cannot start: {e}"));
    let addr = sup.local_addr().unwrap_or_else(|| panic!("no address"));
    let flood = Flood::start(addr);
    assert!(
        flood.stalls(Duration::from_millis(500), WAIT),
        "the server kept echoing with nothing drained"
    );
    let held = sup.in_flight();
    assert!(held > bound, "paused at {held} bytes in flight");
    // One read's events at most past the bound (a 128 KiB read of tiny frames makes many).
    assert!(held < bound + (32 << 20), "{held} bytes in flight");
    // The loop is not waiting on anyone: a new client is answered.
    let (handshake, late) = late_client(addr, Duration::from_secs(5));
    match handshake.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(())) => {}
        other => panic!("the handshake was not answered while the consumer lagged: {other:?}"),
    }
    flood.stop();
    let mut seen = Vec::new();
    let closed = |s: &[Event], id: u64| {
        s.iter()
            .any(|e| e.conn == id && matches!(e.kind, EventKind::Closed { .. }))
    };
    drain_until(&mut sup, &mut seen, "both connections closed", |s| {
        closed(s, 1) && closed(s, 2)
    });
    let sent = flood.join();
    late.join()
        .unwrap_or_else(|_| panic!("the late client failed"));
    let received = |id: u64| -> Vec<String> {
        seen.iter()
            .filter(|e| e.conn == id)
            .filter_map(|e| match &e.kind {
                EventKind::Message {
                    direction: Direction::ClientToServer,
                    message,
                } => Some(String::from_utf8_lossy(&message.payload).into_owned()),
                _ => None,
            })
            .collect()
    };
    let flooded = received(1);
    assert_eq!(flooded.len(), sent, "every flooded message was captured");
    assert!(flooded
        .iter()
        .enumerate()
        .all(|(i, m)| *m == format!("flood {i}")));
    assert_eq!(received(2), ["hello"]);
    sup.shutdown(Duration::from_secs(1), |_| {});
}

/// A client's events count in flight with the servers' (issue #14): with nothing drained, the
/// client's sends pause past the bound instead of piling events up, and once the consumer
/// drains again every message is there.
#[test]
fn a_clients_events_count_in_flight_and_wait_for_the_consumer() {
    use wsscope::client::{ClientConfig, WsUrl};
    use wsscope::event::Command;
    let bound = 1 << 20;
    let mut sup = Supervisor::new(None);
    let addr = sup
        .start(ServerConfig {
            max_in_flight: bound,
            ..config(0)
        })
        .expect("start");
    let url = WsUrl::parse(&format!("ws://{addr}/big")).expect("url");
    let id = sup.connect(ClientConfig::new(url)).expect("connect");
    let mut seen = Vec::new();
    both_handshakes(&mut sup, &mut seen);
    // 20 x 256 KiB: published at once, the client's writes and the server's reads and echoes
    // would hold about 20 MiB of events.
    const N: usize = 20;
    for i in 0..N {
        assert!(sup.command(Command::Binary(id, vec![i as u8; 256 << 10])));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let held = sup.in_flight();
    assert!(
        held > bound,
        "{held} bytes in flight: the client never reached the bound"
    );
    assert!(
        held < 8 << 20,
        "{held} bytes in flight with nothing drained: the client did not wait"
    );
    drain_until(&mut sup, &mut seen, "every echo at the client", |s| {
        s.iter()
            .filter(|e| {
                e.conn == id
                    && matches!(&e.kind, EventKind::Message { direction: Direction::ServerToClient, message } if message.payload.len() == 256 << 10)
            })
            .count()
            == N
    });
    let echoed: Vec<u8> = seen
        .iter()
        .filter(|e| e.conn == id)
        .filter_map(|e| match &e.kind {
            EventKind::Message {
                direction: Direction::ServerToClient,
                message,
            } => message.payload.first().copied(),
            _ => None,
        })
        .collect();
    assert_eq!(
        echoed,
        (0..N as u8).collect::<Vec<_>>(),
        "in order, none lost"
    );
    sup.shutdown(Duration::from_secs(1), |_| {});
}
