//! The bounded store of everything the engine saw: connections, handshakes, TCP reads and
//! writes, frames and messages. Counts are maintained as events arrive, so a view never walks the
//! whole capture per frame. When the memory budget is exceeded the oldest payload bytes are
//! dropped (headers and counts stay) and the number of frames affected is kept, for display.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::event::{
    ClosedBy, ConnId, Direction, Endpoint, ErrorKind, Event, EventKind, HttpOutcome, LimitKind,
    RequestLine,
};
use crate::protocol::handshake::Handshake;
use crate::protocol::{CloseCode, Fragment, Frame};

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
    /// When.
    pub time: Duration,
    /// Read or write.
    pub direction: Direction,
    /// The bytes of that call (empty once evicted for the budget; `len` stays).
    pub bytes: Bytes,
    /// Bytes before this call in the same direction since the connection opened.
    pub offset: u64,
    /// Bytes in this call.
    pub len: usize,
}

impl TcpRecord {
    /// The stream range this call carried.
    pub fn range(&self) -> std::ops::Range<u64> {
        self.offset..self.offset + self.len as u64
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
    /// Frames client→server, server→client.
    pub frames: [u64; 2],
    /// TCP bytes client→server, server→client.
    pub bytes: [u64; 2],
    /// How it ended.
    pub close: Option<CloseRecord>,
    /// Every TCP read and write, in order.
    pub tcp: Vec<TcpRecord>,
    /// Indexes into `tcp` per direction (client→server, server→client).
    tcp_by_dir: [Vec<usize>; 2],
    /// Indexes into [`Capture::frames`] per direction.
    frames_by_dir: [Vec<usize>; 2],
    /// Where the WebSocket stream starts in each direction's TCP stream: after the request
    /// head and after the 101 response (frame offsets count from there).
    pub ws_start: [Option<u64>; 2],
    /// Sticky calls and split frames per direction.
    pub stream: [StreamStats; 2],
}

impl ConnRecord {
    /// Updates the sticky and split counts with a new frame (frames arrive in stream order,
    /// after the calls that carried them).
    fn count_stream(&mut self, d: Direction, f: &crate::protocol::Frame) {
        let Some(span) = self.frame_span(d, f) else {
            return;
        };
        let (Some(first), last) = (
            self.call_at(d, span.start),
            self.call_at(d, span.end.saturating_sub(1).max(span.start)),
        ) else {
            return;
        };
        let call_start = self.tcp_by_dir[d.index()]
            .get(first)
            .and_then(|&t| self.tcp.get(t))
            .map(|r| r.offset);
        let stats = &mut self.stream[d.index()];
        // Something ended inside the call this frame starts in: one call, two things.
        if call_start.is_some_and(|o| o < span.start) && stats.last_sticky != call_start {
            stats.sticky_calls += 1;
            stats.last_sticky = call_start;
        }
        if last.is_some_and(|l| l != first) {
            stats.split_frames += 1;
        }
    }

    /// The request path, if a request head arrived.
    pub fn path(&self) -> Option<&str> {
        self.handshake.as_ref().map(|h| h.request.path.as_str())
    }

    /// Indexes into `tcp` of the calls in direction `d`.
    pub fn tcp_of(&self, d: Direction) -> &[usize] {
        &self.tcp_by_dir[d.index()]
    }

    /// Indexes into [`Capture::frames`] of the frames in direction `d`.
    pub fn frames_in(&self, d: Direction) -> &[usize] {
        &self.frames_by_dir[d.index()]
    }

    /// Position in `tcp_of(d)` of the call that carried stream byte `pos`.
    pub fn call_at(&self, d: Direction, pos: u64) -> Option<usize> {
        let calls = &self.tcp_by_dir[d.index()];
        let i = calls.partition_point(|&t| self.tcp.get(t).is_some_and(|r| r.range().end <= pos));
        let r = self.tcp.get(*calls.get(i)?)?;
        r.range().contains(&pos).then_some(i)
    }

    /// Where a frame lies in its direction's TCP stream.
    pub fn frame_span(
        &self,
        d: Direction,
        f: &crate::protocol::Frame,
    ) -> Option<std::ops::Range<u64>> {
        let start = self.ws_start[d.index()]?.saturating_add(f.offset);
        // The header's length, not the payload kept: an evicted or uncaptured payload still
        // took its bytes on the wire.
        let len = (f.header_bytes.len() as u64).saturating_add(f.header.payload_len);
        Some(start..start.saturating_add(len))
    }

    /// The agreed subprotocol.
    pub fn subprotocol(&self) -> Option<&str> {
        self.handshake
            .as_ref()
            .and_then(|h| h.response.subprotocol.as_deref())
    }
}

/// One captured frame with where and when it was seen.
#[derive(Debug, Clone)]
pub struct FrameRecord {
    /// When.
    pub time: Duration,
    /// On which connection.
    pub conn: ConnId,
    /// Which way.
    pub direction: Direction,
    /// The frame (its payload may have been evicted: see `payload_captured`).
    pub frame: Box<Frame>,
    /// Index of the message this frame belongs to, once that message completes.
    pub message: Option<usize>,
}

/// A completed message: which frames carried it.
#[derive(Debug, Clone)]
pub struct MessageRecord {
    /// On which connection.
    pub conn: ConnId,
    /// Which way.
    pub direction: Direction,
    /// Indexes into [`Capture::frames`] of its data frames.
    pub frames: Vec<usize>,
    /// Text or binary, and size.
    pub message: crate::protocol::Message,
    /// False once the payload was evicted for the budget (with its frames' payloads).
    pub payload_kept: bool,
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

/// The whole capture.
#[derive(Debug, Default)]
pub struct Capture {
    /// Connections in the order they opened.
    pub connections: Vec<ConnRecord>,
    index: HashMap<ConnId, usize>,
    /// Every frame, both directions, in the order seen.
    pub frames: Vec<FrameRecord>,
    /// Every completed message.
    pub messages: Vec<MessageRecord>,
    /// Indexes into `frames` per connection, so a filtered view costs nothing per repaint.
    conn_frames: HashMap<ConnId, Vec<usize>>,
    /// Open data frames per (connection, direction), waiting for their message.
    open_fragments: HashMap<(ConnId, bool), Vec<usize>>,
    /// Limits hit and errors.
    pub notices: Vec<Notice>,
    /// The listening address.
    pub listening: Option<SocketAddr>,
    /// The capture's time zero on the wall clock, in microseconds since the Unix epoch.
    pub clock_unix_micros: Option<u64>,
    /// Payload bytes kept.
    pub payload_bytes: usize,
    /// The payload budget in bytes.
    pub budget: usize,
    /// Frames whose payload was dropped for the budget.
    pub evicted_frames: u64,
    next_evict: usize,
    /// TCP bytes dropped for the budget.
    pub evicted_tcp_bytes: u64,
    /// (position in `connections`, index in its `tcp`) of every kept call, oldest first: the
    /// budget evicts across connections in the order the bytes arrived.
    tcp_fifo: std::collections::VecDeque<(usize, usize)>,
    /// Events ingested.
    pub events: u64,
    /// Connections not yet closed (kept at ingest so the top bar's count costs nothing).
    open: usize,
}

impl Capture {
    /// An empty capture keeping at most `budget` payload bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            ..Self::default()
        }
    }

    /// The record of connection `id`.
    pub fn connection(&self, id: ConnId) -> Option<&ConnRecord> {
        self.index.get(&id).and_then(|&i| self.connections.get(i))
    }

    fn conn_mut(&mut self, id: ConnId, time: Duration) -> &mut ConnRecord {
        let i = *self.index.entry(id).or_insert_with(|| {
            self.open += 1;
            self.connections.push(ConnRecord {
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
                tcp: Vec::new(),
                tcp_by_dir: Default::default(),
                frames_by_dir: Default::default(),
                ws_start: [None; 2],
                stream: Default::default(),
            });
            self.connections.len() - 1
        });
        &mut self.connections[i]
    }

    /// Indexes into [`Capture::frames`] of the frames of connection `id`.
    pub fn frames_of(&self, id: ConnId) -> &[usize] {
        self.conn_frames.get(&id).map_or(&[], Vec::as_slice)
    }

    /// Connections not yet closed.
    pub fn open_connections(&self) -> usize {
        self.open
    }

    /// Forgets every frame, message, TCP record and notice (the connection list and the
    /// counters stay, so open connections keep their rows).
    pub fn clear(&mut self) {
        for c in &mut self.connections {
            c.tcp.clear();
            c.tcp_by_dir = Default::default();
            c.frames_by_dir = Default::default();
            // The counts describe the calls and frames listed, which are gone now.
            c.stream = Default::default();
        }
        self.frames.clear();
        self.messages.clear();
        self.conn_frames.clear();
        self.open_fragments.clear();
        self.notices.clear();
        self.payload_bytes = 0;
        self.next_evict = 0;
        self.tcp_fifo.clear();
    }

    /// Adds one event.
    pub fn ingest(&mut self, e: Event) {
        self.events += 1;
        let Event { conn, time, kind } = e;
        match kind {
            EventKind::Clock { unix_micros } => {
                self.clock_unix_micros.get_or_insert(unix_micros);
            }
            EventKind::Listening { addr } => self.listening = Some(addr),
            EventKind::Opened {
                endpoint,
                client,
                server,
            } => {
                let c = self.conn_mut(conn, time);
                c.endpoint = Some(endpoint);
                c.client = Some(client);
                c.server = Some(server);
                c.opened_at = time;
            }
            EventKind::Tcp { direction, bytes } => {
                self.payload_bytes += bytes.len();
                let c = self.conn_mut(conn, time);
                let d = direction.index();
                let call = c.tcp.len();
                let offset = c.bytes[d];
                c.bytes[d] += bytes.len() as u64;
                c.tcp_by_dir[d].push(call);
                c.tcp.push(TcpRecord {
                    time,
                    direction,
                    len: bytes.len(),
                    bytes,
                    offset,
                });
                if let Some(&pos) = self.index.get(&conn) {
                    self.tcp_fifo.push_back((pos, call));
                }
            }
            EventKind::Handshake(h) => {
                let c = self.conn_mut(conn, time);
                if h.accepted() {
                    c.state = ConnState::Open;
                    c.ws_start = [
                        Some(h.request.raw.len() as u64),
                        Some(h.response.raw.len() as u64),
                    ];
                }
                c.handshake = Some(h);
            }
            EventKind::Http {
                request,
                status,
                outcome,
            } => {
                self.conn_mut(conn, time).http = Some(HttpRecord {
                    request,
                    status,
                    outcome,
                });
            }
            EventKind::Frame { direction, frame } => {
                self.payload_bytes += frame.payload.len();
                let index = self.frames.len();
                let c = self.conn_mut(conn, time);
                c.frames[direction.index()] += 1;
                c.frames_by_dir[direction.index()].push(index);
                c.count_stream(direction, &frame);
                let key = (conn, direction == Direction::ClientToServer);
                match frame.fragment {
                    _ if !frame.violations.is_empty() => {
                        // A broken frame ends its message without one.
                        self.open_fragments.remove(&key);
                    }
                    Fragment::Whole | Fragment::First => {
                        self.open_fragments.insert(key, vec![index]);
                    }
                    Fragment::Middle | Fragment::Last => {
                        self.open_fragments.entry(key).or_default().push(index);
                    }
                    Fragment::Control | Fragment::Stray => {}
                }
                self.conn_frames.entry(conn).or_default().push(index);
                self.frames.push(FrameRecord {
                    time,
                    conn,
                    direction,
                    frame,
                    message: None,
                });
            }
            EventKind::Message { direction, message } => {
                let key = (conn, direction == Direction::ClientToServer);
                let frames = self.open_fragments.remove(&key).unwrap_or_default();
                let m = self.messages.len();
                for &f in &frames {
                    if let Some(r) = self.frames.get_mut(f) {
                        r.message = Some(m);
                    }
                }
                // A one-frame message shares its frame's buffer; a reassembled one has its own.
                if frames.len() > 1 {
                    self.payload_bytes += message.payload.len();
                }
                self.messages.push(MessageRecord {
                    conn,
                    direction,
                    frames,
                    message,
                    payload_kept: true,
                });
            }
            EventKind::Limit {
                kind,
                limit,
                actual,
            } => self.notices.push(Notice {
                time,
                conn,
                what: NoticeKind::Limit {
                    kind,
                    limit,
                    actual,
                },
            }),
            EventKind::Error(e) => self.notices.push(Notice {
                time,
                conn,
                what: NoticeKind::Error(e),
            }),
            EventKind::Closed {
                code,
                reason,
                by,
                clean,
            } => {
                let c = self.conn_mut(conn, time);
                let was_open = c.state != ConnState::Closed;
                c.state = ConnState::Closed;
                c.close = Some(CloseRecord {
                    code,
                    reason,
                    by,
                    clean,
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

    /// Drops the oldest payload bytes (frames first, then TCP records) until the capture fits
    /// its budget. Headers, counts and the connection list stay.
    fn enforce_budget(&mut self) {
        while self.payload_bytes > self.budget && self.next_evict < self.frames.len() {
            let r = &mut self.frames[self.next_evict];
            self.next_evict += 1;
            if r.frame.payload_captured && !r.frame.payload.is_empty() {
                self.payload_bytes = self.payload_bytes.saturating_sub(r.frame.payload.len());
                r.frame.payload = Bytes::new();
                r.frame.payload_captured = false;
                self.evicted_frames += 1;
            }
            // The message holds the same bytes (or its own reassembled copy): it goes too, or
            // evicting the frame would free nothing.
            if let Some(m) = r.message.and_then(|m| self.messages.get_mut(m)) {
                if m.payload_kept {
                    if m.frames.len() > 1 {
                        self.payload_bytes =
                            self.payload_bytes.saturating_sub(m.message.payload.len());
                    }
                    m.message.payload = Bytes::new();
                    m.payload_kept = false;
                }
            }
        }
        while self.payload_bytes > self.budget {
            let Some((c, t)) = self.tcp_fifo.pop_front() else {
                break;
            };
            if let Some(t) = self.connections.get_mut(c).and_then(|c| c.tcp.get_mut(t)) {
                self.payload_bytes = self.payload_bytes.saturating_sub(t.bytes.len());
                self.evicted_tcp_bytes += t.bytes.len() as u64;
                t.bytes = Bytes::new();
            }
        }
    }
}
