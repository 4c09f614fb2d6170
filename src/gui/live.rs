//! The live view: connections on the left, every frame in a virtualised table, the selected
//! frame's anatomy on the right, and the composer under the table.

use eframe::egui::{self, RichText};
use egui_extras::{Column, TableBuilder};

use super::{anatomy, style, WsscopeApp};
use crate::capture::ConnState;
use crate::server::Command;

impl WsscopeApp {
    pub(super) fn connections_panel(&mut self, ui: &mut egui::Ui) {
        ui.strong("Connections");
        ui.label(RichText::new("click one to filter the frames and see its handshake").small());
        if ui
            .selectable_label(self.selected_conn.is_none(), "all connections")
            .clicked()
        {
            self.selected_conn = None;
        }
        egui::ScrollArea::vertical()
            .id_salt("conns")
            .show(ui, |ui| {
                for c in self.capture.connections.iter().rev() {
                    let state = match c.state {
                        ConnState::Handshaking => "handshaking".to_string(),
                        ConnState::Open => "open".to_string(),
                        ConnState::Closed => match &c.close {
                            Some(cl) => format!(
                                "closed {}{}",
                                cl.code.map_or(String::new(), |c| c.code().to_string()),
                                if cl.clean { "" } else { " (unclean)" }
                            ),
                            None => "closed".to_string(),
                        },
                    };
                    let peer = c.peer.map_or("?".to_string(), |p| p.to_string());
                    let path = c.path().unwrap_or("-");
                    let proto = c
                        .subprotocol()
                        .map(|p| format!(" [{p}]"))
                        .unwrap_or_default();
                    let text = format!(
                        "#{} {peer}\n{path}{proto} — {state}\nframes {}/{}  bytes {}/{}",
                        c.id, c.frames[0], c.frames[1], c.bytes[0], c.bytes[1]
                    );
                    let http = c
                        .http
                        .as_ref()
                        .map(|(_, s, r)| format!("\nHTTP {s}: {r}"))
                        .unwrap_or_default();
                    let selected = self.selected_conn == Some(c.id);
                    if ui
                        .selectable_label(selected, format!("{text}{http}"))
                        .clicked()
                    {
                        self.selected_conn = Some(c.id);
                        self.selected_frame = None;
                    }
                    ui.separator();
                }
            });
    }

    /// Number of rows the table shows (frozen while paused).
    fn visible_rows(&self) -> usize {
        let all = match self.selected_conn {
            Some(id) => self.capture.frames_of(id).len(),
            None => self.capture.frames.len(),
        };
        match self.paused_at {
            Some(n) => n.min(all),
            None => all,
        }
    }

    fn frame_index(&self, row: usize) -> Option<usize> {
        match self.selected_conn {
            Some(id) => self.capture.frames_of(id).get(row).copied(),
            None => (row < self.capture.frames.len()).then_some(row),
        }
    }

    pub(super) fn frames_table(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("Frames");
            ui.label(
                RichText::new(
                    "each row is one frame; TCP reads are not frames: see the counts on the left",
                )
                .small(),
            );
            let mut paused = self.paused_at.is_some();
            if ui.checkbox(&mut paused, "pause").changed() {
                self.paused_at = paused.then(|| self.visible_rows());
            }
            ui.checkbox(&mut self.follow, "follow");
            if ui
                .button("clear")
                .on_hover_text("forget every captured frame (connections stay)")
                .clicked()
            {
                self.capture.clear();
                self.selected_frame = None;
                self.paused_at = None;
            }
        });
        let rows = self.visible_rows();
        let row_h = 20.0;
        let mut clicked = None;
        let available = ui.available_height() - 90.0;
        // Cells must not take the click for text selection: a click anywhere selects the row.
        ui.style_mut().interaction.selectable_labels = false;
        TableBuilder::new(ui)
            .id_salt("frames")
            .striped(true)
            .resizable(true)
            .stick_to_bottom(self.follow)
            .max_scroll_height(available.max(100.0))
            .min_scrolled_height(available.max(100.0))
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .column(Column::exact(56.0))
            .column(Column::exact(78.0))
            .column(Column::exact(36.0))
            .column(Column::exact(44.0))
            .column(Column::exact(30.0))
            .column(Column::exact(36.0))
            .column(Column::exact(90.0))
            .column(Column::exact(40.0))
            .column(Column::exact(110.0))
            .column(Column::remainder().at_least(120.0).clip(true))
            .sense(egui::Sense::click())
            .header(row_h, |mut h| {
                for t in [
                    "#", "time s", "conn", "dir", "FIN", "RSV", "opcode", "MASK", "length",
                    "payload",
                ] {
                    h.col(|ui| {
                        ui.strong(t);
                    });
                }
            })
            .body(|body| {
                body.rows(row_h, rows, |mut row| {
                    let Some(i) = self.frame_index(row.index()) else {
                        return;
                    };
                    let Some(r) = self.capture.frames.get(i) else {
                        return;
                    };
                    let h = &r.frame.header;
                    row.set_selected(self.selected_frame == Some(i));
                    row.col(|ui| {
                        let bad = !r.frame.violations.is_empty();
                        ui.label(
                            RichText::new(format!("{}{}", i + 1, if bad { " !" } else { "" }))
                                .color(if bad {
                                    style::BAD
                                } else {
                                    ui.visuals().text_color()
                                }),
                        );
                    });
                    row.col(|ui| {
                        ui.monospace(format!("{:.6}", r.time.as_secs_f64()));
                    });
                    row.col(|ui| {
                        ui.label(format!("#{}", r.conn));
                    });
                    row.col(|ui| {
                        ui.colored_label(style::direction(r.direction), style::arrow(r.direction));
                    });
                    row.col(|ui| {
                        ui.colored_label(style::FIN, if h.fin { "1" } else { "0" });
                    });
                    row.col(|ui| {
                        let rsv: String =
                            h.rsv.iter().map(|b| if *b { '1' } else { '0' }).collect();
                        ui.colored_label(style::RSV, rsv);
                    });
                    row.col(|ui| {
                        ui.colored_label(style::opcode(h.opcode), h.opcode.name());
                    });
                    row.col(|ui| {
                        ui.colored_label(style::MASK, if h.masked { "1" } else { "0" });
                    });
                    row.col(|ui| {
                        let enc = match h.len_encoding {
                            crate::protocol::LenEncoding::Seven => "7",
                            crate::protocol::LenEncoding::Sixteen => "16",
                            crate::protocol::LenEncoding::SixtyFour => "64",
                        };
                        ui.colored_label(style::LENGTH, format!("{} ({enc}-bit)", h.payload_len));
                    });
                    row.col(|ui| {
                        ui.label(crate::cli::render::preview(true, &r.frame.payload, 80));
                    });
                    if row.response().clicked() {
                        clicked = Some(i);
                    }
                });
            });
        if let Some(i) = clicked {
            self.selected_frame = Some(i);
        }
        self.composer(ui);
    }

    pub(super) fn anatomy_panel(&mut self, ui: &mut egui::Ui) {
        let Some(r) = self.selected_frame.and_then(|i| self.capture.frames.get(i)) else {
            ui.heading("Frame anatomy");
            ui.label("Select a frame in the table to see every bit of it.");
            return;
        };
        let title = format!(
            "Frame {} — #{} {} — {}",
            self.selected_frame.map_or(0, |i| i + 1),
            r.conn,
            style::arrow(r.direction),
            r.frame.header.opcode.name()
        );
        let message = r.message.and_then(|m| self.capture.messages.get(m));
        egui::ScrollArea::vertical()
            .id_salt("anatomy")
            .show(ui, |ui| {
                anatomy::show(ui, &title, &r.frame);
                if let Some(m) = message {
                    ui.add_space(4.0);
                    ui.label(format!(
                        "Part of a {} message of {} bytes carried by {} frame(s): {}",
                        m.message.opcode.name(),
                        m.message.payload.len(),
                        m.frames.len(),
                        m.frames
                            .iter()
                            .map(|f| (f + 1).to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            });
    }

    fn composer(&mut self, ui: &mut egui::Ui) {
        ui.separator();
        let target = self.selected_conn.filter(|id| {
            self.capture
                .connection(*id)
                .is_some_and(|c| c.state == ConnState::Open)
        });
        ui.horizontal(|ui| {
            let l = ui.label("Send:");
            ui.add(egui::TextEdit::singleline(&mut self.compose).desired_width(260.0))
                .labelled_by(l.id);
            ui.add_enabled_ui(target.is_some(), |ui| {
                if let Some(id) = target {
                    if ui.button("text").clicked() {
                        self.command(Command::Text(id, self.compose.clone()));
                    }
                    if ui.button("binary (hex)").clicked() {
                        match crate::cli::parse_hex(&self.compose) {
                            Ok(b) => self.command(Command::Binary(id, b)),
                            Err(e) => self.status = format!("not sent: {e}"),
                        }
                    }
                    if ui.button("ping").clicked() {
                        self.command(Command::Ping(id, self.compose.clone().into_bytes()));
                    }
                    if ui.button("pong").clicked() {
                        self.command(Command::Pong(id, self.compose.clone().into_bytes()));
                    }
                    ui.add(
                        egui::DragValue::new(&mut self.close_code)
                            .range(0..=4999)
                            .prefix("code "),
                    );
                    if ui
                        .button("close")
                        .on_hover_text("close frame with this code; the text is the reason")
                        .clicked()
                    {
                        self.command(Command::Close(id, self.close_code, self.compose.clone()));
                    }
                } else {
                    let _ = ui.button("text");
                }
            });
            if target.is_none() {
                ui.label(RichText::new("select an open connection to send to it").small());
            }
        });
    }
}
