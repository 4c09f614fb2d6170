//! The opening handshake of one connection: the raw request with its line ends visible, the
//! §4.2.1 checklist, the raw response and the accept derivation step by step.

use eframe::egui::{self, RichText};
use egui::text::{LayoutJob, TextFormat};

use super::style;
use crate::cli::hex_spaced;
use crate::protocol::handshake::{Handshake, Outcome};
use crate::protocol::{AcceptDerivation, KeyCheck, GUID};

/// HTTP text with every CR LF shown as a dim `\r\n` before the line break, byte-exact.
pub fn raw_http(ui: &mut egui::Ui, bytes: &[u8]) {
    let font = egui::FontId::monospace(13.0);
    let text_color = ui.visuals().text_color();
    let dim = ui.visuals().weak_text_color();
    let mut job = LayoutJob::default();
    let text = String::from_utf8_lossy(bytes);
    for line in text.split_inclusive("\r\n") {
        let body = line.strip_suffix("\r\n");
        job.append(
            body.unwrap_or(line),
            0.0,
            TextFormat::simple(font.clone(), text_color),
        );
        if body.is_some() {
            job.append("\\r\\n\n", 0.0, TextFormat::simple(font.clone(), dim));
        }
    }
    ui.label(job);
}

/// The accept derivation, each step with its value.
pub fn derivation(ui: &mut egui::Ui, d: &AcceptDerivation) {
    egui::Grid::new("derivation")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            ui.label("Sec-WebSocket-Key");
            ui.monospace(&d.key);
            ui.end_row();
            ui.label("key check");
            match d.key_check() {
                KeyCheck::Valid => ui.colored_label(style::GOOD, "base64 of 16 bytes: valid"),
                bad => ui.colored_label(
                    style::BAD,
                    format!("{} — a server answers 400", bad.describe()),
                ),
            };
            ui.end_row();
            ui.label("1. key + GUID");
            let font = egui::FontId::monospace(13.0);
            let mut job = LayoutJob::default();
            job.append(
                &d.key,
                0.0,
                TextFormat::simple(font.clone(), ui.visuals().text_color()),
            );
            job.append(GUID, 0.0, TextFormat::simple(font, style::OPCODE));
            ui.label(job);
            ui.end_row();
            ui.label("");
            ui.label(
                RichText::new("the GUID (orange) is fixed by RFC 6455 §1.3 for every server")
                    .small(),
            );
            ui.end_row();
            ui.label("2. SHA-1");
            ui.monospace(hex_spaced(&d.sha1));
            ui.end_row();
            ui.label("");
            ui.label(
                RichText::new("20 raw bytes, shown as hex: the bytes are what is encoded").small(),
            );
            ui.end_row();
            ui.label("3. base64");
            ui.label(
                RichText::new(&d.accept)
                    .monospace()
                    .strong()
                    .color(style::GOOD),
            );
            ui.end_row();
            ui.label("");
            ui.label(RichText::new("Sec-WebSocket-Accept: always 28 characters").small());
            ui.end_row();
        });
    ui.add_space(6.0);
    ui.label(RichText::new("Two classic mistakes").strong());
    ui.label(format!(
        "x base64 of the 40-character hex text gives {} ({} chars): clients reject it",
        d.mistake_base64_of_hex(),
        d.mistake_base64_of_hex().len()
    ));
    ui.label(format!(
        "x base64-decoding the accept value does not give text, only the 20 SHA-1 bytes: {}",
        d.mistake_decode_as_text()
    ));
}

/// The whole handshake view for one connection.
pub fn show(ui: &mut egui::Ui, hs: &Handshake) {
    ui.horizontal_wrapped(|ui| {
        ui.label("The opening handshake: the client asks to upgrade HTTP to WebSocket, the server checks the rules of");
        ui.hyperlink_to("§4.2.1", "https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1");
        ui.label("and answers with the key it derived");
        ui.hyperlink_to("(§4.2.2)", "https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2");
    });
    ui.add_space(6.0);
    ui.columns(2, |cols| {
        cols[0].strong(format!("Request ({} bytes, exactly as received)", hs.request.raw.len()));
        raw_http(&mut cols[0], &hs.request.raw);
        cols[1].strong(format!("Response {} ({} bytes, exactly as sent)", hs.response.status, hs.response.raw.len()));
        raw_http(&mut cols[1], &hs.response.raw);
        cols[1].label(RichText::new(
            "Some tutorials (like the seed post) show a WebSocket-Location header in the 101: it comes from a pre-RFC draft (hixie-76) and RFC 6455 servers do not send it.",
        ).small());
    });
    ui.add_space(6.0);
    ui.strong("Checklist (RFC 6455 §4.2.1)");
    egui::Grid::new("checks")
        .num_columns(4)
        .striped(true)
        .show(ui, |ui| {
            for c in &hs.checks {
                let (text, color) = match c.outcome {
                    Outcome::Pass => ("PASS", style::GOOD),
                    Outcome::Fail => ("FAIL", style::BAD),
                    Outcome::Info => ("info", ui.visuals().weak_text_color()),
                };
                ui.label(RichText::new(text).strong().color(color));
                ui.hyperlink_to(
                    format!("§{} item {}", c.id.section(), c.id.item()),
                    c.id.url(),
                );
                ui.label(c.id.rule());
                ui.monospace(&c.detail);
                ui.end_row();
            }
        });
    if !hs.accepted() {
        ui.colored_label(style::BAD, format!("Refused: {}", hs.response.reason));
    }
    if let Some(d) = &hs.derivation {
        ui.add_space(6.0);
        ui.strong("Accept derivation");
        derivation(ui, d);
    }
}
