//! Property tests over the capture store ([`Capture`]): random event sequences, realistic ones
//! (random frames both ways cut into random TCP reads and run through the real [`Tap`]) and
//! hostile ones (events built directly, inconsistent with each other, as a capture file can
//! say them). Whatever comes, the store never panics or hangs, holds to its budget after every
//! event, rebuilds every frame it still holds exactly, and what it holds exports (JSON lines,
//! pcap, HAR) and reads back without a panic.
//!
//! Each case runs in a thread with a deadline ([`within`]): a hang fails the test instead of
//! stalling it.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;

use wsscope::capture::{Capture, ConnState};
use wsscope::event::{
    Clock, ClosedBy, ConnId, Direction, Endpoint, ErrorKind, Event, EventKind, GapCause, LimitKind,
};
use wsscope::export::{write_har, write_pcap};
use wsscope::protocol::deflate::{agreed, Deflater};
use wsscope::protocol::handshake::{
    answer, parse_request, Handshake, HandshakeLimits, Parsed, ServerPolicy,
};
use wsscope::protocol::{
    encode_frame, Detail, Fragment, Frame, FrameHeader, LenEncoding, Limits, Message, OpCode, Role,
    Rule, Violation,
};
use wsscope::record::{Reader, Writer};
use wsscope::tap::{Head, Tap};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

/// How long one case may take before it counts as a hang.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `f` in a thread and waits at most [`DEADLINE`]: a panic in it is this thread's panic
/// (so proptest sees and shrinks it), and not finishing in time fails (the thread is left
/// behind; what hung is in the message).
fn within<T: std::fmt::Debug + Send + 'static>(input: T, f: impl FnOnce(T) + Send + 'static) {
    let shown = format!("{input:?}");
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        f(input);
        let _ = tx.send(());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(()) => {
            let _ = handle.join();
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // It ended without sending: it panicked.
            if let Err(p) = handle.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("hung: not done within {DEADLINE:?} on {shown}")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// What the test knows was ingested: every frame by the sequence number the store gave it, and
/// every message's payload by its last frame's number.
#[derive(Default)]
struct Sent {
    frames: HashMap<u64, Frame>,
    /// The last frame ingested per (connection, direction), for the message after it.
    last_frame: HashMap<(ConnId, usize), u64>,
    messages: HashMap<u64, Bytes>,
}

impl Sent {
    /// Ingests `e` into `c`, noting what it carries.
    fn ingest(&mut self, c: &mut Capture, e: Event) {
        match &e.kind {
            EventKind::Frame { direction, frame } => {
                let seq = c.frames_seen();
                self.frames.insert(seq, (**frame).clone());
                // The frames the store gives a message: the data frames since its first, a
                // broken frame ending it.
                let key = (e.conn, direction.index());
                match frame.fragment {
                    _ if !frame.violations.is_empty() => {
                        self.last_frame.remove(&key);
                    }
                    Fragment::Whole | Fragment::First | Fragment::Middle | Fragment::Last => {
                        self.last_frame.insert(key, seq);
                    }
                    Fragment::Control | Fragment::Stray => {}
                }
            }
            EventKind::Closed { .. } => {
                self.last_frame.remove(&(e.conn, 0));
                self.last_frame.remove(&(e.conn, 1));
            }
            EventKind::Message { direction, message } => {
                if let Some(f) = self.last_frame.remove(&(e.conn, direction.index())) {
                    self.messages.insert(f, message.payload.clone());
                }
            }
            _ => {}
        }
        c.ingest(e);
    }
}

/// TCP records the store holds.
fn tcp_records(c: &Capture) -> usize {
    c.connections
        .iter()
        .map(|k| k.tcp_of(C2S).len() + k.tcp_of(S2C).len())
        .sum()
}

/// The budget: what the store counts is within its limit, or it holds no record at all (a
/// budget smaller than its fixed part: it drops everything it can) and no more than what it
/// cannot drop.
fn check_budget(c: &Capture, after: &str) {
    let held = c.memory();
    if held <= c.limit() {
        return;
    }
    assert!(
        c.frame_count() == 0 && c.message_count() == 0 && tcp_records(c) == 0,
        "after {after}: {held} B held over the limit {} with {} frames, {} messages, {} TCP \
         records left",
        c.limit(),
        c.frame_count(),
        c.message_count(),
        tcp_records(c),
    );
    assert!(
        held <= c.unevictable(),
        "after {after}: {held} B held, more than the {} B it cannot drop",
        c.unevictable()
    );
}

/// Every frame still held comes back as it was sent (`whole`: header bytes and all; else its
/// payload, header fields and offset, the events being inconsistent on purpose), and every
/// message still held with its payload has the payload that was sent.
fn check_rebuilt(c: &Capture, sent: &Sent, whole: bool) {
    for (seq, r) in c.frames_from(c.first_frame()) {
        let Some(f) = c.frame(seq) else {
            panic!("frame {seq} is listed but does not rebuild: {r:?}");
        };
        let Some(want) = sent.frames.get(&seq) else {
            panic!("frame {seq} was never sent");
        };
        if whole {
            assert_eq!(&f, want, "frame {seq}");
        } else {
            assert_eq!(f.payload, want.payload, "payload of frame {seq}");
            assert_eq!(f.header, want.header, "header of frame {seq}");
            assert_eq!(f.offset, want.offset, "offset of frame {seq}");
        }
    }
    for (seq, m) in c.messages_from(0) {
        let frames = m.frames();
        let payload = c.message_payload(m);
        if whole && frames.iter().all(|&f| c.frame_record(f).is_some()) {
            assert!(payload.is_some(), "message {seq}: its frames are held");
        }
        let (Some(p), Some(last)) = (payload, frames.last()) else {
            continue;
        };
        if let Some(want) = sent.messages.get(last) {
            assert_eq!(&p, want, "message {seq}");
        }
    }
}

/// A name for a file of this test, unique in the process.
fn scratch_path(what: &str) -> std::path::PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "capture-props-{}-{what}-{}.jsonl",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Exports what `c` holds, all at once and streamed in small chunks, as JSON lines, pcap and
/// HAR; reads the JSON lines back into a new store. `strict`: the events are realistic, so
/// every writer must succeed (hostile ones may be refused, e.g. a time the pcap cannot hold).
fn check_export(c: &Capture, strict: bool) {
    let all = c.events();
    let streamed: Vec<Event> = c.export().with_chunks(300, 3).events(|f| f(c)).collect();
    assert_eq!(all.len(), streamed.len(), "streamed export differs");
    let mut pcap = Vec::new();
    let p = write_pcap(all.iter().cloned(), &mut pcap);
    let mut har = Vec::new();
    let h = write_har(all.iter().cloned(), &mut har);
    if strict {
        if let Err(e) = p {
            panic!("pcap: {e}");
        }
        if let Err(e) = h {
            panic!("har: {e}");
        }
    }
    let path = scratch_path("export");
    let clock = Clock {
        epoch: Instant::now(),
        wall: std::time::UNIX_EPOCH,
    };
    let mut w = match Writer::create_with_clock(&path, &clock) {
        Ok(w) => w,
        Err(e) => panic!("{e}"),
    };
    for e in &all {
        if let Err(e) = w.write(e) {
            panic!("jsonl: {e}");
        }
    }
    if let Err(e) = w.flush() {
        panic!("{e}");
    }
    drop(w);
    let mut back = Capture::new(c.budget);
    let mut read = 0;
    match Reader::open(&path) {
        Ok(r) => {
            for e in r {
                match e {
                    Ok(e) => {
                        read += 1;
                        back.ingest(e);
                    }
                    Err(e) if strict => panic!("read back: {e}"),
                    Err(_) => break,
                }
            }
        }
        Err(e) => panic!("read back: {e}"),
    }
    if strict {
        assert_eq!(read, all.len(), "events read back");
    }
    let _ = back.events();
    let _ = std::fs::remove_file(&path);
}

/// The budgets tried: none at all, smaller than one block of records, around what a few
/// frames take, and roomy.
fn budget() -> impl Strategy<Value = usize> {
    prop_oneof![
        1 => Just(0usize),
        1 => Just(1),
        1 => 1usize..5_000,
        3 => 20_000usize..80_000,
        2 => 80_000usize..400_000,
        1 => Just(4 << 20),
    ]
}

// ---------------------------------------------------------------------------------------------
// Realistic events: random frames through the real tap
// ---------------------------------------------------------------------------------------------

/// A control frame.
#[derive(Debug, Clone)]
struct Control {
    opcode: OpCode,
    payload: Vec<u8>,
}

/// What one sender puts on the wire, a message or a frame at a time.
#[derive(Debug, Clone)]
enum Item {
    /// A data message, cut into frames at `cuts` (empty frames where cuts repeat), with
    /// control frames between them, compressed when `deflate` (and the handshake agreed it).
    Data {
        text: bool,
        payload: Vec<u8>,
        cuts: Vec<u16>,
        controls: Vec<(u16, Control)>,
        deflate: bool,
    },
    /// A message of one frame without FIN and `empty` empty continuations, the last with FIN
    /// (or none: the message stays open).
    Empties { empty: u16, finish: bool },
    /// A control frame alone.
    Control(Control),
    /// A frame with any first byte (FIN, RSV and opcode bits).
    Raw { byte0: u8, payload: Vec<u8> },
}

fn control() -> impl Strategy<Value = Control> {
    (
        // A close makes every later frame of its direction one after close: rarer.
        prop_oneof![3 => Just(OpCode::Ping), 2 => Just(OpCode::Pong), 1 => Just(OpCode::Close)],
        prop_oneof![
            4 => prop::collection::vec(any::<u8>(), 0..20),
            1 => prop::collection::vec(any::<u8>(), 120..130),
        ],
    )
        .prop_map(|(opcode, payload)| Control { opcode, payload })
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..200),
        2 => "[a-zé你 ]{0,80}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 1000..2600),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        8 => any::<bool>().prop_flat_map(|text| (
            Just(text),
            // Mostly valid UTF-8 in a text message (random bytes break §8.1 at once).
            if text {
                prop_oneof![4 => "[a-zé你 ]{0,300}".prop_map(String::into_bytes), 1 => payload()].boxed()
            } else {
                payload().boxed()
            },
            prop::collection::vec(any::<u16>(), 0..4),
            prop::collection::vec((any::<u16>(), control()), 0..2),
            any::<bool>(),
        ))
            .prop_map(|(text, payload, cuts, controls, deflate)| Item::Data {
                text,
                payload,
                cuts,
                controls,
                deflate,
            }),
        1 => (0u16..300, any::<bool>()).prop_map(|(empty, finish)| Item::Empties { empty, finish }),
        1 => control().prop_map(Item::Control),
        1 => (any::<u8>(), prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(byte0, payload)| Item::Raw { byte0, payload }),
    ]
}

/// One connection: what each side sends, how its reads are cut, and how it ends.
#[derive(Debug, Clone)]
struct Conn {
    deflate: bool,
    /// Limits small enough that some frames break them (decoding stops there).
    small_limits: bool,
    items: [Vec<Item>; 2],
    /// Where each direction's bytes are cut into reads (fractions of 2^16).
    cuts: [Vec<u16>; 2],
    /// Frames sent against the masking rule (an unmasked client frame, a masked server one).
    wrong_mask: bool,
    keys: Vec<[u8; 4]>,
    close: Option<bool>,
}

fn conn() -> impl Strategy<Value = Conn> {
    (
        any::<bool>(),
        prop::bool::weighted(0.2),
        [
            prop::collection::vec(item(), 0..12),
            prop::collection::vec(item(), 0..12),
        ],
        [
            prop::collection::vec(any::<u16>(), 0..30),
            prop::collection::vec(any::<u16>(), 0..30),
        ],
        prop::bool::weighted(0.1),
        prop::collection::vec(any::<[u8; 4]>(), 1..4),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(deflate, small_limits, items, cuts, wrong_mask, keys, close)| Conn {
                deflate,
                small_limits,
                items,
                cuts,
                wrong_mask,
                keys,
                close,
            },
        )
}

/// A request head that offers permessage-deflate when `deflate`.
fn request(deflate: bool) -> Vec<u8> {
    let mut r = String::from(
        "GET /props HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    );
    if deflate {
        r.push_str("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// One sender's bytes for `items`.
fn wire(c: &Conn, sender: Role, items: &[Item], deflater: &mut Option<Deflater>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut k = 0usize;
    let mut key = |c: &Conn| {
        k += 1;
        let masked = (sender == Role::Client) != (c.wrong_mask && k % 3 == 0);
        masked.then(|| c.keys[k % c.keys.len()])
    };
    let frame = |out: &mut Vec<u8>,
                 opcode: OpCode,
                 fin: bool,
                 rsv1: bool,
                 payload: &[u8],
                 key: Option<[u8; 4]>| {
        let mut h = FrameHeader::new(opcode, payload.len() as u64, key);
        h.fin = fin;
        h.rsv[0] = rsv1;
        encode_frame(h, payload, out);
    };
    for item in items {
        match item {
            Item::Data {
                text,
                payload,
                cuts,
                controls,
                deflate,
            } => {
                let (body, rsv1) = match deflater.as_mut().filter(|_| *deflate) {
                    Some(d) => d.deflate(payload),
                    None => (payload.clone(), false),
                };
                let mut at: Vec<usize> = cuts
                    .iter()
                    .map(|&x| body.len() * usize::from(x) / 65_536)
                    .collect();
                at.sort_unstable();
                at.push(body.len());
                let mut from = 0;
                for (i, &to) in at.iter().enumerate() {
                    let opcode = match (i, text) {
                        (0, true) => OpCode::Text,
                        (0, false) => OpCode::Binary,
                        _ => OpCode::Continuation,
                    };
                    let last = i + 1 == at.len();
                    frame(
                        &mut out,
                        opcode,
                        last,
                        rsv1 && i == 0,
                        &body[from..to],
                        key(c),
                    );
                    from = to;
                    for (pos, ctl) in controls {
                        if usize::from(*pos) % at.len() == i && !last {
                            frame(&mut out, ctl.opcode, true, false, &ctl.payload, key(c));
                        }
                    }
                }
            }
            Item::Empties { empty, finish } => {
                frame(&mut out, OpCode::Binary, false, false, b"x", key(c));
                for i in 0..*empty {
                    let fin = *finish && i + 1 == *empty;
                    frame(&mut out, OpCode::Continuation, fin, false, &[], key(c));
                }
            }
            Item::Control(ctl) => frame(&mut out, ctl.opcode, true, false, &ctl.payload, key(c)),
            Item::Raw { byte0, payload } => {
                let mut h = FrameHeader::new(OpCode::from(byte0 & 0x0f), 0, key(c));
                h.fin = byte0 & 0x80 != 0;
                h.rsv = [byte0 & 0x40 != 0, byte0 & 0x20 != 0, byte0 & 0x10 != 0];
                encode_frame(h, payload, &mut out);
            }
        }
    }
    out
}

/// `bytes` cut at `cuts` (fractions of 2^16) into non-empty reads.
fn reads(bytes: &[u8], cuts: &[u16]) -> Vec<Bytes> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|&x| bytes.len() * usize::from(x) / 65_536)
        .collect();
    at.sort_unstable();
    at.push(bytes.len());
    let mut out = Vec::new();
    let mut from = 0;
    for to in at {
        if to > from {
            out.push(Bytes::copy_from_slice(&bytes[from..to]));
            from = to;
        }
    }
    out
}

/// A session of several connections through the real tap: each one's request head (cut in
/// two), the server's answer, then every read of every connection and direction in the order
/// `schedule` picks, each connection's close last. Returns the events in order.
fn session(conns: &[Conn], schedule: &[u8]) -> Vec<Event> {
    let mut out = Vec::new();
    out.push(Event {
        conn: 0,
        time: Duration::ZERO,
        kind: EventKind::Clock {
            unix_micros: 1_700_000_000_000_000,
        },
    });
    let mut t = Duration::from_millis(1);
    let mut taps = Vec::new();
    // (tap index, direction, read) in per-direction order.
    let mut queues: Vec<(usize, Direction, std::collections::VecDeque<Bytes>)> = Vec::new();
    for (i, c) in conns.iter().enumerate() {
        let id = i as ConnId + 1;
        let mut tap = Tap::replay(id, Endpoint::File, t);
        let client = std::net::SocketAddr::from(([127, 0, 0, 1], 40_000 + i as u16));
        let server = std::net::SocketAddr::from(([127, 0, 0, 1], 8765));
        out.push(tap.opened(client, server));
        let head = request(c.deflate);
        let mut req = None;
        let split = head.len() / 2;
        for piece in [&head[..split], &head[split..]] {
            t += Duration::from_micros(10);
            tap.set_time(t);
            match tap.request_bytes(
                Bytes::copy_from_slice(piece),
                &HandshakeLimits::default(),
                &mut out,
            ) {
                Head::Complete(r) => req = Some(r),
                Head::Partial => {}
                Head::Refused(e) => panic!("refused: {e}"),
            }
        }
        let Some(req) = req else {
            panic!("the head did not complete");
        };
        let policy = ServerPolicy {
            deflate: c.deflate,
            ..ServerPolicy::default()
        };
        let hs = answer(req, &policy);
        assert!(hs.accepted(), "{:?}", hs.checks);
        let params = agreed(&hs);
        let raw = Bytes::copy_from_slice(&hs.response.raw);
        let limits = if c.small_limits {
            Limits {
                max_frame_size: 700,
                max_message_size: 1500,
            }
        } else {
            Limits::default()
        };
        tap.handshake(hs, limits, &mut out);
        tap.tcp(S2C, raw, &mut out);
        for (d, sender) in [(C2S, Role::Client), (S2C, Role::Server)] {
            let mut deflater = params.as_ref().map(|p| Deflater::new(p, sender));
            let bytes = wire(c, sender, &c.items[d.index()], &mut deflater);
            queues.push((i, d, reads(&bytes, &c.cuts[d.index()]).into()));
        }
        taps.push(tap);
    }
    let mut pick = schedule.iter().cycle();
    loop {
        let ready: Vec<usize> = (0..queues.len())
            .filter(|&q| !queues[q].2.is_empty())
            .collect();
        if ready.is_empty() {
            break;
        }
        let q = ready[usize::from(*pick.next().unwrap_or(&0)) % ready.len()];
        let (i, d, queue) = &mut queues[q];
        let Some(bytes) = queue.pop_front() else {
            continue;
        };
        t += Duration::from_micros(100);
        taps[*i].set_time(t);
        taps[*i].observe(*d, bytes, &mut out);
    }
    for (tap, c) in taps.iter_mut().zip(conns) {
        if let Some(by_client) = c.close {
            t += Duration::from_micros(100);
            tap.set_time(t);
            let by = if by_client {
                ClosedBy::Client
            } else {
                ClosedBy::Server
            };
            out.push(tap.closed_unclean(by));
        }
    }
    out
}

/// Realistic: the events a session gives, ingested one by one.
#[derive(Debug, Clone)]
struct Realistic {
    conns: Vec<Conn>,
    schedule: Vec<u8>,
    budget: usize,
    /// Where an export starts (a fraction of 256 of the events), the rest ingested between
    /// its chunks.
    export_at: u8,
}

fn realistic() -> impl Strategy<Value = Realistic> {
    (
        prop::collection::vec(conn(), 1..4),
        prop::collection::vec(any::<u8>(), 1..64),
        budget(),
        any::<u8>(),
    )
        .prop_map(|(conns, schedule, budget, export_at)| Realistic {
            conns,
            schedule,
            budget,
            export_at,
        })
}

fn run_realistic(r: Realistic) {
    let events = session(&r.conns, &r.schedule);
    let mut c = Capture::new(r.budget);
    let mut sent = Sent::default();
    let split = events.len() * usize::from(r.export_at) / 256;
    let (first, rest) = events.split_at(split);
    for (i, e) in first.iter().enumerate() {
        sent.ingest(&mut c, e.clone());
        check_budget(&c, &format!("event {i}"));
        if i % 16 == 0 {
            check_rebuilt(&c, &sent, true);
        }
    }
    check_rebuilt(&c, &sent, true);
    // An export that runs while the rest arrives (and the budget drops what it has not
    // reached yet).
    let mut rest = rest.chunks(5);
    let mut it = c.export().with_chunks(500, 4).events(|f| {
        for e in rest.next().unwrap_or_default() {
            sent.ingest(&mut c, e.clone());
            check_budget(&c, "an event during the export");
        }
        f(&c)
    });
    let during: Vec<Event> = it.by_ref().collect();
    drop(it);
    assert!(during.windows(2).all(|w| w[0].time <= w[1].time));
    common::stream_ends(&during);
    for e in rest.flatten() {
        sent.ingest(&mut c, e.clone());
        check_budget(&c, "an event after the export");
    }
    check_rebuilt(&c, &sent, true);
    let all = c.events();
    common::stream_ends(&all);
    check_export(&c, true);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        max_shrink_time: 120_000,
        ..ProptestConfig::default()
    })]

    /// Realistic sessions through the tap: no panic, the budget after every event, every held
    /// frame and message rebuilt exactly, gaps where bytes end, exports that succeed.
    #[test]
    fn realistic_sessions_keep_the_store_sound(r in realistic()) {
        within(r, run_realistic);
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile events: built directly, inconsistent on purpose
// ---------------------------------------------------------------------------------------------

/// Offsets and lengths: small, near `u64::MAX`, anything.
fn big() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0u64..2000,
        2 => (u64::MAX - 2000)..=u64::MAX,
        1 => any::<u64>(),
    ]
}

fn conn_id() -> impl Strategy<Value = ConnId> {
    // Mostly a few connections that share events; sometimes a new one, as a file that opens
    // connections without end says them.
    prop_oneof![8 => 0u64..4, 1 => Just(u64::MAX), 1 => 4u64..1_000_000]
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(C2S), Just(S2C)]
}

fn fragment() -> impl Strategy<Value = Fragment> {
    prop_oneof![
        Just(Fragment::Whole),
        Just(Fragment::First),
        Just(Fragment::Middle),
        Just(Fragment::Last),
        Just(Fragment::Control),
        Just(Fragment::Stray),
    ]
}

/// One hostile step.
#[derive(Debug, Clone)]
enum Op {
    Opened(ConnId),
    Tcp {
        conn: ConnId,
        dir: Direction,
        bytes: Vec<u8>,
    },
    Handshake(ConnId),
    Frame {
        conn: ConnId,
        dir: Direction,
        offset: u64,
        opcode: u8,
        fin: bool,
        rsv1: bool,
        key: Option<[u8; 4]>,
        /// The header's length field: the payload's, or anything.
        len_field: Option<u64>,
        wide: bool,
        payload: Vec<u8>,
        /// Cut from the last TCP event's bytes instead (from, len), as the tap does.
        share: Option<(u16, u16)>,
        fragment: Fragment,
        captured: bool,
        violation: bool,
    },
    Message {
        conn: ConnId,
        dir: Direction,
        text: bool,
        payload: Vec<u8>,
        frames: usize,
        start: u64,
        end: u64,
    },
    Gap {
        conn: ConnId,
        dir: Direction,
        offset: u64,
        missing: u64,
    },
    OwnFrameTooBig {
        conn: ConnId,
        dir: Direction,
        offset: u64,
        announced: u64,
    },
    Closed(ConnId, bool),
    Limit(ConnId, u64, u64),
    Clock(u64),
    Listening,
    Stopped,
    Squeeze(Option<u32>),
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    let frame = (
        (
            conn_id(),
            direction(),
            big(),
            0u8..16,
            any::<bool>(),
            any::<bool>(),
        ),
        (
            prop::option::of(any::<[u8; 4]>()),
            prop::option::weighted(0.2, big()),
            any::<bool>(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..64),
                prop::collection::vec(any::<u8>(), 1024..1500),
            ],
        ),
        (
            prop::option::weighted(0.4, (any::<u16>(), any::<u16>())),
            fragment(),
            prop::bool::weighted(0.9),
            prop::bool::weighted(0.1),
        ),
    )
        .prop_map(
            |(
                (conn, dir, offset, opcode, fin, rsv1),
                (key, len_field, wide, payload),
                (share, fragment, captured, violation),
            )| Op::Frame {
                conn,
                dir,
                offset,
                opcode,
                fin,
                rsv1,
                key,
                len_field,
                wide,
                payload,
                share,
                fragment,
                captured,
                violation,
            },
        );
    prop_oneof![
        1 => conn_id().prop_map(Op::Opened),
        4 => (
            conn_id(),
            direction(),
            prop_oneof![
                2 => prop::collection::vec(any::<u8>(), 0..3),
                3 => prop::collection::vec(any::<u8>(), 0..200),
                1 => prop::collection::vec(any::<u8>(), 1000..3000),
            ],
        )
            .prop_map(|(conn, dir, bytes)| Op::Tcp { conn, dir, bytes }),
        1 => conn_id().prop_map(Op::Handshake),
        8 => frame,
        3 => (
            conn_id(),
            direction(),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..100),
            0usize..4,
            big(),
            big(),
        )
            .prop_map(|(conn, dir, text, payload, frames, start, end)| Op::Message {
                conn,
                dir,
                text,
                payload,
                frames,
                start,
                end,
            }),
        2 => (conn_id(), direction(), big(), big()).prop_map(|(conn, dir, offset, missing)| {
            Op::Gap {
                conn,
                dir,
                offset,
                missing,
            }
        }),
        1 => (conn_id(), direction(), big(), big()).prop_map(|(conn, dir, offset, announced)| {
            Op::OwnFrameTooBig {
                conn,
                dir,
                offset,
                announced,
            }
        }),
        1 => (conn_id(), any::<bool>()).prop_map(|(c, b)| Op::Closed(c, b)),
        1 => (conn_id(), big(), big()).prop_map(|(c, l, a)| Op::Limit(c, l, a)),
        1 => any::<u64>().prop_map(Op::Clock),
        1 => Just(Op::Listening),
        1 => Just(Op::Stopped),
        1 => prop::option::of(any::<u32>()).prop_map(Op::Squeeze),
        1 => Just(Op::Clear),
    ]
}

/// An accepted handshake, as the tap makes it.
fn handshake() -> Handshake {
    let head = request(false);
    match parse_request(&head, &HandshakeLimits::default()) {
        Ok(Parsed::Complete(r)) => answer(r, &ServerPolicy::default()),
        other => panic!("{other:?}"),
    }
}

#[derive(Debug, Clone)]
struct Hostile {
    ops: Vec<(u64, Op)>,
    budget: usize,
}

fn hostile() -> impl Strategy<Value = Hostile> {
    (
        prop::collection::vec(
            (prop_oneof![4 => 0u64..10_000_000, 1 => any::<u64>()], op()),
            0..120,
        ),
        budget(),
    )
        .prop_map(|(ops, budget)| Hostile { ops, budget })
}

/// The event of one hostile step at `t_us` (none for the steps that act on the store).
fn hostile_event(t_us: u64, op: &Op, last_tcp: &mut Bytes, hs: &Handshake) -> Option<Event> {
    let ev = |conn: ConnId, kind: EventKind| Event {
        conn,
        time: Duration::from_micros(t_us),
        kind,
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 9000));
    Some(match op.clone() {
        Op::Opened(conn) => ev(
            conn,
            EventKind::Opened {
                endpoint: Endpoint::File,
                client: addr,
                server: addr,
            },
        ),
        Op::Tcp { conn, dir, bytes } => {
            *last_tcp = Bytes::from(bytes);
            ev(
                conn,
                EventKind::Tcp {
                    direction: dir,
                    bytes: last_tcp.clone(),
                },
            )
        }
        Op::Handshake(conn) => ev(conn, EventKind::Handshake(Box::new(hs.clone()))),
        Op::Frame {
            conn,
            dir,
            offset,
            opcode,
            fin,
            rsv1,
            key,
            len_field,
            wide,
            payload,
            share,
            fragment,
            captured,
            violation,
        } => {
            let payload = match share {
                Some((from, len)) if !last_tcp.is_empty() => {
                    let from = usize::from(from) % last_tcp.len();
                    let to = (from + usize::from(len) % 2000).min(last_tcp.len());
                    last_tcp.slice(from..to)
                }
                _ => Bytes::from(payload),
            };
            let mut header = FrameHeader::new(
                OpCode::from(opcode),
                len_field.unwrap_or(payload.len() as u64),
                key,
            );
            header.fin = fin;
            header.rsv[0] = rsv1;
            if wide {
                header.len_encoding = LenEncoding::SixtyFour;
            }
            let mut header_bytes = Vec::new();
            header.encode(&mut header_bytes);
            let violations = if violation {
                vec![Violation::new(
                    Rule::FrameTooBig,
                    offset..offset.saturating_add(9),
                    Detail::None,
                )]
            } else {
                Vec::new()
            };
            ev(
                conn,
                EventKind::Frame {
                    direction: dir,
                    frame: Box::new(Frame {
                        offset,
                        header,
                        header_bytes: header_bytes.into(),
                        payload,
                        payload_captured: captured,
                        fragment,
                        violations,
                    }),
                },
            )
        }
        Op::Message {
            conn,
            dir,
            text,
            payload,
            frames,
            start,
            end,
        } => ev(
            conn,
            EventKind::Message {
                direction: dir,
                message: Message {
                    opcode: if text { OpCode::Text } else { OpCode::Binary },
                    payload: payload.into(),
                    frame_count: frames,
                    byte_range: start..end,
                },
            },
        ),
        Op::Gap {
            conn,
            dir,
            offset,
            missing,
        } => ev(
            conn,
            EventKind::Error(ErrorKind::Gap {
                direction: dir,
                offset,
                missing,
                cause: GapCause::EndOfFile,
            }),
        ),
        Op::OwnFrameTooBig {
            conn,
            dir,
            offset,
            announced,
        } => ev(
            conn,
            EventKind::Error(ErrorKind::OwnFrameTooBig {
                direction: dir,
                offset,
                announced,
                limit: 1,
            }),
        ),
        Op::Closed(conn, clean) => ev(
            conn,
            EventKind::Closed {
                code: None,
                reason: "bye".into(),
                by: ClosedBy::Client,
                clean,
            },
        ),
        Op::Limit(conn, limit, actual) => ev(
            conn,
            EventKind::Limit {
                kind: LimitKind::FrameSize,
                limit,
                actual,
            },
        ),
        Op::Clock(unix_micros) => ev(0, EventKind::Clock { unix_micros }),
        Op::Listening => ev(0, EventKind::Listening { addr }),
        Op::Stopped => ev(0, EventKind::Stopped),
        Op::Squeeze(_) | Op::Clear => return None,
    })
}

/// The connections the store should count as open: held, opened (an `Opened` event while its
/// record was not held or not closed), and not closed since. `e` is about to be ingested; after
/// it, [`forget_dropped`].
fn note_open(c: &Capture, e: &Event, opened: &mut HashSet<ConnId>) {
    let not_closed = || {
        c.connection(e.conn)
            .is_none_or(|k| k.state != ConnState::Closed)
    };
    match e.kind {
        EventKind::Opened { .. } if not_closed() => {
            opened.insert(e.conn);
        }
        EventKind::Closed { .. } => {
            opened.remove(&e.conn);
        }
        _ => {}
    }
}

/// A connection the budget dropped is no longer counted (an event for it later is not an
/// opening).
fn forget_dropped(c: &Capture, opened: &mut HashSet<ConnId>) {
    opened.retain(|&id| c.connection(id).is_some());
}

fn run_hostile(h: Hostile) {
    let hs = handshake();
    let mut c = Capture::new(h.budget);
    let mut sent = Sent::default();
    let mut last_tcp = Bytes::new();
    let mut opened = HashSet::new();
    for (i, (t_us, op)) in h.ops.iter().enumerate() {
        match op {
            Op::Squeeze(to) => c.squeeze(to.map(|x| x as usize), 0),
            Op::Clear => c.clear(),
            _ => {
                if let Some(e) = hostile_event(*t_us, op, &mut last_tcp, &hs) {
                    note_open(&c, &e, &mut opened);
                    sent.ingest(&mut c, e);
                }
            }
        }
        forget_dropped(&c, &mut opened);
        assert_eq!(
            c.open_connections(),
            opened.len(),
            "step {i}: {op:?}: open connections {opened:?}"
        );
        check_budget(&c, &format!("step {i}: {op:?}"));
        if i % 8 == 0 {
            check_rebuilt(&c, &sent, false);
        }
    }
    check_rebuilt(&c, &sent, false);
    check_export(&c, false);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        max_shrink_time: 120_000,
        ..ProptestConfig::default()
    })]

    /// Events built directly, inconsistent with each other and with offsets, lengths and
    /// times near their limits: no panic, the budget after every step, held frames rebuilt,
    /// whatever is held exports and reads back without a panic.
    #[test]
    fn hostile_events_keep_the_store_sound(h in hostile()) {
        within(h, run_hostile);
    }
}

// ---------------------------------------------------------------------------------------------
// Connections without end
// ---------------------------------------------------------------------------------------------

fn opened(t_us: u64, conn: ConnId) -> Event {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 9000));
    Event {
        conn,
        time: Duration::from_micros(t_us),
        kind: EventKind::Opened {
            endpoint: Endpoint::File,
            client: addr,
            server: addr,
        },
    }
}

fn read(t_us: u64, conn: ConnId, bytes: &'static [u8]) -> Event {
    Event {
        conn,
        time: Duration::from_micros(t_us),
        kind: EventKind::Tcp {
            direction: C2S,
            bytes: Bytes::from_static(bytes),
        },
    }
}

fn closed(t_us: u64, conn: ConnId) -> Event {
    Event {
        conn,
        time: Duration::from_micros(t_us),
        kind: EventKind::Closed {
            code: None,
            reason: String::new(),
            by: ClosedBy::Client,
            clean: false,
        },
    }
}

/// A file that opens connections without end and never closes them (each with one small TCP
/// read): the store holds no more than its budget, or than the fixed part it cannot drop, which
/// does not grow with the connections; the oldest connections go, open as they are, and are
/// counted as dropped (so the window says so, and since when). They were held for good, and
/// past the budget, before.
#[test]
fn endless_open_connections_keep_the_store_bounded() {
    within((), |()| {
        let budget = 64 << 10;
        let mut c = Capture::new(budget);
        let fixed = c.unevictable();
        let mut t = 0;
        for conn in 0..100_000u64 {
            for e in [opened(t, conn), read(t + 1, conn, b"GET / HTTP/1.1\r\n")] {
                t += 2;
                c.ingest(e);
                assert!(
                    c.memory() <= budget.max(c.unevictable()),
                    "connection {conn}: {} B held, budget {budget} B, {} connections listed",
                    c.memory(),
                    c.connections.len()
                );
                assert!(
                    c.unevictable() <= fixed,
                    "connection {conn}: {} B cannot be dropped, {fixed} B at the start",
                    c.unevictable()
                );
            }
        }
        assert!(c.memory() <= budget, "{} B held", c.memory());
        let held = c.connections.len() as u64;
        assert!(held < 1000, "{held} connections listed");
        assert_eq!(c.dropped.connections + held, 100_000);
        assert!(c.dropped.since.is_some(), "the window would not say");
        // The newest is held, and what is held is counted as open.
        assert!(c.connection(99_999).is_some());
        assert_eq!(c.open_connections() as u64, held);
    });
}

/// A late event for a connection that closed and was dropped (here a TCP read and a second
/// close, as a capture file can say them) does not make it an open connection again: the open
/// count stays right, and goes to 0 once every connection closed. It went up by one for good
/// before.
#[test]
fn a_late_event_for_a_dropped_connection_does_not_open_it() {
    let mut c = Capture::new(40 << 10);
    c.ingest(opened(0, 1));
    c.ingest(read(1, 1, b"hello"));
    c.ingest(closed(2, 1));
    c.ingest(opened(3, 2));
    assert_eq!(c.open_connections(), 1);
    let mut t = 4;
    while c.connection(1).is_some() {
        assert!(t < 100_000, "connection 1 never went");
        c.ingest(read(t, 2, &[0; 1000]));
        t += 1;
    }
    assert!(c.dropped.connections >= 1);
    // Late: a read on connection 1, then its close again.
    c.ingest(read(t, 1, b"late"));
    assert!(c.connection(1).is_some(), "its late read is listed");
    assert_eq!(
        c.open_connections(),
        1,
        "the late read opened connection 1 again"
    );
    c.ingest(closed(t + 1, 1));
    assert_eq!(c.open_connections(), 1);
    c.ingest(closed(t + 2, 2));
    assert_eq!(c.open_connections(), 0);
}
