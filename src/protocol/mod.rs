//! The RFC 6455 protocol core: pure functions and state machines over bytes. No sockets,
//! threads, clocks or UI. Everything the inspector explains is computed here, once, as data.
//!
//! | RFC 6455 section | file |
//! |---|---|
//! | §1.3, §4.2.2 accept key | [`accept`] |
//! | §4.1 the client's request and its checks of the answer | [`client`] |
//! | §4.1, §4.2.1, §4.2.2, §4.4 opening handshake | [`handshake`] |
//! | §5.2 base framing, §5.5 control frames, §5.7 examples | [`frame`] |
//! | §5.3 masking | [`mask`] |
//! | §5.1, §5.2, §5.4, §5.5 rules while decoding | [`decoder`] |
//! | §5.4 fragmentation, §8.1 UTF-8, §5.5.1 close body | [`message`], [`utf8`] |
//! | §7.4 close codes | [`close`] |
//! | §7 closing, §5.5.2/§5.5.3 ping/pong | [`connection`] |
//! | §9 extensions | [`extension`] |
//! | RFC 7692 permessage-deflate | [`deflate`] |
//! | what broke and what to answer | [`violation`] |

pub mod accept;
pub mod client;
pub mod close;
pub mod connection;
pub mod decoder;
pub mod deflate;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
mod observed;
pub mod serde_repr;
pub mod utf8;
pub mod violation;

pub use accept::{AcceptDerivation, Base64Problem, KeyCheck, GUID};
pub use close::{close_payload_bytes, parse_close_payload, CloseCode, ClosePayload};
pub use connection::{Connection, ConnectionEvent, ConnectionState};
pub use decoder::{Decoded, Decoder, DecoderConfig, Limits, Pending};
pub use extension::Extension;
pub use frame::{encode_frame, FieldSpans, Fragment, Frame, FrameHeader, LenEncoding, OpCode};
pub(crate) use mask::small_bytes;
pub use mask::{apply_mask, apply_mask_reference, extend_copy, extend_masked, masks_to, ByteBuf};
pub use message::Message;
pub use violation::{Detail, ExtensionFailure, Rule, Violation};

/// Which end of a connection an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Role {
    /// The endpoint that opened the connection; it masks every frame.
    Client,
    /// The endpoint that accepted it; it never masks.
    Server,
}

impl Role {
    /// Who most likely sent `bytes`, judged from the first frame's MASK bit: clients mask every
    /// frame and servers never do (§5.1).
    pub fn guess_sender(bytes: &[u8]) -> Role {
        if bytes.get(1).is_some_and(|b| b & 0x80 != 0) {
            Role::Client
        } else {
            Role::Server
        }
    }

    /// The other end.
    pub fn peer(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }
}
