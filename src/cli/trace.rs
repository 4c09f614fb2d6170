//! One line per engine event, tshark-style, for `wsscope serve`.

use std::fmt::Write as _;

use crate::protocol::handshake::Outcome;
use crate::protocol::OpCode;
use crate::server::{ClosedBy, Direction, Event, EventKind};

use super::hex::hex_spaced;
use super::render::preview;

/// How much `serve` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceLevel {
    /// Only the listening line, warnings, limits, errors and the final summary.
    None,
    /// One line per event.
    Summary,
    /// One line per event plus the bytes and the checks.
    Full,
}

fn arrow(d: Direction) -> &'static str {
    match d {
        Direction::ClientToServer => "C->S",
        Direction::ServerToClient => "S->C",
    }
}

/// The text for `event` at `level`, or `None` when that level does not print it.
pub fn trace_line(event: &Event, level: TraceLevel) -> Option<String> {
    let always = matches!(
        event.kind,
        EventKind::Listening { .. }
            | EventKind::Limit { .. }
            | EventKind::Error { .. }
            | EventKind::Stopped
    );
    // Decide before formatting anything: with `--trace none` this runs for every event.
    if level == TraceLevel::None && !always {
        return None;
    }
    let t = event.time.as_secs_f64();
    let head = format!("{t:12.6}  #{:<4}", event.conn);
    let mut s = String::new();
    match &event.kind {
        EventKind::Listening { addr, warning } => {
            let _ = write!(
                s,
                "{head} listening on ws://{addr}/  (demo page: http://{addr}/)"
            );
            if let Some(w) = warning {
                let _ = write!(s, "\n{head} WARNING: {w}");
            }
        }
        EventKind::Opened { peer, local } => {
            let _ = write!(s, "{head} TCP open  {peer} -> {local}");
        }
        EventKind::Tcp { direction, bytes } => {
            let verb = match direction {
                Direction::ClientToServer => "read ",
                Direction::ServerToClient => "write",
            };
            let _ = write!(
                s,
                "{head} {} TCP {verb} {} bytes",
                arrow(*direction),
                bytes.len()
            );
            if level == TraceLevel::Full {
                let _ = write!(s, "  {}", hex_spaced(&bytes[..bytes.len().min(64)]));
                if bytes.len() > 64 {
                    s.push_str(" ...");
                }
            }
        }
        EventKind::Handshake(hs) => {
            let r = &hs.request;
            let _ = write!(
                s,
                "{head} handshake GET {} -> {} {}",
                r.path,
                hs.response.status,
                if hs.accepted() {
                    "switching protocols"
                } else {
                    hs.response.reason.as_str()
                }
            );
            if let Some(p) = &hs.response.subprotocol {
                let _ = write!(s, " (subprotocol {p})");
            }
            if let Some(d) = &hs.derivation {
                let _ = write!(s, "  key {} -> accept {}", d.key, d.accept);
            }
            if level == TraceLevel::Full {
                for c in &hs.checks {
                    if c.outcome != Outcome::Info || !c.detail.is_empty() {
                        let _ = write!(s, "\n{head}   {c}");
                    }
                }
            }
        }
        EventKind::Http {
            request,
            status,
            reason,
        } => {
            let _ = write!(s, "{head} HTTP {request} -> {status} ({reason})");
        }
        EventKind::Frame { direction, frame } => {
            let h = &frame.header;
            let _ = write!(
                s,
                "{head} {} frame {} fin={} rsv={}{}{} mask={} len={} ({})",
                arrow(*direction),
                h.opcode.name(),
                u8::from(h.fin),
                u8::from(h.rsv[0]),
                u8::from(h.rsv[1]),
                u8::from(h.rsv[2]),
                u8::from(h.masked),
                h.payload_len,
                h.len_encoding.describe(),
            );
            let text_like = matches!(
                h.opcode,
                OpCode::Text | OpCode::Continuation | OpCode::Ping | OpCode::Pong
            );
            if frame.payload_captured && !frame.payload.is_empty() {
                let _ = write!(s, " {}", preview(text_like, &frame.payload, 60));
            }
            for v in &frame.violations {
                let _ = write!(s, "\n{head}   VIOLATION {v}");
            }
            if level == TraceLevel::Full {
                let _ = write!(s, "\n{head}   header {}", hex_spaced(&frame.header_bytes));
            }
        }
        EventKind::Message { direction, message } => {
            let _ = write!(
                s,
                "{head} {} message {} {} bytes in {} frame(s) {}",
                arrow(*direction),
                message.opcode.name(),
                message.payload.len(),
                message.frame_count,
                preview(message.opcode == OpCode::Text, &message.payload, 60)
            );
        }
        EventKind::Limit { kind, detail } => {
            let _ = write!(s, "{head} LIMIT {kind:?}: {detail}");
        }
        EventKind::Closed {
            code,
            reason,
            by,
            clean,
        } => {
            let who = match by {
                ClosedBy::Client => "client",
                ClosedBy::Server => "server",
            };
            let code = code.map_or("no close frame (1006)".to_string(), |c| c.to_string());
            let _ = write!(
                s,
                "{head} closed by {who}: {code}{}{}",
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(" {reason:?}")
                },
                if *clean { ", clean" } else { ", not clean" }
            );
        }
        EventKind::Error { message } => {
            let _ = write!(s, "{head} ERROR {message}");
        }
        EventKind::Stopped => {
            let _ = write!(s, "{head} stopped");
        }
    }
    Some(s)
}

/// Running totals kept by a consumer, per direction: what `serve` prints at exit.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Connections accepted.
    pub connections: u64,
    /// TCP bytes read / written.
    pub bytes: [u64; 2],
    /// TCP read / write calls.
    pub tcp_calls: [u64; 2],
    /// Frames client->server / server->client.
    pub frames: [u64; 2],
    /// Messages client->server / server->client.
    pub messages: [u64; 2],
    /// Frames that broke a rule.
    pub violations: u64,
}

impl Totals {
    /// Counts `event`.
    pub fn add(&mut self, event: &Event) {
        let i = |d: &Direction| d.index();
        match &event.kind {
            EventKind::Opened { .. } => self.connections += 1,
            EventKind::Tcp { direction, bytes } => {
                self.bytes[i(direction)] += bytes.len() as u64;
                self.tcp_calls[i(direction)] += 1;
            }
            EventKind::Frame { direction, frame } => {
                self.frames[i(direction)] += 1;
                if !frame.violations.is_empty() {
                    self.violations += 1;
                }
            }
            EventKind::Message { direction, .. } => self.messages[i(direction)] += 1,
            _ => {}
        }
    }
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} connection(s); client->server {} bytes in {} reads, {} frames, {} messages; \
             server->client {} bytes in {} writes, {} frames, {} messages; {} frame(s) broke a rule",
            self.connections,
            self.bytes[0],
            self.tcp_calls[0],
            self.frames[0],
            self.messages[0],
            self.bytes[1],
            self.tcp_calls[1],
            self.frames[1],
            self.messages[1],
            self.violations
        )
    }
}
