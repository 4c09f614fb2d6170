//! The capture store fed by the real server: counts, message grouping, and the memory budget
//! (oldest payloads evicted and counted, headers kept).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsscope::capture::{Capture, ConnState};
use wsscope::event::{Direction, Event, EventKind};
use wsscope::protocol::{close_payload_bytes, encode_frame, FrameHeader, OpCode};
use wsscope::server::{self, ServerConfig};

const REQUEST: &str =
    "GET /lab HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut h = FrameHeader::new(opcode, 0, Some([9, 8, 7, 6]));
    h.fin = fin;
    let mut v = Vec::new();
    encode_frame(h, payload, &mut v);
    v
}

/// Runs one scripted client against an echo server and returns the capture of it.
fn capture_of(wire: &[u8], budget: usize) -> Capture {
    capture_of_writes(&[REQUEST.as_bytes(), wire], Duration::ZERO, budget)
}

/// The same, with the client's bytes in these writes, `pause` apart (so the server's reads
/// see them apart).
fn capture_of_writes(writes: &[&[u8]], pause: Duration, budget: usize) -> Capture {
    let mut capture = Capture::new(budget);
    for e in events_of_writes(writes, pause) {
        capture.ingest(e);
    }
    capture
}

/// Every event of one scripted client's connection to an echo server, up to its close.
fn events_of_writes(writes: &[&[u8]], pause: Duration) -> Vec<Event> {
    let (tx, rx) = crossbeam_channel::bounded(64);
    let handle = server::start(
        ServerConfig {
            port: 0,
            ..ServerConfig::default()
        },
        tx,
        Arc::new(|| {}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut s = TcpStream::connect(handle.local_addr()).unwrap_or_else(|e| panic!("{e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("{e}"));
    for w in writes {
        s.write_all(w).unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(pause);
    }
    let mut events = Vec::new();
    let reader = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    });
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

/// Events are data that survives a file: every event of a real connection (handshake, frames
/// both ways, a fragmented message, a close) written as JSON lines reads back equal, and the
/// first one is the wall-clock anchor of the capture's times.
#[test]
fn every_event_reads_back_from_json_lines() {
    let mut wire = frame(OpCode::Text, false, b"Hel");
    wire.extend(frame(OpCode::Continuation, true, b"lo"));
    wire.extend(frame(OpCode::Binary, true, &[0, 1, 2, 255]));
    wire.extend(frame(
        OpCode::Close,
        true,
        &close_payload_bytes(1000, "bye"),
    ));
    let events = events_of_writes(&[REQUEST.as_bytes(), &wire], Duration::ZERO);
    assert!(
        matches!(events.first().map(|e| &e.kind), Some(EventKind::Clock { unix_micros }) if *unix_micros > 0),
        "{:?}",
        events.first()
    );
    let lines: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap_or_else(|err| panic!("{err}: {e:?}")))
        .collect();
    assert!(lines.iter().all(|l| !l.contains('\n')));
    let back: Vec<Event> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|err| panic!("{err}: {l}")))
        .collect();
    assert_eq!(back, events);
    for kind in ["handshake", "frame", "message", "tcp", "closed", "opened"] {
        assert!(
            lines.iter().any(|l| l.contains(&format!("\"{kind}\""))),
            "no {kind} event"
        );
    }
}

#[test]
fn frames_are_grouped_into_messages_and_counted() {
    let mut wire = frame(OpCode::Text, false, b"Hel");
    wire.extend(frame(OpCode::Ping, true, b"p"));
    wire.extend(frame(OpCode::Continuation, true, b"lo"));
    wire.extend(frame(OpCode::Close, true, &close_payload_bytes(1000, "")));
    let c = capture_of(&wire, 1 << 20);
    let conn = &c.connections[0];
    assert_eq!(conn.state, ConnState::Closed);
    assert_eq!(c.open_connections(), 0);
    assert_eq!(conn.path(), Some("/lab"));
    // In: text, ping, continuation, close. Out: pong, text (echo), close.
    assert_eq!(conn.frames, [4, 3]);
    let incoming: Vec<_> = c
        .messages
        .iter()
        .filter(|m| m.direction == Direction::ClientToServer)
        .collect();
    assert_eq!(incoming.len(), 1);
    assert_eq!(&incoming[0].message.payload[..], b"Hello");
    // The message points at its two data frames, and they point back; the ping belongs to none.
    let frames = &incoming[0].frames;
    assert_eq!(frames.len(), 2);
    for &f in frames {
        assert!(c.frames[f].message.is_some());
    }
    assert!(c
        .frames
        .iter()
        .any(|f| f.frame.header.opcode == OpCode::Ping && f.message.is_none()));
    assert_eq!(c.frames_of(conn.id).len(), 7);
}

#[test]
fn budget_evicts_oldest_payloads_and_counts_them() {
    let mut wire = Vec::new();
    for i in 0..20u8 {
        wire.extend(frame(OpCode::Binary, true, &[i; 10_000]));
    }
    wire.extend(frame(OpCode::Close, true, &close_payload_bytes(1000, "")));
    let c = capture_of(&wire, 100_000);
    assert!(c.payload_bytes <= 100_000, "{} bytes kept", c.payload_bytes);
    assert!(c.evicted_frames > 0);
    // Every frame is still listed with its header; the newest payloads are kept.
    assert_eq!(c.frames.len(), 20 * 2 + 2);
    assert!(c
        .frames
        .iter()
        .all(|f| f.frame.header.payload_len > 0 || f.frame.header.opcode == OpCode::Close));
    let last_data = c
        .frames
        .iter()
        .rev()
        .find(|f| f.frame.header.opcode == OpCode::Binary);
    assert!(last_data.is_some_and(|f| f.frame.payload_captured && f.frame.payload.len() == 10_000));
    assert!(!c.frames[0].frame.payload_captured);
    // A message goes with its frames: evicting only the frame would free nothing.
    let first = c.frames[0].message.and_then(|m| c.messages.get(m));
    assert!(first.is_some_and(|m| !m.payload_kept && m.message.payload.is_empty()));
}

/// The seed's point made measurable: TCP calls and frames do not line up. A read that holds the
/// handshake and a frame, or three frames, is "sticky"; a frame in two reads is "split"; and
/// every frame's bytes are found at the place of the TCP stream its offset says.
#[test]
fn frames_are_found_in_the_tcp_stream_sticky_and_split() {
    let f1 = frame(OpCode::Text, true, b"one");
    let three: Vec<u8> = [b"two".as_slice(), b"three", b"four"]
        .iter()
        .flat_map(|p| frame(OpCode::Text, true, p))
        .collect();
    let big = frame(OpCode::Binary, true, &[0x5a; 300]);
    let close = frame(OpCode::Close, true, &close_payload_bytes(1000, ""));
    let first: Vec<u8> = [REQUEST.as_bytes(), &f1].concat();
    let writes: [&[u8]; 5] = [&first, &three, &big[..10], &big[10..], &close];
    let c = capture_of_writes(&writes, Duration::from_millis(150), 1 << 20);
    // With a tiny budget every payload is evicted: the frames still took their bytes on the
    // wire, so the counts and spans are the same.
    let mut evicted = capture_of_writes(&writes, Duration::from_millis(150), 10);
    assert!(evicted.evicted_frames > 0);
    assert_eq!(evicted.connections[0].stream, c.connections[0].stream);
    for r in &evicted.frames {
        let span = evicted.connections[0]
            .frame_span(r.direction, &r.frame)
            .unwrap_or_else(|| panic!("no span"));
        assert_eq!(
            span.end - span.start,
            r.frame.header_bytes.len() as u64 + r.frame.header.payload_len
        );
    }
    // Clearing forgets the calls and frames, and so the counts that describe them.
    evicted.clear();
    assert_eq!(evicted.connections[0].stream[0].sticky_calls, 0);
    assert_eq!(evicted.connections[0].stream[0].split_frames, 0);
    let conn = &c.connections[0];
    let cs = Direction::ClientToServer;
    assert_eq!(conn.ws_start[0], Some(REQUEST.len() as u64));
    assert_eq!(conn.tcp_of(cs).len(), 5, "one read per write");
    assert_eq!(
        conn.stream[0].sticky_calls, 2,
        "handshake + frame, and three frames"
    );
    assert_eq!(conn.stream[0].split_frames, 1, "the 300-byte frame");
    for d in [Direction::ClientToServer, Direction::ServerToClient] {
        let stream: Vec<u8> = conn
            .tcp_of(d)
            .iter()
            .flat_map(|&t| conn.tcp[t].bytes.to_vec())
            .collect();
        assert_eq!(stream.len() as u64, conn.bytes[d.index()]);
        assert!(!conn.frames_in(d).is_empty());
        for &i in conn.frames_in(d) {
            let f = &c.frames[i].frame;
            let span = conn.frame_span(d, f).unwrap_or_else(|| panic!("no span"));
            let at = &stream[span.start as usize..span.end as usize];
            assert_eq!(at, f.wire_bytes().as_slice(), "{d:?} frame {i}");
            assert!(conn.call_at(d, span.start).is_some());
        }
    }
}

/// The budget evicts TCP bytes oldest first across connections, including a connection that
/// keeps sending after another one opened.
#[test]
fn tcp_bytes_are_evicted_oldest_first_across_connections() {
    let mut c = Capture::new(1000);
    for i in 0..100u64 {
        for conn in [1, 2] {
            c.ingest(Event {
                conn,
                time: Duration::from_millis(i),
                kind: EventKind::Tcp {
                    direction: Direction::ClientToServer,
                    bytes: bytes::Bytes::from(vec![0u8; 100]),
                },
            });
        }
        assert!(c.payload_bytes <= 1000, "{} bytes kept", c.payload_bytes);
    }
    // The newest calls of both connections are kept, the old ones of both evicted.
    for conn in &c.connections {
        assert!(conn.tcp.first().is_some_and(|t| t.bytes.is_empty()));
        assert!(conn.tcp.last().is_some_and(|t| t.bytes.len() == 100));
        assert_eq!(conn.tcp.iter().map(|t| t.len).sum::<usize>(), 100 * 100);
    }
    assert_eq!(c.evicted_tcp_bytes, 200 * 100 - 1000);
}
