//! Any bytes at all go through the whole explanation (stream decode, every frame explained, the
//! CLI's text in both languages) without a panic, and every byte range shown reads forwards.

use proptest::prelude::*;
use wsscope::cli::{render_decode, Paint};
use wsscope::explain::{FrameExplanation, StreamDecode};
use wsscope::i18n::Lang;
use wsscope::protocol::Role;

/// Every `a..b` in `text` where both ends are numbers, as (a, b).
fn ranges(text: &str) -> Vec<(u128, u128)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = text[i..].find("..").map(|p| p + i) {
        let mut s = at;
        while s > 0 && b[s - 1].is_ascii_digit() {
            s -= 1;
        }
        let mut e = at + 2;
        while e < b.len() && b[e].is_ascii_digit() {
            e += 1;
        }
        if let (Ok(lo), Ok(hi)) = (text[s..at].parse(), text[at + 2..e].parse()) {
            out.push((lo, hi));
        }
        i = at + 2;
    }
    out
}

#[test]
fn ranges_are_found() {
    assert_eq!(
        ranges("bytes 0..11 and 2..6, ... (3 more) ……"),
        [(0, 11), (2, 6)]
    );
}

/// Byte streams that look like frames often enough to reach every field: random bytes, with
/// headers that announce 16- and 64-bit lengths (huge ones included) mixed in.
fn streams() -> impl Strategy<Value = Vec<u8>> {
    let chunk = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        (
            any::<u8>(),
            any::<bool>(),
            any::<[u8; 8]>(),
            any::<[u8; 4]>()
        )
            .prop_map(|(b0, masked, len, key)| {
                let mut v = vec![b0, 0x7f | if masked { 0x80 } else { 0 }];
                v.extend_from_slice(&len);
                v.extend_from_slice(&key);
                v
            }),
        (
            any::<u8>(),
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(b0, len, rest)| {
                let mut v = vec![b0, 0x7e];
                v.extend_from_slice(&len.to_be_bytes());
                v.extend(rest);
                v
            }),
    ];
    proptest::collection::vec(chunk, 0..6).prop_map(|c| c.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_are_explained_without_panic_and_ranges_read_forwards(
        bytes in streams(),
        role in proptest::option::of(prop_oneof![Just(Role::Client), Just(Role::Server)]),
    ) {
        let d = StreamDecode::new(&bytes, role);
        for lang in [Lang::En, Lang::Zh] {
            for f in d.frames() {
                let e = FrameExplanation::new(f, lang);
                prop_assert!(e.offset <= e.end);
                prop_assert!(e.payload_bytes.start <= e.payload_bytes.end);
                prop_assert!(e.wire.len() as u64 <= e.wire_total);
                for s in &e.segments {
                    let r = e.at(&s.span);
                    prop_assert!(r.start <= r.end, "{s:?}");
                }
                for r in &e.rows {
                    let at = e.at(&r.span);
                    prop_assert!(at.start <= at.end, "{r:?}");
                }
                for v in &e.violations {
                    prop_assert!(v.byte_range.start <= v.byte_range.end, "{v:?}");
                }
            }
            let _ = d.leftover(lang);
            let _ = d.stopped(lang);
            for color in [false, true] {
                let report = render_decode(&bytes, role, lang, Paint { color });
                let all = format!("{}\n{}", report.text, report.error.unwrap_or_default());
                for (lo, hi) in ranges(&all) {
                    prop_assert!(lo <= hi, "{lo}..{hi} in\n{all}");
                }
            }
        }
    }
}
