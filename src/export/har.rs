//! Events as a HAR 1.2 file, shaped as Chrome DevTools writes WebSocket traffic (its
//! `front_end/models/har/Log.ts`), so DevTools (Network → Import HAR) and HAR viewers show it:
//!
//! - One entry per connection that sent an HTTP request. An upgrade request is an entry with a
//!   `ws://` URL, `_resourceType: "websocket"` and the server's answer (101, or the refusal's 400
//!   / 426); any other request (the demo page, a 404, a 431...) is an ordinary `http://` entry
//!   with its status and `_resourceType: "other"`. A connection whose request head never parsed
//!   (it sent nothing, or not HTTP) has no entry; [`HarSummary::skipped`] counts them.
//! - The request and response come from the exact bytes of the heads (the `Handshake` event's,
//!   else the first bytes each way): method, URL (`ws://` + the Host header + the target; the
//!   server's address when there is no Host), HTTP version, headers in order, query string,
//!   cookies, sizes.
//! - `_webSocketMessages`: every complete data message, as DevTools lists them: `type` is `send`
//!   for what the client (the browser, in DevTools) sent and `receive` for what the server sent,
//!   `time` is Unix seconds, `opcode` 1 (text, `data` the text) or 2 (binary, `data` base64).
//!   Control frames (ping, pong, close) are not listed; DevTools does not list them either.
//! - Times: `startedDateTime` is when the TCP connection opened (ISO 8601, UTC, milliseconds);
//!   `timings.wait` runs from there to the first response byte, `timings.receive` from there to
//!   the close (for a WebSocket, its whole life, as in DevTools); `time` is their sum. DNS,
//!   connect and TLS are not seen by wsscope and are -1 (HAR's "does not apply").
//!
//! Entries are written when their connection closes (or at the end of the events), so the file is
//! streamed. An entry holds its connection's messages, and entries do not interleave in a JSON
//! array, so the open connections' messages wait, already written as the JSON they take in the
//! file (a 32-byte text about 90 bytes, a 64 KiB binary its 87 KiB of base64). At most
//! [`HELD_IN_MEMORY`] of them wait in memory: past that they go to an unnamed temporary file and
//! are copied back when their entry is written, so a connection open for a whole day-long
//! capture costs disk, not memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use super::ExportError;
use crate::event::{ConnId, Direction, Event, EventKind};
use crate::protocol::OpCode;

/// What [`write_har`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HarSummary {
    /// HAR entries (one per connection with a request).
    pub entries: u64,
    /// Of those, WebSocket upgrade requests (accepted or refused).
    pub websockets: u64,
    /// Messages in `_webSocketMessages`, all entries together.
    pub messages: u64,
    /// Connections left out because no HTTP request head could be read from them.
    pub skipped: u64,
}

/// Bytes of a head kept at most; the server refuses heads past its limit long before this.
const HEAD_CAP: usize = 256 * 1024;
/// Header fields parsed at most per head.
const MAX_HEADERS: usize = 512;

/// The open connections' messages kept in memory at most, all together (see the module doc).
pub const HELD_IN_MEMORY: usize = 16 << 20;
/// One connection's messages kept in memory at most before they go to the temporary file: with
/// few connections open, the file is written in large pieces.
const HELD_PER_CONN: usize = 1 << 20;

/// Writes `events` to `out` as HAR 1.2 JSON (see the module doc for what an entry holds).
pub fn write_har<W: Write>(
    events: impl IntoIterator<Item = Event>,
    out: W,
) -> Result<HarSummary, ExportError> {
    write_har_holding(events, out, HELD_IN_MEMORY, HELD_PER_CONN).map(|(s, _)| s)
}

/// [`write_har`], holding at most `held` bytes of messages in memory (`per_conn` per
/// connection); also returns how many bytes went through the temporary file.
fn write_har_holding<W: Write>(
    events: impl IntoIterator<Item = Event>,
    mut out: W,
    held: usize,
    per_conn: usize,
) -> Result<(HarSummary, u64), ExportError> {
    out.write_all(b"{\"log\": {\n\"version\": \"1.2\",\n\"creator\": ")?;
    serde_json::to_writer(
        &mut out,
        &json!({"name": "wsscope", "version": env!("CARGO_PKG_VERSION")}),
    )?;
    out.write_all(b",\n\"pages\": [],\n\"entries\": [")?;
    let mut w = EntryWriter {
        out,
        unix_micros: 0,
        summary: HarSummary::default(),
        spill: Spill::default(),
    };
    let mut in_memory = 0usize;
    // Ordered by connection number, so the entries left open at the end come in order.
    let mut conns: BTreeMap<ConnId, Conn> = BTreeMap::new();
    for event in events {
        let (id, at) = (event.conn, event.time);
        if let EventKind::Clock { unix_micros } = event.kind {
            w.unix_micros = unix_micros;
            continue;
        }
        // Connection 0 is no connection (listening, server-wide errors).
        if id == 0 {
            continue;
        }
        let conn = conns.entry(id).or_insert_with(|| Conn::new(at));
        conn.last = at;
        match event.kind {
            EventKind::Opened { server, .. } => {
                conn.opened = at;
                conn.server = Some(server);
            }
            EventKind::Tcp { direction, bytes } => {
                let i = direction.index();
                conn.first_bytes[i].get_or_insert(at);
                conn.bytes[i] += bytes.len() as u64;
                conn.heads[i].push(&bytes);
            }
            EventKind::Handshake(h) => {
                conn.heads[0] = Head::whole(h.request.raw.clone());
                conn.heads[1] = Head::whole(h.response.raw.clone());
                conn.first_bytes[1].get_or_insert(at);
            }
            EventKind::Http { status, .. } => conn.status = Some(status),
            EventKind::Message { direction, message } => {
                let data = match message.opcode {
                    OpCode::Text => String::from_utf8_lossy(&message.payload).into_owned(),
                    _ => base64::engine::general_purpose::STANDARD.encode(&message.payload),
                };
                let before = conn.messages.len();
                if conn.message_count > 0 {
                    conn.messages.push(b',');
                }
                conn.message_count += 1;
                serde_json::to_writer(
                    &mut conn.messages,
                    &json!({
                        "type": match direction {
                            Direction::ClientToServer => "send",
                            Direction::ServerToClient => "receive",
                        },
                        "time": w.seconds(at),
                        "opcode": if message.opcode == OpCode::Text { 1 } else { 2 },
                        "data": data,
                    }),
                )?;
                in_memory += conn.messages.len() - before;
                if conn.messages.len() >= per_conn {
                    in_memory -= conn.messages.len();
                    w.spill.put(conn)?;
                }
                if in_memory > held {
                    // Every connection's, not only the largest: each byte is looked at again
                    // only after `held` more have arrived.
                    for c in conns.values_mut() {
                        w.spill.put(c)?;
                    }
                    in_memory = 0;
                }
            }
            EventKind::Closed { .. } => {
                if let Some(conn) = conns.remove(&id) {
                    in_memory -= conn.messages.len().min(in_memory);
                    w.entry(id, conn)?;
                }
            }
            _ => {}
        }
    }
    for (id, conn) in std::mem::take(&mut conns) {
        w.entry(id, conn)?;
    }
    w.out.write_all(b"\n]\n}}\n")?;
    w.out.flush()?;
    Ok((w.summary, w.spill.written))
}

/// The temporary file the open connections' messages go to past [`HELD_IN_MEMORY`]; created on
/// first use, deleted by the system when closed (it has no name).
#[derive(Default)]
struct Spill {
    file: Option<File>,
    /// Bytes written to it (where the next piece goes).
    written: u64,
}

impl Spill {
    /// Moves `conn`'s messages held in memory to the file.
    fn put(&mut self, conn: &mut Conn) -> Result<(), ExportError> {
        if conn.messages.is_empty() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => self
                .file
                .insert(tempfile::tempfile().map_err(ExportError::Spill)?),
        };
        file.seek(SeekFrom::Start(self.written))
            .and_then(|_| file.write_all(&conn.messages))
            .map_err(ExportError::Spill)?;
        let len = conn.messages.len() as u64;
        conn.spilled.push((self.written, len));
        self.written += len;
        // Freed, not kept for reuse: most connections never grow again.
        conn.messages = Vec::new();
        Ok(())
    }

    /// Copies the pieces of one connection back out of the file, in order.
    fn copy_out(&mut self, pieces: &[(u64, u64)], out: &mut impl Write) -> Result<(), ExportError> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        let mut buf = vec![0u8; 64 * 1024];
        for &(at, len) in pieces {
            file.seek(SeekFrom::Start(at)).map_err(ExportError::Spill)?;
            let mut left = len;
            while left > 0 {
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                file.read_exact(&mut buf[..n]).map_err(ExportError::Spill)?;
                out.write_all(&buf[..n])?;
                left -= n as u64;
            }
        }
        Ok(())
    }
}

/// The first HTTP head sent one way: bytes up to the blank line.
#[derive(Default)]
struct Head {
    bytes: Vec<u8>,
    done: bool,
}

impl Head {
    fn whole(bytes: Vec<u8>) -> Self {
        Self { bytes, done: true }
    }

    fn push(&mut self, more: &[u8]) {
        if self.done {
            return;
        }
        let room = HEAD_CAP.saturating_sub(self.bytes.len());
        self.bytes.extend_from_slice(&more[..more.len().min(room)]);
        if let Some(end) = self.bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            self.bytes.truncate(end + 4);
            self.done = true;
        } else if self.bytes.len() >= HEAD_CAP {
            self.done = true;
        }
    }
}

/// What is known about one connection until it closes.
struct Conn {
    opened: Duration,
    last: Duration,
    server: Option<SocketAddr>,
    /// Request head, response head (by [`Direction::index`]).
    heads: [Head; 2],
    /// When the first bytes went each way.
    first_bytes: [Option<Duration>; 2],
    /// Bytes each way.
    bytes: [u64; 2],
    /// The status of a plain HTTP answer.
    status: Option<u16>,
    /// `_webSocketMessages` as written in the file, without the brackets: the pieces in the
    /// temporary file (offset, length) come first, then what is still in memory.
    spilled: Vec<(u64, u64)>,
    messages: Vec<u8>,
    message_count: u64,
}

impl Conn {
    fn new(at: Duration) -> Self {
        Self {
            opened: at,
            last: at,
            server: None,
            heads: [Head::default(), Head::default()],
            first_bytes: [None; 2],
            bytes: [0; 2],
            status: None,
            spilled: Vec::new(),
            messages: Vec::new(),
            message_count: 0,
        }
    }
}

/// A parsed request or response head.
struct Parsed {
    version: u8,
    headers: Vec<(String, String)>,
    size: usize,
}

impl Parsed {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn headers_json(&self) -> Vec<Value> {
        self.headers
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect()
    }
}

fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

/// Method, target and head of a request, if its head parses completely.
fn parse_request(bytes: &[u8]) -> Option<(String, String, Parsed)> {
    let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(size) = req.parse(bytes).ok()? else {
        return None;
    };
    Some((
        req.method?.to_string(),
        req.path?.to_string(),
        Parsed {
            version: req.version?,
            headers: owned_headers(req.headers),
            size,
        },
    ))
}

/// Status, reason and head of a response, if its head parses completely.
fn parse_response(bytes: &[u8]) -> Option<(u16, String, Parsed)> {
    let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(size) = res.parse(bytes).ok()? else {
        return None;
    };
    Some((
        res.code?,
        res.reason.unwrap_or_default().to_string(),
        Parsed {
            version: res.version?,
            headers: owned_headers(res.headers),
            size,
        },
    ))
}

/// The output after the opening, and the clock.
struct EntryWriter<W: Write> {
    out: W,
    unix_micros: u64,
    summary: HarSummary,
    spill: Spill,
}

impl<W: Write> EntryWriter<W> {
    /// Unix time of `at`, in seconds (as `_webSocketMessages` have it).
    fn seconds(&self, at: Duration) -> f64 {
        (self.unix_micros as f64 + at.as_micros() as f64) / 1e6
    }

    /// Writes the entry of a finished connection (or counts it as skipped).
    fn entry(&mut self, id: ConnId, conn: Conn) -> Result<(), ExportError> {
        let Some((method, target, req)) = parse_request(&conn.heads[0].bytes) else {
            self.summary.skipped += 1;
            return Ok(());
        };
        let websocket = req
            .header("Upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        let host = req
            .header("Host")
            .map(str::to_string)
            .or_else(|| conn.server.map(|s| s.to_string()))
            .unwrap_or_else(|| "localhost".into());
        let url = if target.starts_with('/') {
            format!("{}://{host}{target}", if websocket { "ws" } else { "http" })
        } else {
            target.clone()
        };
        let url = url.split('#').next().unwrap_or_default().to_string();
        let query = target
            .split_once('?')
            .map(|(_, q)| q.split('#').next().unwrap_or_default())
            .unwrap_or_default();

        let response = parse_response(&conn.heads[1].bytes);
        let status = response.as_ref().map(|r| r.0).or(conn.status).unwrap_or(0);
        let response_json = match &response {
            Some((_, reason, head)) => {
                // A 101's bytes after the head are frames, not a body.
                let body = if status == 101 {
                    0
                } else {
                    conn.bytes[1].saturating_sub(head.size as u64)
                };
                json!({
                    "status": status,
                    "statusText": reason,
                    "httpVersion": format!("HTTP/1.{}", head.version),
                    "headers": head.headers_json(),
                    "cookies": set_cookies(head),
                    "content": {
                        "size": body,
                        "mimeType": head.header("Content-Type").unwrap_or("x-unknown"),
                    },
                    "redirectURL": head.header("Location").unwrap_or_default(),
                    "headersSize": head.size,
                    "bodySize": body,
                    "_transferSize": head.size as u64 + body,
                    "_error": null,
                })
            }
            // No answer came (the peer went first): HAR's "unknown" sizes.
            None => json!({
                "status": status,
                "statusText": "",
                "httpVersion": "",
                "headers": [],
                "cookies": [],
                "content": {"size": 0, "mimeType": "x-unknown"},
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": -1,
                "_transferSize": 0,
                "_error": null,
            }),
        };

        let started = conn.opened;
        let answered = conn.first_bytes[1].unwrap_or(conn.last).max(started);
        let end = conn.last.max(answered);
        let wait = millis(answered - started);
        let receive = millis(end - answered);
        let entry = json!({
            "_resourceType": if websocket { "websocket" } else { "other" },
            "cache": {},
            "connection": id.to_string(),
            "request": {
                "method": method,
                "url": url,
                "httpVersion": format!("HTTP/1.{}", req.version),
                "headers": req.headers_json(),
                "queryString": query_string(query),
                "cookies": cookies(&req),
                "headersSize": req.size,
                "bodySize": 0,
            },
            "response": response_json,
            "serverIPAddress": conn.server.map(|s| s.ip().to_string()).unwrap_or_default(),
            "startedDateTime": iso8601(self.unix_micros.saturating_add(micros(started))),
            "time": wait + receive,
            "timings": {
                "blocked": -1,
                "dns": -1,
                "ssl": -1,
                "connect": -1,
                "send": 0,
                "wait": wait,
                "receive": receive,
                "_blocked_queueing": -1,
            },
        });
        self.out.write_all(if self.summary.entries == 0 {
            b"\n"
        } else {
            b",\n"
        })?;
        let entry = serde_json::to_vec(&entry)?;
        if websocket {
            self.summary.websockets += 1;
            self.summary.messages += conn.message_count;
            // The messages go last, as the entry's last key (written as they were kept).
            let open = entry.strip_suffix(b"}").unwrap_or(&entry);
            self.out.write_all(open)?;
            self.out.write_all(b",\"_webSocketMessages\":[")?;
            self.spill.copy_out(&conn.spilled, &mut self.out)?;
            self.out.write_all(&conn.messages)?;
            self.out.write_all(b"]}")?;
        } else {
            self.out.write_all(&entry)?;
        }
        self.summary.entries += 1;
        Ok(())
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `name=value` pairs of a query, percent-decoded (`+` is a space, as in forms).
fn query_string(query: &str) -> Vec<Value> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            json!({"name": percent_decode(name), "value": percent_decode(value)})
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The request's cookies (`Cookie: a=1; b=2`).
fn cookies(req: &Parsed) -> Vec<Value> {
    req.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Cookie"))
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|c| {
            let (name, value) = c.trim().split_once('=')?;
            Some(json!({"name": name, "value": value}))
        })
        .collect()
}

/// The response's cookies (`Set-Cookie: a=1; Path=/`: the name and value).
fn set_cookies(res: &Parsed) -> Vec<Value> {
    res.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Set-Cookie"))
        .filter_map(|(_, v)| {
            let first = v.split(';').next()?;
            let (name, value) = first.trim().split_once('=')?;
            Some(json!({"name": name, "value": value}))
        })
        .collect()
}

/// `2026-11-30T04:09:42.123Z` for a time in microseconds since the Unix epoch (UTC, milliseconds,
/// as JavaScript's `Date.toJSON` and so DevTools write it).
pub(crate) fn iso8601(unix_micros: u64) -> String {
    let secs = unix_micros / 1_000_000;
    let millis = (unix_micros % 1_000_000) / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ClosedBy, Endpoint};
    use crate::protocol::Message;
    use bytes::Bytes;

    /// Three WebSockets whose messages interleave: #2 closes half way, #1 at the end, #3 never.
    fn interleaved() -> Vec<Event> {
        let at = |ms: u64| Duration::from_millis(ms);
        let ev = |conn, ms, kind| Event {
            conn,
            time: at(ms),
            kind,
        };
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let tcp = |direction, text: &str| EventKind::Tcp {
            direction,
            bytes: Bytes::from(text.to_string()),
        };
        let mut events = vec![ev(
            0,
            0,
            EventKind::Clock {
                unix_micros: 1_796_011_782_000_000,
            },
        )];
        for id in 1..=3u64 {
            events.push(ev(
                id,
                id,
                EventKind::Opened {
                    endpoint: Endpoint::Server,
                    client: addr(40000 + id as u16),
                    server: addr(8080),
                },
            ));
            events.push(ev(id, id, tcp(Direction::ClientToServer, "GET /chat?x=1 HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")));
            events.push(ev(
                id,
                id,
                tcp(
                    Direction::ServerToClient,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
                ),
            ));
        }
        for i in 0..600u64 {
            let id = 1 + i % 3;
            if id == 2 && i > 298 {
                continue;
            }
            let (opcode, payload) = if i % 4 == 0 {
                (
                    OpCode::Binary,
                    Bytes::from(vec![i as u8; (i * 7 % 500) as usize]),
                )
            } else {
                (
                    OpCode::Text,
                    Bytes::from(format!("message {i} {}", "x".repeat((i % 90) as usize))),
                )
            };
            let direction = if i % 2 == 0 {
                Direction::ClientToServer
            } else {
                Direction::ServerToClient
            };
            events.push(ev(
                id,
                10 + i,
                EventKind::Message {
                    direction,
                    message: Message {
                        opcode,
                        payload,
                        frame_count: 1,
                        byte_range: 0..1,
                    },
                },
            ));
            if id == 2 && i == 298 {
                events.push(ev(
                    2,
                    10 + i,
                    EventKind::Closed {
                        code: None,
                        reason: String::new(),
                        by: ClosedBy::Client,
                        clean: false,
                    },
                ));
            }
        }
        events.push(ev(
            1,
            700,
            EventKind::Closed {
                code: None,
                reason: String::new(),
                by: ClosedBy::Server,
                clean: false,
            },
        ));
        events
    }

    /// Messages that wait in the temporary file come back in place: the file is byte-identical
    /// to one written with everything held in memory, whatever the caps.
    #[test]
    fn messages_past_the_memory_cap_come_back_from_the_file_in_place() {
        let events = interleaved();
        let write = |held, per_conn| {
            let mut out = Vec::new();
            let (summary, spilled) = write_har_holding(events.clone(), &mut out, held, per_conn)
                .unwrap_or_else(|e| panic!("{e}"));
            (out, summary, spilled)
        };
        let (whole, summary, spilled) = write(usize::MAX, usize::MAX);
        assert_eq!(spilled, 0);
        assert_eq!(
            (summary.entries, summary.websockets, summary.messages),
            (3, 3, 500)
        );
        let parsed: Value = serde_json::from_slice(&whole).unwrap_or_else(|e| panic!("{e}"));
        let counts: Vec<usize> = parsed["log"]["entries"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["_webSocketMessages"].as_array().map_or(0, Vec::len))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(counts, [100, 200, 200]);
        for (held, per_conn) in [(2_000, usize::MAX), (usize::MAX, 700), (1, 1), (5_000, 300)] {
            let (out, s, spilled) = write(held, per_conn);
            assert!(spilled > 0, "held {held}, per connection {per_conn}");
            assert_eq!(s, summary);
            assert!(
                out == whole,
                "held {held}, per connection {per_conn}: the file differs"
            );
        }
    }

    #[test]
    fn iso8601_matches_known_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        // date -u -d @951782400.5 → 2000-02-29 (a leap day of a century leap year).
        assert_eq!(iso8601(951_782_400_500_000), "2000-02-29T00:00:00.500Z");
        // 2026-11-30T04:09:42.123Z
        assert_eq!(iso8601(1_796_011_782_123_456), "2026-11-30T04:09:42.123Z");
        assert_eq!(iso8601(4_102_444_799_999_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn query_strings_are_split_and_decoded() {
        let q = query_string("a=1&b=x%20y+z&c&d=%E4%BD%A0&bad=%zz%4");
        let pairs: Vec<(String, String)> = q
            .iter()
            .map(|v| (v["name"].to_string(), v["value"].to_string()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("\"a\"", "\"1\""),
                ("\"b\"", "\"x y z\""),
                ("\"c\"", "\"\""),
                ("\"d\"", "\"你\""),
                ("\"bad\"", "\"%zz%4\""),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }
}
