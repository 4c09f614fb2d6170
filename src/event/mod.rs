//! What wsscope saw, as data: events that belong to no single endpoint. A connection says which
//! end wsscope is on it (the server today; the client and the proxy's two legs later; or a file),
//! directions are RFC roles (sent by the client / sent by the server), times are monotonic from a
//! [`Clock`] whose wall-clock anchor travels with the capture, and nothing in an event is a
//! sentence for people: errors, limits and HTTP answers are typed data that the CLI and the
//! window put into words (in either language, see [`crate::i18n`]).
//!
//! Every event is serde-serialisable, and its serde form is the capture file's line (the serde
//! attributes here and in [`crate::protocol`] define it; `docs/capture-format.md` describes it):
//! a capture written as JSON lines reads back the same.

pub mod command;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::protocol::handshake::Handshake;
use crate::protocol::{CloseCode, Frame, Message, Role};

pub use command::{Command, ReplyMode};

/// Connection number, unique for the life of one capture.
pub type ConnId = u64;

/// Which way bytes went, named by the RFC role of their sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Sent by the client (to the server).
    #[serde(rename = "c2s")]
    ClientToServer,
    /// Sent by the server (to the client).
    #[serde(rename = "s2c")]
    ServerToClient,
}

impl Direction {
    /// 0 for client→server, 1 for server→client: the index of per-direction counters.
    pub fn index(self) -> usize {
        match self {
            Self::ClientToServer => 0,
            Self::ServerToClient => 1,
        }
    }

    /// The direction of bytes sent by `role`.
    pub fn sent_by(role: Role) -> Self {
        match role {
            Role::Client => Self::ClientToServer,
            Role::Server => Self::ServerToClient,
        }
    }
}

/// Which end of a connection wsscope is, or where the connection came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// wsscope's own server accepted it.
    Server,
    /// wsscope's client opened it.
    Client,
    /// The proxy's leg toward the client (wsscope plays the server).
    ProxyToClient,
    /// The proxy's leg toward the upstream server (wsscope plays the client).
    ProxyToServer,
    /// Read from a capture file: wsscope was on neither end.
    File,
}

impl Endpoint {
    /// The RFC role wsscope plays on such a connection (`None` for a file).
    pub fn role(self) -> Option<Role> {
        match self {
            Self::Server | Self::ProxyToClient => Some(Role::Server),
            Self::Client | Self::ProxyToServer => Some(Role::Client),
            Self::File => None,
        }
    }
}

/// Who ended a connection, by RFC role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    /// The client sent the first close frame, or dropped the TCP connection.
    Client,
    /// The server sent the first close frame, or dropped the TCP connection.
    Server,
}

impl From<Role> for ClosedBy {
    fn from(r: Role) -> Self {
        match r {
            Role::Client => Self::Client,
            Role::Server => Self::Server,
        }
    }
}

/// Where event times count from: a monotonic instant and the wall-clock time it was taken at,
/// so a capture can say when (pcap and HAR need real timestamps) while its times never jump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Time zero.
    pub epoch: Instant,
    /// The wall-clock time at `epoch`.
    pub wall: SystemTime,
}

impl Clock {
    /// A clock whose time zero is now.
    pub fn start() -> Self {
        Self {
            epoch: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// Time since time zero.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Time zero in microseconds since the Unix epoch (0 if the system clock is before 1970).
    pub fn unix_micros(&self) -> u64 {
        self.wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}

/// One thing that happened, with when and on which connection.
///
/// As JSON, one flat object: `{"t_us":1234,"conn":3,"type":"frame","dir":"c2s",...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Time since the capture's [`Clock`] started (monotonic).
    #[serde(flatten, with = "crate::protocol::serde_repr::time")]
    pub time: Duration,
    /// The connection (0 for events of no connection: listening, a server-wide error).
    pub conn: ConnId,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The kinds of event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The capture's time zero on the wall clock: the first event of every source.
    Clock {
        /// Microseconds since the Unix epoch at time zero.
        #[serde(rename = "unix_us")]
        unix_micros: u64,
    },
    /// A listener is bound.
    Listening {
        /// The bound address (with the real port when 0 was asked for).
        addr: SocketAddr,
    },
    /// A TCP connection was opened (accepted by the server, or connected by the client).
    Opened {
        /// Which end wsscope is.
        endpoint: Endpoint,
        /// The client's address.
        client: SocketAddr,
        /// The server's address.
        server: SocketAddr,
    },
    /// This connection is one leg of a proxied pair: `peer` is the other leg (the proxy's leg
    /// toward the client and its leg toward the upstream name each other).
    Relay {
        /// The other leg's connection number.
        peer: ConnId,
    },
    /// The TLS session under a wss:// connection is up: from here on, the `Tcp` events of this
    /// connection carry the bytes inside the TLS records (what was decrypted, or what was
    /// written before encryption), not the records on the wire.
    Tls(Box<TlsInfo>),
    /// One `read` or `write` on the socket: its exact bytes. The boundaries matter (the
    /// sticky/split-packet lesson): frames do not line up with them.
    Tcp {
        /// Whose bytes they are.
        #[serde(rename = "dir")]
        direction: Direction,
        /// The bytes of that one call.
        #[serde(with = "crate::protocol::serde_repr::bytes")]
        bytes: Bytes,
    },
    /// The upgrade request, its checks, the accept derivation and the response.
    Handshake(Box<Handshake>),
    /// A plain HTTP answer was given instead of (or refusing) an upgrade.
    Http {
        /// Method and target, when the request head parsed.
        request: Option<RequestLine>,
        /// The status sent.
        status: u16,
        /// Why that answer.
        outcome: HttpOutcome,
    },
    /// A frame, in either direction, exactly as on the wire, with the rules it broke.
    Frame {
        /// Who sent it.
        #[serde(rename = "dir")]
        direction: Direction,
        /// The decoded frame (its fields sit beside `dir` in a file's line).
        #[serde(flatten)]
        frame: Box<Frame>,
    },
    /// A complete message.
    Message {
        /// Who sent it.
        #[serde(rename = "dir")]
        direction: Direction,
        /// The reassembled message (its fields sit beside `dir` in a file's line).
        #[serde(flatten)]
        message: Message,
    },
    /// A configured limit was hit and answered.
    Limit {
        /// Which limit.
        kind: LimitKind,
        /// The limit in force (bytes, fields, connections or milliseconds: see [`LimitKind`]).
        limit: u64,
        /// What was seen.
        actual: u64,
    },
    /// The connection ended.
    Closed {
        /// The close code received or sent (1005 for a close frame without one, 1006 for no
        /// close frame at all, §7.1.5).
        code: Option<CloseCode>,
        /// The close reason as sent (the peer's words, not ours).
        reason: String,
        /// Who started the close.
        by: ClosedBy,
        /// True when both close frames were exchanged before TCP closed (§7.1.1).
        clean: bool,
    },
    /// Something went wrong on this connection (or on the server, for connection 0).
    #[serde(with = "error_field")]
    Error(ErrorKind),
    /// The listener stopped.
    Stopped,
}

/// `EventKind::Error` in a file's line: `"error": <ErrorKind>` beside `"type": "error"` (a tag
/// and an enum cannot share one object otherwise).
mod error_field {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::ErrorKind;

    #[derive(Serialize)]
    struct Out<'a> {
        error: &'a ErrorKind,
    }

    #[derive(Deserialize)]
    struct In {
        error: ErrorKind,
    }

    pub fn serialize<S: Serializer>(error: &ErrorKind, s: S) -> Result<S::Ok, S::Error> {
        Out { error }.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ErrorKind, D::Error> {
        In::deserialize(d).map(|i| i.error)
    }
}

/// What a wss:// connection's TLS session agreed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// The name the certificate was checked against (sent as SNI when it is a host name).
    pub server_name: String,
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// The cipher suite, by its IANA name.
    pub cipher_suite: String,
    /// The ALPN protocol agreed, if any.
    pub alpn: Option<String>,
    /// How many certificates the server sent (its chain).
    pub certificates: u32,
    /// What the server's certificate was checked against.
    pub trust: TlsTrust,
}

/// What a client trusts a server's certificate by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsTrust {
    /// The operating system's roots (or, when it has none, Mozilla's, built in).
    SystemRoots,
    /// The certificates in a PEM file the user named (`--ca-file`).
    CaFile(String),
    /// Nothing: `--insecure`, any certificate is taken.
    Insecure,
}

/// A request's method and target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLine {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target as sent.
    pub path: String,
}

/// Why a plain HTTP answer was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpOutcome {
    /// `GET /`: the demo page (200).
    DemoPage,
    /// A method other than GET (405).
    MethodNotAllowed,
    /// A GET without an upgrade for a path other than `/` (404).
    NotFound,
    /// The upgrade request broke a §4.2.1 rule (400, or 426 for the version): the handshake
    /// event before this one has the checks.
    UpgradeRefused,
    /// The request head did not parse as HTTP (400).
    Malformed(String),
    /// The request head exceeded the size limit (431).
    HeadTooLarge,
    /// The request head had more header fields than allowed (431).
    TooManyHeaders,
    /// The opening handshake did not complete in time (408).
    HandshakeTimeout,
    /// The connection limit was reached (503).
    Busy,
    /// A real server's answer seen in a capture file: it did not switch protocols.
    ServerAnswer,
    /// The proxy's upstream could not be used (unreachable, refused the upgrade, broke §4.1):
    /// 502, with why (in English, as the answer's body says it).
    BadGateway(String),
    /// A Host the server does not answer for (403, a guard against DNS rebinding): the Host
    /// value as sent.
    HostNotAllowed(String),
}

/// Which configured limit was hit, and the unit of its numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Request head larger than allowed (431); bytes.
    HandshakeBytes,
    /// Too many header fields (431); fields.
    HandshakeHeaders,
    /// The handshake did not finish in time (408); milliseconds.
    HandshakeTimeout,
    /// Too many connections open (503); connections.
    Connections,
    /// A frame over the frame size limit (1009); bytes.
    FrameSize,
    /// A message over the message size limit (1009); bytes.
    MessageSize,
    /// Our close frame was not answered in time: TCP was closed without the closing
    /// handshake; milliseconds (the close timeout, and how long it waited).
    CloseTimeout,
    /// No pong came back in time for a keepalive ping: closed with 1011; milliseconds (the
    /// ping timeout, and how long it waited).
    PingTimeout,
    /// The consumer lags: reads from this connection, one of the busiest, are paused until it
    /// catches up (quieter connections are still read); bytes (the bound, what was in flight).
    ReadsPaused,
    /// The consumer lags far behind: reads from every WebSocket are paused until it catches up
    /// (handshakes are still answered); bytes (the ceiling, what was in flight).
    AllReadsPaused,
}

/// What went wrong, as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The listener's `accept` failed.
    Accept(IoFailure),
    /// An event loop's poll failed.
    EventLoop(IoFailure),
    /// A connection could not be set up (it was gone at once).
    Setup(IoFailure),
    /// No event loop was left to serve a connection.
    NoEventLoop,
    /// Reading from the socket failed.
    Read(IoFailure),
    /// Writing to the socket failed.
    Write(IoFailure),
    /// A command named a connection that is not open.
    NotOpen,
    /// A command could not be carried out: what the protocol refused.
    NotSent(SendRefusal),
    /// A TCP stream read from a capture file has a hole that was never filled: `missing`
    /// bytes from byte `offset` of that direction's stream. Frames after a hole cannot be
    /// trusted, so that direction is not decoded any further (never papered over).
    Gap {
        /// The stream with the hole.
        direction: Direction,
        /// Where the hole starts: bytes of that stream delivered before it.
        offset: u64,
        /// How many bytes are missing (up to the next bytes the capture has).
        missing: u64,
        /// Why it counts as never filled.
        cause: GapCause,
    },
    /// A capture file has more TCP connections open at once than the importer follows
    /// (a memory bound): the ones past the limit are skipped (conn 0).
    FlowLimit {
        /// The most connections followed at once.
        limit: u64,
    },
    /// The server's answer to an upgrade request, seen in a capture file, is not an HTTP
    /// response (httparse's words for why, as data): no frames are decoded.
    BadResponse(String),
    /// The client could not look up a host name (the resolver's words, as data).
    Resolve {
        /// The name looked up.
        host: String,
        /// Why it failed.
        why: String,
    },
    /// The client could not open a TCP connection to any address of the server.
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// Why it failed there.
        failure: IoFailure,
    },
    /// The TLS session failed (rustls's words for why, as data: a certificate not trusted, a
    /// name that does not match, a protocol alert).
    Tls(String),
    /// A request for wsscope's client that cannot be carried out (a bad URL, a CA file that
    /// does not load): the words, as data.
    Client(String),
    /// A frame wsscope itself sent (a raw frame from the builder) announces a payload larger
    /// than the capture follows for its own side: that direction is not decoded any further
    /// (its bytes are still captured as TCP events), so a lying length field cannot make the
    /// capture hold every later byte of the connection waiting for it.
    OwnFrameTooBig {
        /// wsscope's own direction.
        direction: Direction,
        /// Stream offset of the frame's first byte.
        offset: u64,
        /// The payload length its header announces.
        announced: u64,
        /// The most the capture follows for its own side, in bytes.
        limit: u64,
    },
}

/// Why a hole in a captured TCP stream counts as never filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GapCause {
    /// The connection ended (FIN both ways, or RST) before the missing bytes were seen.
    Closed,
    /// The capture file ended before they were seen.
    EndOfFile,
    /// More bytes waited out of order than the importer holds per direction (a memory
    /// bound): the limit in bytes.
    BufferFull {
        /// The most bytes held out of order per direction (and in all).
        limit: u64,
    },
    /// The window's memory budget dropped them before the capture was exported (the
    /// exporter says so rather than start the stream in the middle).
    Evicted,
}

/// Why the protocol refused to send something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendRefusal {
    /// A close frame was already sent (§5.5.1).
    Closed,
    /// A control frame payload over 125 bytes (§5.5); the size.
    ControlTooLong(usize),
    /// A close reason over 123 bytes; the size.
    ReasonTooLong(usize),
}

impl From<crate::protocol::connection::SendError> for SendRefusal {
    fn from(e: crate::protocol::connection::SendError) -> Self {
        use crate::protocol::connection::SendError;
        match e {
            SendError::Closed => Self::Closed,
            SendError::ControlTooLong(n) => Self::ControlTooLong(n),
            SendError::ReasonTooLong(n) => Self::ReasonTooLong(n),
        }
    }
}

/// An I/O error as data: its kind and the operating system's error number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoFailure {
    /// What kind of failure.
    pub kind: IoKind,
    /// The OS error number (`errno`), when there was one.
    pub os_code: Option<i32>,
}

/// The I/O failures a socket meets, named; anything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IoKind {
    /// The peer reset the connection.
    ConnectionReset,
    /// The connection was aborted.
    ConnectionAborted,
    /// Writing to a connection the peer closed.
    BrokenPipe,
    /// The peer took nothing.
    WriteZero,
    /// Timed out.
    TimedOut,
    /// Out of file descriptors or memory.
    OutOfResources,
    /// Not allowed.
    PermissionDenied,
    /// The address is in use.
    AddrInUse,
    /// Nothing listens there (the peer refused the connection).
    ConnectionRefused,
    /// No route to the host or its network.
    Unreachable,
    /// Anything else.
    Other,
}

impl From<&std::io::Error> for IoFailure {
    fn from(e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            K::ConnectionReset => IoKind::ConnectionReset,
            K::ConnectionAborted => IoKind::ConnectionAborted,
            K::BrokenPipe => IoKind::BrokenPipe,
            K::WriteZero => IoKind::WriteZero,
            K::TimedOut => IoKind::TimedOut,
            K::OutOfMemory => IoKind::OutOfResources,
            K::PermissionDenied => IoKind::PermissionDenied,
            K::AddrInUse => IoKind::AddrInUse,
            K::ConnectionRefused => IoKind::ConnectionRefused,
            K::HostUnreachable | K::NetworkUnreachable => IoKind::Unreachable,
            // EMFILE / ENFILE: out of file descriptors.
            _ if matches!(e.raw_os_error(), Some(23 | 24)) && cfg!(unix) => IoKind::OutOfResources,
            _ => IoKind::Other,
        };
        Self {
            kind,
            os_code: e.raw_os_error(),
        }
    }
}

impl From<std::io::Error> for IoFailure {
    fn from(e: std::io::Error) -> Self {
        Self::from(&e)
    }
}
