//! egui CPU time per frame of the live view with a huge capture, while scrolling the frame table
//! (headless: egui_kittest, no GPU). `cargo bench --bench ui` runs 1,000,000 frames; under
//! `cargo test` it runs a small smoke version so CI checks that it works.

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use wsscope::event::{Direction, Event, EventKind};
use wsscope::gui::WsscopeApp;
use wsscope::protocol::{encode_frame, Decoded, Decoder, DecoderConfig, FrameHeader, OpCode, Role};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (frames, steps) = if full { (1_000_000, 300) } else { (10_000, 10) };

    // One real decoded frame, cloned with increasing offsets and times.
    let mut wire = Vec::new();
    encode_frame(
        FrameHeader::new(OpCode::Text, 0, Some([0x37, 0xfa, 0x21, 0x3d])),
        b"Hello, frame table",
        &mut wire,
    );
    let mut d = Decoder::new(DecoderConfig {
        sender: Some(Role::Client),
        ..Default::default()
    });
    let mut out = Vec::new();
    d.feed(&wire, &mut out);
    let Some(Decoded::Frame(template)) = out.into_iter().next() else {
        eprintln!("ui bench: the template frame did not decode");
        std::process::exit(1);
    };

    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .build_eframe(|cc| WsscopeApp::offline(&cc.egui_ctx));
    let fill = Instant::now();
    {
        let app = h.state_mut();
        app.show_live();
        let mut capture = app.capture_mut();
        for i in 0..frames {
            let mut f = template.clone();
            f.offset = (i * wire.len()) as u64;
            capture.ingest(Event {
                conn: 1 + (i as u64 % 4),
                time: Duration::from_micros(i as u64 * 10),
                kind: EventKind::Frame {
                    direction: if i % 2 == 0 {
                        Direction::ClientToServer
                    } else {
                        Direction::ServerToClient
                    },
                    frame: Box::new(f),
                },
            });
        }
    }
    let fill = fill.elapsed();
    h.step();
    h.step();

    // Scroll up through the table, one wheel notch per egui frame, timing each frame.
    let mut times = Vec::with_capacity(steps);
    for _ in 0..steps {
        h.hover_at(egui::pos2(700.0, 400.0));
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Line,
            delta: egui::vec2(0.0, 5.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::NONE,
        });
        let t = Instant::now();
        h.step();
        times.push(t.elapsed());
    }
    times.sort_unstable();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!(
        "ui bench: {frames} frames captured (filled in {:.2} s); {steps} scrolling egui frames: \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (goal p99 < 16 ms)",
        fill.as_secs_f64(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        pct(1.0).as_secs_f64() * 1e3
    );
}
