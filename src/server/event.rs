//! What the engine publishes (events) and what it takes (commands). Events carry exact bytes and
//! a monotonic timestamp; the engine never formats text for people.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::protocol::handshake::Handshake;
use crate::protocol::{CloseCode, Frame, Message};

/// Connection number, unique for the life of one server.
pub type ConnId = u64;

/// Which way bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server (what the server read).
    ClientToServer,
    /// From the server to the client (what the server wrote).
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
}

/// Who ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClosedBy {
    /// The client sent the first close frame, or dropped the TCP connection.
    Client,
    /// The server sent the first close frame (a command, a violation, shutdown, a limit).
    Server,
}

/// Which configured limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Request head larger than allowed (431).
    HandshakeBytes,
    /// Too many header fields (431).
    HandshakeHeaders,
    /// The handshake did not finish in time.
    HandshakeTimeout,
    /// Too many connections open (503).
    Connections,
    /// A frame over the frame size limit (1009).
    FrameSize,
    /// A message over the message size limit (1009).
    MessageSize,
}

/// One thing that happened, with when and on which connection.
#[derive(Debug, Clone)]
pub struct Event {
    /// The connection (0 for server-wide events).
    pub conn: ConnId,
    /// Time since the server started (monotonic clock).
    pub time: Duration,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of event.
#[derive(Debug, Clone)]
pub enum EventKind {
    /// The listener is bound.
    Listening {
        /// The bound address (with the real port when 0 was asked for).
        addr: SocketAddr,
        /// Set when listening beyond loopback.
        warning: Option<String>,
    },
    /// A TCP connection was accepted.
    Opened {
        /// The client's address.
        peer: SocketAddr,
        /// The server's address.
        local: SocketAddr,
    },
    /// One `read` or `write` on the socket: its exact bytes. The boundaries matter (the
    /// sticky/split-packet lesson): frames do not line up with them.
    Tcp {
        /// Read (client to server) or write (server to client).
        direction: Direction,
        /// The bytes of that one call.
        bytes: Bytes,
    },
    /// The upgrade request, its checks, the accept derivation and the response.
    Handshake(Box<Handshake>),
    /// A plain HTTP request was answered (demo page, 404, 405, 503, 431...).
    Http {
        /// Method and target, or a description when the request did not parse.
        request: String,
        /// The status sent.
        status: u16,
        /// Why, for people.
        reason: String,
    },
    /// A frame, in either direction, exactly as on the wire, with the rules it broke.
    Frame {
        /// Which way it went.
        direction: Direction,
        /// The decoded frame.
        frame: Box<Frame>,
    },
    /// A complete message.
    Message {
        /// Which way it went.
        direction: Direction,
        /// The reassembled message.
        message: Message,
    },
    /// A configured limit was hit and answered.
    Limit {
        /// Which limit.
        kind: LimitKind,
        /// Detail (sizes, the limit in force).
        detail: String,
    },
    /// The connection ended.
    Closed {
        /// The close code received or sent, if there was a close frame.
        code: Option<CloseCode>,
        /// The close reason.
        reason: String,
        /// Who started the close.
        by: ClosedBy,
        /// True when both close frames were exchanged before TCP closed (§7.1.1).
        clean: bool,
    },
    /// An I/O error or another problem on this connection.
    Error {
        /// What went wrong.
        message: String,
    },
    /// The server stopped listening.
    Stopped,
}

/// What the server does with each message it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyMode {
    /// Send every message back unchanged (same opcode). Autobahn needs this.
    Echo,
    /// Answer every message with this text (the seed server: "thank you!!!").
    Fixed(String),
    /// Send nothing automatically; replies come from commands.
    Manual,
}

/// Commands to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send a text message.
    Text(ConnId, String),
    /// Send a binary message.
    Binary(ConnId, Vec<u8>),
    /// Send a ping.
    Ping(ConnId, Vec<u8>),
    /// Send a pong.
    Pong(ConnId, Vec<u8>),
    /// Start the closing handshake.
    Close(ConnId, u16, String),
    /// Write bytes as they are (for showing what a peer does with bad input).
    Raw(ConnId, Vec<u8>),
    /// Drop the TCP connection without a close frame.
    Disconnect(ConnId),
    /// Change the reply mode for every connection.
    SetReplyMode(ReplyMode),
    /// Turn automatic pongs on or off.
    SetAutoPong(bool),
}

impl Command {
    /// The connection a command is for; `None` for server-wide settings.
    pub fn conn(&self) -> Option<ConnId> {
        match self {
            Self::Text(id, _)
            | Self::Binary(id, _)
            | Self::Ping(id, _)
            | Self::Pong(id, _)
            | Self::Close(id, _, _)
            | Self::Raw(id, _)
            | Self::Disconnect(id) => Some(*id),
            Self::SetReplyMode(_) | Self::SetAutoPong(_) => None,
        }
    }
}
