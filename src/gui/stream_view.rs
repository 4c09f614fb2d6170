//! TCP vs frames: every TCP read or write of one connection, its bytes split by the handshake
//! and the frames they belong to. This is the seed post's point made visible: TCP has no
//! message boundaries ("sticky" and "split" packets); the frame header's length restores them.

use eframe::egui::{self, Color32, RichText};

use super::i18n::fill;
use super::panel::{Action, Outbox, PanelCtx};
use super::style;
use crate::capture::{Capture, ConnRecord, Seq};
use crate::event::{ConnId, Direction};

/// One part of a call: the handshake, a frame (whole or a piece), or bytes not yet framed.
enum Piece {
    Http(u64),
    Frame { index: Seq, here: u64, total: u64 },
    Rest(u64),
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Http(n) | Piece::Rest(n) => *n,
            Piece::Frame { here, .. } => *here,
        }
    }
}

/// What the call with stream range `range` carried, in order.
fn pieces(
    c: &ConnRecord,
    capture: &Capture,
    list: &[Seq],
    d: Direction,
    range: std::ops::Range<u64>,
) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut pos = range.start;
    let ws = c.ws_start[d.index()];
    let http_end = ws.unwrap_or(u64::MAX).min(range.end);
    if pos < http_end {
        out.push(Piece::Http(http_end - pos));
        pos = http_end;
    }
    let span = |i: Seq| {
        capture
            .frame_record(i)
            .and_then(|r| c.frame_span(r))
            .unwrap_or(0..0)
    };
    let first = list.partition_point(|&i| span(i).end <= pos);
    for &i in list.iter().skip(first) {
        let s = span(i);
        if s.start >= range.end {
            break;
        }
        let from = s.start.max(pos);
        let to = s.end.min(range.end);
        if to > from {
            out.push(Piece::Frame {
                index: i,
                here: to - from,
                total: s.end - s.start,
            });
            pos = to;
        }
    }
    if pos < range.end {
        out.push(Piece::Rest(range.end - pos));
    }
    out
}

/// Alternating colours so neighbouring frames stand apart.
fn frame_color(index: Seq) -> Color32 {
    if index % 2 == 0 {
        style::PAYLOAD
    } else {
        style::OPCODE
    }
}

/// What a list of one connection's frames in one direction was made from.
type FramesKey = (ConnId, Direction, Seq, Seq);

/// The TCP vs frames tab; it shows the connection selected in the Live tab (or the newest).
pub(super) struct StreamPanel {
    /// The direction shown.
    dir: Direction,
    /// The frames of the connection and direction shown, listed once per state of the capture
    /// (connection, direction, oldest frame kept, frames seen) rather than on every repaint.
    frames: (FramesKey, Vec<Seq>),
}

impl Default for StreamPanel {
    fn default() -> Self {
        Self {
            dir: Direction::ClientToServer,
            frames: ((0, Direction::ClientToServer, 0, 0), Vec::new()),
        }
    }
}

impl StreamPanel {
    /// Draws the tab; a click on a frame asks the Live tab to show it.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelCtx, out: &mut Outbox) {
        let Self { dir, frames } = self;
        let t = cx.lang.t();
        ui.horizontal_wrapped(|ui| {
            ui.label(t.stream_intro);
            ui.hyperlink_to(
                "(§5.2)",
                "https://www.rfc-editor.org/rfc/rfc6455#section-5.2",
            );
        });
        let conn = cx
            .selected_conn
            .and_then(|id| cx.capture.connection(id))
            .or_else(|| cx.capture.connections.last());
        let Some(c) = conn else {
            ui.label(RichText::new(t.stream_rows).small());
            ui.label(t.stream_none);
            return;
        };
        // Our client writes what goes to the server and reads what comes back.
        let rows = if c.endpoint == Some(crate::event::Endpoint::Client) {
            t.stream_rows_client
        } else {
            t.stream_rows
        };
        ui.label(RichText::new(rows).small());
        if c.tls.is_some() {
            ui.colored_label(style::KEY, t.tls_note);
        }
        let id = c.id;
        ui.horizontal(|ui| {
            ui.strong(fill(t.connection_n, &[&id]));
            for d in [Direction::ClientToServer, Direction::ServerToClient] {
                ui.selectable_value(dir, d, style::arrow(d));
            }
        });
        let d = *dir;
        let key = (id, d, cx.capture.first_frame(), cx.capture.frames_seen());
        if frames.0 != key {
            *frames = (key, cx.capture.frames_in(c, d));
        }
        let list = &frames.1;
        let stats = &c.stream[d.index()];
        ui.label(fill(
            t.stream_summary,
            &[
                &c.tcp_of(d).len(),
                &list.len(),
                &stats.sticky_calls,
                &stats.split_frames,
            ],
        ));
        ui.separator();
        let mut jump = None;
        let calls = c.tcp_of(d);
        let row_h = ui.spacing().interact_size.y + 6.0;
        egui::ScrollArea::vertical()
            .id_salt(("stream", id, d.index()))
            .auto_shrink([false, false])
            .show_rows(ui, row_h, calls.len(), |ui, rows| {
                for row in rows {
                    let Some(r) = calls.get(row).and_then(|&i| cx.capture.tcp(i)) else {
                        continue;
                    };
                    let parts = pieces(c, cx.capture, list, d, r.range());
                    ui.horizontal(|ui| {
                        ui.monospace(format!("{:.6}", r.time().as_secs_f64()));
                        // A fixed width keeps the bars in one column.
                        ui.add_sized(
                            [150.0, row_h - 6.0],
                            egui::Label::new(
                                RichText::new(fill(t.stream_call, &[&r.len(), &r.offset]))
                                    .color(style::direction(d)),
                            ),
                        );
                        bar(ui, &parts, r.len() as u64);
                        if parts.len() > 1 {
                            ui.colored_label(style::BAD, t.sticky);
                        }
                        for p in &parts {
                            match p {
                                Piece::Http(n) => {
                                    ui.label(
                                        RichText::new(fill(t.stream_http, &[n])).color(style::RSV),
                                    );
                                }
                                Piece::Rest(n) => {
                                    ui.label(RichText::new(fill(t.stream_rest, &[n])).weak());
                                }
                                Piece::Frame { index, here, total } => {
                                    let text = if here == total {
                                        fill(t.stream_frame_whole, &[&(index + 1), total])
                                    } else {
                                        fill(t.stream_frame_part, &[&(index + 1), here, total])
                                    };
                                    let b = egui::Button::new(
                                        RichText::new(text).color(frame_color(*index)),
                                    )
                                    .small();
                                    if ui.add(b).clicked() {
                                        jump = Some(*index);
                                    }
                                }
                            }
                        }
                    });
                }
            });
        if let Some(frame) = jump {
            out.request(Action::ShowFrame { conn: id, frame });
        }
    }
}

/// The call as a bar of fixed width, one segment per piece, in proportion to its bytes.
fn bar(ui: &mut egui::Ui, parts: &[Piece], len: u64) {
    let size = egui::vec2(220.0, ui.spacing().interact_size.y * 0.6);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter();
    painter.rect_filled(rect, 2.0, ui.visuals().faint_bg_color);
    let mut x = rect.left();
    for p in parts {
        let w = if len == 0 {
            0.0
        } else {
            rect.width() * (p.len() as f32 / len as f32)
        };
        let color = match p {
            Piece::Http(_) => style::RSV,
            Piece::Rest(_) => ui.visuals().weak_text_color(),
            Piece::Frame { index, .. } => frame_color(*index),
        };
        let seg = egui::Rect::from_min_max(
            egui::pos2(x, rect.top()),
            egui::pos2((x + w).min(rect.right()), rect.bottom()),
        );
        painter.rect_filled(seg.shrink2(egui::vec2(0.5, 0.0)), 1.0, color);
        x += w;
    }
}
