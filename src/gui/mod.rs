//! The inspector window: the server runs on background threads, its events are drained into the
//! capture store in `logic`, and the panels draw from the store in `ui`. Panels own only view
//! state (selection, pause, text being typed).

mod anatomy;
mod handshake_view;
mod live;
mod style;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use eframe::egui::{self, RichText};

use crate::capture::Capture;
use crate::cli::{parse_hex, render_decode, Paint};
use crate::protocol::{AcceptDerivation, Role};
use crate::server::{self, Command, ConnId, Event, ReplyMode, ServerConfig, ServerHandle};

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
}

/// Which end sent the bytes in the decoder tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    Auto,
    Client,
    Server,
}

/// The application: the server handle, the capture, and view state.
pub struct WsscopeApp {
    server: Option<ServerHandle>,
    events: Option<Receiver<Vec<Event>>>,
    server_error: Option<String>,
    capture: Capture,
    tab: Tab,
    selected_conn: Option<ConnId>,
    selected_frame: Option<usize>,
    paused_at: Option<usize>,
    follow: bool,
    compose: String,
    reply: ReplyMode,
    fixed_text: String,
    auto_pong: bool,
    status: String,
    key: String,
    hex: String,
    sender: Sender,
    repaint_pending: Arc<AtomicBool>,
    close_code: u16,
}

impl WsscopeApp {
    /// The window's state with no server (the playground still works).
    pub fn offline() -> Self {
        Self {
            server: None,
            events: None,
            server_error: None,
            capture: Capture::new(CAPTURE_BUDGET),
            tab: Tab::Accept,
            selected_conn: None,
            selected_frame: None,
            paused_at: None,
            follow: true,
            compose: "hello".into(),
            reply: ReplyMode::Echo,
            fixed_text: "thank you!!!".into(),
            auto_pong: true,
            status: String::new(),
            key: EXAMPLE_KEY.to_string(),
            hex: EXAMPLE_FRAME.to_string(),
            sender: Sender::Auto,
            repaint_pending: Arc::new(AtomicBool::new(false)),
            close_code: 1000,
        }
    }

    /// Starts the server with `config`; new events request a repaint of `ctx`.
    pub fn with_server(config: ServerConfig, ctx: &egui::Context) -> Self {
        let mut app = Self::offline();
        app.tab = Tab::Live;
        app.reply = config.reply.clone();
        if let ReplyMode::Fixed(t) = &config.reply {
            app.fixed_text = t.clone();
        }
        app.auto_pong = config.auto_pong;
        let (tx, rx) = crossbeam_channel::bounded(config.channel_capacity);
        let ctx = ctx.clone();
        let addr = (config.bind, config.port);
        // One repaint request until the UI has drained, not one per event batch.
        let pending = Arc::clone(&app.repaint_pending);
        let waker = Arc::new(move || {
            if !pending.swap(true, Ordering::AcqRel) {
                ctx.request_repaint();
            }
        });
        match server::start(config, tx, waker) {
            Ok(h) => {
                app.server = Some(h);
                app.events = Some(rx);
            }
            Err(e) => {
                app.server_error = Some(format!("cannot listen on {}:{}: {e}", addr.0, addr.1));
            }
        }
        app
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
        self.server.as_ref().map(ServerHandle::local_addr)
    }

    fn command(&mut self, c: Command) {
        match &self.server {
            Some(s) => s.command(c),
            None => self.status = "no server is running".into(),
        }
    }

    /// Moves queued events into the capture, for at most a few milliseconds per frame so the
    /// window stays responsive under load (the rest waits in the channel: nothing is lost).
    fn drain(&mut self) -> bool {
        self.repaint_pending.store(false, Ordering::Release);
        let Some(rx) = &self.events else {
            return false;
        };
        let deadline = Instant::now() + Duration::from_millis(8);
        let mut more = false;
        while let Ok(batch) = rx.try_recv() {
            for e in batch {
                self.capture.ingest(e);
            }
            if Instant::now() > deadline {
                more = true;
                break;
            }
        }
        more
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.strong("wsscope");
            ui.separator();
            match (&self.capture.listening, &self.server_error) {
                (Some((addr, warning)), _) => {
                    let url = format!("ws://{addr}/");
                    ui.monospace(&url);
                    if ui.small_button("copy").clicked() {
                        ui.ctx().copy_text(url);
                    }
                    let page = format!("http://{addr}/");
                    ui.hyperlink_to("demo page", &page);
                    if ui
                        .small_button("copy ")
                        .on_hover_text("copy the demo page URL")
                        .clicked()
                    {
                        ui.ctx().copy_text(page);
                    }
                    if let Some(w) = warning {
                        ui.colored_label(style::BAD, format!("WARNING: {w}"));
                    }
                }
                (None, Some(e)) => {
                    ui.colored_label(style::BAD, e);
                }
                (None, None) => {
                    ui.label("server not running");
                }
            }
            ui.separator();
            ui.label("reply:");
            let before = self.reply.clone();
            ui.selectable_value(&mut self.reply, ReplyMode::Echo, "echo");
            let fixed = ReplyMode::Fixed(self.fixed_text.clone());
            if ui
                .selectable_label(matches!(self.reply, ReplyMode::Fixed(_)), "fixed")
                .clicked()
            {
                self.reply = fixed;
            }
            if matches!(self.reply, ReplyMode::Fixed(_)) {
                let r = ui.add(
                    egui::TextEdit::singleline(&mut self.fixed_text)
                        .desired_width(110.0)
                        .hint_text("reply text"),
                );
                if r.changed() {
                    self.reply = ReplyMode::Fixed(self.fixed_text.clone());
                }
            }
            ui.selectable_value(&mut self.reply, ReplyMode::Manual, "manual");
            if self.reply != before {
                self.command(Command::SetReplyMode(self.reply.clone()));
            }
            if ui.checkbox(&mut self.auto_pong, "auto-pong").changed() {
                self.command(Command::SetAutoPong(self.auto_pong));
            }
            ui.separator();
            ui.label(format!("{} open", self.capture.open_connections()));
            ui.separator();
            // Classroom controls: the projector needs large text; Ctrl +/- works too.
            let zoom = ui.ctx().zoom_factor();
            if ui
                .small_button("A-")
                .on_hover_text("smaller text (Ctrl -)")
                .clicked()
            {
                ui.ctx().set_zoom_factor((zoom - 0.1).max(0.5));
            }
            if ui
                .small_button("A+")
                .on_hover_text("larger text (Ctrl +)")
                .clicked()
            {
                ui.ctx().set_zoom_factor((zoom + 0.1).min(3.0));
            }
            if ui
                .small_button("present")
                .on_hover_text("large text for a projector")
                .clicked()
            {
                ui.ctx().set_zoom_factor(if zoom < 1.4 { 1.6 } else { 1.0 });
            }
            let dark = ui.ctx().theme() == egui::Theme::Dark;
            if ui
                .small_button(if dark { "light" } else { "dark" })
                .clicked()
            {
                ui.ctx().set_theme(if dark {
                    egui::Theme::Light
                } else {
                    egui::Theme::Dark
                });
            }
        });
        if let Some((addr, _)) = &self.capture.listening {
            ui.label(
                RichText::new(format!(
                    "try it: open http://{addr}/ in a browser, or: node seed-client.js ws://{addr}/ws   (the seed's own client; start wsscope with --port 6666 --reply 'thank you!!!' to be the seed's server)"
                ))
                .small(),
            );
        }
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.tab, Tab::Live, "Live");
            ui.selectable_value(&mut self.tab, Tab::Handshake, "Handshake");
            ui.selectable_value(&mut self.tab, Tab::Accept, "Accept key");
            ui.selectable_value(&mut self.tab, Tab::Decode, "Decode frames");
        });
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            let c = &self.capture;
            ui.label(format!(
                "{} frames · {} messages · {} connections · {:.1} MiB kept",
                c.frames.len(),
                c.messages.len(),
                c.connections.len(),
                c.payload_bytes as f64 / (1 << 20) as f64
            ));
            if c.evicted_frames > 0 || c.evicted_tcp_bytes > 0 {
                ui.colored_label(
                    style::BAD,
                    format!(
                        "{} older frame payloads and {} TCP bytes evicted (budget {} MiB)",
                        c.evicted_frames,
                        c.evicted_tcp_bytes,
                        c.budget >> 20
                    ),
                );
            }
            if let Some(n) = c.notices.last() {
                let what = n
                    .limit
                    .map_or("error".to_string(), |l| format!("limit {l:?}"));
                ui.colored_label(style::BAD, format!("#{} {what}: {}", n.conn, n.text));
            }
            if !self.status.is_empty() {
                ui.label(&self.status);
            }
        });
    }

    fn handshake_tab(&mut self, ui: &mut egui::Ui) {
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
        egui::ScrollArea::vertical().id_salt("handshake").show(ui, |ui| match conn {
            Some(c) => {
                ui.heading(format!("Connection #{}", c.id));
                if let Some(hs) = &c.handshake {
                    handshake_view::show(ui, hs);
                }
            }
            None => {
                ui.label("No handshake yet. Connect a client (the demo page, the seed's Node client) and it appears here. Meanwhile, the RFC's own example:");
                handshake_view::derivation(ui, &AcceptDerivation::new(EXAMPLE_KEY));
            }
        });
    }

    fn accept_tab(&mut self, ui: &mut egui::Ui) {
        ui.label("How a server answers the opening handshake: Sec-WebSocket-Key + GUID -> SHA-1 -> base64 (RFC 6455 §4.2.2). Type any key.");
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
        egui::ScrollArea::vertical()
            .id_salt("accept")
            .show(ui, |ui| {
                if self.key.trim().is_empty() {
                    ui.label("Type a Sec-WebSocket-Key above.");
                } else {
                    let d = AcceptDerivation::new(&self.key);
                    handshake_view::derivation(ui, &d);
                    ui.label(format!("Sec-WebSocket-Accept: {}", d.accept));
                }
            });
    }

    fn decode_tab(&mut self, ui: &mut egui::Ui) {
        ui.label("Paste frame bytes as hex to see every field of RFC 6455 §5.2, the unmasking and the rules broken.");
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
        let sender = match self.sender {
            Sender::Auto => None,
            Sender::Client => Some(Role::Client),
            Sender::Server => Some(Role::Server),
        };
        let text = match parse_hex(&self.hex) {
            Err(e) => format!("Cannot read the hex: {e}"),
            Ok(bytes) => {
                let r = render_decode(&bytes, sender, Paint { color: false });
                match r.error {
                    Some(e) => format!("{}\n\n{e}", r.text),
                    None => r.text,
                }
            }
        };
        egui::ScrollArea::both().id_salt("decode").show(ui, |ui| {
            ui.monospace(text);
        });
    }
}

impl eframe::App for WsscopeApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        if self.drain() {
            ctx.request_repaint();
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::top("top").show(ui, |ui| self.top_bar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        if self.tab == Tab::Live {
            egui::Panel::left("connections")
                .resizable(true)
                .default_size(230.0)
                .show(ui, |ui| self.connections_panel(ui));
            egui::Panel::right("anatomy")
                .resizable(true)
                .default_size(460.0)
                .show(ui, |ui| self.anatomy_panel(ui));
        }
        egui::CentralPanel::default().show(ui, |ui| match self.tab {
            Tab::Live => self.frames_table(ui),
            Tab::Handshake => self.handshake_tab(ui),
            Tab::Accept => self.accept_tab(ui),
            Tab::Decode => self.decode_tab(ui),
        });
    }
}

impl Drop for WsscopeApp {
    fn drop(&mut self) {
        if let Some(h) = self.server.take() {
            // Keep draining while the server closes its connections (it may wait on the channel).
            let rx = self.events.take();
            let drain = std::thread::spawn(move || {
                if let Some(rx) = rx {
                    while rx.recv_timeout(Duration::from_secs(3)).is_ok() {}
                }
            });
            h.shutdown(Duration::from_secs(1));
            let _ = drain.join();
        }
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
        Box::new(move |cc| Ok(Box::new(WsscopeApp::with_server(config, &cc.egui_ctx)))),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsscope: the window could not open: {e}");
            ExitCode::from(1)
        }
    }
}
