//! The connections. A few event-loop threads (mio: epoll, kqueue) each own some connections:
//! their opening handshake (or a plain HTTP answer), then the WebSocket loop. Under load one
//! wake-up serves every connection that is ready, where a thread per connection pays a context
//! switch per message; with one connection it costs one `epoll_wait` more per read.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

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

/// Largest read. A 64 KiB message with its header (65,550 bytes) arrives in one read, not in a
/// full 64 KiB read and a 14-byte one: one syscall and one wake-up less per large message.
const READ_BUF: usize = 128 * 1024;

/// The first read buffer of a connection. Many connections only ever read a few small frames:
/// the large buffer is allocated once a read fills this one.
const FIRST_READ_BUF: usize = 4 * 1024;

/// Events one TCP read usually makes (the read, a frame and its message, the reply's write,
/// frame and message): the batch vector gets that room at once instead of growing twice.
const BATCH: usize = 8;

/// How long to wait for the client's close (or EOF) after the server closed its side.
const LINGER: Duration = Duration::from_secs(2);

/// How long our last bytes (the close frame, an echo before it) may wait for a client that reads
/// nothing at all; any progress starts the wait again, so a slow reader is not cut off.
const FLUSH_WAIT: Duration = Duration::from_secs(10);

/// Reads one connection may do per turn before the others get theirs.
const READS_PER_TURN: usize = 4;

/// How often deadlines (handshake timeout, linger) are checked while any is set.
const TICK: Duration = Duration::from_millis(25);

/// The token of a loop's waker; connections use their number.
const WAKE: Token = Token(usize::MAX);

/// What a loop is told by the listener, the command thread and shutdown.
pub(crate) enum Msg {
    /// A new connection: its number, socket and peer and local addresses.
    Accepted(
        ConnId,
        std::net::TcpStream,
        io::Result<(SocketAddr, SocketAddr)>,
    ),
    /// A command for one of this loop's connections.
    Command(Command),
    /// Shutdown began: close WebSockets with 1001, cut off unfinished handshakes.
    Stopping,
    /// The grace period is over: cut every connection and end the loop.
    Stop,
}

/// The way to one event loop.
#[derive(Clone)]
pub(crate) struct LoopTx {
    tx: Sender<Msg>,
    waker: Arc<mio::Waker>,
}

impl LoopTx {
    /// Hands `msg` to the loop; gives it back if the loop has ended.
    pub(crate) fn send(&self, msg: Msg) -> Result<(), Msg> {
        self.tx.send(msg).map_err(|e| e.into_inner())?;
        // Waking fails only if the poll is gone, i.e. the loop ended.
        let _ = self.waker.wake();
        Ok(())
    }
}

/// Starts event loop `index`.
pub(crate) fn spawn_loop(
    shared: &Arc<Shared>,
    index: usize,
) -> io::Result<(LoopTx, JoinHandle<()>)> {
    let poll = Poll::new()?;
    let waker = Arc::new(mio::Waker::new(poll.registry(), WAKE)?);
    let (tx, rx) = crossbeam_channel::unbounded();
    let s = Arc::clone(shared);
    let thread = std::thread::Builder::new()
        .name(format!("wsscope-loop-{index}"))
        .spawn(move || EventLoop::new(s, poll, rx, index).run())?;
    Ok((LoopTx { tx, waker }, thread))
}

struct EventLoop {
    shared: Arc<Shared>,
    poll: Poll,
    inbox: Receiver<Msg>,
    index: usize,
    conns: HashMap<usize, Conn>,
    /// Connections that may still have bytes to read (they used up their turn).
    again: Vec<usize>,
    stopping: bool,
    next_tick: Instant,
}

impl EventLoop {
    fn new(shared: Arc<Shared>, poll: Poll, inbox: Receiver<Msg>, index: usize) -> Self {
        Self {
            shared,
            poll,
            inbox,
            index,
            conns: HashMap::new(),
            again: Vec::new(),
            stopping: false,
            next_tick: Instant::now() + TICK,
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut ready: Vec<usize> = Vec::new();
        loop {
            let timeout = if !self.again.is_empty() {
                Some(Duration::ZERO)
            } else if self.conns.values().any(|c| c.deadline.is_some()) {
                Some(self.next_tick.saturating_duration_since(Instant::now()))
            } else {
                None
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.shared
                        .publish(vec![self.shared.error(0, format!("event loop: {e}"))]);
                    std::thread::sleep(Duration::from_millis(50));
                }
                continue;
            }
            ready.clear();
            for key in self.again.drain(..) {
                if let Some(c) = self.conns.get_mut(&key) {
                    c.queued = false;
                    ready.push(key);
                }
            }
            let mut woken = false;
            for ev in events.iter() {
                if ev.token() == WAKE {
                    woken = true;
                    continue;
                }
                let key = ev.token().0;
                if let Some(c) = self.conns.get_mut(&key) {
                    if ev.is_writable() {
                        c.writable = true;
                    }
                    if ev.is_readable() {
                        c.readable = true;
                    }
                    if ev.is_read_closed() || ev.is_error() {
                        // The end (or a reset) can come in the same edge as the last bytes:
                        // read until the read itself reports it.
                        c.readable = true;
                        c.read_closed = true;
                    }
                    ready.push(key);
                }
            }
            for &key in &ready {
                self.drive(key);
            }
            if woken && self.take_messages() {
                break;
            }
            if Instant::now() >= self.next_tick {
                self.next_tick = Instant::now() + TICK;
                self.check_deadlines();
            }
        }
    }

    /// Handles what the loop was sent. Returns true when the loop must end.
    fn take_messages(&mut self) -> bool {
        while let Ok(msg) = self.inbox.try_recv() {
            match msg {
                Msg::Accepted(id, stream, addrs) => self.accept(id, stream, addrs),
                Msg::Command(cmd) => self.command(cmd),
                Msg::Stopping => {
                    self.stopping = true;
                    let keys: Vec<usize> = self.conns.keys().copied().collect();
                    for key in keys {
                        self.stop_one(key);
                    }
                }
                Msg::Stop => return true,
            }
        }
        false
    }

    /// Shutdown reached a connection: a WebSocket gets its 1001, a handshake is cut off.
    fn stop_one(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        if let Some(ws) = c.ws.as_ref() {
            // A connection already closing finishes its own closing handshake.
            if ws.close.by.is_none() {
                let id = c.id;
                self.command(going_away(id));
            }
        } else {
            // An HTTP answer already said how its connection ended.
            if !c.end_after_flush {
                let batch = vec![closed_unclean(&self.shared, c.id, ClosedBy::Server)];
                self.shared.publish(batch);
            }
            self.end(key);
        }
    }

    fn accept(
        &mut self,
        id: ConnId,
        stream: std::net::TcpStream,
        addrs: io::Result<(SocketAddr, SocketAddr)>,
    ) {
        let shared = &self.shared;
        let registered = stream
            .set_nonblocking(true)
            .and_then(|()| stream.set_nodelay(true))
            .map(|()| TcpStream::from_std(stream))
            .and_then(|mut s| {
                self.poll
                    .registry()
                    .register(&mut s, token(id), Interest::READABLE | Interest::WRITABLE)
                    .map(|()| s)
            });
        let (stream, (peer, local)) = match (registered, addrs) {
            (Ok(s), Ok(a)) => (s, a),
            (Err(e), _) | (_, Err(e)) => {
                shared.publish(vec![
                    shared.error(id, format!("connection lost at once: {e}"))
                ]);
                shared.open.fetch_sub(1, Ordering::SeqCst);
                return;
            }
        };
        shared.publish(vec![shared.event(id, EventKind::Opened { peer, local })]);
        let conn = Conn {
            id,
            loop_index: self.index,
            wire: Wire::new(stream),
            head: Vec::new(),
            ws: None,
            buf: ReadBuf::new(Arc::clone(&shared.read_pool)),
            readable: false,
            read_closed: false,
            queued: false,
            flushing: false,
            writable: false,
            deadline: Some(Instant::now() + shared.config.handshake_timeout),
            ended: false,
            end_after_flush: false,
        };
        self.conns.insert(token(id).0, conn);
        if self.stopping {
            self.stop_one(token(id).0);
        }
    }

    fn command(&mut self, cmd: Command) {
        let Some(id) = cmd.conn() else {
            return;
        };
        let key = token(id).0;
        let shared = &self.shared;
        let Some(c) = self.conns.get_mut(&key).filter(|c| c.ws.is_some()) else {
            not_open(shared, id);
            return;
        };
        if let Command::Disconnect(_) = cmd {
            if let Some(ws) = c.ws.as_mut() {
                ws.close.by.get_or_insert(ClosedBy::Server);
            }
            self.end(key);
            return;
        }
        let mut batch = Vec::new();
        c.run_command(shared, cmd, &mut batch);
        shared.publish(batch);
        self.after_io(key);
    }

    /// Reads and writes what a connection is ready for.
    fn drive(&mut self, key: usize) {
        let shared = &self.shared;
        let stopping = self.stopping;
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        if c.writable && c.wire.has_unsent() {
            c.writable = false;
            let mut batch = Vec::new();
            c.flush_wire(shared, &mut batch);
            shared.publish(batch);
        }
        if c.wire.failed {
            // A write found the peer gone: a read says how (reset or end of stream).
            c.wire.failed = false;
            c.readable = true;
            c.read_closed = true;
        }
        let mut turns = 0;
        // Once an HTTP answer is given nothing more is read (the old request's body, say).
        while c.readable && !c.wire.has_unsent() && !c.ended && !c.end_after_flush {
            if turns == READS_PER_TURN {
                if !c.queued {
                    c.queued = true;
                    self.again.push(key);
                }
                break;
            }
            turns += 1;
            c.read_once(shared, stopping);
        }
        self.after_io(key);
    }

    /// Ends a connection that is done, or sets its linger deadline.
    fn after_io(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        if c.end_after_flush && !c.wire.has_unsent() {
            c.ended = true;
        }
        if c.ended {
            self.end(key);
        } else if c.ws.as_ref().is_some_and(|ws| ws.write_shut) {
            if c.wire.has_unsent() {
                // Our close is queued behind bytes the client has not taken yet.
                if c.deadline.is_none() || !c.flushing {
                    c.deadline = Some(Instant::now() + FLUSH_WAIT);
                    c.flushing = true;
                }
            } else if c.deadline.is_none() || c.flushing {
                // Closed on our side (the close frame is out): wait a little for the client's
                // FIN, capturing what comes, but never longer than LINGER in all (a client that
                // keeps sending does not hold us).
                c.deadline = Some(Instant::now() + LINGER);
                c.flushing = false;
            }
        }
    }

    /// Drops a connection: nothing more is sent or read; a WebSocket says how it closed.
    fn end(&mut self, key: usize) {
        if let Some(mut c) = self.conns.remove(&key) {
            c.wire.cut();
            let _ = self.poll.registry().deregister(&mut c.wire.stream);
            c.finish(&self.shared);
            self.shared.open.fetch_sub(1, Ordering::SeqCst);
        }
        self.again.retain(|&k| k != key);
    }

    fn check_deadlines(&mut self) {
        let now = Instant::now();
        let due: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline.is_some_and(|d| d <= now))
            .map(|(&k, _)| k)
            .collect();
        for key in due {
            let Some(c) = self.conns.get_mut(&key) else {
                continue;
            };
            c.deadline = None;
            if c.ws.is_some() {
                // The linger is over, or the client took none of our last bytes for FLUSH_WAIT.
                c.ended = true;
            } else if !c.end_after_flush {
                timeout(&self.shared, c);
            } else {
                // An HTTP answer the client never read: give up on it.
                c.ended = true;
            }
            self.after_io(key);
        }
    }
}

/// Ends what the loop still holds, also when it unwinds from a panic: every connection gets its
/// `Closed` and leaves the open count.
impl Drop for EventLoop {
    fn drop(&mut self) {
        let keys: Vec<usize> = self.conns.keys().copied().collect();
        for key in keys {
            self.end(key);
        }
        // Connections handed over after the last turn were counted as open: they never were.
        for msg in self.inbox.try_iter() {
            match msg {
                Msg::Accepted(..) => {
                    self.shared.open.fetch_sub(1, Ordering::SeqCst);
                }
                Msg::Command(cmd) => {
                    if let Some(id) = cmd.conn() {
                        not_open(&self.shared, id);
                    }
                }
                Msg::Stopping | Msg::Stop => {}
            }
        }
    }
}

/// The close that shutdown sends every WebSocket (1001, going away).
fn going_away(id: ConnId) -> Command {
    Command::Close(id, 1001, "server shutting down".into())
}

/// A connection's token: its number (numbers are never reused within a server).
fn token(id: ConnId) -> Token {
    Token(usize::try_from(id).unwrap_or(usize::MAX - 1))
}

pub(crate) fn not_open(shared: &Shared, id: ConnId) {
    shared.publish(vec![shared.error(
        id,
        format!("connection #{id} is not open; command not sent"),
    )]);
}

/// One connection, owned by its loop.
struct Conn {
    id: ConnId,
    /// The loop that owns it (commands are routed by it).
    loop_index: usize,
    wire: Wire,
    /// The request head received so far (before the upgrade).
    head: Vec<u8>,
    /// Set once the connection is a WebSocket.
    ws: Option<Box<WsState>>,
    buf: ReadBuf,
    /// The socket may have bytes to read (mio reports readiness once, on its edge).
    readable: bool,
    /// The peer's end of stream or an error was reported: read until a read returns it.
    read_closed: bool,
    /// Waiting in the loop's `again` list.
    queued: bool,
    /// The deadline is [`FLUSH_WAIT`] for our last bytes, not the linger after them.
    flushing: bool,
    /// The socket can take bytes again.
    writable: bool,
    /// Handshake timeout, then linger after our close, then the last chance to read an answer.
    deadline: Option<Instant>,
    /// Done: the loop drops it.
    ended: bool,
    /// A plain HTTP answer: end once it is written.
    end_after_flush: bool,
}

/// The protocol state of a WebSocket connection.
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

impl Conn {
    /// One read, and what it causes. Not called once an HTTP answer is given (`drive` stops
    /// reading then).
    fn read_once(&mut self, shared: &Shared, stopping: bool) {
        let bytes = match self.buf.read(&self.wire.stream) {
            Ok((bytes, _)) if bytes.is_empty() => {
                self.readable = false;
                if self.ws.is_none() {
                    shared.publish(vec![closed_unclean(shared, self.id, ClosedBy::Client)]);
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
                let mut batch = vec![shared.error(self.id, format!("read: {e}"))];
                if self.ws.is_none() {
                    batch.push(closed_unclean(shared, self.id, ClosedBy::Client));
                }
                shared.publish(batch);
                self.ended = true;
                return;
            }
        };
        let mut batch = Vec::with_capacity(BATCH);
        // The TCP event and the frames cut from the read share its bytes.
        batch.push(shared.event(
            self.id,
            EventKind::Tcp {
                direction: Direction::ClientToServer,
                bytes: bytes.clone(),
            },
        ));
        if self.ws.is_some() {
            self.receive(shared, bytes, &mut batch);
        } else {
            self.handshake(shared, &bytes, &mut batch, stopping);
        }
        shared.publish(batch);
    }

    /// More of the request head arrived: wait for the rest, refuse it, answer it or upgrade.
    fn handshake(&mut self, shared: &Shared, bytes: &[u8], batch: &mut Vec<Event>, stopping: bool) {
        self.head.extend_from_slice(bytes);
        match parse_request(&self.head, &shared.config.handshake_limits) {
            Ok(Parsed::Partial) => {}
            Err(e) => self.refuse(shared, batch, &e),
            Ok(Parsed::Complete(request)) => {
                let head = std::mem::take(&mut self.head);
                let rest = Bytes::copy_from_slice(&head[request.raw.len()..]);
                if self.upgrade_or_answer(shared, batch, request) {
                    if stopping {
                        self.run_command(shared, going_away(self.id), batch);
                    }
                    if !rest.is_empty() {
                        // The client's first frames came with its request.
                        self.receive(shared, rest, batch);
                    }
                }
            }
        }
    }

    fn refuse(&mut self, shared: &Shared, batch: &mut Vec<Event>, e: &HandshakeError) {
        let kind = match e {
            HandshakeError::TooLarge { .. } => Some(LimitKind::HandshakeBytes),
            HandshakeError::TooManyHeaders { .. } => Some(LimitKind::HandshakeHeaders),
            HandshakeError::Malformed(_) => None,
        };
        if let Some(kind) = kind {
            batch.push(shared.event(
                self.id,
                EventKind::Limit {
                    kind,
                    detail: e.to_string(),
                },
            ));
        }
        let a = HttpAnswer {
            request: "(unparsed request)".to_string(),
            status: e.status(),
            reason: e.to_string(),
            response: e.response(),
        };
        self.answer_http(shared, batch, a);
    }

    /// Writes an HTTP answer; the connection ends once it is written.
    fn answer_http(&mut self, shared: &Shared, batch: &mut Vec<Event>, a: HttpAnswer) {
        let written = self.wire.write(&a.response);
        self.wire.shutdown_write();
        self.end_after_flush = true;
        self.deadline = Some(Instant::now() + LINGER);
        answered(shared, self.id, batch, a, written);
    }

    /// Answers a complete request head. Returns true when the connection switched to WebSocket.
    fn upgrade_or_answer(
        &mut self,
        shared: &Shared,
        batch: &mut Vec<Event>,
        request: Request,
    ) -> bool {
        let line = format!("{} {}", request.method, request.path);
        if !request.wants_websocket() {
            let a = plain_http(request, line);
            self.answer_http(shared, batch, a);
            return false;
        }
        let hs = answer(request, &shared.policy);
        if hs.accepted() {
            // Reachable by commands before the client can see the 101 and send one.
            self.ws = Some(Box::new(WsState::new(shared)));
            if let Ok(mut c) = shared.conns.lock() {
                c.insert(self.id, self.loop_index);
            }
            self.deadline = None;
        }
        let written = self.wire.write(&hs.response.raw);
        batch.push(tcp(
            shared,
            self.id,
            Direction::ServerToClient,
            &hs.response.raw,
        ));
        let accepted = hs.accepted() && written.is_ok();
        let refused_reason = hs.response.reason.clone();
        let status = hs.response.status;
        batch.push(shared.event(self.id, EventKind::Handshake(Box::new(hs))));
        if let Err(e) = written {
            batch.push(shared.error(self.id, format!("writing the handshake response: {e}")));
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
            batch.push(shared.event(
                self.id,
                EventKind::Http {
                    request: line,
                    status,
                    reason: refused_reason,
                },
            ));
            batch.push(closed_unclean(shared, self.id, ClosedBy::Server));
        }
        accepted
    }

    /// Feeds received bytes to the WebSocket, replies per the reply mode, writes what it queued.
    fn receive(&mut self, shared: &Shared, data: Bytes, batch: &mut Vec<Event>) {
        let id = self.id;
        let Some(ws) = self.ws.as_deref_mut() else {
            return;
        };
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
        flush(shared, id, &mut self.wire, ws, batch);
    }

    /// A command for this WebSocket (not Disconnect, which the loop handles).
    fn run_command(&mut self, shared: &Shared, cmd: Command, batch: &mut Vec<Event>) {
        let id = self.id;
        let Some(ws) = self.ws.as_deref_mut() else {
            return;
        };
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
            batch.push(shared.error(id, format!("not sent: {e}")));
        }
        flush(shared, id, &mut self.wire, ws, batch);
    }

    /// The socket can take more: writes what waited.
    fn flush_wire(&mut self, shared: &Shared, batch: &mut Vec<Event>) {
        let before = self.wire.pending();
        let flushed = self.wire.flush();
        if self.flushing && self.wire.pending() < before {
            // The client is reading: give it the whole wait again.
            self.deadline = Some(Instant::now() + FLUSH_WAIT);
        }
        if let Err(e) = flushed {
            batch.push(shared.error(self.id, format!("write: {e}")));
            self.wire.discard();
            self.wire.failed = true;
            if self.ws.is_none() {
                self.ended = true;
            }
        }
    }

    /// The connection is over: a WebSocket says how it closed.
    fn finish(&mut self, shared: &Shared) {
        let Some(ws) = self.ws.take() else {
            return;
        };
        if let Ok(mut c) = shared.conns.lock() {
            c.remove(&self.id);
        }
        let close = ws.close;
        shared.publish(vec![shared.event(
            self.id,
            EventKind::Closed {
                // §7.1.5: with no close frame at all, the close code is 1006.
                code: Some(close.code.unwrap_or(CloseCode::Abnormal)),
                reason: close.reason,
                by: close.by.unwrap_or(ClosedBy::Client),
                clean: close.clean,
            },
        )]);
    }
}

impl WsState {
    fn new(shared: &Shared) -> Self {
        let config = DecoderConfig {
            sender: Some(Role::Client),
            limits: shared.config.limits,
        };
        Self {
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
        }
    }
}

/// Writes what the connection queued and captures it.
fn flush(shared: &Shared, id: ConnId, wire: &mut Wire, ws: &mut WsState, batch: &mut Vec<Event>) {
    let out = Bytes::from(ws.conn.data_to_send());
    if !out.is_empty() && !ws.write_shut {
        if let Err(e) = wire.write(&out) {
            batch.push(shared.error(id, format!("write: {e}")));
            // The peer is gone (reset): the next read says so and ends the connection.
            wire.failed = true;
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
        wire.shutdown_write();
        ws.write_shut = true;
    }
}

/// A non-blocking socket and what it has not taken yet. While bytes wait, the connection reads
/// nothing more (the peer must read before it is read): memory stays bounded, as with blocking
/// writes.
struct Wire {
    stream: TcpStream,
    /// Bytes not taken yet: `unsent[sent..]`.
    unsent: Vec<u8>,
    sent: usize,
    /// Shut our sending side once `unsent` is written.
    shut_pending: bool,
    /// A write failed: the connection is broken.
    failed: bool,
}

impl Wire {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            unsent: Vec::new(),
            sent: 0,
            shut_pending: false,
            failed: false,
        }
    }

    fn has_unsent(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// Bytes not taken yet.
    fn pending(&self) -> usize {
        self.unsent.len() - self.sent
    }

    /// Forgets what was not sent, and the memory a large echo left behind.
    fn discard(&mut self) {
        if self.unsent.capacity() > READ_BUF {
            self.unsent = Vec::new();
        } else {
            self.unsent.clear();
        }
        self.sent = 0;
    }

    /// Writes what the socket takes now; the rest goes when it is writable again.
    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if self.has_unsent() {
            self.unsent.extend_from_slice(data);
            return Ok(());
        }
        let n = write_some(&self.stream, data)?;
        self.unsent.extend_from_slice(&data[n..]);
        Ok(())
    }

    /// Writes what waited. Ok once nothing is left or the socket is full again.
    fn flush(&mut self) -> io::Result<()> {
        let n = write_some(&self.stream, &self.unsent[self.sent..])?;
        self.sent += n;
        if self.sent == self.unsent.len() {
            self.discard();
        } else if self.sent > self.unsent.len() / 2 {
            // Move the rest forward only once it is the smaller part: a large echo written in
            // many pieces is not moved again for each of them.
            self.unsent.drain(..self.sent);
            self.sent = 0;
        }
        if self.unsent.is_empty() && self.shut_pending {
            self.shut_pending = false;
            let _ = self.stream.shutdown(Shutdown::Write);
        }
        Ok(())
    }

    fn shutdown_write(&mut self) {
        if self.has_unsent() {
            self.shut_pending = true;
        } else {
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }

    /// Drops the connection: nothing more is sent or read.
    fn cut(&mut self) {
        self.discard();
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Writes as much of `data` as the socket takes without blocking; returns how much.
fn write_some(mut stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < data.len() {
        match stream.write(&data[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
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

/// The events of an HTTP answer that was written (or failed to be): the bytes, the answer,
/// and the end of the connection.
pub(crate) fn answered(
    shared: &Shared,
    id: ConnId,
    batch: &mut Vec<Event>,
    a: HttpAnswer,
    written: io::Result<()>,
) {
    let HttpAnswer {
        request,
        status,
        reason,
        response,
    } = a;
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
        batch.push(shared.error(id, format!("writing the {status} response: {e}")));
    }
    batch.push(closed_unclean(shared, id, ClosedBy::Server));
}

/// The answer to a request without an upgrade: the demo page on GET /, a clear refusal for
/// anything else.
fn plain_http(request: Request, line: String) -> HttpAnswer {
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
    HttpAnswer {
        request: line,
        status,
        reason,
        response,
    }
}

/// The handshake took too long: 408, and the connection ends.
fn timeout(shared: &Shared, c: &mut Conn) {
    let secs = shared.config.handshake_timeout.as_secs_f64();
    let got = c.head.len();
    let reason =
        format!("the opening handshake did not complete within {secs} s ({got} bytes received)");
    let mut batch = vec![shared.event(
        c.id,
        EventKind::Limit {
            kind: LimitKind::HandshakeTimeout,
            detail: reason.clone(),
        },
    )];
    let response = error_response(408, &[], &format!("{reason}\n"));
    let a = HttpAnswer {
        request: "(incomplete request)".into(),
        status: 408,
        reason,
        response,
    };
    c.answer_http(shared, &mut batch, a);
    shared.publish(batch);
}

/// Where a connection reads: straight into memory that the captured read can keep.
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

    /// One `read`; empty at end of stream. The flag says whether the read filled the buffer
    /// (more may be waiting).
    fn read(&mut self, mut from: impl Read) -> io::Result<(Bytes, bool)> {
        let n = from.read(&mut self.buf)?.min(self.buf.len());
        let full = n == self.buf.len();
        if n < self.buf.len() / 2 {
            return Ok((Bytes::copy_from_slice(&self.buf[..n]), full));
        }
        let buf = std::mem::replace(&mut self.buf, self.pool.take());
        let lent = Bytes::from_owner(Lent {
            buf,
            len: n,
            pool: Arc::clone(&self.pool),
        });
        Ok((lent, full))
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

/// Read buffers of [`READ_BUF`] bytes that are not in use. A captured read gives its buffer back
/// once every event holding it is dropped; the `serve` consumer does that within milliseconds, so
/// at up to 128 KiB per read the same few buffers go round, with no allocation or zero-filling
/// per read.
pub(crate) struct ReadPool {
    spare: Mutex<Vec<Vec<u8>>>,
}

/// Most spare buffers kept (4 MiB); more are freed.
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
            rb.read(&mut from).ok().map(|(b, _)| b),
            Some(Bytes::copy_from_slice(&data[..10]))
        );
        // Fills the first buffer: handed over, and the next buffer is a large one.
        let mut from = &data[10..];
        let (first, full) = rb.read(&mut from).unwrap_or_default();
        assert!(full);
        assert_eq!(&first[..], &data[10..10 + FIRST_READ_BUF]);
        assert_eq!(rb.buf.len(), READ_BUF);
        let mut got = first.to_vec();
        let mut reads = Vec::new();
        loop {
            let (b, _) = rb.read(&mut from).unwrap_or_default();
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
