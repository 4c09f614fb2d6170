//! The anatomy of one frame: the §5.2 bit diagram with this frame's bits, a hex dump coloured by
//! field (hovering a field lights up its bytes and the other way round), the length encoding,
//! the unmask table, the payload and the rules it broke.

use std::ops::Range;

use eframe::egui::{self, Color32, RichText};
use egui::text::{LayoutJob, TextFormat};

use super::i18n::{self, fill, Lang};
use super::style;
use crate::cli::hex_spaced;
use crate::protocol::accept::hex_lower;
use crate::protocol::{parse_close_payload, FieldSpans, Frame, LenEncoding, OpCode};

const RFC_5_2: &str = "https://www.rfc-editor.org/rfc/rfc6455#section-5.2";
/// Bytes shown in the hex dump before "... N more bytes".
const DUMP_MAX: usize = 512;

/// The parts of a frame a learner hovers: each is a byte range of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// Byte 0: FIN, RSV1-3, opcode.
    Byte0,
    /// Byte 1: MASK and the 7-bit length.
    Byte1,
    /// The 16- or 64-bit extended length.
    ExtLen,
    /// The masking key.
    Key,
    /// The payload.
    Payload,
}

impl Field {
    fn of_byte(spans: &FieldSpans, i: usize) -> Field {
        if spans.fin_rsv_opcode.contains(&i) {
            Field::Byte0
        } else if spans.mask_len7.contains(&i) {
            Field::Byte1
        } else if spans.ext_len.as_ref().is_some_and(|r| r.contains(&i)) {
            Field::ExtLen
        } else if spans.mask_key.as_ref().is_some_and(|r| r.contains(&i)) {
            Field::Key
        } else {
            Field::Payload
        }
    }

    fn bytes(self, spans: &FieldSpans) -> Range<usize> {
        match self {
            Field::Byte0 => spans.fin_rsv_opcode.clone(),
            Field::Byte1 => spans.mask_len7.clone(),
            Field::ExtLen => spans.ext_len.clone().unwrap_or(0..0),
            Field::Key => spans.mask_key.clone().unwrap_or(0..0),
            Field::Payload => spans.payload.clone(),
        }
    }

    fn color(self) -> Color32 {
        match self {
            Field::Byte0 => style::OPCODE,
            Field::Byte1 | Field::ExtLen => style::LENGTH,
            Field::Key => style::KEY,
            Field::Payload => style::PAYLOAD,
        }
    }
}

/// The hovered field of the anatomy with id `id`, as of the previous pass (hover is only known
/// after a widget is laid out, so the highlight lags one pass; a repaint is requested).
fn hovered(ui: &egui::Ui, id: egui::Id) -> Option<Field> {
    ui.ctx().data(|d| d.get_temp::<Option<Field>>(id)).flatten()
}

fn bit(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

/// The 16 bits of bytes 0 and 1, each under its field name, in the field's colour.
fn bit_diagram(ui: &mut egui::Ui, lang: Lang, f: &Frame) {
    let b0 = f.header_bytes.first().copied().unwrap_or(0);
    let b1 = f.header_bytes.get(1).copied().unwrap_or(0);
    let fields: [(&str, u32, u32, Color32); 7] = [
        ("FIN", 7, 1, style::FIN),
        ("RSV1", 6, 1, style::RSV),
        ("RSV2", 5, 1, style::RSV),
        ("RSV3", 4, 1, style::RSV),
        ("opcode", 0, 4, style::OPCODE),
        ("MASK", 7, 1, style::MASK),
        (lang.t().bits_len7, 0, 7, style::LENGTH),
    ];
    egui::Grid::new("bits").spacing([6.0, 2.0]).show(ui, |ui| {
        for (name, .., c) in &fields {
            ui.label(RichText::new(*name).color(*c).small());
        }
        ui.end_row();
        for (i, (_, shift, width, color)) in fields.iter().enumerate() {
            let byte = if i < 5 { b0 } else { b1 };
            let value = (u32::from(byte) >> shift) & ((1 << width) - 1);
            let bits = format!("{value:0w$b}", w = *width as usize);
            ui.label(RichText::new(bits).monospace().strong().color(*color));
        }
        ui.end_row();
    });
}

/// The frame's wire bytes, 16 per line, each field in its colour; the hovered field's bytes get
/// a background. Returns the field under the pointer, if any.
fn hex_dump(ui: &mut egui::Ui, lang: Lang, f: &Frame, lit: Option<Field>) -> Option<Field> {
    let t = lang.t();
    let wire = f.wire_prefix(DUMP_MAX);
    let total = f.header_bytes.len() + f.payload.len();
    let spans = f.spans();
    // The offset column is at least 6 hex digits, more past 16 MiB; every line has the same
    // width, which is what maps a hovered character back to its byte.
    let last = f.offset + wire.len() as u64;
    let digits = (64 - last.leading_zeros() as usize).div_ceil(4).max(6);
    let prefix = digits + 2;
    let line_len = prefix + 16 * 3 + 1;
    let lit_range = lit.map(|l| l.bytes(&spans));
    let font = egui::FontId::monospace(13.0);
    let mut job = LayoutJob::default();
    let dim = ui.visuals().weak_text_color();
    let highlight = ui.visuals().selection.bg_fill;
    for (i, b) in wire.iter().enumerate() {
        if i % 16 == 0 {
            if i > 0 {
                job.append("\n", 0.0, TextFormat::simple(font.clone(), dim));
            }
            job.append(
                &format!("{:0digits$x}  ", f.offset + i as u64),
                0.0,
                TextFormat::simple(font.clone(), dim),
            );
        }
        let mut fmt = TextFormat::simple(font.clone(), Field::of_byte(&spans, i).color());
        if lit_range.as_ref().is_some_and(|r| r.contains(&i)) {
            fmt.background = highlight;
        }
        job.append(&format!("{b:02x} "), 0.0, fmt);
    }
    let galley = ui.painter().layout_job(job);
    let r = ui.add(egui::Label::new(galley.clone()).sense(egui::Sense::hover()));
    let mut over = None;
    if let Some(pos) = r.hover_pos() {
        let c = galley.cursor_from_pos(pos - r.rect.min).index.0;
        let (line, col) = (c / line_len, c % line_len);
        if (prefix..line_len - 1).contains(&col) {
            let i = line * 16 + (col - prefix) / 3;
            if i < wire.len() {
                over = Some(Field::of_byte(&spans, i));
            }
        }
    }
    if total > wire.len() {
        ui.label(fill(t.more_bytes, &[&(total - wire.len())]));
    }
    ui.horizontal_wrapped(|ui| {
        for (name, field) in [
            (t.legend_head, Field::Byte0),
            (t.legend_len, Field::Byte1),
            (t.masking_key, Field::Key),
            (t.legend_payload, Field::Payload),
        ] {
            let r = ui.label(RichText::new(name).color(field.color()).small());
            if r.hovered() {
                over = Some(field);
            }
        }
        ui.label(RichText::new(t.hover_bytes).small().weak());
    });
    over
}

/// A field name in the grid: lit when its bytes are hovered; reports its own hover.
fn field_label(
    ui: &mut egui::Ui,
    text: &str,
    color: Color32,
    field: Field,
    lit: Option<Field>,
    over: &mut Option<Field>,
) {
    let mut rt = RichText::new(text).color(color);
    if lit == Some(field) {
        rt = rt.background_color(ui.visuals().selection.bg_fill).strong();
    }
    if ui.label(rt).hovered() {
        *over = Some(field);
    }
}

/// Everything about `f`. `title` names it (number, direction); `id` keeps several anatomies on
/// one screen apart.
pub fn show(
    ui: &mut egui::Ui,
    lang: Lang,
    id: impl std::hash::Hash + std::fmt::Debug,
    title: &str,
    f: &Frame,
) {
    let t = lang.t();
    let id = ui.make_persistent_id(("anatomy", id));
    let lit = hovered(ui, id);
    let mut over = None;
    let h = &f.header;
    ui.push_id(id, |ui| {
        ui.heading(title);
        ui.horizontal_wrapped(|ui| {
            ui.label(t.anatomy_intro1);
            ui.hyperlink_to("§5.2", RFC_5_2);
            ui.label(t.anatomy_intro2);
        });
        ui.add_space(4.0);
        bit_diagram(ui, lang, f);
        ui.add_space(4.0);
        egui::Grid::new("fields")
            .num_columns(2)
            .striped(true)
            .show(ui, |ui| {
                field_label(ui, "FIN", style::FIN, Field::Byte0, lit, &mut over);
                ui.label(format!(
                    "{} — {}",
                    bit(h.fin),
                    if h.fin { t.fin_final } else { t.fin_more }
                ));
                ui.end_row();
                field_label(ui, "RSV1-3", style::RSV, Field::Byte0, lit, &mut over);
                ui.label(format!(
                    "{} {} {} — {}",
                    bit(h.rsv[0]),
                    bit(h.rsv[1]),
                    bit(h.rsv[2]),
                    t.rsv_rule
                ));
                ui.end_row();
                field_label(
                    ui,
                    t.col_opcode,
                    style::OPCODE,
                    Field::Byte0,
                    lit,
                    &mut over,
                );
                ui.label(
                    RichText::new(format!(
                        "0x{:X} {}{}",
                        u8::from(h.opcode),
                        h.opcode.name(),
                        if h.opcode.is_control() { t.control } else { "" }
                    ))
                    .color(style::opcode(h.opcode)),
                );
                ui.end_row();
                field_label(ui, "MASK", style::MASK, Field::Byte1, lit, &mut over);
                ui.label(format!(
                    "{} — {}",
                    bit(h.masked),
                    if h.masked { t.masked } else { t.unmasked }
                ));
                ui.end_row();
                let len_field = if h.len_encoding == LenEncoding::Seven {
                    Field::Byte1
                } else {
                    Field::ExtLen
                };
                field_label(ui, t.len_field, style::LENGTH, len_field, lit, &mut over);
                let how = match h.len_encoding {
                    LenEncoding::Seven => t.len7,
                    LenEncoding::Sixteen => t.len16,
                    LenEncoding::SixtyFour => t.len64,
                };
                ui.label(fill(how, &[&h.payload_len]));
                ui.end_row();
                if let Some(key) = h.mask_key {
                    field_label(ui, t.masking_key, style::KEY, Field::Key, lit, &mut over);
                    ui.monospace(format!("{} ({})", hex_spaced(&key), hex_lower(&key)));
                    ui.end_row();
                }
                ui.label(t.fragment);
                ui.label(i18n::fragment(lang, f.fragment));
                ui.end_row();
            });
        ui.add_space(4.0);
        ui.strong(t.on_wire);
        if let Some(o) = hex_dump(ui, lang, f, lit) {
            over = Some(o);
        }
        if let Some(key) = h.mask_key {
            if f.payload_captured {
                ui.add_space(4.0);
                ui.strong(t.unmask_title);
                unmask_table(ui, lang, f, key);
            }
        }
        ui.add_space(4.0);
        field_label(
            ui,
            t.payload,
            ui.visuals().strong_text_color(),
            Field::Payload,
            lit,
            &mut over,
        );
        payload_section(ui, lang, f);
        violations(ui, lang, f);
    });
    if over != lit {
        ui.ctx().data_mut(|d| d.insert_temp(id, over));
        ui.ctx().request_repaint();
    }
}

fn unmask_table(ui: &mut egui::Ui, lang: Lang, f: &Frame, key: [u8; 4]) {
    const ROWS: usize = 32;
    let t = lang.t();
    // Only the rows shown are masked again, not a whole large payload per repaint.
    let head = f.header_bytes.len();
    let prefix = f.wire_prefix(head + ROWS);
    let wire = prefix.get(head..).unwrap_or_default();
    egui::Grid::new("unmask").striped(true).show(ui, |ui| {
        for h in ["i", t.col_wire, t.col_key, t.col_byte, t.col_char] {
            ui.label(RichText::new(h).small());
        }
        ui.end_row();
        for (i, (&w, &b)) in wire.iter().zip(f.payload.iter()).take(ROWS).enumerate() {
            ui.monospace(i.to_string());
            ui.label(
                RichText::new(format!("{w:02x}"))
                    .monospace()
                    .color(style::PAYLOAD),
            );
            ui.label(
                RichText::new(format!("^ {:02x}", key[i % 4]))
                    .monospace()
                    .color(style::KEY),
            );
            ui.monospace(format!("= {b:02x}"));
            let ch = if b.is_ascii_graphic() || b == b' ' {
                char::from(b).to_string()
            } else {
                "·".into()
            };
            ui.monospace(ch);
            ui.end_row();
        }
    });
    if f.payload.len() > ROWS {
        ui.label(fill(t.more_unmasked, &[&(f.payload.len() - ROWS)]));
    }
}

fn payload_section(ui: &mut egui::Ui, lang: Lang, f: &Frame) {
    let t = lang.t();
    if !f.payload_captured {
        ui.label(t.not_kept);
    } else if f.header.opcode == OpCode::Close {
        match parse_close_payload(&f.payload) {
            Ok(None) => {
                ui.label(t.close_no_code);
            }
            Ok(Some(c)) => {
                ui.label(fill(
                    t.close_code,
                    &[&c.code.code(), &i18n::close_meaning(lang, c.code)],
                ));
                match c.reason {
                    Ok(r) => ui.label(fill(t.close_reason, &[&format!("{r:?}")])),
                    Err(i) => ui.colored_label(style::BAD, fill(t.reason_not_utf8, &[&i])),
                };
            }
            Err(_) => {
                ui.colored_label(style::BAD, t.close_one_byte);
            }
        }
    } else {
        payload_view(ui, lang, &f.payload);
    }
}

fn violations(ui: &mut egui::Ui, lang: Lang, f: &Frame) {
    if f.violations.is_empty() {
        return;
    }
    let t = lang.t();
    ui.add_space(4.0);
    ui.strong(RichText::new(t.rules_broken).color(style::BAD));
    for v in &f.violations {
        ui.horizontal_wrapped(|ui| {
            ui.hyperlink_to(
                format!("§{}", v.section()),
                format!(
                    "https://www.rfc-editor.org/rfc/rfc6455#section-{}",
                    v.section()
                ),
            );
            let mut text = fill(
                t.violation,
                &[
                    &i18n::rule(lang, v.rule),
                    &v.byte_range.start,
                    &v.byte_range.end,
                    &v.close_code().code(),
                ],
            );
            if !v.detail.is_empty() {
                text.push_str(&format!(" ({})", v.detail));
            }
            ui.colored_label(style::BAD, text);
        });
    }
}

/// `text` re-indented when it is a JSON object or array, or `None`. Only whitespace outside
/// strings changes: numbers, escapes, key order and duplicate keys stay exactly as sent (a
/// parse-and-print round trip would show 1.10 as 1.1 and drop a repeated key).
pub fn pretty_json(text: &str) -> Option<String> {
    // Re-laying-out a large document on every repaint is not worth it.
    if text.len() > 64 << 10 || !text.trim_start().starts_with(['{', '[']) {
        return None;
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', depth * 2));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
                // An empty object or array stays on one line.
                if let Some(close) = chars.next_if(|&n| n == '}' || n == ']') {
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// A payload as text when it is UTF-8 (re-indented JSON when it is JSON), else as hex.
pub fn payload_view(ui: &mut egui::Ui, lang: Lang, payload: &[u8]) {
    const MAX: usize = 4096;
    let t = lang.t();
    if payload.is_empty() {
        ui.label(t.empty);
        return;
    }
    match std::str::from_utf8(payload) {
        Ok(text) => {
            if let Some(pretty) = pretty_json(text) {
                ui.label(RichText::new(fill(t.json_n, &[&payload.len()])).small());
                let cut = pretty
                    .char_indices()
                    .nth(MAX * 2)
                    .map_or(pretty.len(), |(i, _)| i);
                ui.monospace(&pretty[..cut]);
                if cut < pretty.len() {
                    ui.label(fill(t.more_chars, &[&pretty[cut..].chars().count()]));
                }
            } else {
                ui.label(RichText::new(fill(t.text_n, &[&payload.len()])).small());
                let cut = text.char_indices().nth(MAX).map_or(text.len(), |(i, _)| i);
                ui.monospace(&text[..cut]);
                if cut < text.len() {
                    ui.label(fill(t.more_bytes, &[&(text.len() - cut)]));
                }
            }
        }
        Err(_) => {
            ui.label(RichText::new(fill(t.binary_n, &[&payload.len()])).small());
            ui.monospace(hex_spaced(&payload[..payload.len().min(MAX)]));
            if payload.len() > MAX {
                ui.label(fill(t.more_bytes, &[&(payload.len() - MAX)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pretty_json;

    #[test]
    fn json_objects_and_arrays_are_pretty_printed_other_text_is_not() {
        assert_eq!(
            pretty_json(r#"{"a":1,"b":[true,null],"c":{}}"#).as_deref(),
            Some("{\n  \"a\": 1,\n  \"b\": [\n    true,\n    null\n  ],\n  \"c\": {}\n}")
        );
        assert_eq!(pretty_json("[1,2]").as_deref(), Some("[\n  1,\n  2\n]"));
        assert_eq!(pretty_json("hello"), None);
        assert_eq!(pretty_json("42"), None);
        assert_eq!(pretty_json("{not json"), None);
    }

    #[test]
    fn re_indenting_changes_only_whitespace_outside_strings() {
        let src = r#"{"price":1.10,"big":123456789012345678901234567890,"e":1e2,"a":1,"a":2,"z":-0,"s":"x, {y}: \"q\" ","t":[0.1000000000000000055511151231257827]}"#;
        let pretty = pretty_json(src).unwrap_or_default();
        for kept in [
            "1.10",
            "123456789012345678901234567890",
            "1e2",
            "-0",
            "\"a\": 1",
            "\"a\": 2",
            r#""x, {y}: \"q\" ""#,
            "0.1000000000000000055511151231257827",
        ] {
            assert!(pretty.contains(kept), "{kept} not kept in {pretty}");
        }
        let squeeze = |s: &str| {
            let (mut out, mut in_s, mut esc) = (String::new(), false, false);
            for c in s.chars() {
                if in_s {
                    out.push(c);
                    match (esc, c) {
                        (true, _) => esc = false,
                        (false, '\\') => esc = true,
                        (false, '"') => in_s = false,
                        _ => {}
                    }
                } else if !c.is_ascii_whitespace() {
                    in_s = c == '"';
                    out.push(c);
                }
            }
            out
        };
        assert_eq!(squeeze(&pretty), squeeze(src));
    }
}
