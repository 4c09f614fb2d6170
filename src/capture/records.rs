//! The records the capture keeps: small fixed-size structs pointing into the byte log (see the
//! module doc of [`super`]).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use super::{replay, Seq, NONE};
use crate::event::{
    ClosedBy, ConnId, Direction, Endpoint, ErrorKind, HttpOutcome, LimitKind, RequestLine,
};
use crate::protocol::handshake::Handshake;
use crate::protocol::{CloseCode, Fragment, FrameHeader, OpCode, Violation};

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
    pub(super) time_ns: u64,
    /// On which connection.
    pub conn: ConnId,
    /// Bytes before this call in the same direction since the connection opened.
    pub offset: u64,
    /// Where its bytes are in the log.
    pub(super) log: u64,
    /// Bytes in this call.
    pub(super) len: u32,
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

    /// The stream range this call carried (cut at 2^64: a capture file's gap can put a
    /// stream's offsets there).
    pub fn range(&self) -> std::ops::Range<u64> {
        self.offset..self.offset.saturating_add(u64::from(self.len))
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
    pub(super) last_sticky: Option<u64>,
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
    /// The other leg, when this connection is one leg of a proxied pair.
    pub relay: Option<ConnId>,
    /// The TLS session of a wss:// connection: its TCP records are the bytes inside it.
    pub tls: Option<Box<crate::event::TlsInfo>>,
    /// Frames client→server, server→client, since it opened (dropped ones included).
    pub frames: [u64; 2],
    /// TCP bytes client→server, server→client, since it opened.
    pub bytes: [u64; 2],
    /// How it ended.
    pub close: Option<CloseRecord>,
    /// Its kept TCP calls per direction (client→server, server→client).
    pub(super) tcp_by_dir: [VecDeque<Seq>; 2],
    /// Its kept frames, both directions, in order.
    pub(super) all_frames: VecDeque<Seq>,
    /// Where the WebSocket stream starts in each direction's TCP stream: after the request
    /// head and after the 101 response (frame offsets count from there).
    pub ws_start: [Option<u64>; 2],
    /// Sticky calls and split frames per direction.
    pub stream: [StreamStats; 2],
    /// The log's end when something last happened on it: once the log starts after this,
    /// nothing of the connection is left.
    pub(super) last_log: u64,
    /// What the budget counts for it (the record, its indexes, the handshake).
    pub(super) mem: usize,
    /// Counted in [`Capture::open_connections`](super::Capture::open_connections): its opening
    /// was seen and its close not yet.
    pub(super) counted: bool,
    /// When and where in the stream of records its opening, handshake, HTTP answer and close
    /// came ([`Capture::events`] puts them back there).
    pub(super) marks: replay::ConnMarks,
}

impl ConnRecord {
    pub(super) fn new(id: ConnId, time: Duration) -> Self {
        Self {
            id,
            endpoint: None,
            client: None,
            server: None,
            opened_at: time,
            state: ConnState::Handshaking,
            handshake: None,
            http: None,
            tls: None,
            relay: None,
            frames: [0; 2],
            bytes: [0; 2],
            close: None,
            tcp_by_dir: Default::default(),
            all_frames: VecDeque::new(),
            ws_start: [None; 2],
            stream: Default::default(),
            last_log: 0,
            mem: 0,
            counted: false,
            marks: replay::ConnMarks::default(),
        }
    }

    /// What the budget counts for this connection.
    pub(super) fn measure(&self) -> usize {
        let idx = |q: &VecDeque<Seq>| q.capacity() * std::mem::size_of::<Seq>();
        let hs = self.handshake.as_ref().map_or(0, |h| {
            // The raw heads twice (raw and parsed fields), plus the checks: an estimate on the
            // high side; the resident-memory bench checks it.
            std::mem::size_of::<Handshake>()
                + 2 * (h.request.raw.len() + h.response.raw.len())
                + (h.checks.len() + h.response.client_checks.len()) * 96
                + 256
        });
        let tls = self.tls.as_ref().map_or(0, |t| {
            std::mem::size_of::<crate::event::TlsInfo>()
                + t.server_name.len()
                + t.version.len()
                + t.cipher_suite.len()
        });
        // (The record itself is counted by the connection list's capacity.)
        hs + tls
            + self.tcp_by_dir.iter().map(idx).sum::<usize>()
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
    pub(super) time_ns: u64,
    /// On which connection.
    pub conn: ConnId,
    /// Every header field (the header bytes are these fields encoded: the length encoding is
    /// one of them, so a non-minimal length comes back as it was).
    pub header: FrameHeader,
    /// Stream offset of the frame's first byte, from the start of the WebSocket stream.
    pub offset: u64,
    /// Where the payload is in the log.
    pub(super) log: u64,
    /// The log holds the payload masked, as the TCP call that carried it (see
    /// [`Capture::payload_of`](super::Capture)): readers unmask it with the header's key.
    pub(super) masked: bool,
    /// Payload bytes kept (less than the header says when decoding stopped at a limit).
    pub kept: u32,
    /// Which way.
    pub direction: Direction,
    /// Where the frame sits in its message.
    pub fragment: Fragment,
    /// False when the payload was not captured because the frame broke a limit.
    pub payload_captured: bool,
    /// The message this frame belongs to, once that message completes ([`NONE`] until then).
    pub(super) message: Seq,
    /// The rules it broke (rare, so out of line behind a thin pointer).
    pub(super) violations: Option<Box<Violations>>,
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
pub(super) struct Violations(pub(super) Vec<Violation>);

/// The frames of a message that has several.
#[derive(Debug, Clone)]
pub(super) struct Seqs(pub(super) Vec<Seq>);

/// The frames of a message: one (most messages), or several.
#[derive(Debug, Clone)]
pub(super) enum MsgFrames {
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
    pub(super) frames: MsgFrames,
    /// Where its payload is in the log, when it is not just its frames' payloads one after the
    /// other (an extension transformed it); [`NONE`] otherwise.
    pub(super) log: u64,
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
    /// Connections dropped: closed ones once nothing of theirs is left, and when nothing else is
    /// left to drop, the oldest of the others too (open ones included).
    pub connections: u64,
    /// The time of the oldest record still kept, once something was dropped: the capture is
    /// complete from there on.
    pub since: Option<Duration>,
}
