//! The capture store fed by the real server: counts, message grouping, and the memory budget
//! (oldest payloads evicted and counted, headers kept).

use std::time::Duration;

mod common;
use common::{events_of_writes, frame, REQUEST};
use wsscope::capture::{Capture, ConnState};
use wsscope::event::{Direction, Event, EventKind};
use wsscope::protocol::{close_payload_bytes, encode_frame, FrameHeader, OpCode};

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
        .messages_from(0)
        .filter(|(_, m)| m.direction == Direction::ClientToServer)
        .collect();
    assert_eq!(incoming.len(), 1);
    let (_, m) = incoming[0];
    assert_eq!(c.message_payload(m).as_deref(), Some(&b"Hello"[..]));
    // The message points at its two data frames, and they point back; the ping belongs to none.
    let frames = m.frames();
    assert_eq!(frames.len(), 2);
    for &f in frames {
        assert_eq!(
            c.frame_record(f).and_then(|r| r.message()),
            Some(incoming[0].0)
        );
    }
    assert!(c
        .frames_from(0)
        .any(|(_, f)| f.header.opcode == OpCode::Ping && f.message().is_none()));
    assert_eq!(conn.frame_seqs().len(), 7);
}

/// What the store keeps is what was decoded: every frame of a real session, rebuilt from its
/// compact record and the byte log, equals the frame event, header bytes included (a
/// non-minimal 16-bit length stays non-minimal).
#[test]
fn every_frame_is_rebuilt_exactly() {
    let mut long = FrameHeader::new(OpCode::Text, 5, Some([1, 2, 3, 4]));
    long.len_encoding = wsscope::protocol::LenEncoding::Sixteen;
    let mut wire = frame(OpCode::Text, false, "你好".as_bytes());
    wire.extend(frame(OpCode::Continuation, true, b" world"));
    wire.extend(frame(OpCode::Binary, true, &[0xff; 70_000]));
    // Breaks §5.2 (the server closes with 1002), so it comes last.
    encode_frame(long, b"wide!", &mut wire);
    let events = events_of_writes(&[REQUEST.as_bytes(), &wire], Duration::ZERO);
    let mut c = Capture::new(64 << 20);
    let mut frames = Vec::new();
    for e in events {
        if let EventKind::Frame { frame, .. } = &e.kind {
            frames.push((**frame).clone());
        }
        c.ingest(e);
    }
    assert!(frames.len() >= 7, "{} frames", frames.len());
    for (seq, f) in frames.iter().enumerate() {
        assert_eq!(c.frame(seq as u64).as_ref(), Some(f), "frame {seq}");
    }
    // Nothing was dropped, and the store says what it holds.
    assert_eq!(c.dropped, Default::default());
    assert!(
        c.memory() > 140_000 && c.memory() <= 64 << 20,
        "{}",
        c.memory()
    );
}

/// A frame's payload is kept once: the server's echoes point at the bytes of the write that
/// carried them, the client's masked frames at their read (unmasked when read), instead of
/// copying them into the store again. The same events with every frame payload in memory of its
/// own (as a capture file reads back) are stored with copies, and both stores rebuild every
/// frame exactly.
#[test]
fn payloads_share_the_bytes_of_their_tcp_call() {
    // One write per frame, apart, so that each arrives in one read (as a 64 KiB echo does).
    let mut writes = vec![REQUEST.as_bytes().to_vec()];
    for i in 0..20u8 {
        writes.push(frame(OpCode::Binary, true, &[i; 50_000]));
    }
    let events = events_of_writes(&writes, Duration::from_millis(20));
    let copied: Vec<Event> = events
        .iter()
        .cloned()
        .map(|mut e| {
            if let EventKind::Frame { frame, .. } = &mut e.kind {
                frame.payload = bytes::Bytes::copy_from_slice(&frame.payload);
            }
            e
        })
        .collect();
    let frames_of = |events: &[Event]| -> Vec<wsscope::protocol::Frame> {
        events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Frame { frame, .. } => Some((**frame).clone()),
                _ => None,
            })
            .collect()
    };
    let echoed = frames_of(&events)
        .iter()
        .filter(|f| f.header.mask_key.is_none())
        .map(|f| f.payload.len())
        .sum::<usize>();
    assert!(echoed >= 1_000_000, "{echoed} bytes echoed");
    let budget = 8 << 20;
    let store = |events: Vec<Event>| {
        let frames = frames_of(&events);
        let mut c = Capture::new(budget);
        for e in events {
            c.ingest(e);
        }
        for (seq, f) in frames.iter().enumerate() {
            assert_eq!(c.frame(seq as u64).as_ref(), Some(f), "frame {seq}");
        }
        assert_eq!(c.dropped, Default::default());
        c.memory()
    };
    let tcp: usize = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Tcp { bytes, .. } => Some(bytes.len()),
            _ => None,
        })
        .sum();
    // A capture file can say a masked frame carried other bytes than its read: what it says is
    // kept, not the read's bytes unmasked.
    let mut tampered = events.clone();
    for e in &mut tampered {
        if let EventKind::Frame { frame, .. } = &mut e.kind {
            if frame.header.mask_key.is_some() && !frame.payload.is_empty() {
                let mut p = frame.payload.to_vec();
                p[0] ^= 0xff;
                frame.payload = p.into();
            }
        }
    }
    store(tampered);
    let shared = store(events);
    let own = store(copied);
    // Masked payloads (the client's) are kept as the masked bytes of their TCP read, unmasked
    // when read: the store holds little more than the TCP bytes (records, a partly filled chunk).
    assert!(
        shared <= tcp + 3 * (budget / 64),
        "{shared} bytes held for {tcp} TCP bytes"
    );
    // The log grows in chunks (a 64th of the budget): what is saved is the echoed payloads,
    // give or take two chunks.
    let chunk = budget / 64;
    let saved = own.saturating_sub(shared);
    assert!(
        saved + 2 * chunk >= echoed && saved <= echoed + 2 * chunk,
        "{shared} bytes held sharing, {own} copying, {echoed} echoed"
    );
}

/// The budget holds after every event, and when it is full the oldest records go whole: a kept
/// frame always has all of its payload, and the window can say from when the capture is complete.
#[test]
fn budget_drops_oldest_records_whole() {
    let mut wire = Vec::new();
    for i in 0..40u8 {
        wire.extend(frame(OpCode::Binary, true, &[i; 10_000]));
    }
    wire.extend(frame(OpCode::Close, true, &close_payload_bytes(1000, "")));
    let budget = 300_000;
    let mut c = Capture::new(budget);
    for e in events_of_writes(&[REQUEST.as_bytes(), &wire], Duration::ZERO) {
        c.ingest(e);
        assert!(c.memory() <= budget, "{} bytes held", c.memory());
    }
    assert!(c.dropped.frames > 0 && c.dropped.messages > 0 && c.dropped.tcp_calls > 0);
    assert!(c.dropped.since.is_some());
    assert_eq!(c.first_frame(), c.dropped.frames);
    // The newest frames are kept, each whole.
    assert!(c.frame_count() > 2);
    let last = c.frames_seen() - 1;
    for (seq, r) in c.frames_from(0) {
        let f = c
            .frame(seq)
            .unwrap_or_else(|| panic!("frame {seq} listed but not kept"));
        assert_eq!(f.payload.len() as u64, r.header.payload_len);
    }
    assert!(c.frame(last).is_some());
    assert!(c.frame(0).is_none());
    // A kept message has its payload.
    for (_, m) in c.messages_from(0) {
        assert_eq!(c.message_payload(m).map(|p| p.len() as u64), Some(m.len));
    }
}

/// Squeezed below its budget (the window's resident memory was too large), the store drops its
/// oldest records at once, whole and counted as a full budget does, and holds the lower limit
/// until it is lifted.
#[test]
fn a_squeezed_store_drops_oldest_records_at_once_and_holds_the_lower_limit() {
    let mut wire = Vec::new();
    for i in 0..40u8 {
        wire.extend(frame(OpCode::Binary, true, &[i; 10_000]));
    }
    let budget = 4 << 20;
    let events = events_of_writes(&[REQUEST.as_bytes(), &wire], Duration::ZERO);
    let (first, rest) = events.split_at(events.len() / 2);
    let mut c = Capture::new(budget);
    first.iter().cloned().for_each(|e| c.ingest(e));
    let held = c.memory();
    assert_eq!(c.dropped.frames, 0);
    assert!(held > 200_000, "{held}");
    let to = held / 2;
    c.squeeze(Some(to), 300 << 20);
    assert_eq!(c.limit(), to);
    assert!(
        c.memory() <= to,
        "{} bytes held, squeezed to {to}",
        c.memory()
    );
    assert!(c.dropped.frames > 0 && c.dropped.since.is_some());
    assert_eq!(c.first_frame(), c.dropped.frames);
    for e in rest.iter().cloned() {
        c.ingest(e);
        assert!(
            c.memory() <= to,
            "{} bytes held, squeezed to {to}",
            c.memory()
        );
    }
    for (seq, r) in c.frames_from(0) {
        let kept = c.frame(seq).map(|f| f.payload.len() as u64);
        assert_eq!(kept, Some(r.header.payload_len), "frame {seq}");
    }
    c.squeeze(None, 100 << 20);
    assert_eq!((c.limit(), c.squeezed), (budget, None));
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
    let mut c = capture_of_writes(&writes, Duration::from_millis(150), 1 << 20);
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
            .flat_map(|&t| {
                let r = c.tcp(t).unwrap_or_else(|| panic!("call {t}"));
                c.tcp_bytes(r)
                    .unwrap_or_else(|| panic!("bytes of {t}"))
                    .to_vec()
            })
            .collect();
        assert_eq!(stream.len() as u64, conn.bytes[d.index()]);
        let frames = c.frames_in(conn, d);
        assert!(!frames.is_empty());
        for &i in &frames {
            let r = c.frame_record(i).unwrap_or_else(|| panic!("frame {i}"));
            let f = c.frame(i).unwrap_or_else(|| panic!("frame {i}"));
            let span = conn.frame_span(r).unwrap_or_else(|| panic!("no span"));
            let at = &stream[span.start as usize..span.end as usize];
            assert_eq!(at, f.wire_bytes().as_slice(), "{d:?} frame {i}");
            assert!(c.call_at(conn, d, span.start).is_some());
        }
    }
    // Clearing forgets the calls and frames, and so the counts that describe them.
    c.clear();
    assert_eq!(c.connections[0].stream[0].sticky_calls, 0);
    assert_eq!(c.connections[0].stream[0].split_frames, 0);
    assert_eq!(c.frame_count(), 0);
}

/// The budget drops TCP calls oldest first across connections, including a connection that
/// keeps sending after another one opened.
#[test]
fn tcp_calls_are_dropped_oldest_first_across_connections() {
    let budget = 256 << 10;
    let mut c = Capture::new(budget);
    let calls = 2000u64;
    for i in 0..calls {
        for conn in [1, 2] {
            c.ingest(Event {
                conn,
                time: Duration::from_millis(i),
                kind: EventKind::Tcp {
                    direction: Direction::ClientToServer,
                    bytes: bytes::Bytes::from(vec![i as u8; 100]),
                },
            });
        }
        assert!(c.memory() <= budget, "{} bytes held", c.memory());
    }
    assert!(c.dropped.tcp_calls > 0);
    // Both connections keep their newest calls, with their bytes, and lost their oldest.
    for conn in &c.connections {
        let kept = conn.tcp_of(Direction::ClientToServer);
        let last = kept
            .back()
            .and_then(|&t| c.tcp(t))
            .unwrap_or_else(|| panic!("none"));
        assert_eq!(last.offset, (calls - 1) * 100);
        assert_eq!(
            c.tcp_bytes(last).as_deref(),
            Some(&[(calls - 1) as u8; 100][..])
        );
        assert!(kept
            .front()
            .is_some_and(|&t| c.tcp(t).is_some_and(|r| r.offset > 0)));
        assert_eq!(conn.bytes[0], calls * 100);
    }
    assert_eq!(c.dropped.tcp_bytes, c.dropped.tcp_calls * 100);
}

/// Connection churn: thousands of short connections, each with a handshake and a close, stay
/// within the budget: closed connections go once nothing of theirs is left.
#[test]
fn closed_connections_are_dropped_under_churn() {
    let events = events_of_writes(
        &[
            REQUEST.as_bytes(),
            &frame(OpCode::Close, true, &close_payload_bytes(1000, "")),
        ],
        Duration::ZERO,
    );
    let budget = 512 << 10;
    let mut c = Capture::new(budget);
    for n in 0..3000u64 {
        for e in &events {
            let mut e = e.clone();
            if e.conn != 0 {
                e.conn += n * 10;
            }
            c.ingest(e);
        }
        assert!(c.memory() <= budget, "{} bytes held", c.memory());
    }
    assert!(c.dropped.connections > 0);
    assert!(c.connections.len() < 3000);
    // The newest connection is still there, with its handshake.
    let last = c.connections.last().unwrap_or_else(|| panic!("none"));
    assert!(last.handshake.is_some());
    assert_eq!(c.connection(last.id).map(|x| x.id), Some(last.id));
}

/// The filter's terms over a real session, and a bad query named instead of matching nothing
/// silently.
#[test]
fn the_filter_finds_frames_by_every_term() {
    use wsscope::capture::filter::{FrameFilter, QueryError};
    let mut wire = frame(OpCode::Text, true, b"Hello World");
    wire.extend(frame(OpCode::Binary, true, &[7; 2000]));
    wire.extend(frame(OpCode::Ping, true, b"p"));
    wire.extend(frame(OpCode::Close, true, &close_payload_bytes(1000, "")));
    let c = capture_of(&wire, 1 << 20);
    let count = |q: &str| {
        let mut f = FrameFilter::default();
        while f.update(q, None, &c, Duration::from_secs(5)) {}
        assert!(f.error().is_none(), "{q}: {:?}", f.error());
        f.rows().len()
    };
    // In: text, binary, ping, close. Out: text, binary, pong, close.
    assert_eq!(count(""), 8);
    assert_eq!(count("c->s"), 4);
    assert_eq!(count("s->c op:pong"), 1);
    assert_eq!(count("op:2"), 2);
    assert_eq!(count("len>1000"), 2);
    assert_eq!(count("len<=2 c->s"), 2, "the ping and the close");
    assert_eq!(count("world"), 2, "case ignored, both ways");
    assert_eq!(count("/W.rld/"), 2);
    assert_eq!(count("/^Hello$/"), 0);
    assert_eq!(count("#1 text"), 2);
    assert_eq!(count("#2"), 0);
    assert_eq!(count("!"), 0);
    let mut f = FrameFilter::default();
    f.update("/(/", None, &c, Duration::from_secs(5));
    assert!(matches!(f.error(), Some(QueryError::Regex(p, _)) if p == "("));
    assert!(f.rows().is_empty());
    f.update("len>x", None, &c, Duration::from_secs(5));
    assert!(matches!(f.error(), Some(QueryError::Term(t)) if t == "len>x"));
}
