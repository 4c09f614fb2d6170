//! One frame explained field by field, as RFC 6455 §5.2 draws it.

use std::ops::Range;

use crate::i18n::{self, fill, Lang};
use crate::protocol::accept::hex_lower;
use crate::protocol::{parse_close_payload, Fragment, Frame, LenEncoding, OpCode, Rule};

use super::hex::hex_spaced;
use super::{FieldKind, Note};

/// Wire bytes an explanation keeps, header included: a view shows these, then "N more".
pub const WIRE_SHOWN: usize = 512;
/// Rows of the unmask table: enough to see the key repeat, few enough to read.
pub const UNMASK_ROWS: usize = 32;

/// Where a field sits in the first two header bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitSpan {
    /// Header byte: 0 or 1.
    pub byte: usize,
    /// Position of the field's lowest bit (0 is the least significant bit of the byte).
    pub shift: u32,
    /// Number of bits.
    pub width: u32,
}

impl BitSpan {
    const fn new(byte: usize, shift: u32, width: u32) -> Self {
        Self { byte, shift, width }
    }

    /// The field's value in `byte`.
    pub fn value(self, byte: u8) -> u8 {
        (byte >> self.shift) & ((1u16 << self.width) - 1) as u8
    }
}

/// One cell of the bit diagram: a field of bytes 0-1 and its bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitCell {
    /// What the bits are.
    pub kind: FieldKind,
    /// The name above the bits (`FIN`, `RSV1`, ...).
    pub name: &'static str,
    /// Where the bits are.
    pub bits: BitSpan,
    /// Their value.
    pub value: u8,
}

impl BitCell {
    /// The bits as binary digits, most significant first (`0001` for the text opcode).
    pub fn digits(&self) -> String {
        format!("{:0w$b}", self.value, w = self.bits.width as usize)
    }
}

/// One field of the header: name, where it is, its value and what that means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRow {
    /// What the field is.
    pub kind: FieldKind,
    /// Its name, in the chosen language where it has one (`opcode` is `操作码`).
    pub name: &'static str,
    /// Its bits in header byte 0 or 1, when it is a bit field.
    pub bits: Option<BitSpan>,
    /// The bytes that hold it, relative to the frame's first byte (the length's is the
    /// extension when there is one). Rows with the same span light up together.
    pub span: Range<usize>,
    /// The value as on the wire: `1`, `0 0 0`, `0x1`, `5`, `37 fa 21 3d (37fa213d)`.
    pub value: String,
    /// What the value means, in the chosen language (empty for the key).
    pub meaning: String,
}

/// A run of the frame's bytes that belongs to one field, relative to the frame's first byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The field (byte 0 is shown as the opcode's, byte 1 as the length's).
    pub kind: FieldKind,
    /// Its bytes.
    pub span: Range<usize>,
}

/// One line of the unmask table: `byte = wire XOR key[index mod 4]` (§5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnmaskRow {
    /// Index in the payload.
    pub index: usize,
    /// The byte as sent.
    pub wire: u8,
    /// The key byte it is XORed with.
    pub key: u8,
    /// The unmasked byte.
    pub byte: u8,
}

impl UnmaskRow {
    /// The unmasked byte as a character when it is printable ASCII.
    pub fn printable(&self) -> Option<char> {
        (self.byte.is_ascii_graphic() || self.byte == b' ').then_some(char::from(self.byte))
    }
}

/// The unmasking of the first [`UNMASK_ROWS`] payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmask {
    /// The masking key.
    pub key: [u8; 4],
    /// The first rows.
    pub rows: Vec<UnmaskRow>,
    /// Payload bytes after them, unmasked the same way.
    pub more: usize,
}

/// A rule the frame broke, with the sentence saying so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViolationRow {
    /// The rule.
    pub rule: Rule,
    /// Its RFC section (`5.1`).
    pub section: &'static str,
    /// Stream offsets of the offending bytes.
    pub byte_range: Range<u64>,
    /// The close code a receiver fails the connection with.
    pub close_code: u16,
    /// Rule, bytes, close code and detail in one sentence in the chosen language.
    pub text: String,
}

impl ViolationRow {
    /// The RFC section on the web.
    pub fn url(&self) -> String {
        format!(
            "https://www.rfc-editor.org/rfc/rfc6455#section-{}",
            self.section
        )
    }
}

/// Everything about one frame, in one language. Offsets in `span`s are relative to the frame's
/// first byte; [`FrameExplanation::at`] turns them into stream offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameExplanation {
    /// Stream offset of the frame's first byte.
    pub offset: u64,
    /// Header bytes.
    pub header_len: usize,
    /// The payload length the header announces.
    pub payload_len: u64,
    /// Stream offset one past the frame as announced (saturates: a 64-bit length can announce
    /// more than a stream can hold).
    pub end: u64,
    /// The opcode.
    pub opcode: OpCode,
    /// Header bytes 0 and 1.
    pub bytes01: [u8; 2],
    /// The bit diagram of bytes 0-1: FIN, RSV1, RSV2, RSV3, opcode, MASK, the 7-bit length.
    pub bits: Vec<BitCell>,
    /// The header fields: FIN, RSV1-3, opcode, MASK, length, and the masking key if any.
    pub rows: Vec<FieldRow>,
    /// The 7-bit length field as sent (126 and 127 announce an extension).
    pub len7: u8,
    /// Which length encoding is used, where the extension is, what it says.
    pub length_note: String,
    /// The frame's bytes by field, in wire order.
    pub segments: Vec<Segment>,
    /// The first [`WIRE_SHOWN`] bytes as sent (the payload masked again).
    pub wire: Vec<u8>,
    /// All the frame's bytes that were captured.
    pub wire_total: u64,
    /// Stream offsets of the captured payload (its end is where the frame's bytes end here;
    /// it is before `end` when the header announces more than arrived).
    pub payload_bytes: Range<u64>,
    /// False when the payload was not kept (decoding stopped at this header, or evicted).
    pub payload_captured: bool,
    /// The frame's place in its message.
    pub fragment: Fragment,
    /// That place in words.
    pub fragment_text: &'static str,
    /// The unmasking, when the frame is masked and its payload was kept.
    pub unmask: Option<Unmask>,
    /// The close body (§5.5.1), for a close frame whose payload was kept.
    pub close: Option<Vec<Note>>,
    /// The rules broken.
    pub violations: Vec<ViolationRow>,
}

fn bit(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

impl FrameExplanation {
    /// Explains `f` in `lang`. Bounded work whatever the payload size: only the bytes shown are
    /// masked again.
    pub fn new(f: &Frame, lang: Lang) -> Self {
        let t = lang.t();
        let h = &f.header;
        let spans = f.spans();
        let hb = &f.header_bytes;
        let b0 = hb.first().copied().unwrap_or(0);
        let b1 = hb.get(1).copied().unwrap_or(0);
        let at = |r: &Range<usize>| stream_range(f.offset, r);

        const FIN: BitSpan = BitSpan::new(0, 7, 1);
        const RSV: BitSpan = BitSpan::new(0, 4, 3);
        const OPCODE: BitSpan = BitSpan::new(0, 0, 4);
        const MASK: BitSpan = BitSpan::new(1, 7, 1);
        const LEN7: BitSpan = BitSpan::new(1, 0, 7);
        let cell = |kind, name, bits: BitSpan| BitCell {
            kind,
            name,
            bits,
            value: bits.value(if bits.byte == 0 { b0 } else { b1 }),
        };
        let bits = vec![
            cell(FieldKind::Fin, "FIN", FIN),
            cell(FieldKind::Rsv, "RSV1", BitSpan::new(0, 6, 1)),
            cell(FieldKind::Rsv, "RSV2", BitSpan::new(0, 5, 1)),
            cell(FieldKind::Rsv, "RSV3", BitSpan::new(0, 4, 1)),
            cell(FieldKind::Opcode, "opcode", OPCODE),
            cell(FieldKind::Mask, "MASK", MASK),
            cell(FieldKind::Length, t.bits_len7, LEN7),
        ];

        let byte0 = spans.fin_rsv_opcode.clone();
        let byte1 = spans.mask_len7.clone();
        let len_span = match h.len_encoding {
            LenEncoding::Seven => byte1.clone(),
            _ => spans.ext_len.clone().unwrap_or(byte1.clone()),
        };
        let mut rows = vec![
            FieldRow {
                kind: FieldKind::Fin,
                name: "FIN",
                bits: Some(FIN),
                span: byte0.clone(),
                value: bit(h.fin).into(),
                meaning: if h.fin { t.fin_final } else { t.fin_more }.into(),
            },
            FieldRow {
                kind: FieldKind::Rsv,
                name: "RSV1-3",
                bits: Some(RSV),
                span: byte0.clone(),
                value: format!("{} {} {}", bit(h.rsv[0]), bit(h.rsv[1]), bit(h.rsv[2])),
                meaning: t.rsv_rule.into(),
            },
            FieldRow {
                kind: FieldKind::Opcode,
                name: t.col_opcode,
                bits: Some(OPCODE),
                span: byte0,
                value: format!("0x{:X}", u8::from(h.opcode)),
                meaning: format!(
                    "{}{}",
                    i18n::opcode_name(lang, h.opcode),
                    if h.opcode.is_control() { t.control } else { "" }
                ),
            },
            FieldRow {
                kind: FieldKind::Mask,
                name: "MASK",
                bits: Some(MASK),
                span: byte1,
                value: bit(h.masked).into(),
                meaning: if h.masked { t.masked } else { t.unmasked }.into(),
            },
            FieldRow {
                kind: FieldKind::Length,
                name: t.len_field,
                bits: Some(LEN7),
                span: len_span,
                value: h.payload_len.to_string(),
                meaning: fill(
                    match h.len_encoding {
                        LenEncoding::Seven => t.len7,
                        LenEncoding::Sixteen => t.len16,
                        LenEncoding::SixtyFour => t.len64,
                    },
                    &[&h.payload_len],
                ),
            },
        ];
        if let (Some(key), Some(span)) = (h.mask_key, &spans.mask_key) {
            rows.push(FieldRow {
                kind: FieldKind::Key,
                name: t.masking_key,
                bits: None,
                span: span.clone(),
                value: format!("{} ({})", hex_spaced(&key), hex_lower(&key)),
                meaning: String::new(),
            });
        }

        let length_note = match (h.len_encoding, &spans.ext_len) {
            (LenEncoding::Seven, _) | (_, None) => fill(t.len_note7, &[&h.payload_len]),
            (encoding, Some(ext)) => {
                let r = at(ext);
                let template = if encoding == LenEncoding::Sixteen {
                    t.len_note16
                } else {
                    t.len_note64
                };
                fill(
                    template,
                    &[
                        &h.payload_len,
                        &r.start,
                        &r.end,
                        &hex_spaced(hb.get(ext.clone()).unwrap_or_default()),
                    ],
                )
            }
        };

        let mut segments = vec![
            Segment {
                kind: FieldKind::Opcode,
                span: spans.fin_rsv_opcode.clone(),
            },
            Segment {
                kind: FieldKind::Length,
                span: spans.mask_len7.clone(),
            },
        ];
        if let Some(span) = spans.ext_len.clone() {
            segments.push(Segment {
                kind: FieldKind::Length,
                span,
            });
        }
        if let Some(span) = spans.mask_key.clone() {
            segments.push(Segment {
                kind: FieldKind::Key,
                span,
            });
        }
        // The payload's bytes as far as they are here: a header can announce more than any
        // stream holds (the announced end is `end`).
        let payload_start = spans.payload.start;
        segments.push(Segment {
            kind: FieldKind::Payload,
            span: payload_start..payload_start.saturating_add(f.payload.len()),
        });

        // A header is at most 14 bytes, so this covers the unmask table's rows too.
        let wire = f.wire_prefix(WIRE_SHOWN);
        let unmask = match h.mask_key {
            Some(key) if f.payload_captured => {
                let masked = wire.get(hb.len()..).unwrap_or_default();
                let rows = masked
                    .iter()
                    .zip(f.payload.iter())
                    .take(UNMASK_ROWS)
                    .enumerate()
                    .map(|(index, (&w, &byte))| UnmaskRow {
                        index,
                        wire: w,
                        key: key[index % 4],
                        byte,
                    })
                    .collect();
                Some(Unmask {
                    key,
                    rows,
                    more: f.payload.len().saturating_sub(UNMASK_ROWS),
                })
            }
            _ => None,
        };
        let close =
            (h.opcode == OpCode::Close && f.payload_captured).then(|| close_body(lang, &f.payload));
        let violations = f
            .violations
            .iter()
            .map(|v| {
                let mut text = fill(
                    t.violation,
                    &[
                        &i18n::rule(lang, v.rule),
                        &v.byte_range.start,
                        &v.byte_range.end,
                        &v.close_code().code(),
                    ],
                );
                if let Some(detail) = i18n::violation_detail(lang, &v.detail) {
                    text.push_str(&fill(t.paren, &[&detail]));
                }
                ViolationRow {
                    rule: v.rule,
                    section: v.section(),
                    byte_range: v.byte_range.clone(),
                    close_code: v.close_code().code(),
                    text,
                }
            })
            .collect();
        let payload_start = f.offset.saturating_add(hb.len() as u64);
        Self {
            offset: f.offset,
            header_len: hb.len(),
            payload_len: h.payload_len,
            end: payload_start.saturating_add(h.payload_len),
            opcode: h.opcode,
            bytes01: [b0, b1],
            bits,
            rows,
            len7: LEN7.value(b1),
            length_note,
            segments,
            wire,
            wire_total: (hb.len() + f.payload.len()) as u64,
            payload_bytes: payload_start..payload_start.saturating_add(f.payload.len() as u64),
            payload_captured: f.payload_captured,
            fragment: f.fragment,
            fragment_text: i18n::fragment(lang, f.fragment),
            unmask,
            close,
            violations,
        }
    }

    /// Whether the header announces more bytes than are here (decoding stopped at it, or the
    /// payload was not kept).
    pub fn truncated(&self) -> bool {
        self.end > self.payload_bytes.end
    }

    /// Stream offsets of `span`, a range relative to the frame (saturating, never reversed).
    pub fn at(&self, span: &Range<usize>) -> Range<u64> {
        stream_range(self.offset, span)
    }

    /// The field byte `i` of the frame belongs to (past the header: the payload).
    pub fn segment_of(&self, i: usize) -> &Segment {
        self.segments
            .iter()
            .find(|s| s.span.contains(&i))
            .or(self.segments.last())
            .unwrap_or(&PAYLOAD)
    }

    /// The segment of field `kind` (the first one: byte 1 for the length).
    pub fn segment(&self, kind: FieldKind) -> Option<&Segment> {
        self.segments.iter().find(|s| s.kind == kind)
    }
}

static PAYLOAD: Segment = Segment {
    kind: FieldKind::Payload,
    span: 0..0,
};

/// `offset + span`, saturating, with the end never before the start.
fn stream_range(offset: u64, span: &Range<usize>) -> Range<u64> {
    let start = offset.saturating_add(span.start as u64);
    start..offset.saturating_add(span.end as u64).max(start)
}

/// What a close body says (§5.5.1): nothing, a code and a reason, or one byte too few.
fn close_body(lang: Lang, payload: &[u8]) -> Vec<Note> {
    let t = lang.t();
    match parse_close_payload(payload) {
        Ok(None) => vec![Note::ok(t.close_no_code)],
        Ok(Some(c)) => {
            let code = Note::ok(fill(
                t.close_code,
                &[&c.code.code(), &i18n::close_meaning(lang, c.code)],
            ));
            let reason = match c.reason {
                Ok(r) => Note::ok(fill(t.close_reason, &[&format!("{r:?}")])),
                Err(i) => Note::bad(fill(t.reason_not_utf8, &[&i])),
            };
            vec![code, reason]
        }
        Err(_) => vec![Note::bad(t.close_one_byte)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ranges_saturate_and_never_reverse() {
        assert_eq!(stream_range(u64::MAX - 1, &(0..10)), u64::MAX - 1..u64::MAX);
        let huge = stream_range(2, &(10..usize::MAX));
        assert_eq!(huge.start, 12);
        assert!(huge.end >= huge.start);
        let reversed = Range { start: 5, end: 2 };
        assert_eq!(stream_range(3, &reversed), 8..8);
    }
}
