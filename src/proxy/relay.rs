//! The relay: both legs' bytes through their taps, frame by frame from one leg to the other,
//! each leg's closing handshake followed, commands injected on either leg.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::{Events, Interest, Poll, Token};

use super::{Context, ProxyConfig, Route, Routes};
use crate::client::transport::{as_tls_error, Transport};
use crate::event::{
    ClosedBy, Command, Direction, ErrorKind, Event, EventKind, IoFailure, SendRefusal,
};
use crate::protocol::connection::fresh_mask_key;
use crate::protocol::{
    close_payload_bytes, encode_frame, parse_close_payload, CloseCode, Decoded, Frame, FrameHeader,
    OpCode, Role,
};
use crate::tap::Tap;

/// One leg: its tap, socket and closing-handshake bookkeeping.
pub(super) struct Leg {
    tap: Tap,
    wire: Transport,
    /// The role wsscope plays on this leg.
    ours: Role,
    /// The first close frame each way (by direction index): its code and reason.
    closes: [Option<(Option<CloseCode>, String)>; 2],
    /// Which way the first close frame went.
    first_close: Option<Direction>,
    /// Who cut TCP when no close frame went before.
    cut_by: Option<ClosedBy>,
    /// We shut our sending side.
    write_shut: bool,
    /// The peer's end of stream came, or the leg was cut.
    ended: bool,
    /// When this leg's TCP is cut if it has not ended by then.
    deadline: Option<Instant>,
}

impl Leg {
    pub(super) fn new(tap: Tap, wire: Transport, ours: Role) -> Self {
        Self {
            tap,
            wire,
            ours,
            closes: [None, None],
            first_close: None,
            cut_by: None,
            write_shut: false,
            ended: false,
            deadline: None,
        }
    }

    /// The direction of the peer's bytes on this leg.
    fn incoming(&self) -> Direction {
        Direction::sent_by(match self.ours {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        })
    }

    /// Notes the close frames among `events` (this leg's).
    fn note_closes(&mut self, events: &[Event], close_timeout: Duration) {
        for e in events {
            if let EventKind::Frame { direction, frame } = &e.kind {
                if frame.header.opcode == OpCode::Close && frame.violations.is_empty() {
                    let i = direction.index();
                    if self.closes[i].is_none() {
                        let body = parse_close_payload(&frame.payload).ok().flatten();
                        self.closes[i] = Some(match body {
                            Some(b) => (Some(b.code), b.reason.unwrap_or_default()),
                            None => (None, String::new()),
                        });
                        self.first_close.get_or_insert(*direction);
                        self.deadline
                            .get_or_insert_with(|| Instant::now() + close_timeout);
                    }
                }
            }
        }
    }

    fn close_done(&self) -> bool {
        self.closes.iter().all(Option::is_some)
    }

    /// Writes `bytes` of ours and captures them.
    fn send(&mut self, bytes: Vec<u8>, batch: &mut Vec<Event>, close_timeout: Duration) {
        if self.write_shut || self.ended {
            return;
        }
        let bytes = Bytes::from(bytes);
        let written = self.wire.write(&bytes);
        let at = batch.len();
        self.tap
            .observe(Direction::sent_by(self.ours), bytes, batch);
        let (_, mine) = batch.split_at(at);
        let mine = mine.to_vec();
        self.note_closes(&mine, close_timeout);
        if let Err(e) = written {
            batch.push(
                self.tap
                    .event(EventKind::Error(ErrorKind::Write(IoFailure::from(&e)))),
            );
            self.cut(ClosedBy::from(self.ours), batch);
        }
    }

    /// Sends our own close frame (a drop or a failure on the other leg).
    pub(super) fn close(
        &mut self,
        code: u16,
        reason: &str,
        batch: &mut Vec<Event>,
        close_timeout: Duration,
    ) {
        if self.closes[Direction::sent_by(self.ours).index()].is_some() {
            return;
        }
        let mask = (self.ours == Role::Client).then(fresh_mask_key);
        let payload = close_payload_bytes(code, reason);
        let mut out = Vec::new();
        encode_frame(
            FrameHeader::new(OpCode::Close, payload.len() as u64, mask),
            &payload,
            &mut out,
        );
        self.send(out, batch, close_timeout);
    }

    /// Drops the leg now.
    pub(super) fn cut(&mut self, by: ClosedBy, batch: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        self.wire.cut();
        self.cut_by.get_or_insert(by);
        self.finish(batch);
    }

    /// The leg is over: its Closed event.
    fn finish(&mut self, batch: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let (code, reason, by) = match self.first_close {
            Some(d) => {
                let (code, reason) = self.closes[d.index()]
                    .clone()
                    .unwrap_or((None, String::new()));
                // §7.1.5: a close frame without a code is 1005.
                let code = code.unwrap_or(CloseCode::from(1005));
                let by = match d {
                    Direction::ClientToServer => ClosedBy::Client,
                    Direction::ServerToClient => ClosedBy::Server,
                };
                (code, reason, by)
            }
            // No close frame at all: 1006 (§7.1.5), started by whoever cut TCP.
            None => (
                CloseCode::from(1006),
                String::new(),
                self.cut_by.unwrap_or(ClosedBy::from(self.ours)),
            ),
        };
        batch.push(self.tap.event(EventKind::Closed {
            code: Some(code),
            reason,
            by,
            clean: self.close_done(),
        }));
    }
}

const CLIENT: Token = Token(0);
const UPSTREAM: Token = Token(1);
const WAKE: Token = Token(2);

/// Bytes read per call.
const READ_BUF: usize = 64 * 1024;

/// Relays frames between the two legs until both have ended.
pub(super) fn relay(
    mut a: Leg,
    mut b: Leg,
    early_a: Bytes,
    early_b: Bytes,
    config: &ProxyConfig,
    ctx: &Context,
    routes: &Routes,
) {
    let mut batch = vec![a.tap.event(EventKind::Relay { peer: b.tap.id() })];
    let (tx, commands) = crossbeam_channel::unbounded();
    let mut waker = None;
    let poll = Poll::new().and_then(|p| {
        waker = Some(Arc::new(mio::Waker::new(p.registry(), WAKE)?));
        p.registry().register(
            &mut a.wire.sock,
            CLIENT,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        p.registry().register(
            &mut b.wire.sock,
            UPSTREAM,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(p)
    });
    let mut poll = match poll {
        Ok(p) => p,
        Err(e) => {
            batch.push(
                a.tap
                    .event(EventKind::Error(ErrorKind::Setup(IoFailure::from(&e)))),
            );
            a.cut(ClosedBy::Server, &mut batch);
            b.cut(ClosedBy::Client, &mut batch);
            ctx.publish(batch);
            return;
        }
    };
    let ids = [a.tap.id(), b.tap.id()];
    if let (Some(waker), Ok(mut r)) = (waker, routes.lock()) {
        let route = Arc::new(Route { tx, waker });
        for id in ids {
            r.insert(id, Arc::clone(&route));
        }
    }
    let mut r = Relay {
        config,
        buf: vec![0; READ_BUF],
        decoded: Vec::new(),
    };
    // What came with the request and with the upstream's 101.
    if !early_a.is_empty() {
        r.received(&mut a, &mut b, early_a, &mut batch, false);
    }
    if !early_b.is_empty() {
        r.received(&mut b, &mut a, early_b, &mut batch, false);
    }
    ctx.publish(std::mem::take(&mut batch));
    let mut events = Events::with_capacity(16);
    while !(a.ended && b.ended) {
        let next = [a.deadline, b.deadline].into_iter().flatten().min();
        let timeout = next.map(|d| d.saturating_duration_since(Instant::now()));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            batch.push(
                a.tap
                    .event(EventKind::Error(ErrorKind::EventLoop(IoFailure::from(&e)))),
            );
            a.cut(ClosedBy::Server, &mut batch);
            b.cut(ClosedBy::Client, &mut batch);
            break;
        }
        while let Ok(cmd) = commands.try_recv() {
            if cmd.conn() == Some(ids[0]) {
                r.inject(&mut a, &mut b, cmd, &mut batch);
            } else {
                r.inject(&mut b, &mut a, cmd, &mut batch);
            }
        }
        r.service(&mut a, &mut b, &mut batch);
        r.service(&mut b, &mut a, &mut batch);
        let now = Instant::now();
        for leg in [&mut a, &mut b] {
            if !leg.ended && leg.deadline.is_some_and(|d| now >= d) {
                // The closing handshake (or the peer's end of stream after it) took too long.
                let by = ClosedBy::from(leg.ours);
                leg.cut(by, &mut batch);
            }
        }
        if a.ended && b.ended {
            // No command reaches a leg once its end is published.
            unroute(routes, ids);
        }
        ctx.publish(std::mem::take(&mut batch));
    }
    unroute(routes, ids);
    ctx.publish(batch);
}

/// Forgets the legs `ids`: commands for them are refused from now on.
fn unroute(routes: &Routes, ids: [crate::event::ConnId; 2]) {
    if let Ok(mut r) = routes.lock() {
        for id in ids {
            r.remove(&id);
        }
    }
}

struct Relay<'a> {
    config: &'a ProxyConfig,
    buf: Vec<u8>,
    decoded: Vec<Decoded>,
}

impl Relay<'_> {
    /// A frame the user injects on `leg` (wsscope's own, masked toward a server), or bytes as
    /// they are, or the leg dropped.
    fn inject(&mut self, leg: &mut Leg, other: &mut Leg, cmd: Command, batch: &mut Vec<Event>) {
        let (opcode, payload) = match cmd {
            Command::Text(_, t) => (OpCode::Text, t.into_bytes()),
            Command::Binary(_, b) => (OpCode::Binary, b),
            Command::Ping(_, p) => (OpCode::Ping, p),
            Command::Pong(_, p) => (OpCode::Pong, p),
            Command::Close(_, code, reason) => {
                // §5.5.1: the reason fits a control frame with its 2-byte code.
                if reason.len() > 123 {
                    let refusal = SendRefusal::ReasonTooLong(reason.len());
                    batch.push(leg.tap.event(EventKind::Error(ErrorKind::NotSent(refusal))));
                    return;
                }
                (OpCode::Close, close_payload_bytes(code, &reason))
            }
            Command::Raw(_, bytes) => {
                leg.send(bytes, batch, self.config.close_timeout);
                return;
            }
            Command::Disconnect(_) => {
                leg.cut(ClosedBy::from(leg.ours), batch);
                self.gone(other, batch);
                return;
            }
            Command::SetReplyMode(_) | Command::SetAutoPong(_) => return,
        };
        // §5.5: control frames carry at most 125 bytes.
        if opcode.is_control() && payload.len() > 125 {
            let refusal = SendRefusal::ControlTooLong(payload.len());
            batch.push(leg.tap.event(EventKind::Error(ErrorKind::NotSent(refusal))));
            return;
        }
        if leg.closes[Direction::sent_by(leg.ours).index()].is_some() {
            // §5.5.1: nothing after our close frame.
            let refusal = SendRefusal::Closed;
            batch.push(leg.tap.event(EventKind::Error(ErrorKind::NotSent(refusal))));
            return;
        }
        let mask = (leg.ours == Role::Client).then(fresh_mask_key);
        let mut out = Vec::with_capacity(payload.len() + 14);
        encode_frame(
            FrameHeader::new(opcode, payload.len() as u64, mask),
            &payload,
            &mut out,
        );
        leg.send(out, batch, self.config.close_timeout);
    }

    /// Flushes `from`, then reads it while `to` can take more.
    fn service(&mut self, from: &mut Leg, to: &mut Leg, batch: &mut Vec<Event>) {
        if from.ended {
            return;
        }
        if let Err(e) = from.wire.flush() {
            batch.push(
                from.tap
                    .event(EventKind::Error(ErrorKind::Write(IoFailure::from(&e)))),
            );
            from.cut(ClosedBy::from(from.ours), batch);
            self.gone(to, batch);
            return;
        }
        // Reads wait while the other leg's bytes wait: a slow reader on one side is not
        // buffered without bound on the other.
        while !from.ended && !to.wire.has_unsent() {
            let n = match from.wire.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let kind = match as_tls_error(&e) {
                        Some(t) => ErrorKind::Tls(t.to_string()),
                        None => ErrorKind::Read(IoFailure::from(&e)),
                    };
                    batch.push(from.tap.event(EventKind::Error(kind)));
                    let peer = ClosedBy::from(match from.ours {
                        Role::Client => Role::Server,
                        Role::Server => Role::Client,
                    });
                    from.cut(peer, batch);
                    self.gone(to, batch);
                    return;
                }
            };
            if n == 0 {
                self.ended(from, to, batch);
                return;
            }
            let bytes = Bytes::copy_from_slice(&self.buf[..n]);
            self.received(from, to, bytes, batch, true);
        }
    }

    /// `from`'s peer ended its stream.
    fn ended(&mut self, from: &mut Leg, to: &mut Leg, batch: &mut Vec<Event>) {
        let peer = ClosedBy::from(match from.ours {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        });
        from.cut_by.get_or_insert(peer);
        from.wire.shutdown_write();
        from.write_shut = true;
        let clean = from.close_done();
        from.finish(batch);
        if !clean {
            self.gone(to, batch);
        }
    }

    /// The other leg went away without finishing its closing handshake: close this one with
    /// 1001 (going away, §7.4.1).
    fn gone(&mut self, to: &mut Leg, batch: &mut Vec<Event>) {
        if !to.ended {
            to.close(1001, "", batch, self.config.close_timeout);
            if to.ours == Role::Server && to.close_done() {
                to.wire.shutdown_write();
                to.write_shut = true;
            }
        }
    }

    /// Bytes from `from`'s peer: captured, decoded once, relayed frame by frame to `to`.
    fn received(
        &mut self,
        from: &mut Leg,
        to: &mut Leg,
        bytes: Bytes,
        batch: &mut Vec<Event>,
        tcp: bool,
    ) {
        let dir = from.incoming();
        if tcp {
            from.tap.tcp(dir, bytes.clone(), batch);
        }
        let mut decoded = std::mem::take(&mut self.decoded);
        from.tap.decode(dir, bytes, &mut decoded);
        for d in decoded.drain(..) {
            // The frame as it came, then as it was relayed.
            let frame = match &d {
                Decoded::Frame(f) => Some(f.clone()),
                Decoded::Message(_) => None,
            };
            // Whether the peer had sent its close before this frame.
            let after_close = from.closes[dir.index()].is_some();
            let e = from.tap.decoded(dir, d);
            from.note_closes(std::slice::from_ref(&e), self.config.close_timeout);
            batch.push(e);
            if let Some(frame) = frame {
                self.frame(from, to, &frame, after_close, batch);
            }
        }
        self.decoded = decoded;
        // §7.1.1: once both close frames went on the client's leg, wsscope (its server) closes
        // TCP first.
        if from.ours == Role::Server && from.close_done() && !from.write_shut {
            from.wire.shutdown_write();
            from.write_shut = true;
        }
        if to.ours == Role::Server && to.close_done() && !to.write_shut {
            to.wire.shutdown_write();
            to.write_shut = true;
        }
    }

    /// One frame from `from`'s peer: relayed as it was (re-masked toward a server), or, when it
    /// broke a rule, `from` is failed with the rule's code and `to` closed with the same.
    fn frame(
        &mut self,
        from: &mut Leg,
        to: &mut Leg,
        frame: &Frame,
        after_close: bool,
        batch: &mut Vec<Event>,
    ) {
        let close_timeout = self.config.close_timeout;
        if after_close {
            // After the peer's close, nothing it sends is relayed (§5.5.1: it may send nothing
            // more), nor is the leg failed for it: the closing handshake is already under way,
            // and the answer to that close comes from the other side, as a server would give it
            // at once. The frame stays in the capture with the rule it broke.
            return;
        }
        if let Some(v) = frame.violations.first() {
            let code = u16::from(v.close_code());
            // §7.1.7: fail the connection: our close with the rule's code, then close TCP.
            from.close(code, "", batch, close_timeout);
            from.wire.shutdown_write();
            from.write_shut = true;
            to.close(code, "", batch, close_timeout);
            return;
        }
        if from.write_shut && from.ours == Role::Server && frame.header.opcode != OpCode::Close {
            return;
        }
        let mut header = frame.header;
        // §5.3: toward a server every frame is masked with a fresh key; toward a client never.
        let key = (to.ours == Role::Client).then(fresh_mask_key);
        header.masked = key.is_some();
        header.mask_key = key;
        let mut out = Vec::with_capacity(frame.payload.len() + 14);
        encode_frame(header, &frame.payload, &mut out);
        to.send(out, batch, close_timeout);
    }
}
