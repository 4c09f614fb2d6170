//! The anatomy of one frame: the §5.2 bit diagram with this frame's bits, a hex dump coloured by
//! field (hovering a field lights up its bytes and the other way round), the length encoding,
//! the unmask table, the payload and the rules it broke. What it says comes from
//! [`crate::explain::FrameExplanation`], the same explanation the CLI prints.

use std::ops::Range;
use std::sync::Arc;

use eframe::egui::{self, Color32, RichText};
use egui::text::{LayoutJob, TextFormat};

use super::i18n::{fill, Lang};
use super::style;
use crate::explain::{hex_spaced, FieldKind, FrameExplanation};
use crate::protocol::Frame;

const RFC_5_2: &str = "https://www.rfc-editor.org/rfc/rfc6455#section-5.2";

/// The colour of a field, everywhere in the window.
pub fn color(kind: FieldKind) -> Color32 {
    match kind {
        FieldKind::Fin => style::FIN,
        FieldKind::Rsv => style::RSV,
        FieldKind::Opcode => style::OPCODE,
        FieldKind::Mask => style::MASK,
        FieldKind::Length => style::LENGTH,
        FieldKind::Key => style::KEY,
        FieldKind::Payload => style::PAYLOAD,
    }
}

/// What a learner hovers: the bytes of a field, relative to the frame's first byte. Fields that
/// share bytes (FIN, RSV and the opcode in byte 0) light up together.
type Lit = Option<Range<usize>>;

/// The hovered bytes of the anatomy with id `id`, as of the previous pass (hover is only known
/// after a widget is laid out, so the highlight lags one pass; a repaint is requested).
fn hovered(ui: &egui::Ui, id: egui::Id) -> Lit {
    ui.ctx().data(|d| d.get_temp::<Lit>(id)).flatten()
}

/// The 16 bits of bytes 0 and 1, each under its field name, in the field's colour.
fn bit_diagram(ui: &mut egui::Ui, e: &FrameExplanation) {
    egui::Grid::new("bits").spacing([6.0, 2.0]).show(ui, |ui| {
        for cell in &e.bits {
            ui.label(RichText::new(cell.name).color(color(cell.kind)).small());
        }
        ui.end_row();
        for cell in &e.bits {
            ui.label(
                RichText::new(cell.digits())
                    .monospace()
                    .strong()
                    .color(color(cell.kind)),
            );
        }
        ui.end_row();
    });
}

/// The frame's wire bytes, 16 per line, each field in its colour; the hovered field's bytes get
/// a background. Returns the bytes of the field under the pointer, if any.
fn hex_dump(ui: &mut egui::Ui, lang: Lang, e: &FrameExplanation, lit: &Lit) -> Lit {
    let t = lang.t();
    let wire = &e.wire;
    // The offset column is at least 6 hex digits, more past 16 MiB; every line has the same
    // width, which is what maps a hovered character back to its byte.
    let last = e.offset.saturating_add(wire.len() as u64);
    let digits = (64 - last.leading_zeros() as usize).div_ceil(4).max(6);
    let prefix = digits + 2;
    let line_len = prefix + 16 * 3 + 1;
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
                &format!("{:0digits$x}  ", e.offset.saturating_add(i as u64)),
                0.0,
                TextFormat::simple(font.clone(), dim),
            );
        }
        let mut fmt = TextFormat::simple(font.clone(), color(e.segment_of(i).kind));
        if lit.as_ref().is_some_and(|r| r.contains(&i)) {
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
                over = Some(e.segment_of(i).span.clone());
            }
        }
    }
    let more = e.wire_total.saturating_sub(wire.len() as u64);
    if more > 0 {
        ui.label(fill(t.more_bytes, &[&more]));
    }
    ui.horizontal_wrapped(|ui| {
        for (name, kind) in [
            (t.legend_head, FieldKind::Opcode),
            (t.legend_len, FieldKind::Length),
            (t.masking_key, FieldKind::Key),
            (t.legend_payload, FieldKind::Payload),
        ] {
            let r = ui.label(RichText::new(name).color(color(kind)).small());
            if r.hovered() {
                over = e.segment(kind).map(|s| s.span.clone());
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
    span: &Range<usize>,
    lit: &Lit,
    over: &mut Lit,
) {
    let mut rt = RichText::new(text).color(color);
    if lit.as_ref() == Some(span) {
        rt = rt.background_color(ui.visuals().selection.bg_fill).strong();
    }
    if ui.label(rt).hovered() {
        *over = Some(span.clone());
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
    show_frame(ui, lang, id, title, f, false);
}

/// [`show`], for a frame whose RSV1 says "compressed" when `compressed` (its connection agreed
/// to permessage-deflate and it is the first frame of a data message, RFC 7692 §6).
pub fn show_frame(
    ui: &mut egui::Ui,
    lang: Lang,
    id: impl std::hash::Hash + std::fmt::Debug,
    title: &str,
    f: &Frame,
    compressed: bool,
) {
    let t = lang.t();
    let id = ui.make_persistent_id(("anatomy", id));
    let lit = hovered(ui, id);
    let mut over = None;
    // Bounded work per repaint: the explanation re-masks only the bytes it shows.
    let e = FrameExplanation::new(f, lang);
    ui.push_id(id, |ui| {
        ui.heading(title);
        ui.horizontal_wrapped(|ui| {
            ui.label(t.anatomy_intro1);
            ui.hyperlink_to("§5.2", RFC_5_2);
            ui.label(t.anatomy_intro2);
        });
        ui.add_space(4.0);
        bit_diagram(ui, &e);
        ui.add_space(4.0);
        egui::Grid::new("fields")
            .num_columns(2)
            .striped(true)
            .show(ui, |ui| {
                for row in &e.rows {
                    let c = color(row.kind);
                    field_label(ui, row.name, c, &row.span, &lit, &mut over);
                    match row.kind {
                        FieldKind::Opcode => {
                            ui.label(
                                RichText::new(format!("{} {}", row.value, row.meaning))
                                    .color(style::opcode(e.opcode)),
                            );
                        }
                        // The meaning says the length with its encoding.
                        FieldKind::Length => {
                            ui.label(&row.meaning);
                        }
                        FieldKind::Key => {
                            ui.monospace(&row.value);
                        }
                        FieldKind::Rsv if compressed => {
                            ui.label(format!("{} — {}", row.value, t.dv_rsv1_compressed));
                        }
                        _ => {
                            ui.label(format!("{} — {}", row.value, row.meaning));
                        }
                    }
                    ui.end_row();
                }
                ui.label(t.fragment);
                ui.label(e.fragment_text);
                ui.end_row();
            });
        ui.add_space(4.0);
        ui.strong(t.on_wire);
        if let Some(o) = hex_dump(ui, lang, &e, &lit) {
            over = Some(o);
        }
        if let Some(u) = &e.unmask {
            ui.add_space(4.0);
            ui.strong(t.unmask_title);
            unmask_table(ui, lang, u);
        }
        ui.add_space(4.0);
        if let Some(payload) = e.segment(FieldKind::Payload) {
            let strong = ui.visuals().strong_text_color();
            field_label(ui, t.payload, strong, &payload.span, &lit, &mut over);
        }
        if compressed && e.payload_captured {
            // Compressed bytes are no text, even when they happen to be valid UTF-8.
            ui.label(RichText::new(t.dv_payload_compressed).small());
            binary_view(ui, lang, &f.payload);
        } else {
            payload_section(ui, lang, &e, f);
        }
        violations(ui, lang, &e);
    });
    if over != lit {
        ui.ctx().data_mut(|d| d.insert_temp(id, over));
        ui.ctx().request_repaint();
    }
}

fn unmask_table(ui: &mut egui::Ui, lang: Lang, u: &crate::explain::Unmask) {
    let t = lang.t();
    egui::Grid::new("unmask").striped(true).show(ui, |ui| {
        for h in ["i", t.col_wire, t.col_key, t.col_byte, t.col_char] {
            ui.label(RichText::new(h).small());
        }
        ui.end_row();
        for r in &u.rows {
            ui.monospace(r.index.to_string());
            ui.label(
                RichText::new(format!("{:02x}", r.wire))
                    .monospace()
                    .color(style::PAYLOAD),
            );
            ui.label(
                RichText::new(format!("^ {:02x}", r.key))
                    .monospace()
                    .color(style::KEY),
            );
            ui.monospace(format!("= {:02x}", r.byte));
            ui.monospace(r.printable().map_or("·".to_string(), String::from));
            ui.end_row();
        }
    });
    if u.more > 0 {
        ui.label(fill(t.more_unmasked, &[&u.more]));
    }
}

fn payload_section(ui: &mut egui::Ui, lang: Lang, e: &FrameExplanation, f: &Frame) {
    if !e.payload_captured {
        ui.label(lang.t().not_kept);
    } else if let Some(close) = &e.close {
        for note in close {
            if note.bad {
                ui.colored_label(style::BAD, &note.text);
            } else {
                ui.label(&note.text);
            }
        }
    } else {
        payload_view(ui, lang, &f.payload);
    }
}

fn violations(ui: &mut egui::Ui, lang: Lang, e: &FrameExplanation) {
    if e.violations.is_empty() {
        return;
    }
    ui.add_space(4.0);
    ui.strong(RichText::new(lang.t().rules_broken).color(style::BAD));
    for v in &e.violations {
        ui.horizontal_wrapped(|ui| {
            ui.hyperlink_to(format!("§{}", v.section), v.url());
            ui.colored_label(style::BAD, &v.text);
        });
    }
}

/// What the JSON view makes of a payload's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pretty {
    /// The text re-indented.
    Json(Arc<str>),
    /// JSON, but re-indenting it would grow it past [`pretty_cap`] (deep nesting indents every
    /// line by twice its depth): shown as sent, with a note.
    TooLarge,
    /// Not a JSON object or array (or too long to be worth re-laying out): shown as text.
    NotJson,
}

/// The most text re-indenting may produce for an input of `len` bytes: 64 KiB, or 4 times the
/// input when that is more.
pub fn pretty_cap(len: usize) -> usize {
    (64 << 10).max(len.saturating_mul(4))
}

/// `text` re-indented when it is a JSON object or array. Only whitespace outside strings
/// changes: numbers, escapes, key order and duplicate keys stay exactly as sent (a
/// parse-and-print round trip would show 1.10 as 1.1 and drop a repeated key).
pub fn pretty_json(text: &str) -> Pretty {
    // Re-laying-out a large document is not worth it.
    if text.len() > 64 << 10 || !text.trim_start().starts_with(['{', '[']) {
        return Pretty::NotJson;
    }
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return Pretty::NotJson;
    }
    let cap = pretty_cap(text.len());
    let mut out = String::with_capacity(text.len().saturating_mul(2).min(cap));
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', depth * 2));
    };
    while let Some(c) = chars.next() {
        // Checked per character: one newline adds at most twice the depth (at most the
        // input's length) in spaces, so the work stops soon after the cap.
        if out.len() > cap {
            return Pretty::TooLarge;
        }
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
    if out.len() > cap {
        return Pretty::TooLarge;
    }
    Pretty::Json(out.into())
}

#[cfg(test)]
thread_local! {
    /// Times the cache below re-indented a text, on this thread (kittest draws on the test's).
    static PRETTY_BUILDS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Re-indents for [`PrettyCache`].
#[derive(Default)]
struct PrettyComputer;

impl egui::cache::ComputerMut<&str, Pretty> for PrettyComputer {
    fn compute(&mut self, text: &str) -> Pretty {
        #[cfg(test)]
        PRETTY_BUILDS.with(|n| n.set(n.get() + 1));
        pretty_json(text)
    }
}

/// The pretty text of each payload shown, kept while it is on screen: a repaint (every hover
/// of the hex dump is one) does not re-indent it again. Keyed by the text itself (hashed), so
/// two frames never share an entry by accident.
type PrettyCache = egui::cache::FrameCache<Pretty, PrettyComputer>;

/// [`pretty_json`], computed once while the same text stays on screen.
fn pretty_cached(ctx: &egui::Context, text: &str) -> Pretty {
    // Cheap checks first: most payloads are not JSON and are not hashed at all.
    if text.len() > 64 << 10 || !text.trim_start().starts_with(['{', '[']) {
        return Pretty::NotJson;
    }
    ctx.memory_mut(|m| m.caches.cache::<PrettyCache>().get(text).clone())
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
            let pretty = pretty_cached(ui.ctx(), text);
            if let Pretty::Json(pretty) = &pretty {
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
                if pretty == Pretty::TooLarge {
                    ui.label(RichText::new(t.json_too_nested).small());
                }
                ui.label(RichText::new(fill(t.text_n, &[&payload.len()])).small());
                let cut = text.char_indices().nth(MAX).map_or(text.len(), |(i, _)| i);
                ui.monospace(&text[..cut]);
                if cut < text.len() {
                    ui.label(fill(t.more_bytes, &[&(text.len() - cut)]));
                }
            }
        }
        Err(_) => binary_view(ui, lang, payload),
    }
}

/// A payload as hex, whatever it is.
fn binary_view(ui: &mut egui::Ui, lang: Lang, payload: &[u8]) {
    const MAX: usize = 4096;
    let t = lang.t();
    ui.label(RichText::new(fill(t.binary_n, &[&payload.len()])).small());
    ui.monospace(hex_spaced(&payload[..payload.len().min(MAX)]));
    if payload.len() > MAX {
        ui.label(fill(t.more_bytes, &[&(payload.len() - MAX)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pretty(text: &str) -> Option<String> {
        match pretty_json(text) {
            Pretty::Json(s) => Some(s.to_string()),
            _ => None,
        }
    }

    #[test]
    fn json_objects_and_arrays_are_pretty_printed_other_text_is_not() {
        assert_eq!(
            pretty(r#"{"a":1,"b":[true,null],"c":{}}"#).as_deref(),
            Some("{\n  \"a\": 1,\n  \"b\": [\n    true,\n    null\n  ],\n  \"c\": {}\n}")
        );
        assert_eq!(pretty("[1,2]").as_deref(), Some("[\n  1,\n  2\n]"));
        assert_eq!(pretty_json("hello"), Pretty::NotJson);
        assert_eq!(pretty_json("42"), Pretty::NotJson);
        assert_eq!(pretty_json("{not json"), Pretty::NotJson);
    }

    /// Deep nesting indents every line by twice its depth: 127 levels of arrays around a list
    /// of 0s would grow ~128 times. Re-indenting stops at the cap and says so.
    #[test]
    fn deeply_nested_json_is_capped_not_blown_up() {
        let depth = 127;
        let inner = vec!["0"; 20_000].join(",");
        let text = format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(text.len() <= 64 << 10);
        assert_eq!(pretty_json(&text), Pretty::TooLarge);
        // The issue's case: 10,000 levels (20 KB) would indent to ~100 MB.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(pretty_json(&deep), Pretty::TooLarge);
        // Ordinary documents, even ones that double in size, are re-indented.
        let flat = format!("[{inner}]");
        assert!(matches!(pretty_json(&flat), Pretty::Json(p) if p.len() <= pretty_cap(flat.len())));
    }

    /// The payload view re-indents a payload once while it stays on screen, not on every
    /// repaint.
    #[test]
    fn the_pretty_text_is_cached_across_repaints() {
        let payload = br#"{"a":[1,2,{"b":null}]}"#.to_vec();
        let other = br#"[3,4]"#.to_vec();
        let mut harness = egui_kittest::Harness::new_ui(|ui| {
            payload_view(ui, Lang::En, &payload);
            payload_view(ui, Lang::En, &other);
        });
        let builds = || PRETTY_BUILDS.with(|n| n.get());
        harness.run();
        let first = builds();
        assert_eq!(first, 2, "one build per payload shown");
        for _ in 0..5 {
            harness.step();
        }
        assert_eq!(builds(), first, "repaints reuse the cached text");
    }

    #[test]
    fn re_indenting_changes_only_whitespace_outside_strings() {
        let src = r#"{"price":1.10,"big":123456789012345678901234567890,"e":1e2,"a":1,"a":2,"z":-0,"s":"x, {y}: \"q\" ","t":[0.1000000000000000055511151231257827]}"#;
        let pretty = pretty(src).unwrap_or_default();
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
