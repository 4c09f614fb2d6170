//! The explanation of a frame, field by field, checked against RFC 6455 §5.7's examples; and any
//! bytes at all go through the whole explanation (stream decode, every frame explained, the CLI's
//! text in both languages) without a panic, with every byte range shown reading forwards.

use std::ops::Range;

use proptest::prelude::*;
use wsscope::cli::{render_decode, Paint};
use wsscope::explain::frame::WIRE_SHOWN;
use wsscope::explain::{BitCell, FieldKind, FrameExplanation, Note, StreamDecode, UnmaskRow};
use wsscope::i18n::Lang;
use wsscope::protocol::{Decoded, Decoder, DecoderConfig, Fragment, Frame, Role};

fn note(text: &str, bad: bool) -> Note {
    Note {
        text: text.into(),
        bad,
    }
}

fn frames(bytes: &[u8], sender: Role) -> Vec<Frame> {
    let mut d = Decoder::new(DecoderConfig {
        sender: Some(sender),
        ..DecoderConfig::default()
    });
    let mut out = Vec::new();
    d.feed(bytes, &mut out);
    out.into_iter()
        .filter_map(|d| match d {
            Decoded::Frame(f) => Some(f),
            Decoded::Message(_) => None,
        })
        .collect()
}

fn one(bytes: &[u8], sender: Role, lang: Lang) -> FrameExplanation {
    let f = frames(bytes, sender);
    assert_eq!(f.len(), 1, "{bytes:02x?}");
    FrameExplanation::new(&f[0], lang)
}

const HELLO_MASKED: [u8; 11] = [
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

#[test]
fn rfc_5_7_masked_hello_field_by_field() {
    let e = one(&HELLO_MASKED, Role::Client, Lang::En);
    let rows: Vec<(FieldKind, &str, Range<usize>, &str, &str)> = e
        .rows
        .iter()
        .map(|r| {
            (
                r.kind,
                r.name,
                r.span.clone(),
                r.value.as_str(),
                r.meaning.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (FieldKind::Fin, "FIN", 0..1, "1", "final fragment"),
            (
                FieldKind::Rsv,
                "RSV1-3",
                0..1,
                "0 0 0",
                "must be 0 unless an extension defines them"
            ),
            (FieldKind::Opcode, "opcode", 0..1, "0x1", "text"),
            (
                FieldKind::Mask,
                "MASK",
                1..2,
                "1",
                "masked (clients must mask)"
            ),
            (
                FieldKind::Length,
                "length",
                1..2,
                "5",
                "5 bytes — 7-bit form: len7 holds the length itself (0-125)"
            ),
            (
                FieldKind::Key,
                "masking key",
                2..6,
                "37 fa 21 3d (37fa213d)",
                ""
            ),
        ]
    );
    let digits: Vec<String> = e.bits.iter().map(BitCell::digits).collect();
    assert_eq!(
        digits,
        ["1", "0", "0", "0", "0001", "1", "0000101"].map(String::from)
    );
    assert_eq!(e.len7, 5);
    assert_eq!(e.length_note, "length 5 (7-bit form: the value is in len7)");
    assert_eq!(e.fragment, Fragment::Whole);
    assert_eq!((e.offset, e.header_len, e.end), (0, 6, 11));
    assert_eq!(e.payload_bytes, 6..11);
    assert_eq!(e.wire, HELLO_MASKED.to_vec());
    let unmask = e.unmask.unwrap_or_else(|| panic!("masked"));
    let text: String = unmask
        .rows
        .iter()
        .map(|r| r.printable().unwrap_or('?'))
        .collect();
    assert_eq!(text, "Hello");
    assert_eq!(
        unmask.rows[0],
        UnmaskRow {
            index: 0,
            wire: 0x7f,
            key: 0x37,
            byte: b'H'
        }
    );
    assert_eq!(unmask.rows[4].key, 0x37, "the key repeats every 4 bytes");
    assert!(e.violations.is_empty() && e.close.is_none());
}

#[test]
fn numbers_and_bytes_are_the_same_in_chinese() {
    let en = one(&HELLO_MASKED, Role::Client, Lang::En);
    let zh = one(&HELLO_MASKED, Role::Client, Lang::Zh);
    for (a, b) in en.rows.iter().zip(&zh.rows) {
        assert_eq!((&a.value, &a.span, a.bits), (&b.value, &b.span, b.bits));
    }
    assert_eq!(zh.rows[2].name, "操作码");
    assert_eq!(zh.fragment_text, "一个帧就是一条完整消息");
    assert!(zh.length_note.starts_with("长度 5"), "{}", zh.length_note);
    assert_eq!(en.unmask, zh.unmask);
}

#[test]
fn sixteen_and_sixty_four_bit_lengths_say_where_the_extension_is() {
    // §5.7: a 256-byte unmasked binary frame (16-bit length), then a 65536-byte one (64-bit).
    let mut bytes = vec![0x82, 0x7e, 0x01, 0x00];
    bytes.extend(std::iter::repeat_n(0xaa, 256));
    let e = one(&bytes, Role::Server, Lang::En);
    assert_eq!(e.len7, 126);
    assert_eq!(
        e.length_note,
        "length 256 (16-bit form: len7 = 126, then bytes 2..4 = 01 00)"
    );
    assert_eq!(e.rows[4].span, 2..4, "the length row lights the extension");
    assert_eq!(e.rows[4].value, "256");
    assert_eq!((e.wire.len(), e.wire_total), (260, 260));
    assert!(e.unmask.is_none());

    let mut bytes = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
    bytes.extend(std::iter::repeat_n(0x55, 65536));
    let e = one(&bytes, Role::Server, Lang::En);
    assert_eq!(e.len7, 127);
    assert_eq!(
        e.length_note,
        "length 65536 (64-bit form: len7 = 127, then bytes 2..10 = 00 00 00 00 00 01 00 00)"
    );
    assert_eq!(e.rows[4].span, 2..10);
    assert_eq!(e.end, 10 + 65536);
    assert_eq!((e.wire.len(), e.wire_total), (WIRE_SHOWN, 10 + 65536));
    let zh = one(&bytes, Role::Server, Lang::Zh);
    assert!(zh.length_note.contains("2..10 = 00 00 00 00 00 01 00 00"));
}

#[test]
fn a_close_body_is_read() {
    // Close 1000 "bye" from a server; then a one-byte body; then invalid UTF-8 in the reason.
    let e = one(
        &[0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e'],
        Role::Server,
        Lang::En,
    );
    assert_eq!(e.rows[2].meaning, "close (control)");
    assert_eq!(e.fragment, Fragment::Control);
    let close = e.close.unwrap_or_default();
    let text: Vec<(&str, bool)> = close.iter().map(|n| (n.text.as_str(), n.bad)).collect();
    assert_eq!(
        text,
        [
            ("close code 1000: normal closure", false),
            ("reason: \"bye\"", false)
        ]
    );
    let e = one(&[0x88, 0x01, 0x03], Role::Server, Lang::En);
    assert_eq!(
        e.close.unwrap_or_default(),
        vec![note("1-byte body: too short for a code", true)]
    );
    assert_eq!(e.violations.len(), 1);
    assert_eq!(e.violations[0].section, "5.5.1");
    assert_eq!(e.violations[0].close_code, 1002);
    let e = one(&[0x88, 0x03, 0x03, 0xe8, 0xff], Role::Server, Lang::Zh);
    let close = e.close.unwrap_or_default();
    assert_eq!(close[0].text, "关闭状态码 1000：正常关闭");
    assert!(close[1].bad && close[1].text.contains('0'));
    let e = one(&[0x88, 0x00], Role::Server, Lang::En);
    assert_eq!(
        e.close.unwrap_or_default(),
        vec![note("no status code (received as 1005)", false)]
    );
}

#[test]
fn byte_ranges_saturate_instead_of_wrapping() {
    // A 64-bit length with every bit set: decoding stops at this header (§5.2), and the
    // announced end is past what a u64 offset can say.
    let f = frames(
        &[
            0x81, 0x00, 0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
        Role::Client,
    );
    assert_eq!(f.len(), 2);
    let e = FrameExplanation::new(&f[1], Lang::En);
    assert!(!e.payload_captured);
    assert_eq!(e.offset, 2);
    assert_eq!(e.end, u64::MAX);
    assert!(e.payload_bytes.start <= e.payload_bytes.end);
    for s in &e.segments {
        let r = e.at(&s.span);
        assert!(r.start <= r.end, "{s:?}");
    }
    for v in &e.violations {
        assert!(v.byte_range.start <= v.byte_range.end);
    }
    assert!(e.unmask.is_none());
}

#[test]
fn every_byte_belongs_to_a_segment() {
    let e = one(&HELLO_MASKED, Role::Client, Lang::En);
    let kinds: Vec<FieldKind> = (0..12).map(|i| e.segment_of(i).kind).collect();
    assert_eq!(kinds[0], FieldKind::Opcode);
    assert_eq!(kinds[1], FieldKind::Length);
    assert_eq!(kinds[2..6], [FieldKind::Key; 4]);
    assert_eq!(kinds[6..], [FieldKind::Payload; 6]);
    assert_eq!(
        e.segment(FieldKind::Key).map(|s| s.span.clone()),
        Some(2..6)
    );
}

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
        // The decoder tab reads the hex it is given, then explains each frame as below.
        let parsed = wsscope::explain::parse_hex(&wsscope::explain::hex_spaced(&bytes));
        if !bytes.is_empty() {
            prop_assert_eq!(parsed.as_deref().ok(), Some(&bytes[..]));
        }
        let d = StreamDecode::new(&bytes, role);
        // Every range shown is inside the input: an announced end past it is only said as
        // announced (`end`, `truncated()`), never shown as bytes.
        let len = bytes.len() as u64;
        let inside = |r: &Range<u64>| r.start <= r.end && r.end <= len;
        for lang in [Lang::En, Lang::Zh] {
            for f in d.frames() {
                let e = FrameExplanation::new(f, lang);
                prop_assert!(e.offset <= e.end);
                prop_assert!(inside(&e.payload_bytes), "{:?}", e.payload_bytes);
                prop_assert_eq!(e.truncated(), e.end > e.payload_bytes.end);
                prop_assert!(e.wire.len() as u64 <= e.wire_total);
                for s in &e.segments {
                    let r = e.at(&s.span);
                    prop_assert!(inside(&r), "{s:?}");
                }
                for r in &e.rows {
                    let at = e.at(&r.span);
                    prop_assert!(inside(&at), "{r:?}");
                }
                for v in &e.violations {
                    prop_assert!(inside(&v.byte_range), "{v:?}");
                }
            }
            for m in d.messages() {
                prop_assert!(inside(&m.byte_range), "{:?}", m.byte_range);
            }
            let _ = d.leftover(lang);
            let _ = d.stopped(lang);
            for color in [false, true] {
                let report = render_decode(&bytes, role, lang, Paint { color });
                let all = format!("{}\n{}", report.text, report.error.unwrap_or_default());
                for (lo, hi) in ranges(&all) {
                    prop_assert!(lo <= hi && hi <= u128::from(len), "{lo}..{hi} of {len} bytes in\n{all}");
                }
            }
        }
    }
}
