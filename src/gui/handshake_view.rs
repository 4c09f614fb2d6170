//! The opening handshake of one connection: the raw request with its line ends visible, the
//! §4.2.1 checklist, the raw response and the accept derivation step by step.

use eframe::egui::{self, RichText};
use egui::text::{LayoutJob, TextFormat};

use super::i18n::{self, fill, Lang};
use super::style;
use crate::explain::AcceptExplanation;
use crate::protocol::handshake::{Found, Handshake, Outcome};
use crate::protocol::AcceptDerivation;

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
pub fn derivation(ui: &mut egui::Ui, lang: Lang, d: &AcceptDerivation) {
    let t = lang.t();
    let e = AcceptExplanation::new(d, lang);
    egui::Grid::new("derivation")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            ui.label("Sec-WebSocket-Key");
            ui.monospace(&e.key);
            ui.end_row();
            ui.label(t.key_check);
            let color = if e.key_valid { style::GOOD } else { style::BAD };
            ui.colored_label(color, &e.key_check);
            ui.end_row();
            for step in &e.steps {
                ui.label(format!("{}. {}", step.number, step.label));
                let font = egui::FontId::monospace(13.0);
                match step.guid_at.and_then(|i| step.value.split_at_checked(i)) {
                    Some((key, guid)) => {
                        let mut job = LayoutJob::default();
                        let plain = TextFormat::simple(font.clone(), ui.visuals().text_color());
                        job.append(key, 0.0, plain);
                        job.append(guid, 0.0, TextFormat::simple(font, style::OPCODE));
                        ui.label(job);
                    }
                    // The last step's value is the answer.
                    None if step.number == 3 => {
                        ui.label(
                            RichText::new(&step.value)
                                .monospace()
                                .strong()
                                .color(style::GOOD),
                        );
                    }
                    None => {
                        ui.monospace(&step.value);
                    }
                }
                ui.end_row();
                ui.label("");
                ui.label(RichText::new(&step.note).small());
                ui.end_row();
            }
        });
    ui.add_space(6.0);
    ui.label(RichText::new(t.mistakes).strong());
    for m in &e.mistakes {
        ui.label(m);
    }
}

/// The whole handshake view for one connection.
pub fn show(ui: &mut egui::Ui, lang: Lang, hs: &Handshake) {
    let t = lang.t();
    ui.horizontal_wrapped(|ui| {
        ui.label(t.hs_intro1);
        ui.hyperlink_to(
            "§4.2.1",
            "https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1",
        );
        ui.label(t.hs_intro2);
        ui.hyperlink_to(
            "(§4.2.2)",
            "https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2",
        );
    });
    ui.add_space(6.0);
    ui.columns(2, |cols| {
        cols[0].strong(fill(t.request_n, &[&hs.request.raw.len()]));
        raw_http(&mut cols[0], &hs.request.raw);
        cols[1].strong(fill(
            t.response_n,
            &[&hs.response.status, &hs.response.raw.len()],
        ));
        raw_http(&mut cols[1], &hs.response.raw);
        cols[1].label(RichText::new(t.location_note).small());
    });
    ui.add_space(6.0);
    ui.strong(t.checklist);
    egui::Grid::new("checks")
        .num_columns(4)
        .striped(true)
        .show(ui, |ui| {
            for c in &hs.checks {
                let (text, color) = match c.outcome {
                    Outcome::Pass => (t.pass, style::GOOD),
                    Outcome::Fail => (t.fail, style::BAD),
                    Outcome::Info => (t.info, ui.visuals().weak_text_color()),
                };
                ui.label(RichText::new(text).strong().color(color));
                ui.hyperlink_to(fill(t.item, &[&c.id.section(), &c.id.item()]), c.id.url());
                ui.label(i18n::check_rule(lang, c.id));
                match &c.detail {
                    // A header value as sent: data, in a monospace font.
                    Found::Value(v) => ui.monospace(v),
                    other => ui.label(i18n::check_found(lang, other)),
                };
                ui.end_row();
            }
        });
    if let Some(why) = i18n::refusal(lang, hs) {
        ui.colored_label(style::BAD, fill(t.refused, &[&why]));
    }
    if let Some(d) = &hs.derivation {
        ui.add_space(6.0);
        ui.strong(t.accept_derivation);
        derivation(ui, lang, d);
    }
}
