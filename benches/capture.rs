//! The capture store's cost: bytes per captured frame (as the budget counts them, and as the
//! process's resident memory grows) for 1,000,000 frames of 32 B with their messages and TCP
//! records, then how long a new filter takes over all of them. `cargo bench --bench capture`
//! runs the full size; under `cargo test` it runs a small smoke version.
//!
//! The events are what the server emits for an echo of 32-byte text messages: for each round
//! trip the client's TCP read, frame and message, then the server's TCP write, frame and message,
//! the frames cut from the TCP bytes as the server's tap cuts them (so an unmasked frame shares
//! its call's bytes; the decoding is inside the timed ingest).

use std::time::{Duration, Instant};

use bytes::Bytes;
use wsscope::capture::filter::FrameFilter;
use wsscope::capture::Capture;
use wsscope::event::{Direction, Event, EventKind};
use wsscope::protocol::{encode_frame, Decoded, Decoder, DecoderConfig, FrameHeader, OpCode, Role};

/// Resident memory of this process in bytes (Linux; 0 elsewhere).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The wire bytes of one 32-byte text frame sent by `role`, and a decoder of what `role` sends.
fn sent(role: Role, text: &[u8]) -> (Vec<u8>, Decoder) {
    let key = (role == Role::Client).then_some([0x37, 0xfa, 0x21, 0x3d]);
    let mut wire = Vec::new();
    encode_frame(FrameHeader::new(OpCode::Text, 0, key), text, &mut wire);
    let d = Decoder::new(DecoderConfig {
        sender: Some(role),
        ..Default::default()
    });
    (wire, d)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let frames: u64 = if full { 1_000_000 } else { 20_000 };
    let budget = 1 << 30;
    let text = b"hello, this is 32 bytes of text!";
    let mut sides = [sent(Role::Client, text), sent(Role::Server, text)];
    let mut decoded = Vec::new();
    let before = rss();
    let mut c = Capture::new(budget);
    let start = Instant::now();
    let mut offsets = [[0u64; 2]; 4];
    for i in 0..frames {
        let side = (i % 2) as usize;
        let conn = 1 + (i / 2) % 4;
        let direction = if side == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        let time = Duration::from_micros(i * 10);
        let (wire, decoder) = &mut sides[side];
        let off = &mut offsets[(conn - 1) as usize][side];
        let wire_len = wire.len() as u64;
        let bytes = Bytes::copy_from_slice(wire);
        decoder.feed_bytes(bytes.clone(), &mut decoded);
        c.ingest(Event {
            conn,
            time,
            kind: EventKind::Tcp { direction, bytes },
        });
        for d in decoded.drain(..) {
            let kind = match d {
                Decoded::Frame(mut f) => {
                    f.offset = *off;
                    EventKind::Frame {
                        direction,
                        frame: Box::new(f),
                    }
                }
                Decoded::Message(message) => EventKind::Message { direction, message },
            };
            c.ingest(Event { conn, time, kind });
        }
        *off += wire_len;
    }
    let fill = start.elapsed();
    let grown = rss().saturating_sub(before);
    assert_eq!(c.frame_count() as u64, frames, "the budget dropped frames");
    println!(
        "capture bench: {frames} frames of 32 B with their messages and TCP records, ingested in \
         {:.2} s ({:.0} frames/s); the budget counts {:.1} B per frame ({:.1} MiB); resident \
         memory grew {:.1} B per frame ({:.1} MiB) (goal <= 256 B)",
        fill.as_secs_f64(),
        frames as f64 / fill.as_secs_f64(),
        c.memory() as f64 / frames as f64,
        c.memory() as f64 / (1 << 20) as f64,
        grown as f64 / frames as f64,
        grown as f64 / (1 << 20) as f64,
    );
    for q in [
        "hello",
        "/32 by+tes/",
        "len>100",
        "#2 c->s",
        "op:ping",
        "! text",
    ] {
        let mut f = FrameFilter::default();
        let t = Instant::now();
        while f.update(q, None, &c, Duration::from_secs(60)) {}
        println!(
            "capture bench: filter {q:<12} over {frames} frames: {:>7.1} ms, {} match (goal < 100 ms)",
            t.elapsed().as_secs_f64() * 1e3,
            f.rows().len()
        );
    }
}
