//! What permessage-deflate (RFC 7692) costs a compressing client, against the uncompressed
//! path, for one 32 B and one 64 KiB text message of English-like words (text that compresses).
//!
//! Run with `cargo bench --bench deflate`.
//!
//! * `codec`: the payload alone. `plain` copies it (what the uncompressed path does with a
//!   payload); `deflate` compresses it with a [`Deflater`] and inflates it back with an
//!   [`Inflater`], as the two ends of a connection do. `takeover` keeps the window between
//!   messages (the default, and the same message over and over: the best case, a repeat shrinks
//!   to a few bytes); `no_takeover` starts each message with an empty window
//!   (`client_no_context_takeover`: every message costs its full compression).
//! * `message`: one whole message one way, as wsscope's client sends it and a server reads it:
//!   `Connection::send_text` (compress when agreed, frame, mask) then a [`Decoder`] (unmask,
//!   check, inflate when agreed) to the message payload.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsscope::protocol::deflate::{DeflateParams, Deflater, Inflater, PerMessageDeflate};
use wsscope::protocol::{Connection, Decoded, Decoder, DecoderConfig, Role};

const SIZES: [(usize, &str); 2] = [(32, "32B"), (64 << 10, "64KiB")];

/// The decoders' message limit (wsscope's default).
const LIMIT: u64 = 16 << 20;

/// English-like text: common words picked by a fixed pseudo-random sequence, `len` bytes.
fn text(len: usize) -> String {
    const WORDS: [&str; 32] = [
        "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
        "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
        "an", "had", "they", "you", "were",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.push_str(WORDS[(state % WORDS.len() as u64) as usize]);
        out.push(if state % 11 == 0 { '.' } else { ' ' });
    }
    out.truncate(len);
    out
}

fn params(no_takeover: bool) -> DeflateParams {
    DeflateParams {
        client_no_context_takeover: no_takeover,
        ..DeflateParams::default()
    }
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    for (len, label) in SIZES {
        let msg = text(len);
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::new("plain", label), &msg, |b, m| {
            b.iter(|| black_box(m.as_bytes().to_vec()));
        });
        for (name, no_takeover) in [("deflate_takeover", false), ("deflate_no_takeover", true)] {
            let mut d = Deflater::new(&params(no_takeover), Role::Client);
            let mut i = Inflater::new(no_takeover);
            g.bench_with_input(BenchmarkId::new(name, label), &msg, |b, m| {
                b.iter(|| {
                    let (z, _) = d.deflate(m.as_bytes());
                    black_box(i.inflate(&z, LIMIT))
                });
            });
        }
    }
    g.finish();
}

/// A client connection and a server-side decoder, with permessage-deflate agreed or not.
fn pair(deflate: Option<DeflateParams>) -> (Connection, Decoder) {
    let mut conn = Connection::new(
        Role::Client,
        DecoderConfig {
            sender: Some(Role::Server),
            ..DecoderConfig::default()
        },
    );
    let mut decoder = Decoder::new(DecoderConfig {
        sender: Some(Role::Client),
        ..DecoderConfig::default()
    });
    if let Some(p) = deflate {
        conn.set_deflater(Deflater::new(&p, Role::Client));
        decoder.set_extension(Box::new(PerMessageDeflate::new(&p, Role::Client)));
    }
    (conn, decoder)
}

fn message(c: &mut Criterion) {
    let mut g = c.benchmark_group("message");
    for (len, label) in SIZES {
        let msg = text(len);
        g.throughput(Throughput::Bytes(len as u64));
        for (name, deflate) in [
            ("plain", None),
            ("deflate_takeover", Some(params(false))),
            ("deflate_no_takeover", Some(params(true))),
        ] {
            let (mut conn, mut decoder) = pair(deflate);
            let mut out = Vec::new();
            g.bench_with_input(BenchmarkId::new(name, label), &msg, |b, m| {
                b.iter(|| {
                    let _ = conn.send_text(m);
                    let wire = conn.data_to_send();
                    decoder.feed(&wire, &mut out);
                    let n = out
                        .drain(..)
                        .map(|d| match d {
                            Decoded::Message(m) => m.payload.len(),
                            Decoded::Frame(_) => 0,
                        })
                        .sum::<usize>();
                    black_box(n)
                });
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = codec, message
}
criterion_main!(benches);
