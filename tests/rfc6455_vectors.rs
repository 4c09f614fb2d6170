//! RFC 6455 test vectors byte for byte: the §1.3 accept example, every §5.7 frame example, the
//! length-encoding boundaries and every close-code class.

use wsscope::protocol::{
    encode_frame, AcceptDerivation, CloseCode, Decoded, Decoder, DecoderConfig, Fragment, Frame,
    FrameHeader, KeyCheck, LenEncoding, Message, OpCode, Role,
};

fn decode(bytes: &[u8], sender: Role) -> Vec<Decoded> {
    let mut d = Decoder::new(DecoderConfig {
        sender: Some(sender),
        ..Default::default()
    });
    let mut out = Vec::new();
    d.feed(bytes, &mut out);
    out
}

fn frames(out: &[Decoded]) -> Vec<&Frame> {
    out.iter()
        .filter_map(|d| match d {
            Decoded::Frame(f) => Some(f),
            Decoded::Message(_) => None,
        })
        .collect()
}

fn messages(out: &[Decoded]) -> Vec<&Message> {
    out.iter()
        .filter_map(|d| match d {
            Decoded::Message(m) => Some(m),
            Decoded::Frame(_) => None,
        })
        .collect()
}

fn encode(opcode: OpCode, fin: bool, key: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut h = FrameHeader::new(opcode, payload.len() as u64, key);
    h.fin = fin;
    let mut out = Vec::new();
    encode_frame(h, payload, &mut out);
    out
}

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

#[test]
fn section_1_3_accept_example() {
    let d = AcceptDerivation::new("dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(
        d.concatenated,
        "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    );
    assert_eq!(d.sha1_hex(), "b37a4f2cc0624f1690f64606cf385945b2bec4ea");
    assert_eq!(d.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(d.key_check(), KeyCheck::Valid);
    // The two learner mistakes give something else, and the hex one is 56 characters long.
    assert_ne!(d.mistake_base64_of_hex(), d.accept);
    assert_eq!(d.mistake_base64_of_hex().len(), 56);
    assert!(d
        .mistake_decode_as_text()
        .starts_with("\\xb3zO,\\xc0bO\\x16"));
}

#[test]
fn key_check_rejects_wrong_lengths_and_non_base64() {
    assert_eq!(KeyCheck::of("AAAAAAAAAAAAAAAAAAAAAA=="), KeyCheck::Valid);
    assert_eq!(
        KeyCheck::of("AAAAAAAAAAAAAAAAAAAA"),
        KeyCheck::WrongLength(15)
    );
    assert!(matches!(
        KeyCheck::of("not base64!"),
        KeyCheck::NotBase64(_)
    ));
    // The derivation still works on any string: the server hashes the text as sent.
    assert_eq!(AcceptDerivation::new("  x  ").key, "x");
}

#[test]
fn section_5_7_single_frame_unmasked_text() {
    let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(encode(OpCode::Text, true, None, b"Hello"), wire);
    let out = decode(&wire, Role::Server);
    let f = frames(&out);
    assert_eq!(f.len(), 1);
    assert!(f[0].header.fin);
    assert_eq!(f[0].header.opcode, OpCode::Text);
    assert!(!f[0].header.masked);
    assert_eq!(&f[0].payload[..], b"Hello");
    assert!(f[0].violations.is_empty());
    assert_eq!(&messages(&out)[0].payload[..], b"Hello");
}

#[test]
fn section_5_7_single_frame_masked_text() {
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(encode(OpCode::Text, true, Some(KEY), b"Hello"), wire);
    let out = decode(&wire, Role::Client);
    let f = frames(&out)[0];
    assert!(f.header.masked);
    assert_eq!(f.header.mask_key, Some(KEY));
    assert_eq!(f.header.payload_len, 5);
    assert_eq!(f.header.len_encoding, LenEncoding::Seven);
    assert_eq!(&f.payload[..], b"Hello");
    assert_eq!(f.wire_bytes(), wire);
    let spans = f.spans();
    assert_eq!(spans.mask_key, Some(2..6));
    assert_eq!(spans.payload, 6..11);
    assert!(f.violations.is_empty());
}

#[test]
fn section_5_7_fragmented_unmasked_text() {
    let first = [0x01, 0x03, 0x48, 0x65, 0x6c];
    let last = [0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(encode(OpCode::Text, false, None, b"Hel"), first);
    assert_eq!(encode(OpCode::Continuation, true, None, b"lo"), last);
    let wire = [&first[..], &last[..]].concat();
    let out = decode(&wire, Role::Server);
    let f = frames(&out);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].fragment, Fragment::First);
    assert_eq!(f[1].fragment, Fragment::Last);
    assert_eq!(f[1].offset, 5);
    let m = messages(&out);
    assert_eq!(m.len(), 1);
    assert_eq!(&m[0].payload[..], b"Hello");
    assert_eq!(m[0].frame_count, 2);
    assert_eq!(m[0].byte_range, 0..9);
}

#[test]
fn section_5_7_ping_and_pong() {
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(encode(OpCode::Ping, true, None, b"Hello"), ping);
    let out = decode(&ping, Role::Server);
    let f = frames(&out)[0];
    assert_eq!(f.header.opcode, OpCode::Ping);
    assert_eq!(f.fragment, Fragment::Control);
    assert!(messages(&out).is_empty());

    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(encode(OpCode::Pong, true, Some(KEY), b"Hello"), pong);
    let out = decode(&pong, Role::Client);
    let f = frames(&out)[0];
    assert_eq!(f.header.opcode, OpCode::Pong);
    assert_eq!(&f.payload[..], b"Hello");
    assert!(f.violations.is_empty());
}

#[test]
fn section_5_7_256_bytes_binary_uses_16_bit_length() {
    let payload: Vec<u8> = (0..256u32).map(|i| i as u8).collect();
    let wire = encode(OpCode::Binary, true, None, &payload);
    assert_eq!(wire[..4], [0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(wire.len(), 4 + 256);
    let out = decode(&wire, Role::Server);
    let f = frames(&out)[0];
    assert_eq!(f.header.len_encoding, LenEncoding::Sixteen);
    assert_eq!(f.header.payload_len, 256);
    assert_eq!(f.spans().ext_len, Some(2..4));
    assert_eq!(&f.payload[..], &payload[..]);
}

#[test]
fn section_5_7_64k_binary_uses_64_bit_length() {
    let payload = vec![0xAB; 65536];
    let wire = encode(OpCode::Binary, true, None, &payload);
    assert_eq!(
        wire[..10],
        [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
    );
    let out = decode(&wire, Role::Server);
    let f = frames(&out)[0];
    assert_eq!(f.header.len_encoding, LenEncoding::SixtyFour);
    assert_eq!(f.header.payload_len, 65536);
    assert_eq!(f.spans().ext_len, Some(2..10));
    assert_eq!(messages(&out)[0].payload.len(), 65536);
}

#[test]
fn length_boundaries_pick_the_minimal_encoding() {
    for (len, encoding, header_len) in [
        (0u64, LenEncoding::Seven, 2usize),
        (125, LenEncoding::Seven, 2),
        (126, LenEncoding::Sixteen, 4),
        (65535, LenEncoding::Sixteen, 4),
        (65536, LenEncoding::SixtyFour, 10),
    ] {
        for key in [None, Some(KEY)] {
            let payload = vec![b'x'; len as usize];
            let wire = encode(OpCode::Binary, true, key, &payload);
            let extra = if key.is_some() { 4 } else { 0 };
            assert_eq!(wire.len(), header_len + extra + len as usize, "len {len}");
            let sender = if key.is_some() {
                Role::Client
            } else {
                Role::Server
            };
            let out = decode(&wire, sender);
            let f = frames(&out)[0];
            assert_eq!(f.header.len_encoding, encoding, "len {len}");
            assert_eq!(f.header.payload_len, len);
            assert_eq!(f.header_bytes.len(), header_len + extra);
            assert!(f.violations.is_empty(), "len {len}: {:?}", f.violations);
            assert_eq!(&f.payload[..], &payload[..]);
        }
    }
}

#[test]
fn every_close_code_class() {
    for code in 0..=u16::MAX {
        let c = CloseCode::from(code);
        assert_eq!(c.code(), code, "round trip of {code}");
        let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
        assert_eq!(c.is_sendable(), sendable, "code {code}: {c:?}");
    }
    assert_eq!(CloseCode::from(1000), CloseCode::Normal);
    assert_eq!(CloseCode::from(1004), CloseCode::Reserved(1004));
    assert_eq!(CloseCode::from(1005), CloseCode::NoStatus);
    assert_eq!(CloseCode::from(1006), CloseCode::Abnormal);
    assert_eq!(CloseCode::from(1015), CloseCode::TlsHandshake);
    assert_eq!(CloseCode::from(2999), CloseCode::Reserved(2999));
    assert_eq!(CloseCode::from(3000), CloseCode::Library(3000));
    assert_eq!(CloseCode::from(4999), CloseCode::Private(4999));
    assert_eq!(CloseCode::from(999), CloseCode::Invalid(999));
    assert_eq!(CloseCode::from(5000), CloseCode::Invalid(5000));
}

#[test]
fn opcode_conversion_keeps_reserved_values() {
    for v in 0u8..16 {
        let op = OpCode::from(v);
        assert_eq!(u8::from(op), v);
        assert_eq!(op.is_control(), v >= 8);
        assert_eq!(op.is_reserved(), matches!(v, 3..=7 | 0xB..=0xF));
    }
    // Only the low nibble is the opcode.
    assert_eq!(OpCode::from(0x81), OpCode::Text);
}
