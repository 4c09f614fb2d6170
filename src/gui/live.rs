//! The live view: connections on the left, every frame in a virtualised table, the selected
//! frame's anatomy on the right, and the composer under the table.

use eframe::egui::{self, RichText};
use egui_extras::{Column, TableBuilder};
use std::time::Duration;

use super::deflate_view::{self, Compressed};
use super::i18n::{fill, opcode_name, Lang};
use super::panel::{Action, Outbox, PanelCtx};
use super::{anatomy, style};
use crate::capture::conn_filter::ConnFilter;
use crate::capture::filter::{FrameFilter, QueryError};
use crate::capture::{Capture, ConnState, FrameRecord, Seq};
use crate::event::{Command, ConnId};
use crate::protocol::{Frame, OpCode};

/// The Live tab: the connections, the frame table with its filter and pause, the selected
/// frame's anatomy and the composer. Its selection is what the other tabs follow.
pub(super) struct LivePanel {
    selected_conn: Option<ConnId>,
    selected_frame: Option<Seq>,
    /// Frames seen when the table was paused: later ones are not listed until it resumes.
    paused_at: Option<Seq>,
    /// The selected frame rebuilt from the store, with its message's payload (the anatomy
    /// draws every repaint; the rebuild copies the payload once).
    shown: Option<Shown>,
    /// The selected frame's message when it is compressed (`None` inside: it is not), kept
    /// while the selection stays in that message: it was inflated again to judge it.
    compressed: Option<(Seq, Option<Compressed>)>,
    /// Keep the newest frame in view (a saved setting).
    pub(super) follow: bool,
    filter_text: String,
    filter: FrameFilter,
    /// The connections list's filter (see [`crate::capture::conn_filter`]).
    conn_filter_text: String,
    conn_filter: ConnFilter,
    /// The composer's text.
    compose: String,
    close_code: u16,
}

impl LivePanel {
    /// An empty selection; `follow` as saved.
    pub(super) fn new(follow: bool) -> Self {
        Self {
            selected_conn: None,
            selected_frame: None,
            paused_at: None,
            shown: None,
            compressed: None,
            follow,
            filter_text: String::new(),
            filter: FrameFilter::default(),
            conn_filter_text: String::new(),
            conn_filter: ConnFilter::default(),
            compose: "hello".into(),
            close_code: 1000,
        }
    }

    /// The connection picked in the list (`None`: all of them).
    pub(super) fn selected_conn(&self) -> Option<ConnId> {
        self.selected_conn
    }

    /// Selects frame `frame` (its sequence number in the capture) of connection `conn`.
    pub(super) fn select(&mut self, conn: ConnId, frame: Seq) {
        self.selected_conn = Some(conn);
        self.selected_frame = Some(frame);
    }

    /// Selects connection `conn` (no frame yet).
    pub(super) fn select_conn(&mut self, conn: ConnId) {
        self.selected_conn = Some(conn);
        self.selected_frame = None;
    }

    /// Forgets what pointed into the frames (the capture is being cleared).
    fn forget_frames(&mut self) {
        self.filter.reset();
        self.selected_frame = None;
        self.paused_at = None;
        self.shown = None;
        self.compressed = None;
    }

    /// The whole tab: connections on the left, anatomy on the right, the table in between.
    /// `ui` is the window's root: the tab lays out its own side panels.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelCtx, out: &mut Outbox) {
        egui::Panel::left("connections")
            .resizable(true)
            .default_size(230.0)
            .show(ui, |ui| self.connections_ui(ui, cx));
        egui::Panel::right("anatomy")
            .resizable(true)
            .default_size(500.0)
            .show(ui, |ui| self.anatomy_ui(ui, cx));
        egui::CentralPanel::default().show(ui, |ui| self.frames_ui(ui, cx, out));
    }

    fn connections_ui(&mut self, ui: &mut egui::Ui, cx: &PanelCtx) {
        let lang = cx.lang;
        let t = lang.t();
        ui.strong(t.connections);
        ui.label(RichText::new(t.connections_hint).small());
        if ui
            .selectable_label(self.selected_conn.is_none(), t.all_connections)
            .clicked()
        {
            self.selected_conn = None;
        }
        ui.horizontal(|ui| {
            let l = ui.label(t.conn_filter_label);
            ui.add(
                egui::TextEdit::singleline(&mut self.conn_filter_text)
                    .hint_text(t.conn_filter_hint)
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(l.id)
            .on_hover_text(t.conn_filter_help);
        });
        let conns = &cx.capture.connections;
        self.conn_filter.update(&self.conn_filter_text, conns);
        let filtered = !self.conn_filter.is_empty();
        let n = if filtered {
            self.conn_filter.ids().len()
        } else {
            conns.len()
        };
        if filtered {
            ui.label(RichText::new(fill(t.conn_filter_count, &[&n, &conns.len()])).small());
        }
        // Virtualised: only the rows in view are laid out, so a lecture hall of connections (or
        // a churn of thousands) costs what a screenful does, in time and in egui's text cache.
        let row_h = ui.text_style_height(&egui::TextStyle::Body) * 4.0 + 8.0;
        egui::ScrollArea::vertical()
            .id_salt("conns")
            .auto_shrink([false, false])
            .show_rows(ui, row_h, n, |ui, rows| {
                for i in rows {
                    // Newest first.
                    let Some(k) = n.checked_sub(i + 1) else {
                        continue;
                    };
                    let c = if filtered {
                        self.conn_filter
                            .ids()
                            .get(k)
                            .and_then(|&id| cx.capture.connection(id))
                    } else {
                        conns.get(k)
                    };
                    let Some(c) = c else { continue };
                    let text = conn_label(ui, lang, c);
                    let selected = self.selected_conn == Some(c.id);
                    let width = ui.available_width();
                    ui.allocate_ui(egui::vec2(width, row_h), |ui| {
                        ui.set_height(row_h);
                        if ui.selectable_label(selected, text).clicked() {
                            self.selected_conn = Some(c.id);
                            self.selected_frame = None;
                        }
                    });
                }
            });
    }

    /// Number of rows the table shows (frozen while paused).
    fn visible_rows(&self, capture: &Capture) -> usize {
        let end = self.paused_at.unwrap_or(Seq::MAX);
        if !self.filter_text.trim().is_empty() {
            return self.filter.rows().partition_point(|&s| s < end);
        }
        match self.selected_conn {
            Some(id) => capture
                .connection(id)
                .map_or(0, |c| c.frame_seqs().partition_point(|&s| s < end)),
            None => {
                let kept_end = capture.frames_seen().min(end);
                usize::try_from(kept_end.saturating_sub(capture.first_frame())).unwrap_or(0)
            }
        }
    }

    fn frame_index(&self, capture: &Capture, row: usize) -> Option<Seq> {
        if !self.filter_text.trim().is_empty() {
            return self.filter.rows().get(row).copied();
        }
        match self.selected_conn {
            Some(id) => capture.connection(id)?.frame_seqs().get(row).copied(),
            None => Some(capture.first_frame() + row as u64),
        }
    }

    /// Tests new frames against the filter (8 ms at most; a repaint continues the rest). While
    /// repaints are spaced, 40 ms at most and the rest at the next spaced repaint: asking for
    /// one at once would bring back the repaints the spacing leaves out.
    fn refresh_filter(&mut self, ctx: &egui::Context, capture: &Capture, spaced: Option<Duration>) {
        if self.filter_text.trim().is_empty() {
            return;
        }
        let budget = if spaced.is_some() { 40 } else { 8 };
        let more = self.filter.update(
            &self.filter_text,
            self.selected_conn,
            capture,
            Duration::from_millis(budget),
        );
        match (more, spaced) {
            (false, _) => {}
            (true, Some(every)) => ctx.request_repaint_after(every),
            (true, None) => ctx.request_repaint(),
        }
    }

    fn frames_ui(&mut self, ui: &mut egui::Ui, cx: &PanelCtx, out: &mut Outbox) {
        let t = cx.lang.t();
        let capture = cx.capture;
        self.refresh_filter(ui.ctx(), capture, cx.spaced);
        ui.horizontal(|ui| {
            ui.strong(t.frames);
            ui.label(RichText::new(t.frames_hint).small());
        });
        let mut cleared = false;
        ui.horizontal(|ui| {
            let l = ui.label(t.filter_label);
            let r = ui
                .add(
                    egui::TextEdit::singleline(&mut self.filter_text)
                        .hint_text(t.filter_hint)
                        .desired_width(220.0),
                )
                .labelled_by(l.id)
                .on_hover_text(t.filter_hover);
            if r.changed() {
                self.paused_at = None;
                self.refresh_filter(ui.ctx(), capture, cx.spaced);
            }
            if let Some(e) = self.filter.error() {
                let text = match e {
                    QueryError::Regex(re, why) => fill(t.filter_bad_regex, &[re, why]),
                    QueryError::Term(term) => fill(t.filter_bad_term, &[term]),
                };
                ui.colored_label(style::BAD, text);
            } else if !self.filter_text.trim().is_empty() {
                ui.label(fill(
                    t.filtered_n,
                    &[&self.filter.rows().len(), &capture.frame_count()],
                ));
            }
            let mut paused = self.paused_at.is_some();
            if ui.checkbox(&mut paused, t.pause).changed() {
                self.paused_at = paused.then(|| capture.frames_seen());
            }
            ui.checkbox(&mut self.follow, t.follow);
            if ui.button(t.clear).on_hover_text(t.clear_hover).clicked() {
                self.forget_frames();
                out.request(Action::ClearCapture);
                cleared = true;
            }
        });
        // The store empties after the pass; until then the table shows nothing, as it will.
        let rows = if cleared {
            0
        } else {
            self.visible_rows(capture)
        };
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
                for name in [
                    "#",
                    t.col_time,
                    t.col_conn,
                    t.col_dir,
                    "FIN",
                    "RSV",
                    t.col_opcode,
                    "MASK",
                    t.col_length,
                    t.col_payload,
                ] {
                    h.col(|ui| {
                        ui.strong(name);
                    });
                }
            })
            .body(|body| {
                body.rows(row_h, rows, |mut row| {
                    let Some(i) = self.frame_index(capture, row.index()) else {
                        return;
                    };
                    let Some(r) = capture.frame_record(i) else {
                        return;
                    };
                    let preview = capture.payload_prefix(r, 80);
                    frame_row(
                        &mut row,
                        cx.lang,
                        (i, r),
                        &preview,
                        self.selected_frame == Some(i),
                    );
                    if row.response().clicked() {
                        clicked = Some(i);
                    }
                });
            });
        if let Some(i) = clicked {
            self.selected_frame = Some(i);
        }
        self.composer_ui(ui, cx, out);
    }

    fn anatomy_ui(&mut self, ui: &mut egui::Ui, cx: &PanelCtx) {
        let t = cx.lang.t();
        let capture = cx.capture;
        let record = self
            .selected_frame
            .and_then(|i| Some((i, capture.frame_record(i)?)));
        let Some((seq, r)) = record else {
            ui.heading(t.anatomy);
            ui.label(t.select_frame);
            return;
        };
        if self.shown.as_ref().is_none_or(|s| s.seq != seq) {
            self.shown = Shown::of(capture, seq);
        }
        let Some(shown) = &self.shown else {
            ui.label(t.not_kept);
            return;
        };
        let n = seq + 1;
        let title = fill(
            t.frame_title,
            &[
                &n,
                &r.conn,
                &style::arrow(r.direction),
                &opcode_name(cx.lang, r.header.opcode),
            ],
        );
        let message = r.message().and_then(|m| capture.message(m));
        if let Some(m) = r.message() {
            if self.compressed.as_ref().is_none_or(|(seq, _)| *seq != m) {
                self.compressed = Some((m, Compressed::of(capture, m)));
            }
        }
        let compressed = self
            .compressed
            .as_ref()
            .filter(|(seq, _)| Some(*seq) == r.message())
            .and_then(|(_, c)| c.as_ref());
        let mut jump = None;
        egui::ScrollArea::vertical()
            .id_salt("anatomy")
            .show(ui, |ui| {
                anatomy::show_frame(ui, cx.lang, n, &title, &shown.frame, shown.compressed);
                if let Some(c) = compressed {
                    deflate_view::message_section(ui, cx.lang, c);
                } else if shown.agreed && r.fragment == crate::protocol::Fragment::Whole {
                    ui.label(RichText::new(t.dv_uncompressed).small());
                }
                if let Some((twin, other)) = &shown.twin {
                    if relayed_ui(ui, cx.lang, &shown.frame, r.conn, *twin, other) {
                        jump = Some(*twin);
                    }
                }
                // A one-frame message says so in the fragment row already.
                let Some(m) = message.filter(|m| m.frames().len() > 1) else {
                    return;
                };
                // The frames of a fragmented message, grouped: each one a click away.
                const SHOWN: usize = 64;
                ui.add_space(4.0);
                ui.label(fill(
                    t.part_of,
                    &[&opcode_name(cx.lang, m.opcode), &m.len, &m.frames().len()],
                ));
                ui.horizontal_wrapped(|ui| {
                    for &f in m.frames().iter().take(SHOWN) {
                        if ui
                            .selectable_label(Some(f) == self.selected_frame, (f + 1).to_string())
                            .clicked()
                        {
                            jump = Some(f);
                        }
                    }
                    if m.frames().len() > SHOWN {
                        ui.label(fill(t.more_frames, &[&(m.frames().len() - SHOWN)]));
                    }
                });
                ui.label(t.reassembled);
                match &shown.message {
                    Some(p) => anatomy::payload_view(ui, cx.lang, p),
                    None => {
                        ui.label(t.not_kept);
                    }
                }
            });
        if jump.is_some() {
            self.selected_frame = jump;
        }
    }

    fn composer_ui(&mut self, ui: &mut egui::Ui, cx: &PanelCtx, out: &mut Outbox) {
        let t = cx.lang.t();
        ui.separator();
        let target = cx.open_target();
        ui.horizontal(|ui| {
            let l = ui.label(t.send);
            ui.add(egui::TextEdit::singleline(&mut self.compose).desired_width(260.0))
                .labelled_by(l.id);
            ui.add_enabled_ui(target.is_some(), |ui| {
                if let Some(id) = target {
                    if ui.button(t.send_text).clicked() {
                        out.send(Command::Text(id, self.compose.clone()));
                    }
                    if ui.button(t.send_binary).clicked() {
                        match crate::explain::parse_hex(&self.compose) {
                            Ok(b) => out.send(Command::Binary(id, b)),
                            Err(e) => out.request(Action::Status(fill(t.not_sent, &[&e]))),
                        }
                    }
                    if ui.button("ping").clicked() {
                        out.send(Command::Ping(id, self.compose.clone().into_bytes()));
                    }
                    if ui.button("pong").clicked() {
                        out.send(Command::Pong(id, self.compose.clone().into_bytes()));
                    }
                    ui.add(
                        egui::DragValue::new(&mut self.close_code)
                            .range(0..=4999)
                            .prefix(t.code),
                    );
                    if ui.button(t.close).on_hover_text(t.close_hover).clicked() {
                        out.send(Command::Close(id, self.close_code, self.compose.clone()));
                    }
                } else {
                    let _ = ui.button(t.send_text);
                }
            });
            if target.is_none() {
                ui.label(RichText::new(t.select_open).small());
            }
        });
    }
}

/// One row of the frame table: frame `i`, `r`, whose payload starts with `preview`.
fn frame_row(
    row: &mut egui_extras::TableRow,
    lang: Lang,
    (i, r): (Seq, &FrameRecord),
    preview: &[u8],
    selected: bool,
) {
    let t = lang.t();
    let h = &r.header;
    row.set_selected(selected);
    row.col(|ui| {
        let bad = !r.violations().is_empty();
        ui.label(
            RichText::new(format!("{}{}", i + 1, if bad { " !" } else { "" })).color(if bad {
                style::BAD
            } else {
                ui.visuals().text_color()
            }),
        );
    });
    row.col(|ui| {
        ui.monospace(format!("{:.6}", r.time().as_secs_f64()));
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
        let rsv: String = h.rsv.iter().map(|b| if *b { '1' } else { '0' }).collect();
        ui.colored_label(style::RSV, rsv);
    });
    row.col(|ui| {
        ui.colored_label(style::opcode(h.opcode), opcode_name(lang, h.opcode));
    });
    row.col(|ui| {
        ui.colored_label(style::MASK, if h.masked { "1" } else { "0" });
    });
    row.col(|ui| {
        let bits = h.len_encoding.bits();
        ui.colored_label(style::LENGTH, fill(t.bit_form, &[&h.payload_len, &bits]));
    });
    row.col(|ui| {
        // An empty payload and one that was not captured must not look alike.
        if r.payload_captured {
            // RSV1 (permessage-deflate): compressed bytes are no text, even when they happen
            // to be valid UTF-8.
            ui.label(crate::explain::preview(!h.rsv[0], preview, 80));
        } else {
            ui.label(RichText::new(t.payload_not_captured).weak());
        }
    });
}

/// The selected frame, rebuilt from the store, and its message's payload when it spans
/// several frames.
struct Shown {
    seq: Seq,
    frame: Frame,
    message: Option<bytes::Bytes>,
    /// Its connection agreed to permessage-deflate.
    agreed: bool,
    /// RSV1 says "compressed": agreed, set, on the first frame of a data message (RFC 7692 §6).
    compressed: bool,
    /// On a proxy leg: the same frame on the other leg, as relayed.
    twin: Option<(Seq, Frame)>,
}

impl Shown {
    fn of(capture: &Capture, seq: Seq) -> Option<Self> {
        let frame = capture.frame(seq)?;
        let message = capture
            .frame_record(seq)
            .and_then(FrameRecord::message)
            .and_then(|m| capture.message(m))
            .filter(|m| m.frames().len() > 1)
            .and_then(|m| capture.message_payload(m));
        let twin = capture
            .relayed_twin(seq)
            .and_then(|t| Some((t, capture.frame(t)?)));
        let agreed = capture
            .frame_record(seq)
            .and_then(|r| capture.connection(r.conn))
            .and_then(|c| c.handshake.as_deref())
            .and_then(crate::protocol::deflate::agreed)
            .is_some();
        let h = &frame.header;
        let compressed = agreed
            && h.rsv[0]
            && matches!(h.opcode, OpCode::Text | OpCode::Binary)
            && !frame
                .violations
                .iter()
                .any(|v| v.rule == crate::protocol::Rule::ReservedBitSet);
        Some(Self {
            seq,
            frame,
            message,
            agreed,
            compressed,
            twin,
        })
    }
}

/// The frame as relayed on the other leg of a proxied pair, both wire forms side by side, and why
/// they differ. True when the user asks to select the other one.
fn relayed_ui(
    ui: &mut egui::Ui,
    lang: Lang,
    this: &Frame,
    conn: crate::event::ConnId,
    twin: Seq,
    other: &Frame,
) -> bool {
    let t = lang.t();
    ui.add_space(6.0);
    ui.strong(t.relayed_title);
    ui.label(t.relayed_why);
    let wire = |f: &Frame| {
        let v = f.wire_prefix(f.header_bytes.len() + 8);
        let mut s = crate::explain::hex_spaced(&v);
        if f.header.payload_len > 8 {
            s.push_str(" …");
        }
        s
    };
    let key = |f: &Frame| {
        f.header.mask_key.map_or_else(
            || t.relayed_no_key.to_string(),
            |k| crate::protocol::accept::hex_lower(&k),
        )
    };
    let mut jump = false;
    egui::Grid::new("relayed")
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            ui.label("");
            ui.label(t.relayed_wire);
            ui.label(t.relayed_key);
            ui.end_row();
            ui.label(format!("#{conn}"));
            ui.monospace(wire(this));
            ui.monospace(key(this));
            ui.end_row();
            jump = ui.link(fill(t.relayed_other, &[&(twin + 1)])).clicked();
            ui.monospace(wire(other));
            ui.monospace(key(other));
            ui.end_row();
        });
    jump
}

/// A connection's entry in the list: number and peer, path and state, counts, an HTTP answer.
pub(super) fn conn_text(lang: Lang, c: &crate::capture::ConnRecord) -> String {
    let (head, tag, rest) = conn_parts(lang, c);
    format!("{head}{}{rest}", tag.unwrap_or_default())
}

/// [`conn_text`] with a client connection's tag in its colour.
fn conn_label(ui: &egui::Ui, lang: Lang, c: &crate::capture::ConnRecord) -> egui::WidgetText {
    let (head, tag, rest) = conn_parts(lang, c);
    let Some(tag) = tag else {
        return format!("{head}{rest}").into();
    };
    use egui::text::{LayoutJob, TextFormat};
    let font = egui::TextStyle::Body.resolve(ui.style());
    // The placeholder colour is the label's own (it follows selection and theme).
    let plain = TextFormat::simple(font.clone(), egui::Color32::PLACEHOLDER);
    let mut job = LayoutJob::default();
    job.append(&head, 0.0, plain.clone());
    job.append(&tag, 0.0, TextFormat::simple(font, style::CLIENT));
    job.append(&rest, 0.0, plain);
    job.into()
}

/// The pieces of [`conn_text`]: `#N `, the client tag (with the server it went to) when
/// wsscope's client opened it, and the rest.
fn conn_parts(lang: Lang, c: &crate::capture::ConnRecord) -> (String, Option<String>, String) {
    let t = lang.t();
    let state = match c.state {
        ConnState::Handshaking => t.handshaking.to_string(),
        ConnState::Open => t.open.to_string(),
        ConnState::Closed => match &c.close {
            Some(cl) => format!(
                "{} {}{}",
                t.closed,
                cl.code.map_or(String::new(), |c| c.code().to_string()),
                if cl.clean { "" } else { t.unclean }
            ),
            None => t.closed.to_string(),
        },
    };
    // Our client's peer is the server; everyone else's is the client that came.
    let (tag, peer) = match c.endpoint {
        Some(crate::event::Endpoint::Client) => {
            let server = c.server.map_or("?".to_string(), |p| p.to_string());
            (Some(fill(t.client_to, &[&server])), String::new())
        }
        Some(crate::event::Endpoint::ProxyToServer) => {
            let server = c.server.map_or("?".to_string(), |p| p.to_string());
            let peer = c.relay.map_or("?".to_string(), |p| p.to_string());
            (
                Some(fill(t.proxy_upstream_leg, &[&server, &peer])),
                String::new(),
            )
        }
        Some(crate::event::Endpoint::ProxyToClient) => {
            let client = c.client.map_or("?".to_string(), |p| p.to_string());
            let peer = c.relay.map_or("?".to_string(), |p| p.to_string());
            (
                Some(fill(t.proxy_client_leg, &[&client, &peer])),
                String::new(),
            )
        }
        _ => (None, c.client.map_or("?".to_string(), |p| p.to_string())),
    };
    let tls = if c.tls.is_some() { " · TLS" } else { "" };
    let path = c.path().unwrap_or("-");
    let proto = c
        .subprotocol()
        .map(|p| format!(" [{p}]"))
        .unwrap_or_default();
    let counts = fill(
        t.conn_counts,
        &[&c.frames[0], &c.frames[1], &c.bytes[0], &c.bytes[1]],
    );
    let http = c
        .http
        .as_ref()
        .map(|h| {
            let why = crate::i18n::http_reason(lang, &h.outcome, h.request.as_ref());
            format!("\nHTTP {}: {why}", h.status)
        })
        .unwrap_or_default();
    (
        format!("#{} ", c.id),
        tag,
        format!("{peer}{tls}\n{path}{proto} — {state}\n{counts}{http}"),
    )
}
