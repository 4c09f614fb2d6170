//! The Connect tab: wsscope as a client. A form (URL, subprotocols, extra headers, Origin, what
//! wss:// trusts) checked before anything starts, Connect and Disconnect, and the connections
//! opened here with how each one went. The connections themselves are in the Live list like any
//! other (marked client), so the composer and the frame builder reach them.

use std::path::{Path, PathBuf};

use eframe::egui::{self, RichText};

use super::i18n::{self, fill, Lang};
use super::live::conn_text;
use super::panel::{Action, Outbox, PanelCtx};
use super::style;
use crate::capture::{Capture, ConnState, NoticeKind};
use crate::client::{ClientConfig, Trust, UrlError, WsUrl};
use crate::event::{Command, ConnId, Endpoint, ErrorKind};

/// What the form's trust choice is (the CA path is kept apart, so switching back keeps it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrustChoice {
    System,
    CaFile,
    Insecure,
}

/// What is wrong with each field, as last checked (shown next to the field).
#[derive(Debug, Default)]
struct FieldErrors {
    url: Option<String>,
    protocols: Option<String>,
    headers: Option<String>,
    ca: Option<String>,
}

impl FieldErrors {
    fn any(&self) -> bool {
        let Self {
            url,
            protocols,
            headers,
            ca,
        } = self;
        url.is_some() || protocols.is_some() || headers.is_some() || ca.is_some()
    }
}

/// A connection started from this tab.
#[derive(Debug, Clone)]
struct Attempt {
    id: ConnId,
    url: String,
    host: String,
    port: u16,
    /// Failures to reach this host and port the capture already held when it started: a
    /// failure before TCP is reported on connection 0 (no connection exists yet), so the one
    /// after these is this attempt's.
    earlier_failures: usize,
}

/// How an attempt stands.
enum Standing<'a> {
    /// Nothing of it has been seen yet (resolving, connecting).
    Connecting,
    /// It reached TCP: its record in the capture.
    Conn(&'a crate::capture::ConnRecord),
    /// It never got a TCP connection: why.
    Failed(&'a ErrorKind),
}

/// The Connect tab's form and the connections it started.
pub(super) struct ConnectPanel {
    url: String,
    /// The URL field was typed in: it no longer follows the window's own server.
    url_edited: bool,
    protocols: String,
    headers: String,
    origin: String,
    trust: TrustChoice,
    ca_file: String,
    /// Offer permessage-deflate (the client), pass the offer upstream (the proxy).
    deflate: bool,
    errors: FieldErrors,
    /// The form that was asked to connect, until the engine gives it a number.
    pending: Option<Attempt>,
    attempts: Vec<Attempt>,
    /// Why the last Connect could not start a client at all (no thread, no poller).
    start_error: Option<String>,
    /// The proxy's listening address, as typed.
    proxy_listen: String,
    /// Why the proxy form or its start failed.
    proxy_error: Option<String>,
    /// Running proxies: where clients connect, and the upstream.
    proxies: Vec<(std::net::SocketAddr, String)>,
}

impl Default for ConnectPanel {
    fn default() -> Self {
        Self {
            url: String::new(),
            url_edited: false,
            protocols: "chat".into(),
            headers: String::new(),
            origin: String::new(),
            trust: TrustChoice::System,
            ca_file: String::new(),
            deflate: true,
            errors: FieldErrors::default(),
            pending: None,
            attempts: Vec::new(),
            start_error: None,
            proxy_listen: "127.0.0.1:8766".into(),
            proxy_error: None,
            proxies: Vec::new(),
        }
    }
}

/// `c` is a character of an HTTP token (RFC 7230 §3.2.6; §4.1 item 10 for subprotocols).
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// The URL field's error, in `lang`.
fn url_error(lang: Lang, text: &str, e: &UrlError) -> String {
    let t = lang.t();
    if text.trim().is_empty() {
        return t.url_empty.to_string();
    }
    match e {
        // The url crate's words for what does not parse: data, like a header value.
        UrlError::Parse(_, why) => fill(t.url_not_url, &[why]),
        UrlError::Scheme(_, scheme) => fill(t.url_scheme, &[scheme]),
        UrlError::NoHost(_) => t.url_no_host.to_string(),
        UrlError::Fragment(_) => t.url_fragment.to_string(),
    }
}

/// The subprotocols typed, or the first one that is not a token.
fn parse_protocols(lang: Lang, text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for p in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        // §4.1 item 10: each value is a token (U+0021 to U+007E without separators).
        if !p.chars().all(token_char) {
            return Err(fill(lang.t().bad_subprotocol, &[&p]));
        }
        out.push(p.to_string());
    }
    Ok(out)
}

/// The extra headers typed, one `Name: value` per line (blank lines skipped), or the first
/// line that is not one.
fn parse_headers(lang: Lang, text: &str) -> Result<Vec<(String, String)>, String> {
    let t = lang.t();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(fill(t.header_no_colon, &[&n]));
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(token_char) {
            return Err(fill(t.header_bad_name, &[&n, &format!("{name:?}")]));
        }
        out.push((name.to_string(), value.trim().to_string()));
    }
    Ok(out)
}

impl ConnectPanel {
    /// The form as a client configuration, or every field's error.
    fn config(&self, lang: Lang) -> Result<ClientConfig, FieldErrors> {
        let t = lang.t();
        let mut errors = FieldErrors::default();
        let url = WsUrl::parse(self.url.trim())
            .map_err(|e| errors.url = Some(url_error(lang, &self.url, &e)))
            .ok();
        let protocols = parse_protocols(lang, &self.protocols)
            .map_err(|e| errors.protocols = Some(e))
            .unwrap_or_default();
        let headers = parse_headers(lang, &self.headers)
            .map_err(|e| errors.headers = Some(e))
            .unwrap_or_default();
        let trust = match self.trust {
            TrustChoice::System => Trust::System,
            TrustChoice::Insecure => Trust::Insecure,
            TrustChoice::CaFile => {
                let path = self.ca_file.trim();
                // Only wss:// reads it: a ws:// URL does not wait on a path it never uses.
                let secure = url.as_ref().is_some_and(|u| u.secure);
                if secure && path.is_empty() {
                    errors.ca = Some(t.ca_missing.to_string());
                } else if secure && !Path::new(path).is_file() {
                    errors.ca = Some(fill(t.ca_not_file, &[&path]));
                }
                Trust::CaFile(PathBuf::from(path))
            }
        };
        let url = match url {
            Some(u) if !errors.any() => u,
            _ => return Err(errors),
        };
        let origin = Some(self.origin.trim().to_string()).filter(|o| !o.is_empty());
        Ok(ClientConfig {
            protocols,
            origin,
            headers,
            trust,
            deflate: self.deflate,
            ..ClientConfig::new(url)
        })
    }

    /// The engine started the client asked for last as connection `id`.
    pub(super) fn started(&mut self, id: ConnId) {
        self.start_error = None;
        if let Some(mut a) = self.pending.take() {
            a.id = id;
            self.attempts.push(a);
        }
    }

    /// The engine could not start the client asked for last.
    pub(super) fn start_failed(&mut self, why: String) {
        self.pending = None;
        self.start_error = Some(why);
    }

    /// The engine started the proxy asked for, listening on `addr`.
    pub(super) fn proxy_started(&mut self, addr: std::net::SocketAddr, upstream: String) {
        self.proxy_error = None;
        self.proxies.push((addr, upstream));
    }

    /// The engine could not start the proxy (the port is taken, ...).
    pub(super) fn proxy_failed(&mut self, why: String) {
        self.proxy_error = Some(why);
    }

    /// The proxy on `addr` was stopped.
    pub(super) fn proxy_stopped(&mut self, addr: std::net::SocketAddr) {
        self.proxies.retain(|(a, _)| *a != addr);
    }

    /// The proxy section: clients connect to the address typed, every frame is relayed to the
    /// URL of the form above (with its trust settings for wss://).
    fn proxy_ui(&mut self, ui: &mut egui::Ui, lang: Lang, out: &mut Outbox) {
        let t = lang.t();
        ui.strong(t.proxy_heading);
        ui.label(t.proxy_intro);
        ui.horizontal(|ui| {
            let label = ui.label(t.proxy_listen);
            ui.add(egui::TextEdit::singleline(&mut self.proxy_listen).desired_width(180.0))
                .labelled_by(label.id);
            if ui.button(t.proxy_start).clicked() {
                let listen = self.proxy_listen.trim().parse::<std::net::SocketAddr>();
                match (listen, self.config(lang)) {
                    (Err(_), _) => {
                        self.proxy_error = Some(fill(t.proxy_bad_listen, &[&self.proxy_listen]));
                    }
                    (Ok(_), Err(e)) => self.errors = e,
                    (Ok(listen), Ok(client)) => {
                        self.errors = FieldErrors::default();
                        let config = crate::proxy::ProxyConfig {
                            trust: client.trust,
                            deflate: client.deflate,
                            ..crate::proxy::ProxyConfig::new(listen, client.url)
                        };
                        out.request(Action::Proxy(Box::new(config)));
                    }
                }
            }
        });
        if let Some(e) = &self.proxy_error {
            ui.colored_label(style::BAD, e);
        }
        for (addr, upstream) in self.proxies.clone() {
            ui.horizontal(|ui| {
                ui.label(fill(t.proxy_running, &[&addr, &upstream]));
                if ui.button(t.proxy_stop).clicked() {
                    out.request(Action::StopProxy(addr));
                }
            });
            if !addr.ip().is_loopback() {
                ui.colored_label(style::BAD, t.proxy_lan_warning);
            }
        }
    }

    /// Draws the tab.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelCtx, out: &mut Outbox) {
        let lang = cx.lang;
        let t = lang.t();
        // Until the user types one, the URL is the window's own server: a class can watch
        // both ends of one connection.
        if !self.url_edited {
            if let Some(addr) = cx.capture.listening {
                self.url = format!("ws://{}/", crate::server::reachable(addr));
            }
        }
        ui.horizontal_wrapped(|ui| {
            ui.label(t.connect_intro);
            ui.hyperlink_to("§4.1", "https://www.rfc-editor.org/rfc/rfc6455#section-4.1");
            ui.label(t.connect_intro2);
        });
        ui.add_space(6.0);
        self.form_ui(ui, lang);
        ui.add_space(4.0);
        let target = self.disconnect_target(cx);
        ui.horizontal(|ui| {
            if ui.button(t.connect_button).clicked() {
                match self.config(lang) {
                    Ok(config) => {
                        self.errors = FieldErrors::default();
                        let url = &config.url;
                        self.pending = Some(Attempt {
                            id: 0,
                            url: self.url.trim().to_string(),
                            host: url.host.clone(),
                            port: url.port,
                            earlier_failures: failures_to(cx.capture, &url.host, url.port).count(),
                        });
                        out.request(Action::Connect(Box::new(config)));
                    }
                    Err(e) => self.errors = e,
                }
            }
            let disconnect = ui
                .add_enabled(target.is_some(), egui::Button::new(t.disconnect_button))
                .on_hover_text(t.disconnect_hover);
            if let Some((id, state)) = target.filter(|_| disconnect.clicked()) {
                out.send(match state {
                    ConnState::Open => Command::Close(id, 1000, String::new()),
                    // Still handshaking: there is no WebSocket to close yet.
                    _ => Command::Disconnect(id),
                });
            }
            if let Some(e) = &self.start_error {
                ui.colored_label(style::BAD, fill(t.connect_failed_start, &[e]));
            }
        });
        ui.separator();
        self.proxy_ui(ui, lang, out);
        ui.separator();
        self.attempts_ui(ui, cx, out);
    }

    /// The form's fields, each with its error under it.
    fn form_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let t = lang.t();
        let Self {
            url,
            url_edited,
            protocols,
            headers,
            origin,
            trust,
            ca_file,
            deflate,
            errors,
            ..
        } = self;
        let field_error = |ui: &mut egui::Ui, e: &Option<String>| {
            if let Some(e) = e {
                ui.colored_label(style::BAD, e);
            }
        };
        egui::Grid::new("connect-form")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                let l = ui.label(t.connect_url);
                ui.vertical(|ui| {
                    let r = ui
                        .add(
                            egui::TextEdit::singleline(url)
                                .hint_text(t.connect_url_hint)
                                .font(egui::TextStyle::Monospace)
                                .desired_width(420.0),
                        )
                        .labelled_by(l.id);
                    if r.changed() {
                        *url_edited = true;
                        errors.url = None;
                    }
                    field_error(ui, &errors.url);
                });
                ui.end_row();
                let l = ui.label(t.connect_protocols);
                ui.vertical(|ui| {
                    let r = ui
                        .add(egui::TextEdit::singleline(protocols).desired_width(420.0))
                        .labelled_by(l.id);
                    if r.changed() {
                        errors.protocols = None;
                    }
                    field_error(ui, &errors.protocols);
                });
                ui.end_row();
                let l = ui.label(t.connect_headers);
                ui.vertical(|ui| {
                    let r = ui
                        .add(
                            egui::TextEdit::multiline(headers)
                                .font(egui::TextStyle::Monospace)
                                .hint_text("Authorization: Bearer …")
                                .desired_rows(3)
                                .desired_width(420.0),
                        )
                        .labelled_by(l.id);
                    if r.changed() {
                        errors.headers = None;
                    }
                    field_error(ui, &errors.headers);
                });
                ui.end_row();
                let l = ui.label(t.connect_origin);
                ui.add(
                    egui::TextEdit::singleline(origin)
                        .hint_text("http://localhost:8765")
                        .desired_width(420.0),
                )
                .labelled_by(l.id);
                ui.end_row();
                ui.label("");
                ui.checkbox(deflate, t.connect_deflate)
                    .on_hover_text(t.connect_deflate_hover);
                ui.end_row();
                let l = ui.label(t.connect_trust);
                ui.vertical(|ui| {
                    ui.horizontal_wrapped(|ui| {
                        ui.radio_value(trust, TrustChoice::System, t.trust_system);
                        ui.radio_value(trust, TrustChoice::CaFile, t.trust_ca);
                        if *trust == TrustChoice::CaFile {
                            let r = ui
                                .add(
                                    egui::TextEdit::singleline(ca_file)
                                        .hint_text(t.connect_ca_hint)
                                        .desired_width(220.0),
                                )
                                .labelled_by(l.id);
                            if r.changed() {
                                errors.ca = None;
                            }
                        }
                        ui.radio_value(trust, TrustChoice::Insecure, t.trust_insecure);
                    });
                    field_error(ui, &errors.ca);
                });
                ui.end_row();
            });
    }

    /// The client connection Disconnect acts on, and its state: the one selected in Live if
    /// it is a running client connection, else the newest running one started here.
    fn disconnect_target(&self, cx: &PanelCtx) -> Option<(ConnId, ConnState)> {
        let running = |id: ConnId| {
            cx.capture
                .connection(id)
                .filter(|c| c.endpoint == Some(Endpoint::Client) && c.state != ConnState::Closed)
                .map(|c| (id, c.state))
        };
        cx.selected_conn
            .and_then(running)
            .or_else(|| self.attempts.iter().rev().find_map(|a| running(a.id)))
    }

    /// The connections started here, newest first, with how each one went.
    fn attempts_ui(&self, ui: &mut egui::Ui, cx: &PanelCtx, out: &mut Outbox) {
        let lang = cx.lang;
        let t = lang.t();
        if self.attempts.is_empty() {
            return;
        }
        ui.strong(t.attempts);
        egui::ScrollArea::vertical()
            .id_salt("attempts")
            .auto_shrink([false, true])
            .show(ui, |ui| {
                for a in self.attempts.iter().rev() {
                    ui.add_space(4.0);
                    ui.label(RichText::new(&a.url).monospace().strong());
                    match standing(cx.capture, a) {
                        Standing::Connecting => {
                            ui.label(format!("#{} {}", a.id, t.attempt_connecting));
                        }
                        Standing::Failed(e) => {
                            let why = i18n::error_text(lang, e);
                            let text = fill(t.attempt_not_connected, &[&why]);
                            ui.colored_label(style::BAD, format!("#{} {text}", a.id));
                        }
                        Standing::Conn(c) => {
                            ui.horizontal(|ui| {
                                ui.label(conn_text(lang, c));
                                if ui.small_button(t.show_in_live).clicked() {
                                    out.request(Action::SelectConn(c.id));
                                }
                            });
                            for line in conn_problems(lang, cx.capture, c) {
                                ui.colored_label(style::BAD, line);
                            }
                            let untrusted = cx.capture.notices.iter().any(|n| {
                                n.conn == c.id
                                    && matches!(&n.what,
                                        NoticeKind::Error(ErrorKind::Tls(why))
                                            if why.contains("certificate"))
                            });
                            if untrusted {
                                // The error's hint names the command line's flags; here
                                // they are the trust choices above.
                                ui.label(t.tls_window_hint);
                            }
                        }
                    }
                }
            });
    }
}

/// Failures to reach `host`:`port` before any connection existed (connection 0's notices).
fn failures_to<'a>(
    capture: &'a Capture,
    host: &'a str,
    port: u16,
) -> impl Iterator<Item = &'a ErrorKind> + 'a {
    capture
        .notices
        .iter()
        .filter(|n| n.conn == 0)
        .filter_map(move |n| match &n.what {
            NoticeKind::Error(e @ ErrorKind::Resolve { host: h, .. }) if h == host => Some(e),
            NoticeKind::Error(e @ ErrorKind::Connect { addr, .. }) if addr.port() == port => {
                Some(e)
            }
            _ => None,
        })
}

fn standing<'a>(capture: &'a Capture, a: &'a Attempt) -> Standing<'a> {
    if let Some(c) = capture.connection(a.id) {
        return Standing::Conn(c);
    }
    match failures_to(capture, &a.host, a.port).nth(a.earlier_failures) {
        Some(e) => Standing::Failed(e),
        None => Standing::Connecting,
    }
}

/// What went wrong on a client connection, in `lang`: its errors and limits, a refusal, a 101
/// the client had to fail.
fn conn_problems(lang: Lang, capture: &Capture, c: &crate::capture::ConnRecord) -> Vec<String> {
    let t = lang.t();
    let mut out: Vec<String> = capture
        .notices
        .iter()
        .filter(|n| n.conn == c.id)
        .map(|n| match &n.what {
            NoticeKind::Error(e) => i18n::error_text(lang, e),
            NoticeKind::Limit {
                kind,
                limit,
                actual,
            } => i18n::limit_text(lang, *kind, *limit, *actual),
        })
        .collect();
    if let Some(hs) = &c.handshake {
        if let Some(f) = hs.client_failure() {
            out.push(fill(
                t.hs_client_failed,
                &[
                    &f.id.item(),
                    &i18n::response_rule(lang, f.id),
                    &i18n::check_found(lang, &f.detail),
                ],
            ));
        } else if !hs.accepted() {
            out.push(fill(t.attempt_refused, &[&hs.response.status]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_one_per_line_and_name_the_bad_line() {
        let ok = parse_headers(
            Lang::En,
            "Authorization: Bearer x\n\n X-A :  1 \r\nX-Empty:",
        );
        assert_eq!(
            ok,
            Ok(vec![
                ("Authorization".into(), "Bearer x".into()),
                ("X-A".into(), "1".into()),
                ("X-Empty".into(), String::new()),
            ])
        );
        let e = parse_headers(Lang::En, "X-A: 1\nno colon here");
        assert_eq!(
            e,
            Err("line 2: a header is Name: value, and this line has no colon".into())
        );
        let e = parse_headers(Lang::Zh, "Bad Name: 1");
        assert!(e.is_err_and(|e| e.starts_with("第 1 行")));
    }

    #[test]
    fn subprotocols_must_be_tokens() {
        assert_eq!(
            parse_protocols(Lang::En, " chat, superchat ,,"),
            Ok(vec!["chat".into(), "superchat".into()])
        );
        assert!(parse_protocols(Lang::En, "chat;v=1").is_err());
        assert!(parse_protocols(Lang::En, "中文").is_err());
    }

    #[test]
    fn a_bad_form_names_every_field_and_starts_nothing() {
        let p = ConnectPanel {
            url: "http://example.com/".into(),
            url_edited: true,
            protocols: "a b".into(),
            headers: "nope".into(),
            ..ConnectPanel::default()
        };
        let e = p.config(Lang::En).err().unwrap_or_default();
        assert_eq!(
            e.url.as_deref(),
            Some("the scheme must be ws:// or wss:// (§3), not http://")
        );
        assert!(e.protocols.is_some() && e.headers.is_some());
        let p = ConnectPanel {
            url: "wss://localhost:1/".into(),
            trust: TrustChoice::CaFile,
            ca_file: "/no/such/file.pem".into(),
            ..ConnectPanel::default()
        };
        let e = p.config(Lang::Zh).err().unwrap_or_default();
        assert_eq!(e.ca.as_deref(), Some("没有这个文件：/no/such/file.pem"));
        // The same trust with ws:// is not read, so it is no error.
        let p = ConnectPanel {
            url: "ws://[::1]:8765/chat?x=1".into(),
            trust: TrustChoice::CaFile,
            origin: " http://localhost ".into(),
            ..ConnectPanel::default()
        };
        let c = p
            .config(Lang::En)
            .unwrap_or_else(|_| panic!("valid form refused"));
        assert_eq!(c.url.resource, "/chat?x=1");
        assert_eq!(c.origin.as_deref(), Some("http://localhost"));
        assert_eq!(c.protocols, vec!["chat".to_string()]);
    }
}
