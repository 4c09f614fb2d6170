//! Property tests of the codec: round trips, split-invariance (the sticky/split TCP packet point
//! of the seed, as a law), robustness on arbitrary bytes, mask equivalence, UTF-8 at every split.

use proptest::prelude::*;
use wsscope::protocol::{
    apply_mask, apply_mask_reference, encode_frame, extend_copy, extend_masked, masks_to, Decoded,
    Decoder, DecoderConfig, Frame, FrameHeader, Limits, OpCode, Pending, Role, Rule,
};

/// Decodes `bytes` cut at `cuts`, through `feed` or (with `shared`) the zero-copy `feed_bytes`.
fn decode_split(
    bytes: &[u8],
    cuts: &[usize],
    config: DecoderConfig,
    shared: bool,
) -> (Vec<Decoded>, Pending, u64) {
    let mut d = Decoder::new(config);
    let mut out = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    points.push(bytes.len());
    let mut start = 0;
    for p in points {
        let piece = &bytes[start..p];
        if shared {
            d.feed_bytes(bytes::Bytes::copy_from_slice(piece), &mut out);
        } else {
            d.feed(piece, &mut out);
        }
        start = p;
    }
    (out, d.pending(), d.ignored_bytes())
}

fn decode_chunked(
    bytes: &[u8],
    cuts: &[usize],
    config: DecoderConfig,
) -> (Vec<Decoded>, Pending, u64) {
    decode_split(bytes, cuts, config, false)
}

fn arb_header() -> impl Strategy<Value = (FrameHeader, Vec<u8>)> {
    (
        any::<bool>(),
        any::<[bool; 3]>(),
        0u8..16,
        proptest::option::of(any::<[u8; 4]>()),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..130),
            proptest::collection::vec(any::<u8>(), 120..300),
            proptest::collection::vec(any::<u8>(), 65530..65540),
        ],
    )
        .prop_map(|(fin, rsv, op, key, payload)| {
            let mut h = FrameHeader::new(OpCode::from(op), payload.len() as u64, key);
            h.fin = fin;
            h.rsv = rsv;
            (h, payload)
        })
}

/// A byte stream that is mostly frames (valid or not), with some noise.
fn arb_stream() -> impl Strategy<Value = Vec<u8>> {
    let frame = (
        any::<bool>(),
        0u8..16,
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..200),
        any::<u8>(),
    )
        .prop_map(|(fin, op, masked, payload, b0noise)| {
            let key = masked.then_some([0x11, 0x22, 0x33, 0x44]);
            let mut h = FrameHeader::new(OpCode::from(op), payload.len() as u64, key);
            h.fin = fin;
            let mut out = Vec::new();
            encode_frame(h, &payload, &mut out);
            // Sometimes flip RSV bits.
            if b0noise & 0x0F == 0 {
                out[0] |= b0noise & 0x70;
            }
            out
        });
    let piece = prop_oneof![
        4 => frame,
        1 => proptest::collection::vec(any::<u8>(), 0..20),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_then_decode_round_trips((header, payload) in arb_header()) {
        let mut wire = Vec::new();
        encode_frame(header, &payload, &mut wire);
        let mut d = Decoder::new(DecoderConfig::default());
        let mut out = Vec::new();
        d.feed(&wire, &mut out);
        let frame: &Frame = match out.first() {
            Some(Decoded::Frame(f)) => f,
            other => return Err(TestCaseError::fail(format!("no frame: {other:?}"))),
        };
        prop_assert_eq!(frame.header, header);
        prop_assert_eq!(&frame.payload[..], &payload[..]);
        prop_assert_eq!(frame.wire_bytes(), wire);
        prop_assert_eq!(d.pending(), Pending::Nothing);
    }

    #[test]
    fn any_chunking_gives_the_same_frames_and_violations(
        stream in arb_stream(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        sender in prop_oneof![Just(None), Just(Some(Role::Client)), Just(Some(Role::Server))],
    ) {
        let config = DecoderConfig { sender, limits: Limits { max_frame_size: 150, max_message_size: 300 } };
        let whole = decode_chunked(&stream, &[], config);
        let chunked = decode_chunked(&stream, &cuts, config);
        prop_assert_eq!(&whole, &chunked);
        // One byte at a time too.
        let every: Vec<usize> = (0..stream.len()).collect();
        let bytewise = decode_chunked(&stream, &every, config);
        prop_assert_eq!(&whole, &bytewise);
        // The zero-copy entry point gives the same, in any chunking.
        let shared = decode_split(&stream, &cuts, config, true);
        prop_assert_eq!(&whole, &shared);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_account_for_every_byte(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let config = DecoderConfig { sender: Some(Role::Client), limits: Limits { max_frame_size: 512, max_message_size: 1024 } };
        let (out, pending, ignored) = decode_chunked(&bytes, &cuts, config);
        // Every byte is either in a decoded frame, pending, or counted as ignored after a stop.
        let mut decoded = 0u64;
        for d in &out {
            if let Decoded::Frame(f) = d {
                prop_assert!(f.payload.len() as u64 <= 512);
                decoded += f.header_bytes.len() as u64 + f.payload.len() as u64;
                for v in &f.violations {
                    prop_assert!(v.byte_range.start <= v.byte_range.end);
                    prop_assert!(v.byte_range.end <= bytes.len() as u64);
                }
            }
        }
        let pending_bytes = match pending {
            Pending::Nothing => 0,
            Pending::PartialHeader { have } => have as u64,
            Pending::PartialPayload { have, .. } => {
                have + FrameHeader::parse(&bytes[decoded as usize..]).map_or(0, |(_, n)| n as u64)
            }
        };
        prop_assert_eq!(decoded + pending_bytes + ignored, bytes.len() as u64);
    }
}

#[test]
fn fast_mask_equals_reference_for_every_length_and_offset() {
    let key = [0x9c, 0x17, 0xe4, 0x5a];
    let data: Vec<u8> = (0..1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for len in 0..=1024 {
        for offset in 0..=7 {
            let mut fast = data[..len].to_vec();
            let mut slow = data[..len].to_vec();
            apply_mask(&mut fast, key, offset);
            apply_mask_reference(&mut slow, key, offset);
            assert_eq!(fast, slow, "len {len} offset {offset}");
        }
    }
}

proptest! {
    /// `masks_to` says yes exactly for the masked bytes: the payload masked with its key (the
    /// reference mask), and no when any one byte differs or the lengths do.
    #[test]
    fn masks_to_recognises_exactly_the_masked_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..700),
        key in any::<[u8; 4]>(),
        flip in any::<proptest::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut wire = data.clone();
        apply_mask_reference(&mut wire, key, 0);
        prop_assert!(masks_to(&data, key, &wire));
        if !wire.is_empty() {
            let i = flip.index(wire.len());
            wire[i] ^= 1 << bit;
            prop_assert!(!masks_to(&data, key, &wire));
            wire[i] ^= 1 << bit;
            prop_assert!(!masks_to(&data, key, &wire[1..]));
        }
    }

    /// The piecewise copy (with and without unmasking, into a Vec and a BytesMut already holding
    /// bytes) gives what a plain copy and the byte-by-byte mask give, across piece boundaries.
    #[test]
    fn piecewise_copy_equals_plain_copy_and_reference_mask(
        prefix in proptest::collection::vec(any::<u8>(), 0..9),
        data in proptest::collection::vec(any::<u8>(), 0..9000),
        key in proptest::option::of(any::<[u8; 4]>()),
        offset in 0usize..8,
    ) {
        let mut want = data.clone();
        if let Some(key) = key {
            apply_mask_reference(&mut want, key, offset);
        }
        let mut v = prefix.clone();
        extend_masked(&mut v, &data, key, offset);
        prop_assert_eq!(&v[..prefix.len()], &prefix[..]);
        prop_assert_eq!(&v[prefix.len()..], &want[..]);
        let mut b = bytes::BytesMut::from(&prefix[..]);
        extend_masked(&mut b, &data, key, offset);
        prop_assert_eq!(&b[prefix.len()..], &want[..]);
        let mut c = prefix.clone();
        extend_copy(&mut c, &data);
        prop_assert_eq!(&c[prefix.len()..], &data[..]);
    }
}

#[test]
fn mask_is_its_own_inverse_and_pieces_compose() {
    let key = [1, 2, 3, 4];
    let original: Vec<u8> = (0..100u8).collect();
    let mut whole = original.clone();
    apply_mask(&mut whole, key, 0);
    // Masking in two pieces with the right offset gives the same bytes.
    let mut pieces = original.clone();
    let (a, b) = pieces.split_at_mut(37);
    apply_mask(a, key, 0);
    apply_mask(b, key, 37);
    assert_eq!(whole, pieces);
    apply_mask(&mut whole, key, 0);
    assert_eq!(whole, original);
}

fn text_fragments(payload: &[u8], split: usize) -> Vec<u8> {
    let key = Some([0xA1, 0xB2, 0xC3, 0xD4]);
    let mut first = FrameHeader::new(OpCode::Text, 0, key);
    first.fin = false;
    let last = FrameHeader::new(OpCode::Continuation, 0, key);
    let mut wire = Vec::new();
    encode_frame(first, &payload[..split], &mut wire);
    encode_frame(last, &payload[split..], &mut wire);
    wire
}

fn utf8_violation_frames(wire: &[u8]) -> (Vec<usize>, usize) {
    let mut d = Decoder::new(DecoderConfig {
        sender: Some(Role::Client),
        ..Default::default()
    });
    let mut out = Vec::new();
    d.feed(wire, &mut out);
    let mut bad = Vec::new();
    let mut messages = 0;
    let mut i = 0;
    for x in &out {
        match x {
            Decoded::Frame(f) => {
                if f.violations.iter().any(|v| v.rule == Rule::InvalidUtf8) {
                    bad.push(i);
                }
                i += 1;
            }
            Decoded::Message(_) => messages += 1,
        }
    }
    (bad, messages)
}

#[test]
fn invalid_utf8_is_detected_at_every_split_offset() {
    // Autobahn 6.3.1's payload: "κόσμε" then an encoded surrogate (ED A0 80), then "edited".
    let mut bad = "κόσμε".as_bytes().to_vec();
    let first_bad = bad.len() + 1; // ED is a valid lead; A0 is where it becomes impossible.
    bad.extend_from_slice(&[0xED, 0xA0, 0x80]);
    bad.extend_from_slice(b"edited");
    for split in 0..=bad.len() {
        let (frames, messages) = utf8_violation_frames(&text_fragments(&bad, split));
        assert_eq!(messages, 0, "split {split}");
        // Fail fast: the frame that holds the first impossible byte carries the violation.
        let expected = if split > first_bad { 0 } else { 1 };
        assert_eq!(frames, vec![expected], "split {split}");
    }
    // Valid text split inside every multi-byte character is accepted.
    let good = "héllo, 世界 🦀!".as_bytes();
    for split in 0..=good.len() {
        let (frames, messages) = utf8_violation_frames(&text_fragments(good, split));
        assert!(frames.is_empty(), "split {split}");
        assert_eq!(messages, 1, "split {split}");
    }
}

/// `payload` as a text message in one fragment per piece, cut at `cuts` (sorted, in range).
fn text_pieces(payload: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<(u64, u64)>) {
    let key = Some([0xA1, 0xB2, 0xC3, 0xD4]);
    let mut wire = Vec::new();
    // Stream offsets of each fragment's payload (start, end).
    let mut payloads = Vec::new();
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(payload.len());
    let n = bounds.len() - 1;
    for (i, w) in bounds.windows(2).enumerate() {
        let opcode = if i == 0 {
            OpCode::Text
        } else {
            OpCode::Continuation
        };
        let mut h = FrameHeader::new(opcode, 0, key);
        h.fin = i + 1 == n;
        let piece = &payload[w[0]..w[1]];
        encode_frame(h, piece, &mut wire);
        let end = wire.len() as u64;
        payloads.push((end - piece.len() as u64, end));
    }
    (wire, payloads)
}

/// Valid text with one byte that cannot be there inserted somewhere, or any bytes at all.
fn arb_maybe_utf8() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (".{0,12}", any::<prop::sample::Index>(), 0x80u8..=0xFF).prop_map(|(s, at, bad)| {
            let mut v = s.into_bytes();
            let i = at.index(v.len() + 1);
            v.insert(i, bad);
            v
        }),
        prop::collection::vec(any::<u8>(), 0..24),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// §8.1 with fragments: the UTF-8 error of a text message is where `std::str::from_utf8`
    /// puts it in the whole message (start and length of the bad sequence), for every way of
    /// cutting the message into fragments; the violation sits on the frame where the message
    /// stops being UTF-8 and its byte range stays inside that frame's payload.
    #[test]
    fn utf8_errors_are_where_the_reference_puts_them_at_every_split(
        bytes in arb_maybe_utf8(),
    ) {
        use wsscope::protocol::utf8::{Utf8Error, Utf8Validator};
        use wsscope::protocol::Detail;
        let reference = std::str::from_utf8(&bytes).err().map(|e| Utf8Error {
            valid_up_to: e.valid_up_to() as u64,
            error_len: e.error_len(),
        });
        let n = bytes.len();
        // Every split into two and three pieces.
        let mut splits: Vec<Vec<usize>> = vec![vec![]];
        for i in 0..=n {
            splits.push(vec![i]);
            for j in i..=n {
                splits.push(vec![i, j]);
            }
        }
        for cuts in &splits {
            let mut v = Utf8Validator::new();
            let mut start = 0;
            let mut got = Ok(());
            for &end in cuts.iter().chain(std::iter::once(&n)) {
                got = v.push(&bytes[start..end]);
                if got.is_err() {
                    break;
                }
                start = end;
            }
            let got = got.and_then(|()| v.finish());
            prop_assert_eq!(got.err(), reference, "cuts {:?}", cuts);

            let (wire, payloads) = text_pieces(&bytes, cuts);
            let mut d = Decoder::new(DecoderConfig {
                sender: Some(Role::Client),
                ..Default::default()
            });
            let mut out = Vec::new();
            d.feed(&wire, &mut out);
            let frames: Vec<&Frame> = out
                .iter()
                .filter_map(|x| match x {
                    Decoded::Frame(f) => Some(f),
                    Decoded::Message(_) => None,
                })
                .collect();
            let found: Vec<_> = frames
                .iter()
                .enumerate()
                .flat_map(|(i, f)| {
                    f.violations
                        .iter()
                        .filter(|v| v.rule == Rule::InvalidUtf8)
                        .map(move |v| (i, v))
                })
                .collect();
            let messages = out.iter().filter(|x| matches!(x, Decoded::Message(_))).count();
            match reference {
                None => {
                    prop_assert!(found.is_empty(), "cuts {:?}: {:?}", cuts, found);
                    prop_assert_eq!(messages, 1);
                }
                Some(r) => {
                    prop_assert_eq!(messages, 0);
                    prop_assert_eq!(found.len(), 1, "cuts {:?}", cuts);
                    let (i, v) = found[0];
                    let Detail::Utf8At { index, in_message } = v.detail else {
                        panic!("detail {:?}", v.detail);
                    };
                    prop_assert_eq!(in_message, r.valid_up_to, "cuts {:?}", cuts);
                    let (p_start, p_end) = payloads[i];
                    let range = v.byte_range.clone();
                    prop_assert!(
                        p_start <= range.start && range.start <= range.end && range.end <= p_end,
                        "cuts {:?}: {:?} outside payload {}..{}", cuts, range, p_start, p_end
                    );
                    prop_assert_eq!(range.start, p_start + index as u64);
                    // The frame's payload starts at this message byte.
                    let base: u64 = payloads[..i].iter().map(|(s, e)| e - s).sum();
                    prop_assert_eq!(index as u64, r.valid_up_to.saturating_sub(base));
                    // In message bytes, the range lies inside the bad sequence.
                    let end_in_message = range.end - p_start + base;
                    if let Some(len) = r.error_len {
                        prop_assert!(end_in_message <= r.valid_up_to + len as u64);
                    }
                }
            }
        }
    }
}
