//! What an endpoint takes from its user: commands (the composer, the frame builder, the top bar).

use serde::{Deserialize, Serialize};

use super::ConnId;

/// What the server does with each message it receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
