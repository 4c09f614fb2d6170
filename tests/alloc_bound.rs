//! The decoder's memory is bounded by its limits, whatever the bytes say. A counting global
//! allocator measures the peak of live heap bytes while hostile input is decoded. This file holds
//! one test so no other test's allocations are counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use wsscope::protocol::{Decoded, Decoder, DecoderConfig, Limits, Role};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak live heap growth while `f` runs.
fn peak_during(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst).saturating_sub(base)
}

const LIMIT: u64 = 4096;

/// Decodes `chunks`, dropping the output after each one; returns the most items one call gave.
fn decode_dropping(chunks: &[Vec<u8>]) -> usize {
    let mut d = Decoder::new(DecoderConfig {
        sender: Some(Role::Client),
        limits: Limits {
            max_frame_size: LIMIT,
            max_message_size: 2 * LIMIT,
        },
    });
    let mut out: Vec<Decoded> = Vec::new();
    let mut most = 0;
    for c in chunks {
        d.feed(c, &mut out);
        most = most.max(out.len());
        // A consumer takes what is decoded; the decoder itself must stay bounded.
        out.clear();
    }
    most
}

#[test]
fn decoder_memory_stays_within_the_limits() {
    // A header that announces more than the limit allocates nothing for it.
    let mut huge = vec![0x82, 0xFF];
    huge.extend_from_slice(&(1u64 << 40).to_be_bytes());
    huge.extend_from_slice(&[1, 2, 3, 4]);
    let chunks = vec![huge];
    let peak = peak_during(|| {
        decode_dropping(&chunks);
    });
    assert!(peak < 2048, "peak {peak} bytes for a header over the limit");
    // One within the limit gets room for at most the frame it announces.
    let mut within = vec![0x82, 0xFE];
    within.extend_from_slice(&4096u16.to_be_bytes());
    within.extend_from_slice(&[1, 2, 3, 4, 9, 9]);
    let chunks = vec![within];
    let peak = peak_during(|| {
        decode_dropping(&chunks);
    });
    assert!(
        peak < 4096 + 2048,
        "peak {peak} bytes for a 4096-byte frame announced"
    );

    // Arbitrary bytes in arbitrary chunks: the peak stays below the limits plus the input.
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 1..6);
    runner
        .run(&strategy, |chunks| {
            let chunk = chunks.iter().map(Vec::len).max().unwrap_or(0);
            let mut items = 0;
            let peak = peak_during(|| items = decode_dropping(&chunks));
            // The buffer holds at most one partial frame (<= limit + 14-byte header) plus the
            // chunk being split, and briefly twice that while it grows; one message (<= 2 x
            // limit); the output (one Decoded plus its violation texts per item). Nothing scales
            // with the lengths the headers announce.
            let buffer = LIMIT as usize + 14 + chunk;
            let bound = 3 * buffer + 2 * LIMIT as usize + 512 * items + 4096;
            prop_assert!(peak <= bound, "peak {} > bound {}", peak, bound);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
