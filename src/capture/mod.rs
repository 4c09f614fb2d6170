//! The bounded store of everything the engine saw: connections, handshakes, TCP reads and
//! writes, frames and messages. Counts are maintained as events arrive, so a view never walks the
//! whole capture per frame.
//!
//! Memory: every byte kept (TCP reads and writes, frame payloads) is copied into one
//! [`ByteLog`] in arrival order, and every record is a small fixed-size struct in [`Blocks`];
//! nothing points into the engine's read buffers. The budget counts all of it — the log, the
//! record blocks, the per-connection indexes, handshakes, notices — by what is allocated, not by
//! what is used. Close to it, the oldest records go a few per event (whole records: a frame, its
//! message, the TCP call), and the log's bytes before the oldest one kept; should it be exceeded
//! anyway, the oldest log chunk goes at once, with every record whose bytes were in it. Closed
//! connections go once nothing of theirs is left. When nothing else is left to drop, the oldest
//! connections go too, open ones included (a file can open connections without end and never
//! close them). What went, and since when, is counted for the window.

pub mod conn_filter;
pub mod filter;
mod records;
mod replay;
mod store;

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use foldhash::fast::RandomState;

use crate::event::{ConnId, Direction, ErrorKind, Event, EventKind};
use crate::protocol::{Fragment, Frame, Violation};

pub use records::{
    CloseRecord, ConnRecord, ConnState, Dropped, FrameRecord, HttpRecord, MessageRecord, Notice,
    NoticeKind, StreamStats, TcpRecord,
};
use records::{MsgFrames, Seqs, Violations};
pub use replay::{Evicted, Export, ExportEvents, ExportStats, Mark, CHUNK_BYTES, CHUNK_RECORDS};
pub use store::{Blocks, ByteLog};

/// Sequence number of a frame, message or TCP call: stable for the life of the capture (the
/// oldest are dropped, the others keep their number).
pub type Seq = u64;

/// "None" in the record fields that would otherwise need an `Option` (and 8 more bytes).
const NONE: u64 = u64::MAX;

/// Notices kept (limits hit, errors); older ones are dropped.
const MAX_NOTICES: usize = 1000;

/// What the budget counts for an entry of the connection index (its key, its position and the
/// map's own share).
const INDEX_ENTRY: usize = 24;

/// What the budget counts for a place in the map of open messages (its key and value, and the
/// map's control byte).
const OPEN_ENTRY: usize = std::mem::size_of::<((ConnId, bool), OpenMessage)>() + 1;

/// The whole capture.
#[derive(Debug)]
pub struct Capture {
    /// Connections in the order they opened (closed ones go when nothing of theirs is left).
    pub connections: Vec<ConnRecord>,
    index: HashMap<ConnId, usize, RandomState>,
    log: ByteLog,
    frames: Blocks<FrameRecord>,
    messages: Blocks<MessageRecord>,
    tcp: Blocks<TcpRecord>,
    /// Open data frames per (connection, direction), waiting for their message.
    open_fragments: HashMap<(ConnId, bool), OpenMessage, RandomState>,
    /// What the lists of frames count: the open messages' and the kept messages' of several
    /// frames (8 bytes a frame, which an endless message of empty frames makes the most of).
    seq_mem: usize,
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
    /// The store held to less than its budget because the process's resident memory was past
    /// budget + overhead (see [`Capture::squeeze`]).
    pub squeezed: Option<Squeezed>,
    /// What the budget dropped.
    pub dropped: Dropped,
    /// Events ingested.
    pub events: u64,
    /// Connections held whose opening was seen and whose close not yet (kept at ingest so the
    /// top bar's count costs nothing): the records with `counted` set.
    open: usize,
    /// The latest event time ingested: what the capture is complete from when the budget
    /// dropped everything.
    latest: Duration,
    /// What the connections count (sum of their `mem`).
    conn_mem: usize,
    /// What the frames' violations count.
    violation_mem: usize,
    /// The newest frame's payload, while its message may follow: a message of that one frame
    /// whose payload is these same bytes is its frame's (see [`Capture::spells`]).
    last_payload: Option<(Seq, Bytes)>,
    /// The last TCP call, while the frames cut from it follow (see [`Capture::in_last_call`]).
    last_call: Option<LastCall>,
}

/// The data frames of a message not complete yet.
#[derive(Debug, Default)]
struct OpenMessage {
    frames: Vec<Seq>,
    /// The budget dropped its first frame: the message cannot be kept whole, so its frames are
    /// not listed any longer (a peer can keep a message open forever) and it is counted as
    /// dropped when it completes.
    lost: bool,
}

/// How close to its limit, in log chunks, the store starts dropping its oldest records a few at
/// a time (see [`Capture::evict_ahead`]): more than one event adds (a chunk, or a block of
/// records).
const EVICT_SLACK: usize = 2;

/// Records of each kind one event drops at most ahead of the budget (see
/// [`Capture::evict_ahead`]): a few microseconds.
const EVICT_STEP: usize = 64;

/// What the budget counts for a list of `capacity` frame numbers.
fn seqs_mem(capacity: usize) -> usize {
    capacity * std::mem::size_of::<Seq>()
}

/// The bytes of the last TCP call and where the log holds them. Holding them (one call's bytes,
/// which the event's sender held a moment ago) keeps their memory from being reused, so a frame
/// payload found inside them by address is those very bytes.
#[derive(Debug)]
struct LastCall {
    conn: ConnId,
    direction: Direction,
    bytes: Bytes,
    log: u64,
    /// Stream offset of its first byte.
    offset: u64,
}

/// A masked payload at least this large is kept as the masked bytes of its TCP call when they
/// unmask to it (checked), not copied again unmasked: readers unmask it, which for small ones
/// would cost the filter more than the copy saves.
const SHARE_MASKED: usize = 1024;

/// The store held below its budget (see [`Capture::squeeze`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Squeezed {
    /// What the store may hold, in bytes.
    pub to: usize,
    /// The process's resident memory when it was set, in bytes.
    pub resident: u64,
}

/// The store's limit that brings a process of `resident` bytes back under `ceiling` (budget +
/// overhead), given its `budget`, what it holds (`memory`) and its limit now (`limit`):
/// `Some(to)` holds it to less than the budget, `None` lets it use all of it. It goes down by
/// the excess (never below a quarter of the budget: past that the rest of the process is what
/// is large) and back up in steps once 32 MiB are free again, so it does not swing.
pub fn squeeze_for(
    budget: usize,
    memory: usize,
    limit: usize,
    resident: u64,
    ceiling: u64,
) -> Option<usize> {
    const SLACK: u64 = 32 << 20;
    let floor = budget / 4;
    let to = if resident > ceiling {
        let excess = usize::try_from(resident - ceiling).unwrap_or(usize::MAX);
        memory.min(limit).saturating_sub(excess).max(floor)
    } else if resident + SLACK < ceiling {
        let room = usize::try_from(ceiling - SLACK - resident).unwrap_or(usize::MAX);
        limit.saturating_add(room / 2)
    } else {
        limit
    };
    (to < budget).then_some(to)
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
            index: HashMap::default(),
            log: ByteLog::new(chunk),
            frames: Blocks::new(records(std::mem::size_of::<FrameRecord>())),
            messages: Blocks::new(records(std::mem::size_of::<MessageRecord>())),
            tcp: Blocks::new(records(std::mem::size_of::<TcpRecord>())),
            open_fragments: HashMap::default(),
            seq_mem: 0,
            notices: VecDeque::new(),
            listening: None,
            listening_at: None,
            clock_unix_micros: None,
            budget,
            squeezed: None,
            dropped: Dropped::default(),
            events: 0,
            open: 0,
            latest: Duration::ZERO,
            conn_mem: 0,
            violation_mem: 0,
            last_call: None,
            last_payload: None,
        }
    }

    /// Bytes the capture holds, as the budget counts them.
    pub fn memory(&self) -> usize {
        self.log.allocated()
            + self.frames.allocated()
            + self.messages.allocated()
            + self.tcp.allocated()
            + self.conn_mem
            + self.index.capacity() * INDEX_ENTRY
            + self.connections.capacity() * std::mem::size_of::<ConnRecord>()
            + self.notices.capacity() * std::mem::size_of::<Notice>()
            + self.violation_mem
            + self.seq_mem
            + self.open_fragments.capacity() * OPEN_ENTRY
    }

    /// What the budget cannot drop: the notices, and the containers' fixed part (the log's
    /// chunk being filled and a spare one, a spare block of each kind of record). It does not
    /// grow with the connections: once no record is left, connection records go too (oldest
    /// first, open ones included). A budget below this holds no record and no connection at
    /// all; after every event, [`Capture::memory`] is at most the larger of [`Capture::limit`]
    /// and this.
    pub fn unevictable(&self) -> usize {
        2 * self.log.chunk_bytes()
            + self.frames.block_bytes()
            + self.messages.block_bytes()
            + self.tcp.block_bytes()
            + self.notices.capacity() * std::mem::size_of::<Notice>()
    }

    /// The record of connection `id`.
    pub fn connection(&self, id: ConnId) -> Option<&ConnRecord> {
        self.index.get(&id).and_then(|&i| self.connections.get(i))
    }

    fn conn_pos(&mut self, id: ConnId, time: Duration) -> usize {
        if let Some(&i) = self.index.get(&id) {
            return i;
        }
        // Not counted as open here: only its `Opened` event counts it. Any other event for a
        // connection not held is a late one for a connection the budget dropped (closed or
        // not: which, the store no longer knows) or one whose opening the file lacks; counted,
        // a closed one would stay "open" for good. It gets a record so its frames are listed.
        let c = ConnRecord::new(id, time);
        self.conn_mem += c.measure();
        if self.connections.len() == self.connections.capacity() {
            // A quarter more, not double: the budget counts the list by its capacity, and a
            // doubling would make it drop a lot at once.
            self.connections
                .reserve_exact((self.connections.len() / 4).max(4));
        }
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

    /// The same frame on the other leg of a proxied pair: a frame of connection `r.conn` that
    /// wsscope relayed (or the frame it relayed), found on the peer leg as the frame of the same
    /// direction, FIN, RSV, opcode, length and payload nearest in time (within a second).
    pub fn relayed_twin(&self, seq: Seq) -> Option<Seq> {
        const WITHIN: Duration = Duration::from_secs(1);
        let r = self.frames.get(seq)?;
        let peer = self.connection(self.connection(r.conn)?.relay?)?;
        let t = r.time();
        let payload = self.payload_prefix(r, 64);
        // The peer's frames are in time order: start a second before.
        let from = peer
            .all_frames
            .partition_point(|&s| self.frames.get(s).is_none_or(|f| f.time() + WITHIN < t));
        peer.all_frames
            .range(from..)
            .filter_map(|&s| Some((s, self.frames.get(s)?)))
            .take_while(|(_, f)| f.time() <= t + WITHIN)
            .filter(|(_, f)| {
                let (a, b) = (&f.header, &r.header);
                f.direction == r.direction
                    && (a.fin, a.rsv, a.opcode, a.payload_len)
                        == (b.fin, b.rsv, b.opcode, b.payload_len)
                    && self.payload_prefix(f, 64) == payload
            })
            .min_by_key(|(_, f)| f.time().abs_diff(t))
            .map(|(s, _)| s)
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
            .payload_of(r, usize::MAX)
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
        self.payload_of(r, max).unwrap_or(Cow::Borrowed(&[]))
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
            v.extend_from_slice(&self.payload_of(r, usize::MAX)?);
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
        // A frame being stored was carried by the last few calls: look there before searching
        // (the search was a fifth of the ingest thread's time under 50 x 32 B).
        for (i, &t) in calls.iter().enumerate().rev().take(4) {
            let r = self.tcp.get(t)?;
            if r.range().contains(&pos) {
                return Some(i);
            }
            if r.range().end <= pos {
                // Past the newest calls (or in a gap between them): no call carried it.
                return None;
            }
        }
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
        self.last_call = None;
        self.last_payload = None;
        self.open_fragments.clear();
        self.notices.clear();
        self.violation_mem = 0;
        self.seq_mem = 0;
        self.dropped = Dropped::default();
    }

    /// Adds one event.
    pub fn ingest(&mut self, e: Event) {
        self.events += 1;
        let Event { conn, time, kind } = e;
        self.latest = self.latest.max(time);
        let time_ns = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
        let mark = self.mark(time);
        if !matches!(
            kind,
            EventKind::Tcp { .. } | EventKind::Frame { .. } | EventKind::Message { .. }
        ) {
            // Its frames have all come: the call's bytes are not held any longer.
            self.last_call = None;
            self.last_payload = None;
        }
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
            } => {
                let counts = self.with_conn(conn, time, |c| {
                    c.endpoint = Some(endpoint);
                    c.client = Some(client);
                    c.server = Some(server);
                    c.opened_at = time;
                    c.marks.opened = Some(mark);
                    // Once: a second opening of the same connection, or one after its close
                    // (a file can say so), opens nothing more.
                    let counts = !c.counted && c.state != ConnState::Closed;
                    c.counted |= counts;
                    counts
                });
                if counts {
                    self.open += 1;
                }
            }
            EventKind::Relay { peer } => self.with_conn(conn, time, |c| {
                c.relay = Some(peer);
                c.marks.relay = Some(mark);
            }),
            EventKind::Tls(info) => self.with_conn(conn, time, |c| {
                c.tls = Some(info);
                c.marks.tls = Some(mark);
            }),
            EventKind::Tcp { direction, bytes } => {
                let log = self.log.append(&bytes);
                let d = direction.index();
                let seq = self.tcp.end();
                let offset = self.with_conn(conn, time, |c| {
                    let o = c.bytes[d];
                    // A capture file's gap can put the stream near 2^64: it stops counting
                    // there instead of wrapping.
                    c.bytes[d] = o.saturating_add(bytes.len() as u64);
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
                self.last_call = Some(LastCall {
                    conn,
                    direction,
                    bytes,
                    log,
                    offset,
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
                let open = self.close_message(key).unwrap_or_default();
                if open.lost || open.frames.first().is_some_and(|&f| f < self.frames.base()) {
                    // Its start was dropped: kept, it could never be read whole.
                    self.dropped.messages += 1;
                    self.with_conn(conn, time, |_| {});
                    self.enforce_budget();
                    return;
                }
                let frames = open.frames;
                let m = self.messages.end();
                let mut sum = 0u64;
                // RSV1 (permessage-deflate): the payload is inflated, not the frames' bytes,
                // even when the lengths happen to agree.
                let mut compressed = false;
                for &f in &frames {
                    if let Some(r) = self.frames.get_mut(f) {
                        r.message = m;
                        sum += u64::from(r.kept);
                        compressed |= r.header.rsv[0];
                    }
                }
                // Stored only when it is not its frames' payloads one after the other: checked
                // (one read of each), so a capture file saying otherwise keeps what it says. One
                // frame whose payload is the very same bytes (as the tap makes it) needs no look.
                // (Not held past its message.)
                let last = self.last_payload.take();
                let spelled = !compressed
                    && sum == message.payload.len() as u64
                    && match (frames.as_slice(), &last) {
                        ([one], Some((seq, p)))
                            if seq == one && p.as_ptr() == message.payload.as_ptr() =>
                        {
                            true
                        }
                        (frames, _) => self.spells(frames, &message.payload),
                    };
                let log = if spelled {
                    NONE
                } else {
                    self.log.append(&message.payload)
                };
                let frames = match frames.as_slice() {
                    [one] => MsgFrames::One(*one),
                    _ => {
                        self.seq_mem += seqs_mem(frames.capacity());
                        MsgFrames::Many(Box::new(Seqs(frames)))
                    }
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
                    // Only a connection counted open is one less (see `conn_pos`).
                    let was_open = std::mem::take(&mut c.counted);
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
                self.close_message((conn, true));
                self.close_message((conn, false));
            }
            EventKind::Stopped => {}
        }
        self.enforce_budget();
    }

    /// Whether the payloads of `frames`, one after the other, are `payload` (masked ones
    /// compared as they are held, masked).
    fn spells(&self, frames: &[Seq], payload: &[u8]) -> bool {
        let mut at = 0usize;
        for &f in frames {
            let Some(r) = self.frames.get(f) else {
                return false;
            };
            let n = r.kept as usize;
            let Some(piece) = at.checked_add(n).and_then(|end| payload.get(at..end)) else {
                return false;
            };
            let Some(held) = self.log.get(r.log, n) else {
                return false;
            };
            let same = match r.header.mask_key.filter(|_| r.masked) {
                Some(key) => crate::protocol::masks_to(piece, key, &held),
                None => *held == *piece,
            };
            if !same {
                return false;
            }
            at += n;
        }
        at == payload.len() && !frames.is_empty()
    }

    /// Ends the open message of `key` (connection, client to server): its frames, no longer
    /// counted.
    fn close_message(&mut self, key: (ConnId, bool)) -> Option<OpenMessage> {
        let o = self.open_fragments.remove(&key)?;
        self.seq_mem = self.seq_mem.saturating_sub(seqs_mem(o.frames.capacity()));
        Some(o)
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
        let (log, masked) = match self.in_last_call(conn, direction, offset, &header, &payload) {
            Some(found) => found,
            None => (self.log.append(&payload), false),
        };
        let seq = self.frames.end();
        let key = (conn, direction == Direction::ClientToServer);
        match fragment {
            _ if !violations.is_empty() => {
                // A broken frame ends its message without one.
                self.close_message(key);
            }
            Fragment::Whole | Fragment::First => {
                self.close_message(key);
                self.seq_mem += seqs_mem(1);
                let frames = vec![seq];
                self.open_fragments.insert(
                    key,
                    OpenMessage {
                        frames,
                        lost: false,
                    },
                );
            }
            Fragment::Middle | Fragment::Last => {
                let o = self.open_fragments.entry(key).or_default();
                if !o.lost {
                    let before = o.frames.capacity();
                    o.frames.push(seq);
                    self.seq_mem = (self.seq_mem + seqs_mem(o.frames.capacity()))
                        .saturating_sub(seqs_mem(before));
                }
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
            masked,
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
        self.last_payload = Some((seq, payload));
        if let Some(span) = span_start {
            self.count_stream(conn, direction, span);
        }
        self.with_conn(conn, time, |c| {
            c.frames[d] += 1;
            c.all_frames.push_back(seq);
        });
    }

    /// Where the log holds `payload` already, and whether masked, when it is a piece of the
    /// last TCP call's bytes: an unmasked frame is cut from the read or write that carried it
    /// (the same memory, not equal bytes), and a large masked one unmasks from there (checked).
    /// Such a frame points at the call's bytes instead of copying them again: at 64 KiB echoes
    /// half of what the store copied and kept.
    fn in_last_call(
        &self,
        conn: ConnId,
        direction: Direction,
        offset: u64,
        header: &crate::protocol::FrameHeader,
        payload: &Bytes,
    ) -> Option<(u64, bool)> {
        let call = self
            .last_call
            .as_ref()
            .filter(|c| c.conn == conn && c.direction == direction && !payload.is_empty())?;
        let within = |start: usize| {
            start
                .checked_add(payload.len())
                .is_some_and(|end| end <= call.bytes.len())
        };
        // Both are alive, so if the payload's address lies in the call's bytes, they share them.
        let (start, masked) = match (payload.as_ptr() as usize)
            .checked_sub(call.bytes.as_ptr() as usize)
            .filter(|&s| within(s))
        {
            Some(start) => (start, false),
            None => {
                let key = header.mask_key.filter(|_| payload.len() >= SHARE_MASKED)?;
                // Frame offsets count from the end of the handshake, calls' from the start.
                let ws_start = self.connection(conn)?.ws_start[direction.index()]?;
                let at = ws_start
                    .checked_add(offset)?
                    .checked_add(header.header_len() as u64)?;
                let start = usize::try_from(at.checked_sub(call.offset)?).ok()?;
                let wire = call.bytes.get(start..start.checked_add(payload.len())?)?;
                // §5.3: masking the payload again with its key gives the wire bytes back.
                if !crate::protocol::masks_to(payload, key, wire) {
                    return None;
                }
                (start, true)
            }
        };
        let at = call.log.checked_add(start as u64)?;
        // Still held, and not before the newest frame's: eviction drops frames from the front
        // by log position. (A frame after one that spanned two reads, and was copied to the
        // log's end, is copied too.)
        let newest = self
            .frames
            .end()
            .checked_sub(1)
            .and_then(|s| self.frames.get(s))
            .map_or(0, |r| r.log);
        (at >= self.log.start() && at >= newest).then_some((at, masked))
    }

    /// The first `max` bytes of a frame's payload from the log, unmasked.
    fn payload_of(&self, r: &FrameRecord, max: usize) -> Option<Cow<'_, [u8]>> {
        let n = (r.kept as usize).min(max);
        let bytes = self.log.get(r.log, n)?;
        match r.header.mask_key.filter(|_| r.masked) {
            None => Some(bytes),
            Some(key) => {
                let mut v = bytes.into_owned();
                crate::protocol::apply_mask(&mut v, key, 0);
                Some(Cow::Owned(v))
            }
        }
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

    /// What the store may hold now: the budget, or less while squeezed.
    pub fn limit(&self) -> usize {
        self.squeezed.map_or(self.budget, |s| s.to.min(self.budget))
    }

    /// Holds the store to `to` bytes (dropping the oldest records now, as a full budget does)
    /// because the process is `resident` bytes large; `None` lifts that. Only the budget counts
    /// what the store holds; what the allocator keeps around it (free pieces it cannot give
    /// back) shows only in the process's resident memory, which is what a budget must hold.
    pub fn squeeze(&mut self, to: Option<usize>, resident: u64) {
        self.squeezed = to.map(|to| Squeezed { to, resident });
        self.enforce_budget();
    }

    /// Drops a few of the oldest records when the capture is close to its budget (see
    /// [`Capture::evict_ahead`]); over it, the oldest chunk of the log and every record whose
    /// bytes were in it, until the capture fits.
    fn enforce_budget(&mut self) {
        self.evict_ahead();
        let limit = self.limit();
        if self.memory() <= limit {
            return;
        }
        while self.memory() > limit {
            let cut = match self.log.drop_chunk() {
                Some(start) => start,
                // Only the chunk being filled is left: drop records one at a time.
                None => {
                    // Messages too: one holding its own bytes (transformed, or its frames never
                    // came) may be all that is left.
                    let oldest = [
                        self.frames.front().map(|r| r.log),
                        self.tcp.front().map(|r| r.log),
                        self.messages.front().map(|m| {
                            if m.log == NONE {
                                self.log.end()
                            } else {
                                m.log
                            }
                        }),
                    ]
                    .into_iter()
                    .flatten()
                    .min();
                    match oldest {
                        Some(at) => {
                            let cut = at.saturating_add(1);
                            self.log.drop_before(cut);
                            // A zero-length record sits at the log's end: `start` cannot pass
                            // it, and the loop would never drop it (a hang).
                            self.log.start().max(cut)
                        }
                        None => break,
                    }
                }
            };
            self.drop_before(cut);
            let empty = self.frames.is_empty() && self.tcp.is_empty() && self.messages.is_empty();
            if empty && self.log.end() <= cut {
                break;
            }
        }
        // No record is left: what is over is the connections themselves.
        self.drop_oldest_connections(limit);
        self.note_since();
    }

    /// Within [`EVICT_SLACK`] log chunks of the limit, drops the oldest [`EVICT_STEP`] frames
    /// (and the TCP calls and messages before them): many times what one event adds, so the
    /// budget is seldom reached. Reached, it drops a whole chunk of the log and every record in
    /// it at once, and a chunk of empty frames is hundreds of thousands of records: that held
    /// the store for up to 20 ms while the window waited to draw.
    fn evict_ahead(&mut self) {
        let slack = EVICT_SLACK * self.log.chunk_bytes();
        if self.memory().saturating_add(slack) <= self.limit() {
            return;
        }
        let step = EVICT_STEP as u64;
        let cut = [
            self.frames.get(self.frames.base() + step).map(|r| r.log),
            self.tcp.get(self.tcp.base() + step).map(|r| r.log),
            self.log.oldest_chunk_end(),
        ]
        .into_iter()
        .flatten()
        .min();
        let start = self.log.start();
        let any = !(self.frames.is_empty() && self.tcp.is_empty() && self.messages.is_empty());
        // Empty payloads take no bytes: more than a step of records can sit at one position.
        let cut = cut.map(|c| if any { c.max(start + 1) } else { c });
        // Too few records, and the log one chunk: the budget drops them (one at a time).
        let Some(cut) = cut.filter(|&c| c > start) else {
            return;
        };
        self.drop_records_before(cut, EVICT_STEP);
        // What is before the oldest record left goes, up to the cut: a step can leave a few
        // TCP calls or messages before it, for the next one.
        let message = self.messages.front().map(|m| match m.log {
            NONE => m
                .frames()
                .first()
                .and_then(|&f| self.frames.get(f))
                // Its first frame went: it goes next step. Till then it holds the start where it
                // is, for the messages behind it that hold their own bytes.
                .map_or(start, |r| r.log),
            own => own,
        });
        let oldest = [
            self.frames.front().map(|r| r.log),
            self.tcp.front().map(|r| r.log),
            message,
            Some(cut),
        ];
        let to = oldest.into_iter().flatten().min().unwrap_or(cut);
        if self.log.drop_before(to) {
            self.lose_open_messages();
            self.drop_closed_connections();
        }
        self.note_since();
    }

    /// Sets since when records were dropped: the oldest one kept.
    fn note_since(&mut self) {
        let kept = [
            self.frames.front().map(FrameRecord::time),
            self.tcp.front().map(TcpRecord::time),
        ]
        .into_iter()
        .flatten()
        .min();
        // Nothing kept but something dropped: complete from the latest event on (so the window
        // still says what went).
        let d = &self.dropped;
        let any = d.frames + d.messages + d.tcp_calls + d.connections > 0;
        self.dropped.since = kept.or(any.then_some(self.latest));
    }

    /// Drops the oldest connections, open ones included, until the store fits `limit`; called
    /// when no record is left, so none of them has anything else held. At least an eighth of
    /// them go at once: each removal walks the list (index rebuilt), and a file that opens
    /// connections without end would otherwise pay that walk for every one.
    fn drop_oldest_connections(&mut self, limit: usize) {
        while self.memory() > limit && !self.connections.is_empty() {
            let mut excess = self.memory() - limit;
            let least = (self.connections.len() / 8).max(1);
            let mut n = 0;
            for c in &self.connections {
                if n >= least && excess == 0 {
                    break;
                }
                excess =
                    excess.saturating_sub(c.mem + std::mem::size_of::<ConnRecord>() + INDEX_ENTRY);
                n += 1;
            }
            self.remove_connections(|i, _| i < n);
        }
    }

    /// Removes the connections for which `gone(position, record)` holds, with what is kept for
    /// them outside their record, and counts them as dropped.
    fn remove_connections(&mut self, mut gone: impl FnMut(usize, &ConnRecord) -> bool) {
        let before = self.connections.len();
        let mut freed = 0;
        let mut uncounted = 0;
        let mut ids = Vec::new();
        let mut i = 0;
        self.connections.retain(|c| {
            let g = gone(i, c);
            i += 1;
            if g {
                freed += c.mem;
                uncounted += usize::from(c.counted);
                ids.push(c.id);
            }
            !g
        });
        if ids.is_empty() {
            return;
        }
        self.conn_mem = self.conn_mem.saturating_sub(freed);
        // Dropped, it is no longer among the open ones held (see `conn_pos`).
        self.open = self.open.saturating_sub(uncounted);
        for id in ids {
            self.close_message((id, true));
            self.close_message((id, false));
        }
        let len = self.connections.len();
        // Shrunk with some room left, so the next connections do not grow it again at once.
        if len == 0 || self.connections.capacity() > len + len / 4 + 4 {
            self.connections.shrink_to(len + len / 8);
        }
        if self.open_fragments.len() <= self.open_fragments.capacity() / 4 {
            self.open_fragments.shrink_to(self.open_fragments.len() * 2);
        }
        self.dropped.connections += (before - len) as u64;
        self.index = self
            .connections
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect();
    }

    /// Drops every record whose bytes are before log position `cut`.
    fn drop_before(&mut self, cut: u64) {
        self.drop_records_before(cut, usize::MAX);
        self.lose_open_messages();
        self.drop_closed_connections();
    }

    /// Open messages whose first frame went: their lists go too (see `OpenMessage::lost`).
    /// A walk over all of them: once per chunk of the log, not per event.
    fn lose_open_messages(&mut self) {
        let first_frame = self.frames.base();
        for o in self.open_fragments.values_mut() {
            if !o.lost && o.frames.first().is_some_and(|&f| f < first_frame) {
                self.seq_mem = self.seq_mem.saturating_sub(seqs_mem(o.frames.capacity()));
                o.frames = Vec::new();
                o.lost = true;
            }
        }
    }

    /// Drops at most `max` frames, `max` TCP calls and `max` messages whose bytes are before log
    /// position `cut`.
    fn drop_records_before(&mut self, cut: u64, max: usize) {
        let mut touched: Vec<ConnId> = Vec::new();
        let mut touch = |id: ConnId| {
            // Consecutive records are mostly of one connection.
            if touched.last() != Some(&id) {
                touched.push(id);
            }
        };
        let mut n = 0;
        while n < max && self.frames.front().is_some_and(|r| r.log < cut) {
            n += 1;
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
                touch(r.conn);
            }
        }
        let mut n = 0;
        while n < max && self.tcp.front().is_some_and(|r| r.log < cut) {
            n += 1;
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
                touch(r.conn);
            }
        }
        // A message goes with its first frame (a message never outlives the start of it).
        let first_frame = self.frames.base();
        let goes = |m: &MessageRecord| {
            m.frames().first().is_none_or(|&f| f < first_frame) || (m.log != NONE && m.log < cut)
        };
        let mut n = 0;
        while n < max && self.messages.front().is_some_and(goes) {
            n += 1;
            if let Some(MessageRecord {
                frames: MsgFrames::Many(v),
                ..
            }) = self.messages.pop_front()
            {
                self.seq_mem = self.seq_mem.saturating_sub(seqs_mem(v.0.capacity()));
            }
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
    }

    /// Drops the closed connections with nothing left in the log.
    fn drop_closed_connections(&mut self) {
        let start = self.log.start();
        let gone = |c: &ConnRecord| c.state == ConnState::Closed && c.last_log < start;
        if self.connections.iter().any(gone) {
            self.remove_connections(|_, c| gone(c));
        }
    }
}

/// What the budget counts for a frame's violations.
fn violation_mem(v: &[Violation]) -> usize {
    v.len() * (std::mem::size_of::<Violation>() + 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;
    const MIB64: u64 = 1 << 20;

    /// Over the ceiling the limit drops by the excess, not below a quarter of the budget; well
    /// under it, it climbs back by half the room and is lifted once it reaches the budget; in
    /// between it stays.
    #[test]
    fn squeeze_follows_resident_memory_with_hysteresis() {
        let budget = 128 * MIB;
        let ceiling = 316 * MIB64;
        // 10 MiB over, store full: 10 MiB less.
        assert_eq!(
            squeeze_for(budget, budget, budget, ceiling + 10 * MIB64, ceiling),
            Some(118 * MIB)
        );
        // A store not full yet gives up the excess from what it holds.
        assert_eq!(
            squeeze_for(budget, 50 * MIB, budget, ceiling + 10 * MIB64, ceiling),
            Some(40 * MIB)
        );
        // Far over: the floor.
        assert_eq!(
            squeeze_for(budget, budget, budget, ceiling + 500 * MIB64, ceiling),
            Some(32 * MIB)
        );
        // Under the ceiling, but within the slack: where it is.
        assert_eq!(
            squeeze_for(budget, 60 * MIB, 60 * MIB, ceiling - 10 * MIB64, ceiling),
            Some(60 * MIB)
        );
        assert_eq!(
            squeeze_for(budget, budget, budget, ceiling - 10 * MIB64, ceiling),
            None
        );
        // 52 MiB free: up by (52 - 32) / 2.
        assert_eq!(
            squeeze_for(budget, 60 * MIB, 60 * MIB, ceiling - 52 * MIB64, ceiling),
            Some(70 * MIB)
        );
        // Plenty free: lifted.
        assert_eq!(
            squeeze_for(budget, 60 * MIB, 60 * MIB, 100 * MIB64, ceiling),
            None
        );
    }

    fn event(t: u64, conn: ConnId, kind: EventKind) -> Event {
        Event {
            time: Duration::from_millis(t),
            conn,
            kind,
        }
    }

    fn data_frame(
        opcode: crate::protocol::OpCode,
        fin: bool,
        fragment: Fragment,
        payload: &[u8],
    ) -> EventKind {
        let mut header = crate::protocol::FrameHeader::new(opcode, payload.len() as u64, None);
        header.fin = fin;
        let mut header_bytes = Vec::new();
        header.encode(&mut header_bytes);
        EventKind::Frame {
            direction: Direction::ServerToClient,
            frame: Box::new(Frame {
                offset: 0,
                header,
                header_bytes: header_bytes.into(),
                payload: Bytes::copy_from_slice(payload),
                payload_captured: true,
                fragment,
                violations: Vec::new(),
            }),
        }
    }

    fn message(payload: &'static [u8]) -> EventKind {
        EventKind::Message {
            direction: Direction::ServerToClient,
            message: crate::protocol::Message {
                opcode: crate::protocol::OpCode::Binary,
                payload: Bytes::from_static(payload),
                frame_count: 1,
                byte_range: 0..1,
            },
        }
    }

    /// With no budget at all, a message that holds its own bytes in the log (here one whose
    /// frames never came) goes as well: nothing stays held over the limit.
    #[test]
    fn a_budget_of_zero_keeps_no_message() {
        let mut c = Capture::new(0);
        c.ingest(event(1, 1, message(b"hello")));
        assert_eq!(c.message_count(), 0, "{} B held", c.memory());
        assert!(c.memory() <= c.unevictable());
        // One whose first frame the budget dropped goes too, with the frames after it.
        let mut c = Capture::new(0);
        c.ingest(event(
            1,
            1,
            data_frame(
                crate::protocol::OpCode::Binary,
                false,
                Fragment::First,
                b"he",
            ),
        ));
        c.ingest(event(
            2,
            1,
            data_frame(
                crate::protocol::OpCode::Continuation,
                true,
                Fragment::Last,
                b"llo",
            ),
        ));
        c.ingest(event(2, 1, message(b"hello")));
        assert_eq!((c.frame_count(), c.message_count()), (0, 0));
        assert!(c.memory() <= c.unevictable());
    }

    /// A message that never ends (a first frame without FIN, then empty continuations, as a live
    /// peer can send forever) keeps no list of frames the budget no longer holds: what the
    /// store keeps for it stays within the budget.
    #[test]
    fn endless_empty_continuations_keep_the_store_bounded() {
        use crate::protocol::OpCode;
        let budget = 64 << 10;
        let mut c = Capture::new(budget);
        c.ingest(event(
            0,
            1,
            data_frame(OpCode::Binary, false, Fragment::First, b"x"),
        ));
        for i in 0..20_000 {
            c.ingest(event(
                i,
                1,
                data_frame(OpCode::Continuation, false, Fragment::Middle, b""),
            ));
            assert!(c.memory() <= budget, "{} B held", c.memory());
        }
        assert!(c.dropped.frames > 0, "the budget dropped nothing");
        let open: usize = c.open_fragments.values().map(|v| v.frames.capacity()).sum();
        assert!(
            open <= 2 * c.frame_count() + 8,
            "{open} frames listed, {} held",
            c.frame_count()
        );
        // Its end: the message is counted as dropped, not kept without its start.
        c.ingest(event(
            20_001,
            1,
            data_frame(OpCode::Continuation, true, Fragment::Last, b""),
        ));
        c.ingest(event(20_001, 1, message(b"x")));
        assert_eq!(c.message_count(), 0);
        assert!(c.open_fragments.is_empty());
    }

    /// A flood of empty frames read 64 or 1,024 to a TCP call: a log chunk is then the bytes
    /// of hundreds of thousands of records, and many sit at one position (an empty payload
    /// takes no bytes). Near its limit the store drops the oldest records a few per event
    /// (dropping a chunk's worth at once held it for 20 ms), keeps close to its budget (not
    /// half of it), and every record it keeps can still be read.
    #[test]
    fn a_full_store_drops_a_few_records_per_event() {
        use crate::protocol::OpCode;
        let budget = 4 << 20;
        for per_call in [64, 1024] {
            let mut c = Capture::new(budget);
            let call = Bytes::from([0x82u8, 0].repeat(per_call));
            let mut offsets = [0u64; 4];
            let mut most = 0;
            for i in 0..(1_280_000 / per_call) as u64 {
                let conn = i % 4;
                let time = Duration::from_micros(i);
                let tcp = EventKind::Tcp {
                    direction: Direction::ServerToClient,
                    bytes: call.clone(),
                };
                c.ingest(event(0, conn + 1, tcp));
                for _ in 0..per_call {
                    let EventKind::Frame {
                        direction,
                        mut frame,
                    } = data_frame(OpCode::Binary, true, Fragment::Whole, b"")
                    else {
                        unreachable!("data_frame makes a frame")
                    };
                    frame.offset = offsets[conn as usize];
                    offsets[conn as usize] += 2;
                    let before = c.dropped.frames;
                    let kind = EventKind::Frame { direction, frame };
                    c.ingest(Event {
                        time,
                        conn: conn + 1,
                        kind,
                    });
                    c.ingest(event(0, conn + 1, message(b"")));
                    most = most.max(c.dropped.frames - before);
                    assert!(c.memory() <= budget, "{} B held", c.memory());
                }
            }
            let what = format!("{per_call} frames a call");
            assert!(c.dropped.frames > 0, "{what}: the budget dropped nothing");
            assert!(
                most <= 2 * EVICT_STEP as u64,
                "{what}: {most} dropped by one event"
            );
            let held = c.memory();
            assert!(held >= budget * 3 / 4, "{what}: {held} B of {budget} held");
            let first = c.first_frame();
            for seq in first..first + c.frame_count() as u64 {
                assert!(c.frame(seq).is_some(), "{what}: frame {seq} not readable");
            }
            for seq in c.tcp.base()..c.tcp.end() {
                let bytes = c.tcp(seq).and_then(|r| c.tcp_bytes(r));
                assert!(bytes.is_some(), "{what}: TCP call {seq} not readable");
            }
        }
    }

    /// Messages that hold their own bytes (a capture file's, whose frames never came) stay
    /// readable while the store drops the oldest a few per event.
    #[test]
    fn messages_with_their_own_bytes_stay_readable_as_the_store_fills() {
        let mut c = Capture::new(4 << 20);
        let payload: &'static [u8] = &[7; 100];
        for i in 0..100_000u64 {
            c.ingest(event(i, 1 + i % 4, message(payload)));
            if i % 1000 == 0 {
                let first = c.messages.base();
                let lost = c
                    .messages_from(first)
                    .filter(|(_, m)| c.message_payload(m).is_none())
                    .count();
                assert_eq!(lost, 0, "{lost} kept messages unreadable after {i}");
            }
        }
        assert!(c.dropped.messages > 0, "the budget dropped nothing");
    }

    /// A message is kept as its frames' payloads only when it is them: a capture file whose
    /// message says other bytes of the same length keeps what the message says (it read back
    /// as its frame's).
    #[test]
    fn a_message_unlike_its_frames_keeps_its_own_bytes() {
        use crate::protocol::OpCode;
        let mut c = Capture::new(1 << 20);
        c.ingest(event(
            1,
            1,
            data_frame(OpCode::Binary, true, Fragment::Whole, b"hello"),
        ));
        c.ingest(event(1, 1, message(b"world")));
        let m = c.message(0).cloned();
        let payload = m.and_then(|m| c.message_payload(&m));
        assert_eq!(payload.as_deref(), Some(&b"world"[..]));
        // The same bytes are not stored twice.
        c.ingest(event(
            2,
            1,
            data_frame(OpCode::Binary, true, Fragment::Whole, b"again"),
        ));
        c.ingest(event(2, 1, message(b"again")));
        assert_eq!(c.message(1).map(|m| m.log), Some(NONE));
    }

    /// The call that carried a stream byte, found from the newest calls or by searching, is the
    /// one a walk over every call finds, at every byte, before and after the oldest go.
    #[test]
    fn call_at_finds_the_call_that_carried_each_byte() {
        // Log chunks of 16 KiB and calls of up to 1800 bytes: the oldest calls can go alone.
        let mut c = Capture::new(1 << 20);
        let sizes = [
            600usize, 200, 1400, 0, 400, 1000, 1, 200, 1800, 800, 0, 1200, 2, 1600,
        ];
        for (i, &n) in sizes.iter().cycle().take(60).enumerate() {
            c.ingest(Event {
                time: Duration::from_millis(i as u64),
                conn: 1,
                kind: EventKind::Tcp {
                    direction: Direction::ClientToServer,
                    bytes: bytes::Bytes::from(vec![0u8; n]),
                },
            });
        }
        let d = Direction::ClientToServer;
        let check = |c: &Capture| {
            let conn = c.connection(1).unwrap_or_else(|| panic!("no connection"));
            let total = conn.bytes[d.index()];
            for pos in 0..total + 3 {
                let walk = conn
                    .tcp_of(d)
                    .iter()
                    .position(|&t| c.tcp(t).is_some_and(|r| r.range().contains(&pos)));
                assert_eq!(c.call_at(conn, d, pos), walk, "byte {pos}");
            }
        };
        check(&c);
        c.squeeze(Some(c.memory() - 1), 0);
        assert!(c.tcp(0).is_none(), "the oldest calls went");
        let left = c.connection(1).map_or(0, |k| k.tcp_of(d).len());
        assert!(left > 0, "every call went");
        check(&c);
    }
}
