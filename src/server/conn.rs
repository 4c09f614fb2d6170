//! One connection of the server, owned by its event loop: the opening handshake (or a plain
//! HTTP answer), then the WebSocket. Its bytes go through the capture [`Tap`], which decodes
//! each direction once; the protocol [`Connection`] acts on what the tap decoded.

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::http::{answered, request_line, HttpAnswer};
use super::read_pool::ReadBuf;
use super::wire::Wire;
use super::Shared;
use crate::event::{
    ClosedBy, Command, ConnId, Direction, ErrorKind, Event, EventKind, IoFailure, LimitKind,
    ReplyMode,
};
use crate::protocol::connection::{fresh_mask_key, ConnectionState};
use crate::protocol::deflate::{agreed, DeflateParams, Deflater};
use crate::protocol::handshake::{answer, Request};

use crate::protocol::{Connection, Decoded, DecoderConfig, OpCode, Role};
use crate::tap::{Head, Tap};

/// Events one TCP read usually makes (the read, a frame and its message, the reply's write,
/// frame and message): the batch vector gets that room at once instead of growing twice.
const BATCH: usize = 8;

/// How long to wait for the client's close (or EOF) after the server closed its side.
pub(crate) const LINGER: Duration = Duration::from_secs(2);

/// How long our last bytes (the close frame, an echo before it) may wait for a client that reads
/// nothing at all; any progress starts the wait again, so a slow reader is not cut off.
pub(crate) const FLUSH_WAIT: Duration = Duration::from_secs(10);

/// One connection, owned by its loop.
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    /// The loop that owns it (commands are routed by it).
    loop_index: usize,
    pub(crate) wire: Wire,
    /// Turns the connection's bytes into events.
    pub(crate) tap: Tap,
    /// Set once the connection is a WebSocket.
    pub(crate) ws: Option<Box<WsState>>,
    buf: ReadBuf,
    /// The socket may have bytes to read (mio reports readiness once, on its edge).
    pub(crate) readable: bool,
    /// The peer's end of stream or an error was reported: read until a read returns it.
    pub(crate) read_closed: bool,
    /// Waiting in the loop's `again` list.
    pub(crate) queued: bool,
    /// The deadline is [`FLUSH_WAIT`] for our last bytes, not the linger after them.
    pub(crate) flushing: bool,
    /// The socket can take bytes again.
    pub(crate) writable: bool,
    /// Handshake timeout, then linger after our close, then the last chance to read an answer.
    pub(crate) deadline: Option<Instant>,
    /// Done: the loop drops it.
    pub(crate) ended: bool,
    /// A plain HTTP answer: end once it is written.
    pub(crate) end_after_flush: bool,
    /// Since when our close frame waits for the peer's: the deadline is then the close timeout.
    pub(crate) close_wait: Option<Instant>,
    /// Bytes of events its reads published ([`super::cost`]), halved every second (applied by
    /// the loop when the consumer lags): the busiest connections are paused first.
    pub(crate) produced: usize,
    /// The half-lives `produced` was last brought up to (counted from its loop's start).
    pub(crate) produced_at: u64,
    /// Its reads are paused until the consumer catches up (it was one of the busiest).
    pub(crate) paused: bool,
    /// When its pause was last reported.
    pub(crate) pause_told: Option<Instant>,
}

/// A keepalive ping waiting for its pong.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PingOut {
    payload: [u8; 4],
    sent: Instant,
    /// When the connection is closed with 1011 if no pong has come.
    due: Instant,
}

/// The protocol state of a WebSocket connection.
pub(crate) struct WsState {
    pub(crate) conn: Connection,
    /// What the tap decoded from a read, reused from read to read.
    decoded: Vec<Decoded>,
    pub(crate) write_shut: bool,
    /// Keepalive: when the next ping goes (`None`: keepalive off, or a ping is out).
    pub(crate) next_ping: Option<Instant>,
    /// Keepalive: the ping waiting for its pong.
    pub(crate) ping_out: Option<PingOut>,
}

impl WsState {
    /// `deflate`: the permessage-deflate parameters the 101 agreed to. The tap inflates what
    /// the client sends (its decoder is the one that decodes), so only sending needs them here.
    fn new(shared: &Shared, deflate: Option<&DeflateParams>) -> Self {
        let config = DecoderConfig {
            sender: Some(Role::Client),
            limits: shared.config.limits,
        };
        let mut conn = Connection::new(Role::Server, config);
        if let Some(p) = deflate {
            conn.set_deflater(Deflater::new(p, Role::Server));
        }
        Self {
            conn,
            decoded: Vec::new(),
            write_shut: false,
            next_ping: shared.config.ping_interval.map(|i| Instant::now() + i),
            ping_out: None,
        }
    }

    /// Whether a keepalive ping is due or its pong overdue at `now`.
    fn keepalive_due(&self, now: Instant) -> bool {
        self.ping_out.is_some_and(|p| p.due <= now) || self.next_ping.is_some_and(|t| t <= now)
    }

    /// Whether a close frame went either way (shutdown then leaves the close to finish).
    pub(crate) fn closing(&self) -> bool {
        self.conn.close_sent().is_some() || self.conn.close_received().is_some()
    }
}

impl Conn {
    pub(crate) fn new(
        shared: &Shared,
        tap: Tap,
        wire: Wire,
        loop_index: usize,
        buf: ReadBuf,
    ) -> Self {
        Self {
            id: tap.id(),
            loop_index,
            wire,
            tap,
            ws: None,
            buf,
            readable: false,
            read_closed: false,
            queued: false,
            flushing: false,
            writable: false,
            deadline: Some(Instant::now() + shared.config.handshake_timeout),
            ended: false,
            end_after_flush: false,
            close_wait: None,
            produced: 0,
            produced_at: 0,
            paused: false,
            pause_told: None,
        }
    }

    /// Whether a timer runs: a deadline, or keepalive.
    pub(crate) fn timed(&self) -> bool {
        self.deadline.is_some()
            || self
                .ws
                .as_ref()
                .is_some_and(|ws| ws.next_ping.is_some() || ws.ping_out.is_some())
    }

    /// Whether a timer is due at `now`.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| d <= now)
            || self.ws.as_ref().is_some_and(|ws| ws.keepalive_due(now))
    }

    /// Our close frame went unanswered for the close timeout: says so; the caller cuts TCP.
    pub(crate) fn close_timed_out(&mut self, shared: &Shared, since: Instant) {
        shared.publish(vec![self.tap.event(EventKind::Limit {
            kind: LimitKind::CloseTimeout,
            limit: millis(shared.config.close_timeout),
            actual: millis(since.elapsed()),
        })]);
    }

    /// Keepalive at `now`: sends the ping that is due, or closes a connection whose pong is
    /// overdue with 1011, as python-websockets does (`keepalive()` in its
    /// `asyncio/connection.py`: `fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")`).
    pub(crate) fn keepalive(&mut self, shared: &Shared, now: Instant, batch: &mut Vec<Event>) {
        let Some(ws) = self.ws.as_deref_mut() else {
            return;
        };
        if ws.conn.state() != ConnectionState::Open {
            // A closing connection has its own timers (the close timeout, the linger).
            ws.next_ping = None;
            ws.ping_out = None;
            return;
        }
        if let Some(p) = ws.ping_out.filter(|p| p.due <= now) {
            ws.ping_out = None;
            batch.push(self.tap.event(EventKind::Limit {
                kind: LimitKind::PingTimeout,
                limit: millis(shared.config.ping_timeout),
                actual: millis(now.saturating_duration_since(p.sent)),
            }));
            // §7.1.7: failing the connection, the server closes TCP without waiting for the
            // client's close; 1011: the server met a condition that kept it from going on.
            let _ = ws.conn.send_close(1011, "keepalive ping timeout");
            flush(&mut self.tap, &mut self.wire, ws, batch);
            if !ws.write_shut {
                self.wire.shutdown_write();
                ws.write_shut = true;
            }
        } else if ws.next_ping.is_some_and(|t| t <= now) {
            ws.next_ping = None;
            // Any 4 unpredictable bytes tell our ping's pong from an unsolicited one (§5.5.3).
            let payload = fresh_mask_key();
            if ws.conn.send_ping(&payload).is_ok() {
                ws.ping_out = Some(PingOut {
                    payload,
                    sent: now,
                    due: now + shared.config.ping_timeout,
                });
            }
            flush(&mut self.tap, &mut self.wire, ws, batch);
        }
    }

    fn error(&self, e: ErrorKind) -> Event {
        self.tap.event(EventKind::Error(e))
    }

    /// One read, and what it causes. Not called once an HTTP answer is given (`drive` stops
    /// reading then).
    pub(crate) fn read_once(&mut self, shared: &Shared, stopping: bool) {
        let bytes = match self.buf.read(&self.wire.stream) {
            Ok((bytes, _)) if bytes.is_empty() => {
                self.readable = false;
                match self.ws.as_deref_mut() {
                    Some(ws) => ws.conn.tcp_cut(Role::Client),
                    None => shared.publish(vec![self.tap.closed_unclean(ClosedBy::Client)]),
                }
                self.ended = true;
                return;
            }
            Ok((bytes, full)) => {
                // A read that did not fill the buffer emptied the socket: epoll and kqueue report
                // the next bytes as a new edge, so no read is wasted on WouldBlock. Not when the
                // end of stream was reported with these bytes (no new edge will say so again),
                // nor on Windows, where mio reports readiness again only after a WouldBlock.
                self.readable = full || self.read_closed || cfg!(windows);
                bytes
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(e) => {
                self.readable = false;
                let mut batch = vec![self.error(ErrorKind::Read(IoFailure::from(&e)))];
                match self.ws.as_deref_mut() {
                    Some(ws) => ws.conn.tcp_cut(Role::Client),
                    None => batch.push(self.tap.closed_unclean(ClosedBy::Client)),
                }
                shared.publish(batch);
                self.ended = true;
                return;
            }
        };
        let mut batch = Vec::with_capacity(BATCH);
        if self.ws.is_some() {
            // The TCP event and the frames cut from the read share its bytes.
            self.tap
                .tcp(Direction::ClientToServer, bytes.clone(), &mut batch);
            self.receive(shared, bytes, &mut batch);
        } else {
            self.handshake(shared, bytes, &mut batch, stopping);
        }
        self.produced = self.produced.saturating_add(shared.publish_cost(batch));
    }

    /// More of the request head arrived: wait for the rest, refuse it, answer it or upgrade.
    fn handshake(&mut self, shared: &Shared, bytes: Bytes, batch: &mut Vec<Event>, stopping: bool) {
        match self
            .tap
            .request_bytes(bytes, &shared.config.handshake_limits, batch)
        {
            Head::Partial => {}
            Head::Refused(e) => self.answer_http(batch, HttpAnswer::unparsed(&e)),
            Head::Complete(request) => {
                if self.upgrade_or_answer(shared, batch, request) {
                    if stopping {
                        self.run_command(super::event_loop::going_away(self.id), batch);
                    }
                    let rest = self.tap.take_rest();
                    if !rest.is_empty() {
                        // The client's first frames came with its request.
                        self.receive(shared, rest, batch);
                    }
                }
            }
        }
    }

    /// Writes an HTTP answer; the connection ends once it is written.
    pub(crate) fn answer_http(&mut self, batch: &mut Vec<Event>, a: HttpAnswer) {
        let written = self.wire.write(&a.response);
        self.wire.shutdown_write();
        self.end_after_flush = true;
        self.deadline = Some(Instant::now() + LINGER);
        answered(&self.tap, batch, a, written);
    }

    /// The handshake took too long: the limit, then 408, and the connection ends.
    pub(crate) fn timeout(&mut self, shared: &Shared) {
        let limit = shared.config.handshake_timeout;
        let mut batch = vec![self.tap.event(EventKind::Limit {
            kind: LimitKind::HandshakeTimeout,
            limit: millis(limit),
            actual: millis(self.tap.age()),
        })];
        let a = HttpAnswer::timeout(limit, self.tap.head_len());
        self.answer_http(&mut batch, a);
        shared.publish(batch);
    }

    /// Answers a complete request head. Returns true when the connection switched to WebSocket.
    fn upgrade_or_answer(
        &mut self,
        shared: &Shared,
        batch: &mut Vec<Event>,
        request: Request,
    ) -> bool {
        if !request.wants_websocket() {
            self.answer_http(batch, HttpAnswer::plain(&request, &shared.policy.hosts));
            return false;
        }
        let hs = answer(request, &shared.policy);
        // Only a refusal reports the request line again, in its Http event.
        let refused_line = (!hs.accepted()).then(|| request_line(&hs.request));
        if hs.accepted() {
            // Reachable by commands before the client can see the 101 and send one.
            let deflate = agreed(&hs);
            self.ws = Some(Box::new(WsState::new(shared, deflate.as_ref())));
            if let Ok(mut c) = shared.conns.lock() {
                c.insert(self.id, self.loop_index);
            }
            // No idle timeout: browsers keep a WebSocket open for hours. Only keepalive (when
            // configured) and a close of ours that goes unanswered set timers from here.
            self.deadline = None;
        }
        let written = self.wire.write(&hs.response.raw);
        self.tap.tcp(
            Direction::ServerToClient,
            Bytes::copy_from_slice(&hs.response.raw),
            batch,
        );
        let accepted = hs.accepted() && written.is_ok();
        let status = hs.response.status;
        self.tap.handshake(hs, shared.config.limits, batch);
        if let Err(e) = written {
            batch.push(self.error(ErrorKind::Write(IoFailure::from(&e))));
        }
        if !accepted {
            if self.ws.take().is_some() {
                if let Ok(mut c) = shared.conns.lock() {
                    c.remove(&self.id);
                }
            }
            self.wire.shutdown_write();
            self.end_after_flush = true;
            self.deadline = Some(Instant::now() + LINGER);
            batch.push(self.tap.event(EventKind::Http {
                request: refused_line,
                status,
                outcome: crate::event::HttpOutcome::UpgradeRefused,
            }));
            batch.push(self.tap.closed_unclean(ClosedBy::Server));
        }
        accepted
    }

    /// Feeds received WebSocket bytes through the tap to the connection, replies per the reply
    /// mode, writes what it queued.
    fn receive(&mut self, shared: &Shared, data: Bytes, batch: &mut Vec<Event>) {
        let Some(ws) = self.ws.as_deref_mut() else {
            return;
        };
        ws.conn.auto_pong = shared.auto_pong.load(Ordering::Relaxed);
        let mut decoded = std::mem::take(&mut ws.decoded);
        self.tap
            .decode(Direction::ClientToServer, data, &mut decoded);
        for d in decoded.drain(..) {
            let deliver = ws.conn.receive_decoded(&d);
            // What the frame caused (a failure, the peer's close) needs nothing from us here: the
            // connection keeps the close bookkeeping and queued its answers.
            while ws.conn.next_event().is_some() {}
            match &d {
                Decoded::Frame(frame) => {
                    if frame.header.opcode == OpCode::Pong {
                        pong(shared, ws, &frame.payload);
                    }
                    self.tap.size_limits(frame, batch);
                }
                Decoded::Message(message) if deliver => {
                    let echo = self
                        .tap
                        .echo_frame(Direction::ClientToServer, &message.payload);
                    reply(shared, &mut ws.conn, message, echo);
                }
                // After the connection failed (§7.1.7) a message is neither answered nor
                // recorded as received: its frames are, with the rule they broke.
                Decoded::Message(_) => continue,
            }
            batch.push(self.tap.decoded(Direction::ClientToServer, d));
        }
        ws.decoded = decoded;
        flush(&mut self.tap, &mut self.wire, ws, batch);
    }

    /// A command for this WebSocket (not Disconnect, which the loop handles).
    pub(crate) fn run_command(&mut self, cmd: Command, batch: &mut Vec<Event>) {
        let Some(ws) = self.ws.as_deref_mut() else {
            return;
        };
        let result = match cmd {
            Command::Text(_, t) => ws.conn.send_text(&t),
            Command::Binary(_, b) => ws.conn.send_binary(&b),
            Command::Ping(_, p) => ws.conn.send_ping(&p),
            Command::Pong(_, p) => ws.conn.send_pong(&p),
            Command::Close(_, code, reason) => ws.conn.send_close(code, &reason),
            Command::Raw(_, bytes) => {
                ws.conn.send_raw(&bytes);
                Ok(())
            }
            Command::Disconnect(_) | Command::SetReplyMode(_) | Command::SetAutoPong(_) => Ok(()),
        };
        if let Err(e) = result {
            batch.push(
                self.tap
                    .event(EventKind::Error(ErrorKind::NotSent(e.into()))),
            );
        }
        flush(&mut self.tap, &mut self.wire, ws, batch);
    }

    /// The socket can take more: writes what waited.
    pub(crate) fn flush_wire(&mut self, batch: &mut Vec<Event>) {
        let before = self.wire.pending();
        let flushed = self.wire.flush();
        if self.flushing && self.wire.pending() < before {
            // The client is reading: give it the whole wait again.
            self.deadline = Some(Instant::now() + FLUSH_WAIT);
        }
        if let Err(e) = flushed {
            batch.push(self.error(ErrorKind::Write(IoFailure::from(&e))));
            self.wire.discard();
            self.wire.failed = true;
            if self.ws.is_none() {
                self.ended = true;
            }
        }
    }

    /// The connection is over: a WebSocket says how it closed.
    pub(crate) fn finish(&mut self, shared: &Shared) {
        let Some(ws) = self.ws.take() else {
            return;
        };
        if let Ok(mut c) = shared.conns.lock() {
            c.remove(&self.id);
        }
        let close = ws.conn.close_summary();
        shared.publish(vec![self.tap.event(EventKind::Closed {
            code: Some(close.code),
            reason: close.reason,
            by: close.by.into(),
            clean: close.clean,
        })]);
    }
}

/// A pong arrived: when it answers the keepalive ping, the next one is due an interval after
/// that ping went. Unsolicited pongs (§5.5.3 allows them) change nothing.
fn pong(shared: &Shared, ws: &mut WsState, payload: &[u8]) {
    let Some(p) = ws.ping_out else {
        return;
    };
    if payload == p.payload {
        ws.ping_out = None;
        ws.next_ping = shared.config.ping_interval.map(|i| p.sent + i);
    }
}

/// A duration in milliseconds, for a `Limit` event.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Answers a message per the reply mode. `echo`: the message as a frame ready to go back (large
/// messages only), which an echo sends instead of encoding a copy.
fn reply(
    shared: &Shared,
    conn: &mut Connection,
    message: &crate::protocol::Message,
    echo: Option<Bytes>,
) {
    // Read the mode per message, borrowing it (no copy of a fixed reply's text).
    let Ok(mode) = shared.reply.read() else {
        return;
    };
    let sent = match &*mode {
        ReplyMode::Echo => match echo.map(|frame| conn.send_encoded(frame)) {
            Some(Ok(true)) => Ok(()),
            Some(Err(e)) => Err(e),
            // No frame ready, or it cannot go as it is: encode the payload again.
            None | Some(Ok(false)) if message.opcode == OpCode::Text => {
                // The decoder validated the UTF-8 already.
                conn.send_text(std::str::from_utf8(&message.payload).unwrap_or_default())
            }
            None | Some(Ok(false)) => conn.send_binary(&message.payload),
        },
        ReplyMode::Fixed(text) => conn.send_text(text),
        ReplyMode::Manual => Ok(()),
    };
    // Sending fails only after our close frame, when replies are no longer due.
    let _ = sent;
}

/// Writes what the connection queued and captures it.
fn flush(tap: &mut Tap, wire: &mut Wire, ws: &mut WsState, batch: &mut Vec<Event>) {
    let out = ws.conn.take_output();
    if !out.is_empty() && !ws.write_shut {
        if let Err(e) = wire.write(&out) {
            batch.push(tap.event(EventKind::Error(ErrorKind::Write(IoFailure::from(&e)))));
            // The peer is gone (reset): the next read says so and ends the connection.
            wire.failed = true;
        }
        tap.observe(Direction::ServerToClient, out, batch);
    }
    if ws.conn.should_close_tcp() && !ws.write_shut {
        // §7.1.1: the server closes the TCP connection first once the close handshake is done;
        // §7.1.7: after failing the connection it closes without waiting.
        wire.shutdown_write();
        ws.write_shut = true;
    }
}
