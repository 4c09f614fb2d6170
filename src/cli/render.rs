//! The CLI's text for [`crate::explain`]: the accept derivation and a decoded frame stream, in
//! the chosen language, with optional ANSI colours (one per field kind, as in the window).

use std::fmt::Write as _;

use crate::explain::{
    hex_spaced, role_name, AcceptExplanation, FieldKind, FrameExplanation, StreamDecode,
};
use crate::i18n::{fill, Lang};
use crate::protocol::{AcceptDerivation, Decoded, Frame, OpCode, Role};

pub use crate::explain::preview;

/// What a piece of text is, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ink {
    /// A field of the frame.
    Field(FieldKind),
    /// The GUID in the accept derivation.
    Guid,
    /// A broken rule or a failed check.
    Bad,
    /// Something that passed.
    Good,
}

/// ANSI colouring, on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paint {
    /// Whether to emit escape codes.
    pub color: bool,
}

impl Paint {
    /// Colours `text` as `ink` when colour is on.
    pub fn paint(&self, ink: Ink, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match ink {
            Ink::Field(FieldKind::Fin) => "38;5;33",
            Ink::Field(FieldKind::Rsv) => "38;5;244",
            Ink::Field(FieldKind::Opcode) | Ink::Guid => "38;5;208",
            Ink::Field(FieldKind::Mask) => "38;5;135",
            Ink::Field(FieldKind::Length) => "38;5;40",
            Ink::Field(FieldKind::Key) => "38;5;214",
            Ink::Field(FieldKind::Payload) => "38;5;45",
            Ink::Bad => "1;31",
            Ink::Good => "32",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// Columns `c` takes in a terminal: CJK characters and full-width punctuation take two.
fn columns(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '\u{1100}'..='\u{115F}'
            | '\u{2E80}'..='\u{A4CF}'
            | '\u{AC00}'..='\u{D7A3}'
            | '\u{F900}'..='\u{FAFF}'
            | '\u{FE30}'..='\u{FE4F}'
            | '\u{FF00}'..='\u{FF60}'
            | '\u{FFE0}'..='\u{FFE6}' => 2,
            _ => 1,
        })
        .sum()
}

/// `s` followed by spaces up to `width` terminal columns (at least one space).
fn pad(s: &str, width: usize) -> String {
    let n = width.saturating_sub(columns(s)).max(1);
    format!("{s}{}", " ".repeat(n))
}

/// Every step from key to accept value, ending with the `Sec-WebSocket-Accept:` line.
pub fn render_accept(d: &AcceptDerivation, lang: Lang, p: Paint) -> String {
    let t = lang.t();
    let e = AcceptExplanation::new(d, lang);
    const COL: usize = 22;
    let mut s = String::new();
    let _ = writeln!(s, "{}{}", pad("Sec-WebSocket-Key", COL), e.key);
    let verdict = p.paint(if e.key_valid { Ink::Good } else { Ink::Bad }, &e.key_check);
    let _ = writeln!(s, "  {}{verdict}", pad(t.key_check, COL - 2));
    let _ = writeln!(s);
    for step in &e.steps {
        let head = format!("{}  {}", fill(t.step_n, &[&step.number]), step.label);
        let value = match step.guid_at.and_then(|i| step.value.split_at_checked(i)) {
            Some((key, guid)) => format!("{key}{}", p.paint(Ink::Guid, guid)),
            None => step.value.clone(),
        };
        let _ = writeln!(s, "{}{value}", pad(&head, COL));
        let _ = writeln!(s, "{}{}", " ".repeat(COL), step.note);
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "{}", t.mistakes);
    for m in &e.mistakes {
        let line = match m.strip_prefix("x ") {
            Some(rest) => format!("{} {rest}", p.paint(Ink::Bad, "x")),
            None => m.clone(),
        };
        let _ = writeln!(s, "  {line}");
    }
    let _ = writeln!(s);
    let _ = write!(s, "Sec-WebSocket-Accept: {}", e.accept);
    s
}

/// The result of decoding a byte string for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeReport {
    /// Everything decoded, as text.
    pub text: String,
    /// Set when the input ends inside a frame (the decoded frames are still in `text`).
    pub error: Option<String>,
}

/// Decodes `bytes` as a stream of frames and describes every field in `lang`. `sender` decides
/// the masking rule; `None` takes it from the first frame's MASK bit and says so.
pub fn render_decode(bytes: &[u8], sender: Option<Role>, lang: Lang, p: Paint) -> DecodeReport {
    let t = lang.t();
    let d = StreamDecode::new(bytes, sender);
    let mut s = String::new();
    if let Some(note) = d.sender_note(lang) {
        let _ = writeln!(s, "{}", fill(t.cli_sender_guess, &[&note]));
    }
    let _ = writeln!(
        s,
        "{}",
        fill(t.cli_stream, &[&d.len, &role_name(lang, d.sender)])
    );
    let (mut frames, mut messages) = (0usize, 0usize);
    for item in &d.items {
        let _ = writeln!(s);
        match item {
            Decoded::Frame(f) => {
                frames += 1;
                render_frame(&mut s, frames, f, lang, p);
            }
            Decoded::Message(m) => {
                messages += 1;
                let _ = writeln!(
                    s,
                    "{}",
                    fill(
                        t.cli_message,
                        &[
                            &messages,
                            &m.opcode.name(),
                            &m.frame_count,
                            &m.payload.len(),
                            &m.byte_range.start,
                            &m.byte_range.end,
                        ],
                    )
                );
                let text_like = m.opcode == OpCode::Text;
                let _ = writeln!(s, "  {}", payload_line(lang, text_like, &m.payload));
            }
        }
    }
    if let Some(stopped) = d.stopped(lang) {
        let _ = writeln!(s, "\n{}", p.paint(Ink::Bad, &stopped));
    }
    let _ = writeln!(s);
    let _ = write!(s, "{}", fill(t.cli_totals, &[&frames, &messages]));
    DecodeReport {
        text: s,
        error: d.leftover(lang),
    }
}

fn render_frame(s: &mut String, n: usize, f: &Frame, lang: Lang, p: Paint) {
    let t = lang.t();
    let e = FrameExplanation::new(f, lang);
    // The range is the bytes that are here; an announced end past them is said as such.
    let mut head = fill(
        t.cli_frame,
        &[
            &n,
            &e.offset,
            &e.payload_bytes.end,
            &e.header_len,
            &e.payload_len,
            &e.fragment_text,
        ],
    );
    if e.truncated() {
        head.push_str(&fill(t.cli_frame_truncated, &[&e.payload_len, &e.end]));
    }
    let _ = writeln!(s, "{head}");
    for (byte, value) in e.bytes01.iter().enumerate() {
        let bits = format!("{:04b} {:04b}", value >> 4, value & 0xF);
        let _ = writeln!(
            s,
            "  {}",
            fill(t.cli_byte, &[&byte, &format!("{value:02x}"), &bits])
        );
        for row in e
            .rows
            .iter()
            .filter(|r| r.bits.is_some_and(|b| b.byte == byte))
        {
            // The 7-bit field is shown as sent; the length it gives is the note below.
            let (name, value, meaning) = if row.kind == FieldKind::Length {
                ("len7", e.len7.to_string(), "")
            } else {
                (row.name, row.value.clone(), row.meaning.as_str())
            };
            let line = format!(
                "{}{}{meaning}",
                p.paint(Ink::Field(row.kind), &pad(name, 7)),
                pad(&value, 7)
            );
            let _ = writeln!(s, "    {}", line.trim_end());
        }
    }
    let _ = writeln!(
        s,
        "  {}",
        p.paint(Ink::Field(FieldKind::Length), &e.length_note)
    );
    for row in e.rows.iter().filter(|r| r.bits.is_none()) {
        let r = e.at(&row.span);
        let _ = writeln!(
            s,
            "  {} {} = {}",
            p.paint(Ink::Field(row.kind), row.name),
            fill(t.cli_bytes_at, &[&r.start, &r.end]),
            row.value
        );
    }
    let _ = writeln!(
        s,
        "  {} {}{}",
        p.paint(Ink::Field(FieldKind::Payload), t.col_payload),
        fill(
            t.cli_bytes_at,
            &[&e.payload_bytes.start, &e.payload_bytes.end]
        ),
        if e.payload_captured {
            String::new()
        } else {
            format!(" {}", t.not_kept)
        }
    );
    let _ = writeln!(s, "  {}  {}", t.cli_hex, hex_line(&e, lang, p));
    if let Some(u) = &e.unmask {
        let _ = writeln!(s, "  {}", t.unmask_title);
        let _ = writeln!(
            s,
            "    {:>4}  {}  {}  {}  {}",
            "i", t.col_wire, t.col_key, t.col_byte, t.col_char
        );
        for r in &u.rows {
            let ch = r.printable().map_or("·".to_string(), |c| format!("'{c}'"));
            let _ = writeln!(
                s,
                "    {:4}  {:02x}  ^ {:02x}  = {:02x}  {ch}",
                r.index, r.wire, r.key, r.byte
            );
        }
        if u.more > 0 {
            let _ = writeln!(s, "    {}", fill(t.more_unmasked, &[&u.more]));
        }
    }
    if let Some(close) = &e.close {
        for note in close {
            let ink = if note.bad {
                Ink::Bad
            } else {
                Ink::Field(FieldKind::Payload)
            };
            let _ = writeln!(s, "  {}", p.paint(ink, &note.text));
        }
    } else if e.payload_captured {
        let text_like = matches!(
            e.opcode,
            OpCode::Text | OpCode::Continuation | OpCode::Ping | OpCode::Pong
        );
        let _ = writeln!(s, "  {}", payload_line(lang, text_like, &f.payload));
    }
    if e.violations.is_empty() {
        let _ = writeln!(s, "  {}", p.paint(Ink::Good, t.cli_no_violations));
    }
    for v in &e.violations {
        let _ = writeln!(
            s,
            "  {}",
            p.paint(Ink::Bad, &fill(t.cli_violation, &[&v.section, &v.text]))
        );
    }
}

/// The frame's bytes as hex, each field in its colour, fields separated by `|`; at most 64
/// payload bytes.
fn hex_line(e: &FrameExplanation, lang: Lang, p: Paint) -> String {
    const SHOW: usize = 64;
    let mut parts = Vec::new();
    for seg in &e.segments {
        let end = if seg.kind == FieldKind::Payload {
            seg.span.start.saturating_add(SHOW).min(seg.span.end)
        } else {
            seg.span.end
        };
        let bytes = e.wire.get(seg.span.start..end.min(e.wire.len()));
        let Some(bytes) = bytes.filter(|b| !b.is_empty()) else {
            continue;
        };
        let mut text = hex_spaced(bytes);
        if seg.kind == FieldKind::Payload {
            let shown = (bytes.len() + e.header_len) as u64;
            let more = e.wire_total.saturating_sub(shown);
            if more > 0 {
                let _ = write!(text, " {}", fill(lang.t().cli_hex_more, &[&more]));
            }
        }
        parts.push(p.paint(Ink::Field(seg.kind), &text));
    }
    parts.join(" | ")
}

/// `payload text "..."`, `payload hex ..` or `payload: (empty)`.
fn payload_line(lang: Lang, text_like: bool, payload: &[u8]) -> String {
    let t = lang.t();
    if payload.is_empty() {
        return t.cli_payload_empty.to_string();
    }
    let template = if text_like && std::str::from_utf8(payload).is_ok() {
        t.cli_payload_text
    } else {
        t.cli_payload_hex
    };
    fill(template, &[&preview(text_like, payload, 200)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_counts_wide_characters_twice() {
        assert_eq!(pad("FIN", 6), "FIN   ");
        assert_eq!(pad("操作码", 8), "操作码  ");
        assert_eq!(pad("too long", 3), "too long ");
        assert_eq!(columns("字节 0"), 6);
    }
}
