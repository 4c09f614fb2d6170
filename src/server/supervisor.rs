//! One server's lifecycle for every consumer (`wsscope serve`, the window): start, restart with
//! new options, drain the events, shut down while still draining.
//!
//! A restart stops the old server on a helper thread (it closes its connections with 1001 and
//! releases the port), then starts the new one there, so the caller never blocks and the same
//! port can be reused. Every server it starts shares one clock and one connection counter: the
//! capture keeps one time line and no connection number is given twice.
//!
//! Each server gets its own channel, which never makes its event loops wait: what is in flight on
//! them is counted in bytes (added as published, subtracted here as drained), and past
//! [`ServerConfig::max_in_flight`] the loops pause their WebSocket reads instead. A stopped server's channel is drained before the current
//! one (its last events, the closes it sent, happened first) until it disconnects.
//!
//! Connections wsscope opens itself (the client, [`Supervisor::connect`]) share the clock and the
//! counter too; their events come on one more channel, drained after the servers', and commands
//! for them are routed to them by connection number. They outlive server restarts.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError};

use super::{cost, start_counted, InFlight, ServerConfig, ServerHandle, Waker};
use crate::client::{self, ClientConfig, ClientHandle};
use crate::event::{Clock, Command, ConnId, Event, EventKind};
use crate::proxy::{self, ProxyConfig, ProxyHandle};

/// Grace period for the closing handshakes when a [`Supervisor`] is dropped with a server running.
const DROP_GRACE: Duration = Duration::from_secs(1);

/// Batches taken between two looks at the clock in [`Supervisor::drain`]: reading the clock
/// per batch would cost `serve` more than counting a small batch does.
const BATCHES_PER_CLOCK: u32 = 32;

/// Why no server is listening.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listening socket could not be bound (port in use, address not local, ...).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
    /// A server is already running, starting or stopping: restart it instead.
    #[error("a server is already running, starting or stopping")]
    Running,
    /// A restart is already under way (a second one would orphan the server the first starts).
    #[error("a restart is already under way")]
    Busy,
    /// The thread that was restarting the server panicked.
    #[error("the thread restarting the server failed")]
    Panicked,
}

/// What one [`Supervisor::drain`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Batches handed to the sink.
    pub batches: usize,
    /// The time ran out with events perhaps still queued: call again without waiting.
    pub more: bool,
    /// No server is running, starting or stopping, and every event has been taken.
    pub finished: bool,
}

/// Runs one server at a time and owns its event channels (see the module doc).
pub struct Supervisor {
    /// The options of the last start or restart (with the shared clock and counter filled in).
    config: Option<ServerConfig>,
    /// The running server.
    server: Option<ServerHandle>,
    /// The current (or starting) server's events.
    events: Option<Receiver<Vec<Event>>>,
    /// Channels of stopped servers, drained until they disconnect.
    retiring: Vec<Receiver<Vec<Event>>>,
    /// A restart under way: stops the old server, then starts the new one.
    restart: Option<JoinHandle<Result<ServerHandle, StartError>>>,
    /// A shutdown under way (see [`Supervisor::stop`]).
    stopper: Option<JoinHandle<()>>,
    /// What the servers call after queueing a batch.
    waker: Waker,
    /// Set by the waker until the next drain: it wakes the consumer once, not once per batch.
    /// `None` when there is nobody to wake (the waker then does nothing at all).
    pending: Option<Arc<AtomicBool>>,
    /// Event times of every server count from here.
    clock: Option<Clock>,
    /// Connection numbers, shared by every server started here.
    conn_ids: Option<Arc<AtomicU64>>,
    /// The client connections, by number (ended ones are dropped as their events are drained).
    clients: HashMap<ConnId, ClientHandle>,
    /// The clients' events: the sender each new client gets a clone of, and the receiver.
    peers: (Sender<Vec<Event>>, Receiver<Vec<Event>>),
    /// Running proxies (their events come on the clients' channel).
    proxies: Vec<ProxyHandle>,
    /// Bytes of the servers' events published and not yet drained (every server started here
    /// shares it: a stopped server's undrained events still mean the consumer is behind).
    in_flight: Arc<InFlight>,
}

impl Supervisor {
    /// A supervisor with no server yet. `wake` (a UI's repaint request) runs when events arrive
    /// and the consumer has drained everything since the last call; `None` for a consumer that
    /// polls (the servers then call a waker that does nothing).
    pub fn new(wake: Option<Waker>) -> Self {
        let (waker, pending): (Waker, _) = match wake {
            None => (Arc::new(|| {}), None),
            Some(wake) => {
                let pending = Arc::new(AtomicBool::new(false));
                let flag = Arc::clone(&pending);
                let waker: Waker = Arc::new(move || {
                    if !flag.swap(true, Ordering::AcqRel) {
                        wake();
                    }
                });
                (waker, Some(pending))
            }
        };
        Self {
            config: None,
            server: None,
            events: None,
            retiring: Vec::new(),
            restart: None,
            stopper: None,
            waker,
            pending,
            clock: None,
            conn_ids: None,
            clients: HashMap::new(),
            peers: crossbeam_channel::unbounded(),
            proxies: Vec::new(),
            in_flight: Arc::new(InFlight::default()),
        }
    }

    /// Starts an inspecting proxy (see [`crate::proxy`]); both legs of every connection it
    /// relays come from [`Supervisor::drain`], and [`Supervisor::command`] injects frames on
    /// either leg. Returns the address clients connect to.
    pub fn proxy(&mut self, config: ProxyConfig) -> io::Result<SocketAddr> {
        let (clock, conn_ids) = self.shared();
        let ctx = proxy::Context {
            clock,
            conn_ids,
            events: self.peers.0.clone(),
            waker: Some(Arc::clone(&self.waker)),
            in_flight: Some((Arc::clone(&self.in_flight), self.max_in_flight())),
        };
        let handle = proxy::start(config, ctx)?;
        let addr = handle.local_addr();
        self.proxies.push(handle);
        Ok(addr)
    }

    /// Stops the proxy listening on `addr`: it accepts no more, and every relayed leg is
    /// closed with 1001.
    pub fn stop_proxy(&mut self, addr: SocketAddr) {
        for p in self.proxies.iter_mut().filter(|p| p.local_addr() == addr) {
            p.stop();
        }
    }

    /// The bound on events in flight: the current server's, else the default.
    fn max_in_flight(&self) -> usize {
        self.config
            .as_ref()
            .map_or(super::DEFAULT_MAX_IN_FLIGHT, |c| c.max_in_flight)
    }

    /// Counts every connection's times from `clock` (a consumer's own, so its recording and
    /// its connections share one time zero). Only before the first connection or server:
    /// later, the clock in use stays.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock.get_or_insert(clock);
    }

    /// The clock and connection counter every connection of this supervisor shares (made now
    /// if no server has provided them yet).
    fn shared(&mut self) -> (Clock, Arc<AtomicU64>) {
        let clock = *self.clock.get_or_insert_with(Clock::start);
        let ids = self
            .conn_ids
            .get_or_insert_with(|| Arc::new(AtomicU64::new(1)))
            .clone();
        (clock, ids)
    }

    /// Opens a client connection (see [`crate::client`]); its events come with the servers'
    /// from [`Supervisor::drain`], and [`Supervisor::command`] reaches it by its number, which
    /// is returned.
    pub fn connect(&mut self, config: ClientConfig) -> io::Result<ConnId> {
        let (clock, conn_ids) = self.shared();
        let ctx = client::Context {
            clock,
            conn_ids,
            events: self.peers.0.clone(),
            waker: Some(Arc::clone(&self.waker)),
            in_flight: Some((Arc::clone(&self.in_flight), self.max_in_flight())),
        };
        let handle = client::connect(config, ctx)?;
        let id = handle.id();
        self.clients.insert(id, handle);
        Ok(id)
    }

    /// Client connections whose thread is still running.
    pub fn clients(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.clients
            .iter()
            .filter(|(_, h)| !h.finished())
            .map(|(id, _)| *id)
    }

    /// `config` with this supervisor's clock and connection counter (the first config to come
    /// through provides them, or they start now and at 1).
    fn adopt(&mut self, mut config: ServerConfig) -> ServerConfig {
        let clock = *self
            .clock
            .get_or_insert_with(|| config.clock.unwrap_or_else(Clock::start));
        let ids = self
            .conn_ids
            .get_or_insert_with(|| {
                config
                    .conn_ids
                    .clone()
                    .unwrap_or_else(|| Arc::new(AtomicU64::new(1)))
            })
            .clone();
        config.clock = Some(clock);
        config.conn_ids = Some(ids);
        self.config = Some(config.clone());
        config
    }

    /// Starts a server with `config` on this thread and returns the address it listens on.
    /// With a server running, starting or stopping, use [`Supervisor::restart`] instead.
    pub fn start(&mut self, config: ServerConfig) -> Result<SocketAddr, StartError> {
        let stopping = self.stopper.as_ref().is_some_and(|s| !s.is_finished());
        if self.server.is_some() || self.restart.is_some() || stopping {
            return Err(StartError::Running);
        }
        let config = self.adopt(config);
        // Unbounded: publishing never waits; what is in flight is bounded in bytes instead.
        let (tx, rx) = crossbeam_channel::unbounded();
        let addr = SocketAddr::new(config.bind, config.port);
        let in_flight = Some(Arc::clone(&self.in_flight));
        let server = start_counted(config, tx, Arc::clone(&self.waker), in_flight)
            .map_err(|source| StartError::Listen { addr, source })?;
        let local = server.local_addr();
        if let Some(old) = self.events.replace(rx) {
            self.retiring.push(old);
        }
        self.server = Some(server);
        Ok(local)
    }

    /// Restarts with `config`: the running server (if any) closes its connections with 1001
    /// and releases its port within `grace`, then the new one starts, both on a helper thread.
    /// [`Supervisor::poll_restart`] says when it is done; events keep flowing meanwhile.
    pub fn restart(&mut self, config: ServerConfig, grace: Duration) -> Result<(), StartError> {
        if self.restart.is_some() {
            return Err(StartError::Busy);
        }
        let config = self.adopt(config);
        let old = self.server.take();
        let (tx, rx) = crossbeam_channel::unbounded();
        if let Some(old) = self.events.replace(rx) {
            self.retiring.push(old);
        }
        let waker = Arc::clone(&self.waker);
        let in_flight = Some(Arc::clone(&self.in_flight));
        let stopping = self.stopper.take();
        self.restart = Some(spawn_named("wsscope-restart", move || {
            // A server still stopping releases its port first.
            if let Some(s) = stopping {
                let _ = s.join();
            }
            if let Some(h) = old {
                h.shutdown(grace);
            }
            let addr = SocketAddr::new(config.bind, config.port);
            start_counted(config, tx, waker, in_flight)
                .map_err(|source| StartError::Listen { addr, source })
        }));
        Ok(())
    }

    /// Whether a restart is under way.
    pub fn restarting(&self) -> bool {
        self.restart.is_some()
    }

    /// The outcome of a restart once it is over (`None` while it runs, or when none was asked
    /// for): the new server's address, or why nothing listens now.
    pub fn poll_restart(&mut self) -> Option<Result<SocketAddr, StartError>> {
        if !self.restart.as_ref().is_some_and(JoinHandle::is_finished) {
            return None;
        }
        let outcome = match self.restart.take()?.join() {
            Ok(Ok(server)) => {
                let addr = server.local_addr();
                self.server = Some(server);
                Ok(addr)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StartError::Panicked),
        };
        if outcome.is_err() {
            // Its sender is gone with the server that did not start.
            self.events = None;
        }
        Some(outcome)
    }

    /// The address the running server listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(ServerHandle::local_addr)
    }

    /// The options of the last start or restart, with the shared clock and counter.
    pub fn config(&self) -> Option<&ServerConfig> {
        self.config.as_ref()
    }

    /// Sends a command to the client connection it names, or else to the running server;
    /// `false` when neither is there.
    pub fn command(&self, c: Command) -> bool {
        if let Some(client) = c.conn().and_then(|id| self.clients.get(&id)) {
            client.command(c);
            return true;
        }
        if let Some(p) = c
            .conn()
            .and_then(|id| self.proxies.iter().find(|p| p.has(id)))
        {
            return p.command(c);
        }
        match &self.server {
            Some(s) => {
                s.command(c);
                true
            }
            None => false,
        }
    }

    /// Bytes of the servers' events published and not yet drained (an estimate: see
    /// [`ServerConfig::max_in_flight`], past which the servers pause their WebSocket reads).
    pub fn in_flight(&self) -> usize {
        self.in_flight.get()
    }

    /// Whether a stopped server's channel is still open (its last events may still come).
    pub fn retiring(&self) -> bool {
        !self.retiring.is_empty()
    }

    /// Hands queued batches to `sink`, stopped servers' first, for about `budget` at most (the
    /// rest waits in the channels: nothing is lost).
    pub fn drain(&mut self, budget: Duration, mut sink: impl FnMut(Vec<Event>)) -> Drained {
        if let Some(p) = &self.pending {
            p.store(false, Ordering::Release);
        }
        let deadline = Instant::now() + budget;
        let mut batches = 0usize;
        let mut since_clock = 0u32;
        let mut out_of_time = || {
            since_clock += 1;
            since_clock % BATCHES_PER_CLOCK == 0 && Instant::now() > deadline
        };
        let mut more = false;
        let mut waiting = false;
        // Front first: a later server's events happened after an earlier one's.
        'retiring: while !self.retiring.is_empty() {
            loop {
                match self.retiring[0].try_recv() {
                    Ok(mut batch) => {
                        self.in_flight.sub(cost(&batch));
                        // Its Listening event is stale: the current listener's counts.
                        batch.retain(|e| !matches!(e.kind, EventKind::Listening { .. }));
                        batches += 1;
                        sink(batch);
                        if out_of_time() {
                            more = true;
                            break 'retiring;
                        }
                    }
                    Err(TryRecvError::Empty) => {
                        // That server is still stopping, and the next one starts only once it
                        // has stopped: whatever a later channel gets after this look would be
                        // taken before this one's last events. Come back for both.
                        waiting = true;
                        break 'retiring;
                    }
                    Err(TryRecvError::Disconnected) => {
                        self.retiring.remove(0);
                        break;
                    }
                }
            }
        }
        if !more && !waiting {
            if let Some(rx) = &self.events {
                loop {
                    match rx.try_recv() {
                        Ok(batch) => {
                            self.in_flight.sub(cost(&batch));
                            batches += 1;
                            sink(batch);
                            if out_of_time() {
                                more = true;
                                break;
                            }
                        }
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            self.events = None;
                            break;
                        }
                    }
                }
            }
        }
        if !more {
            // The clients' events, after the servers': they are independent connections.
            while let Ok(batch) = self.peers.1.try_recv() {
                self.in_flight.sub(cost(&batch));
                batches += 1;
                sink(batch);
                if out_of_time() {
                    more = true;
                    break;
                }
            }
            // An ended client published its last events before its thread ended.
            self.clients
                .retain(|_, h| !h.finished() || !self.peers.1.is_empty());
        }
        Drained {
            batches,
            more,
            finished: self.finished(),
        }
    }

    /// No server is running, starting or stopping, and every channel is drained and closed.
    pub fn finished(&self) -> bool {
        self.clients.values().all(ClientHandle::finished)
            && self.proxies.iter().all(|p| p.active() == 0)
            && self.peers.1.is_empty()
            && self.server.is_none()
            && self.restart.is_none()
            && self.events.is_none()
            && self.retiring.is_empty()
            && self.stopper.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Blocks until a batch is queued (or a channel closes), or `timeout` passes: for a consumer
    /// that has gone idle and polls no more.
    pub fn wait(&self, timeout: Duration) {
        let mut sel = Select::new();
        for rx in self.retiring.iter().chain(&self.events) {
            sel.recv(rx);
        }
        sel.recv(&self.peers.1);
        if sel.ready_timeout(timeout).is_err() && self.retiring.is_empty() && self.events.is_none()
        {
            // Nothing to wait on: a stop or restart thread is between two servers.
            std::thread::sleep(timeout.min(Duration::from_millis(10)));
        }
    }

    /// Starts shutting down on a helper thread: the server (or the one a restart under way is
    /// starting) closes every connection with 1001, waits up to `grace` for the closing
    /// handshakes, and stops listening. Keep draining until [`Drained::finished`]: the engine
    /// reads the peers' closes only while the consumer keeps up (see `max_in_flight`).
    pub fn stop(&mut self, grace: Duration) {
        for (id, c) in &self.clients {
            // §7.4.1: 1001, an endpoint going away (the client's own close timeout bounds it).
            c.command(Command::Close(*id, 1001, String::new()));
        }
        for p in &mut self.proxies {
            p.stop();
        }
        let server = self.server.take();
        let restart = self.restart.take();
        if server.is_none() && restart.is_none() {
            return;
        }
        let previous = self.stopper.take();
        self.stopper = Some(spawn_named("wsscope-stop", move || {
            if let Some(p) = previous {
                let _ = p.join();
            }
            // A restart under way finishes first, so the server it starts is stopped too.
            if let Some(Ok(Ok(h))) = restart.map(JoinHandle::join) {
                h.shutdown(grace);
            }
            if let Some(h) = server {
                h.shutdown(grace);
            }
        }));
    }

    /// Shuts down as [`Supervisor::stop`] does and hands every remaining batch to `sink` until
    /// the last server has stopped.
    pub fn shutdown(mut self, grace: Duration, mut sink: impl FnMut(Vec<Event>)) {
        self.stop(grace);
        loop {
            let d = self.drain(Duration::from_millis(50), &mut sink);
            if d.finished {
                break;
            }
            if !d.more {
                self.wait(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // Nobody takes the events any more: closing the channels first means no engine thread
        // waits on a full one while its server shuts down.
        self.retiring.clear();
        self.events = None;
        // What they held will never be drained: the loops must not stay paused for it while
        // they close their connections.
        self.in_flight.clear();
        self.stop(DROP_GRACE);
        if let Some(t) = self.stopper.take() {
            let _ = t.join();
        }
    }
}

/// `std::thread::spawn` with a name (the window's paint meter counts threads not named
/// `wsscope-…` as the GL driver's). Like it, panics if the system cannot start a thread.
fn spawn_named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    match std::thread::Builder::new().name(name.into()).spawn(f) {
        Ok(h) => h,
        Err(e) => panic!("cannot start a thread: {e}"),
    }
}
