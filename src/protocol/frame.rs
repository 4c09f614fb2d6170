//! The frame of RFC 6455 §5.2 exactly as it is on the wire: its header, its encoder, and a
//! decoded frame with where it sits in its message (shared by the decoder and the assembler).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! ```

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use bytes::Bytes;

use super::mask::{apply_mask, extend_masked};
use super::violation::Violation;

/// The 4-bit opcode. Every value converts; reserved ones are kept so they can be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpCode {
    /// 0x0: continuation of a fragmented message.
    Continuation,
    /// 0x1: text (UTF-8) data.
    Text,
    /// 0x2: binary data.
    Binary,
    /// 0x8: connection close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
    /// 0x3–0x7: reserved for further non-control frames.
    ReservedData(u8),
    /// 0xB–0xF: reserved for further control frames.
    ReservedControl(u8),
}

impl From<u8> for OpCode {
    /// Only the low 4 bits are used.
    fn from(value: u8) -> Self {
        match value & 0x0F {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            v @ 0x3..=0x7 => Self::ReservedData(v),
            v => Self::ReservedControl(v),
        }
    }
}

impl From<OpCode> for u8 {
    fn from(op: OpCode) -> u8 {
        match op {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
            OpCode::ReservedData(v) | OpCode::ReservedControl(v) => v & 0x0F,
        }
    }
}

impl OpCode {
    /// Control frames have the high bit of the opcode set (§5.5).
    pub fn is_control(self) -> bool {
        u8::from(self) & 0x8 != 0
    }

    /// Whether the opcode is one of the reserved values.
    pub fn is_reserved(self) -> bool {
        matches!(self, Self::ReservedData(_) | Self::ReservedControl(_))
    }

    /// Short lowercase name, as used in tables and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Self::Continuation => "continuation",
            Self::Text => "text",
            Self::Binary => "binary",
            Self::Close => "close",
            Self::Ping => "ping",
            Self::Pong => "pong",
            Self::ReservedData(_) => "reserved (data)",
            Self::ReservedControl(_) => "reserved (control)",
        }
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:X} {}", u8::from(*self), self.name())
    }
}

/// Which of the three payload-length encodings a frame uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LenEncoding {
    /// The length (0–125) is the 7-bit field itself.
    Seven,
    /// The 7-bit field is 126 and a 16-bit big-endian length follows.
    Sixteen,
    /// The 7-bit field is 127 and a 64-bit big-endian length follows.
    SixtyFour,
}

impl LenEncoding {
    /// The smallest encoding that can carry `len` (§5.2: "the minimal number of bytes MUST be used").
    pub fn minimal_for(len: u64) -> Self {
        match len {
            0..=125 => Self::Seven,
            126..=0xFFFF => Self::Sixteen,
            _ => Self::SixtyFour,
        }
    }

    /// Number of extended-length bytes after the second header byte.
    pub fn extra_bytes(self) -> usize {
        match self {
            Self::Seven => 0,
            Self::Sixteen => 2,
            Self::SixtyFour => 8,
        }
    }

    /// Width in bits of the field that holds the length: 7, or the 16- or 64-bit extension.
    pub fn bits(self) -> u32 {
        match self {
            Self::Seven => 7,
            Self::Sixteen => 16,
            Self::SixtyFour => 64,
        }
    }

    /// The largest length this encoding can carry.
    pub fn max_len(self) -> u64 {
        match self {
            Self::Seven => 125,
            Self::Sixteen => 0xFFFF,
            Self::SixtyFour => u64::MAX,
        }
    }

    /// How people name it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Seven => "7-bit",
            Self::Sixteen => "7+16-bit (126 + u16)",
            Self::SixtyFour => "7+64-bit (127 + u64)",
        }
    }
}

/// Every field of a frame header, as it was (or will be) on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// RSV1, RSV2, RSV3.
    pub rsv: [bool; 3],
    /// The opcode.
    pub opcode: OpCode,
    /// The MASK bit. When set, `mask_key` is `Some`.
    pub masked: bool,
    /// Payload length in bytes.
    pub payload_len: u64,
    /// The masking key, when `masked`.
    #[serde(with = "super::serde_repr::hex_opt")]
    pub mask_key: Option<[u8; 4]>,
    /// Which length encoding the header uses.
    pub len_encoding: LenEncoding,
}

/// Byte ranges of the fields inside one frame, relative to the frame's first byte. FIN, RSV and
/// the opcode share byte 0; MASK and the 7-bit length share byte 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FieldSpans {
    /// Byte 0: FIN, RSV1-3 and opcode.
    pub fin_rsv_opcode: Range<usize>,
    /// Byte 1: MASK bit and 7-bit length.
    pub mask_len7: Range<usize>,
    /// The 16- or 64-bit extended length, if any.
    pub ext_len: Option<Range<usize>>,
    /// The 4-byte masking key, if any.
    pub mask_key: Option<Range<usize>>,
    /// The payload.
    pub payload: Range<usize>,
}

impl FrameHeader {
    /// A header with FIN set, no RSV bits, and the minimal length encoding.
    pub fn new(opcode: OpCode, payload_len: u64, mask_key: Option<[u8; 4]>) -> Self {
        Self {
            fin: true,
            rsv: [false; 3],
            opcode,
            masked: mask_key.is_some(),
            payload_len,
            mask_key,
            len_encoding: LenEncoding::minimal_for(payload_len),
        }
    }

    /// Number of header bytes: 2, plus 2 or 8 for the extended length, plus 4 for the key.
    pub fn header_len(&self) -> usize {
        2 + self.len_encoding.extra_bytes() + if self.masked { 4 } else { 0 }
    }

    /// The value of the 7-bit length field.
    pub fn len7(&self) -> u8 {
        match self.len_encoding {
            // Masked to 7 bits: a builder may ask for a 7-bit length above 125 to show a bad frame.
            LenEncoding::Seven => (self.payload_len & 0x7F) as u8,
            LenEncoding::Sixteen => 126,
            LenEncoding::SixtyFour => 127,
        }
    }

    /// Byte ranges of each field, relative to the start of the frame.
    pub fn spans(&self) -> FieldSpans {
        let ext = self.len_encoding.extra_bytes();
        let ext_len = (ext > 0).then(|| 2..2 + ext);
        let key_start = 2 + ext;
        let mask_key = self.masked.then(|| key_start..key_start + 4);
        let header_len = self.header_len();
        let payload_end =
            header_len.saturating_add(usize::try_from(self.payload_len).unwrap_or(usize::MAX));
        FieldSpans {
            fin_rsv_opcode: 0..1,
            mask_len7: 1..2,
            ext_len,
            mask_key,
            payload: header_len..payload_end,
        }
    }

    /// Appends the header bytes exactly as the fields say, even where they break a rule
    /// (a non-minimal length, a reserved opcode): the playground builds bad frames on purpose.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut b0 = u8::from(self.opcode) & 0x0F;
        if self.fin {
            b0 |= 0x80;
        }
        for (i, &bit) in self.rsv.iter().enumerate() {
            if bit {
                b0 |= 0x40 >> i;
            }
        }
        let mut b1 = self.len7();
        if self.masked {
            b1 |= 0x80;
        }
        out.push(b0);
        out.push(b1);
        match self.len_encoding {
            LenEncoding::Seven => {}
            // Truncation is what the wire would carry if a builder asks for a length that
            // does not fit; the decoder then shows the mismatch.
            LenEncoding::Sixteen => out.extend_from_slice(&(self.payload_len as u16).to_be_bytes()),
            LenEncoding::SixtyFour => out.extend_from_slice(&self.payload_len.to_be_bytes()),
        }
        if self.masked {
            out.extend_from_slice(&self.mask_key.unwrap_or([0; 4]));
        }
    }

    /// Parses a header from the front of `buf`. `None` means more bytes are needed (that is the
    /// normal state of a stream, not an error); otherwise returns the header and its length.
    pub fn parse(buf: &[u8]) -> Option<(FrameHeader, usize)> {
        let (&b0, rest) = buf.split_first()?;
        let &b1 = rest.first()?;
        let len7 = b1 & 0x7F;
        let masked = b1 & 0x80 != 0;
        let len_encoding = match len7 {
            126 => LenEncoding::Sixteen,
            127 => LenEncoding::SixtyFour,
            _ => LenEncoding::Seven,
        };
        let ext = len_encoding.extra_bytes();
        let header_len = 2 + ext + if masked { 4 } else { 0 };
        let header = buf.get(..header_len)?;
        let payload_len = match len_encoding {
            LenEncoding::Seven => u64::from(len7),
            LenEncoding::Sixteen => u64::from(u16::from_be_bytes([header[2], header[3]])),
            LenEncoding::SixtyFour => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&header[2..10]);
                u64::from_be_bytes(b)
            }
        };
        let mask_key = masked.then(|| {
            let k = &header[2 + ext..2 + ext + 4];
            [k[0], k[1], k[2], k[3]]
        });
        Some((
            FrameHeader {
                fin: b0 & 0x80 != 0,
                rsv: [b0 & 0x40 != 0, b0 & 0x20 != 0, b0 & 0x10 != 0],
                opcode: OpCode::from(b0),
                masked,
                payload_len,
                mask_key,
                len_encoding,
            },
            header_len,
        ))
    }
}

/// Appends a whole frame: the header, then `payload` masked with the header's key if it has one.
/// `header.payload_len` is set from `payload`.
/// If the header's length encoding cannot carry the payload, the minimal one is used instead.
pub fn encode_frame(mut header: FrameHeader, payload: &[u8], out: &mut Vec<u8>) {
    header.payload_len = payload.len() as u64;
    if header.payload_len > header.len_encoding.max_len() {
        header.len_encoding = LenEncoding::minimal_for(header.payload_len);
    }
    // One allocation for the whole frame, not one for the header and a second to grow for the
    // payload.
    out.reserve(header.header_len() + payload.len());
    header.encode(out);
    extend_masked(out, payload, header.mask_key, 0);
}

/// Where a frame sits in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fragment {
    /// A data frame with FIN set and no message open: a whole message.
    Whole,
    /// The first frame of a fragmented message.
    First,
    /// A continuation frame that is not the last.
    Middle,
    /// The continuation frame with FIN set.
    Last,
    /// A control frame (may come between fragments, §5.4).
    Control,
    /// A frame that belongs to no valid message (a stray continuation, a reserved opcode, a frame
    /// after close).
    Stray,
}

/// One frame as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Frame {
    /// Stream offset of the frame's first byte.
    pub offset: u64,
    /// Every header field.
    pub header: FrameHeader,
    /// The header bytes exactly as received.
    #[serde(with = "super::serde_repr::bytes")]
    pub header_bytes: Bytes,
    /// The payload after unmasking (what the application sees). Empty when not captured.
    #[serde(with = "super::serde_repr::bytes")]
    pub payload: Bytes,
    /// False when the payload was not kept because the frame broke a limit and decoding stopped.
    pub payload_captured: bool,
    /// Where this frame sits in its message.
    pub fragment: Fragment,
    /// The rules this frame broke (header rules and message rules).
    pub violations: Vec<Violation>,
}

impl Frame {
    /// Byte ranges of each field, relative to [`Frame::offset`].
    pub fn spans(&self) -> FieldSpans {
        self.header.spans()
    }

    /// Stream offset where the payload starts (saturating: a frame read from a file can claim
    /// any offset).
    pub fn payload_offset(&self) -> u64 {
        self.offset.saturating_add(self.header_bytes.len() as u64)
    }

    /// Stream offset one past the last byte of the frame (as far as it was captured).
    pub fn end_offset(&self) -> u64 {
        self.payload_offset()
            .saturating_add(self.payload.len() as u64)
    }

    /// The payload as it was on the wire (masked again if the frame was masked: XOR is its own
    /// inverse, so storing the unmasked payload once loses nothing).
    pub fn wire_payload(&self) -> Cow<'_, [u8]> {
        match self.header.mask_key {
            Some(key) => {
                let mut v = self.payload.to_vec();
                apply_mask(&mut v, key, 0);
                Cow::Owned(v)
            }
            None => Cow::Borrowed(&self.payload),
        }
    }

    /// Every byte of the frame as it was on the wire.
    pub fn wire_bytes(&self) -> Vec<u8> {
        self.wire_prefix(usize::MAX)
    }

    /// The first `n` bytes of the frame as they were on the wire (the payload masked again),
    /// without copying the rest of a large frame (a view shows a few hundred bytes).
    pub fn wire_prefix(&self, n: usize) -> Vec<u8> {
        let header = &self.header_bytes[..self.header_bytes.len().min(n)];
        let take = n.saturating_sub(header.len()).min(self.payload.len());
        let mut v = Vec::with_capacity(header.len() + take);
        v.extend_from_slice(header);
        v.extend_from_slice(&self.payload[..take]);
        if let Some(key) = self.header.mask_key {
            apply_mask(&mut v[header.len()..], key, 0);
        }
        v
    }
}
