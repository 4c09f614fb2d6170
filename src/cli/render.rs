//! Text renderers shared by the CLI (and any text view): the accept derivation and a decoded
//! frame stream, with optional ANSI colours (one per field kind, as in the GUI).

use std::fmt::Write as _;

use crate::protocol::accept::hex_lower;
use crate::protocol::{
    parse_close_payload, AcceptDerivation, Decoded, Decoder, DecoderConfig, Fragment, Frame,
    KeyCheck, LenEncoding, OpCode, Pending, Role, GUID,
};

use super::hex::hex_spaced;

/// The kinds of thing that get their own colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// FIN bit.
    Fin,
    /// RSV1-3.
    Rsv,
    /// Opcode.
    Opcode,
    /// MASK bit.
    Mask,
    /// Payload length (7-bit field and extended length).
    Length,
    /// Masking key.
    Key,
    /// Payload.
    Payload,
    /// The GUID in the accept derivation.
    Guid,
    /// A rule violation.
    Violation,
    /// Something that passed.
    Ok,
}

/// ANSI colouring, on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paint {
    /// Whether to emit escape codes.
    pub color: bool,
}

impl Paint {
    /// Colours `text` as `field` when colour is on.
    pub fn paint(&self, field: Field, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match field {
            Field::Fin => "38;5;33",
            Field::Rsv => "38;5;244",
            Field::Opcode => "38;5;208",
            Field::Mask => "38;5;135",
            Field::Length => "38;5;40",
            Field::Key => "38;5;214",
            Field::Payload => "38;5;45",
            Field::Guid => "38;5;208",
            Field::Violation => "1;31",
            Field::Ok => "32",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// Every step from key to accept value, ending with the `Sec-WebSocket-Accept:` line.
pub fn render_accept(d: &AcceptDerivation, p: Paint) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Sec-WebSocket-Key     {}", d.key);
    let check = d.key_check();
    let check_line = match &check {
        KeyCheck::Valid => p.paint(Field::Ok, &check.describe()),
        _ => p.paint(
            Field::Violation,
            &format!("{} (RFC 6455 §4.1; a server answers 400)", check.describe()),
        ),
    };
    let _ = writeln!(s, "  key check           {check_line}");
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "step 1  key + GUID    {}{}",
        d.key,
        p.paint(Field::Guid, GUID)
    );
    let _ = writeln!(
        s,
        "                      ({} chars of key, then the fixed GUID of RFC 6455 §1.3: {} chars)",
        d.key.chars().count(),
        GUID.len()
    );
    let _ = writeln!(s, "step 2  SHA-1         {}", hex_spaced(&d.sha1));
    let _ = writeln!(
        s,
        "                      (20 raw bytes, shown here as hex; the bytes are what get encoded)"
    );
    let _ = writeln!(s, "step 3  base64        {}", d.accept);
    let _ = writeln!(
        s,
        "                      (base64 of the 20 bytes: always 28 characters)"
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Two classic mistakes (both give a value every client rejects):"
    );
    let _ = writeln!(
        s,
        "  {} base64 of the 40-character hex text {} = {} ({} chars)",
        p.paint(Field::Violation, "x"),
        d.sha1_hex(),
        d.mistake_base64_of_hex(),
        d.mistake_base64_of_hex().len()
    );
    let _ = writeln!(
        s,
        "  {} base64-decoding the accept value to read it as text: it is 20 binary bytes, {}",
        p.paint(Field::Violation, "x"),
        d.mistake_decode_as_text()
    );
    let _ = writeln!(s);
    let _ = write!(s, "Sec-WebSocket-Accept: {}", d.accept);
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

/// Decodes `bytes` as a stream of frames and describes every field. `sender` decides the
/// masking rule; `None` takes it from the first frame's MASK bit and says so.
pub fn render_decode(bytes: &[u8], sender: Option<Role>, p: Paint) -> DecodeReport {
    let mut s = String::new();
    let sender = sender.unwrap_or_else(|| {
        let guess = Role::guess_sender(bytes);
        let _ = writeln!(
            s,
            "(judging as sent by a {}: the first frame is {}masked; --role client|server to choose)",
            role_name(guess),
            if guess == Role::Client { "" } else { "not " }
        );
        guess
    });
    let _ = writeln!(
        s,
        "{} bytes, sent by the {}",
        bytes.len(),
        role_name(sender)
    );
    let mut decoder = Decoder::new(DecoderConfig {
        sender: Some(sender),
        ..DecoderConfig::default()
    });
    let mut out = Vec::new();
    decoder.feed(bytes, &mut out);
    let (mut frames, mut messages) = (0usize, 0usize);
    for d in &out {
        let _ = writeln!(s);
        match d {
            Decoded::Frame(f) => {
                frames += 1;
                render_frame(&mut s, frames, f, p);
            }
            Decoded::Message(m) => {
                messages += 1;
                let _ = writeln!(
                    s,
                    "message {messages}: {} in {} frame(s), {} bytes, bytes {}..{} of the stream",
                    m.opcode.name(),
                    m.frame_count,
                    m.payload.len(),
                    m.byte_range.start,
                    m.byte_range.end
                );
                let _ = writeln!(
                    s,
                    "  {}",
                    payload_preview(m.opcode == OpCode::Text, &m.payload)
                );
            }
        }
    }
    let error = match decoder.pending() {
        Pending::Nothing => None,
        Pending::PartialHeader { have } => Some(format!(
            "truncated frame at byte {}: only {have} byte(s) of a frame header (a header is 2 to 14 bytes)",
            decoder.stream_position() - have as u64
        )),
        Pending::PartialPayload { payload_len, have } => Some(format!(
            "truncated frame: the header announces a {payload_len}-byte payload but only {have} byte(s) follow"
        )),
    };
    if decoder.is_stopped() && decoder.ignored_bytes() > 0 {
        let _ = writeln!(
            s,
            "\ndecoding stopped: {} later byte(s) not decoded (a receiver would have failed the connection)",
            decoder.ignored_bytes()
        );
    }
    let _ = writeln!(s);
    let _ = write!(s, "{frames} frame(s), {messages} message(s)");
    DecodeReport { text: s, error }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Client => "client",
        Role::Server => "server",
    }
}

fn bit(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

fn render_frame(s: &mut String, n: usize, f: &Frame, p: Paint) {
    let h = &f.header;
    let spans = f.spans();
    let end = f.offset + spans.payload.end as u64;
    let _ = writeln!(
        s,
        "frame {n}: bytes {}..{} ({} header + {} payload): {}",
        f.offset,
        end,
        f.header_bytes.len(),
        h.payload_len,
        fragment_name(f.fragment)
    );
    let b0 = f.header_bytes.first().copied().unwrap_or(0);
    let b1 = f.header_bytes.get(1).copied().unwrap_or(0);
    let _ = writeln!(s, "  byte 0  {b0:02x} = {:04b} {:04b}", b0 >> 4, b0 & 0xF);
    let _ = writeln!(
        s,
        "    {} {}      {}",
        p.paint(Field::Fin, "FIN   "),
        bit(h.fin),
        if h.fin {
            "final fragment"
        } else {
            "more fragments follow"
        }
    );
    let _ = writeln!(
        s,
        "    {} {} {} {}  (must be 0 without an extension)",
        p.paint(Field::Rsv, "RSV1-3"),
        bit(h.rsv[0]),
        bit(h.rsv[1]),
        bit(h.rsv[2])
    );
    let _ = writeln!(
        s,
        "    {} 0x{:x}   {}{}",
        p.paint(Field::Opcode, "opcode"),
        u8::from(h.opcode),
        h.opcode.name(),
        if h.opcode.is_control() {
            " (control frame)"
        } else {
            ""
        }
    );
    let _ = writeln!(s, "  byte 1  {b1:02x} = {:04b} {:04b}", b1 >> 4, b1 & 0xF);
    let _ = writeln!(
        s,
        "    {} {}      {}",
        p.paint(Field::Mask, "MASK  "),
        bit(h.masked),
        if h.masked {
            "payload is masked"
        } else {
            "payload is not masked"
        }
    );
    let _ = writeln!(s, "    {} {}", p.paint(Field::Length, "len7  "), b1 & 0x7F);
    let len_line = match h.len_encoding {
        LenEncoding::Seven => format!(
            "length {} (7-bit form: the value is in len7)",
            h.payload_len
        ),
        LenEncoding::Sixteen => format!(
            "length {} (16-bit form: len7 = 126, then bytes {}..{} = {})",
            h.payload_len,
            f.offset + 2,
            f.offset + 4,
            hex_spaced(f.header_bytes.get(2..4).unwrap_or_default())
        ),
        LenEncoding::SixtyFour => format!(
            "length {} (64-bit form: len7 = 127, then bytes {}..{} = {})",
            h.payload_len,
            f.offset + 2,
            f.offset + 10,
            hex_spaced(f.header_bytes.get(2..10).unwrap_or_default())
        ),
    };
    let _ = writeln!(s, "  {}", p.paint(Field::Length, &len_line));
    if let (Some(key), Some(r)) = (h.mask_key, &spans.mask_key) {
        let _ = writeln!(
            s,
            "  {} bytes {}..{} = {} ({})",
            p.paint(Field::Key, "key"),
            f.offset + r.start as u64,
            f.offset + r.end as u64,
            hex_spaced(&key),
            hex_lower(&key)
        );
    }
    let wire = f.wire_payload();
    let _ = writeln!(
        s,
        "  {} bytes {}..{}{}",
        p.paint(Field::Payload, "payload"),
        f.payload_offset(),
        f.end_offset(),
        if f.payload_captured {
            ""
        } else {
            " (not captured: decoding stopped at this header)"
        }
    );
    let _ = writeln!(s, "  hex  {}", hex_line(f, &wire, p));
    if let Some(key) = h.mask_key {
        render_unmask_table(s, &wire, &f.payload, key);
    }
    let text_like = matches!(
        h.opcode,
        OpCode::Text | OpCode::Continuation | OpCode::Ping | OpCode::Pong
    );
    if h.opcode == OpCode::Close {
        match parse_close_payload(&f.payload) {
            Ok(None) => {
                let _ = writeln!(s, "  close: no status code (empty body)");
            }
            Ok(Some(c)) => {
                let reason = match &c.reason {
                    Ok(r) => format!("{r:?}"),
                    Err(i) => format!("invalid UTF-8 at reason byte {i}"),
                };
                let _ = writeln!(s, "  close code {}, reason {reason}", c.code);
            }
            Err(_) => {
                let _ = writeln!(s, "  close: 1-byte body (cannot hold a 2-byte code)");
            }
        }
    } else if f.payload_captured {
        let _ = writeln!(s, "  {}", payload_preview(text_like, &f.payload));
    }
    if f.violations.is_empty() {
        let _ = writeln!(s, "  {}", p.paint(Field::Ok, "violations: none"));
    } else {
        for v in &f.violations {
            let _ = writeln!(
                s,
                "  {}",
                p.paint(Field::Violation, &format!("VIOLATION {v}"))
            );
        }
    }
}

/// The frame's bytes as hex, each field in its colour, fields separated by `|`.
fn hex_line(f: &Frame, wire_payload: &[u8], p: Paint) -> String {
    let hb = &f.header_bytes;
    let spans = f.spans();
    let mut parts = vec![
        p.paint(Field::Opcode, &hex_spaced(hb.get(0..1).unwrap_or_default())),
        p.paint(Field::Length, &hex_spaced(hb.get(1..2).unwrap_or_default())),
    ];
    if let Some(r) = spans.ext_len {
        parts.push(p.paint(Field::Length, &hex_spaced(hb.get(r).unwrap_or_default())));
    }
    if let Some(r) = spans.mask_key {
        parts.push(p.paint(Field::Key, &hex_spaced(hb.get(r).unwrap_or_default())));
    }
    if !wire_payload.is_empty() {
        const SHOW: usize = 64;
        let shown = &wire_payload[..wire_payload.len().min(SHOW)];
        let mut t = hex_spaced(shown);
        if wire_payload.len() > SHOW {
            let _ = write!(t, " ... ({} more)", wire_payload.len() - SHOW);
        }
        parts.push(p.paint(Field::Payload, &t));
    }
    parts.join(" | ")
}

fn render_unmask_table(s: &mut String, wire: &[u8], plain: &[u8], key: [u8; 4]) {
    const ROWS: usize = 32;
    let _ = writeln!(s, "  unmask: payload[i] = wire[i] XOR key[i mod 4]");
    let _ = writeln!(s, "       i  wire  key  byte  char");
    for (i, (&w, &b)) in wire.iter().zip(plain.iter()).take(ROWS).enumerate() {
        let ch = if b.is_ascii_graphic() || b == b' ' {
            format!("'{}'", char::from(b))
        } else {
            String::from("·")
        };
        let _ = writeln!(
            s,
            "    {i:4}  {w:02x}  ^ {:02x}  = {b:02x}  {ch}",
            key[i % 4]
        );
    }
    if wire.len() > ROWS {
        let _ = writeln!(s, "    ... {} more byte(s)", wire.len() - ROWS);
    }
}

fn payload_preview(text_like: bool, payload: &[u8]) -> String {
    if payload.is_empty() {
        return "payload: (empty)".to_string();
    }
    let kind = if text_like && std::str::from_utf8(payload).is_ok() {
        "text"
    } else {
        "hex"
    };
    format!("payload {kind} {}", preview(text_like, payload, 200))
}

/// A short view of a payload: quoted text (at most `max` characters) when it is UTF-8 and
/// `text_like`, else hex of the first `max / 3` bytes; `...` marks a cut.
pub fn preview(text_like: bool, payload: &[u8], max: usize) -> String {
    if text_like {
        if let Ok(t) = std::str::from_utf8(payload) {
            let cut: String = t.chars().take(max).collect();
            let more = if cut.len() < t.len() { " ..." } else { "" };
            return format!("{cut:?}{more}");
        }
    }
    let shown = &payload[..payload.len().min(max / 3)];
    let more = if shown.len() < payload.len() {
        " ..."
    } else {
        ""
    };
    format!("{}{more}", hex_spaced(shown))
}

fn fragment_name(f: Fragment) -> &'static str {
    match f {
        Fragment::Whole => "a whole message",
        Fragment::First => "first fragment of a message",
        Fragment::Middle => "middle fragment",
        Fragment::Last => "last fragment",
        Fragment::Control => "control frame",
        Fragment::Stray => "belongs to no message",
    }
}
