//! The inspector window: the server runs on background threads, its events are drained into the
//! capture store in `logic`, and the panels draw from the store in `ui`. Panels own only view
//! state (selection, pause, text being typed).

mod anatomy;
pub mod fonts;
mod handshake_view;
pub use crate::i18n;
mod live;
mod playground;
mod server_window;
mod stream_view;
mod style;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use eframe::egui::{self, RichText};

use crate::capture::{Capture, ConnState, NoticeKind};
use crate::event::{Command, ConnId, Direction, ReplyMode};
use crate::protocol::{AcceptDerivation, Role};
use crate::server::{self, ServerConfig, StartError, Supervisor};
use i18n::{fill, Lang};

/// The RFC's example key (§1.3), prefilled so the first thing a learner sees is the known answer.
pub const EXAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The RFC's masked "Hello" (§5.7), prefilled in the decoder.
pub const EXAMPLE_FRAME: &str = "81 85 37 fa 21 3d 7f 9f 4d 51 58";
/// Payload bytes the capture keeps before evicting the oldest.
pub const CAPTURE_BUDGET: usize = 512 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Live,
    Handshake,
    Accept,
    Decode,
    Build,
    Stream,
}

/// What the window remembers between runs (server options come from the command line).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Interface language.
    pub lang: Lang,
    /// egui zoom factor (1.0 = normal; the presentation preset is 1.6).
    pub zoom: f32,
    /// Dark theme.
    pub dark: bool,
    /// Follow the newest frame.
    pub follow: bool,
    /// The accept calculator's key.
    pub key: String,
    /// The decoder's hex.
    pub hex: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lang: Lang::En,
            zoom: 1.0,
            dark: true,
            follow: true,
            key: EXAMPLE_KEY.to_string(),
            hex: EXAMPLE_FRAME.to_string(),
        }
    }
}

/// The eframe storage key of [`Settings`].
const SETTINGS_KEY: &str = "wsscope-settings";

/// Grace period for the closing handshakes when the listener restarts.
const RESTART_GRACE: Duration = Duration::from_secs(1);

/// The application: the server's lifecycle, the capture, and view state.
pub struct WsscopeApp {
    /// The server, its restarts and its events (stopped when the window closes).
    server: Supervisor,
    server_error: Option<String>,
    /// The options the server was (or is to be) started with, edited in the server window.
    config: ServerConfig,
    server_form: server_window::Form,
    egui_ctx: Option<egui::Context>,
    capture: Capture,
    tab: Tab,
    selected_conn: Option<ConnId>,
    selected_frame: Option<usize>,
    paused_at: Option<usize>,
    compose: String,
    reply: ReplyMode,
    fixed_text: String,
    auto_pong: bool,
    status: String,
    /// Which end sent the decoder tab's bytes (`None`: judged from the MASK bit).
    sender: Option<Role>,
    close_code: u16,
    settings: Settings,
    filter_text: String,
    filter: live::FrameFilter,
    decoded: Option<DecodeCache>,
    builder: playground::Builder,
    /// The direction the TCP vs frames tab shows.
    stream_dir: Direction,
}

/// The decoder tab's last input and what it decoded to.
type DecodeCache = ((String, Option<Role>), Result<playground::Decoding, String>);

impl WsscopeApp {
    /// The window's state with no server (the playground still works), with default settings
    /// and the CJK fonts installed in `ctx`.
    pub fn offline(ctx: &egui::Context) -> Self {
        Self::with_settings(ctx, Settings::default())
    }

    /// The window's state with no server and these settings.
    pub fn with_settings(ctx: &egui::Context, settings: Settings) -> Self {
        fonts::install(ctx, fonts::Sources::BundledAndSystem);
        let config = ServerConfig::default();
        // New events request a repaint once until the window has drained them.
        let repaint = ctx.clone();
        let app = Self {
            server: Supervisor::new(Some(Arc::new(move || repaint.request_repaint()))),
            server_error: None,
            server_form: server_window::Form::from_config(&config),
            config,
            egui_ctx: Some(ctx.clone()),
            capture: Capture::new(CAPTURE_BUDGET),
            tab: Tab::Accept,
            selected_conn: None,
            selected_frame: None,
            paused_at: None,
            compose: "hello".into(),
            reply: ReplyMode::Echo,
            fixed_text: "thank you!!!".into(),
            auto_pong: true,
            status: String::new(),
            sender: None,
            close_code: 1000,
            settings,
            filter_text: String::new(),
            filter: live::FrameFilter::default(),
            decoded: None,
            builder: playground::Builder::default(),
            stream_dir: Direction::ClientToServer,
        };
        app.apply_view_settings(ctx);
        app
    }

    /// Starts the server with `config`; new events request a repaint of `ctx`.
    pub fn with_server(config: ServerConfig, ctx: &egui::Context) -> Self {
        Self::with_server_and_settings(config, ctx, Settings::default())
    }

    /// Starts the server with `config` and the window with `settings` (as saved last time).
    pub fn with_server_and_settings(
        config: ServerConfig,
        ctx: &egui::Context,
        settings: Settings,
    ) -> Self {
        let mut app = Self::with_settings(ctx, settings);
        app.tab = Tab::Live;
        app.start_server(config);
        app
    }

    /// Takes `config` as the server's options (the form and the top bar follow it).
    fn adopt_config(&mut self, config: ServerConfig) -> ServerConfig {
        self.reply = config.reply.clone();
        if let ReplyMode::Fixed(t) = &config.reply {
            self.fixed_text = t.clone();
        }
        self.auto_pong = config.auto_pong;
        let open = self.server_form.open;
        self.server_form = server_window::Form::from_config(&config);
        self.server_form.open = open;
        self.config = config.clone();
        config
    }

    /// Starts listening with `config` (no server is running).
    fn start_server(&mut self, config: ServerConfig) {
        let config = self.adopt_config(config);
        match self.server.start(config) {
            Ok(_) => self.server_error = None,
            Err(e) => self.server_error = Some(self.start_error(&e)),
        }
    }

    /// `e` for the top bar, in the window's language.
    fn start_error(&self, e: &StartError) -> String {
        let t = self.settings.lang.t();
        match e {
            StartError::Listen { addr, source } => fill(t.cannot_listen, &[addr, source]),
            StartError::Busy => t.restart_busy.to_string(),
            StartError::Running | StartError::Panicked => t.server_not_running.to_string(),
        }
    }

    /// Restarts the listener with `config`; connection numbers and times continue, the window
    /// never blocks (see [`Supervisor::restart`]).
    fn restart_server(&mut self, config: ServerConfig) {
        if self.server.restarting() {
            // One restart at a time: a second one would orphan the server the first starts.
            self.status = self.settings.lang.t().restart_busy.to_string();
            return;
        }
        let config = self.adopt_config(config);
        self.server_error = match self.server.restart(config, RESTART_GRACE) {
            Ok(()) => None,
            Err(e) => Some(self.start_error(&e)),
        };
    }

    /// Picks up the server a restart started, once it has.
    fn poll_restart(&mut self) {
        match self.server.poll_restart() {
            None => {}
            Some(Ok(addr)) => self.status = fill(self.settings.lang.t().restarted, &[&addr]),
            Some(Err(e)) => self.server_error = Some(self.start_error(&e)),
        }
    }

    /// The status bar's message.
    pub fn status(&self) -> &str {
        &self.status
    }

    /// Whether a restart is still under way (tests wait for it).
    pub fn restarting(&self) -> bool {
        self.server.restarting()
    }

    /// Restarts the listener on `port` with the current options (what the server window's
    /// button does, with only the port changed).
    pub fn restart_on_port(&mut self, port: u16) {
        let mut c = self.config.clone();
        c.port = port;
        self.restart_server(c);
    }

    /// The settings to save.
    pub fn settings(&self) -> Settings {
        let mut s = self.settings.clone();
        if let Some(ctx) = &self.egui_ctx {
            s.zoom = ctx.zoom_factor();
            s.dark = ctx.theme() == egui::Theme::Dark;
        }
        s
    }

    fn apply_view_settings(&self, ctx: &egui::Context) {
        ctx.set_zoom_factor(self.settings.zoom.clamp(0.5, 3.0));
        ctx.set_theme(if self.settings.dark {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });
    }

    /// The interface language.
    pub fn lang(&self) -> Lang {
        self.settings.lang
    }

    /// The selected connection when it is open (the composer's and builder's target).
    fn open_target(&self) -> Option<ConnId> {
        self.selected_conn.filter(|id| {
            self.capture
                .connection(*id)
                .is_some_and(|c| c.state == ConnState::Open)
        })
    }

    /// The capture store (for tests and exports).
    pub fn capture(&self) -> &Capture {
        &self.capture
    }

    /// The capture store, to load recorded events into (benches, imports).
    pub fn capture_mut(&mut self) -> &mut Capture {
        &mut self.capture
    }

    /// Shows the live view (connections, frames, anatomy).
    pub fn show_live(&mut self) {
        self.tab = Tab::Live;
    }

    /// The server's address, when it is listening.
    pub fn server_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.local_addr()
    }

    fn command(&mut self, c: Command) {
        if !self.server.command(c) {
            self.status = self.settings.lang.t().server_not_running.into();
        }
    }

    /// Moves queued events into the capture, for at most a few milliseconds per frame so the
    /// window stays responsive under load (the rest waits in the channel: nothing is lost).
    /// Whether to come back soon.
    fn drain(&mut self) -> bool {
        let capture = &mut self.capture;
        let drained = self.server.drain(Duration::from_millis(8), |batch| {
            for e in batch {
                capture.ingest(e);
            }
        });
        // A stopped server's last events may still come: keep looking until its channel closes.
        drained.more || self.server.retiring()
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        let t = self.settings.lang.t();
        ui.horizontal_wrapped(|ui| {
            ui.strong("wsscope");
            ui.separator();
            match (&self.capture.listening, &self.server_error) {
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
                    if let Some(w) = i18n::listening_warning(self.settings.lang, *addr) {
                        ui.colored_label(style::BAD, w);
                    }
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
                self.command(Command::SetReplyMode(self.reply.clone()));
            }
            if ui
                .checkbox(&mut self.auto_pong, t.auto_pong)
                .on_hover_text(t.auto_pong_hover)
                .changed()
            {
                self.config.auto_pong = self.auto_pong;
                self.command(Command::SetAutoPong(self.auto_pong));
            }
            ui.separator();
            ui.label(fill(t.open_count, &[&self.capture.open_connections()]));
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
                .small_button(self.settings.lang.other_name())
                .on_hover_text(format!(
                    "{} / {}",
                    i18n::EN.language_hover,
                    i18n::ZH.language_hover
                ))
                .clicked()
            {
                self.settings.lang = self.settings.lang.other();
            }
        });
        if let (Some(addr), true) = (&self.capture.listening, self.server.local_addr().is_some()) {
            ui.label(RichText::new(fill(t.try_it, &[&server::reachable(*addr)])).small());
        }
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.tab, Tab::Live, t.tab_live);
            ui.selectable_value(&mut self.tab, Tab::Handshake, t.tab_handshake);
            ui.selectable_value(&mut self.tab, Tab::Stream, t.tab_stream);
            ui.selectable_value(&mut self.tab, Tab::Accept, t.tab_accept);
            ui.selectable_value(&mut self.tab, Tab::Decode, t.tab_decode);
            ui.selectable_value(&mut self.tab, Tab::Build, t.tab_build);
        });
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        let t = self.settings.lang.t();
        ui.horizontal_wrapped(|ui| {
            let c = &self.capture;
            let mib = format!("{:.1}", c.payload_bytes as f64 / (1 << 20) as f64);
            ui.label(fill(
                t.status_counts,
                &[
                    &c.frames.len(),
                    &c.messages.len(),
                    &c.connections.len(),
                    &mib,
                ],
            ));
            if c.evicted_frames > 0 || c.evicted_tcp_bytes > 0 {
                ui.colored_label(
                    style::BAD,
                    fill(
                        t.evicted,
                        &[&c.evicted_frames, &c.evicted_tcp_bytes, &(c.budget >> 20)],
                    ),
                );
            }
            if let Some(n) = c.notices.last() {
                let lang = self.settings.lang;
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
            if !self.status.is_empty() {
                ui.label(&self.status);
            }
        });
    }

    fn handshake_tab(&mut self, ui: &mut egui::Ui) {
        let t = self.settings.lang.t();
        let lang = self.settings.lang;
        let conn = self
            .selected_conn
            .and_then(|id| self.capture.connection(id))
            .filter(|c| c.handshake.is_some())
            .or_else(|| {
                self.capture
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

    fn accept_tab(&mut self, ui: &mut egui::Ui) {
        let t = self.settings.lang.t();
        ui.label(t.accept_intro);
        ui.horizontal(|ui| {
            let l = ui.label("Sec-WebSocket-Key:");
            ui.add(
                egui::TextEdit::singleline(&mut self.settings.key)
                    .font(egui::TextStyle::Monospace)
                    .desired_width(360.0),
            )
            .labelled_by(l.id);
        });
        ui.separator();
        let lang = self.settings.lang;
        egui::ScrollArea::vertical()
            .id_salt("accept")
            .show(ui, |ui| {
                if self.settings.key.trim().is_empty() {
                    ui.label(t.type_a_key);
                } else {
                    let d = AcceptDerivation::new(&self.settings.key);
                    handshake_view::derivation(ui, lang, &d);
                    ui.label(format!("Sec-WebSocket-Accept: {}", d.accept));
                }
            });
    }
}

impl eframe::App for WsscopeApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.poll_restart();
        if self.server.restarting() {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        if self.drain() {
            ctx.request_repaint();
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::top("top").show(ui, |ui| self.top_bar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        self.server_window(ui);
        if self.tab == Tab::Live {
            egui::Panel::left("connections")
                .resizable(true)
                .default_size(230.0)
                .show(ui, |ui| self.connections_panel(ui));
            egui::Panel::right("anatomy")
                .resizable(true)
                .default_size(500.0)
                .show(ui, |ui| self.anatomy_panel(ui));
        }
        egui::CentralPanel::default().show(ui, |ui| match self.tab {
            Tab::Live => self.frames_table(ui),
            Tab::Handshake => self.handshake_tab(ui),
            Tab::Accept => self.accept_tab(ui),
            Tab::Decode => self.decode_tab(ui),
            Tab::Build => self.build_tab(ui),
            Tab::Stream => self.stream_tab(ui),
        });
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.settings());
    }
}

/// Whether a window can open here.
pub fn has_display() -> bool {
    if cfg!(target_os = "linux") {
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    } else {
        true
    }
}

/// Opens the window with the server listening per `config`. Returns the process exit status.
pub fn run(config: ServerConfig) -> ExitCode {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1500.0, 900.0])
            .with_title("wsscope"),
        ..Default::default()
    };
    match eframe::run_native(
        "wsscope",
        options,
        Box::new(move |cc| {
            // Unreadable or old settings fall back to the defaults: they are only preferences.
            let settings = cc
                .storage
                .and_then(|s| eframe::get_value::<Settings>(s, SETTINGS_KEY))
                .unwrap_or_default();
            Ok(Box::new(WsscopeApp::with_server_and_settings(
                config,
                &cc.egui_ctx,
                settings,
            )))
        }),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsscope: the window could not open: {e}");
            ExitCode::from(1)
        }
    }
}
