//! The server window: the listener's options, editable, and a restart button. The same limits as
//! the command line (`wsscope --help`), checked the same way before a restart.

use std::net::IpAddr;
use std::time::Duration;

use eframe::egui;

use super::i18n::fill;
use super::{style, WsscopeApp};
use crate::protocol::handshake::{HostPolicy, OriginPolicy};
use crate::server::ServerConfig;

/// The fields as typed (kept even when invalid, so the user can fix them).
pub(super) struct Form {
    pub(super) open: bool,
    port: u16,
    bind: String,
    protocols: String,
    max_frame: u64,
    max_message: u64,
    max_connections: usize,
    handshake_timeout: f64,
    close_timeout: f64,
    /// Seconds between keepalive pings; 0 is off.
    ping_interval: f64,
    ping_timeout: f64,
    allowed_origins: String,
    /// Empty: the automatic Host rule (loopback names on a loopback bind).
    allowed_hosts: String,
    /// Agree to permessage-deflate (RFC 7692) when a client offers it.
    deflate: bool,
    error: Option<String>,
}

impl Form {
    pub(super) fn from_config(c: &ServerConfig) -> Self {
        Self {
            open: false,
            port: c.port,
            bind: c.bind.to_string(),
            protocols: c.protocols.join(","),
            max_frame: c.limits.max_frame_size,
            max_message: c.limits.max_message_size,
            max_connections: c.max_connections,
            handshake_timeout: c.handshake_timeout.as_secs_f64(),
            close_timeout: c.close_timeout.as_secs_f64(),
            ping_interval: c.ping_interval.map_or(0.0, |d| d.as_secs_f64()),
            ping_timeout: c.ping_timeout.as_secs_f64(),
            allowed_origins: c.allowed_origins.to_string(),
            allowed_hosts: c
                .allowed_hosts
                .as_ref()
                .map_or_else(String::new, ToString::to_string),
            deflate: c.deflate,
            error: None,
        }
    }

    /// `base` with the form's values, or what is wrong (in `lang`).
    fn config(&self, base: &ServerConfig, lang: super::Lang) -> Result<ServerConfig, String> {
        let t = lang.t();
        let bind: IpAddr = self
            .bind
            .trim()
            .parse()
            .map_err(|_| fill(t.bad_bind, &[&self.bind]))?;
        let mut c = base.clone();
        c.bind = bind;
        c.port = self.port;
        c.protocols = self
            .protocols
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        c.limits.max_frame_size = self.max_frame.max(1);
        c.limits.max_message_size = self.max_message.max(1);
        c.max_connections = self.max_connections.max(1);
        c.handshake_timeout = Duration::from_secs_f64(self.handshake_timeout.clamp(0.1, 3600.0));
        c.close_timeout = Duration::from_secs_f64(self.close_timeout.clamp(0.1, 3600.0));
        c.ping_interval = (self.ping_interval > 0.0)
            .then(|| Duration::from_secs_f64(self.ping_interval.clamp(0.1, 86_400.0)));
        c.ping_timeout = Duration::from_secs_f64(self.ping_timeout.clamp(0.1, 3600.0));
        c.deflate = self.deflate;
        c.allowed_origins =
            OriginPolicy::parse(&self.allowed_origins).map_err(|e| fill(t.bad_origin, &[&e]))?;
        c.allowed_hosts = if self.allowed_hosts.trim().is_empty() {
            None
        } else {
            Some(HostPolicy::parse(&self.allowed_hosts).map_err(|e| fill(t.bad_host, &[&e]))?)
        };
        Ok(c)
    }
}

impl WsscopeApp {
    pub(super) fn server_window(&mut self, ui: &mut egui::Ui) {
        let t = self.lang.t();
        let mut open = self.server_form.open;
        let mut restart = None;
        egui::Window::new(t.server_title)
            .open(&mut open)
            .resizable(false)
            .show(ui.ctx(), |ui| {
                let f = &mut self.server_form;
                egui::Grid::new("server-form")
                    .num_columns(2)
                    .spacing([12.0, 6.0])
                    .show(ui, |ui| {
                        ui.label(t.port);
                        ui.add(egui::DragValue::new(&mut f.port).range(0..=65535));
                        ui.end_row();
                        let l = ui.label(t.bind);
                        ui.text_edit_singleline(&mut f.bind).labelled_by(l.id);
                        ui.end_row();
                        ui.label("");
                        ui.label(egui::RichText::new(t.bind_note).small());
                        ui.end_row();
                        let l = ui.label(t.protocols);
                        ui.text_edit_singleline(&mut f.protocols).labelled_by(l.id);
                        ui.end_row();
                        ui.label(t.max_frame);
                        ui.add(egui::DragValue::new(&mut f.max_frame).range(1..=u64::MAX));
                        ui.end_row();
                        ui.label(t.max_message);
                        ui.add(egui::DragValue::new(&mut f.max_message).range(1..=u64::MAX));
                        ui.end_row();
                        ui.label(t.max_connections);
                        ui.add(egui::DragValue::new(&mut f.max_connections).range(1..=100_000));
                        ui.end_row();
                        ui.label(t.handshake_timeout);
                        ui.add(
                            egui::DragValue::new(&mut f.handshake_timeout)
                                .range(0.1..=3600.0)
                                .speed(0.1),
                        );
                        ui.end_row();
                        ui.label(t.close_timeout)
                            .on_hover_text(t.close_timeout_hover);
                        ui.add(
                            egui::DragValue::new(&mut f.close_timeout)
                                .range(0.1..=3600.0)
                                .speed(0.1),
                        );
                        ui.end_row();
                        ui.label(t.ping_interval)
                            .on_hover_text(t.ping_interval_hover);
                        ui.add(
                            egui::DragValue::new(&mut f.ping_interval)
                                .range(0.0..=86_400.0)
                                .speed(0.1),
                        );
                        ui.end_row();
                        ui.label(t.ping_timeout);
                        ui.add_enabled(
                            f.ping_interval > 0.0,
                            egui::DragValue::new(&mut f.ping_timeout)
                                .range(0.1..=3600.0)
                                .speed(0.1),
                        );
                        ui.end_row();
                        let l = ui.label(t.allowed_origins);
                        ui.text_edit_singleline(&mut f.allowed_origins)
                            .labelled_by(l.id);
                        ui.end_row();
                        ui.label("");
                        ui.label(egui::RichText::new(t.allowed_origins_note).small());
                        ui.end_row();
                        let l = ui.label(t.allowed_hosts);
                        ui.text_edit_singleline(&mut f.allowed_hosts)
                            .labelled_by(l.id);
                        ui.end_row();
                        ui.label("");
                        ui.label(egui::RichText::new(t.allowed_hosts_note).small());
                        ui.end_row();
                        ui.label("RFC 7692");
                        ui.checkbox(&mut f.deflate, t.dv_switch)
                            .on_hover_text(t.dv_switch_hover);
                        ui.end_row();
                    });
                ui.label(egui::RichText::new(t.restart_note).small());
                let idle = !self.server.restarting();
                if ui.add_enabled(idle, egui::Button::new(t.restart)).clicked() {
                    match f.config(&self.config, self.lang) {
                        Ok(c) => {
                            f.error = None;
                            restart = Some(c);
                        }
                        Err(e) => f.error = Some(e),
                    }
                }
                if let Some(e) = &f.error {
                    ui.colored_label(style::BAD, e);
                }
            });
        self.server_form.open = open;
        if let Some(c) = restart {
            let addr = std::net::SocketAddr::new(c.bind, c.port);
            self.restart_server(c);
            if self.server.local_addr().is_some() {
                self.status = fill(t.restarted, &[&addr]);
            }
            // Keep the window open on the new values (start_server resets the form).
            self.server_form.open = true;
        }
    }
}
