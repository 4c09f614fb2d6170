//! What a frame or message did wrong, where, and what the RFC says to answer.

use std::fmt;
use std::ops::Range;

use super::close::CloseCode;
use super::frame::{LenEncoding, OpCode};

/// A rule of RFC 6455 that the bytes on the wire broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// An RSV bit is set that no negotiated extension claims.
    ReservedBitSet,
    /// The opcode is one of the reserved values 0x3–0x7 or 0xB–0xF.
    ReservedOpcode,
    /// A client sent a frame without a mask.
    UnmaskedClientFrame,
    /// A server sent a masked frame.
    MaskedServerFrame,
    /// A control frame carries more than 125 bytes.
    ControlFrameTooLong,
    /// A control frame has FIN clear.
    FragmentedControlFrame,
    /// The 64-bit length has its most significant bit set.
    LengthTopBitSet,
    /// The length used a longer encoding than needed.
    NonMinimalLength,
    /// A continuation frame arrived with no fragmented message open.
    UnexpectedContinuation,
    /// A new text/binary frame arrived while a fragmented message was still open.
    ExpectedContinuation,
    /// A text message is not valid UTF-8.
    InvalidUtf8,
    /// A close frame has a 1-byte payload.
    CloseOneBytePayload,
    /// A close frame carries a code that may not be sent.
    InvalidCloseCode,
    /// A close frame's reason is not valid UTF-8.
    InvalidCloseReason,
    /// A frame arrived after the peer's close frame.
    FrameAfterClose,
    /// A frame's payload is larger than the configured limit.
    FrameTooBig,
    /// A reassembled message is larger than the configured limit.
    MessageTooBig,
    /// An extension could not transform a payload (e.g. bad deflate data).
    ExtensionError,
}

impl Rule {
    /// Every rule, in declaration order (for tables and translations).
    pub const ALL: [Rule; 18] = [
        Self::ReservedBitSet,
        Self::ReservedOpcode,
        Self::UnmaskedClientFrame,
        Self::MaskedServerFrame,
        Self::ControlFrameTooLong,
        Self::FragmentedControlFrame,
        Self::LengthTopBitSet,
        Self::NonMinimalLength,
        Self::UnexpectedContinuation,
        Self::ExpectedContinuation,
        Self::InvalidUtf8,
        Self::CloseOneBytePayload,
        Self::InvalidCloseCode,
        Self::InvalidCloseReason,
        Self::FrameAfterClose,
        Self::FrameTooBig,
        Self::MessageTooBig,
        Self::ExtensionError,
    ];

    /// The RFC section that states the rule.
    pub fn section(self) -> &'static str {
        match self {
            Self::ReservedBitSet | Self::ReservedOpcode => "5.2",
            Self::LengthTopBitSet | Self::NonMinimalLength => "5.2",
            Self::UnmaskedClientFrame | Self::MaskedServerFrame => "5.1",
            Self::ControlFrameTooLong | Self::FragmentedControlFrame => "5.5",
            Self::UnexpectedContinuation | Self::ExpectedContinuation => "5.4",
            Self::InvalidUtf8 => "8.1",
            Self::CloseOneBytePayload => "5.5.1",
            Self::InvalidCloseCode => "7.4",
            Self::InvalidCloseReason => "5.5.1",
            Self::FrameAfterClose => "5.5.1",
            Self::FrameTooBig | Self::MessageTooBig => "10.4",
            Self::ExtensionError => "9",
        }
    }

    /// The close code the receiver sends when it fails the connection for this rule.
    pub fn close_code(self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::InvalidCloseReason => CloseCode::InvalidPayload,
            Self::FrameTooBig | Self::MessageTooBig => CloseCode::TooBig,
            _ => CloseCode::Protocol,
        }
    }

    /// The rule in one sentence.
    pub fn description(self) -> &'static str {
        match self {
            Self::ReservedBitSet => "RSV1-3 MUST be 0 unless an extension defines them",
            Self::ReservedOpcode => "reserved opcode: the receiver MUST fail the connection",
            Self::UnmaskedClientFrame => "a client MUST mask every frame it sends",
            Self::MaskedServerFrame => "a server MUST NOT mask any frame it sends",
            Self::ControlFrameTooLong => "control frames MUST have a payload of 125 bytes or less",
            Self::FragmentedControlFrame => "control frames MUST NOT be fragmented (FIN must be 1)",
            Self::LengthTopBitSet => "the most significant bit of a 64-bit length MUST be 0",
            Self::NonMinimalLength => {
                "the minimal number of bytes MUST be used to encode the length"
            }
            Self::UnexpectedContinuation => {
                "continuation frame with no fragmented message in progress"
            }
            Self::ExpectedContinuation => {
                "new data frame while a fragmented message is in progress (expected continuation)"
            }
            Self::InvalidUtf8 => "text messages MUST be valid UTF-8",
            Self::CloseOneBytePayload => "a close payload is empty or starts with a 2-byte code",
            Self::InvalidCloseCode => "this close code may not be sent on the wire",
            Self::InvalidCloseReason => "the close reason MUST be valid UTF-8",
            Self::FrameAfterClose => "no data may be sent after a close frame",
            Self::FrameTooBig => "frame payload exceeds the configured limit",
            Self::MessageTooBig => "message exceeds the configured limit",
            Self::ExtensionError => "a negotiated extension could not process the payload",
        }
    }
}

/// What one occurrence of a broken rule looked like: numbers and names from the wire, never a
/// sentence (the CLI and the window say it in their language, see `i18n::violation_detail`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    /// Nothing to add to the rule.
    None,
    /// The MASK bit as it was on the wire (for the masking rules, §5.1).
    MaskBit(bool),
    /// This RSV bit (1, 2 or 3) is set.
    Rsv(u8),
    /// The reserved opcode value that was sent.
    Opcode(u8),
    /// A control frame's payload length.
    PayloadLen(u64),
    /// A length of `len` bytes sent in the `used` form, longer than needed.
    LengthForm {
        /// The payload length.
        len: u64,
        /// The encoding on the wire.
        used: LenEncoding,
    },
    /// A fragmented message still open when a new data frame started one.
    OpenMessage {
        /// Its opcode (text or binary).
        opcode: OpCode,
        /// How many frames of it had arrived.
        frames: usize,
    },
    /// The opcode of a frame that came after the close frame.
    AfterClose(OpCode),
    /// The first byte that is not UTF-8, as an index into this frame's payload.
    Utf8At {
        /// 0-based index in the frame's payload of the first byte of the bad sequence (0 when
        /// the sequence started in an earlier frame of the message).
        index: usize,
        /// 0-based index in the message where the bad sequence starts: what
        /// `std::str::from_utf8` says of the whole message, however it was fragmented.
        #[serde(default)]
        in_message: u64,
    },
    /// The first byte that is not UTF-8 in a message an extension decoded.
    Utf8AfterExtension {
        /// The extension's token (e.g. `permessage-deflate`).
        name: String,
        /// 0-based index in the decoded message.
        index: usize,
    },
    /// The close code that may not be sent.
    CloseCode(u16),
    /// The first byte of a close reason that is not UTF-8, as an index into the reason.
    ReasonByte(usize),
    /// A size over a limit.
    Size {
        /// The size seen.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// An extension could not decode a message.
    Extension {
        /// The extension's token.
        name: String,
        /// What went wrong.
        why: ExtensionFailure,
    },
}

/// Why an extension could not decode a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionFailure {
    /// The data is not valid for the extension. The text is the decompressor's own words, shown
    /// as data (like a header value), not a sentence of wsscope's.
    BadData(String),
    /// The decoded message would be larger than this many bytes.
    TooBig {
        /// The limit in force.
        limit: u64,
    },
}

/// One broken rule, found at a byte range of the stream (offsets count from the first byte the
/// decoder was given).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    /// The rule that was broken.
    pub rule: Rule,
    /// Stream offsets of the offending bytes.
    pub byte_range: Range<u64>,
    /// Detail specific to this occurrence (the opcode value, the close code seen...).
    pub detail: Detail,
}

impl Violation {
    /// A violation of `rule` at `byte_range`.
    pub fn new(rule: Rule, byte_range: Range<u64>, detail: Detail) -> Self {
        Self {
            rule,
            byte_range,
            detail,
        }
    }

    /// The RFC section (e.g. `"5.2"`).
    pub fn section(&self) -> &'static str {
        self.rule.section()
    }

    /// The close code to fail the connection with.
    pub fn close_code(&self) -> CloseCode {
        match &self.detail {
            // A message that inflates past the limit is too big (RFC 7692 §8.1 leaves the
            // limit to the endpoint; RFC 6455 §7.4.1 names 1009 for it).
            Detail::Extension {
                why: ExtensionFailure::TooBig { .. },
                ..
            } => CloseCode::TooBig,
            _ => self.rule.close_code(),
        }
    }
}

/// For logs and tests: the rule in English and the detail as data. People see violations
/// through `i18n`, in their language.
impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RFC 6455 §{}: {} [bytes {}..{}] -> close {}",
            self.section(),
            self.rule.description(),
            self.byte_range.start,
            self.byte_range.end,
            self.close_code().code()
        )?;
        if self.detail != Detail::None {
            write!(f, " ({:?})", self.detail)?;
        }
        Ok(())
    }
}
