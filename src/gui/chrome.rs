//! The window's chrome, drawn by the app itself rather than a panel: the top bar (addresses,
//! reply mode, classroom controls, language, tabs) and the status bar. They show and steer
//! the server's lifecycle and the whole window, which is the app's own state, not a view of
//! the capture.

use eframe::egui::{self, RichText};

use super::i18n::{self, fill};
use super::panel::Outbox;
use super::{style, Tab, WsscopeApp};
use crate::capture::NoticeKind;
use crate::event::{Command, ReplyMode};
use crate::server;

impl WsscopeApp {
    pub(super) fn top_bar(&mut self, ui: &mut egui::Ui, out: &mut Outbox) {
        let t = self.lang.t();
        ui.horizontal_wrapped(|ui| {
            ui.strong("wsscope");
            ui.separator();
            // Copied out: the store's lock is not held while the bar draws.
            let listening = self.server.capture().listening;
            match (&listening, &self.server_error) {
                (_, Some(e)) => {
                    ui.colored_label(style::BAD, e);
                }
                (Some(addr), None) if self.server.local_addr().is_some() => {
                    let reach = server::reachable(*addr);
                    let url = format!("ws://{reach}/");
                    ui.monospace(&url);
                    if ui.small_button(t.copy).clicked() {
                        ui.ctx().copy_text(url);
                    }
                    let page = format!("http://{reach}/");
                    ui.hyperlink_to(t.demo_page, &page);
                    if ui
                        .small_button(format!("{} ", t.copy))
                        .on_hover_text(t.copy_page_hover)
                        .clicked()
                    {
                        ui.ctx().copy_text(page);
                    }
                    if let Some(w) = i18n::listening_warning(self.lang, *addr) {
                        ui.colored_label(style::BAD, w);
                    }
                    // Which web pages may connect: always in sight, since a LAN bind makes
                    // it matter.
                    ui.label(fill(t.origin_policy, &[&self.config.allowed_origins]))
                        .on_hover_text(t.origin_policy_hover);
                }
                _ => {
                    ui.label(t.server_not_running);
                }
            }
            if ui
                .small_button(t.server_settings)
                .on_hover_text(t.server_settings_hover)
                .clicked()
            {
                self.server_form.open = !self.server_form.open;
            }
            ui.separator();
            ui.label(t.reply).on_hover_text(t.reply_hover);
            let before = self.reply.clone();
            ui.selectable_value(&mut self.reply, ReplyMode::Echo, t.echo);
            let fixed = ReplyMode::Fixed(self.fixed_text.clone());
            if ui
                .selectable_label(matches!(self.reply, ReplyMode::Fixed(_)), t.fixed)
                .clicked()
            {
                self.reply = fixed;
            }
            if matches!(self.reply, ReplyMode::Fixed(_)) {
                let r = ui.add(
                    egui::TextEdit::singleline(&mut self.fixed_text)
                        .desired_width(110.0)
                        .hint_text(t.reply_hint),
                );
                if r.changed() {
                    self.reply = ReplyMode::Fixed(self.fixed_text.clone());
                }
            }
            ui.selectable_value(&mut self.reply, ReplyMode::Manual, t.manual);
            if self.reply != before {
                self.config.reply = self.reply.clone();
                out.send(Command::SetReplyMode(self.reply.clone()));
            }
            if ui
                .checkbox(&mut self.auto_pong, t.auto_pong)
                .on_hover_text(t.auto_pong_hover)
                .changed()
            {
                self.config.auto_pong = self.auto_pong;
                out.send(Command::SetAutoPong(self.auto_pong));
            }
            ui.separator();
            ui.label(fill(
                t.open_count,
                &[&self.server.capture().open_connections()],
            ));
            ui.separator();
            self.record_button(ui);
            self.export_menu(ui);
            ui.separator();
            // Classroom controls: the projector needs large text; Ctrl +/- works too.
            let zoom = ui.ctx().zoom_factor();
            if ui.small_button("A-").on_hover_text(t.smaller).clicked() {
                ui.ctx().set_zoom_factor((zoom - 0.1).max(0.5));
            }
            if ui.small_button("A+").on_hover_text(t.larger).clicked() {
                ui.ctx().set_zoom_factor((zoom + 0.1).min(3.0));
            }
            if ui
                .small_button(t.present)
                .on_hover_text(t.present_hover)
                .clicked()
            {
                ui.ctx().set_zoom_factor(if zoom < 1.4 { 1.6 } else { 1.0 });
            }
            let dark = ui.ctx().theme() == egui::Theme::Dark;
            if ui
                .small_button(if dark { t.light } else { t.dark })
                .clicked()
            {
                ui.ctx().set_theme(if dark {
                    egui::Theme::Light
                } else {
                    egui::Theme::Dark
                });
            }
            if ui
                .small_button(self.lang.other_name())
                .on_hover_text(format!(
                    "{} / {}",
                    i18n::EN.language_hover,
                    i18n::ZH.language_hover
                ))
                .clicked()
            {
                self.lang = self.lang.other();
            }
        });
        let listening = self.server.capture().listening;
        if let (Some(addr), true) = (listening, self.server.local_addr().is_some()) {
            ui.label(RichText::new(fill(t.try_it, &[&server::reachable(addr)])).small());
        }
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.tab, Tab::Live, t.tab_live);
            ui.selectable_value(&mut self.tab, Tab::Connect, t.tab_connect);
            ui.selectable_value(&mut self.tab, Tab::Handshake, t.tab_handshake);
            ui.selectable_value(&mut self.tab, Tab::Stream, t.tab_stream);
            ui.selectable_value(&mut self.tab, Tab::Accept, t.tab_accept);
            ui.selectable_value(&mut self.tab, Tab::Decode, t.tab_decode);
            ui.selectable_value(&mut self.tab, Tab::Build, t.tab_build);
        });
    }

    pub(super) fn status_bar(&self, ui: &mut egui::Ui) {
        let t = self.lang.t();
        ui.horizontal_wrapped(|ui| {
            let c = self.server.capture();
            let mib = |b: usize| format!("{:.1}", b as f64 / (1 << 20) as f64);
            ui.label(fill(
                t.status_counts,
                &[
                    &c.frame_count(),
                    &c.message_count(),
                    &c.connections.len(),
                    &mib(c.memory()),
                    &mib(c.budget),
                ],
            ));
            if let Some(sq) = c.squeezed {
                ui.colored_label(
                    style::BAD,
                    fill(
                        t.squeezed,
                        &[
                            &mib(sq.to),
                            &mib(c.budget),
                            &mib(usize::try_from(sq.resident).unwrap_or(usize::MAX)),
                            &mib(usize::try_from(super::ingest::OVERHEAD).unwrap_or(usize::MAX)),
                        ],
                    ),
                );
            }
            if let Some((every, cost)) = self.server.spaced_repaints() {
                ui.label(
                    RichText::new(fill(
                        t.spaced,
                        &[&format!("{:.1}", every.as_secs_f64()), &cost.as_millis()],
                    ))
                    .small(),
                );
            }
            let d = &c.dropped;
            if let Some(since) = d.since {
                ui.colored_label(
                    style::BAD,
                    fill(
                        t.evicted,
                        &[
                            &d.frames,
                            &d.messages,
                            &d.tcp_calls,
                            &d.connections,
                            &format!("{:.3}", since.as_secs_f64()),
                        ],
                    ),
                );
            }
            if let Some(n) = c.notices.back() {
                let lang = self.lang;
                let (what, text) = match &n.what {
                    NoticeKind::Limit {
                        kind,
                        limit,
                        actual,
                    } => (
                        t.notice_limit,
                        i18n::limit_text(lang, *kind, *limit, *actual),
                    ),
                    NoticeKind::Error(e) => (t.notice_error, i18n::error_text(lang, e)),
                };
                ui.colored_label(style::BAD, format!("#{} {what}: {text}", n.conn));
            }
            // Let go before the recording's lock: the ingest thread takes that one first, then
            // the store (a file being opened, waiting to write the store, would block us both).
            drop(c);
            self.file_status(ui);
            self.export_status(ui);
            if !self.status.is_empty() {
                ui.label(&self.status);
            }
        });
    }

    /// Starts or stops recording to a new file named by the time.
    fn record_button(&mut self, ui: &mut egui::Ui) {
        let t = self.lang.t();
        if self.server.recording().active() {
            if ui.button(t.stop_recording).clicked() {
                self.server.stop_recording();
            }
        } else if ui.button(t.record).on_hover_text(t.record_hover).clicked() {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let path = std::path::PathBuf::from(format!("wsscope-{secs}.jsonl"));
            if let Err(e) = self.server.start_recording(&path) {
                self.status = fill(t.record_failed, &[&format!("{}: {e}", path.display())]);
            }
        }
    }

    /// The recording and the file being opened, for the status bar.
    fn file_status(&self, ui: &mut egui::Ui) {
        let t = self.lang.t();
        {
            let r = self.server.recording();
            let path = r.path.display();
            if let Some(e) = &r.error {
                ui.colored_label(
                    style::BAD,
                    fill(t.record_failed, &[&format!("{path}: {e}")]),
                );
            } else if r.active() {
                ui.colored_label(style::BAD, fill(t.recording_n, &[&r.events, &path]));
            } else if r.events > 0 {
                ui.label(fill(t.recorded_n, &[&r.events, &path]));
            }
        }
        if let Some(l) = self.server.loading() {
            let path = l.path.display();
            match (&l.error, l.done) {
                (Some(e), _) => {
                    ui.colored_label(style::BAD, fill(t.open_failed, &[&path, &l.events, e]));
                }
                (None, true) => {
                    ui.label(fill(t.opened_n, &[&path, &l.events]));
                }
                (None, false) => {
                    ui.label(fill(t.opening_n, &[&path, &l.events]));
                }
            }
        }
    }
}
