//! The store read back as events (`Capture::events`): a real session ingested whole gives back
//! its events; ingested under a small budget, whole records in order from where the budget cut,
//! with the dropped start said as a gap, and a pcap of it that tshark reads as the kept frames.

use std::time::Duration;

mod common;
use common::{events_of_writes, frame, tshark, tshark_run as run, REQUEST};
use wsscope::capture::Capture;
use wsscope::event::{Direction, ErrorKind, Event, EventKind, GapCause};
use wsscope::protocol::{close_payload_bytes, OpCode};

/// A session with every kind of frame: a fragmented text with a ping inside, binary, many
/// texts (in writes of their own and run together), a close.
fn session(texts: usize) -> Vec<Event> {
    let mut writes = vec![REQUEST.as_bytes().to_vec()];
    let mut w = frame(OpCode::Text, false, b"Hel");
    w.extend(frame(OpCode::Ping, true, b"p"));
    w.extend(frame(OpCode::Continuation, true, "lo, 世界".as_bytes()));
    w.extend(frame(OpCode::Binary, true, &[0, 1, 2, 255]));
    writes.push(w);
    for i in 0..texts {
        let text = format!("message {i}: {}", "x".repeat(300 + i % 50));
        // Some frames split over two writes, some writes with two frames.
        let f = frame(OpCode::Text, true, text.as_bytes());
        if i % 3 == 0 {
            let (a, b) = f.split_at(f.len() / 2);
            writes.push(a.to_vec());
            writes.push(b.to_vec());
        } else if i % 3 == 1 {
            writes.push(f);
        } else if let Some(last) = writes.last_mut() {
            last.extend(f);
        }
    }
    writes.push(frame(
        OpCode::Close,
        true,
        &close_payload_bytes(1000, "bye"),
    ));
    events_of_writes(&writes, Duration::from_millis(1))
}

/// The events a store can give back of `events`: a message at its last frame's time (the
/// store keeps no time of its own for it), the clock at zero, no `Stopped`.
fn as_stored(events: &[Event]) -> Vec<Event> {
    let mut last_frame = [Duration::ZERO; 2];
    events
        .iter()
        .filter(|e| !matches!(e.kind, EventKind::Stopped))
        .map(|e| {
            let mut e = e.clone();
            match &e.kind {
                EventKind::Frame { direction, .. } => last_frame[direction.index()] = e.time,
                EventKind::Message { direction, .. } => e.time = last_frame[direction.index()],
                // Time zero is what it says: the store gives it at zero.
                EventKind::Clock { .. } => e.time = Duration::ZERO,
                _ => {}
            }
            e
        })
        .collect()
}

fn ingest(events: &[Event], budget: usize) -> Capture {
    let mut c = Capture::new(budget);
    for e in events {
        c.ingest(e.clone());
    }
    c
}

#[test]
fn a_whole_session_comes_back_as_its_events() {
    let events = session(30);
    let c = ingest(&events, 64 << 20);
    assert_eq!(c.dropped.frames, 0);
    let back = c.events();
    let want = as_stored(&events);
    assert_eq!(back.len(), want.len());
    for (i, (b, w)) in back.iter().zip(&want).enumerate() {
        assert_eq!(b, w, "event {i}");
    }
    // Every kind is there (the comparison above would be empty-handed otherwise).
    for kind in [
        "clock",
        "listening",
        "opened",
        "tcp",
        "handshake",
        "frame",
        "message",
    ] {
        assert!(
            back.iter()
                .any(|e| serde_json::to_value(e).is_ok_and(|v| v["type"] == kind)),
            "no {kind}"
        );
    }
    assert!(matches!(
        back.last().map(|e| &e.kind),
        Some(EventKind::Closed { .. })
    ));
}

/// The stream of bytes one way, from the `Tcp` events.
fn stream(events: &[Event], d: Direction) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Tcp { direction, bytes } if *direction == d => Some(bytes.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn frames(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Frame { .. } | EventKind::Message { .. }))
        .collect()
}

#[test]
fn after_eviction_whole_records_come_back_in_order_and_the_cut_is_said() {
    let events = session(400);
    let c = ingest(&events, 96 << 10);
    assert!(c.dropped.frames > 100, "{:?}", c.dropped);
    assert!(c.frame_count() > 20, "{}", c.frame_count());
    let back = c.events();
    let want = as_stored(&events);
    // Frames and messages: the original's, from some point on, in order, none in between lost.
    let (got, all) = (frames(&back), frames(&want));
    assert!(!got.is_empty() && got.len() < all.len());
    assert_eq!(got[..], all[all.len() - got.len()..]);
    // The handshake and close, as they were.
    for kind in ["handshake", "closed", "opened"] {
        let pick = |v: &[Event]| {
            v.iter()
                .filter(|e| serde_json::to_value(e).is_ok_and(|j| j["type"] == kind))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(pick(&back), pick(&want), "{kind}");
        assert_eq!(pick(&back).len(), 1, "{kind}");
    }
    // Each way: the head again, a gap saying what the budget dropped, then the original bytes
    // from the start of a frame on.
    let heads = [REQUEST.len(), {
        let s = stream(&want, Direction::ServerToClient);
        s.windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |p| p + 4)
    }];
    let mut resumed = [0u64; 2];
    for d in [Direction::ClientToServer, Direction::ServerToClient] {
        let gaps: Vec<(u64, u64)> = back
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Error(ErrorKind::Gap {
                    direction,
                    offset,
                    missing,
                    cause: GapCause::Evicted,
                }) if *direction == d => Some((*offset, *missing)),
                _ => None,
            })
            .collect();
        let [(offset, missing)] = gaps[..] else {
            panic!("{d:?}: gaps {gaps:?}")
        };
        let head = heads[d.index()];
        assert_eq!(offset, head as u64, "{d:?}");
        let (got, all) = (stream(&back, d), stream(&want, d));
        let resume = head + missing as usize;
        assert_eq!(got[..head], all[..head], "{d:?} head");
        assert_eq!(got[head..], all[resume..], "{d:?} after the gap");
        // The bytes resume where a frame starts: the first frame after the gap is a kept one.
        let ws = (resume - head) as u64;
        resumed[d.index()] = ws;
        assert!(
            back.iter().any(|e| matches!(&e.kind,
                EventKind::Frame { direction, frame } if *direction == d && frame.offset == ws)),
            "{d:?}: no frame at stream offset {resume}"
        );
    }
    // What the JSON-lines export of it reads back as: the same frames, at the same offsets.
    let again = ingest(&back, 64 << 20);
    assert_eq!(again.frame_count(), c.frame_count());
    let conn = &again.connections[0];
    let old = &c.connections[0];
    assert_eq!(conn.bytes, old.bytes);
    for d in [Direction::ClientToServer, Direction::ServerToClient] {
        let spans = |cap: &Capture, k: &wsscope::capture::ConnRecord| -> Vec<_> {
            cap.frames_in(k, d)
                .iter()
                .filter_map(|&s| cap.frame_record(s).and_then(|r| k.frame_span(r)))
                .collect()
        };
        assert_eq!(spans(&again, conn), spans(&c, old));
    }

    // tshark reads the pcap of it as the kept frames after the gap (and flags the hole).
    let Some(tshark) = tshark() else { return };
    let dir = std::env::temp_dir().join(format!("wsscope-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("evicted.pcap");
    let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    wsscope::export::write_pcap(back.clone(), std::io::BufWriter::new(file))
        .unwrap_or_else(|e| panic!("{e}"));
    let p = path.to_str().unwrap_or_else(|| panic!("path"));
    let port = back
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Listening { addr } => Some(addr.port().to_string()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no listening"));
    let out = run(
        tshark,
        &[
            "-r",
            p,
            "-Y",
            "websocket",
            "-T",
            "fields",
            "-e",
            "tcp.srcport",
            "-e",
            "websocket.opcode",
            "-e",
            "websocket.payload_length",
        ],
    );
    let mut seen: [Vec<String>; 2] = Default::default();
    for l in out.lines() {
        let mut cols = l.split('\t');
        let d = usize::from(cols.next() == Some(port.as_str()));
        let ops: Vec<&str> = cols.next().unwrap_or("").split(',').collect();
        let lens: Vec<&str> = cols.next().unwrap_or("").split(',').collect();
        seen[d].extend(ops.into_iter().zip(lens).map(|(o, n)| format!("{o}/{n}")));
    }
    // Every frame from where each direction resumes, no more, no less.
    let mut kept = 0;
    for d in [Direction::ClientToServer, Direction::ServerToClient] {
        let expected: Vec<String> = back
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Frame { direction, frame }
                    if *direction == d && frame.offset >= resumed[d.index()] =>
                {
                    Some(format!(
                        "{}/{}",
                        u8::from(frame.header.opcode),
                        frame.header.len7()
                    ))
                }
                _ => None,
            })
            .collect();
        // How many frames each way outlived the cut depends on how the server's reads
        // coalesced (a busy machine reads many writes at once, and a read is kept or dropped
        // whole); at least one each way, and enough in all for the comparison to mean something.
        assert!(
            !expected.is_empty(),
            "{d:?}: nothing kept, resumed {resumed:?}"
        );
        kept += expected.len();
        assert_eq!(seen[d.index()], expected, "{d:?}");
    }
    assert!(kept > 20, "{kept} frames kept");
    let holes = run(
        tshark,
        &[
            "-r",
            p,
            "-Y",
            "tcp.analysis.lost_segment",
            "-T",
            "fields",
            "-e",
            "frame.number",
        ],
    );
    assert_eq!(holes.lines().count(), 2, "one hole each way");
    let _ = std::fs::remove_dir_all(&dir);
}
