//! The anatomy of one frame: the §5.2 bit diagram with this frame's bits, a hex dump coloured by
//! field, the length encoding, the unmask table, the payload and the rules it broke.

use eframe::egui::{self, Color32, RichText};
use egui::text::{LayoutJob, TextFormat};

use super::style;
use crate::cli::hex_spaced;
use crate::protocol::accept::hex_lower;
use crate::protocol::{parse_close_payload, Frame, LenEncoding, OpCode};

const RFC_5_2: &str = "https://www.rfc-editor.org/rfc/rfc6455#section-5.2";

fn bit(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

/// The 16 bits of bytes 0 and 1, each under its field name, in the field's colour.
fn bit_diagram(ui: &mut egui::Ui, f: &Frame) {
    let b0 = f.header_bytes.first().copied().unwrap_or(0);
    let b1 = f.header_bytes.get(1).copied().unwrap_or(0);
    let fields: [(&str, u32, u32, Color32); 7] = [
        ("FIN", 7, 1, style::FIN),
        ("RSV1", 6, 1, style::RSV),
        ("RSV2", 5, 1, style::RSV),
        ("RSV3", 4, 1, style::RSV),
        ("opcode", 0, 4, style::OPCODE),
        ("MASK", 7, 1, style::MASK),
        ("payload len (7)", 0, 7, style::LENGTH),
    ];
    egui::Grid::new("bits").spacing([6.0, 2.0]).show(ui, |ui| {
        for (i, (name, ..)) in fields.iter().enumerate() {
            let c = fields[i].3;
            ui.label(RichText::new(*name).color(c).small());
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

/// The frame's wire bytes, 16 per line, each field in its colour.
fn hex_dump(ui: &mut egui::Ui, f: &Frame) {
    const MAX: usize = 512;
    let wire = f.wire_bytes();
    let spans = f.spans();
    let color_at = |i: usize| -> Color32 {
        if i == 0 {
            style::OPCODE
        } else if i == 1 || spans.ext_len.as_ref().is_some_and(|r| r.contains(&i)) {
            style::LENGTH
        } else if spans.mask_key.as_ref().is_some_and(|r| r.contains(&i)) {
            style::KEY
        } else {
            style::PAYLOAD
        }
    };
    let font = egui::FontId::monospace(13.0);
    let mut job = LayoutJob::default();
    let dim = ui.visuals().weak_text_color();
    for (i, b) in wire.iter().take(MAX).enumerate() {
        if i % 16 == 0 {
            if i > 0 {
                job.append("\n", 0.0, TextFormat::simple(font.clone(), dim));
            }
            job.append(
                &format!("{:06x}  ", f.offset + i as u64),
                0.0,
                TextFormat::simple(font.clone(), dim),
            );
        }
        job.append(
            &format!("{b:02x} "),
            0.0,
            TextFormat::simple(font.clone(), color_at(i)),
        );
    }
    if wire.len() > MAX {
        job.append(
            &format!("\n... {} more bytes", wire.len() - MAX),
            0.0,
            TextFormat::simple(font, dim),
        );
    }
    ui.label(job);
    ui.horizontal_wrapped(|ui| {
        for (name, c) in [
            ("FIN/RSV/opcode", style::OPCODE),
            ("MASK/length", style::LENGTH),
            ("masking key", style::KEY),
            ("payload", style::PAYLOAD),
        ] {
            ui.label(RichText::new(name.to_string()).color(c).small());
        }
    });
}

/// Everything about `f`. `title` names it (number, direction).
pub fn show(ui: &mut egui::Ui, title: &str, f: &Frame) {
    let h = &f.header;
    ui.heading(title);
    ui.horizontal_wrapped(|ui| {
        ui.label("The fields of one frame, as RFC 6455");
        ui.hyperlink_to("§5.2", RFC_5_2);
        ui.label("draws them. Bytes are counted from the start of this connection's stream.");
    });
    ui.add_space(4.0);
    bit_diagram(ui, f);
    ui.add_space(4.0);
    egui::Grid::new("fields")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            ui.label(RichText::new("FIN").color(style::FIN));
            ui.label(format!(
                "{} — {}",
                bit(h.fin),
                if h.fin {
                    "final fragment"
                } else {
                    "more fragments follow"
                }
            ));
            ui.end_row();
            ui.label(RichText::new("RSV1-3").color(style::RSV));
            ui.label(format!(
                "{} {} {} — must be 0 unless an extension defines them",
                bit(h.rsv[0]),
                bit(h.rsv[1]),
                bit(h.rsv[2])
            ));
            ui.end_row();
            ui.label(RichText::new("opcode").color(style::OPCODE));
            ui.label(
                RichText::new(format!(
                    "0x{:X} {}{}",
                    u8::from(h.opcode),
                    h.opcode.name(),
                    if h.opcode.is_control() {
                        " (control)"
                    } else {
                        ""
                    }
                ))
                .color(style::opcode(h.opcode)),
            );
            ui.end_row();
            ui.label(RichText::new("MASK").color(style::MASK));
            ui.label(format!(
                "{} — {}",
                bit(h.masked),
                if h.masked {
                    "masked (clients must mask)"
                } else {
                    "not masked (servers never mask)"
                }
            ));
            ui.end_row();
            ui.label(RichText::new("length").color(style::LENGTH));
            let how = match h.len_encoding {
                LenEncoding::Seven => format!(
                    "{} bytes — 7-bit form: len7 holds the length itself (0-125)",
                    h.payload_len
                ),
                LenEncoding::Sixteen => format!(
                    "{} bytes — len7 = 126, then a 16-bit length in bytes 2-3 (126-65535)",
                    h.payload_len
                ),
                LenEncoding::SixtyFour => format!(
                    "{} bytes — len7 = 127, then a 64-bit length in bytes 2-9 (65536 and up)",
                    h.payload_len
                ),
            };
            ui.label(how);
            ui.end_row();
            if let Some(key) = h.mask_key {
                ui.label(RichText::new("masking key").color(style::KEY));
                ui.monospace(format!("{} ({})", hex_spaced(&key), hex_lower(&key)));
                ui.end_row();
            }
            ui.label("fragment");
            ui.label(format!("{:?}", f.fragment));
            ui.end_row();
        });
    ui.add_space(4.0);
    ui.strong("Bytes on the wire");
    hex_dump(ui, f);
    if let Some(key) = h.mask_key {
        if f.payload_captured {
            ui.add_space(4.0);
            ui.strong("Unmasking: payload[i] = wire[i] XOR key[i mod 4]  (§5.3)");
            let wire = f.wire_payload();
            egui::Grid::new("unmask").striped(true).show(ui, |ui| {
                for h in ["i", "wire", "key", "byte", "char"] {
                    ui.label(RichText::new(h).small());
                }
                ui.end_row();
                for (i, (&w, &b)) in wire.iter().zip(f.payload.iter()).take(32).enumerate() {
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
            if wire.len() > 32 {
                ui.label(format!(
                    "... {} more bytes unmasked the same way",
                    wire.len() - 32
                ));
            }
        }
    }
    ui.add_space(4.0);
    ui.strong("Payload");
    if !f.payload_captured {
        ui.label("(not kept: decoding stopped at this header, or the capture budget evicted it)");
    } else if h.opcode == OpCode::Close {
        match parse_close_payload(&f.payload) {
            Ok(None) => {
                ui.label("no status code (received as 1005)");
            }
            Ok(Some(c)) => {
                ui.label(format!("close code {}", c.code));
                match c.reason {
                    Ok(r) => ui.label(format!("reason {r:?}")),
                    Err(i) => {
                        ui.colored_label(style::BAD, format!("reason is not UTF-8 at byte {i}"))
                    }
                };
            }
            Err(_) => {
                ui.colored_label(style::BAD, "1-byte body: too short for a code");
            }
        }
    } else {
        payload_view(ui, &f.payload);
    }
    if !f.violations.is_empty() {
        ui.add_space(4.0);
        ui.strong(RichText::new("Rules broken").color(style::BAD));
        for v in &f.violations {
            ui.horizontal_wrapped(|ui| {
                ui.hyperlink_to(
                    format!("§{}", v.section()),
                    format!(
                        "https://www.rfc-editor.org/rfc/rfc6455#section-{}",
                        v.section()
                    ),
                );
                ui.colored_label(
                    style::BAD,
                    format!(
                        "{} — bytes {}..{} — close {}{}",
                        v.rule.description(),
                        v.byte_range.start,
                        v.byte_range.end,
                        v.close_code().code(),
                        if v.detail.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", v.detail)
                        }
                    ),
                );
            });
        }
    }
}

/// A payload as text when it is UTF-8 (pretty JSON when it parses), else as hex.
pub fn payload_view(ui: &mut egui::Ui, payload: &[u8]) {
    const MAX: usize = 4096;
    if payload.is_empty() {
        ui.label("(empty)");
        return;
    }
    let shown = &payload[..payload.len().min(MAX)];
    match std::str::from_utf8(payload) {
        Ok(t) => {
            let t: String = t.chars().take(MAX).collect();
            ui.label(RichText::new(format!("text ({} bytes):", payload.len())).small());
            ui.monospace(t);
        }
        Err(_) => {
            ui.label(RichText::new(format!("binary ({} bytes), hex:", payload.len())).small());
            ui.monospace(hex_spaced(shown));
        }
    }
    if payload.len() > MAX {
        ui.label(format!("... {} more bytes", payload.len() - MAX));
    }
}
