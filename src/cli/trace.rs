//! One line per event, tshark-style, for `wsscope serve`, in English or Chinese (numbers,
//! bytes, addresses and header values are never translated).

use std::fmt::Write as _;

use crate::event::{ClosedBy, Direction, Event, EventKind};
use crate::explain::{hex_spaced, preview};
use crate::i18n::{self, fill, Lang};
use crate::protocol::handshake::{Found, Outcome};
use crate::protocol::{OpCode, Role};

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

/// The text for `event` at `level` in `lang`, or `None` when that level does not print it, as
/// wsscope's server sees it (what the client sent was read, what the server sent was written).
pub fn trace_line(event: &Event, level: TraceLevel, lang: Lang) -> Option<String> {
    trace_line_as(event, level, lang, Role::Server)
}

/// Trace lines for a stream of events from any source: each connection's TCP calls are worded
/// from wsscope's side of it (its `Opened` event says which end wsscope is), so a client's or a
/// proxy leg's own bytes are writes and the peer's are reads, as on the server.
#[derive(Debug, Default)]
pub struct Tracer {
    roles: std::collections::HashMap<crate::event::ConnId, Role>,
    /// Per connection and direction, the message being received: whether its first frame had
    /// RSV1 (compressed, RFC 7692 §6) and its payload bytes on the wire so far.
    wire: std::collections::HashMap<(crate::event::ConnId, usize), (bool, u64)>,
}

impl Tracer {
    /// The line for `event`, as [`trace_line`] says it.
    pub fn line(&mut self, event: &Event, level: TraceLevel, lang: Lang) -> Option<String> {
        if let EventKind::Opened { endpoint, .. } = &event.kind {
            if let Some(r) = endpoint.role() {
                self.roles.insert(event.conn, r);
            }
        }
        let ours = self.roles.get(&event.conn).copied().unwrap_or(Role::Server);
        let mut compressed = None;
        match &event.kind {
            EventKind::Closed { .. } => {
                self.roles.remove(&event.conn);
                self.wire.retain(|k, _| k.0 != event.conn);
            }
            // Nothing of a frame or a message is printed at this level: keep no state for it.
            _ if level == TraceLevel::None => {}
            EventKind::Frame { direction, frame } => {
                let key = (event.conn, direction.index());
                let h = &frame.header;
                match h.opcode {
                    OpCode::Text | OpCode::Binary => {
                        self.wire.insert(key, (h.rsv[0], h.payload_len));
                    }
                    OpCode::Continuation => {
                        if let Some(w) = self.wire.get_mut(&key) {
                            w.1 = w.1.saturating_add(h.payload_len);
                        }
                    }
                    _ => {}
                }
            }
            EventKind::Message { direction, .. } => {
                compressed = self
                    .wire
                    .remove(&(event.conn, direction.index()))
                    .and_then(|(rsv1, n)| rsv1.then_some(n));
            }
            _ => {}
        }
        line(event, level, lang, ours, compressed)
    }
}

/// [`trace_line`] for an endpoint playing `ours`: its own bytes are written, the peer's read.
pub fn trace_line_as(event: &Event, level: TraceLevel, lang: Lang, ours: Role) -> Option<String> {
    line(event, level, lang, ours, None)
}

/// [`trace_line_as`]; `compressed`: a message's payload bytes on the wire, when its frames
/// carried it compressed (the [`Tracer`] follows the frames to know).
fn line(
    event: &Event,
    level: TraceLevel,
    lang: Lang,
    ours: Role,
    compressed: Option<u64>,
) -> Option<String> {
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
    let t = lang.t();
    let time = event.time.as_secs_f64();
    let head = format!("{time:12.6}  #{:<4}", event.conn);
    let mut s = String::new();
    match &event.kind {
        // The wall-clock anchor is for files and exports, not for a reader of the trace.
        EventKind::Clock { .. } => return None,
        EventKind::Listening { addr } => {
            let _ = write!(s, "{head} {}", fill(t.tr_listening, &[addr]));
            if let Some(w) = i18n::listening_warning(lang, *addr) {
                let _ = write!(s, "\n{head} {w}");
            }
        }
        EventKind::Opened { client, server, .. } => {
            let _ = write!(s, "{head} {}", fill(t.tr_tcp_open, &[client, server]));
        }
        EventKind::Relay { peer } => {
            let _ = write!(s, "{head} {}", fill(t.tr_relay, &[peer]));
        }
        EventKind::Tls(info) => {
            let _ = write!(s, "{head} {}", i18n::tls_text(lang, info));
        }
        EventKind::Tcp { direction, bytes } => {
            let what = if *direction == Direction::sent_by(ours) {
                t.tr_tcp_write
            } else {
                t.tr_tcp_read
            };
            let _ = write!(
                s,
                "{head} {} {}",
                arrow(*direction),
                fill(what, &[&bytes.len()])
            );
            if level == TraceLevel::Full {
                let _ = write!(s, "  {}", hex_spaced(&bytes[..bytes.len().min(64)]));
                if bytes.len() > 64 {
                    s.push_str(" ...");
                }
            }
        }
        EventKind::Handshake(hs) => {
            let verdict = if hs.accepted() {
                t.tr_switching.to_string()
            } else {
                i18n::refusal(lang, hs).unwrap_or_else(|| {
                    if hs.response.failed.is_empty() {
                        // A real server's refusal (a capture file): no rule of ours was broken.
                        t.tr_server_refused.to_string()
                    } else {
                        i18n::http_reason(lang, &crate::event::HttpOutcome::UpgradeRefused, None)
                    }
                })
            };
            let status = hs.response.status;
            let _ = write!(
                s,
                "{head} {}",
                fill(t.tr_handshake, &[&hs.request.path, &status, &verdict])
            );
            if let Some(p) = &hs.response.subprotocol {
                s.push_str(&fill(t.tr_subprotocol, &[p]));
            }
            if let Some(d) = &hs.derivation {
                s.push_str(&fill(t.tr_key, &[&d.key, &d.accept]));
            }
            // A response seen on the wire: did the real server derive the accept right?
            match &hs.response.accept_check {
                Some(c) if c.matches => s.push_str(t.tr_accept_ok),
                Some(c) => match &c.sent {
                    Some(sent) => s.push_str(&fill(t.tr_accept_bad, &[sent])),
                    None => s.push_str(t.tr_accept_missing),
                },
                None => {}
            }
            if let Some(why) = i18n::client_failure(lang, hs) {
                s.push_str(&why);
            }
            if level == TraceLevel::Full {
                for c in &hs.response.client_checks {
                    let _ = write!(s, "\n{head}   {}", i18n::response_check_line(lang, c));
                }
                for c in &hs.checks {
                    let empty_info = c.outcome == Outcome::Info
                        && matches!(&c.detail, Found::Value(v) if v.is_empty());
                    if !empty_info {
                        let _ = write!(s, "\n{head}   {}", i18n::check_line(lang, c));
                    }
                }
            }
        }
        EventKind::Http {
            request,
            status,
            outcome,
        } => {
            let reason = i18n::http_reason(lang, outcome, request.as_ref());
            let request = i18n::request_text(lang, request.as_ref());
            let _ = write!(
                s,
                "{head} {}",
                fill(t.tr_http, &[&request, status, &reason])
            );
        }
        EventKind::Frame { direction, frame } => {
            let h = &frame.header;
            let _ = write!(
                s,
                "{head} {} {} {} fin={} rsv={}{}{} mask={} len={} ({})",
                arrow(*direction),
                t.tr_frame,
                i18n::opcode_name(lang, h.opcode),
                u8::from(h.fin),
                u8::from(h.rsv[0]),
                u8::from(h.rsv[1]),
                u8::from(h.rsv[2]),
                u8::from(h.masked),
                h.payload_len,
                i18n::len_encoding(lang, h.len_encoding),
            );
            let text_like = matches!(
                h.opcode,
                OpCode::Text | OpCode::Continuation | OpCode::Ping | OpCode::Pong
            );
            if frame.payload_captured && !frame.payload.is_empty() {
                let _ = write!(s, " {}", preview(text_like, &frame.payload, 60));
            }
            for v in &frame.violations {
                let line = fill(
                    t.tr_violation_line,
                    &[
                        &t.tr_violation,
                        &v.section(),
                        &i18n::rule(lang, v.rule),
                        &v.byte_range.start,
                        &v.byte_range.end.max(v.byte_range.start),
                        &v.close_code().code(),
                    ],
                );
                let _ = write!(s, "\n{head}   {line}");
                if let Some(detail) = i18n::violation_detail(lang, &v.detail) {
                    s.push_str(&fill(t.paren, &[&detail]));
                }
            }
            if level == TraceLevel::Full {
                let header = fill(t.tr_header, &[&hex_spaced(&frame.header_bytes)]);
                let _ = write!(s, "\n{head}   {header}");
            }
        }
        EventKind::Message { direction, message } => {
            let what = fill(
                t.tr_message,
                &[
                    &message.opcode.name(),
                    &message.payload.len(),
                    &message.frame_count,
                ],
            );
            let _ = write!(s, "{head} {} {what}", arrow(*direction));
            if let Some(n) = compressed {
                let c = fill(t.tr_compressed, &[&n, &message.payload.len()]);
                s.push_str(&fill(t.paren, &[&c]));
            }
            let _ = write!(
                s,
                " {}",
                preview(message.opcode == OpCode::Text, &message.payload, 60)
            );
        }
        EventKind::Limit {
            kind,
            limit,
            actual,
        } => {
            let _ = write!(
                s,
                "{head} {} {kind:?}: {}",
                t.tr_limit,
                i18n::limit_text(lang, *kind, *limit, *actual)
            );
        }
        EventKind::Closed {
            code,
            reason,
            by,
            clean,
        } => {
            let who = match by {
                ClosedBy::Client => t.tr_by_client,
                ClosedBy::Server => t.tr_by_server,
            };
            let code = code.map_or(t.tr_no_close_frame.to_string(), |c| {
                format!("{} ({})", c.code(), i18n::close_meaning(lang, c))
            });
            let _ = write!(s, "{head} {}", fill(t.tr_closed, &[&who, &code]));
            if !reason.is_empty() {
                let _ = write!(s, " {reason:?}");
            }
            s.push_str(if *clean { t.tr_clean } else { t.tr_not_clean });
        }
        EventKind::Error(e) => {
            let _ = write!(s, "{head} {} {}", t.tr_error, i18n::error_text(lang, e));
        }
        EventKind::Stopped => {
            let _ = write!(s, "{head} {}", t.tr_stopped);
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

    /// The totals line in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        fill(
            lang.t().tr_totals,
            &[
                &self.connections,
                &self.bytes[0],
                &self.tcp_calls[0],
                &self.frames[0],
                &self.messages[0],
                &self.bytes[1],
                &self.tcp_calls[1],
                &self.frames[1],
                &self.messages[1],
                &self.violations,
            ],
        )
    }
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text(Lang::En))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::protocol::handshake::{answer, parse_request, Parsed, ServerPolicy};
    use crate::protocol::{Decoded, Decoder, DecoderConfig, Role};

    fn event(kind: EventKind) -> Event {
        Event {
            conn: 1,
            time: Duration::from_millis(5),
            kind,
        }
    }

    fn frame_event(bytes: &[u8]) -> Event {
        let mut d = Decoder::new(DecoderConfig {
            sender: Some(Role::Client),
            ..Default::default()
        });
        let mut out = Vec::new();
        d.feed(bytes, &mut out);
        match out.into_iter().next() {
            Some(Decoded::Frame(frame)) => event(EventKind::Frame {
                direction: Direction::ClientToServer,
                frame: Box::new(frame),
            }),
            other => panic!("{other:?}"),
        }
    }

    /// RFC 7692 §7.2.3.4's fragmented compressed "Hello" (masked, as a client sends it): the
    /// message line says how many bytes it took on the wire and how many it inflated to.
    #[test]
    fn a_compressed_message_says_its_wire_size() {
        let mut d = Decoder::new(DecoderConfig {
            sender: Some(Role::Client),
            ..Default::default()
        });
        let params = crate::protocol::deflate::DeflateParams::default();
        d.set_extension(Box::new(crate::protocol::deflate::PerMessageDeflate::new(
            &params,
            Role::Client,
        )));
        let mut bytes = Vec::new();
        for (b0, payload) in [
            (0x41, &[0xf2, 0x48, 0xcd][..]),
            (0x80, &[0xc9, 0xc9, 0x07, 0x00]),
        ] {
            let mut h = crate::protocol::FrameHeader::new(
                OpCode::Continuation,
                payload.len() as u64,
                Some([1, 2, 3, 4]),
            );
            h.fin = b0 & 0x80 != 0;
            h.rsv[0] = b0 & 0x40 != 0;
            h.opcode = OpCode::from(b0 & 0x0f);
            crate::protocol::encode_frame(h, payload, &mut bytes);
        }
        let mut out = Vec::new();
        d.feed(&bytes, &mut out);
        let events: Vec<Event> = out
            .into_iter()
            .map(|d| match d {
                Decoded::Frame(frame) => event(EventKind::Frame {
                    direction: Direction::ClientToServer,
                    frame: Box::new(frame),
                }),
                Decoded::Message(message) => event(EventKind::Message {
                    direction: Direction::ClientToServer,
                    message,
                }),
            })
            .collect();
        assert_eq!(events.len(), 3);
        for (lang, want) in [
            (Lang::En, "(compressed 7 -> 5 bytes) \"Hello\""),
            (Lang::Zh, "（压缩 7 -> 5 字节） \"Hello\""),
        ] {
            let mut tracer = Tracer::default();
            let lines: Vec<String> = events
                .iter()
                .filter_map(|e| tracer.line(e, TraceLevel::Summary, lang))
                .collect();
            assert!(lines[2].contains(want), "{}", lines[2]);
            assert!(lines[0].contains("rsv=100"), "{}", lines[0]);
        }
        // Uncompressed messages say nothing of compression.
        let mut tracer = Tracer::default();
        let plain = frame_event(&[0x81, 0x85, 0, 0, 0, 0, b'H', b'e', b'l', b'l', b'o']);
        let _ = tracer.line(&plain, TraceLevel::Summary, Lang::En);
        let m = event(EventKind::Message {
            direction: Direction::ClientToServer,
            message: crate::protocol::Message {
                opcode: OpCode::Text,
                payload: bytes::Bytes::from_static(b"Hello"),
                frame_count: 1,
                byte_range: 0..11,
            },
        });
        let line = tracer
            .line(&m, TraceLevel::Summary, Lang::En)
            .unwrap_or_default();
        assert!(!line.contains("compressed"), "{line}");
    }

    #[test]
    fn violation_lines_say_the_detail_in_the_readers_language() {
        // Unmasked, and a 5-byte length in the 16-bit form.
        let e = frame_event(&[0x81, 0x7e, 0x00, 0x05, b'H', b'e', b'l', b'l', b'o']);
        let en = trace_line(&e, TraceLevel::Summary, Lang::En).unwrap_or_default();
        let zh = trace_line(&e, TraceLevel::Summary, Lang::Zh).unwrap_or_default();
        assert!(en.contains("(the MASK bit is 0)"), "{en}");
        assert!(
            en.contains(
                "(5 bytes sent in the 7+16-bit (126 + u16) form; the 7-bit form is enough)"
            ),
            "{en}"
        );
        assert!(zh.contains("（MASK 位是 0）"), "{zh}");
        assert!(
            zh.contains("（5 字节用了 7+16 位（126 + u16）形式；7 位形式就够了）"),
            "{zh}"
        );
        // The frame line names the length form in Chinese too.
        assert!(zh.contains("len=5 (7+16 位（126 + u16）)"), "{zh}");
        assert!(!zh.contains("bytes") && !zh.contains("bit "), "{zh}");
    }

    #[test]
    fn full_trace_check_lines_are_translated_and_keep_values() {
        let raw = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: hello\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let Ok(Parsed::Complete(req)) = parse_request(raw.as_bytes(), &Default::default()) else {
            panic!("the request parses");
        };
        let e = event(EventKind::Handshake(Box::new(answer(
            req,
            &ServerPolicy::default(),
        ))));
        let en = trace_line(&e, TraceLevel::Full, Lang::En).unwrap_or_default();
        let zh = trace_line(&e, TraceLevel::Full, Lang::Zh).unwrap_or_default();
        // The refusal names the rule and what was found.
        assert!(en.contains("-> 400 RFC 6455 §4.2.1 item 5"), "{en}");
        assert!(zh.contains("-> 400 RFC 6455 §4.2.1 第 5 条"), "{zh}");
        assert!(
            en.contains("[FAIL] §4.2.1 item 5: Sec-WebSocket-Key present once, base64 of 16 bytes — hello: not valid base64"),
            "{en}"
        );
        assert!(zh.contains("[失败] §4.2.1 第 5 条"), "{zh}");
        assert!(zh.contains("— hello：不是合法的 base64"), "{zh}");
        assert!(
            zh.contains("[信息] §4.2.1 第 7 条：Origin（可选；浏览器会发送） — 未发送"),
            "{zh}"
        );
        assert!(!zh.contains("absent") && !zh.contains("missing"), "{zh}");
        assert_eq!(en.lines().count(), zh.lines().count());
    }
}
