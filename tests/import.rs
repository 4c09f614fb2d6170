//! Captures made elsewhere: real tcpdump/tshark captures of a python `websockets` exchange
//! (tests/data, made by tests/data/make_captures.sh), synthetic pcaps for what a clean loopback
//! capture never shows (reordering, retransmissions, overlaps, holes, a capture begun
//! mid-connection, a truncated file), and arbitrary bytes that must never panic the reader.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use proptest::prelude::*;

use wsscope::event::{
    ClosedBy, Direction, Endpoint, ErrorKind, Event, EventKind, GapCause, HttpOutcome,
};
use wsscope::import::{self, Format, ImportError, ImportErrorKind};
use wsscope::protocol::{encode_frame, CloseCode, FrameHeader, OpCode};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Every event of a file, and the error that ended it (if one did).
fn read(path: &Path) -> (Vec<Event>, Option<ImportError>, import::ImportStats) {
    let mut events = import::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    let mut error = None;
    for e in events.by_ref() {
        match e {
            Ok(e) => out.push(e),
            Err(e) => error = Some(e),
        }
    }
    let stats = events.stats();
    if path.starts_with(std::env::temp_dir()) {
        let _ = std::fs::remove_file(path);
    }
    (out, error, stats)
}

/// A frame as (direction, opcode, fin, payload length, payload).
type FrameRow = (Direction, OpCode, bool, u64, Vec<u8>);

fn frames(events: &[Event]) -> Vec<FrameRow> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Frame { direction, frame } => Some((
                *direction,
                frame.header.opcode,
                frame.header.fin,
                frame.header.payload_len,
                frame.payload.to_vec(),
            )),
            _ => None,
        })
        .collect()
}

fn errors(events: &[Event]) -> Vec<ErrorKind> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Error(k) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

/// The linktype field of a pcap file header (either byte order).
fn pcap_linktype(bytes: &[u8]) -> u32 {
    let b = [bytes[20], bytes[21], bytes[22], bytes[23]];
    if bytes[..4] == [0xd4, 0xc3, 0xb2, 0xa1] || bytes[..4] == [0x4d, 0x3c, 0xb2, 0xa1] {
        u32::from_le_bytes(b)
    } else {
        u32::from_be_bytes(b)
    }
}

/// What ws_peer.py sends and gets back, frame by frame.
fn python_exchange() -> Vec<FrameRow> {
    use Direction::{ClientToServer as C, ServerToClient as S};
    let hello = "Hello, 世界 ✓".as_bytes().to_vec();
    let binary: Vec<u8> = (0..20).collect();
    let row = |d, op, fin, p: &[u8]| (d, op, fin, p.len() as u64, p.to_vec());
    let close = [0x03, 0xe8, b'b', b'y', b'e'];
    // Interleaved as on the wire: each message is echoed before the next is sent.
    vec![
        row(C, OpCode::Text, true, &hello),
        row(S, OpCode::Text, true, &hello),
        row(C, OpCode::Binary, true, &binary),
        row(S, OpCode::Binary, true, &binary),
        row(C, OpCode::Text, false, b"frag-one "),
        row(C, OpCode::Continuation, false, b"frag-two "),
        row(C, OpCode::Continuation, false, b"frag-three"),
        row(C, OpCode::Continuation, true, b""),
        row(S, OpCode::Text, true, b"frag-one frag-two frag-three"),
        row(C, OpCode::Ping, true, b"are you there"),
        row(S, OpCode::Pong, true, b"are you there"),
        row(C, OpCode::Close, true, &close),
        row(S, OpCode::Close, true, &close),
    ]
}

/// One real capture: the handshake both ways (accept checked), every frame, the close.
fn check_real(name: &str, format: Format, linktype: Option<u32>, ipv6: bool) {
    let path = data(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(bytes.len() < 8 * 1024, "{name} is small: {}", bytes.len());
    if let Some(lt) = linktype {
        assert_eq!(pcap_linktype(&bytes), lt, "{name}'s link type");
    }
    assert_eq!(import::open(&path).map(|e| e.format()).ok(), Some(format));
    let (events, error, stats) = read(&path);
    assert!(error.is_none(), "{name}: {error:?}");
    assert_eq!(
        (stats.flows, stats.websocket, stats.gaps),
        (1, 1, 0),
        "{name}"
    );
    // Clock first, at the first packet's wall-clock time (after 2020).
    let Some(EventKind::Clock { unix_micros }) = events.first().map(|e| &e.kind) else {
        panic!("{name}: no clock first");
    };
    assert!(
        *unix_micros > 1_600_000_000_000_000,
        "{name}: {unix_micros}"
    );
    assert!(
        events.windows(2).all(|w| w[0].time <= w[1].time),
        "{name}: times go back"
    );
    let opened: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Opened {
                endpoint,
                client,
                server,
            } => Some((*endpoint, *client, *server)),
            _ => None,
        })
        .collect();
    assert_eq!(opened.len(), 1, "{name}");
    let (endpoint, client, server) = opened[0];
    assert_eq!(endpoint, Endpoint::File);
    assert_eq!(server.ip().is_ipv6(), ipv6, "{name}: {server}");
    assert!(client.ip().is_loopback() && server.ip().is_loopback());
    assert!(
        (18081..=18085).contains(&server.port()),
        "{name}: the server's port {server}"
    );

    let hs = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Handshake(hs) => Some(hs),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{name}: no handshake"));
    let request = String::from_utf8_lossy(&hs.request.raw);
    assert!(request.starts_with("GET /chat HTTP/1.1\r\n"), "{request}");
    assert!(request.contains("Upgrade: websocket\r\n"), "{request}");
    assert_eq!(hs.request.path, "/chat");
    assert!(hs
        .checks
        .iter()
        .all(|c| c.outcome != wsscope::protocol::handshake::Outcome::Fail));
    let response = String::from_utf8_lossy(&hs.response.raw);
    assert!(
        response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{response}"
    );
    assert!(response.ends_with("\r\n\r\n"));
    assert_eq!(hs.response.status, 101);
    assert_eq!(hs.response.subprotocol.as_deref(), Some("chat"));
    let check = hs
        .response
        .accept_check
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: no accept check"));
    let derived = hs.derivation.as_ref().map(|d| d.accept.clone());
    assert!(check.matches, "{name}: {check:?} vs {derived:?}");
    assert_eq!(check.sent, derived);
    assert!(response.contains(&format!(
        "Sec-WebSocket-Accept: {}\r\n",
        check.sent.clone().unwrap_or_default()
    )));

    assert_eq!(frames(&events), python_exchange(), "{name}");
    assert!(events.iter().all(|e| match &e.kind {
        EventKind::Frame { frame, .. } => frame.violations.is_empty(),
        _ => true,
    }));
    let messages: Vec<(Direction, Vec<u8>)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Message { direction, message } => {
                Some((*direction, message.payload.to_vec()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(messages.len(), 6, "{name}");
    assert_eq!(
        messages[4],
        (
            Direction::ClientToServer,
            b"frag-one frag-two frag-three".to_vec()
        )
    );
    assert!(errors(&events).is_empty(), "{name}: {:?}", errors(&events));
    let Some(EventKind::Closed {
        code,
        reason,
        by,
        clean,
    }) = events.last().map(|e| &e.kind)
    else {
        panic!("{name}: not closed last");
    };
    assert_eq!(
        (*code, reason.as_str(), *by, *clean),
        (Some(CloseCode::Normal), "bye", ClosedBy::Client, true)
    );
}

#[test]
fn tcpdump_on_lo_ethernet_pcap() {
    check_real("ws-lo.pcap", Format::Pcap, Some(1), false);
}

#[test]
fn tshark_pcapng() {
    check_real("ws-lo.pcapng", Format::PcapNg, None, false);
}

#[test]
fn tcpdump_any_linux_cooked_v2() {
    check_real("ws-any-sll2.pcap", Format::Pcap, Some(276), false);
}

#[test]
fn tcpdump_any_linux_cooked_v1() {
    check_real("ws-any-sll.pcap", Format::Pcap, Some(113), false);
}

#[test]
fn tcpdump_ipv6_nanosecond_pcap() {
    let bytes = std::fs::read(data("ws-ipv6-nano.pcap")).unwrap_or_default();
    assert_eq!(bytes[..4], [0x4d, 0x3c, 0xb2, 0xa1], "nanosecond magic");
    check_real("ws-ipv6-nano.pcap", Format::Pcap, Some(1), true);
}

/// `wsscope read` prints the serve trace of a capture; a truncated file prints what was valid,
/// then the file and byte offset on stderr, and exits 1.
#[test]
fn the_read_command_traces_a_capture_and_names_where_a_bad_one_breaks() {
    let out = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["read", "--lang", "en"])
        .arg(data("ws-lo.pcap"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("handshake GET /chat -> 101 switching protocols (subprotocol chat)"),
        "{text}"
    );
    assert!(text.contains("(the server's accept matches)"), "{text}");
    assert!(
        text.contains("C->S frame text fin=1 rsv=000 mask=1 len=17 (7-bit) \"Hello, 世界 ✓\""),
        "{text}"
    );
    assert!(
        text.contains("closed by client: 1000 (normal closure) \"bye\", clean"),
        "{text}"
    );

    let bytes = std::fs::read(data("ws-lo.pcap")).unwrap_or_default();
    let cut = temp("cut.pcap");
    std::fs::write(&cut, &bytes[..2000]).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["read", "--lang", "en"])
        .arg(&cut)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(text.contains("handshake GET /chat -> 101"), "{text}");
    assert!(
        err.contains(&format!(
            "{}: at byte 1956: the file ends inside a record",
            cut.display()
        )),
        "{err}"
    );
}

// --- Synthetic captures ---------------------------------------------------------------------

static TEMP: AtomicUsize = AtomicUsize::new(0);

fn temp(name: &str) -> PathBuf {
    let n = TEMP.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("wsscope-import-{}-{n}-{name}", std::process::id()))
}

const C: ([u8; 4], u16) = ([10, 0, 0, 1], 50000);
const S: ([u8; 4], u16) = ([10, 0, 0, 2], 9000);
const C_ISN: u32 = 1000;
const S_ISN: u32 = u32::MAX - 100; // the server's sequence numbers wrap

#[derive(Clone, Copy)]
enum Flag {
    None,
    Syn,
    Fin,
    Rst,
}

/// One Ethernet/IPv4/TCP packet: `from_client` picks the direction.
fn packet(from_client: bool, seq: u32, flag: Flag, payload: &[u8]) -> Vec<u8> {
    let ((sip, sport), (dip, dport)) = if from_client { (C, S) } else { (S, C) };
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(sip, dip, 64)
        .tcp(sport, dport, seq, 65535);
    let b = match flag {
        Flag::None => b.ack(1),
        Flag::Syn => b.syn(),
        Flag::Fin => b.fin().ack(1),
        Flag::Rst => b.rst(),
    };
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).unwrap_or_else(|e| panic!("{e}"));
    out
}

/// Writes `packets` (a packet each millisecond from 1.7e9 s) as a pcap.
fn write_pcap(name: &str, header: PcapHeader, packets: &[Vec<u8>]) -> PathBuf {
    let path = temp(name);
    let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut w = PcapWriter::with_header(file, header).unwrap_or_else(|e| panic!("{e}"));
    for (i, p) in packets.iter().enumerate() {
        let t = Duration::from_secs(1_700_000_000) + Duration::from_micros(1500 * i as u64);
        w.write_packet(&PcapPacket::new(t, p.len() as u32, p))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    path
}

fn pcap(name: &str, packets: &[Vec<u8>]) -> PathBuf {
    let header = PcapHeader {
        endianness: Endianness::Little,
        ..PcapHeader::default()
    };
    write_pcap(name, header, packets)
}

const REQUEST: &[u8] =
    b"GET /socket HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
const RESPONSE: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

fn frame(opcode: OpCode, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let key = masked.then_some([1, 2, 3, 4]);
    encode_frame(
        FrameHeader::new(opcode, payload.len() as u64, key),
        payload,
        &mut v,
    );
    v
}

/// A connection's opening: SYN, SYN-ACK, request, response. Returns the packets and the next
/// sequence numbers of the client and the server.
fn opening() -> (Vec<Vec<u8>>, u32, u32) {
    let c = C_ISN.wrapping_add(1);
    let s = S_ISN.wrapping_add(1);
    let packets = vec![
        packet(true, C_ISN, Flag::Syn, &[]),
        packet(false, S_ISN, Flag::Syn, &[]),
        packet(true, c, Flag::None, REQUEST),
        packet(false, s, Flag::None, RESPONSE),
    ];
    (
        packets,
        c.wrapping_add(REQUEST.len() as u32),
        s.wrapping_add(RESPONSE.len() as u32),
    )
}

fn texts(events: &[Event], direction: Direction) -> Vec<String> {
    frames(events)
        .into_iter()
        .filter(|f| f.0 == direction)
        .map(|f| String::from_utf8_lossy(&f.4).into_owned())
        .collect()
}

/// Segments out of order, a retransmission and an overlap: every frame once, in order.
#[test]
fn reordered_retransmitted_and_overlapping_segments_are_delivered_once_in_order() {
    let (mut p, c, s) = opening();
    let mut stream = frame(OpCode::Text, b"one", true);
    stream.extend(frame(OpCode::Text, b"two", true));
    stream.extend(frame(OpCode::Text, b"three", true));
    let (a, rest) = stream.split_at(5);
    let b = &rest[..7];
    let at = |n: usize| c.wrapping_add(n as u32);
    // b before a (out of order), a twice (retransmission), then tail overlapping b by 3 bytes.
    p.push(packet(true, at(5), Flag::None, b));
    p.push(packet(true, at(0), Flag::None, a));
    p.push(packet(true, at(0), Flag::None, a));
    p.push(packet(true, at(9), Flag::None, &stream[9..]));
    let reply = frame(OpCode::Text, b"echo", false);
    p.push(packet(false, s, Flag::None, &reply));
    p.push(packet(true, at(stream.len()), Flag::Fin, &[]));
    p.push(packet(
        false,
        s.wrapping_add(reply.len() as u32),
        Flag::Fin,
        &[],
    ));
    let (events, error, stats) = read(&pcap("reorder.pcap", &p));
    assert!(error.is_none());
    assert_eq!(
        texts(&events, Direction::ClientToServer),
        ["one", "two", "three"]
    );
    assert_eq!(texts(&events, Direction::ServerToClient), ["echo"]);
    assert_eq!(stats.out_of_order, 1);
    // The retransmitted 5 bytes, and the 3 the last segment repeats.
    assert_eq!(stats.duplicate_bytes, 5 + 3);
    assert!(errors(&events).is_empty(), "{:?}", errors(&events));
    // Each delivery is its own TCP read: the request, then a+b together, then the rest.
    let reads: Vec<usize> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Tcp {
                direction: Direction::ClientToServer,
                bytes,
            } => Some(bytes.len()),
            _ => None,
        })
        .collect();
    assert_eq!(reads, [REQUEST.len(), 5, 7, stream.len() - 12]);
    assert!(matches!(
        events.last().map(|e| &e.kind),
        Some(EventKind::Closed { clean: false, .. })
    ));
}

/// A hole that is never filled is reported with its numbers, and the frames after it in that
/// direction are not decoded; the other direction goes on.
#[test]
fn a_hole_is_reported_and_that_direction_stops() {
    let (mut p, c, s) = opening();
    let f1 = frame(OpCode::Text, b"before", true);
    let f2 = frame(OpCode::Text, b"lost", true);
    let f3 = frame(OpCode::Text, b"after", true);
    let at = |n: usize| c.wrapping_add(n as u32);
    p.push(packet(true, at(0), Flag::None, &f1));
    // f2 never captured.
    p.push(packet(true, at(f1.len() + f2.len()), Flag::None, &f3));
    let r1 = frame(OpCode::Text, b"still here", false);
    p.push(packet(false, s, Flag::None, &r1));
    let end = f1.len() + f2.len() + f3.len();
    p.push(packet(true, at(end), Flag::Fin, &[]));
    p.push(packet(
        false,
        s.wrapping_add(r1.len() as u32),
        Flag::Fin,
        &[],
    ));
    let (events, error, stats) = read(&pcap("gap.pcap", &p));
    assert!(error.is_none());
    assert_eq!(texts(&events, Direction::ClientToServer), ["before"]);
    assert_eq!(texts(&events, Direction::ServerToClient), ["still here"]);
    assert_eq!(
        errors(&events),
        [ErrorKind::Gap {
            direction: Direction::ClientToServer,
            offset: (REQUEST.len() + f1.len()) as u64,
            missing: f2.len() as u64,
            cause: GapCause::Closed,
        }]
    );
    assert_eq!(stats.gaps, 1);
    // The trace says it in both languages, with the numbers.
    let gap = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Error(_)));
    for lang in [wsscope::i18n::Lang::En, wsscope::i18n::Lang::Zh] {
        let line = gap
            .and_then(|e| {
                wsscope::cli::trace::trace_line(e, wsscope::cli::trace::TraceLevel::Summary, lang)
            })
            .unwrap_or_default();
        assert!(
            line.contains(&format!("{}", f2.len()))
                && line.contains(&format!("{}", REQUEST.len() + f1.len())),
            "{line}"
        );
    }
}

/// A capture begun after the SYN starts each stream at its first segment; one begun after the
/// handshake has no upgrade to find: skipped, and counted.
#[test]
fn a_capture_begun_mid_connection() {
    let (p, c, s) = opening();
    let mut late = p[2..].to_vec();
    late.push(packet(
        true,
        c,
        Flag::None,
        &frame(OpCode::Text, b"hi", true),
    ));
    late.push(packet(
        false,
        s,
        Flag::None,
        &frame(OpCode::Text, b"hi", false),
    ));
    let (events, error, stats) = read(&pcap("late.pcap", &late));
    assert!(error.is_none());
    assert_eq!(stats.websocket, 1);
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::Handshake(hs) if hs.response.accept_check.as_ref().is_some_and(|c| c.matches))));
    assert_eq!(texts(&events, Direction::ClientToServer), ["hi"]);
    assert_eq!(texts(&events, Direction::ServerToClient), ["hi"]);
    // The capture ended with the connection open: closed at the end, no close frame.
    assert!(matches!(
        events.last().map(|e| &e.kind),
        Some(EventKind::Closed {
            code: Some(CloseCode::Abnormal),
            clean: false,
            ..
        })
    ));

    let after = late[2..].to_vec();
    let (events, error, stats) = read(&pcap("after.pcap", &after));
    assert!(error.is_none());
    assert_eq!((stats.flows, stats.websocket, stats.skipped), (1, 0, 1));
    assert!(events
        .iter()
        .all(|e| matches!(e.kind, EventKind::Clock { .. })));
}

/// A server that refuses (403) gives the handshake with its real answer and an HTTP event; a
/// wrong accept value is caught.
#[test]
fn a_real_servers_refusal_and_a_wrong_accept() {
    let (mut p, _, _) = opening();
    p[3] = packet(
        false,
        S_ISN.wrapping_add(1),
        Flag::None,
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
    );
    let (events, _, _) = read(&pcap("403.pcap", &p));
    let hs = events.iter().find_map(|e| match &e.kind {
        EventKind::Handshake(hs) => Some(hs),
        _ => None,
    });
    assert_eq!(
        hs.map(|h| (h.response.status, h.accepted())),
        Some((403, false))
    );
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::Http { status: 403, outcome: HttpOutcome::ServerAnswer, request: Some(r) } if r.path == "/socket")));
    // It never switched: no WebSocket close, as on a live server.
    assert!(!events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Closed { .. })));

    let bad = String::from_utf8_lossy(RESPONSE).replace(
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    p[3] = packet(false, S_ISN.wrapping_add(1), Flag::None, bad.as_bytes());
    let (events, _, _) = read(&pcap("accept.pcap", &p));
    let check = events.iter().find_map(|e| match &e.kind {
        EventKind::Handshake(hs) => hs.response.accept_check.clone(),
        _ => None,
    });
    assert_eq!(
        check.map(|c| (c.sent, c.matches)),
        Some((Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()), false))
    );
}

/// Big-endian, nanosecond pcap: event times are the packet times.
#[test]
fn big_endian_nanosecond_times_are_the_packet_times() {
    let (mut p, c, _) = opening();
    p.push(packet(true, c, Flag::Rst, &[]));
    let header = PcapHeader {
        endianness: Endianness::Big,
        ts_resolution: TsResolution::NanoSecond,
        datalink: DataLink::ETHERNET,
        ..PcapHeader::default()
    };
    let (events, error, _) = read(&write_pcap("be.pcap", header, &p));
    assert!(error.is_none());
    assert_eq!(
        events[0].kind,
        EventKind::Clock {
            unix_micros: 1_700_000_000_000_000
        }
    );
    let hs = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Handshake(_)));
    // The response is the fourth packet: 3 × 1.5 ms after the first.
    assert_eq!(hs.map(|e| e.time), Some(Duration::from_micros(4500)));
    assert!(
        matches!(events.last().map(|e| (&e.kind, e.time)), Some((EventKind::Closed { by: ClosedBy::Client, .. }, t)) if t == Duration::from_micros(6000))
    );
}

/// A truncated file: the events of what was valid, then an error with the file and the offset
/// of the record it ends in.
#[test]
fn a_truncated_file_keeps_its_valid_prefix() {
    let (mut p, c, _) = opening();
    p.push(packet(
        true,
        c,
        Flag::None,
        &frame(OpCode::Text, b"kept", true),
    ));
    p.push(packet(
        true,
        c.wrapping_add(10),
        Flag::None,
        &frame(OpCode::Text, b"cut", true),
    ));
    let path = pcap("whole.pcap", &p);
    let bytes = std::fs::read(&path).unwrap_or_default();
    let last = bytes.len() - (16 + p[5].len());
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap_or_else(|e| panic!("{e}"));
    let (events, error, _) = read(&path);
    assert_eq!(texts(&events, Direction::ClientToServer), ["kept"]);
    let Some(error) = error else {
        panic!("no error")
    };
    assert_eq!(error.offset, last as u64);
    assert_eq!(error.path, path);
    assert!(
        matches!(error.kind, ImportErrorKind::Truncated { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains(&format!("at byte {last}")),
        "{error}"
    );
    // What was open is closed before the error.
    assert!(matches!(
        events.last().map(|e| &e.kind),
        Some(EventKind::Closed { .. })
    ));

    let empty = temp("empty.pcap");
    std::fs::write(&empty, b"").unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        import::open(&empty),
        Err(ImportError {
            offset: 0,
            kind: ImportErrorKind::NotACapture { .. },
            ..
        })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes, behind each magic number or none, never panic the reader, and every
    /// error points inside the file.
    #[test]
    fn arbitrary_bytes_never_panic(magic in 0usize..4, body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let magics: [&[u8]; 4] = [b"", &[0xd4, 0xc3, 0xb2, 0xa1], &[0xa1, 0xb2, 0x3c, 0x4d], &[0x0a, 0x0d, 0x0d, 0x0a]];
        let mut bytes = magics[magic].to_vec();
        bytes.extend(body);
        let path = temp("any.pcap");
        std::fs::write(&path, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match import::open(&path) {
            Err(e) => prop_assert!(e.offset <= bytes.len() as u64),
            Ok(events) => {
                for e in events {
                    if let Err(e) = e {
                        prop_assert!(e.offset <= bytes.len() as u64, "{}", e);
                    }
                }
            }
        }
        let _ = std::fs::remove_file(&path);
    }

    /// Real captures cut anywhere and with bytes changed anywhere never panic the reader.
    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..5,
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let names = ["ws-lo.pcap", "ws-lo.pcapng", "ws-any-sll2.pcap", "ws-any-sll.pcap", "ws-ipv6-nano.pcap"];
        let mut bytes = std::fs::read(data(names[which])).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let path = temp("mutated.pcap");
        std::fs::write(&path, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Ok(events) = import::open(&path) {
            let mut n = 0usize;
            for e in events {
                n += 1;
                if let Err(e) = e {
                    prop_assert!(e.offset <= bytes.len() as u64, "{}", e);
                }
            }
            prop_assert!(n < 10_000);
        }
        let _ = std::fs::remove_file(&path);
    }
}

/// Past the out-of-order bound, the hole is reported (with the bound) instead of holding more.
#[test]
fn the_out_of_order_bound_reports_a_gap() {
    let (mut p, c, _) = opening();
    let chunk = vec![0x82u8; 60_000];
    // Byte 0 (after the request) never comes; 60 KB segments pile up behind the hole.
    let n = import::MAX_HELD_PER_DIRECTION / chunk.len() + 2;
    for i in 0..n {
        let seq = c.wrapping_add(1 + (i * chunk.len()) as u32);
        p.push(packet(true, seq, Flag::None, &chunk));
    }
    let (events, error, stats) = read(&pcap("full.pcap", &p));
    assert!(error.is_none());
    assert_eq!(
        errors(&events),
        [ErrorKind::Gap {
            direction: Direction::ClientToServer,
            offset: REQUEST.len() as u64,
            missing: 1,
            cause: GapCause::BufferFull {
                limit: import::MAX_HELD_PER_DIRECTION as u64
            },
        }]
    );
    assert_eq!(stats.gaps, 1);
}

/// Past the number of connections followed at once, the next ones are skipped: said once, and
/// counted.
#[test]
fn the_connection_bound_is_reported_once() {
    let extra = 5;
    let p: Vec<Vec<u8>> = (0..import::MAX_FLOWS + extra)
        .map(|i| {
            let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4(C.0, S.0, 64)
                .tcp(10_000 + i as u16, S.1, 7, 65535)
                .syn();
            let mut out = Vec::new();
            b.write(&mut out, &[]).unwrap_or_else(|e| panic!("{e}"));
            out
        })
        .collect();
    let (events, error, stats) = read(&pcap("many.pcap", &p));
    assert!(error.is_none());
    assert_eq!(stats.untracked, extra as u64);
    assert_eq!(stats.flows, import::MAX_FLOWS as u64);
    assert_eq!(
        errors(&events),
        [ErrorKind::FlowLimit {
            limit: import::MAX_FLOWS as u64
        }]
    );
}
