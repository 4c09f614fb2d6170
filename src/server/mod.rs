//! The server engine: a few event-loop threads (mio, half the CPUs by default; one accepts
//! itself, several share a listener thread with a blocking `accept`) that own the connections
//! and drive the sans-IO core, publishing [`Event`]s on a channel and taking [`Command`]s. It
//! wakes its consumer through an injected closure and does not depend on egui.
//!
//! Nothing is dropped, and a consumer that falls behind stalls no one: what is in flight (published,
//! not yet drained) is counted in bytes, and past [`ServerConfig::max_in_flight`] the event loops
//! stop reading from the WebSockets that produce the most (TCP backpressure slows their peers)
//! while they keep reading the quieter ones, accepting, answering handshakes, running timers and
//! writing. Past [`ServerConfig::in_flight_ceiling`] they stop reading every WebSocket, so memory
//! stays bounded whatever the clients do. Reads resume once the consumer has caught up to half
//! the bound. The capture stays complete; the loops never wait on the consumer.

mod conn;
mod event_loop;
mod http;
mod read_pool;
mod supervisor;
mod wire;

use std::collections::HashMap;
use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::event::{
    Clock, Command, ConnId, Endpoint, ErrorKind, Event, EventKind, IoFailure, LimitKind, ReplyMode,
};
use crate::protocol::handshake::{HandshakeLimits, HostPolicy, OriginPolicy, ServerPolicy};
use crate::protocol::Limits;
use crate::tap::Tap;
use http::HttpAnswer;
pub use supervisor::{Drained, StartError, Supervisor};

/// Port browsers accept (6666, the seed's, is on their unsafe-port list).
pub const DEFAULT_PORT: u16 = 8765;

/// Default of [`ServerConfig::busy_poll`]: 50 µs. Waking a sleeping thread on another CPU
/// costs tens of microseconds on virtual machines (a halted virtual CPU is woken by its host):
/// a loop that polls a little longer after a message takes the next one without being woken.
/// Measured on a 2-CPU VM: one connection echoing 32 B went from 12.6k to 25.4k round trips per
/// second, 64 KiB from 1.5-9k to 11.7k; the cost is at most this much CPU per burst of traffic.
pub const DEFAULT_BUSY_POLL: Duration = Duration::from_micros(50);

/// Default of [`ServerConfig::max_in_flight`]: 8 MiB. It sits outside the capture budget, so it
/// is part of the window's fixed overhead (budget + 200 MiB resident at most, measured).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8 << 20;

/// How far past [`ServerConfig::max_in_flight`] handshakes are still read and answered (their
/// events are small): past it a flood of new connections waits too.
pub const HANDSHAKE_HEADROOM: usize = 8 << 20;

/// How far past [`ServerConfig::max_in_flight`] quieter WebSockets are still read, at least (see
/// [`ServerConfig::in_flight_ceiling`]): one 128 KiB read and its echo make up to about 768 KiB
/// of events (each way the TCP bytes, the frames' payloads and the messages').
pub const CEILING_HEADROOM: usize = 1 << 20;

/// What an event costs in flight besides its bytes: the event itself, a boxed frame's fields,
/// its slot in the batch (an estimate: the bound is approximate, the order of magnitude matters).
const EVENT_OVERHEAD: usize = 256;

/// The approximate memory a batch holds until it is drained: a fixed cost per event plus the
/// bytes it carries (a TCP read or write, a frame's or a message's payload).
pub(crate) fn cost(batch: &[Event]) -> usize {
    batch
        .iter()
        .map(|e| {
            EVENT_OVERHEAD
                + match &e.kind {
                    EventKind::Tcp { bytes, .. } => bytes.len(),
                    EventKind::Frame { frame, .. } => frame.payload.len(),
                    EventKind::Message { message, .. } => message.payload.len(),
                    _ => 0,
                }
        })
        .fold(0, usize::saturating_add)
}

/// Bytes of events published and not yet drained (see [`cost`]): the servers add, the consumer
/// ([`Supervisor::drain`]) subtracts. Event loops that paused their reads for the consumer are
/// woken by the drain that brings it under their mark, not by their next timer tick (25 ms
/// later: one 64 KiB echo ran at 1.2k instead of 14k round trips per second).
#[derive(Debug, Default)]
pub struct InFlight {
    bytes: AtomicUsize,
    /// A loop waits for the bytes to fall to `resume_at`.
    waiting: AtomicBool,
    resume_at: AtomicUsize,
    /// The wakers of the loops that may wait (dead ones are pruned when one is added).
    wakers: Mutex<Vec<std::sync::Weak<mio::Waker>>>,
}

impl InFlight {
    /// Bytes in flight now.
    pub(crate) fn get(&self) -> usize {
        self.bytes.load(Ordering::SeqCst)
    }

    pub(crate) fn add(&self, n: usize) {
        self.bytes.fetch_add(n, Ordering::AcqRel);
    }

    /// `n` bytes were drained (or will never be: their channel is gone).
    pub(crate) fn sub(&self, n: usize) {
        // Saturating: a channel dropped and cleared may race with a publish failing.
        let before = self
            .bytes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                Some(v.saturating_sub(n))
            })
            .unwrap_or(0);
        self.wake_if_below(before.saturating_sub(n));
    }

    /// Nobody will drain what is in flight (the consumer dropped its channels).
    pub(crate) fn clear(&self) {
        self.bytes.store(0, Ordering::SeqCst);
        self.wake_if_below(0);
    }

    /// Wakes an event loop through `waker` when it waits (see [`InFlight::wait_below`]).
    pub(crate) fn watch(&self, waker: &Arc<mio::Waker>) {
        if let Ok(mut w) = self.wakers.lock() {
            w.retain(|w| w.strong_count() > 0);
            w.push(Arc::downgrade(waker));
        }
    }

    /// A loop paused its reads until at most `at` bytes are in flight: the drain that gets
    /// there wakes the watching loops. Returns the bytes in flight now, read after the wait was
    /// set: if they are already down, no drain may come to wake it.
    pub(crate) fn wait_below(&self, at: usize) -> usize {
        self.resume_at.store(at, Ordering::SeqCst);
        self.waiting.store(true, Ordering::SeqCst);
        self.get()
    }

    fn wake_if_below(&self, now: usize) {
        if self.waiting.load(Ordering::SeqCst)
            && now <= self.resume_at.load(Ordering::SeqCst)
            && self.waiting.swap(false, Ordering::SeqCst)
        {
            if let Ok(wakers) = self.wakers.lock() {
                for w in wakers.iter().filter_map(std::sync::Weak::upgrade) {
                    // Fails only when that loop has ended.
                    let _ = w.wake();
                }
            }
        }
    }
}

/// Everything the server can be told. `Default` is what `wsscope serve` uses.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; loopback unless the user explicitly asks otherwise.
    pub bind: IpAddr,
    /// Port (0 picks a free one).
    pub port: u16,
    /// What to do with received messages.
    pub reply: ReplyMode,
    /// Subprotocols the server agrees to, in preference order.
    pub protocols: Vec<String>,
    /// Request head limits (431 past them).
    pub handshake_limits: HandshakeLimits,
    /// Time a client has to complete the opening handshake.
    pub handshake_timeout: Duration,
    /// Frame and message size limits (1009 past them).
    pub limits: Limits,
    /// Most connections open at once (503 past it).
    pub max_connections: usize,
    /// Answer pings automatically.
    pub auto_pong: bool,
    /// Event batches a channel made by a caller of [`start`] is meant to hold (such a channel's
    /// sender waits when it is full). A [`Supervisor`] ignores it: its channels never make the
    /// event loops wait, `max_in_flight` bounds them in bytes instead.
    pub channel_capacity: usize,
    /// Bytes of events in flight (published, not yet drained by the [`Supervisor`]) past which
    /// the event loops stop reading from the busiest WebSockets (those that published more than
    /// their fair share, half of this divided among the open connections, in about the last
    /// second) until the consumer has caught up to half of it; past
    /// [`ServerConfig::in_flight_ceiling`] they stop reading every WebSocket. Handshakes are still
    /// answered, up to [`HANDSHAKE_HEADROOM`] past it.
    pub max_in_flight: usize,
    /// Event-loop threads that serve the connections (0: half the CPUs, 1 to 4).
    pub event_loops: usize,
    /// How long an event loop keeps looking for more to do before it sleeps, after a turn that
    /// had some (0: it sleeps at once). Off on a single CPU, where the peer cannot run
    /// meanwhile. See [`DEFAULT_BUSY_POLL`].
    pub busy_poll: Duration,
    /// Where event times count from (`None`: when the server starts). A restarted listener
    /// passes the first one's so a capture keeps one time line.
    pub clock: Option<Clock>,
    /// The counter connection numbers are drawn from (`None`: a new one starting at 1). A
    /// restarted listener shares the first one's, so no number is ever given twice.
    pub conn_ids: Option<Arc<AtomicU64>>,
    /// How long a close frame we sent (the composer's, a limit's, shutdown's 1001) waits for
    /// the peer's before TCP is closed anyway, shown as a close timeout.
    pub close_timeout: Duration,
    /// Keepalive: a ping this often on every WebSocket (`None`: no pings of our own, so a
    /// class sees only its own frames).
    pub ping_interval: Option<Duration>,
    /// Keepalive: how long a ping waits for its pong before the connection is closed with 1011.
    pub ping_timeout: Duration,
    /// Which browser pages may connect, by Origin (403 otherwise).
    pub allowed_origins: OriginPolicy,
    /// Which Host names are answered (403 otherwise); `None`: loopback names when bound to
    /// loopback (DNS rebinding), any when bound to another address.
    pub allowed_hosts: Option<HostPolicy>,
    /// Agree to permessage-deflate (RFC 7692) when a client offers it (`--no-deflate` turns it
    /// off; RSV1 is then a violation again).
    pub deflate: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: DEFAULT_PORT,
            reply: ReplyMode::Echo,
            protocols: ServerPolicy::default().protocols,
            handshake_limits: HandshakeLimits::default(),
            handshake_timeout: Duration::from_secs(10),
            limits: Limits::default(),
            max_connections: 256,
            auto_pong: true,
            channel_capacity: 4096,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            event_loops: 0,
            busy_poll: DEFAULT_BUSY_POLL,
            clock: None,
            conn_ids: None,
            // python-websockets' close_timeout and ping_timeout defaults (its
            // asyncio/connection.py: close_timeout=10, ping_interval=20, ping_timeout=20).
            close_timeout: Duration::from_secs(10),
            ping_interval: None,
            ping_timeout: Duration::from_secs(20),
            allowed_origins: OriginPolicy::Any,
            allowed_hosts: None,
            deflate: true,
        }
    }
}

impl ServerConfig {
    /// Bytes in flight past which no WebSocket is read, however little it sends:
    /// `max_in_flight` plus half of it, or plus [`CEILING_HEADROOM`] if that is more. What is in
    /// flight passes it by one read's events per event loop at most (handshakes have their own
    /// [`HANDSHAKE_HEADROOM`]).
    pub fn in_flight_ceiling(&self) -> usize {
        self.max_in_flight
            .saturating_add((self.max_in_flight / 2).max(CEILING_HEADROOM))
    }

    /// The Host rule in force: the one given, or loopback names on a loopback bind.
    pub fn host_policy(&self) -> HostPolicy {
        self.allowed_hosts
            .clone()
            .unwrap_or(if self.bind.is_loopback() {
                HostPolicy::Loopback
            } else {
                HostPolicy::Any
            })
    }
}

/// Called after each batch of events is queued, so a UI can request a repaint.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// State shared by the listener, the event loops and the command thread.
pub(crate) struct Shared {
    pub(crate) clock: Clock,
    pub(crate) config: ServerConfig,
    pub(crate) policy: ServerPolicy,
    pub(crate) reply: RwLock<ReplyMode>,
    pub(crate) auto_pong: AtomicBool,
    events: Sender<Vec<Event>>,
    /// What is in flight on `events`, when the consumer counts what it drains (the
    /// [`Supervisor`] does); `None`: no bound in bytes (the caller's channel bounds it).
    pub(crate) in_flight: Option<Arc<InFlight>>,
    waker: Waker,
    /// Open WebSocket connections and the event loop that owns each (commands go there).
    pub(crate) conns: Mutex<HashMap<ConnId, usize>>,
    pub(crate) open: AtomicUsize,
    pub(crate) stopping: AtomicBool,
    loops: OnceLock<Vec<event_loop::LoopTx>>,
    /// Read buffers that captured reads have given back.
    pub(crate) read_pool: Arc<read_pool::ReadPool>,
}

impl Shared {
    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }

    pub(crate) fn event(&self, conn: ConnId, kind: EventKind) -> Event {
        Event {
            conn,
            time: self.now(),
            kind,
        }
    }

    /// The event loops (none until `start` has made them).
    fn loops(&self) -> &[event_loop::LoopTx] {
        self.loops.get().map_or(&[], Vec::as_slice)
    }

    /// An error on connection `conn` (0: the server).
    pub(crate) fn error(&self, conn: ConnId, e: ErrorKind) -> Event {
        self.event(conn, EventKind::Error(e))
    }

    /// Queues a batch (waiting only on a full channel a caller of [`start`] made bounded; the
    /// [`Supervisor`]'s never are, what is in flight is counted instead). A gone consumer is
    /// not an error for the wire: the server keeps serving.
    pub(crate) fn publish(&self, batch: Vec<Event>) {
        self.publish_cost(batch);
    }

    /// [`Shared::publish`], returning what the batch counts in flight (0 when nothing is
    /// counted): the loops keep each connection's share (who produces the most is paused first).
    pub(crate) fn publish_cost(&self, batch: Vec<Event>) -> usize {
        if batch.is_empty() {
            return 0;
        }
        // Counted before it is sent: the consumer may drain it at once.
        let n = self.in_flight.as_ref().map(|f| {
            let n = cost(&batch);
            f.add(n);
            n
        });
        if self.events.send(batch).is_ok() {
            (self.waker)();
        } else if let (Some(f), Some(n)) = (&self.in_flight, n) {
            f.sub(n);
        }
        n.unwrap_or(0)
    }
}

/// A running server. Dropping it does not stop it; call [`ServerHandle::shutdown`].
pub struct ServerHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    commands: Sender<Command>,
    listener: Option<JoinHandle<()>>,
    command_thread: Option<JoinHandle<()>>,
    loop_threads: Vec<JoinHandle<()>>,
}

/// Starts listening. Events arrive on `events` in batches; `waker` runs after each batch.
/// Nothing counts what is in flight: a bounded `events` makes the event loops wait when full.
pub fn start(
    config: ServerConfig,
    events: Sender<Vec<Event>>,
    waker: Waker,
) -> io::Result<ServerHandle> {
    start_counted(config, events, waker, None)
}

/// [`start`], with what is in flight counted in `in_flight` (the consumer subtracts what it
/// drains): past [`ServerConfig::max_in_flight`] the loops pause reads instead of waiting.
pub(crate) fn start_counted(
    config: ServerConfig,
    events: Sender<Vec<Event>>,
    waker: Waker,
    in_flight: Option<Arc<InFlight>>,
) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(SocketAddr::new(config.bind, config.port))?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        clock: config.clock.unwrap_or_else(Clock::start),
        policy: ServerPolicy {
            protocols: config.protocols.clone(),
            origins: config.allowed_origins.clone(),
            hosts: config.host_policy(),
            deflate: config.deflate,
        },
        reply: RwLock::new(config.reply.clone()),
        auto_pong: AtomicBool::new(config.auto_pong),
        config,
        events,
        in_flight,
        waker,
        conns: Mutex::new(HashMap::new()),
        open: AtomicUsize::new(0),
        stopping: AtomicBool::new(false),
        loops: OnceLock::new(),
        read_pool: Arc::new(read_pool::ReadPool::new()),
    });
    shared.publish(vec![
        shared.event(
            0,
            EventKind::Clock {
                unix_micros: shared.clock.unix_micros(),
            },
        ),
        shared.event(0, EventKind::Listening { addr }),
    ]);

    let n = match shared.config.event_loops {
        // Half the CPUs: the capture's consumer and, in a classroom, the clients on the same
        // computer need the rest (on 2 CPUs, one loop served 50 busy connections 1.66x as fast
        // as tungstenite-echo, two loops 1.45x).
        0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, 4)),
        n => n,
    };
    // Refused connections wait here for the client to take the 503 (see drain_refused).
    let (refused_tx, refused_rx) = crossbeam_channel::bounded(DRAINING_MAX);
    std::thread::Builder::new()
        .name("wsscope-refused".into())
        .spawn(move || drain_refused(&refused_rx))?;
    let acceptor = Acceptor::new(&shared, &listener, n, refused_tx);
    // One loop accepts itself: a new connection is then not handed from thread to thread (a
    // wake-up per connection, slow on small machines). Several share a listener thread.
    let (mut own_listener, mut acceptor) = if n == 1 {
        listener.set_nonblocking(true)?;
        (
            Some((mio::net::TcpListener::from_std(listener), acceptor)),
            None,
        )
    } else {
        (None, Some((listener, acceptor)))
    };
    let mut loops = Vec::with_capacity(n);
    let mut loop_threads = Vec::with_capacity(n);
    for i in 0..n {
        match event_loop::spawn_loop(&shared, i, own_listener.take()) {
            Ok((tx, thread)) => {
                loops.push(tx);
                loop_threads.push(thread);
            }
            Err(e) => {
                for l in &loops {
                    let _ = l.send(event_loop::Msg::Stop);
                }
                return Err(e);
            }
        }
    }
    let _ = shared.loops.set(loops);

    let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded::<Command>();
    let s = Arc::clone(&shared);
    let command_thread = std::thread::Builder::new()
        .name("wsscope-commands".into())
        .spawn(move || command_loop(&s, &cmd_rx))?;
    let listener_thread = match acceptor.take() {
        Some((listener, acceptor)) => Some(
            std::thread::Builder::new()
                .name("wsscope-listener".into())
                .spawn(move || accept_loop(&acceptor, &listener))?,
        ),
        None => None,
    };
    Ok(ServerHandle {
        shared,
        addr,
        commands: cmd_tx,
        listener: listener_thread,
        command_thread: Some(command_thread),
        loop_threads,
    })
}

/// Numbers each new connection and picks its event loop, or answers 503 past the connection
/// limit. Used by the listener thread, or by the event loop itself when there is only one.
pub(crate) struct Acceptor {
    shared: Arc<Shared>,
    /// Numbers connections when the config does not share a counter.
    own_ids: AtomicU64,
    /// The listener's address when bound to one address: that is every connection's local
    /// address, so no getsockname per connection. Bound to all interfaces, each connection
    /// asks which one it came in on.
    bound: Option<SocketAddr>,
    /// How many event loops share the connections (round robin).
    loops: usize,
    refused: Sender<TcpStream>,
}

/// A connection the [`Acceptor`] let in: its number, socket, addresses and event loop.
pub(crate) struct Admitted {
    pub(crate) id: ConnId,
    pub(crate) stream: TcpStream,
    pub(crate) addrs: io::Result<(SocketAddr, SocketAddr)>,
    pub(crate) loop_index: usize,
}

impl Acceptor {
    fn new(
        shared: &Arc<Shared>,
        listener: &TcpListener,
        loops: usize,
        refused: Sender<TcpStream>,
    ) -> Self {
        Self {
            shared: Arc::clone(shared),
            own_ids: AtomicU64::new(1),
            bound: listener
                .local_addr()
                .ok()
                .filter(|a| !a.ip().is_unspecified()),
            loops,
            refused,
        }
    }

    /// Counts a new connection as open and numbers it, or refuses it (503) past the limit.
    /// `peer` comes with the socket from accept(): no getpeername per connection.
    pub(crate) fn admit(&self, stream: TcpStream, peer: SocketAddr) -> Option<Admitted> {
        let shared = &self.shared;
        let ids = shared.config.conn_ids.as_deref().unwrap_or(&self.own_ids);
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let addrs = self
            .bound
            .map_or_else(|| stream.local_addr(), Ok)
            .map(|l| (peer, l));
        let open = shared.open.fetch_add(1, Ordering::SeqCst);
        if open >= shared.config.max_connections || self.loops == 0 {
            shared.open.fetch_sub(1, Ordering::SeqCst);
            refuse_busy(shared, id, stream, addrs.ok(), open, &self.refused);
            return None;
        }
        // Round robin: connection numbers are consecutive.
        let loop_index = usize::try_from(id).unwrap_or_default() % self.loops;
        Some(Admitted {
            id,
            stream,
            addrs,
            loop_index,
        })
    }

    /// accept() failed (out of file descriptors and the like): reported; the caller waits a
    /// little before the next try, so as not to spin.
    pub(crate) fn failed(&self, e: &io::Error) {
        let e = ErrorKind::Accept(IoFailure::from(e));
        self.shared.publish(vec![self.shared.error(0, e)]);
    }
}

/// How long accepting pauses after accept() failed.
pub(crate) const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// The listener thread, with more than one event loop: a blocking accept(), then the connection
/// goes to its loop.
fn accept_loop(acceptor: &Acceptor, listener: &TcpListener) {
    let shared = &acceptor.shared;
    let loops = shared.loops();
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let a = match accepted {
            Ok((stream, peer)) => acceptor.admit(stream, peer),
            Err(e) => {
                acceptor.failed(&e);
                std::thread::sleep(ACCEPT_RETRY);
                continue;
            }
        };
        let Some(a) = a else {
            continue;
        };
        let sent = loops
            .get(a.loop_index)
            .map(|l| l.send(event_loop::Msg::Accepted(a.id, a.stream, a.addrs)));
        if !matches!(sent, Some(Ok(()))) {
            // The loop is gone (it can only have panicked): the socket closes unserved.
            shared.open.fetch_sub(1, Ordering::SeqCst);
            shared.publish(vec![shared.error(a.id, ErrorKind::NoEventLoop)]);
        }
    }
}

/// Refused connections drained at once, at most; past them a refused socket is closed at once.
const DRAINING_MAX: usize = 64;
/// How long a refused connection is drained at most.
const DRAIN_WAIT: Duration = Duration::from_secs(1);
/// How many bytes of a refused connection are read at most.
const DRAIN_BYTES: usize = 64 * 1024;

/// Past the connection limit (`open` were open): 503 with the reason, then close.
fn refuse_busy(
    shared: &Shared,
    id: ConnId,
    stream: TcpStream,
    addrs: Option<(SocketAddr, SocketAddr)>,
    open: usize,
    refused: &Sender<TcpStream>,
) {
    let limit = shared.config.max_connections;
    let tap = Tap::new(id, shared.clock, Endpoint::Server);
    let mut batch = Vec::new();
    if let Some((peer, local)) = addrs {
        batch.push(tap.opened(peer, local));
    }
    batch.push(tap.event(EventKind::Limit {
        kind: LimitKind::Connections,
        limit: limit as u64,
        actual: open as u64,
    }));
    let answer = HttpAnswer::busy(limit);
    // A fresh socket's send buffer is empty and the answer small: blocking or not, it is taken
    // whole.
    let mut writer = &stream;
    let written = writer.write_all(&answer.response);
    let _ = stream.shutdown(Shutdown::Write);
    http::answered(&tap, &mut batch, answer, written);
    shared.publish(batch);
    // Closing a socket whose request was never read sends a reset, and a reset can make the
    // client's system drop the 503 before the client reads it: the request is read (and
    // dropped) until the client closes, for a short while, on the drain thread. When that is
    // busy with DRAINING_MAX others the socket closes now, as before.
    if stream.set_nonblocking(true).is_ok() {
        let _ = refused.try_send(stream);
    }
}

/// Reads refused connections until the client closes (or DRAIN_WAIT, or DRAIN_BYTES), then
/// closes them: at most DRAINING_MAX at once, on one thread, so a flood pins nothing.
fn drain_refused(refused: &Receiver<TcpStream>) {
    let mut held: Vec<(TcpStream, Instant, usize)> = Vec::new();
    let mut buf = [0u8; 4096];
    let mut open = true;
    while open || !held.is_empty() {
        let next = if held.is_empty() {
            refused.recv().ok()
        } else if held.len() < DRAINING_MAX {
            match refused.recv_timeout(Duration::from_millis(5)) {
                Ok(s) => Some(s),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    open = false;
                    std::thread::sleep(Duration::from_millis(5));
                    None
                }
            }
        } else {
            std::thread::sleep(Duration::from_millis(5));
            None
        };
        match next {
            Some(s) => held.push((s, Instant::now() + DRAIN_WAIT, 0)),
            None if held.is_empty() => open = false,
            None => {}
        }
        let now = Instant::now();
        held.retain_mut(|(s, until, n)| loop {
            match s.read(&mut buf) {
                // The client closed: closing now sends no reset.
                Ok(0) => break false,
                Ok(k) => {
                    *n += k;
                    if *n > DRAIN_BYTES {
                        break false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break now < *until,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break false,
            }
        });
    }
}

fn command_loop(shared: &Arc<Shared>, commands: &Receiver<Command>) {
    for cmd in commands.iter() {
        match cmd {
            Command::SetReplyMode(m) => {
                if let Ok(mut r) = shared.reply.write() {
                    *r = m;
                }
            }
            Command::SetAutoPong(on) => shared.auto_pong.store(on, Ordering::SeqCst),
            other => route(shared, other),
        }
    }
}

/// Sends a per-connection command to the event loop that owns the connection.
fn route(shared: &Shared, cmd: Command) {
    let Some(id) = cmd.conn() else {
        return;
    };
    let owner = shared.conns.lock().ok().and_then(|c| c.get(&id).copied());
    match owner.and_then(|i| shared.loops().get(i)) {
        Some(l) => {
            if l.send(event_loop::Msg::Command(cmd)).is_err() {
                event_loop::not_open(shared, id);
            }
        }
        None => event_loop::not_open(shared, id),
    }
}

impl ServerHandle {
    /// The bound address (with the real port).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends a command to the engine. Commands run in order on the engine's command thread.
    pub fn command(&self, cmd: Command) {
        // The command thread lives as long as the handle, so this cannot fail while we exist.
        let _ = self.commands.send(cmd);
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Closes every connection with 1001 (going away), waits up to `grace` for the closing
    /// handshakes, then stops listening.
    pub fn shutdown(mut self, grace: Duration) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let loops = self.shared.loops();
        for l in loops {
            let _ = l.send(event_loop::Msg::Stopping);
        }
        let deadline = Instant::now() + grace;
        while self.shared.open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Whoever is still there after the grace period is cut off.
        for l in loops {
            let _ = l.send(event_loop::Msg::Stop);
        }
        for h in self.loop_threads.drain(..) {
            let _ = h.join();
        }
        if let Some(h) = self.listener.take() {
            // Wake the blocking accept() so the listener sees the flag.
            let _ = TcpStream::connect_timeout(&reachable(self.addr), Duration::from_millis(500));
            let _ = h.join();
        }
        drop(self.commands);
        if let Some(h) = self.command_thread.take() {
            let _ = h.join();
        }
        self.shared
            .publish(vec![self.shared.event(0, EventKind::Stopped)]);
    }
}

/// Where a client on this computer connects to reach a listener on `addr`: 0.0.0.0 (or ::) is
/// where a server listens, not an address to connect to, so it is reached via loopback.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};

    /// Whether `poll`'s waker fired (without waiting).
    fn woken(poll: &mut Poll) -> bool {
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::ZERO))
            .map(|()| events.iter().any(|e| e.token() == Token(7)))
            .unwrap_or(false)
    }

    #[test]
    fn the_drain_that_catches_up_wakes_a_waiting_loop_once() -> io::Result<()> {
        let mut poll = Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), Token(7))?);
        let f = InFlight::default();
        f.watch(&waker);
        f.add(1000);
        f.sub(100);
        assert!(!woken(&mut poll), "no loop waits yet");
        assert_eq!(f.wait_below(400), 900);
        f.sub(400);
        assert!(!woken(&mut poll), "500 bytes are still above the mark");
        f.sub(100);
        assert!(woken(&mut poll), "400 bytes: the loop may read again");
        f.sub(100);
        assert!(!woken(&mut poll), "woken once per wait");
        assert_eq!(
            f.wait_below(1000),
            300,
            "already down: the loop sees it itself"
        );
        f.clear();
        assert!(woken(&mut poll), "a cleared count wakes a waiting loop too");
        drop(waker);
        f.wait_below(0);
        f.sub(1);
        let other_poll = Poll::new()?;
        let other = Arc::new(mio::Waker::new(other_poll.registry(), Token(8))?);
        f.watch(&other);
        assert_eq!(
            f.wakers.lock().map(|w| w.len()).unwrap_or(0),
            1,
            "dead wakers pruned"
        );
        Ok(())
    }
}
