//! `wsscope proxy`: the inspecting proxy in a terminal, printing both legs of every proxied
//! connection with the same trace as `serve` (each leg worded from wsscope's side of it).

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use super::trace::{Totals, TraceLevel, Tracer};
use crate::event::{Clock, Event};
use crate::i18n::Lang;
use crate::proxy::{self, Context, ProxyConfig};
use crate::record;

/// Runs the proxy until `stop` is set; returns the exit status.
pub fn run(
    config: ProxyConfig,
    level: TraceLevel,
    lang: Lang,
    record: Option<&std::path::Path>,
    stop: &AtomicBool,
) -> u8 {
    let clock = Clock::start();
    let mut recorder = match record.map(|p| record::Writer::create_with_clock(p, &clock)) {
        None => None,
        Some(Ok(w)) => Some(w),
        Some(Err(e)) => {
            eprintln!("wsscope proxy: cannot record: {e}");
            return 1;
        }
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let ctx = Context {
        clock,
        conn_ids: Arc::new(AtomicU64::new(1)),
        events: tx,
        waker: None,
        in_flight: None,
    };
    let listen = config.listen;
    let upstream = config.upstream.to_string();
    let handle = match proxy::start(config, ctx) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("wsscope proxy: cannot listen on {listen}: {e}");
            return 1;
        }
    };
    println!(
        "{}",
        crate::i18n::fill(lang.t().px_listening, &[&handle.local_addr(), &upstream])
    );
    if let Some(w) = crate::i18n::listening_warning(lang, handle.local_addr()) {
        println!("{w}");
    }
    let mut tracer = Tracer::default();
    let mut totals = Totals::default();
    let mut out = std::io::stdout().lock();
    let mut print = |event: &Event, out: &mut std::io::StdoutLock<'_>| {
        if let Some(w) = recorder.as_mut() {
            if let Err(e) = w.write(event) {
                eprintln!("wsscope proxy: recording stopped: {e}");
                recorder = None;
            }
        }
        totals.add(event);
        if let Some(line) = tracer.line(event, level, lang) {
            let _ = writeln!(out, "{line}");
        }
    };
    let mut handle = handle;
    let mut stopped_at: Option<Instant> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(batch) => {
                for e in &batch {
                    print(e, &mut out);
                }
                let _ = out.flush();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if stopped_at.is_none() && stop.load(Ordering::SeqCst) {
            eprintln!("wsscope proxy: closing every proxied connection with 1001 (going away)...");
            handle.stop();
            stopped_at = Some(Instant::now());
        }
        // Done once every connection has finished, or after its close timeout.
        if stopped_at.is_some_and(|t| handle.active() == 0 || t.elapsed() > Duration::from_secs(6))
        {
            break;
        }
    }
    while let Ok(batch) = rx.try_recv() {
        for e in &batch {
            print(e, &mut out);
        }
    }
    if let Some(Err(e)) = recorder.as_mut().map(record::Writer::flush) {
        eprintln!("wsscope proxy: recording stopped: {e}");
    }
    let _ = writeln!(out, "{}", totals.text(lang));
    let _ = out.flush();
    0
}
