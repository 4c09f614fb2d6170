//! What a repaint costs the CPU: the UI thread's run time plus the renderer's own threads
//! (llvmpipe's rasterizers without a GPU), read from `/proc` on Linux. Under heavy traffic the
//! ingest thread spaces the live view's repaints so that painting takes at most
//! [`PAINT_SHARE`] of one CPU: without a GPU a 1500x900 repaint costs 60-90 ms of CPU, and
//! at ten a second that is most of a core taken from the server (measured: 0.5x the `serve`
//! rate at 50 x 32 B). Input (a click, a key, a scroll) still repaints at once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The share of one CPU the live view's repaints may take while traffic is heavy. With two CPUs
/// shared by the server, the ingest thread and the clients, 15 % held the window at 0.77x the
/// `serve` rate at 50 x 32 B, 10 % at 0.86x (about 6 repaints a second at 16 ms of CPU each).
pub const PAINT_SHARE: f64 = 0.10;

/// The longest the live view waits between two repaints under heavy traffic, whatever they
/// cost: the counters still move every second.
pub const SLOWEST: Duration = Duration::from_secs(1);

/// How long the meter averages over before it reports a new cost per repaint.
const WINDOW: Duration = Duration::from_secs(1);

/// The interval between two repaints under heavy traffic: at least `floor`, long enough that
/// repaints costing `cost` of CPU each take at most [`PAINT_SHARE`] of one CPU, at most
/// [`SLOWEST`] (or `floor`, if that is longer).
pub fn busy_interval(floor: Duration, cost: Option<Duration>) -> Duration {
    let spaced = cost.map_or(Duration::ZERO, |c| c.div_f64(PAINT_SHARE));
    spaced.min(SLOWEST).max(floor)
}

/// Counts repaints and the CPU time of the threads that paint, and reports the average cost of
/// one repaint about once a second.
#[derive(Default)]
pub struct PaintMeter {
    /// When the current window began, and the last frame.
    start: Option<Instant>,
    last: Option<Instant>,
    frames: u64,
    /// Each painting thread's CPU time when last looked at, by thread id.
    ran: HashMap<u32, u64>,
}

impl PaintMeter {
    /// Call once per frame. Returns the average CPU cost of a frame over the last second or so
    /// when a second is over, `None` meanwhile (and always where the system does not say).
    pub fn frame(&mut self) -> Option<Duration> {
        let now = Instant::now();
        if self.start.is_none() || self.last.is_some_and(|l| now.duration_since(l) >= WINDOW) {
            // First frame, or the first after an idle spell: what the threads did meanwhile was
            // not painting these frames. Start a new window here.
            self.ran_since()?;
            self.start = Some(now);
            self.last = Some(now);
            self.frames = 0;
            return None;
        }
        self.last = Some(now);
        self.frames += 1;
        let since = self.start?;
        if now.duration_since(since) < WINDOW {
            return None;
        }
        let ns = self.ran_since()?;
        self.start = Some(now);
        let frames = std::mem::take(&mut self.frames);
        per_frame(ns, frames)
    }

    /// Nanoseconds of CPU the painting threads ran since the last call, thread by thread (a
    /// thread that ended meanwhile takes its time with it; one not seen before counts from now
    /// on, not its whole life).
    fn ran_since(&mut self) -> Option<u64> {
        let now: HashMap<u32, u64> = painting_threads()?.into_iter().collect();
        let ns = now
            .iter()
            .map(|(tid, &ran)| ran.saturating_sub(self.ran.get(tid).copied().unwrap_or(ran)))
            .fold(0u64, u64::saturating_add);
        self.ran = now;
        Some(ns)
    }
}

/// `ns` of CPU over `frames` frames, per frame.
fn per_frame(ns: u64, frames: u64) -> Option<Duration> {
    (frames > 0).then(|| Duration::from_nanos(ns / frames))
}

/// Whether a thread of this process paints: the main thread (eframe's UI), and every thread
/// that is not one of ours (named `wsscope-…`): the GL driver's.
fn paints(tid: u32, pid: u32, comm: &str) -> bool {
    tid == pid || !comm.trim_end().starts_with("wsscope-")
}

/// The painting threads and the nanoseconds of CPU each has run, from their `schedstat`.
#[cfg(target_os = "linux")]
fn painting_threads() -> Option<Vec<(u32, u64)>> {
    let pid = std::process::id();
    let mut threads = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let dir = entry.path();
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            // The thread ended meanwhile.
            continue;
        };
        if !paints(tid, pid, &comm) {
            continue;
        }
        if let Some(ran) = ran_ns(&dir.join("schedstat")) {
            threads.push((tid, ran));
        }
    }
    Some(threads)
}

/// Nanoseconds a thread has run, from its `schedstat` file (the first field).
#[cfg(target_os = "linux")]
fn ran_ns(schedstat: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(schedstat)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn painting_threads() -> Option<Vec<(u32, u64)>> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costly_repaints_are_spaced_to_their_share_of_a_cpu() {
        let floor = Duration::from_millis(100);
        // No measurement, or cheap repaints (a GPU): the floor.
        assert_eq!(busy_interval(floor, None), floor);
        assert_eq!(busy_interval(floor, Some(Duration::from_millis(3))), floor);
        // 75 ms of CPU each: 0.75 s apart is 10 % of a CPU.
        let at = busy_interval(floor, Some(Duration::from_millis(75)));
        assert_eq!(at, Duration::from_millis(750));
        // Whatever they cost, the counters move every second.
        assert_eq!(busy_interval(floor, Some(Duration::from_secs(2))), SLOWEST);
        assert_eq!(
            busy_interval(Duration::from_secs(3), None),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn the_main_thread_and_the_drivers_threads_paint_ours_do_not() {
        assert!(paints(7, 7, "wsscope-bench\n"));
        assert!(paints(9, 7, "llvmpipe-0\n"));
        assert!(!paints(8, 7, "wsscope-loop-0\n"));
        assert!(!paints(10, 7, "wsscope-ingest\n"));
        assert_eq!(per_frame(90_000_000, 3), Some(Duration::from_millis(30)));
        assert_eq!(per_frame(5, 0), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_meter_reports_this_threads_work_once_a_second() {
        // A test thread is named after its test, not `wsscope-…`: what it burns counts.
        let mut m = PaintMeter::default();
        assert_eq!(m.frame(), None);
        let mut probe = PaintMeter::default();
        assert!(probe.ran_since().is_some());
        // 30 ms of this thread's own CPU time (other tests may hold the CPUs meanwhile).
        let own = || {
            ran_ns(std::path::Path::new("/proc/thread-self/schedstat"))
                .unwrap_or_else(|| panic!("no schedstat"))
        };
        let (start, deadline) = (own(), Instant::now() + Duration::from_secs(20));
        let mut x = 0u64;
        while own() < start + 30_000_000 && Instant::now() < deadline {
            for _ in 0..10_000 {
                x = x.wrapping_mul(31).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        let ran = probe.ran_since().unwrap_or(0);
        assert!(ran >= 30_000_000, "{ran}");
        // Frames that each burn 5 ms of this thread's CPU: a second later the meter reports
        // at least that per frame (other threads can only add to it).
        let deadline = Instant::now() + Duration::from_secs(30);
        let cost = loop {
            let t = own();
            while own() < t + 5_000_000 {
                for _ in 0..10_000 {
                    x = x.wrapping_mul(31).wrapping_add(1);
                }
            }
            if let Some(c) = m.frame() {
                break Some(c);
            }
            if Instant::now() > deadline {
                break None;
            }
        };
        std::hint::black_box(x);
        assert!(
            cost.is_some_and(|c| c >= Duration::from_millis(5)),
            "{cost:?}"
        );
    }
}
