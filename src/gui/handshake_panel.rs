//! The Handshake tab (one connection's opening handshake) and the Accept key tab (the
//! derivation for any key); both paint with [`handshake_view`].

use eframe::egui;

use super::handshake_view;
use super::i18n::fill;
use super::panel::PanelCtx;
use super::EXAMPLE_KEY;
use crate::capture::{Capture, ConnRecord};
use crate::event::Direction;
use crate::protocol::AcceptDerivation;

/// The Handshake tab: the connection selected in the Live tab, else the newest with a
/// handshake. It keeps no state of its own: what it shows follows the Live selection.
#[derive(Default)]
pub(super) struct HandshakePanel {}

impl HandshakePanel {
    /// Draws the tab.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelCtx) {
        let Self {} = self;
        let t = cx.lang.t();
        let lang = cx.lang;
        let conn = cx
            .selected_conn
            .and_then(|id| cx.capture.connection(id))
            .filter(|c| c.handshake.is_some())
            .or_else(|| {
                cx.capture
                    .connections
                    .iter()
                    .rev()
                    .find(|c| c.handshake.is_some())
            });
        egui::ScrollArea::vertical()
            .id_salt("handshake")
            .show(ui, |ui| match conn {
                Some(c) => {
                    ui.heading(fill(t.connection_n, &[&c.id]));
                    let tls = c.tls.as_deref();
                    if let (Some(info), None) = (tls, &c.handshake) {
                        // TLS came up, the server has not answered (yet).
                        handshake_view::tls(ui, lang, info);
                    }
                    if let Some(hs) = &c.handshake {
                        handshake_view::show(ui, lang, hs, c.endpoint, tls);
                        // A refusal a client saw: its body is the server's explanation.
                        if !hs.accepted() && !hs.response.client_checks.is_empty() {
                            ui.add_space(6.0);
                            ui.label(fill(t.hs_client_no_switch, &[&hs.response.status]));
                            let body = answer_body(cx.capture, c, hs.response.raw.len() as u64);
                            if body.is_empty() {
                                ui.label(t.hs_body_empty);
                            } else {
                                handshake_view::raw_http(ui, &body);
                            }
                        }
                    }
                }
                None => {
                    ui.label(t.no_handshake);
                    handshake_view::derivation(ui, lang, &AcceptDerivation::new(EXAMPLE_KEY));
                }
            });
    }
}

/// The Accept key tab: any key, derived step by step.
pub(super) struct AcceptPanel {
    /// The key as typed (a saved setting).
    pub(super) key: String,
}

impl AcceptPanel {
    /// Draws the tab.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelCtx) {
        let Self { key } = self;
        let lang = cx.lang;
        let t = lang.t();
        ui.label(t.accept_intro);
        ui.horizontal(|ui| {
            let l = ui.label("Sec-WebSocket-Key:");
            ui.add(
                egui::TextEdit::singleline(key)
                    .font(egui::TextStyle::Monospace)
                    .desired_width(360.0),
            )
            .labelled_by(l.id);
        });
        ui.separator();
        egui::ScrollArea::vertical()
            .id_salt("accept")
            .show(ui, |ui| {
                if key.trim().is_empty() {
                    ui.label(t.type_a_key);
                } else {
                    let d = AcceptDerivation::new(key);
                    handshake_view::derivation(ui, lang, &d);
                    ui.label(format!("Sec-WebSocket-Accept: {}", d.accept));
                }
            });
    }
}

/// The first bytes the server sent after its answer's head (at most 4 KiB): a refusal's body.
fn answer_body(capture: &Capture, c: &ConnRecord, head_len: u64) -> Vec<u8> {
    const SHOWN: usize = 4096;
    let mut out = Vec::new();
    for &i in c.tcp_of(Direction::ServerToClient) {
        let Some(r) = capture.tcp(i) else { continue };
        let range = r.range();
        if range.end <= head_len {
            continue;
        }
        let Some(bytes) = capture.tcp_bytes(r) else {
            continue;
        };
        let skip = usize::try_from(head_len.saturating_sub(range.start)).unwrap_or(usize::MAX);
        out.extend_from_slice(bytes.get(skip..).unwrap_or(&[]));
        if out.len() >= SHOWN {
            out.truncate(SHOWN);
            break;
        }
    }
    out
}
