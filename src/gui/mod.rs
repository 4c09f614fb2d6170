//! The inspector window: the server runs on background threads, its events are drained into the
//! capture store in `logic`, and the panels draw from the store in `ui`. One struct per tab
//! owns that tab's view state (selection, pause, text being typed); it reads the store through a
//! `PanelCtx` and pushes commands into an `Outbox`, which the app sends once
//! the pass is over. The top bar, status bar and server window (`chrome.rs`, `server_window.rs`)
//! stay on the app: they steer the server's lifecycle and the window itself.

mod anatomy;
mod chrome;
mod connect_panel;
mod deflate_view;
mod export_menu;
pub mod fonts;
mod handshake_panel;
mod handshake_view;
mod ingest;
pub use crate::i18n;
pub use export_menu::{ExportFormat, ExportJob, Exported};
mod live;
mod paint_meter;
mod panel;
mod playground;
mod server_window;
mod stream_view;
mod style;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eframe::egui;

use crate::capture::Capture;
use crate::event::{Command, ReplyMode};
use crate::server::{ServerConfig, StartError};
use connect_panel::ConnectPanel;
use handshake_panel::{AcceptPanel, HandshakePanel};
use i18n::{fill, Lang};
use ingest::Engine;
use live::LivePanel;
use panel::{Action, Outbox, PanelCtx};
use playground::{BuildPanel, DecodePanel};
use stream_view::StreamPanel;

/// The RFC's example key (§1.3), prefilled so the first thing a learner sees is the known answer.
pub const EXAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The RFC's masked "Hello" (§5.7), prefilled in the decoder.
pub const EXAMPLE_FRAME: &str = "81 85 37 fa 21 3d 7f 9f 4d 51 58";
/// Payload bytes the capture keeps before evicting the oldest.
pub const CAPTURE_BUDGET: usize = 512 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Live,
    Connect,
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
    /// The first run speaks the environment's language (`LC_ALL`, `LC_MESSAGES`, `LANG`).
    fn default() -> Self {
        Self {
            lang: Lang::from_env(),
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

/// The application: the server's lifecycle, the capture, the window's chrome and one struct
/// per tab with that tab's view state.
pub struct WsscopeApp {
    /// The server, its restarts, and the capture its events go into on the ingest thread
    /// (stopped when the window closes).
    server: Engine,
    server_error: Option<String>,
    /// The options the server was (or is to be) started with, edited in the server window.
    config: ServerConfig,
    server_form: server_window::Form,
    egui_ctx: egui::Context,
    lang: Lang,
    tab: Tab,
    /// The top bar's reply mode and auto-pong switch, and the fixed text kept while in echo.
    reply: ReplyMode,
    fixed_text: String,
    auto_pong: bool,
    status: String,
    exports: export_menu::Exports,
    live: LivePanel,
    connect: ConnectPanel,
    handshake: HandshakePanel,
    stream: StreamPanel,
    accept: AcceptPanel,
    decode: DecodePanel,
    build: BuildPanel,
    /// Each frame's times, kept when WSSCOPE_FRAME_STATS is set and summed up at exit: what
    /// the frame-time bench reads.
    frame_times: Option<FrameTimes>,
    /// What a repaint costs the CPU, for the ingest thread's pacing.
    paint_meter: Option<paint_meter::PaintMeter>,
    /// Set by Ctrl-C (SIGINT or SIGTERM) in the terminal that started the window: close it the
    /// way the close button does, so a recording gets its last events.
    quit: Option<Arc<AtomicBool>>,
}

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
        apply_view_settings(ctx, &settings);
        // Solid scroll bars: floating ones fade in and out, and every fade is a run of repaints
        // (without a GPU, each costs the server tens of milliseconds of CPU); while connections
        // come and go their lists keep starting new fades.
        // Panels are not filled: the screen is cleared to their colour (see `clear_color`).
        // Without a GPU every filled pixel is shaded on the CPU, and the panels cover the
        // whole window: a repaint under load went from 21-22 to 18-20 ms (p50).
        ctx.all_styles_mut(|s| {
            s.spacing.scroll = egui::style::ScrollStyle::solid();
            s.visuals.panel_fill = egui::Color32::TRANSPARENT;
        });
        let Settings {
            lang,
            zoom: _,
            dark: _,
            follow,
            key,
            hex,
        } = settings;
        Self {
            server: Engine::new(ctx, CAPTURE_BUDGET),
            server_error: None,
            server_form: server_window::Form::from_config(&config),
            config,
            egui_ctx: ctx.clone(),
            lang,
            tab: Tab::Accept,
            reply: ReplyMode::Echo,
            fixed_text: "thank you!!!".into(),
            auto_pong: true,
            status: String::new(),
            exports: export_menu::Exports::default(),
            live: LivePanel::new(follow),
            connect: ConnectPanel::default(),
            handshake: HandshakePanel::default(),
            stream: StreamPanel::default(),
            accept: AcceptPanel { key },
            decode: DecodePanel::new(hex),
            build: BuildPanel::default(),
            frame_times: std::env::var_os("WSSCOPE_FRAME_STATS").map(|_| FrameTimes::default()),
            paint_meter: Some(paint_meter::PaintMeter::default()),
            quit: None,
        }
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
        let t = self.lang.t();
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
            self.status = self.lang.t().restart_busy.to_string();
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
            Some(Ok(addr)) => self.status = fill(self.lang.t().restarted, &[&addr]),
            Some(Err(e)) => self.server_error = Some(self.start_error(&e)),
        }
    }

    /// The status bar's message.
    pub fn status(&self) -> &str {
        &self.status
    }

    /// Events the recording under way has written (0 until it has begun).
    pub fn recording_events(&self) -> u64 {
        self.server.recording().events
    }

    /// Takes every repaint of the window to cost `cost` of CPU instead of measuring it: how far
    /// apart heavy traffic spaces repaints follows from it (see [`WsscopeApp::spaced_repaints`]).
    pub fn set_paint_cost(&mut self, cost: Duration) {
        self.paint_meter = None;
        self.server.set_paint_cost(cost);
    }

    /// While heavy traffic spaces the live view's repaints further apart than usual because each
    /// costs much CPU: the interval, and what one repaint costs.
    pub fn spaced_repaints(&self) -> Option<(Duration, Duration)> {
        self.server.spaced_repaints()
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

    /// The settings to save: the language, the view, and what the panels remember.
    pub fn settings(&self) -> Settings {
        Settings {
            lang: self.lang,
            zoom: self.egui_ctx.zoom_factor(),
            dark: self.egui_ctx.theme() == egui::Theme::Dark,
            follow: self.live.follow,
            key: self.accept.key.clone(),
            hex: self.decode.hex.clone(),
        }
    }

    /// The interface language.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The capture store (for tests and exports), read-locked: events wait while it is held.
    pub fn capture(&self) -> std::sync::RwLockReadGuard<'_, Capture> {
        self.server.capture()
    }

    /// The capture store, to load recorded events into (benches, imports).
    pub fn capture_mut(&mut self) -> std::sync::RwLockWriteGuard<'_, Capture> {
        self.server.capture_mut()
    }

    /// Shows the live view (connections, frames, anatomy).
    pub fn show_live(&mut self) {
        self.tab = Tab::Live;
    }

    /// The server's address, when it is listening.
    pub fn server_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.local_addr()
    }

    /// Sends `c` to the server now (only after the UI pass: see [`Self::apply`]).
    fn send(&mut self, c: Command) {
        if !self.server.command(c) {
            self.status = self.lang.t().server_not_running.into();
        }
    }

    /// Draws the open tab; the Live tab lays out its own side panels.
    fn panels_ui(&mut self, ui: &mut egui::Ui, out: &mut Outbox) {
        let Self {
            server,
            lang,
            tab,
            live,
            connect,
            handshake,
            stream,
            accept,
            decode,
            build,
            ..
        } = self;
        let capture = server.capture();
        let cx = PanelCtx {
            capture: &capture,
            lang: *lang,
            selected_conn: live.selected_conn(),
            spaced: server.spaced_repaints().map(|(every, _)| every),
        };
        if *tab == Tab::Live {
            live.ui(ui, &cx, out);
            return;
        }
        egui::CentralPanel::default().show(ui, |ui| match tab {
            Tab::Live => {}
            Tab::Connect => connect.ui(ui, &cx, out),
            Tab::Handshake => handshake.ui(ui, &cx),
            Tab::Stream => stream.ui(ui, &cx, out),
            Tab::Accept => accept.ui(ui, &cx),
            Tab::Decode => decode.ui(ui, &cx),
            Tab::Build => build.ui(ui, &cx, out),
        });
    }

    /// Sends the pass's commands to the server and does what the panels asked of the window.
    fn apply(&mut self, out: Outbox, ctx: &egui::Context) {
        let Outbox { commands, actions } = out;
        if commands.is_empty() && actions.is_empty() {
            return;
        }
        for c in commands {
            self.send(c);
        }
        for a in actions {
            match a {
                Action::ClearCapture => self.server.capture_mut().clear(),
                Action::ShowFrame { conn, frame } => {
                    self.live.select(conn, frame);
                    self.tab = Tab::Live;
                }
                Action::Decode { hex, sender } => {
                    self.decode.open(hex, sender);
                    self.tab = Tab::Decode;
                }
                Action::Status(s) => self.status = s,
                Action::Connect(config) => match self.server.connect(*config) {
                    Ok(id) => {
                        self.connect.started(id);
                        // The composer, the builder and the handshake view follow it.
                        self.live.select_conn(id);
                    }
                    Err(e) => self.connect.start_failed(e.to_string()),
                },
                Action::SelectConn(id) => {
                    self.live.select_conn(id);
                    self.tab = Tab::Live;
                }
                Action::Proxy(config) => {
                    let upstream = config.upstream.to_string();
                    match self.server.proxy(*config) {
                        Ok(addr) => self.connect.proxy_started(addr, upstream),
                        Err(e) => self.connect.proxy_failed(e.to_string()),
                    }
                }
                Action::StopProxy(addr) => {
                    self.server.stop_proxy(addr);
                    self.connect.proxy_stopped(addr);
                }
            }
        }
        // The pass that asked drew the state before; show the state after.
        ctx.request_repaint();
    }
}

/// Frame times for WSSCOPE_FRAME_STATS, in seconds.
#[derive(Default)]
struct FrameTimes {
    /// What eframe measures of a frame: our pass, tessellation and painting (under Xvfb that
    /// painting is software rendering on the CPU).
    whole: Vec<f32>,
    /// Our pass alone: laying out every panel from the store (waiting for it included).
    ui: Vec<f32>,
    /// Of our pass, the time spent waiting for the store while the ingest thread wrote it.
    wait: Vec<f32>,
}

impl FrameTimes {
    fn push(times: &mut Vec<f32>, t: f32) {
        // A day of frames at 60 per second would grow without bound: a long run keeps the
        // last million.
        if times.len() >= 1 << 20 {
            times.drain(..1 << 19);
        }
        times.push(t);
    }

    fn summary(times: &mut [f32]) -> String {
        times.sort_by(f32::total_cmp);
        let pct = |p: f64| {
            let i = ((times.len().saturating_sub(1)) as f64 * p).round() as usize;
            times.get(i).map_or(0.0, |t| t * 1e3)
        };
        format!(
            "{} frames: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            times.len(),
            pct(0.5),
            pct(0.99),
            pct(1.0)
        )
    }
}

impl eframe::App for WsscopeApp {
    /// The theme's panel colour: the panels themselves are not filled (see `with_settings`).
    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        let theme = if visuals.dark_mode {
            egui::Visuals::dark()
        } else {
            egui::Visuals::light()
        };
        theme.panel_fill.to_normalized_gamma_f32()
    }

    fn logic(&mut self, ctx: &egui::Context, frame: &mut eframe::Frame) {
        if self
            .quit
            .as_ref()
            .is_some_and(|q| q.load(Ordering::Acquire))
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if let (Some(times), Some(t)) = (&mut self.frame_times, frame.info().cpu_usage) {
            FrameTimes::push(&mut times.whole, t);
        }
        if let Some(cost) = self
            .paint_meter
            .as_mut()
            .and_then(paint_meter::PaintMeter::frame)
        {
            self.server.set_paint_cost(cost);
        }
        self.poll_restart();
        if self.server.restarting() {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let start = std::time::Instant::now();
        // Commands and requests wait until every panel has drawn from one state of the store.
        let mut out = Outbox::default();
        egui::Panel::top("top").show(ui, |ui| self.top_bar(ui, &mut out));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        self.server_window(ui);
        self.panels_ui(ui, &mut out);
        self.apply(out, ui.ctx());
        if let Some(times) = &mut self.frame_times {
            FrameTimes::push(&mut times.ui, start.elapsed().as_secs_f32());
            let wait = self.server.take_lock_wait().as_secs_f32();
            FrameTimes::push(&mut times.wait, wait);
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        if let Some(times) = &mut self.frame_times {
            eprintln!("wsscope: {}", FrameTimes::summary(&mut times.whole));
            eprintln!("wsscope: egui pass {}", FrameTimes::summary(&mut times.ui));
            eprintln!(
                "wsscope: of which waiting for the store {}",
                FrameTimes::summary(&mut times.wait)
            );
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.settings());
    }
}

/// Sets the zoom and theme `settings` ask for.
fn apply_view_settings(ctx: &egui::Context, settings: &Settings) {
    ctx.set_zoom_factor(settings.zoom.clamp(0.5, 3.0));
    ctx.set_theme(if settings.dark {
        egui::Theme::Dark
    } else {
        egui::Theme::Light
    });
}

/// Whether a window can open here.
pub fn has_display() -> bool {
    if cfg!(target_os = "linux") {
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    } else {
        true
    }
}

/// What the window starts with besides its server.
#[derive(Debug, Clone, Default)]
pub struct WindowOptions {
    /// The capture's memory budget in bytes (default [`CAPTURE_BUDGET`]).
    pub budget: Option<usize>,
    /// Record every event to this file from the start.
    pub record: Option<std::path::PathBuf>,
    /// Show this capture file instead of running a server.
    pub open: Option<std::path::PathBuf>,
}

impl WsscopeApp {
    /// Applies `opts`: the budget, a recording, a file to open. Returns what went wrong.
    pub fn apply_options(&mut self, opts: &WindowOptions) -> Result<(), String> {
        if let Some(b) = opts.budget {
            self.server.capture_mut().budget = b;
        }
        if let Some(path) = &opts.open {
            self.server.open(path, self.lang, &self.egui_ctx);
            self.tab = Tab::Live;
        }
        if let Some(path) = &opts.record {
            self.server
                .start_recording(path)
                .map_err(|e| format!("cannot record to {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

/// Opens the window: with the server listening per `config`, or showing the capture file
/// `opts.open` without one. Returns the process exit status.
pub fn run(config: ServerConfig, opts: WindowOptions) -> ExitCode {
    // A path that cannot be written is refused before the window opens.
    if let Some(path) = &opts.record {
        if let Err(e) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            eprintln!("wsscope: cannot record to {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1500.0, 900.0])
            .with_title("wsscope"),
        ..Default::default()
    };
    let quit = Arc::new(AtomicBool::new(false));
    let ctx_slot: Arc<std::sync::OnceLock<egui::Context>> = Arc::default();
    {
        let (quit, ctx_slot) = (Arc::clone(&quit), Arc::clone(&ctx_slot));
        // Without it, Ctrl-C kills the process: a recording would lose its buffered tail.
        if let Err(e) = ctrlc::set_handler(move || {
            quit.store(true, Ordering::Release);
            if let Some(ctx) = ctx_slot.get() {
                ctx.request_repaint();
            }
        }) {
            eprintln!("wsscope: Ctrl-C will not close the window cleanly: {e}");
        }
    }
    match eframe::run_native(
        "wsscope",
        options,
        Box::new(move |cc| {
            let _ = ctx_slot.set(cc.egui_ctx.clone());
            // Unreadable or old settings fall back to the defaults: they are only preferences.
            let settings = cc
                .storage
                .and_then(|s| eframe::get_value::<Settings>(s, SETTINGS_KEY))
                .unwrap_or_default();
            let mut app = if opts.open.is_some() {
                WsscopeApp::with_settings(&cc.egui_ctx, settings)
            } else {
                WsscopeApp::with_server_and_settings(config, &cc.egui_ctx, settings)
            };
            if let Err(e) = app.apply_options(&opts) {
                app.status = e;
            }
            app.quit = Some(quit);
            Ok(Box::new(app))
        }),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsscope: the window could not open: {e}");
            ExitCode::from(1)
        }
    }
}
