//! The opening handshake of one connection: the raw request with its line ends visible, the
//! §4.2.1 checklist, the raw response, the §4.1 checklist of a server's answer (when a client's
//! view of it is known), the accept derivation step by step, and a wss:// session's TLS.

use eframe::egui::{self, RichText};
use egui::text::{LayoutJob, TextFormat};

use super::i18n::{self, fill, Lang};
use super::style;
use crate::event::{Endpoint, TlsInfo, TlsTrust};
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

/// The accept derivation, each step with its value, then the classic mistakes.
pub fn derivation(ui: &mut egui::Ui, lang: Lang, d: &AcceptDerivation) {
    let e = AcceptExplanation::new(d, lang);
    derivation_steps(ui, lang, &e);
    mistakes(ui, lang, &e);
}

/// The derivation's steps.
fn derivation_steps(ui: &mut egui::Ui, lang: Lang, e: &AcceptExplanation) {
    let t = lang.t();
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
}

/// The two classic mistakes, with this key's wrong values.
fn mistakes(ui: &mut egui::Ui, lang: Lang, e: &AcceptExplanation) {
    let t = lang.t();
    ui.add_space(6.0);
    ui.label(RichText::new(t.mistakes).strong());
    for m in &e.mistakes {
        ui.label(m);
    }
}

/// The whole handshake view for one connection; `endpoint` is which end wsscope was: its
/// client (the §4.1 view of it: what we sent, what came back, what a client checks) or not,
/// `tls` the session it went through on wss://.
pub fn show(
    ui: &mut egui::Ui,
    lang: Lang,
    hs: &Handshake,
    endpoint: Option<Endpoint>,
    tls_info: Option<&TlsInfo>,
) {
    let t = lang.t();
    let ours_client = endpoint == Some(Endpoint::Client);
    ui.horizontal_wrapped(|ui| {
        if ours_client {
            ui.label(t.hs_client_intro1);
            ui.hyperlink_to("§4.1", SECTION_4_1);
            ui.label(t.hs_client_intro2);
        } else {
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
        }
    });
    if let Some(info) = tls_info {
        ui.add_space(4.0);
        tls(ui, lang, info);
    }
    ui.add_space(6.0);
    let (request_n, response_n) = if ours_client {
        (t.request_sent_n, t.response_received_n)
    } else {
        (t.request_n, t.response_n)
    };
    ui.columns(2, |cols| {
        cols[0].strong(fill(request_n, &[&hs.request.raw.len()]));
        raw_http(&mut cols[0], &hs.request.raw);
        cols[1].strong(fill(
            response_n,
            &[&hs.response.status, &hs.response.raw.len()],
        ));
        raw_http(&mut cols[1], &hs.response.raw);
        if !ours_client {
            cols[1].label(RichText::new(t.location_note).small());
        }
    });
    // The server's answer first when we are the client: it is what the client decides on.
    if !hs.response.client_checks.is_empty() {
        ui.add_space(6.0);
        response_checks(ui, lang, hs);
    }
    ui.add_space(6.0);
    ui.strong(if ours_client {
        t.our_request_checklist
    } else {
        t.checklist
    });
    egui::Grid::new("checks")
        .num_columns(4)
        .striped(true)
        .show(ui, |ui| {
            for c in &hs.checks {
                outcome_label(ui, lang, c.outcome);
                ui.hyperlink_to(fill(t.item, &[&c.id.section(), &c.id.item()]), c.id.url());
                ui.label(i18n::check_rule(lang, c.id));
                found_label(ui, lang, &c.detail);
                ui.end_row();
            }
        });
    if let Some(why) = i18n::refusal(lang, hs) {
        ui.colored_label(style::BAD, fill(t.refused, &[&why]));
    }
    super::deflate_view::handshake_section(ui, lang, hs, endpoint);
    if let Some(d) = &hs.derivation {
        ui.add_space(6.0);
        ui.strong(if ours_client {
            t.accept_of_our_key
        } else {
            t.accept_derivation
        });
        let e = AcceptExplanation::new(d, lang);
        derivation_steps(ui, lang, &e);
        // The other end's value against ours, right under our result: what §4.1 item 4
        // decides on.
        if let Some(a) = &hs.response.accept_check {
            ui.add_space(4.0);
            match (&a.sent, a.matches) {
                (Some(v), true) => ui.colored_label(style::GOOD, fill(t.accept_sent_matches, &[v])),
                (Some(v), false) => ui.colored_label(style::BAD, fill(t.accept_sent_differs, &[v])),
                (None, _) => ui.colored_label(style::BAD, t.accept_sent_missing),
            };
        }
        mistakes(ui, lang, &e);
    }
}

const SECTION_4_1: &str = "https://www.rfc-editor.org/rfc/rfc6455#section-4.1";

/// PASS / FAIL / info in its colour.
fn outcome_label(ui: &mut egui::Ui, lang: Lang, outcome: Outcome) {
    let t = lang.t();
    let (text, color) = match outcome {
        Outcome::Pass => (t.pass, style::GOOD),
        Outcome::Fail => (t.fail, style::BAD),
        Outcome::Info => (t.info, ui.visuals().weak_text_color()),
    };
    ui.label(RichText::new(text).strong().color(color));
}

/// What a check found: a header value as sent is data, in a monospace font.
fn found_label(ui: &mut egui::Ui, lang: Lang, found: &Found) {
    match found {
        Found::Value(v) => ui.monospace(v),
        other => ui.label(i18n::check_found(lang, other)),
    };
}

/// The §4.1 checklist of the server's answer and, when a 101 broke one of its rules, that the
/// client failed the connection and why.
fn response_checks(ui: &mut egui::Ui, lang: Lang, hs: &Handshake) {
    let t = lang.t();
    ui.strong(t.client_checklist);
    egui::Grid::new("client-checks")
        .num_columns(4)
        .striped(true)
        .show(ui, |ui| {
            for c in &hs.response.client_checks {
                outcome_label(ui, lang, c.outcome);
                ui.hyperlink_to(fill(t.item, &[&c.id.section(), &c.id.item()]), c.id.url());
                ui.label(i18n::response_rule(lang, c.id));
                found_label(ui, lang, &c.detail);
                ui.end_row();
            }
        });
    if let Some(f) = hs.client_failure() {
        ui.colored_label(
            style::BAD,
            fill(
                t.hs_client_failed,
                &[
                    &f.id.item(),
                    &i18n::response_rule(lang, f.id),
                    &i18n::check_found(lang, &f.detail),
                ],
            ),
        );
    }
}

/// What a wss:// connection's TLS session agreed on, and what that means for the byte counts.
pub fn tls(ui: &mut egui::Ui, lang: Lang, info: &TlsInfo) {
    let t = lang.t();
    let trust = match &info.trust {
        TlsTrust::SystemRoots => t.trust_system.to_string(),
        TlsTrust::CaFile(path) => fill(t.tls_trust_ca_file, &[path]),
        TlsTrust::Insecure => t.tls_trust_insecure.to_string(),
    };
    ui.strong(t.tls_title);
    let rows: [(&str, String); 6] = [
        (t.tls_version, info.version.clone()),
        (t.tls_cipher, info.cipher_suite.clone()),
        (t.tls_server_name, info.server_name.clone()),
        (t.tls_certificates, info.certificates.to_string()),
        (t.tls_alpn, info.alpn.clone().unwrap_or_else(|| "-".into())),
        (t.tls_trusted_by, trust),
    ];
    // Three rows of two pairs: the session at a glance, above the handshake it carried.
    egui::Grid::new("tls")
        .num_columns(4)
        .spacing([12.0, 2.0])
        .show(ui, |ui| {
            for pair in rows.chunks(2) {
                for (name, value) in pair {
                    ui.label(RichText::new(*name).weak());
                    ui.monospace(value);
                }
                ui.end_row();
            }
        });
    ui.colored_label(style::KEY, t.tls_note);
}
