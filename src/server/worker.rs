//! One connection: the opening handshake (or a plain HTTP answer), then the WebSocket loop.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::event::{ClosedBy, Command, ConnId, Direction, EventKind, LimitKind, ReplyMode};
use super::{Event, Shared};
use crate::protocol::connection::ConnectionEvent;
use crate::protocol::handshake::{
    answer, error_response, http_response, parse_request, HandshakeError, Parsed, Request,
};
use crate::protocol::{
    CloseCode, Connection, Decoded, Decoder, DecoderConfig, Limits, OpCode, Role, Rule,
};

/// The demo page served on `GET /` so a browser in the room can be the client.
const DEMO_PAGE: &str = include_str!("../../assets/demo.html");

/// Largest read: enough that a 64 KiB message arrives in one or two reads.
const READ_BUF: usize = 64 * 1024;

/// The first read buffer of a WebSocket connection. Many connections only ever read a few small
/// frames: the large buffer is allocated once a read fills this one.
const FIRST_READ_BUF: usize = 4 * 1024;

/// Events one TCP read usually makes (the read, a frame and its message, the reply's write,
/// frame and message): the batch vector gets that room at once instead of growing twice.
const BATCH: usize = 8;

/// How long to wait for the client's close (or EOF) after the server closed its side.
const LINGER: Duration = Duration::from_secs(2);

/// A connection after the handshake, as the command thread reaches it. Its thread reads and
/// whoever holds `ws` writes through the same socket (`&TcpStream` is `Read` and `Write`), so no
/// duplicate descriptors are needed.
pub(crate) struct Slot {
    stream: TcpStream,
    ws: Mutex<WsState>,
}

impl Slot {
    pub(crate) fn disconnect(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// The protocol state, behind one lock so writes keep their order.
struct WsState {
    conn: Connection,
    /// Decodes what the server writes, so outgoing frames are captured the same way.
    out_decoder: Decoder,
    /// What `out_decoder` produced, reused from write to write.
    out_decoded: Vec<Decoded>,
    close: CloseInfo,
    write_shut: bool,
}

#[derive(Default)]
struct CloseInfo {
    code: Option<CloseCode>,
    reason: String,
    by: Option<ClosedBy>,
    clean: bool,
}

/// Serves one accepted connection; `addrs` are its peer and local addresses.
pub(crate) fn run(
    shared: &Arc<Shared>,
    id: ConnId,
    stream: TcpStream,
    addrs: io::Result<(SocketAddr, SocketAddr)>,
) {
    let _ = stream.set_nodelay(true);
    let (peer, local) = match addrs {
        Ok(a) => a,
        Err(e) => {
            shared.publish(vec![shared.event(
                id,
                EventKind::Error {
                    message: format!("connection lost at once: {e}"),
                },
            )]);
            return;
        }
    };
    shared.publish(vec![shared.event(id, EventKind::Opened { peer, local })]);
    // A request head is small: the large read buffer is only allocated for a WebSocket.
    let mut head_buf = [0u8; 4096];
    match handshake(shared, id, &stream, &mut head_buf) {
        Ok(Some(leftover)) => websocket(shared, id, stream, &leftover),
        Ok(None) => {}
        Err(e) => {
            shared.publish(vec![
                shared.event(
                    id,
                    EventKind::Error {
                        message: e.to_string(),
                    },
                ),
                closed_unclean(shared, id, ClosedBy::Client),
            ]);
        }
    }
}

fn closed_unclean(shared: &Shared, id: ConnId, by: ClosedBy) -> Event {
    shared.event(
        id,
        EventKind::Closed {
            code: None,
            reason: String::new(),
            by,
            clean: false,
        },
    )
}

fn tcp(shared: &Shared, id: ConnId, direction: Direction, bytes: &[u8]) -> Event {
    shared.event(
        id,
        EventKind::Tcp {
            direction,
            bytes: Bytes::copy_from_slice(bytes),
        },
    )
}

/// A plain HTTP answer: what was asked, what is answered and why.
pub(crate) struct HttpAnswer {
    pub(crate) request: String,
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) response: Vec<u8>,
}

/// Writes an HTTP answer, publishes it and ends the connection.
pub(crate) fn answer_http(
    shared: &Shared,
    id: ConnId,
    mut stream: &TcpStream,
    mut batch: Vec<Event>,
    a: HttpAnswer,
) {
    let HttpAnswer {
        request,
        status,
        reason,
        response,
    } = a;
    let written = stream.write_all(&response);
    batch.push(tcp(shared, id, Direction::ServerToClient, &response));
    batch.push(shared.event(
        id,
        EventKind::Http {
            request,
            status,
            reason,
        },
    ));
    if let Err(e) = written {
        batch.push(shared.event(
            id,
            EventKind::Error {
                message: format!("writing the {status} response: {e}"),
            },
        ));
    }
    let _ = stream.shutdown(Shutdown::Write);
    batch.push(shared.event(
        id,
        EventKind::Closed {
            code: None,
            reason: String::new(),
            by: ClosedBy::Server,
            clean: false,
        },
    ));
    shared.publish(batch);
}

/// Reads the request head and answers it. `Some(bytes)` means the connection is now a
/// WebSocket and `bytes` arrived after the head (the client's first frames).
fn handshake(
    shared: &Shared,
    id: ConnId,
    stream: &TcpStream,
    buf: &mut [u8],
) -> io::Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + shared.config.handshake_timeout;
    let mut head = Vec::new();
    let mut reader = stream;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            timeout(shared, id, stream, head.len());
            return Ok(None);
        }
        // Short waits, so a shutdown (a restart from the window) does not wait out a slow
        // client's whole handshake time.
        stream.set_read_timeout(Some(left.min(Duration::from_millis(200))))?;
        let n = match reader.read(buf) {
            Ok(0) => {
                shared.publish(vec![closed_unclean(shared, id, ClosedBy::Client)]);
                return Ok(None);
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if shared.stopping.load(Ordering::SeqCst) {
                    shared.publish(vec![closed_unclean(shared, id, ClosedBy::Server)]);
                    return Ok(None);
                }
                // The deadline is checked at the top of the loop (408 when it has passed).
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        head.extend_from_slice(&buf[..n]);
        let batch = vec![tcp(shared, id, Direction::ClientToServer, &buf[..n])];
        match parse_request(&head, &shared.config.handshake_limits) {
            Ok(Parsed::Partial) => shared.publish(batch),
            Err(e) => {
                refuse(shared, id, stream, batch, &e);
                return Ok(None);
            }
            Ok(Parsed::Complete(request)) => {
                stream.set_read_timeout(None)?;
                let rest = head[request.raw.len()..].to_vec();
                return Ok(upgrade_or_answer(shared, id, stream, batch, request).then_some(rest));
            }
        }
    }
}

fn timeout(shared: &Shared, id: ConnId, stream: &TcpStream, got: usize) {
    let secs = shared.config.handshake_timeout.as_secs_f64();
    let reason =
        format!("the opening handshake did not complete within {secs} s ({got} bytes received)");
    let batch = vec![shared.event(
        id,
        EventKind::Limit {
            kind: LimitKind::HandshakeTimeout,
            detail: reason.clone(),
        },
    )];
    let response = error_response(408, &[], &format!("{reason}\n"));
    let request = "(incomplete request)".into();
    let a = HttpAnswer {
        request,
        status: 408,
        reason,
        response,
    };
    answer_http(shared, id, stream, batch, a);
}

fn refuse(
    shared: &Shared,
    id: ConnId,
    stream: &TcpStream,
    mut batch: Vec<Event>,
    e: &HandshakeError,
) {
    let kind = match e {
        HandshakeError::TooLarge { .. } => Some(LimitKind::HandshakeBytes),
        HandshakeError::TooManyHeaders { .. } => Some(LimitKind::HandshakeHeaders),
        HandshakeError::Malformed(_) => None,
    };
    if let Some(kind) = kind {
        batch.push(shared.event(
            id,
            EventKind::Limit {
                kind,
                detail: e.to_string(),
            },
        ));
    }
    let request = "(unparsed request)".to_string();
    let a = HttpAnswer {
        request,
        status: e.status(),
        reason: e.to_string(),
        response: e.response(),
    };
    answer_http(shared, id, stream, batch, a);
}

/// Answers a complete request head. Returns true when the connection switched to WebSocket.
fn upgrade_or_answer(
    shared: &Shared,
    id: ConnId,
    stream: &TcpStream,
    batch: Vec<Event>,
    request: Request,
) -> bool {
    let line = format!("{} {}", request.method, request.path);
    if !request.wants_websocket() {
        // Plain HTTP: the demo page on GET /, a clear refusal for anything else.
        let (status, reason, response) = if request.method != "GET" {
            let reason = format!(
                "method {} not allowed: only GET (and the WebSocket upgrade)",
                request.method
            );
            let r = error_response(405, &[("Allow", "GET")], &format!("{reason}\n"));
            (405, reason, r)
        } else if matches!(request.path.as_str(), "/" | "/index.html") {
            let r = http_response(200, &[], "text/html; charset=utf-8", DEMO_PAGE.as_bytes());
            (200, "demo page".to_string(), r)
        } else {
            let reason = format!(
                "{} is not a page here: open / for the demo page, or connect a WebSocket client to any path",
                request.path
            );
            let r = error_response(404, &[], &format!("{reason}\n"));
            (404, reason, r)
        };
        let a = HttpAnswer {
            request: line,
            status,
            reason,
            response,
        };
        answer_http(shared, id, stream, batch, a);
        return false;
    }
    let hs = answer(request, &shared.policy);
    let mut batch = batch;
    let mut writer = stream;
    let written = writer.write_all(&hs.response.raw);
    batch.push(tcp(shared, id, Direction::ServerToClient, &hs.response.raw));
    let accepted = hs.accepted() && written.is_ok();
    let refused_reason = hs.response.reason.clone();
    let status = hs.response.status;
    batch.push(shared.event(id, EventKind::Handshake(Box::new(hs))));
    if let Err(e) = written {
        batch.push(shared.event(
            id,
            EventKind::Error {
                message: format!("writing the handshake response: {e}"),
            },
        ));
    }
    if !accepted {
        let _ = writer.shutdown(Shutdown::Write);
        batch.push(shared.event(
            id,
            EventKind::Http {
                request: line,
                status,
                reason: refused_reason,
            },
        ));
        batch.push(closed_unclean(shared, id, ClosedBy::Server));
    }
    shared.publish(batch);
    accepted
}

fn websocket(shared: &Arc<Shared>, id: ConnId, stream: TcpStream, leftover: &[u8]) {
    let config = DecoderConfig {
        sender: Some(Role::Client),
        limits: shared.config.limits,
    };
    let slot = Arc::new(Slot {
        stream,
        ws: Mutex::new(WsState {
            conn: Connection::new(Role::Server, config),
            out_decoder: Decoder::new(DecoderConfig {
                sender: Some(Role::Server),
                // We wrote these bytes ourselves: no limit needed to protect memory.
                limits: Limits {
                    max_frame_size: u64::MAX >> 1,
                    max_message_size: u64::MAX >> 1,
                },
            }),
            out_decoded: Vec::new(),
            close: CloseInfo::default(),
            write_shut: false,
        }),
    });
    if let Ok(mut c) = shared.conns.lock() {
        c.insert(id, Arc::clone(&slot));
    }
    // A shutdown that began while this connection was still in its handshake did not see it in
    // `conns`: close it here so it also gets its 1001.
    if shared.stopping.load(Ordering::SeqCst) {
        command(
            shared,
            Command::Close(id, 1001, "server shutting down".into()),
        );
    }
    let mut reader = &slot.stream;
    let mut buf = ReadBuf::new(Arc::clone(&shared.read_pool));
    let mut batch = Vec::with_capacity(BATCH);
    let mut done = false;
    if !leftover.is_empty() {
        done = receive(
            shared,
            id,
            &slot,
            Bytes::copy_from_slice(leftover),
            &mut batch,
        );
        shared.publish(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
    }
    let mut tcp_closed = false;
    let mut linger_until: Option<Instant> = None;
    while !tcp_closed {
        match buf.read(&mut reader) {
            Ok(bytes) if bytes.is_empty() => tcp_closed = true,
            Ok(bytes) => {
                // The TCP event and the frames cut from the read share its bytes.
                batch.push(shared.event(
                    id,
                    EventKind::Tcp {
                        direction: Direction::ClientToServer,
                        bytes: bytes.clone(),
                    },
                ));
                done |= receive(shared, id, &slot, bytes, &mut batch);
                shared.publish(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if done
                    && matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
            {
                tcp_closed = true;
            }
            Err(e) => {
                shared.publish(vec![shared.event(
                    id,
                    EventKind::Error {
                        message: format!("read: {e}"),
                    },
                )]);
                tcp_closed = true;
            }
        }
        if done && !tcp_closed {
            // Closed on our side: wait a little for the client's FIN, capturing what comes, but
            // never longer than LINGER in all (a client that keeps sending does not hold us).
            let until = *linger_until.get_or_insert_with(|| Instant::now() + LINGER);
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tcp_closed = true;
            }
            let _ = reader.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        }
    }
    if let Ok(mut c) = shared.conns.lock() {
        c.remove(&id);
    }
    let _ = slot.stream.shutdown(Shutdown::Both);
    let close = slot
        .ws
        .lock()
        .map(|mut ws| std::mem::take(&mut ws.close))
        .unwrap_or_default();
    shared.publish(vec![shared.event(
        id,
        EventKind::Closed {
            // §7.1.5: with no close frame at all, the close code is 1006.
            code: Some(close.code.unwrap_or(CloseCode::Abnormal)),
            reason: close.reason,
            by: close.by.unwrap_or(ClosedBy::Client),
            clean: close.clean,
        },
    )]);
}

/// Feeds received bytes to the connection, replies per the reply mode, writes what it queued.
/// Returns true once the server has closed its side of TCP.
fn receive(shared: &Shared, id: ConnId, slot: &Slot, data: Bytes, batch: &mut Vec<Event>) -> bool {
    let Ok(mut ws) = slot.ws.lock() else {
        return true;
    };
    let ws = &mut *ws;
    ws.conn.auto_pong = shared.auto_pong.load(Ordering::Relaxed);
    ws.conn.feed_bytes(data);
    while let Some(e) = ws.conn.next_event() {
        match e {
            ConnectionEvent::Frame(frame) => {
                for v in &frame.violations {
                    let kind = match v.rule {
                        Rule::FrameTooBig => LimitKind::FrameSize,
                        Rule::MessageTooBig => LimitKind::MessageSize,
                        _ => continue,
                    };
                    batch.push(shared.event(
                        id,
                        EventKind::Limit {
                            kind,
                            detail: v.detail.clone(),
                        },
                    ));
                }
                batch.push(shared.event(
                    id,
                    EventKind::Frame {
                        direction: Direction::ClientToServer,
                        frame: Box::new(frame),
                    },
                ));
            }
            ConnectionEvent::Message(message) => {
                // Read the mode per message, borrowing it (no copy of a fixed reply's text).
                if let Ok(mode) = shared.reply.read() {
                    let sent = match &*mode {
                        ReplyMode::Echo if message.opcode == OpCode::Text => {
                            // The decoder validated the UTF-8 already.
                            ws.conn.send_text(
                                std::str::from_utf8(&message.payload).unwrap_or_default(),
                            )
                        }
                        ReplyMode::Echo => ws.conn.send_binary(&message.payload),
                        ReplyMode::Fixed(text) => ws.conn.send_text(text),
                        ReplyMode::Manual => Ok(()),
                    };
                    // Sending fails only after our close frame, when replies are no longer due.
                    let _ = sent;
                }
                batch.push(shared.event(
                    id,
                    EventKind::Message {
                        direction: Direction::ClientToServer,
                        message,
                    },
                ));
            }
            ConnectionEvent::CloseReceived { code, reason } => {
                if ws.close.by.is_none() {
                    ws.close.by = Some(ClosedBy::Client);
                    // §7.1.5: a close frame without a code means 1005.
                    ws.close.code = Some(code.unwrap_or(CloseCode::NoStatus));
                    ws.close.reason = reason;
                }
            }
            ConnectionEvent::Failed(v) => {
                ws.close.by.get_or_insert(ClosedBy::Server);
                ws.close.code = Some(v.close_code());
                ws.close.reason = v.rule.description().to_string();
            }
            ConnectionEvent::CloseHandshakeDone => ws.close.clean = true,
        }
    }
    flush(shared, id, &slot.stream, ws, batch)
}

/// Writes what the connection queued and captures it. Returns true once our side is shut.
fn flush(
    shared: &Shared,
    id: ConnId,
    mut stream: &TcpStream,
    ws: &mut WsState,
    batch: &mut Vec<Event>,
) -> bool {
    let out = Bytes::from(ws.conn.data_to_send());
    if !out.is_empty() && !ws.write_shut {
        if let Err(e) = stream.write_all(&out) {
            batch.push(shared.event(
                id,
                EventKind::Error {
                    message: format!("write: {e}"),
                },
            ));
        }
        // The frames decoded from what we wrote share its buffer (server frames are unmasked).
        ws.out_decoder.feed_bytes(out.clone(), &mut ws.out_decoded);
        batch.push(shared.event(
            id,
            EventKind::Tcp {
                direction: Direction::ServerToClient,
                bytes: out,
            },
        ));
        for d in ws.out_decoded.drain(..) {
            batch.push(match d {
                Decoded::Frame(frame) => shared.event(
                    id,
                    EventKind::Frame {
                        direction: Direction::ServerToClient,
                        frame: Box::new(frame),
                    },
                ),
                Decoded::Message(message) => shared.event(
                    id,
                    EventKind::Message {
                        direction: Direction::ServerToClient,
                        message,
                    },
                ),
            });
        }
    }
    if ws.conn.should_close_tcp() && !ws.write_shut {
        // §7.1.1: the server closes the TCP connection first once the close handshake is done;
        // §7.1.7: after failing the connection it closes without waiting.
        let _ = stream.shutdown(Shutdown::Write);
        ws.write_shut = true;
    }
    ws.write_shut
}

/// Runs a per-connection command on the caller's thread.
pub(crate) fn command(shared: &Shared, cmd: Command) {
    let Some(id) = cmd.conn() else {
        return;
    };
    let slot = shared.conns.lock().ok().and_then(|c| c.get(&id).cloned());
    let Some(slot) = slot else {
        shared.publish(vec![shared.event(
            id,
            EventKind::Error {
                message: format!("connection #{id} is not open; command not sent"),
            },
        )]);
        return;
    };
    if let Command::Disconnect(_) = cmd {
        slot.disconnect();
        return;
    }
    let mut batch = Vec::new();
    if let Ok(mut ws) = slot.ws.lock() {
        let ws = &mut *ws;
        let result = match cmd {
            Command::Text(_, t) => ws.conn.send_text(&t),
            Command::Binary(_, b) => ws.conn.send_binary(&b),
            Command::Ping(_, p) => ws.conn.send_ping(&p),
            Command::Pong(_, p) => ws.conn.send_pong(&p),
            Command::Close(_, code, reason) => {
                let r = ws.conn.send_close(code, &reason);
                if r.is_ok() && ws.close.by.is_none() {
                    ws.close.by = Some(ClosedBy::Server);
                    ws.close.code = Some(CloseCode::from(code));
                    ws.close.reason = reason;
                }
                r
            }
            Command::Raw(_, bytes) => {
                ws.conn.send_raw(&bytes);
                Ok(())
            }
            Command::Disconnect(_) | Command::SetReplyMode(_) | Command::SetAutoPong(_) => Ok(()),
        };
        if let Err(e) = result {
            batch.push(shared.event(
                id,
                EventKind::Error {
                    message: format!("not sent: {e}"),
                },
            ));
        }
        flush(shared, id, &slot.stream, ws, &mut batch);
    }
    shared.publish(batch);
}

/// Where a WebSocket connection reads: straight into memory that the captured read can keep.
/// A read that fills at least half the buffer is handed over whole (the TCP event and the frames
/// cut from it share it, without a copy) and the next read gets another buffer from the pool; a
/// smaller read is copied out, so captured bytes never hold more than twice their size in memory
/// and the buffer is reused at once.
struct ReadBuf {
    /// Initialised memory (safe `read` needs it): zero-filled once, when first allocated.
    buf: Vec<u8>,
    pool: Arc<ReadPool>,
}

impl ReadBuf {
    fn new(pool: Arc<ReadPool>) -> Self {
        Self {
            buf: vec![0; FIRST_READ_BUF],
            pool,
        }
    }

    /// One `read`; empty at end of stream.
    fn read(&mut self, mut from: impl Read) -> io::Result<Bytes> {
        let n = from.read(&mut self.buf)?.min(self.buf.len());
        if n < self.buf.len() / 2 {
            return Ok(Bytes::copy_from_slice(&self.buf[..n]));
        }
        let buf = std::mem::replace(&mut self.buf, self.pool.take());
        Ok(Bytes::from_owner(Lent {
            buf,
            len: n,
            pool: Arc::clone(&self.pool),
        }))
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

/// Read buffers of [`READ_BUF`] bytes that are not in use. A captured read gives its buffer back
/// once every event holding it is dropped; the `serve` consumer does that within milliseconds, so
/// at 64 KiB per read the same few buffers go round, with no allocation or zero-filling per read.
pub(crate) struct ReadPool {
    spare: Mutex<Vec<Vec<u8>>>,
}

/// Most spare buffers kept (2 MiB); more are freed.
const POOLED: usize = 32;

impl ReadPool {
    pub(crate) fn new() -> Self {
        Self {
            spare: Mutex::new(Vec::new()),
        }
    }

    /// A spare buffer, or a new zero-filled one.
    fn take(&self) -> Vec<u8> {
        self.spare
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_else(|| vec![0; READ_BUF])
    }

    fn give(&self, buf: Vec<u8>) {
        if buf.len() != READ_BUF {
            return;
        }
        if let Ok(mut s) = self.spare.lock() {
            if s.len() < POOLED {
                s.push(buf);
            }
        }
    }
}

/// A read buffer lent to the captured bytes of one read (its first `len` bytes), back to the
/// pool when the last of them is dropped.
struct Lent {
    buf: Vec<u8>,
    len: usize,
    pool: Arc<ReadPool>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each read comes back exactly, whether it is copied out or handed over; a handed-over
    /// buffer returns to the pool once its bytes are dropped.
    #[test]
    fn read_buf_returns_each_read_exactly() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let pool = Arc::new(ReadPool::new());
        let mut rb = ReadBuf::new(Arc::clone(&pool));
        let mut from = &data[..10];
        assert_eq!(
            rb.read(&mut from).ok(),
            Some(Bytes::copy_from_slice(&data[..10]))
        );
        // Fills the first buffer: handed over, and the next buffer is a large one.
        let mut from = &data[10..];
        let first = rb.read(&mut from).unwrap_or_default();
        assert_eq!(&first[..], &data[10..10 + FIRST_READ_BUF]);
        assert_eq!(rb.buf.len(), READ_BUF);
        let mut got = first.to_vec();
        let mut reads = Vec::new();
        loop {
            let b = rb.read(&mut from).unwrap_or_default();
            if b.is_empty() {
                break;
            }
            got.extend_from_slice(&b);
            reads.push(b);
        }
        assert_eq!(&got[..], &data[10..]);
        let spare = |p: &ReadPool| p.spare.lock().map(|s| s.len()).unwrap_or_default();
        assert_eq!(spare(&pool), 0);
        // The large reads were lent; dropping them (and the reader) fills the pool.
        let lent = reads.iter().filter(|b| b.len() >= READ_BUF / 2).count();
        drop(reads);
        drop(rb);
        assert_eq!(spare(&pool), lent + 1);
    }
}
