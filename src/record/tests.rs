//! The format on events of every kind: exact round trips through a real file, the documented
//! shape, the flush rule and the errors a reader gives.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::event::*;
use crate::protocol::handshake::{answer, HandshakeLimits, ServerPolicy};
use crate::protocol::{
    close_payload_bytes, encode_frame, CloseCode, Detail, ExtensionFailure, Fragment, Frame,
    FrameHeader, Limits, Message, OpCode, Rule, Violation,
};
use crate::tap::{Head, Tap};

/// A fresh path in the system's temporary directory, removed when dropped.
pub(super) struct TempPath(pub(super) PathBuf);

impl TempPath {
    pub(super) fn new(name: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self(std::env::temp_dir().join(format!("wsscope-record-{}-{n}-{name}", std::process::id())))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn ev(conn: ConnId, micros: u64, kind: EventKind) -> Event {
    Event {
        conn,
        // Sub-microsecond times too: the file keeps them.
        time: Duration::from_nanos(micros * 1000 + 321),
        kind,
    }
}

/// Events of every kind: a tapped connection (handshake, frames both ways with violations,
/// fragments, invalid UTF-8, a close) and the rest made by hand.
pub(super) fn every_kind() -> Vec<Event> {
    let clock = Clock::start();
    let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
    let mut out = vec![
        ev(
            0,
            0,
            EventKind::Clock {
                unix_micros: clock.unix_micros(),
            },
        ),
        ev(0, 1, EventKind::Listening { addr: addr(8765) }),
    ];
    let mut tap = Tap::new(1, clock, Endpoint::Server);
    out.push(tap.opened(addr(40000), addr(8765)));
    let head = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Bin: \xff\xfe\r\n\r\n";
    let Head::Complete(request) = tap.request_bytes(
        Bytes::from_static(head),
        &HandshakeLimits::default(),
        &mut out,
    ) else {
        panic!("the head did not complete");
    };
    let hs = answer(request, &ServerPolicy::default());
    let response = Bytes::from(hs.response.raw.clone());
    tap.handshake(hs, Limits::default(), &mut out);
    tap.tcp(Direction::ServerToClient, response, &mut out);
    let key = Some([1, 2, 3, 4]);
    let mut c2s = Vec::new();
    let mut frame = |op: OpCode, fin: bool, payload: &[u8], key: Option<[u8; 4]>| {
        let mut h = FrameHeader::new(op, payload.len() as u64, key);
        h.fin = fin;
        encode_frame(h, payload, &mut c2s);
    };
    frame(OpCode::Text, false, "héllo ".as_bytes(), key);
    frame(OpCode::Ping, true, b"\x00\x01", key);
    frame(OpCode::Continuation, true, "世界\n\"q\"".as_bytes(), key);
    frame(OpCode::Binary, true, &[0x80, 0xff, 0, 1], key);
    frame(OpCode::Text, true, b"no mask", None);
    frame(OpCode::from(0x3), true, b"", key);
    frame(OpCode::Text, true, &[0xce, 0xba, 0xe1, 0xbd], key);
    frame(OpCode::Close, true, &close_payload_bytes(4000, "bye"), key);
    tap.observe(Direction::ClientToServer, Bytes::from(c2s), &mut out);
    let mut s2c = Vec::new();
    encode_frame(
        FrameHeader::new(OpCode::Pong, 2, None),
        b"\x00\x01",
        &mut s2c,
    );
    tap.observe(Direction::ServerToClient, Bytes::from(s2c), &mut out);
    let io = IoFailure {
        kind: IoKind::ConnectionReset,
        os_code: Some(104),
    };
    for (conn, kind) in [
        (
            2,
            EventKind::Http {
                request: Some(RequestLine {
                    method: "POST".into(),
                    path: "/x".into(),
                }),
                status: 405,
                outcome: HttpOutcome::MethodNotAllowed,
            },
        ),
        (
            3,
            EventKind::Http {
                request: None,
                status: 400,
                outcome: HttpOutcome::Malformed("invalid token".into()),
            },
        ),
        (
            4,
            EventKind::Limit {
                kind: LimitKind::FrameSize,
                limit: 16 << 20,
                actual: 1 << 40,
            },
        ),
        (
            1,
            EventKind::Closed {
                code: Some(CloseCode::from(4000)),
                reason: "bye".into(),
                by: ClosedBy::Client,
                clean: true,
            },
        ),
        (
            5,
            EventKind::Closed {
                code: None,
                reason: String::new(),
                by: ClosedBy::Server,
                clean: false,
            },
        ),
        (5, EventKind::Error(ErrorKind::Read(io))),
        (0, EventKind::Error(ErrorKind::NotOpen)),
        (
            6,
            EventKind::Error(ErrorKind::NotSent(SendRefusal::ControlTooLong(130))),
        ),
        (
            0,
            EventKind::Error(ErrorKind::Accept(IoFailure {
                kind: IoKind::Other,
                os_code: None,
            })),
        ),
        (0, EventKind::Stopped),
    ] {
        out.push(ev(conn, 2_000_000, kind));
    }
    out
}

fn write_all(path: &std::path::Path, events: &[Event]) {
    let mut w = Writer::create(path).unwrap_or_else(|e| panic!("{e}"));
    for e in events {
        w.write(e).unwrap_or_else(|err| panic!("{err}: {e:?}"));
    }
    w.flush().unwrap_or_else(|e| panic!("{e}"));
}

fn read_all(path: &std::path::Path) -> Vec<Event> {
    Reader::open(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| e.unwrap_or_else(|err| panic!("{err}")))
        .collect()
}

#[test]
fn every_kind_of_event_reads_back_equal() {
    let events = every_kind();
    let path = TempPath::new("every.jsonl");
    write_all(&path.0, &events);
    let back = read_all(&path.0);
    assert_eq!(back.len(), events.len());
    for (b, e) in back.iter().zip(&events) {
        assert_eq!(b, e);
    }
}

/// The `type` of every kind is in the list the reader knows (which tells an unknown type from
/// a bad event).
#[test]
fn the_known_types_are_the_serialized_ones() {
    let mut seen: Vec<String> = every_kind()
        .iter()
        .map(|e| {
            let v = serde_json::to_value(e).unwrap_or_else(|err| panic!("{err}"));
            v["type"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    seen.sort();
    seen.dedup();
    let mut known: Vec<&str> = reader::KNOWN_TYPES.to_vec();
    known.sort_unstable();
    assert_eq!(seen, known);
}

/// Lines are flat and readable: the documented field names, times in microseconds, text as
/// text and other bytes as base64, close codes and mask keys as people read them.
#[test]
fn lines_have_the_documented_shape() {
    let events = every_kind();
    let path = TempPath::new("shape.jsonl");
    write_all(&path.0, &events);
    let text = std::fs::read_to_string(&path.0).unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("SHOW").is_some() {
        println!("{text}");
    }
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let header = &lines[0];
    assert_eq!(header["format"], "wsscope-capture");
    assert_eq!(header["version"], "1.0");
    assert_eq!(header["tool"], "wsscope");
    assert_eq!(header["tool_version"], env!("CARGO_PKG_VERSION"));
    assert!(header["unix_us"]
        .as_u64()
        .is_some_and(|t| t > 1_600_000_000_000_000));
    let first = &lines[1];
    assert_eq!(first["type"], "clock");
    assert_eq!(first["t_us"], 0);
    assert_eq!(first["ns"], 321);
    let of = |ty: &str| -> Vec<&serde_json::Value> {
        lines.iter().filter(|l| l["type"] == ty).collect()
    };
    let frames = of("frame");
    let f0 = frames[0];
    assert_eq!(f0["dir"], "c2s");
    assert_eq!(f0["header"]["opcode"], "text");
    assert_eq!(f0["header"]["mask_key"], "01020304");
    assert_eq!(f0["header"]["len_encoding"], "seven");
    assert_eq!(f0["payload"]["text"], "héllo ");
    assert_eq!(f0["header_bytes"]["b64"], "AYcBAgME");
    assert_eq!(f0["fragment"], "first");
    // A ping's payload of control characters is base64, invalid UTF-8 too.
    assert_eq!(frames[1]["payload"]["b64"], "AAE=");
    assert_eq!(frames[3]["payload"]["b64"], "gP8AAQ==");
    assert_eq!(frames[4]["violations"][0]["rule"], "unmasked_client_frame");
    assert_eq!(frames[5]["header"]["opcode"]["reserved_data"], 3);
    let messages = of("message");
    assert_eq!(messages[0]["payload"]["text"], "héllo 世界\n\"q\"");
    let hs = of("handshake")[0];
    assert_eq!(hs["request"]["path"], "/chat");
    assert_eq!(hs["request"]["headers"][5]["value"]["b64"], "//4=");
    assert_eq!(
        hs["derivation"]["sha1"],
        "b37a4f2cc0624f1690f64606cf385945b2bec4ea"
    );
    assert_eq!(hs["response"]["status"], 101);
    assert!(hs["response"]["raw"]["text"]
        .as_str()
        .is_some_and(|r| r.starts_with("HTTP/1.1 101 Switching Protocols\r\n")));
    assert_eq!(of("tcp")[0]["dir"], "c2s");
    let closed = of("closed");
    assert_eq!(closed[0]["code"], 4000);
    assert_eq!(closed[0]["by"], "client");
    assert!(closed[1]["code"].is_null());
    let errors = of("error");
    assert_eq!(errors[0]["error"]["read"]["kind"], "connection_reset");
    assert_eq!(errors[1]["error"], "not_open");
    assert_eq!(errors[2]["error"]["not_sent"]["control_too_long"], 130);
    assert_eq!(of("http")[1]["outcome"]["malformed"], "invalid token");
    assert_eq!(of("limit")[0]["kind"], "frame_size");
    assert_eq!(of("opened")[0]["endpoint"], "server");
    assert_eq!(of("listening")[0]["addr"], "127.0.0.1:8765");
    assert_eq!(of("stopped")[0]["conn"], 0);
}

/// The writer flushes by itself once per second of event time, not on every event.
#[test]
fn the_writer_flushes_once_a_second_of_event_time() {
    let path = TempPath::new("flush.jsonl");
    let len = || std::fs::metadata(&path.0).map(|m| m.len()).unwrap_or(0);
    let mut w = Writer::create(&path.0).unwrap_or_else(|e| panic!("{e}"));
    let header = len();
    assert!(header > 0, "the header is written at once");
    let at = |ms: u64| Event {
        conn: 0,
        time: Duration::from_millis(ms),
        kind: EventKind::Stopped,
    };
    let write = |w: &mut Writer, ms| w.write(&at(ms)).unwrap_or_else(|e| panic!("{e}"));
    write(&mut w, 10_000);
    let first = len();
    assert!(first > header, "the first event flushes");
    write(&mut w, 10_500);
    write(&mut w, 10_999);
    assert_eq!(len(), first, "less than a second later: still buffered");
    write(&mut w, 11_000);
    assert_eq!(len(), first + 3 * (first - header));
    write(&mut w, 11_200);
    drop(w);
    assert_eq!(len(), first + 4 * (first - header), "dropping flushes");
}

/// Bad paths are refused at creation, naming the file.
#[test]
fn a_bad_path_is_refused_at_once_with_its_name() {
    let e = Writer::create(std::path::Path::new("/nonexistent-dir/x.jsonl"))
        .err()
        .map(|e| e.to_string());
    assert!(
        e.as_deref()
            .is_some_and(|e| e.starts_with("/nonexistent-dir/x.jsonl: ")),
        "{e:?}"
    );
    if std::path::Path::new("/dev/full").exists() {
        let e = Writer::create(std::path::Path::new("/dev/full"))
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.starts_with("/dev/full: ")),
            "{e:?}"
        );
    }
}

#[test]
fn a_time_beyond_u64_microseconds_is_an_error_not_a_wrong_line() {
    let path = TempPath::new("big.jsonl");
    let mut w = Writer::create(&path.0).unwrap_or_else(|e| panic!("{e}"));
    let e = w.write(&Event {
        conn: 0,
        time: Duration::MAX,
        kind: EventKind::Stopped,
    });
    assert!(e.is_err_and(|e| e.to_string().contains("too large for t_us")));
}

/// Writes `events` after a header and reads the file through: the events before the error,
/// the error, and the byte offset of each line's start (index 0 is line 1, the header).
fn read_through(path: &TempPath, events: &[Event]) -> (Vec<Event>, Option<ReadError>, Vec<u64>) {
    write_all(&path.0, events);
    let text = std::fs::read(&path.0).unwrap_or_else(|e| panic!("{e}"));
    let mut starts = vec![0];
    starts.extend(
        text.iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .map(|(i, _)| i as u64 + 1),
    );
    let mut read = Vec::new();
    let reader = Reader::open(&path.0).unwrap_or_else(|e| panic!("{e}"));
    for e in reader {
        match e {
            Ok(e) => read.push(e),
            Err(e) => return (read, Some(e), starts),
        }
    }
    (read, None, starts)
}

/// `bad` between two good events is refused at its line's start, after the event before it,
/// with a message naming the file, the line and the byte; the problem is returned.
fn refused_on_line_3(name: &str, bad: EventKind) -> Problem {
    let path = TempPath::new(name);
    let events = [
        ev(
            0,
            1,
            EventKind::Listening {
                addr: std::net::SocketAddr::from(([127, 0, 0, 1], 8765)),
            },
        ),
        ev(1, 2, bad.clone()),
        ev(0, 3, EventKind::Stopped),
    ];
    let (read, e, starts) = read_through(&path, &events);
    let e = e.unwrap_or_else(|| panic!("no error for {bad:?}"));
    assert_eq!(read, events[..1], "{e}");
    assert_eq!((e.line, e.offset), (3, starts[2]), "{e}");
    let said = e.to_string();
    let at = format!("{}: line 3, byte {}: bad ", path.0.display(), starts[2]);
    assert!(said.starts_with(&at), "{said}");
    for lang in [crate::i18n::Lang::En, crate::i18n::Lang::Zh] {
        let said = crate::i18n::read_error(lang, &e);
        assert!(said.contains(&starts[2].to_string()), "{said}");
    }
    e.problem
}

/// `events` read back whole.
fn read_whole(name: &str, events: &[Event]) {
    let path = TempPath::new(name);
    let (read, e, _) = read_through(&path, events);
    assert!(e.is_none(), "{e:?}");
    assert_eq!(read, events);
}

/// A message whose `byte_range` ends before it starts is a bad line (it was read silently
/// before). An end past 2^64 was already one: the number is not a u64. An empty range, and one
/// ending at 2^64, read.
#[test]
fn a_message_range_that_ends_before_it_starts_is_a_bad_line() {
    let message = |byte_range: std::ops::Range<u64>| EventKind::Message {
        direction: Direction::ClientToServer,
        message: Message {
            opcode: OpCode::Text,
            payload: Bytes::from_static(b"hi"),
            frame_count: 1,
            byte_range,
        },
    };
    for (start, end) in [(20, 10), (u64::MAX, 0), (1, 0)] {
        let problem = refused_on_line_3("message-reversed.jsonl", message(start..end));
        assert!(
            matches!(&problem, Problem::ReversedRange { kind, field, start: s, end: e }
                if kind == "message" && field == "byte_range" && (*s, *e) == (start, end)),
            "{problem}"
        );
        assert!(
            problem.to_string().contains("ends before it starts"),
            "{problem}"
        );
    }
    read_whole(
        "message-ranges.jsonl",
        &[
            ev(1, 1, message(10..10)),
            ev(1, 2, message(0..u64::MAX)),
            ev(1, 3, message(u64::MAX..u64::MAX)),
        ],
    );
    // 2^64 is no u64: the parser says so.
    let path = TempPath::new("message-2-64.jsonl");
    write_all(&path.0, &[ev(1, 1, message(4..u64::MAX))]);
    let text = std::fs::read_to_string(&path.0).unwrap_or_else(|e| panic!("{e}"));
    let text = text.replace(&u64::MAX.to_string(), "18446744073709551616");
    std::fs::write(&path.0, text).unwrap_or_else(|e| panic!("{e}"));
    let e = Reader::open(&path.0)
        .unwrap_or_else(|e| panic!("{e}"))
        .find_map(Result::err);
    assert!(
        matches!(&e, Some(ReadError { line: 2, problem: Problem::BadEvent { kind, .. }, .. }) if kind == "message"),
        "{e:?}"
    );
}

/// A frame's violations point at its own bytes (`offset` up to the end of its header and
/// payload): a range that ends before it starts, or runs outside them, is a bad line (both
/// were read silently before). A rule of the whole message (an extension's failure, text
/// that is not UTF-8 once decoded) starts at the message's first byte, in an earlier frame:
/// it may start before this one, not end after it.
#[test]
fn violations_outside_their_frame_are_bad_lines() {
    let v = |rule: Rule, r: std::ops::Range<u64>| Violation::new(rule, r, Detail::None);
    let ext = |r: std::ops::Range<u64>| {
        Violation::new(
            Rule::ExtensionError,
            r,
            Detail::Extension {
                name: "permessage-deflate".into(),
                why: ExtensionFailure::BadData("invalid block type".into()),
            },
        )
    };
    let utf8 = |r: std::ops::Range<u64>| {
        Violation::new(
            Rule::InvalidUtf8,
            r,
            Detail::Utf8AfterExtension {
                name: "permessage-deflate".into(),
                index: 3,
            },
        )
    };
    // Bytes 100..104: a 2-byte header and "hi".
    let frame = |violations: Vec<Violation>| EventKind::Frame {
        direction: Direction::ServerToClient,
        frame: Box::new(Frame {
            offset: 100,
            header: FrameHeader::new(OpCode::Text, 2, None),
            header_bytes: Bytes::from_static(&[0x81, 0x02]),
            payload: Bytes::from_static(b"hi"),
            payload_captured: true,
            fragment: Fragment::Last,
            violations,
        }),
    };
    let bit = Rule::ReservedBitSet;
    for (i, (start, end)) in [(103, 101), (u64::MAX, 0)].into_iter().enumerate() {
        let mut vs = vec![v(bit, 100..101); i];
        vs.push(v(bit, start..end));
        let problem = refused_on_line_3("violation-reversed.jsonl", frame(vs));
        let want = format!("violations[{i}].byte_range");
        assert!(
            matches!(&problem, Problem::ReversedRange { kind, field, start: s, end: e }
                if kind == "frame" && *field == want && (*s, *e) == (start, end)),
            "{problem}"
        );
    }
    for (i, bad) in [
        v(bit, 99..101),
        v(bit, 102..105),
        v(bit, 0..1),
        v(bit, 104..u64::MAX),
        ext(40..105),
        utf8(0..200),
    ]
    .into_iter()
    .enumerate()
    {
        let range = bad.byte_range.clone();
        let vs = vec![v(bit, 100..101), bad];
        let problem = refused_on_line_3("violation-outside.jsonl", frame(vs));
        assert!(
            matches!(&problem, Problem::OutsideFrame { field, start, end, frame_start: 100, frame_end: 104 }
                if field == "violations[1].byte_range" && (*start, *end) == (range.start, range.end)),
            "{i}: {problem}"
        );
        assert!(
            problem
                .to_string()
                .contains("outside the frame's bytes 100..104"),
            "{problem}"
        );
    }
    read_whole(
        "violations-inside.jsonl",
        &[ev(
            1,
            1,
            frame(vec![
                v(bit, 100..101),
                v(Rule::InvalidUtf8, 102..104),
                v(Rule::InvalidUtf8, 104..104),
                v(Rule::MessageTooBig, 100..104),
                ext(40..104),
                utf8(0..104),
            ]),
        )],
    );
    // What wsscope writes is read: the connection tapped in `every_kind` has violations.
    read_whole("violations-tapped.jsonl", &every_kind());
}

/// An `own_frame_too_big` error says where wsscope's frame starts and the payload length its
/// header announces: the frame's header, and its payload when that length is one a frame can
/// have (top bit clear), must end by 2^64 (it was read silently before). A length with its top
/// bit set is only a claim (wsscope's raw frames can send one): its header must still fit.
#[test]
fn an_own_frame_too_big_past_2_64_is_a_bad_line() {
    let own = |offset: u64, announced: u64| {
        EventKind::Error(ErrorKind::OwnFrameTooBig {
            direction: Direction::ClientToServer,
            offset,
            announced,
            limit: 16 << 20,
        })
    };
    let max = u64::MAX;
    // The shortest header for a length: 2 bytes up to 125, 4 up to 0xFFFF, 10 above.
    for (offset, announced, len) in [
        (max - 100, 1000, 1004),
        ((1 << 63) + 1, (1 << 63) - 1, (1 << 63) + 9),
        (max, 200, 204),
        (max - 1, 1, 3),
        (max - 5, max, 10),
    ] {
        let problem = refused_on_line_3("own-frame-past.jsonl", own(offset, announced));
        assert!(
            matches!(&problem, Problem::PastStreamEnd { kind, offset: o, len: l }
                if kind == "error" && (*o, *l) == (offset, len)),
            "{problem}"
        );
    }
    read_whole(
        "own-frame-at.jsonl",
        &[
            ev(1, 1, own(max - 1004, 1000)),
            ev(1, 2, own(100, max)),
            ev(1, 3, own(max - 10, 1 << 63)),
            ev(1, 4, own(max - 3, 1)),
        ],
    );
}
