//! Codec benchmarks: frame decoding against tungstenite, and unmasking against memcpy.
//!
//! Run with `cargo bench --bench codec`; results and how to read them are in `docs/perf.md`.
//!
//! * `decode`: one masked client binary frame, decoded by a fresh decoder per iteration (a new
//!   connection each time): wire bytes in memory to an unmasked, owned message payload.
//!   `wsscope` is [`Decoder::feed`]; `tungstenite` is `WebSocket::read` as a server (the only
//!   public tungstenite API that unmasks; its `FrameSocket` leaves the payload masked).
//! * `decode_stream`: the same frame, read over and over by one long-lived decoder or socket, so
//!   per-connection setup (tungstenite allocates and zero-fills its 128 KiB read buffer) is out.
//! * `mask`: [`apply_mask`] (word at a time), [`apply_mask_reference`] (byte at a time) and a
//!   plain `copy_from_slice` of the same size as the speed of light; and one `extend_from_slice`
//!   against [`extend_copy`] (in pieces) when the destination is 4 bytes past the source
//!   modulo 4 KiB.

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};
use wsscope::protocol::{
    apply_mask, apply_mask_reference, encode_frame, extend_copy, Decoded, Decoder, DecoderConfig,
    FrameHeader, OpCode, Role,
};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Payload sizes for `decode` and `decode_stream`, with their labels.
const DECODE_SIZES: [(usize, &str); 4] = [
    (32, "32B"),
    (1 << 10, "1KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
];

/// Buffer sizes for `mask`.
const MASK_SIZES: [(usize, &str); 3] = [(1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

/// Both decoders get the same 16 MiB limits (wsscope's defaults), well above 1 MiB.
const LIMIT: usize = 16 << 20;

/// A realistic mix: JSON-like ASCII records alternating with pseudo-random binary runs.
fn payload(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut record = 0u32;
    while out.len() < len {
        let record_text = format!(
            "{{\"id\":{record},\"kind\":\"tick\",\"value\":{},\"ok\":true}}",
            next() % 100_000
        );
        out.extend_from_slice(record_text.as_bytes());
        let run = (next() % 48) as usize;
        for _ in 0..run {
            out.push(next() as u8);
        }
        record += 1;
    }
    out.truncate(len);
    out
}

/// One masked client binary frame carrying `payload`.
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(
        FrameHeader::new(OpCode::Binary, payload.len() as u64, Some(KEY)),
        payload,
        &mut wire,
    );
    wire
}

fn wsscope_config() -> DecoderConfig {
    DecoderConfig {
        sender: Some(Role::Client),
        ..Default::default()
    }
}

fn tungstenite_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(LIMIT))
        .max_frame_size(Some(LIMIT))
}

/// Takes the payload of the (single) message out of the decoder's output.
fn take_message(out: &mut Vec<Decoded>) -> Bytes {
    out.drain(..)
        .find_map(|d| match d {
            Decoded::Message(m) => Some(m.payload),
            Decoded::Frame(_) => None,
        })
        .expect("the frame completes a message")
}

/// Wire bytes in memory as a socket: reads hand out the slice, writes are discarded (a server
/// reading one binary frame has nothing to write anyway). Unlike `Cursor<Vec<u8>>` it needs no
/// copy of the bytes per iteration.
struct Wire<'a>(&'a [u8]);

impl Read for Wire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A socket on which the same frame arrives again and again; one read returns at most the rest
/// of the current copy, so each message costs at least one read, like one `feed` per frame.
struct Looping<'a> {
    wire: &'a [u8],
    pos: usize,
}

impl Read for Looping<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.wire[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos = (self.pos + n) % self.wire.len();
        Ok(n)
    }
}

impl Write for Looping<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn wsscope_decode_once(wire: &[u8]) -> Bytes {
    let mut decoder = Decoder::new(wsscope_config());
    let mut out = Vec::new();
    decoder.feed(wire, &mut out);
    take_message(&mut out)
}

fn tungstenite_decode_once(wire: &[u8]) -> Bytes {
    let mut ws = WebSocket::from_raw_socket(Wire(wire), TRole::Server, Some(tungstenite_config()));
    ws.read().expect("tungstenite reads the frame").into_data()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (size, label) in DECODE_SIZES {
        let data = payload(size);
        let wire = client_frame(&data);
        // Both sides must produce the same unmasked payload, or the comparison means nothing.
        assert_eq!(wsscope_decode_once(&wire), data);
        assert_eq!(tungstenite_decode_once(&wire), data);

        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("wsscope", label), &wire, |b, wire| {
            b.iter(|| wsscope_decode_once(black_box(wire)));
        });
        group.bench_with_input(BenchmarkId::new("tungstenite", label), &wire, |b, wire| {
            b.iter(|| tungstenite_decode_once(black_box(wire)));
        });
    }
    group.finish();
}

fn decode_stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_stream");
    for (size, label) in DECODE_SIZES {
        let data = payload(size);
        let wire = client_frame(&data);
        group.throughput(Throughput::Bytes(size as u64));

        let mut decoder = Decoder::new(wsscope_config());
        let mut out = Vec::new();
        for _ in 0..3 {
            decoder.feed(&wire, &mut out);
            assert_eq!(take_message(&mut out), data);
        }
        group.bench_function(BenchmarkId::new("wsscope", label), |b| {
            b.iter(|| {
                decoder.feed(black_box(&wire), &mut out);
                take_message(&mut out)
            });
        });

        let socket = Looping {
            wire: &wire,
            pos: 0,
        };
        let mut ws = WebSocket::from_raw_socket(socket, TRole::Server, Some(tungstenite_config()));
        for _ in 0..3 {
            assert_eq!(ws.read().expect("tungstenite reads").into_data(), data);
        }
        group.bench_function(BenchmarkId::new("tungstenite", label), |b| {
            b.iter(|| ws.read().expect("tungstenite reads").into_data());
        });
    }
    group.finish();
}

fn mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for (size, label) in MASK_SIZES {
        group.throughput(Throughput::Bytes(size as u64));

        let mut fast = payload(size);
        let mut reference = fast.clone();
        apply_mask(&mut fast, KEY, 0);
        apply_mask_reference(&mut reference, KEY, 0);
        assert_eq!(fast, reference);

        // In place, as the decoder does; applying the mask twice restores the data, which does
        // not matter for timing.
        group.bench_function(BenchmarkId::new("apply_mask", label), |b| {
            b.iter(|| apply_mask(black_box(&mut fast[..]), black_box(KEY), 0));
        });
        group.bench_function(BenchmarkId::new("apply_mask_reference", label), |b| {
            b.iter(|| apply_mask_reference(black_box(&mut reference[..]), black_box(KEY), 0));
        });

        let src = payload(size);
        let mut dst = vec![0u8; size];
        group.bench_function(BenchmarkId::new("memcpy", label), |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&src[..]));
                black_box(&mut dst);
            });
        });

        // A frame header puts a payload a few bytes past where its copy starts, modulo 4 KiB:
        // the case where one big memcpy (`rep movsb` on AMD Zen) is slow and pieces are not.
        let src = vec![0x5au8; size + 4096];
        let src = &src[(4096 - src.as_ptr() as usize % 4096)..][..size];
        let mut out = Vec::with_capacity(size + 8192);
        let pad = (src.as_ptr() as usize + 4).wrapping_sub(out.as_ptr() as usize) % 4096;
        group.bench_function(BenchmarkId::new("one_copy_dst_plus_4", label), |b| {
            b.iter(|| {
                out.resize(pad, 0);
                out.extend_from_slice(black_box(src));
                black_box(&mut out);
            });
        });
        group.bench_function(BenchmarkId::new("extend_copy_dst_plus_4", label), |b| {
            b.iter(|| {
                out.resize(pad, 0);
                extend_copy(&mut out, black_box(src));
                black_box(&mut out);
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    targets = decode, decode_stream, mask
}
criterion_main!(benches);
