//! The bounded store of everything the engine saw: connections, handshakes, TCP reads and
//! writes, frames and messages. Counts are maintained as events arrive, so a view never walks the
//! whole capture per frame.
//!
//! Memory: every byte kept (TCP reads and writes, frame payloads) is copied into one
//! [`ByteLog`] in arrival order, and every record is a small fixed-size struct in [`Blocks`];
//! nothing points into the engine's read buffers. The budget counts all of it — the log, the
//! record blocks, the per-connection indexes, handshakes, notices — by what is allocated, not by
//! what is used. When it is exceeded the oldest log chunk goes, and with it every record whose
//! bytes were in it (whole records: a frame, its message, the TCP call); closed connections go
//! once nothing of theirs is left. What went, and since when, is counted for the window.

pub mod filter;
mod replay;
mod store;

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::event::{
    ClosedBy, ConnId, Direction, Endpoint, ErrorKind, Event, EventKind, HttpOutcome, LimitKind,
    RequestLine,
};
use crate::protocol::handshake::Handshake;
use crate::protocol::{CloseCode, Fragment, Frame, FrameHeader, OpCode, Violation};

pub use replay::Mark;
pub use store::{Blocks, ByteLog};

/// Sequence number of a frame, message or TCP call: stable for the life of the capture (the
/// oldest are dropped, the others keep their number).
pub type Seq = u64;

/// "None" in the record fields that would otherwise need an `Option` (and 8 more bytes).
const NONE: u64 = u64::MAX;

/// Notices kept (limits hit, errors); older ones are dropped.
const MAX_NOTICES: usize = 1000;

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// TCP is open; the opening handshake has not completed.
    Handshaking,
    /// The connection switched to WebSocket.
    Open,
    /// TCP is closed.
    Closed,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseRecord {
    /// The close code (1005 for a close frame without one, 1006 for none at all).
    pub code: Option<CloseCode>,
    /// The reason text.
    pub reason: String,
    /// Who started it.
    pub by: ClosedBy,
    /// Whether both close frames were exchanged.
    pub clean: bool,
}

/// One TCP read or write.
#[derive(Debug, Clone)]
pub struct TcpRecord {
    time_ns: u64,
    /// On which connection.
    pub conn: ConnId,
    /// Bytes before this call in the same direction since the connection opened.
    pub offset: u64,
    /// Where its bytes are in the log.
    log: u64,
    /// Bytes in this call.
    len: u32,
    /// Read or write.
    pub direction: Direction,
}

impl TcpRecord {
    /// Bytes in this call.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the call carried no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// When.
    pub fn time(&self) -> Duration {
        Duration::from_nanos(self.time_ns)
    }

    /// The stream range this call carried.
    pub fn range(&self) -> std::ops::Range<u64> {
        self.offset..self.offset + u64::from(self.len)
    }
}

/// How frames fell into TCP reads or writes in one direction: the seed's point that TCP is a byte
/// stream (one read can hold several frames, or part of one) and that the length field is what
/// finds the frames again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Calls that carried the end of one thing (the handshake or a frame) and the start of the
    /// next: "sticky packets" (粘包).
    pub sticky_calls: u64,
    /// Frames whose bytes came in more than one call: "split packets" (拆包).
    pub split_frames: u64,
    /// Offset of the last call counted as sticky (each call counts once).
    last_sticky: Option<u64>,
}

/// Everything about one connection.
#[derive(Debug, Clone)]
pub struct ConnRecord {
    /// Its number.
    pub id: ConnId,
    /// Which end wsscope is on it.
    pub endpoint: Option<Endpoint>,
    /// The client's address.
    pub client: Option<SocketAddr>,
    /// The server's address.
    pub server: Option<SocketAddr>,
    /// When it opened.
    pub opened_at: Duration,
    /// Handshaking, open or closed.
    pub state: ConnState,
    /// The opening handshake, when one was attempted.
    pub handshake: Option<Box<Handshake>>,
    /// A plain HTTP answer (demo page, 404, 431...), with its reason.
    pub http: Option<HttpRecord>,
    /// Frames client→server, server→client, since it opened (dropped ones included).
    pub frames: [u64; 2],
    /// TCP bytes client→server, server→client, since it opened.
    pub bytes: [u64; 2],
    /// How it ended.
    pub close: Option<CloseRecord>,
    /// Its kept TCP calls per direction (client→server, server→client).
    tcp_by_dir: [VecDeque<Seq>; 2],
    /// Its kept frames, both directions, in order.
    all_frames: VecDeque<Seq>,
    /// Where the WebSocket stream starts in each direction's TCP stream: after the request
    /// head and after the 101 response (frame offsets count from there).
    pub ws_start: [Option<u64>; 2],
    /// Sticky calls and split frames per direction.
    pub stream: [StreamStats; 2],
    /// The log's end when something last happened on it: once the log starts after this,
    /// nothing of the connection is left.
    last_log: u64,
    /// What the budget counts for it (the record, its indexes, the handshake).
    mem: usize,
    /// When and where in the stream of records its opening, handshake, HTTP answer and close
    /// came ([`Capture::events`] puts them back there).
    marks: replay::ConnMarks,
}

impl ConnRecord {
    fn new(id: ConnId, time: Duration) -> Self {
        Self {
            id,
            endpoint: None,
            client: None,
            server: None,
            opened_at: time,
            state: ConnState::Handshaking,
            handshake: None,
            http: None,
            frames: [0; 2],
            bytes: [0; 2],
            close: None,
            tcp_by_dir: Default::default(),
            all_frames: VecDeque::new(),
            ws_start: [None; 2],
            stream: Default::default(),
            last_log: 0,
            mem: 0,
            marks: replay::ConnMarks::default(),
        }
    }

    /// What the budget counts for this connection.
    fn measure(&self) -> usize {
        let idx = |q: &VecDeque<Seq>| q.capacity() * std::mem::size_of::<Seq>();
        let hs = self.handshake.as_ref().map_or(0, |h| {
            // The raw heads twice (raw and parsed fields), plus the checks: an estimate on the
            // high side; the resident-memory bench checks it.
            std::mem::size_of::<Handshake>()
                + 2 * (h.request.raw.len() + h.response.raw.len())
                + h.checks.len() * 96
                + 256
        });
        // (The record itself is counted by the connection list's capacity.)
        hs + self.tcp_by_dir.iter().map(idx).sum::<usize>()
            + idx(&self.all_frames)
            + self.close.as_ref().map_or(0, |c| c.reason.capacity())
    }

    /// The request path, if a request head arrived.
    pub fn path(&self) -> Option<&str> {
        self.handshake.as_ref().map(|h| h.request.path.as_str())
    }

    /// Sequence numbers of its kept TCP calls in direction `d`.
    pub fn tcp_of(&self, d: Direction) -> &VecDeque<Seq> {
        &self.tcp_by_dir[d.index()]
    }

    /// Sequence numbers of its kept frames, both directions.
    pub fn frame_seqs(&self) -> &VecDeque<Seq> {
        &self.all_frames
    }

    /// Where a frame lies in its direction's TCP stream.
    pub fn frame_span(&self, r: &FrameRecord) -> Option<std::ops::Range<u64>> {
        let start = self.ws_start[r.direction.index()]?.saturating_add(r.offset);
        // The header's length, not the payload kept: an uncaptured payload still took its
        // bytes on the wire.
        let len = (r.header.header_len() as u64).saturating_add(r.header.payload_len);
        Some(start..start.saturating_add(len))
    }

    /// The agreed subprotocol.
    pub fn subprotocol(&self) -> Option<&str> {
        self.handshake
            .as_ref()
            .and_then(|h| h.response.subprotocol.as_deref())
    }
}

/// One captured frame: its header fields and where its payload is; [`Capture::frame`] rebuilds
/// the whole [`Frame`].
#[derive(Debug, Clone)]
pub struct FrameRecord {
    time_ns: u64,
    /// On which connection.
    pub conn: ConnId,
    /// Every header field (the header bytes are these fields encoded: the length encoding is
    /// one of them, so a non-minimal length comes back as it was).
    pub header: FrameHeader,
    /// Stream offset of the frame's first byte, from the start of the WebSocket stream.
    pub offset: u64,
    /// Where the unmasked payload is in the log.
    log: u64,
    /// Payload bytes kept (less than the header says when decoding stopped at a limit).
    pub kept: u32,
    /// Which way.
    pub direction: Direction,
    /// Where the frame sits in its message.
    pub fragment: Fragment,
    /// False when the payload was not captured because the frame broke a limit.
    pub payload_captured: bool,
    /// The message this frame belongs to, once that message completes ([`NONE`] until then).
    message: Seq,
    /// The rules it broke (rare, so out of line behind a thin pointer).
    violations: Option<Box<Violations>>,
}

impl FrameRecord {
    /// When.
    pub fn time(&self) -> Duration {
        Duration::from_nanos(self.time_ns)
    }

    /// The rules it broke.
    pub fn violations(&self) -> &[Violation] {
        self.violations.as_deref().map_or(&[], |v| v.0.as_slice())
    }

    /// The message it belongs to.
    pub fn message(&self) -> Option<Seq> {
        (self.message != NONE).then_some(self.message)
    }
}

/// A frame's violations.
#[derive(Debug, Clone)]
struct Violations(Vec<Violation>);

/// The frames of a message that has several.
#[derive(Debug, Clone)]
struct Seqs(Vec<Seq>);

/// The frames of a message: one (most messages), or several.
#[derive(Debug, Clone)]
enum MsgFrames {
    One(Seq),
    /// Behind a thin pointer: the record stays 16 bytes wide.
    Many(Box<Seqs>),
}

/// A completed message: which frames carried it.
#[derive(Debug, Clone)]
pub struct MessageRecord {
    /// On which connection.
    pub conn: ConnId,
    /// Text or binary.
    pub opcode: OpCode,
    /// Its size.
    pub len: u64,
    /// Which way.
    pub direction: Direction,
    frames: MsgFrames,
    /// Where its payload is in the log, when it is not just its frames' payloads one after the
    /// other (an extension transformed it); [`NONE`] otherwise.
    log: u64,
}

impl MessageRecord {
    /// Sequence numbers of its data frames.
    pub fn frames(&self) -> &[Seq] {
        match &self.frames {
            MsgFrames::One(s) => std::slice::from_ref(s),
            MsgFrames::Many(v) => v.0.as_slice(),
        }
    }
}

/// A plain HTTP answer given on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRecord {
    /// Method and target, when the request parsed.
    pub request: Option<RequestLine>,
    /// The status sent.
    pub status: u16,
    /// Why.
    pub outcome: HttpOutcome,
}

/// A limit that was hit, or an error, for the status line and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// When.
    pub time: Duration,
    /// Which connection (0 for the server).
    pub conn: ConnId,
    /// What happened.
    pub what: NoticeKind,
}

/// What a [`Notice`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    /// A configured limit was hit.
    Limit {
        /// Which limit.
        kind: LimitKind,
        /// The limit in force.
        limit: u64,
        /// What was seen.
        actual: u64,
    },
    /// Something went wrong.
    Error(ErrorKind),
}

/// What the budget made the capture drop, for the window to say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Frames dropped.
    pub frames: u64,
    /// Messages dropped.
    pub messages: u64,
    /// TCP calls dropped.
    pub tcp_calls: u64,
    /// Bytes of those calls.
    pub tcp_bytes: u64,
    /// Closed connections dropped.
    pub connections: u64,
    /// The time of the oldest record still kept, once something was dropped: the capture is
    /// complete from there on.
    pub since: Option<Duration>,
}

/// The whole capture.
#[derive(Debug)]
pub struct Capture {
    /// Connections in the order they opened (closed ones go when nothing of theirs is left).
    pub connections: Vec<ConnRecord>,
    index: HashMap<ConnId, usize>,
    log: ByteLog,
    frames: Blocks<FrameRecord>,
    messages: Blocks<MessageRecord>,
    tcp: Blocks<TcpRecord>,
    /// Open data frames per (connection, direction), waiting for their message.
    open_fragments: HashMap<(ConnId, bool), Vec<Seq>>,
    /// Limits hit and errors, the newest [`MAX_NOTICES`].
    pub notices: VecDeque<Notice>,
    /// The listening address.
    pub listening: Option<SocketAddr>,
    /// When it was announced.
    listening_at: Option<Mark>,
    /// The capture's time zero on the wall clock, in microseconds since the Unix epoch.
    pub clock_unix_micros: Option<u64>,
    /// The memory budget in bytes.
    pub budget: usize,
    /// What the budget dropped.
    pub dropped: Dropped,
    /// Events ingested.
    pub events: u64,
    /// Connections not yet closed (kept at ingest so the top bar's count costs nothing).
    open: usize,
    /// What the connections count (sum of their `mem`).
    conn_mem: usize,
    /// What the frames' violations count.
    violation_mem: usize,
}

impl Default for Capture {
    fn default() -> Self {
        Self::new(512 << 20)
    }
}

impl Capture {
    /// An empty capture holding at most `budget` bytes (all of it: records, indexes and bytes).
    pub fn new(budget: usize) -> Self {
        // Blocks small against the budget, so one being filled is a small part of it.
        let chunk = (budget / 64).clamp(4 << 10, 1 << 20);
        let records = |size: usize| (budget / 256 / size).clamp(64, 8192);
        Self {
            connections: Vec::new(),
            index: HashMap::new(),
            log: ByteLog::new(chunk),
            frames: Blocks::new(records(std::mem::size_of::<FrameRecord>())),
            messages: Blocks::new(records(std::mem::size_of::<MessageRecord>())),
            tcp: Blocks::new(records(std::mem::size_of::<TcpRecord>())),
            open_fragments: HashMap::new(),
            notices: VecDeque::new(),
            listening: None,
            listening_at: None,
            clock_unix_micros: None,
            budget,
            dropped: Dropped::default(),
            events: 0,
            open: 0,
            conn_mem: 0,
            violation_mem: 0,
        }
    }

    /// Bytes the capture holds, as the budget counts them.
    pub fn memory(&self) -> usize {
        self.log.allocated()
            + self.frames.allocated()
            + self.messages.allocated()
            + self.tcp.allocated()
            + self.conn_mem
            + self.index.capacity() * 24
            + self.connections.capacity() * std::mem::size_of::<ConnRecord>()
            + self.notices.capacity() * std::mem::size_of::<Notice>()
            + self.violation_mem
    }

    /// The record of connection `id`.
    pub fn connection(&self, id: ConnId) -> Option<&ConnRecord> {
        self.index.get(&id).and_then(|&i| self.connections.get(i))
    }

    fn conn_pos(&mut self, id: ConnId, time: Duration) -> usize {
        if let Some(&i) = self.index.get(&id) {
            return i;
        }
        self.open += 1;
        let c = ConnRecord::new(id, time);
        self.conn_mem += c.measure();
        self.connections.push(c);
        let i = self.connections.len() - 1;
        self.index.insert(id, i);
        i
    }

    /// Changes connection `id` with `f`, keeping its measure and its last activity current.
    fn with_conn<R>(
        &mut self,
        id: ConnId,
        time: Duration,
        f: impl FnOnce(&mut ConnRecord) -> R,
    ) -> R {
        let i = self.conn_pos(id, time);
        let end = self.log.end();
        let c = &mut self.connections[i];
        let before = c.mem;
        let r = f(c);
        c.last_log = end;
        c.mem = c.measure();
        self.conn_mem = (self.conn_mem + c.mem).saturating_sub(before);
        r
    }

    /// Frames kept.
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// Sequence number of the oldest frame kept.
    pub fn first_frame(&self) -> Seq {
        self.frames.base()
    }

    /// Sequence number the next frame will get (frames seen since the capture started or was
    /// cleared, dropped ones included).
    pub fn frames_seen(&self) -> Seq {
        self.frames.end()
    }

    /// Messages kept.
    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    /// The record of frame `seq`, if kept.
    pub fn frame_record(&self, seq: Seq) -> Option<&FrameRecord> {
        self.frames.get(seq)
    }

    /// The kept frames from `from` on, oldest first.
    pub fn frames_from(&self, from: Seq) -> impl Iterator<Item = (Seq, &FrameRecord)> + '_ {
        self.frames.iter_from(from)
    }

    /// Frame `seq` as it was decoded, rebuilt from its record and the log.
    pub fn frame(&self, seq: Seq) -> Option<Frame> {
        let r = self.frames.get(seq)?;
        let mut header_bytes = Vec::with_capacity(14);
        r.header.encode(&mut header_bytes);
        let payload = self
            .log
            .get(r.log, r.kept as usize)
            .map(|b| Bytes::copy_from_slice(&b))?;
        Some(Frame {
            offset: r.offset,
            header: r.header,
            header_bytes: header_bytes.into(),
            payload,
            payload_captured: r.payload_captured,
            fragment: r.fragment,
            violations: r.violations().to_vec(),
        })
    }

    /// The first `max` bytes of frame `seq`'s unmasked payload (for previews and the filter).
    pub fn payload_prefix(&self, r: &FrameRecord, max: usize) -> Cow<'_, [u8]> {
        let n = (r.kept as usize).min(max);
        self.log.get(r.log, n).unwrap_or(Cow::Borrowed(&[]))
    }

    /// The kept messages from `from` on, oldest first.
    pub fn messages_from(&self, from: Seq) -> impl Iterator<Item = (Seq, &MessageRecord)> + '_ {
        self.messages.iter_from(from)
    }

    /// The record of message `seq`, if kept.
    pub fn message(&self, seq: Seq) -> Option<&MessageRecord> {
        self.messages.get(seq)
    }

    /// Message `m`'s payload, when all of it is still kept.
    pub fn message_payload(&self, m: &MessageRecord) -> Option<Bytes> {
        if m.log != NONE {
            let at = m.log;
            return self
                .log
                .get(at, usize::try_from(m.len).ok()?)
                .map(|b| Bytes::copy_from_slice(&b));
        }
        let mut v = Vec::with_capacity(usize::try_from(m.len).unwrap_or(0).min(1 << 26));
        for &f in m.frames() {
            let r = self.frames.get(f)?;
            v.extend_from_slice(&self.log.get(r.log, r.kept as usize)?);
        }
        Some(v.into())
    }

    /// The record of TCP call `seq`, if kept.
    pub fn tcp(&self, seq: Seq) -> Option<&TcpRecord> {
        self.tcp.get(seq)
    }

    /// The bytes of a TCP call.
    pub fn tcp_bytes(&self, r: &TcpRecord) -> Option<Cow<'_, [u8]>> {
        self.log.get(r.log, r.len())
    }

    /// Position in `c.tcp_of(d)` of the call that carried stream byte `pos`.
    pub fn call_at(&self, c: &ConnRecord, d: Direction, pos: u64) -> Option<usize> {
        let calls = c.tcp_of(d);
        let i = calls.partition_point(|&t| self.tcp.get(t).is_some_and(|r| r.range().end <= pos));
        let r = self.tcp.get(*calls.get(i)?)?;
        r.range().contains(&pos).then_some(i)
    }

    /// Sequence numbers of connection `c`'s kept frames in direction `d` (a walk over its
    /// frames: callers that draw every repaint keep the result).
    pub fn frames_in(&self, c: &ConnRecord, d: Direction) -> Vec<Seq> {
        c.all_frames
            .iter()
            .copied()
            .filter(|&s| self.frames.get(s).is_some_and(|r| r.direction == d))
            .collect()
    }

    /// Connections not yet closed.
    pub fn open_connections(&self) -> usize {
        self.open
    }

    /// Forgets every frame, message, TCP record and notice (the connection list and the
    /// counters stay, so open connections keep their rows).
    pub fn clear(&mut self) {
        for c in &mut self.connections {
            c.tcp_by_dir = Default::default();
            c.all_frames = VecDeque::new();
            // The counts describe the calls and frames listed, which are gone now.
            c.stream = Default::default();
        }
        self.conn_mem = self
            .connections
            .iter_mut()
            .map(|c| {
                c.mem = c.measure();
                c.mem
            })
            .sum();
        self.frames.clear();
        self.messages.clear();
        self.tcp.clear();
        self.log.clear();
        self.open_fragments.clear();
        self.notices.clear();
        self.violation_mem = 0;
        self.dropped = Dropped::default();
    }

    /// Adds one event.
    pub fn ingest(&mut self, e: Event) {
        self.events += 1;
        let Event { conn, time, kind } = e;
        let time_ns = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
        let mark = self.mark(time);
        match kind {
            EventKind::Clock { unix_micros } => {
                self.clock_unix_micros.get_or_insert(unix_micros);
            }
            EventKind::Listening { addr } => {
                self.listening = Some(addr);
                self.listening_at = Some(mark);
            }
            EventKind::Opened {
                endpoint,
                client,
                server,
            } => self.with_conn(conn, time, |c| {
                c.endpoint = Some(endpoint);
                c.client = Some(client);
                c.server = Some(server);
                c.opened_at = time;
                c.marks.opened = Some(mark);
            }),
            EventKind::Tcp { direction, bytes } => {
                let log = self.log.append(&bytes);
                let d = direction.index();
                let seq = self.tcp.end();
                let offset = self.with_conn(conn, time, |c| {
                    let o = c.bytes[d];
                    c.bytes[d] += bytes.len() as u64;
                    c.tcp_by_dir[d].push_back(seq);
                    o
                });
                self.tcp.push(TcpRecord {
                    time_ns,
                    conn,
                    offset,
                    // One call is one read or write of a buffer far below 4 GiB.
                    len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
                    log,
                    direction,
                });
            }
            EventKind::Handshake(h) => self.with_conn(conn, time, |c| {
                if h.accepted() {
                    c.state = ConnState::Open;
                    c.ws_start = [
                        Some(h.request.raw.len() as u64),
                        Some(h.response.raw.len() as u64),
                    ];
                }
                c.handshake = Some(h);
                c.marks.handshake = Some(mark);
            }),
            EventKind::Http {
                request,
                status,
                outcome,
            } => self.with_conn(conn, time, |c| {
                c.http = Some(HttpRecord {
                    request,
                    status,
                    outcome,
                });
                c.marks.http = Some(mark);
            }),
            EventKind::Frame { direction, frame } => {
                self.ingest_frame(conn, time, direction, *frame)
            }
            EventKind::Message { direction, message } => {
                let key = (conn, direction == Direction::ClientToServer);
                let frames = self.open_fragments.remove(&key).unwrap_or_default();
                let m = self.messages.end();
                let mut sum = 0u64;
                for &f in &frames {
                    if let Some(r) = self.frames.get_mut(f) {
                        r.message = m;
                        sum += u64::from(r.kept);
                    }
                }
                // Stored only when it is not its frames' payloads one after the other.
                let log = if sum != message.payload.len() as u64 || frames.is_empty() {
                    self.log.append(&message.payload)
                } else {
                    NONE
                };
                let frames = match frames.as_slice() {
                    [one] => MsgFrames::One(*one),
                    _ => MsgFrames::Many(Box::new(Seqs(frames))),
                };
                self.messages.push(MessageRecord {
                    conn,
                    opcode: message.opcode,
                    len: message.payload.len() as u64,
                    direction,
                    frames,
                    log,
                });
                self.with_conn(conn, time, |_| {});
            }
            EventKind::Limit {
                kind,
                limit,
                actual,
            } => self.notice(Notice {
                time,
                conn,
                what: NoticeKind::Limit {
                    kind,
                    limit,
                    actual,
                },
            }),
            EventKind::Error(e) => {
                if let ErrorKind::Gap {
                    direction,
                    offset,
                    missing,
                    ..
                } = e
                {
                    // Bytes after a hole count from where the hole ends.
                    self.with_conn(conn, time, |c| {
                        let n = &mut c.bytes[direction.index()];
                        *n = (*n).max(offset.saturating_add(missing));
                    });
                }
                self.notice(Notice {
                    time,
                    conn,
                    what: NoticeKind::Error(e),
                });
            }
            EventKind::Closed {
                code,
                reason,
                by,
                clean,
            } => {
                let was_open = self.with_conn(conn, time, |c| {
                    let was_open = c.state != ConnState::Closed;
                    c.state = ConnState::Closed;
                    c.close = Some(CloseRecord {
                        code,
                        reason,
                        by,
                        clean,
                    });
                    c.marks.closed = Some(mark);
                    was_open
                });
                if was_open {
                    self.open = self.open.saturating_sub(1);
                }
                // Fragments of a message that never completed belong to no message.
                self.open_fragments.remove(&(conn, true));
                self.open_fragments.remove(&(conn, false));
            }
            EventKind::Stopped => {}
        }
        self.enforce_budget();
    }

    fn notice(&mut self, n: Notice) {
        if self.notices.len() >= MAX_NOTICES {
            self.notices.pop_front();
        }
        self.notices.push_back(n);
    }

    fn ingest_frame(&mut self, conn: ConnId, time: Duration, direction: Direction, frame: Frame) {
        let Frame {
            offset,
            header,
            payload,
            payload_captured,
            fragment,
            violations,
            ..
        } = frame;
        let log = self.log.append(&payload);
        let seq = self.frames.end();
        let key = (conn, direction == Direction::ClientToServer);
        match fragment {
            _ if !violations.is_empty() => {
                // A broken frame ends its message without one.
                self.open_fragments.remove(&key);
            }
            Fragment::Whole | Fragment::First => {
                self.open_fragments.insert(key, vec![seq]);
            }
            Fragment::Middle | Fragment::Last => {
                self.open_fragments.entry(key).or_default().push(seq);
            }
            Fragment::Control | Fragment::Stray => {}
        }
        let violations = (!violations.is_empty()).then(|| {
            self.violation_mem += violation_mem(&violations);
            Box::new(Violations(violations))
        });
        let r = FrameRecord {
            time_ns: u64::try_from(time.as_nanos()).unwrap_or(u64::MAX),
            conn,
            header,
            offset,
            log,
            kept: u32::try_from(payload.len()).unwrap_or(u32::MAX),
            direction,
            fragment,
            payload_captured,
            message: NONE,
            violations,
        };
        let d = direction.index();
        let span_start = self
            .index
            .get(&conn)
            .and_then(|&i| self.connections.get(i))
            .and_then(|c| c.frame_span(&r));
        self.frames.push(r);
        if let Some(span) = span_start {
            self.count_stream(conn, direction, span);
        }
        self.with_conn(conn, time, |c| {
            c.frames[d] += 1;
            c.all_frames.push_back(seq);
        });
    }

    /// Updates the sticky and split counts with a new frame at stream range `span` (frames
    /// arrive in stream order, after the calls that carried them).
    fn count_stream(&mut self, conn: ConnId, d: Direction, span: std::ops::Range<u64>) {
        let Some(&ci) = self.index.get(&conn) else {
            return;
        };
        let Some(c) = self.connections.get(ci) else {
            return;
        };
        let first = self.call_at(c, d, span.start);
        let last = self.call_at(c, d, span.end.saturating_sub(1).max(span.start));
        let Some(first) = first else {
            return;
        };
        let call_start = c
            .tcp_of(d)
            .get(first)
            .and_then(|&t| self.tcp.get(t))
            .map(|r| r.offset);
        let Some(c) = self.connections.get_mut(ci) else {
            return;
        };
        let stats = &mut c.stream[d.index()];
        // Something ended inside the call this frame starts in: one call, two things.
        if call_start.is_some_and(|o| o < span.start) && stats.last_sticky != call_start {
            stats.sticky_calls += 1;
            stats.last_sticky = call_start;
        }
        if last.is_some_and(|l| l != first) {
            stats.split_frames += 1;
        }
    }

    /// Drops the oldest chunk of the log and every record whose bytes were in it, until the
    /// capture fits its budget.
    fn enforce_budget(&mut self) {
        if self.memory() <= self.budget {
            return;
        }
        while self.memory() > self.budget {
            let cut = match self.log.drop_chunk() {
                Some(start) => start,
                // Only the chunk being filled is left: drop records one at a time.
                None => {
                    let oldest = [
                        self.frames.front().map(|r| r.log),
                        self.tcp.front().map(|r| r.log),
                    ]
                    .into_iter()
                    .flatten()
                    .min();
                    match oldest {
                        Some(at) => {
                            self.log.drop_before(at + 1);
                            self.log.start()
                        }
                        None => break,
                    }
                }
            };
            self.drop_before(cut);
            if self.frames.is_empty() && self.tcp.is_empty() && self.log.end() <= cut {
                break;
            }
        }
        self.dropped.since = [
            self.frames.front().map(FrameRecord::time),
            self.tcp.front().map(TcpRecord::time),
        ]
        .into_iter()
        .flatten()
        .min();
    }

    /// Drops every record whose bytes are before log position `cut`.
    fn drop_before(&mut self, cut: u64) {
        let mut touched: Vec<ConnId> = Vec::new();
        while self.frames.front().is_some_and(|r| r.log < cut) {
            let Some(r) = self.frames.pop_front() else {
                break;
            };
            self.dropped.frames += 1;
            if let Some(v) = &r.violations {
                self.violation_mem = self.violation_mem.saturating_sub(violation_mem(&v.0));
            }
            if let Some(c) = self
                .index
                .get(&r.conn)
                .and_then(|&i| self.connections.get_mut(i))
            {
                c.all_frames.pop_front();
                touched.push(r.conn);
            }
        }
        while self.tcp.front().is_some_and(|r| r.log < cut) {
            let Some(r) = self.tcp.pop_front() else {
                break;
            };
            self.dropped.tcp_calls += 1;
            self.dropped.tcp_bytes += u64::from(r.len);
            if let Some(c) = self
                .index
                .get(&r.conn)
                .and_then(|&i| self.connections.get_mut(i))
            {
                c.tcp_by_dir[r.direction.index()].pop_front();
                touched.push(r.conn);
            }
        }
        // A message goes with its first frame (a message never outlives the start of it).
        let first_frame = self.frames.base();
        while self.messages.front().is_some_and(|m| {
            m.frames().first().is_none_or(|&f| f < first_frame) || (m.log != NONE && m.log < cut)
        }) {
            self.messages.pop_front();
            self.dropped.messages += 1;
        }
        touched.sort_unstable();
        touched.dedup();
        for id in touched {
            if let Some(c) = self
                .index
                .get(&id)
                .and_then(|&i| self.connections.get_mut(i))
            {
                for q in c.tcp_by_dir.iter_mut().chain([&mut c.all_frames]) {
                    if q.len() <= q.capacity() / 4 {
                        q.shrink_to(q.len() * 2);
                    }
                }
                let before = c.mem;
                c.mem = c.measure();
                self.conn_mem = (self.conn_mem + c.mem).saturating_sub(before);
            }
        }
        // Closed connections with nothing left go.
        let start = self.log.start();
        let gone = |c: &ConnRecord| c.state == ConnState::Closed && c.last_log < start;
        if self.connections.iter().any(gone) {
            let before = self.connections.len();
            let mut freed = 0;
            self.connections.retain(|c| {
                let g = gone(c);
                if g {
                    freed += c.mem;
                }
                !g
            });
            self.conn_mem = self.conn_mem.saturating_sub(freed);
            if self.connections.len() <= self.connections.capacity() / 4 {
                self.connections.shrink_to(self.connections.len() * 2);
            }
            self.dropped.connections += (before - self.connections.len()) as u64;
            self.index = self
                .connections
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id, i))
                .collect();
        }
    }
}

/// What the budget counts for a frame's violations.
fn violation_mem(v: &[Violation]) -> usize {
    v.len() * (std::mem::size_of::<Violation>() + 32)
}
