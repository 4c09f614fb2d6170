//! The event loops. A few threads (mio: epoll, kqueue) each own some connections and serve
//! every one that is ready in one wake-up, where a thread per connection pays a context switch
//! per message; with one connection it costs one `epoll_wait` more per read.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::conn::{Conn, FLUSH_WAIT, LINGER};
use super::read_pool::ReadBuf;
use super::wire::Wire;
use super::{Acceptor, InFlight, Shared, ACCEPT_RETRY, HANDSHAKE_HEADROOM};
use crate::event::{
    ClosedBy, Command, ConnId, Endpoint, ErrorKind, EventKind, IoFailure, LimitKind,
};
use crate::protocol::{ConnectionState, Role};
use crate::tap::Tap;

/// Reads one connection may do per turn before the others get theirs.
const READS_PER_TURN: usize = 4;

/// How often deadlines (handshake timeout, linger, close timeout, keepalive) are checked while
/// any is set.
const TICK: Duration = Duration::from_millis(25);

/// The token of a loop's waker; connections use their number.
const WAKE: Token = Token(usize::MAX);
/// The token of the listener, when the loop accepts itself.
const LISTEN: Token = Token(usize::MAX - 2);
/// Connections accepted per turn at most, before the others get theirs.
const ACCEPTS_PER_TURN: usize = 32;

/// Half-life of what a connection produced (`Conn::produced`): what counts is about the last
/// second or two.
const HALF_LIFE_SECS: u64 = 1;

/// A pause is reported at most this often per connection (and the ceiling's per loop): a
/// consumer that keeps lagging pauses the same connections at every turn.
const PAUSE_NOTICE_EVERY: Duration = Duration::from_secs(5);

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

/// Starts event loop `index`; with a `listener` it accepts its connections itself.
pub(crate) fn spawn_loop(
    shared: &Arc<Shared>,
    index: usize,
    listener: Option<(mio::net::TcpListener, Acceptor)>,
) -> io::Result<(LoopTx, JoinHandle<()>)> {
    let poll = Poll::new()?;
    let waker = Arc::new(mio::Waker::new(poll.registry(), WAKE)?);
    if let Some(f) = &shared.in_flight {
        f.watch(&waker);
    }
    let listening = match listener {
        Some((mut listener, acceptor)) => {
            poll.registry()
                .register(&mut listener, LISTEN, Interest::READABLE)?;
            Some(Listening {
                listener,
                acceptor,
                more: false,
                retry_at: None,
            })
        }
        None => None,
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let s = Arc::clone(shared);
    let thread = std::thread::Builder::new()
        .name(format!("wsscope-loop-{index}"))
        .spawn(move || EventLoop::new(s, poll, listening, rx, index).run())?;
    Ok((LoopTx { tx, waker }, thread))
}

/// The listener of a loop that accepts itself.
struct Listening {
    listener: mio::net::TcpListener,
    acceptor: Acceptor,
    /// Connections may still wait: the last turn accepted its most (readiness comes on edges).
    more: bool,
    /// accept() failed: it is tried again at this time.
    retry_at: Option<Instant>,
}

struct EventLoop {
    shared: Arc<Shared>,
    poll: Poll,
    /// The listener, when this loop accepts itself (dropped when shutdown begins).
    listening: Option<Listening>,
    inbox: Receiver<Msg>,
    index: usize,
    conns: HashMap<usize, Conn>,
    /// Connections that may still have bytes to read (they used up their turn).
    again: Vec<usize>,
    /// Whether the consumer is behind, and whose reads wait for it.
    lag: Lag,
    stopping: bool,
    next_tick: Instant,
    /// [`super::ServerConfig::busy_poll`], or zero on a single CPU.
    busy_poll: Duration,
}

impl EventLoop {
    fn new(
        shared: Arc<Shared>,
        poll: Poll,
        listening: Option<Listening>,
        inbox: Receiver<Msg>,
        index: usize,
    ) -> Self {
        let busy_poll = match std::thread::available_parallelism() {
            Ok(n) if n.get() > 1 => shared.config.busy_poll,
            _ => Duration::ZERO,
        };
        Self {
            shared,
            poll,
            listening,
            inbox,
            index,
            conns: HashMap::new(),
            again: Vec::new(),
            lag: Lag::new(),
            stopping: false,
            next_tick: Instant::now() + TICK,
            busy_poll,
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut ready: Vec<usize> = Vec::new();
        let mut busy = false;
        loop {
            // Paused for the consumer: its drain wakes this loop once it has caught up.
            self.resume_if_drained();
            let accept_more = self.listening.as_ref().is_some_and(|l| l.more);
            let mut timeout = if !self.again.is_empty() || accept_more {
                Some(Duration::ZERO)
            } else if self.lag.on || self.conns.values().any(Conn::timed) {
                // Paused: look at what is in flight every tick to resume.
                Some(self.next_tick.saturating_duration_since(Instant::now()))
            } else {
                None
            };
            if let Some(at) = self.listening.as_ref().and_then(|l| l.retry_at) {
                let d = at.saturating_duration_since(Instant::now());
                timeout = Some(timeout.map_or(d, |t| t.min(d)));
            }
            // After a busy turn, look a little longer before sleeping: the next message is
            // often on its way, and being woken for it costs more than looking.
            let spun = busy && timeout != Some(Duration::ZERO) && self.spin(&mut events);
            let polled = if spun {
                Ok(())
            } else {
                self.poll.poll(&mut events, timeout)
            };
            if let Err(e) = polled {
                if e.kind() != io::ErrorKind::Interrupted {
                    let e = ErrorKind::EventLoop(IoFailure::from(&e));
                    self.shared.publish(vec![self.shared.error(0, e)]);
                    std::thread::sleep(Duration::from_millis(50));
                }
                continue;
            }
            self.resume_if_drained();
            ready.clear();
            for key in self.again.drain(..) {
                if let Some(c) = self.conns.get_mut(&key) {
                    c.queued = false;
                    ready.push(key);
                }
            }
            let mut woken = false;
            let mut accept = accept_more
                || self
                    .listening
                    .as_ref()
                    .and_then(|l| l.retry_at)
                    .is_some_and(|at| at <= Instant::now());
            for ev in events.iter() {
                if ev.token() == WAKE {
                    woken = true;
                    continue;
                }
                if ev.token() == LISTEN {
                    accept = true;
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
            busy = !ready.is_empty();
            for &key in &ready {
                self.drive(key);
            }
            if accept {
                self.accept_ready();
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

    /// Polls without sleeping for up to [`super::ServerConfig::busy_poll`] after a turn that
    /// had work (see [`super::DEFAULT_BUSY_POLL`]); true when something came meanwhile.
    fn spin(&mut self, events: &mut Events) -> bool {
        if self.busy_poll.is_zero() {
            return false;
        }
        let start = Instant::now();
        loop {
            if self.poll.poll(events, Some(Duration::ZERO)).is_ok() && !events.is_empty() {
                return true;
            }
            if start.elapsed() >= self.busy_poll {
                return false;
            }
            std::hint::spin_loop();
        }
    }

    /// Resumes paused reads once the consumer has drained down to half the bound (hysteresis:
    /// not a pause and resume per batch); until then the drain that gets there wakes the loop.
    /// Readiness is reported once, on its edge: every connection that still had bytes to read
    /// is queued for reading again.
    fn resume_if_drained(&mut self) {
        if !self.lag.on {
            return;
        }
        let half = self.shared.config.max_in_flight / 2;
        let behind = |f: &Arc<InFlight>| f.get() > half && f.wait_below(half) > half;
        if self.shared.in_flight.as_ref().is_some_and(behind) {
            return;
        }
        self.lag.on = false;
        self.lag.all = false;
        for (&key, c) in &mut self.conns {
            c.paused = false;
            if c.readable && !c.queued {
                c.queued = true;
                self.again.push(key);
            }
        }
    }

    /// Handles what the loop was sent. Returns true when the loop must end.
    fn take_messages(&mut self) -> bool {
        while let Ok(msg) = self.inbox.try_recv() {
            match msg {
                Msg::Accepted(id, stream, addrs) => self.accept(id, stream, addrs, false),
                Msg::Command(cmd) => self.command(cmd),
                Msg::Stopping => {
                    self.stopping = true;
                    // No new connections: the listener closes.
                    if let Some(mut l) = self.listening.take() {
                        let _ = self.poll.registry().deregister(&mut l.listener);
                    }
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
            if !ws.closing() {
                let id = c.id;
                self.command(going_away(id));
            }
        } else {
            // An HTTP answer already said how its connection ended.
            if !c.end_after_flush {
                let batch = vec![c.tap.closed_unclean(ClosedBy::Server)];
                self.shared.publish(batch);
            }
            self.end(key);
        }
    }

    /// Accepts what waits on this loop's own listener, up to [`ACCEPTS_PER_TURN`].
    fn accept_ready(&mut self) {
        let Some(mut l) = self.listening.take() else {
            return;
        };
        l.more = false;
        l.retry_at = None;
        let mut admitted = Vec::new();
        let mut n = 0;
        while n < ACCEPTS_PER_TURN {
            match l.listener.accept() {
                Ok((stream, peer)) => {
                    n += 1;
                    admitted.extend(l.acceptor.admit(stream.into(), peer));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A client that reset before it was accepted: the next one may be fine.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {
                    l.acceptor.failed(&e);
                }
                Err(e) => {
                    l.acceptor.failed(&e);
                    l.retry_at = Some(Instant::now() + ACCEPT_RETRY);
                    break;
                }
            }
        }
        l.more = n == ACCEPTS_PER_TURN;
        self.listening = Some(l);
        for a in admitted {
            // mio's accept made the socket non-blocking already.
            self.accept(a.id, a.stream, a.addrs, true);
        }
    }

    fn accept(
        &mut self,
        id: ConnId,
        stream: std::net::TcpStream,
        addrs: io::Result<(SocketAddr, SocketAddr)>,
        nonblocking: bool,
    ) {
        let shared = &self.shared;
        let registered = (if nonblocking {
            Ok(())
        } else {
            stream.set_nonblocking(true)
        })
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
                let e = ErrorKind::Setup(IoFailure::from(&e));
                shared.publish(vec![shared.error(id, e)]);
                shared.open.fetch_sub(1, Ordering::SeqCst);
                return;
            }
        };
        let tap = Tap::new(id, shared.clock, Endpoint::Server);
        shared.publish(vec![tap.opened(peer, local)]);
        let buf = ReadBuf::new(Arc::clone(&shared.read_pool));
        let conn = Conn::new(shared, tap, Wire::new(stream), self.index, buf);
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
                ws.conn.tcp_cut(Role::Server);
            }
            self.end(key);
            return;
        }
        let mut batch = Vec::new();
        c.run_command(cmd, &mut batch);
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
            c.flush_wire(&mut batch);
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
            if !may_read(shared, &mut self.lag, c) {
                // It stays readable: resuming queues it again.
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
        } else if let Some(ws) = c.ws.as_ref() {
            // Our close frame went first and waits for the peer's (§5.5.1: it "SHOULD" answer;
            // one that never does must not keep the connection forever).
            let close_sent = ws.conn.state() == ConnectionState::CloseSent;
            let close_timeout = self.shared.config.close_timeout;
            if !(ws.write_shut || close_sent) {
                return;
            }
            if c.wire.has_unsent() {
                // Our close is queued behind bytes the client has not taken yet.
                if c.deadline.is_none() || !c.flushing {
                    c.deadline = Some(Instant::now() + FLUSH_WAIT);
                    c.flushing = true;
                    c.close_wait = None;
                }
            } else if ws.write_shut {
                if c.deadline.is_none() || c.flushing || c.close_wait.is_some() {
                    // Closed on our side (the close frame is out): wait a little for the
                    // client's FIN, capturing what comes, but never longer than LINGER (nor
                    // the close timeout) in all: a client that keeps sending does not hold us.
                    c.deadline = Some(Instant::now() + LINGER.min(close_timeout));
                    c.flushing = false;
                    c.close_wait = None;
                }
            } else if c.close_wait.is_none() {
                // Our close frame is on the wire: the peer has the close timeout to answer it.
                let now = Instant::now();
                c.deadline = Some(now + close_timeout);
                c.flushing = false;
                c.close_wait = Some(now);
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
            .filter(|(_, c)| c.due(now))
            .map(|(&k, _)| k)
            .collect();
        for key in due {
            let Some(c) = self.conns.get_mut(&key) else {
                continue;
            };
            if c.deadline.is_none_or(|d| d > now) {
                // Only keepalive is due: a ping to send, or a pong overdue.
                let mut batch = Vec::new();
                c.keepalive(&self.shared, now, &mut batch);
                self.shared.publish(batch);
                self.after_io(key);
                continue;
            }
            c.deadline = None;
            if c.ws.is_some() {
                if let Some(since) = c.close_wait.take() {
                    // Our close frame was never answered: TCP is closed without the closing
                    // handshake (the Closed event says not clean).
                    c.close_timed_out(&self.shared, since);
                }
                // The linger is over, or the client took none of our last bytes for FLUSH_WAIT,
                // or the close timeout.
                c.ended = true;
            } else if !c.end_after_flush {
                c.timeout(&self.shared);
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

/// What a loop knows of the consumer's lag.
struct Lag {
    /// More than `max_in_flight` bytes were in flight: the busiest connections are paused until
    /// the consumer has caught up to half of that.
    on: bool,
    /// More than the ceiling was in flight: every WebSocket is paused until then.
    all: bool,
    /// When the ceiling's pause was last reported.
    all_told: Option<Instant>,
    /// What `Conn::produced_at` counts half-lives from.
    start: Instant,
}

impl Lag {
    fn new() -> Self {
        Self {
            on: false,
            all: false,
            all_told: None,
            start: Instant::now(),
        }
    }
}

/// Whether connection `c` may read now. Past the bound a stalled consumer slows the busiest
/// peers through TCP (see [`lagging`]) instead of stopping the loop. The common case, a consumer
/// that keeps up, costs one atomic load and two comparisons per read.
fn may_read(shared: &Shared, lag: &mut Lag, c: &mut Conn) -> bool {
    let Some(f) = &shared.in_flight else {
        return true;
    };
    let n = f.get();
    if n <= shared.config.max_in_flight && !lag.on {
        return true;
    }
    lagging(shared, lag, c, n)
}

/// [`may_read`] while the consumer lags (`n` bytes in flight). Handshakes make few bytes of
/// events and go on up to [`HANDSHAKE_HEADROOM`] past the bound, so new clients are answered. A
/// WebSocket that published more than its fair share recently (half the bound divided among the
/// open connections, per half-life) is paused, so a flood does not freeze a quiet class; past the
/// ceiling every WebSocket is, so memory stays bounded when many produce a little each.
#[cold]
fn lagging(shared: &Shared, lag: &mut Lag, c: &mut Conn, n: usize) -> bool {
    let bound = shared.config.max_in_flight;
    if c.ws.is_none() {
        return n <= bound.saturating_add(HANDSHAKE_HEADROOM);
    }
    lag.on = true;
    let ceiling = shared.config.in_flight_ceiling();
    if n > ceiling && !lag.all {
        lag.all = true;
        let now = Instant::now();
        if lag
            .all_told
            .is_none_or(|t| now.duration_since(t) >= PAUSE_NOTICE_EVERY)
        {
            lag.all_told = Some(now);
            let e = shared.event(0, reads_paused(LimitKind::AllReadsPaused, ceiling, n));
            shared.publish(vec![e]);
        }
    }
    if lag.all || c.paused {
        return false;
    }
    let now = Instant::now();
    // Halved once per half-life, applied here only: reads while the consumer keeps up just add.
    let halvings = now.duration_since(lag.start).as_secs() / HALF_LIFE_SECS;
    let shift = u32::try_from(halvings.saturating_sub(c.produced_at)).unwrap_or(u32::MAX);
    c.produced = c.produced.checked_shr(shift).unwrap_or(0);
    c.produced_at = halvings;
    let open = shared.open.load(Ordering::Relaxed).max(1);
    if c.produced <= bound / 2 / open {
        return true;
    }
    c.paused = true;
    if c.pause_told
        .is_none_or(|t| now.duration_since(t) >= PAUSE_NOTICE_EVERY)
    {
        c.pause_told = Some(now);
        shared.publish(vec![c.tap.event(reads_paused(
            LimitKind::ReadsPaused,
            bound,
            n,
        ))]);
    }
    false
}

/// The `Limit` event of a pause: the bound (or ceiling) and what was in flight, in bytes.
fn reads_paused(kind: LimitKind, limit: usize, n: usize) -> EventKind {
    EventKind::Limit {
        kind,
        limit: limit as u64,
        actual: n as u64,
    }
}

/// The close that shutdown sends every WebSocket (1001, going away).
pub(crate) fn going_away(id: ConnId) -> Command {
    Command::Close(id, 1001, "server shutting down".into())
}

/// A connection's token: its number (numbers are never reused within a server).
fn token(id: ConnId) -> Token {
    Token(usize::try_from(id).unwrap_or(usize::MAX - 1))
}

pub(crate) fn not_open(shared: &Shared, id: ConnId) {
    shared.publish(vec![shared.error(id, ErrorKind::NotOpen)]);
}
