//! The Handshake tab (one connection's opening handshake) and the Accept key tab (the
//! derivation for any key); both paint with [`handshake_view`].

use eframe::egui;

use super::handshake_view;
use super::i18n::fill;
use super::panel::PanelCtx;
use super::EXAMPLE_KEY;
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
                    if let Some(hs) = &c.handshake {
                        handshake_view::show(ui, lang, hs);
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
