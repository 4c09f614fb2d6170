//! The window's engine: the server's [`Supervisor`] and the capture store, with a thread of
//! their own that moves events into the store as they come. Drawing never slows the wire: the
//! UI reads the store under a read lock while it draws, the ingest thread takes the write lock
//! for a few milliseconds at a time between frames, and a minimised or hidden window (which
//! does not paint) still drains every event. What waits between the server and this thread is
//! bounded in bytes by the server (`ServerConfig::max_in_flight`, outside the capture budget): a
//! server that gets ahead of the store pauses its WebSocket reads, losing nothing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};
use std::sync::{RwLockReadGuard, RwLockWriteGuard};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use eframe::egui;

use std::path::{Path, PathBuf};

use super::paint_meter::busy_interval;
use crate::capture::Capture;
use crate::client::ClientConfig;
use crate::event::{Clock, Command, ConnId, Event, EventKind};
use crate::record::Writer;
use crate::server::{ServerConfig, StartError, Supervisor};

/// How long the ingest thread holds the store at a time when nobody asks for it (a thread
/// reading the capture, such as an export, waits at most this long).
const HOLD: Duration = Duration::from_millis(4);

/// How long at most the ingest thread, having let go of the store because the UI waits for it,
/// leaves it to the UI before taking it again (see [`hand_over`]).
const HAND_OVER: Duration = Duration::from_millis(2);

/// Events stored between two looks at the clock while the store is held (a look costs about as
/// much as storing one small frame).
const LOOK_EVERY: usize = 256;

/// How often the window repaints while events arrive: enough to look live, little enough to
/// leave the CPU to the server.
const REPAINT: Duration = Duration::from_millis(40);
/// How often at most under heavy traffic (more than [`BUSY_RATE`] events a second): rows then
/// move too fast to read at either rate. Repaints that cost much CPU (no GPU) are spaced
/// further apart (`paint_meter::busy_interval`). Input (a click, a key) still repaints at once.
const REPAINT_BUSY: Duration = Duration::from_millis(100);
/// From which interval the status bar says repaints are spaced (below, it is about the usual
/// rate under heavy traffic, [`REPAINT_BUSY`]).
const SPACED: Duration = Duration::from_millis(150);
/// How long after the last spaced repaint the status bar stops saying so.
const QUIET: Duration = Duration::from_secs(1);
/// Over how long the event rate is measured.
const RATE_WINDOW: Duration = Duration::from_millis(250);
/// Events a second from which the traffic counts as heavy.
const BUSY_RATE: u64 = 2_000;
/// How often, while events arrive, the memory the budget freed is given back to the system.
const TRIM: Duration = Duration::from_secs(2);
/// What the window may hold beyond its capture budget: egui, the GL stack, fonts, the events in
/// flight (`--max-in-flight`) and what the allocator keeps around freed records. The README
/// states it; [`govern`] holds the process's resident memory to budget + this.
pub const OVERHEAD: u64 = 200 << 20;
/// What [`govern`] aims under [`OVERHEAD`]: the process grows between two of its looks, and
/// what the store lets go of is given back to the system late (the eight loads of
/// `benches/window.sh` peaked 8 MiB past this aim; at 12 MiB under, 3.7 MB short of the ceiling).
const MARGIN: u64 = 24 << 20;
/// How often the process's resident memory is looked at.
const GOVERN: Duration = Duration::from_millis(100);
/// While events arrive the ingest thread looks every POLL instead of being woken, for up to
/// POLLS empty looks in a row.
const POLL: Duration = Duration::from_millis(1);
const POLLS: u32 = 100;
/// How long the ingest thread sleeps when nothing arrives and nobody wakes it.
const IDLE: Duration = Duration::from_millis(100);

/// Whether traffic is heavy: more than [`BUSY_RATE`] events a second over the last
/// [`RATE_WINDOW`] (held for the next one: a sample taken just after a repaint, or between two
/// reads of a flood, must not ask for a sooner repaint than the spacing allows).
struct Rate {
    start: Instant,
    events: u64,
    busy: bool,
}

impl Default for Rate {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            events: 0,
            busy: false,
        }
    }
}

impl Rate {
    fn count(&mut self, events: usize) {
        self.events = self.events.saturating_add(events as u64);
    }

    fn busy(&mut self) -> bool {
        let elapsed = self.start.elapsed();
        if elapsed >= RATE_WINDOW {
            self.busy =
                u128::from(self.events) * 1000 > u128::from(BUSY_RATE) * elapsed.as_millis();
            self.start = Instant::now();
            self.events = 0;
        }
        self.busy
    }
}

/// A recording under way (or the last one, with how it ended).
#[derive(Default)]
pub struct Recording {
    writer: Option<Writer>,
    /// A recording asked for and not started yet: the ingest thread first writes what the store
    /// holds, at a point where every earlier event is in the store and no later one is.
    pending: Option<Writer>,
    /// The file.
    pub path: PathBuf,
    /// Events written.
    pub events: u64,
    /// Why it stopped early (the file ends before this point).
    pub error: Option<String>,
}

impl Recording {
    /// Whether events are being written.
    pub fn active(&self) -> bool {
        self.writer.is_some() || self.pending.is_some()
    }

    /// Starts the pending recording: `held` (what the store holds, its time zero first) goes
    /// in before anything that comes next, so a recording started mid-capture still has the
    /// openings and handshakes of the connections it catches in the middle.
    fn begin<I: IntoIterator<Item = Event>>(&mut self, held: impl FnOnce() -> I) {
        let Some(w) = self.pending.take() else {
            return;
        };
        self.writer = Some(w);
        // The file's header carries the time zero: the store's Clock is not a line of its own.
        for e in held()
            .into_iter()
            .filter(|e| !matches!(e.kind, EventKind::Clock { .. }))
        {
            self.write(&e);
        }
    }

    fn write(&mut self, e: &Event) {
        if let Some(w) = &mut self.writer {
            match w.write(e) {
                Ok(()) => self.events += 1,
                Err(err) => {
                    self.error = Some(err.to_string());
                    self.writer = None;
                }
            }
        }
    }

    fn flush(&mut self) {
        if let Some(Err(err)) = self.writer.as_mut().map(Writer::flush) {
            self.error = Some(err.to_string());
            self.writer = None;
        }
    }
}

/// A capture file being opened, or opened.
#[derive(Debug, Default, Clone)]
pub struct Loading {
    /// The file.
    pub path: PathBuf,
    /// Events read so far.
    pub events: u64,
    /// Whether the whole file was read (or reading stopped at `error`).
    pub done: bool,
    /// Where and why reading stopped; what came before it is in the capture.
    pub error: Option<String>,
}

/// The server, the store, and the thread between them.
pub struct Engine {
    supervisor: Arc<Mutex<Supervisor>>,
    capture: Arc<RwLock<Capture>>,
    recording: Arc<Mutex<Recording>>,
    loading: Arc<Mutex<Option<Loading>>>,
    /// Time zero of every server this engine starts (and of its recordings).
    clock: Clock,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Nanoseconds the UI waited for the store's read lock since [`Engine::take_lock_wait`].
    lock_wait: std::sync::atomic::AtomicU64,
    /// How many UI calls wait for the store now: the ingest thread lets go of it at once.
    ui_waiting: Arc<AtomicU32>,
    /// The live view's repaints: what one costs, and how far apart heavy traffic spaces them.
    pace: Arc<Pace>,
}

/// What the UI measures of its repaints and the ingest thread does with it (nanoseconds; 0 is
/// "not known" and "not spaced").
#[derive(Default)]
struct Pace {
    /// CPU time of one repaint, UI and GL driver threads (see `paint_meter`).
    cost: AtomicU64,
    /// The interval heavy traffic spaces repaints to, while the status bar says so (from
    /// [`SPACED`] on, until [`QUIET`] after the last).
    spaced: AtomicU64,
}

impl Engine {
    /// No server yet, an empty store keeping at most `budget` bytes; `ctx` is repainted as
    /// events arrive.
    pub fn new(ctx: &egui::Context, budget: usize) -> Self {
        let me: Arc<OnceLock<Thread>> = Arc::new(OnceLock::new());
        let wake = Arc::clone(&me);
        // A server queues a batch, then calls this (once until the next drain).
        let supervisor = Arc::new(Mutex::new(Supervisor::new(Some(Arc::new(move || {
            if let Some(t) = wake.get() {
                t.unpark();
            }
        })))));
        let clock = Clock::start();
        if let Ok(mut s) = supervisor.lock() {
            // The client's connections count from the engine's clock even with no server.
            s.set_clock(clock);
        }
        let capture = Arc::new(RwLock::new(Capture::new(budget)));
        let recording = Arc::new(Mutex::new(Recording::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let pace = Arc::new(Pace::default());
        let ui_waiting = Arc::new(AtomicU32::new(0));
        let thread = {
            let (supervisor, capture, recording, stop, pace, waiting, ctx) = (
                Arc::clone(&supervisor),
                Arc::clone(&capture),
                Arc::clone(&recording),
                Arc::clone(&stop),
                Arc::clone(&pace),
                Arc::clone(&ui_waiting),
                ctx.clone(),
            );
            std::thread::Builder::new()
                .name("wsscope-ingest".into())
                .spawn(move || {
                    run(
                        &supervisor,
                        &capture,
                        &waiting,
                        &recording,
                        &stop,
                        &pace,
                        &ctx,
                    )
                })
                .ok()
        };
        if let Some(t) = &thread {
            let _ = me.set(t.thread().clone());
        }
        Self {
            supervisor,
            capture,
            recording,
            loading: Arc::new(Mutex::new(None)),
            clock,
            stop,
            thread,
            lock_wait: Default::default(),
            ui_waiting,
            pace,
        }
    }

    /// What one repaint of the window costs the CPU (the UI's and the GL driver's threads),
    /// measured by the UI: heavy traffic spaces repaints by it.
    pub fn set_paint_cost(&self, cost: Duration) {
        let ns = u64::try_from(cost.as_nanos()).unwrap_or(u64::MAX);
        self.pace.cost.store(ns, Ordering::Relaxed);
    }

    /// While heavy traffic spaces the live view's repaints further apart than usual because each
    /// costs much CPU (no GPU): the interval and the cost of one repaint.
    pub fn spaced_repaints(&self) -> Option<(Duration, Duration)> {
        let spaced = self.pace.spaced.load(Ordering::Relaxed);
        let cost = self.pace.cost.load(Ordering::Relaxed);
        (spaced > 0).then(|| (Duration::from_nanos(spaced), Duration::from_nanos(cost)))
    }

    /// Starts writing every event to `path` as JSON lines (the file is replaced): what the store
    /// holds now (with a connection's opening and handshake, and gaps where the budget dropped
    /// bytes, as an export writes them), then every event from then on.
    pub fn start_recording(&self, path: &Path) -> std::io::Result<()> {
        let writer = Writer::create_with_clock(path, &self.clock)?;
        let mut r = lock(&self.recording);
        r.flush();
        *r = Recording {
            writer: None,
            pending: Some(writer),
            path: path.to_path_buf(),
            events: 0,
            error: None,
        };
        match &self.thread {
            // The ingest thread starts it between two batches.
            Some(t) => t.thread().unpark(),
            None => r.begin(|| held(&self.capture)),
        }
        Ok(())
    }

    /// Stops the recording, writing out what is buffered.
    pub fn stop_recording(&self) {
        let mut r = lock(&self.recording);
        // Asked for and stopped before it began: what the store held still goes in.
        r.begin(|| held(&self.capture));
        r.flush();
        r.writer = None;
    }

    /// The recording under way, or the last one.
    pub fn recording(&self) -> MutexGuard<'_, Recording> {
        lock(&self.recording)
    }

    /// Reads the capture file at `path` into the store on a thread of its own (the window
    /// shows it as it comes; see [`Engine::loading`]).
    pub fn open(&self, path: &Path, lang: crate::i18n::Lang, ctx: &egui::Context) {
        let state = Arc::clone(&self.loading);
        let capture = Arc::clone(&self.capture);
        let ctx = ctx.clone();
        *lock(&state) = Some(Loading {
            path: path.to_path_buf(),
            ..Loading::default()
        });
        let path = path.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("wsscope-open".into())
            .spawn(move || {
                let finish = |error: Option<String>| {
                    if let Some(l) = lock(&state).as_mut() {
                        l.done = true;
                        l.error = error;
                    }
                    ctx.request_repaint();
                };
                let reader = match crate::record::open_any(&path, lang) {
                    Ok(r) => r,
                    Err(e) => return finish(Some(e)),
                };
                const BATCH: usize = 4096;
                // A batch at a time: the UI draws between them.
                let store = |batch: &mut Vec<Event>| {
                    let n = batch.len() as u64;
                    let mut c = capture.write().unwrap_or_else(PoisonError::into_inner);
                    for e in batch.drain(..) {
                        c.ingest(e);
                    }
                    drop(c);
                    if let Some(l) = lock(&state).as_mut() {
                        l.events += n;
                    }
                    ctx.request_repaint_after(REPAINT);
                };
                let mut batch = Vec::with_capacity(BATCH);
                let mut error = None;
                for item in reader {
                    match item {
                        Ok(e) => batch.push(e),
                        Err(e) => error = Some(e),
                    }
                    if batch.len() >= BATCH {
                        store(&mut batch);
                    }
                }
                store(&mut batch);
                finish(error);
            });
        if let Err(e) = spawned {
            *lock(&self.loading) = Some(Loading {
                path: PathBuf::new(),
                events: 0,
                done: true,
                error: Some(e.to_string()),
            });
        }
    }

    /// The capture file being opened, or the last one opened.
    pub fn loading(&self) -> Option<Loading> {
        lock(&self.loading).clone()
    }

    fn sup(&self) -> MutexGuard<'_, Supervisor> {
        self.supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The store, to draw from.
    pub fn capture(&self) -> RwLockReadGuard<'_, Capture> {
        let start = Instant::now();
        let ingest = self.thread.as_ref().map(JoinHandle::thread);
        let c = read_first(&self.capture, &self.ui_waiting, ingest);
        let waited = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.lock_wait.fetch_add(waited, Ordering::Relaxed);
        c
    }

    /// How long [`Engine::capture`] waited for the store since the last call (the frame-time
    /// stats show it next to the pass).
    pub fn take_lock_wait(&self) -> Duration {
        Duration::from_nanos(self.lock_wait.swap(0, Ordering::Relaxed))
    }

    /// The store itself, for a thread that reads it a chunk at a time (the export).
    pub fn shared_capture(&self) -> Arc<RwLock<Capture>> {
        Arc::clone(&self.capture)
    }

    /// The store, to change (clear, load).
    pub fn capture_mut(&self) -> RwLockWriteGuard<'_, Capture> {
        self.capture.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// See [`Supervisor::start`] (on this engine's clock).
    pub fn start(&self, mut config: ServerConfig) -> Result<SocketAddr, StartError> {
        config.clock = Some(self.clock);
        self.sup().start(config)
    }

    /// See [`Supervisor::restart`].
    pub fn restart(&self, mut config: ServerConfig, grace: Duration) -> Result<(), StartError> {
        config.clock = Some(self.clock);
        self.sup().restart(config, grace)
    }

    /// See [`Supervisor::restarting`].
    pub fn restarting(&self) -> bool {
        self.sup().restarting()
    }

    /// See [`Supervisor::poll_restart`].
    pub fn poll_restart(&self) -> Option<Result<SocketAddr, StartError>> {
        self.sup().poll_restart()
    }

    /// See [`Supervisor::local_addr`].
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.sup().local_addr()
    }

    /// See [`Supervisor::command`].
    pub fn command(&self, c: Command) -> bool {
        self.sup().command(c)
    }

    /// See [`Supervisor::connect`]: a client connection, its events in this engine's store.
    pub fn connect(&self, config: ClientConfig) -> std::io::Result<ConnId> {
        self.sup().connect(config)
    }

    /// Starts an inspecting proxy beside the server (see [`Supervisor::proxy`]); returns where
    /// clients connect.
    pub fn proxy(
        &self,
        config: crate::proxy::ProxyConfig,
    ) -> std::io::Result<std::net::SocketAddr> {
        self.sup().proxy(config)
    }

    /// Stops the proxy listening on `addr` (its legs are closed with 1001).
    pub fn stop_proxy(&self, addr: std::net::SocketAddr) {
        self.sup().stop_proxy(addr);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        // A recording gets the server's last events (the closes) before the file is closed.
        let mut r = lock(&self.recording);
        if r.active() {
            let mut sup = lock(&self.supervisor);
            sup.stop(Duration::from_millis(500));
            let deadline = Instant::now() + Duration::from_secs(2);
            while !sup.finished() && Instant::now() < deadline {
                let d = sup.drain(HOLD, |b| b.iter().for_each(|e| r.write(e)));
                if d.batches == 0 {
                    sup.wait(Duration::from_millis(20));
                }
            }
        }
        r.flush();
        // The supervisor, dropped with the last reference, stops the server.
    }
}

/// Returns the pages malloc holds free to the system. What the budget drops is freed by this
/// thread, what replaces it is allocated by the server's threads: each thread's heap keeps
/// free pages in its middle that no trim threshold reaches, and the window's resident memory
/// crept 30-60 MiB past budget + overhead under a long mixed load without this.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn give_back_free_memory() {
    // SAFETY: malloc_trim only returns free pages; it takes malloc's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_back_free_memory() {}

/// Holds the window's resident memory to budget + [`OVERHEAD`]: past it the store keeps less
/// than its budget (the status bar says so), until there is room again. The budget counts what
/// the store holds; this catches what it cannot count (the allocator's leftovers after a mixed
/// load peaked 10 MiB over without it).
fn govern(capture: &RwLock<Capture>) {
    let Some(resident) = resident_bytes() else {
        return;
    };
    let (budget, memory, limit, now) = {
        let c = read(capture);
        (c.budget, c.memory(), c.limit(), c.squeezed)
    };
    let ceiling = (budget as u64).saturating_add(OVERHEAD - MARGIN);
    let to = crate::capture::squeeze_for(budget, memory, limit, resident, ceiling);
    if let Some(now) = now.filter(|n| Some(n.to) == to) {
        // The same limit: the status bar's figure of the process follows it by the MiB.
        if now.resident.abs_diff(resident) >= 1 << 20 {
            let mut c = capture.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = &mut c.squeezed {
                s.resident = resident;
            }
        }
        return;
    }
    if to.is_none() && now.is_none() {
        return;
    }
    let tighter = to.is_some_and(|t| t < limit);
    capture
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .squeeze(to, resident);
    if tighter {
        give_back_free_memory();
    }
}

/// The process's resident memory (`VmRSS`), where the system says.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

/// Asks for a repaint now. `request_repaint()` asks for two, so that layout that lags a pass
/// settles (a table sticking to its bottom shows the previous pass's last row, then the
/// newest); while repaints are spaced (each costs tens of milliseconds of CPU the server
/// needs) one is enough: the rows move on anyway, and the quiet after the traffic asks for two.
fn repaint(ctx: &egui::Context, spaced: bool) {
    if spaced {
        ctx.request_repaint_after(Duration::from_nanos(1));
    } else {
        ctx.request_repaint();
    }
}

/// `m` locked (a panicked holder left nothing half-done that matters here).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the store holds, as events for a recording that starts now, copied out a few MiB at a
/// time instead of all at once. The ingest thread does not store events meanwhile (it is the
/// caller, or waits for the recording's lock, which the caller holds); should a file being
/// opened make the budget drop records first, they are written as gaps.
fn held(capture: &RwLock<Capture>) -> impl Iterator<Item = Event> + '_ {
    let export = read(capture).export();
    export.events(move |f| f(&read(capture)))
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

/// The store read-locked for the UI, which says while it waits, and wakes the `ingest` thread
/// waiting for it to have it (see [`hand_over`]).
fn read_first<'a>(
    capture: &'a RwLock<Capture>,
    ui_waiting: &AtomicU32,
    ingest: Option<&Thread>,
) -> RwLockReadGuard<'a, Capture> {
    match capture.try_read() {
        Ok(c) => return c,
        Err(std::sync::TryLockError::Poisoned(p)) => return p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => {}
    }
    ui_waiting.fetch_add(1, Ordering::AcqRel);
    let c = read(capture);
    if ui_waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
        if let Some(t) = ingest {
            t.unpark();
        }
    }
    c
}

/// Lets go of the store and takes it again, after the UI, if it waits, has had it (within
/// `limit`; the second value says whether it did). A lock let go of goes to whichever thread
/// takes it first, and this one, running already, always did: the UI waited through several
/// holds in a row (p99 40 ms) while a flood was stored.
fn hand_over<'a>(
    capture: &'a RwLock<Capture>,
    held: RwLockWriteGuard<'a, Capture>,
    ui_waiting: &AtomicU32,
    limit: Duration,
) -> (RwLockWriteGuard<'a, Capture>, bool) {
    drop(held);
    let since = Instant::now();
    // Another reader gets a chance.
    std::thread::yield_now();
    // The UI counts itself out once it holds the store, and wakes this thread. Parked, not
    // spinning: the UI may wait for a CPU, and spinning took it from the server (-8 % hs/s).
    while ui_waiting.load(Ordering::Acquire) > 0 {
        let Some(left) = limit.checked_sub(since.elapsed()) else {
            break;
        };
        std::thread::park_timeout(left);
    }
    let had = ui_waiting.load(Ordering::Acquire) == 0;
    (capture.write().unwrap_or_else(PoisonError::into_inner), had)
}

/// The ingest thread: drain, store, repaint now and then; sleep when nothing comes.
fn run(
    supervisor: &Mutex<Supervisor>,
    capture: &RwLock<Capture>,
    ui_waiting: &AtomicU32,
    recording: &Mutex<Recording>,
    stop: &AtomicBool,
    pace: &Pace,
    ctx: &egui::Context,
) {
    let mut batches: Vec<Vec<Event>> = Vec::new();
    let mut last_repaint = Instant::now();
    // Events stored per RATE_WINDOW, for the rate that picks the repaint interval.
    let mut rate = Rate::default();
    let mut last_trim = Instant::now();
    let mut last_govern = Instant::now();
    // When repaints were last spaced out (see [`Pace::spaced`]).
    let mut spaced_since: Option<Instant> = None;
    // Events stored and not yet asked to be shown, and how far apart repaints are now.
    let mut unshown = false;
    // Empty drains in a row: after POLLS of them the thread parks until woken.
    let mut idle_polls = POLLS;
    let mut every = REPAINT;
    while !stop.load(Ordering::Acquire) {
        if last_govern.elapsed() >= GOVERN {
            last_govern = Instant::now();
            govern(capture);
        }
        {
            // Between two batches everything before is in the store and nothing after is:
            // where a recording asked for mid-capture starts.
            let mut r = lock(recording);
            if r.pending.is_some() {
                r.begin(|| held(capture));
            }
        }
        let drained = supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(HOLD, |b| batches.push(b));
        if !batches.is_empty() {
            // On disk first: the budget may drop what the store keeps, never what is recorded.
            let mut r = lock(recording);
            if r.active() {
                batches.iter().flatten().for_each(|e| r.write(e));
            }
            drop(r);
            // The UI waits for the store while it is written: hand it over when it asks, and
            // every HOLD / 2 for other readers.
            let mut c = capture.write().unwrap_or_else(PoisonError::into_inner);
            let mut since = Instant::now();
            let mut stored = 0usize;
            // Whether the UI takes the store when it is handed over (see below).
            let mut ui_turns = true;
            for batch in batches.drain(..) {
                rate.count(batch.len());
                // Looked at within a batch too: one read of a flood of empty frames is tens of
                // thousands of events (the UI waited 4.4 ms at p50 between batches, now 0.1).
                for e in batch {
                    c.ingest(e);
                    stored += 1;
                    if (ui_turns && ui_waiting.load(Ordering::Relaxed) > 0)
                        || (stored % LOOK_EVERY == 0 && since.elapsed() >= HOLD / 2)
                    {
                        let had;
                        (c, had) = hand_over(capture, c, ui_waiting, HAND_OVER);
                        // The UI waits for something else (a file being opened holds the
                        // store): storing one event per hand-over would stall this thread.
                        ui_turns &= had;
                        since = Instant::now();
                    }
                }
            }
            drop(c);
            if last_trim.elapsed() >= TRIM {
                give_back_free_memory();
                last_trim = Instant::now();
            }
            unshown = true;
            every = if rate.busy() {
                let cost = match pace.cost.load(Ordering::Relaxed) {
                    0 => None,
                    ns => Some(Duration::from_nanos(ns)),
                };
                busy_interval(REPAINT_BUSY, cost)
            } else {
                REPAINT
            };
            if every >= SPACED {
                spaced_since = Some(Instant::now());
                let ns = u64::try_from(every.as_nanos()).unwrap_or(u64::MAX);
                if pace.spaced.swap(ns, Ordering::Relaxed) == 0 {
                    // The status bar says so.
                    repaint(ctx, true);
                }
            }
        }
        // Spaced no more for a while (not only between two reads of a flood, nor for one
        // lighter moment): the status bar stops saying so.
        if spaced_since.is_some_and(|t| t.elapsed() >= QUIET) {
            spaced_since = None;
            pace.spaced.store(0, Ordering::Relaxed);
            repaint(ctx, false);
        }
        // Only this thread asks for repaints, and only when one is due: each request wakes the
        // UI thread (a scheduled `request_repaint_after` per batch did, thousands a second).
        if unshown && last_repaint.elapsed() >= every {
            repaint(ctx, every > REPAINT_BUSY);
            last_repaint = Instant::now();
            unshown = false;
        }
        if !drained.more && drained.batches == 0 {
            // Quiet now: what was recorded goes to disk instead of waiting for more.
            lock(recording).flush();
            // A stopped server's last events may still come: look again soon.
            let retiring = supervisor
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retiring();
            let mut wait = if retiring { HOLD } else { IDLE };
            if unshown {
                // What came last is shown when its repaint is due.
                wait = wait.min(every.saturating_sub(last_repaint.elapsed()));
            }
            if idle_polls < POLLS && rate.busy {
                // Under load, poll: a parked thread costs the event loop a futex call to wake
                // it per batch, a sleeping one a flag.
                idle_polls += 1;
                std::thread::sleep(wait.min(POLL));
            } else {
                std::thread::park_timeout(wait);
            }
        } else {
            idle_polls = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The UI, waiting for the store while the ingest thread holds it, has it before the ingest
    /// thread takes it again (it lost that race every time: the thread letting go is running).
    #[test]
    fn the_ui_waiting_for_the_store_has_it_before_the_ingest_thread_again() {
        let capture = Arc::new(RwLock::new(Capture::new(1 << 20)));
        let waiting = Arc::new(AtomicU32::new(0));
        let had = Arc::new(AtomicBool::new(false));
        for _ in 0..20 {
            had.store(false, Ordering::SeqCst);
            let held = capture.write().unwrap_or_else(PoisonError::into_inner);
            let ingest = std::thread::current();
            let ui = {
                let (capture, waiting, had) =
                    (Arc::clone(&capture), Arc::clone(&waiting), Arc::clone(&had));
                std::thread::spawn(move || {
                    let _c = read_first(&capture, &waiting, Some(&ingest));
                    had.store(true, Ordering::SeqCst);
                })
            };
            while waiting.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            let (held, took) = hand_over(&capture, held, &waiting, Duration::from_secs(60));
            assert!(
                took && had.load(Ordering::SeqCst),
                "the ingest thread took it first"
            );
            drop(held);
            assert!(ui.join().is_ok());
        }
    }
}
