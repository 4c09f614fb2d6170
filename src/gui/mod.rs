//! The inspector window. For now it shows the same views as the CLI (accept derivation and frame
//! decoder) from the same renderers; the live server views come with the server engine.

use std::process::ExitCode;

use eframe::egui;

use crate::cli::{parse_hex, render_accept, render_decode, Paint};
use crate::protocol::{AcceptDerivation, Role};

/// The RFC's example key (§1.3), prefilled so the first thing a learner sees is the known answer.
pub const EXAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The RFC's masked "Hello" (§5.7), prefilled in the decoder.
pub const EXAMPLE_FRAME: &str = "81 85 37 fa 21 3d 7f 9f 4d 51 58";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Accept,
    Decode,
}

/// Which end sent the bytes in the decoder tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    Auto,
    Client,
    Server,
}

/// The application state: only view state, everything shown is computed by the core.
pub struct WsscopeApp {
    tab: Tab,
    key: String,
    hex: String,
    sender: Sender,
}

impl Default for WsscopeApp {
    fn default() -> Self {
        Self {
            tab: Tab::Accept,
            key: EXAMPLE_KEY.to_string(),
            hex: EXAMPLE_FRAME.to_string(),
            sender: Sender::Auto,
        }
    }
}

impl WsscopeApp {
    /// The text the accept tab shows for the current key.
    pub fn accept_text(&self) -> String {
        if self.key.trim().is_empty() {
            return "Type a Sec-WebSocket-Key above.".to_string();
        }
        render_accept(&AcceptDerivation::new(&self.key), Paint { color: false })
    }

    /// The text the decode tab shows for the current hex.
    pub fn decode_text(&self) -> String {
        let sender = match self.sender {
            Sender::Auto => None,
            Sender::Client => Some(Role::Client),
            Sender::Server => Some(Role::Server),
        };
        match parse_hex(&self.hex) {
            Err(e) => format!("Cannot read the hex: {e}"),
            Ok(bytes) => {
                let r = render_decode(&bytes, sender, Paint { color: false });
                match r.error {
                    Some(e) => format!("{}\n\n{e}", r.text),
                    None => r.text,
                }
            }
        }
    }
}

impl eframe::App for WsscopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::top("tabs").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong("wsscope");
                ui.separator();
                ui.selectable_value(&mut self.tab, Tab::Accept, "Accept key");
                ui.selectable_value(&mut self.tab, Tab::Decode, "Decode frames");
            });
        });
        egui::CentralPanel::default().show(ui, |ui| match self.tab {
            Tab::Accept => {
                ui.label(
                    "How a server answers the opening handshake: Sec-WebSocket-Key + GUID -> SHA-1 -> base64 (RFC 6455 §4.2.2).",
                );
                ui.horizontal(|ui| {
                    let l = ui.label("Sec-WebSocket-Key:");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.key)
                            .font(egui::TextStyle::Monospace)
                            .desired_width(360.0),
                    )
                    .labelled_by(l.id);
                });
                ui.separator();
                let text = self.accept_text();
                egui::ScrollArea::both().show(ui, |ui| {
                    ui.monospace(text);
                });
            }
            Tab::Decode => {
                ui.label(
                    "Paste frame bytes as hex to see every field of RFC 6455 §5.2, the unmasking and the rules broken.",
                );
                ui.horizontal(|ui| {
                    let l = ui.label("Frame bytes (hex):");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.hex)
                            .font(egui::TextStyle::Monospace)
                            .desired_width(520.0),
                    )
                    .labelled_by(l.id);
                });
                ui.horizontal(|ui| {
                    ui.label("Sent by:");
                    ui.selectable_value(&mut self.sender, Sender::Auto, "auto");
                    ui.selectable_value(&mut self.sender, Sender::Client, "client");
                    ui.selectable_value(&mut self.sender, Sender::Server, "server");
                });
                ui.separator();
                let text = self.decode_text();
                egui::ScrollArea::both().show(ui, |ui| {
                    ui.monospace(text);
                });
            }
        });
    }
}

fn has_display() -> bool {
    if cfg!(target_os = "linux") {
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    } else {
        true
    }
}

/// Opens the window. Returns the process exit status.
pub fn run() -> ExitCode {
    if !has_display() {
        eprintln!(
            "wsscope: no display (DISPLAY and WAYLAND_DISPLAY are unset), so the window cannot open; \
             the terminal commands work here: `wsscope accept KEY`, `wsscope decode HEX`"
        );
        return ExitCode::from(2);
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1100.0, 760.0])
            .with_title("wsscope"),
        ..Default::default()
    };
    match eframe::run_native(
        "wsscope",
        options,
        Box::new(|_cc| Ok(Box::new(WsscopeApp::default()))),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsscope: the window could not open: {e}");
            ExitCode::from(1)
        }
    }
}
