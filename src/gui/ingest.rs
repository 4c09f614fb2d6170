//! The window's engine: the server's [`Supervisor`] and the capture store, with a thread of
//! their own that moves events into the store as they come. Drawing never slows the wire: the
//! UI reads the store under a read lock while it draws, the ingest thread takes the write lock
//! for a few milliseconds at a time between frames, and a minimised or hidden window (which
//! does not paint) still drains every event.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};
use std::sync::{RwLockReadGuard, RwLockWriteGuard};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use eframe::egui;

use crate::capture::Capture;
use crate::event::{Command, Event};
use crate::server::{ServerConfig, StartError, Supervisor};

/// How long the ingest thread holds the store at a time: the UI waits at most this long for it.
const HOLD: Duration = Duration::from_millis(4);
/// How often the window repaints while events arrive: enough to look live, little enough to
/// leave the CPU to the server.
const REPAINT: Duration = Duration::from_millis(40);
/// How long the ingest thread sleeps when nothing arrives and nobody wakes it.
const IDLE: Duration = Duration::from_millis(100);

/// The server, the store, and the thread between them.
pub struct Engine {
    supervisor: Arc<Mutex<Supervisor>>,
    capture: Arc<RwLock<Capture>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
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
        let capture = Arc::new(RwLock::new(Capture::new(budget)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (supervisor, capture, stop, ctx) = (
                Arc::clone(&supervisor),
                Arc::clone(&capture),
                Arc::clone(&stop),
                ctx.clone(),
            );
            std::thread::Builder::new()
                .name("wsscope-ingest".into())
                .spawn(move || run(&supervisor, &capture, &stop, &ctx))
                .ok()
        };
        if let Some(t) = &thread {
            let _ = me.set(t.thread().clone());
        }
        Self {
            supervisor,
            capture,
            stop,
            thread,
        }
    }

    fn sup(&self) -> MutexGuard<'_, Supervisor> {
        self.supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The store, to draw from.
    pub fn capture(&self) -> RwLockReadGuard<'_, Capture> {
        self.capture.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The store, to change (clear, load).
    pub fn capture_mut(&self) -> RwLockWriteGuard<'_, Capture> {
        self.capture.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// See [`Supervisor::start`].
    pub fn start(&self, config: ServerConfig) -> Result<SocketAddr, StartError> {
        self.sup().start(config)
    }

    /// See [`Supervisor::restart`].
    pub fn restart(&self, config: ServerConfig, grace: Duration) -> Result<(), StartError> {
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
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        // The supervisor, dropped with the last reference, stops the server.
    }
}

/// The ingest thread: drain, store, repaint now and then; sleep when nothing comes.
fn run(
    supervisor: &Mutex<Supervisor>,
    capture: &RwLock<Capture>,
    stop: &AtomicBool,
    ctx: &egui::Context,
) {
    let mut batches: Vec<Vec<Event>> = Vec::new();
    let mut last_repaint = Instant::now();
    while !stop.load(Ordering::Acquire) {
        let drained = supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(HOLD, |b| batches.push(b));
        if !batches.is_empty() {
            let mut c = capture.write().unwrap_or_else(PoisonError::into_inner);
            for e in batches.drain(..).flatten() {
                c.ingest(e);
            }
            drop(c);
            if last_repaint.elapsed() >= REPAINT {
                ctx.request_repaint();
                last_repaint = Instant::now();
            } else {
                ctx.request_repaint_after(REPAINT);
            }
        }
        if !drained.more && drained.batches == 0 {
            // A stopped server's last events may still come: look again soon.
            let retiring = supervisor
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retiring();
            std::thread::park_timeout(if retiring { HOLD } else { IDLE });
        }
    }
}
