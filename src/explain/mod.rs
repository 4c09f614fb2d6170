//! One explanation of what is on the wire, for every view: a frame field by field (bits, bytes,
//! value, meaning), the length encoding, the unmasking, the close body, the frame's place in its
//! message, the rules it broke; a whole byte stream decoded; the accept key derived step by step.
//!
//! It is data, not drawing: no egui, no ANSI. The CLI (`src/cli/render.rs`) prints it and the
//! window (`src/gui/anatomy.rs`, the playground, the handshake view) paints it, so both say the
//! same thing. Sentences come from [`crate::i18n`] in the language asked for; numbers, bytes and
//! header values are never translated.

pub mod accept;
pub mod frame;
pub mod hex;
pub mod stream;

pub use accept::{AcceptExplanation, AcceptStep};
pub use frame::{
    BitCell, BitSpan, FieldRow, FrameExplanation, Segment, Unmask, UnmaskRow, ViolationRow,
};
pub use hex::{hex_spaced, parse_hex, preview, HexError};
pub use stream::{role_name, StreamDecode};

/// The parts of a frame that each get their own colour in every view (bit diagram, hex dump,
/// field names, CLI output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// The FIN bit.
    Fin,
    /// RSV1-3.
    Rsv,
    /// The opcode.
    Opcode,
    /// The MASK bit.
    Mask,
    /// The payload length: the 7-bit field and the 16- or 64-bit extension.
    Length,
    /// The masking key.
    Key,
    /// The payload.
    Payload,
}

/// One line of explanation, already in the chosen language; `bad` when it reports a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The sentence.
    pub text: String,
    /// Whether it reports something wrong (views show it in red).
    pub bad: bool,
}

impl Note {
    fn ok(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            bad: false,
        }
    }

    fn bad(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            bad: true,
        }
    }
}
