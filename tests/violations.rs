//! Every rule the decoder judges: the frame is still reported in full, and the violation names the
//! rule, its RFC section, the byte range and the close code to send.

use wsscope::protocol::{
    close_payload_bytes, encode_frame, CloseCode, Decoded, Decoder, DecoderConfig, Detail, Frame,
    FrameHeader, LenEncoding, Limits, OpCode, Role, Rule,
};

const KEY: [u8; 4] = [1, 2, 3, 4];

fn decode_with(bytes: &[u8], config: DecoderConfig) -> (Vec<Frame>, usize, Decoder) {
    let mut d = Decoder::new(config);
    let mut out = Vec::new();
    d.feed(bytes, &mut out);
    let mut frames = Vec::new();
    let mut messages = 0;
    for x in out {
        match x {
            Decoded::Frame(f) => frames.push(f),
            Decoded::Message(_) => messages += 1,
        }
    }
    (frames, messages, d)
}

/// Decodes frames sent by a client (so they must be masked).
fn from_client(bytes: &[u8]) -> (Vec<Frame>, usize) {
    let (f, m, _) = decode_with(
        bytes,
        DecoderConfig {
            sender: Some(Role::Client),
            ..Default::default()
        },
    );
    (f, m)
}

fn frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut h = FrameHeader::new(opcode, payload.len() as u64, Some(KEY));
    h.fin = fin;
    let mut out = Vec::new();
    encode_frame(h, payload, &mut out);
    out
}

fn rules(f: &Frame) -> Vec<Rule> {
    f.violations.iter().map(|v| v.rule).collect()
}

#[test]
fn rsv_bits_without_extension_section_5_2() {
    for (bit, mask) in [(1, 0x40u8), (2, 0x20), (3, 0x10)] {
        let mut wire = frame(OpCode::Text, true, b"hi");
        wire[0] |= mask;
        let (f, _) = from_client(&wire);
        assert_eq!(rules(&f[0]), vec![Rule::ReservedBitSet]);
        let v = &f[0].violations[0];
        assert_eq!(v.section(), "5.2");
        assert_eq!(v.byte_range, 0..1);
        assert_eq!(v.close_code(), CloseCode::Protocol);
        assert_eq!(v.detail, Detail::Rsv(bit as u8));
        assert!(f[0].header.rsv[bit - 1]);
    }
}

#[test]
fn reserved_opcodes_section_5_2_are_reported_with_their_value() {
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        let wire = frame(OpCode::from(op), true, b"");
        let (f, m) = from_client(&wire);
        assert_eq!(u8::from(f[0].header.opcode), op);
        assert_eq!(rules(&f[0]), vec![Rule::ReservedOpcode], "opcode {op:#x}");
        assert_eq!(f[0].violations[0].close_code().code(), 1002);
        assert_eq!(f[0].violations[0].detail, Detail::Opcode(op));
        assert_eq!(m, 0);
    }
}

#[test]
fn masking_rules_section_5_1() {
    // An unmasked frame from a client.
    let (f, _) = from_client(&[0x81, 0x02, b'h', b'i']);
    assert_eq!(rules(&f[0]), vec![Rule::UnmaskedClientFrame]);
    assert_eq!(f[0].violations[0].section(), "5.1");
    assert_eq!(f[0].violations[0].byte_range, 1..2);
    assert_eq!(&f[0].payload[..], b"hi");
    assert_eq!(f[0].violations[0].detail, Detail::MaskBit(false));
    // A masked frame from a server.
    let (f, _, _) = decode_with(
        &frame(OpCode::Text, true, b"hi"),
        DecoderConfig {
            sender: Some(Role::Server),
            ..Default::default()
        },
    );
    assert_eq!(rules(&f[0]), vec![Rule::MaskedServerFrame]);
    assert_eq!(f[0].violations[0].detail, Detail::MaskBit(true));
    // Unknown sender: no masking rule.
    let (f, _, _) = decode_with(&[0x81, 0x02, b'h', b'i'], DecoderConfig::default());
    assert!(f[0].violations.is_empty());
}

#[test]
fn control_frame_over_125_bytes_section_5_5() {
    let wire = frame(OpCode::Ping, true, &[0u8; 126]);
    let (f, _) = from_client(&wire);
    assert_eq!(rules(&f[0]), vec![Rule::ControlFrameTooLong]);
    assert_eq!(f[0].violations[0].byte_range, 1..4);
    assert_eq!(f[0].violations[0].section(), "5.5");
    // 125 is fine.
    let (f, _) = from_client(&frame(OpCode::Ping, true, &[0u8; 125]));
    assert!(f[0].violations.is_empty());
}

#[test]
fn fragmented_control_frame_section_5_5() {
    let (f, _) = from_client(&frame(OpCode::Pong, false, b"x"));
    assert_eq!(rules(&f[0]), vec![Rule::FragmentedControlFrame]);
    assert_eq!(f[0].violations[0].byte_range, 0..1);
}

#[test]
fn top_bit_of_64_bit_length_section_5_2_stops_decoding() {
    let mut wire = vec![0x82, 0xFF];
    wire.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
    wire.extend_from_slice(&KEY);
    wire.extend_from_slice(b"more bytes");
    let (f, _, d) = decode_with(
        &wire,
        DecoderConfig {
            sender: Some(Role::Client),
            ..Default::default()
        },
    );
    assert_eq!(f.len(), 1);
    let r = rules(&f[0]);
    assert!(r.contains(&Rule::LengthTopBitSet), "{r:?}");
    assert!(r.contains(&Rule::FrameTooBig), "{r:?}");
    assert_eq!(f[0].violations[0].byte_range, 1..10);
    assert!(!f[0].payload_captured);
    assert!(d.is_stopped());
    assert_eq!(d.ignored_bytes(), 10);
}

#[test]
fn non_minimal_length_section_5_2() {
    // 5 bytes announced with the 16-bit form.
    let mut h = FrameHeader::new(OpCode::Binary, 5, Some(KEY));
    h.len_encoding = LenEncoding::Sixteen;
    let mut wire = Vec::new();
    h.encode(&mut wire);
    wire.extend_from_slice(&[0; 5]);
    let (f, m) = from_client(&wire);
    assert_eq!(rules(&f[0]), vec![Rule::NonMinimalLength]);
    assert_eq!(f[0].violations[0].byte_range, 1..4);
    assert_eq!(f[0].header.payload_len, 5);
    assert_eq!(
        m, 1,
        "the message is still reassembled: decoding is separate from judging"
    );
    // 300 bytes with the 64-bit form.
    let mut h = FrameHeader::new(OpCode::Binary, 300, Some(KEY));
    h.len_encoding = LenEncoding::SixtyFour;
    let mut wire = Vec::new();
    h.encode(&mut wire);
    wire.extend_from_slice(&[0; 300]);
    let (f, _) = from_client(&wire);
    assert_eq!(rules(&f[0]), vec![Rule::NonMinimalLength]);
    assert_eq!(f[0].violations[0].byte_range, 1..10);
}

#[test]
fn continuation_without_message_section_5_4() {
    let (f, m) = from_client(&frame(OpCode::Continuation, true, b"x"));
    assert_eq!(rules(&f[0]), vec![Rule::UnexpectedContinuation]);
    assert_eq!(f[0].violations[0].section(), "5.4");
    assert_eq!(m, 0);
}

#[test]
fn new_data_frame_inside_fragmented_message_section_5_4() {
    let mut wire = frame(OpCode::Text, false, b"Hel");
    let second_at = wire.len() as u64;
    wire.extend(frame(OpCode::Binary, true, b"x"));
    let (f, _) = from_client(&wire);
    assert!(f[0].violations.is_empty());
    assert_eq!(rules(&f[1]), vec![Rule::ExpectedContinuation]);
    assert_eq!(f[1].violations[0].byte_range, second_at..second_at + 1);
}

#[test]
fn control_frames_may_come_between_fragments_section_5_4() {
    let mut wire = frame(OpCode::Text, false, b"Hel");
    wire.extend(frame(OpCode::Ping, true, b"p"));
    wire.extend(frame(OpCode::Continuation, true, b"lo"));
    let (f, m) = from_client(&wire);
    assert!(f.iter().all(|f| f.violations.is_empty()));
    assert_eq!(m, 1);
}

#[test]
fn invalid_utf8_fails_fast_section_8_1() {
    // The first fragment already holds an impossible sequence: it is flagged there, before the
    // message is complete.
    let mut wire = frame(OpCode::Text, false, &[b'a', 0xC0, 0x80]);
    wire.extend(frame(OpCode::Continuation, true, b"ok"));
    let (f, m) = from_client(&wire);
    assert_eq!(rules(&f[0]), vec![Rule::InvalidUtf8]);
    let v = &f[0].violations[0];
    assert_eq!(v.close_code().code(), 1007);
    // Header is 6 bytes (masked, 7-bit length); the bad byte is payload byte 1.
    assert_eq!(v.byte_range, 7..8);
    assert!(f[1].violations.is_empty());
    assert_eq!(m, 0);
    // A message that ends inside a character.
    let (f, _) = from_client(&frame(OpCode::Text, true, &[0xE2, 0x82]));
    assert_eq!(rules(&f[0]), vec![Rule::InvalidUtf8]);
}

#[test]
fn close_payload_rules_section_5_5_1_and_7_4() {
    // One byte: too short for a code.
    let (f, _) = from_client(&frame(OpCode::Close, true, &[0x03]));
    assert_eq!(rules(&f[0]), vec![Rule::CloseOneBytePayload]);
    // Codes that may not be sent.
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000,
    ] {
        let (f, _) = from_client(&frame(OpCode::Close, true, &close_payload_bytes(code, "")));
        assert_eq!(rules(&f[0]), vec![Rule::InvalidCloseCode], "code {code}");
        assert_eq!(f[0].violations[0].byte_range, 6..8);
    }
    // Codes that may.
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let (f, _) = from_client(&frame(
            OpCode::Close,
            true,
            &close_payload_bytes(code, "bye"),
        ));
        assert!(f[0].violations.is_empty(), "code {code}");
    }
    // A reason that is not UTF-8.
    let mut body = close_payload_bytes(1000, "");
    body.extend_from_slice(&[b'o', b'k', 0xFF]);
    let (f, _) = from_client(&frame(OpCode::Close, true, &body));
    assert_eq!(rules(&f[0]), vec![Rule::InvalidCloseReason]);
    assert_eq!(f[0].violations[0].close_code().code(), 1007);
    assert_eq!(f[0].violations[0].byte_range, 10..11);
    // Empty body is fine.
    let (f, _) = from_client(&frame(OpCode::Close, true, b""));
    assert!(f[0].violations.is_empty());
}

#[test]
fn frames_after_close_section_5_5_1() {
    let mut wire = frame(OpCode::Close, true, &close_payload_bytes(1000, ""));
    let at = wire.len() as u64;
    wire.extend(frame(OpCode::Text, true, b"late"));
    let (f, m) = from_client(&wire);
    assert_eq!(f.len(), 2, "the late frame is still shown");
    assert_eq!(rules(&f[1]), vec![Rule::FrameAfterClose]);
    assert_eq!(f[1].violations[0].byte_range, at..at + 10);
    assert_eq!(&f[1].payload[..], b"late");
    assert_eq!(m, 0);
}

#[test]
fn frame_over_limit_is_1009_and_stops() {
    let config = DecoderConfig {
        sender: Some(Role::Client),
        limits: Limits {
            max_frame_size: 100,
            max_message_size: 1000,
        },
    };
    let (f, _, d) = decode_with(&frame(OpCode::Binary, true, &[0; 101]), config);
    assert_eq!(rules(&f[0]), vec![Rule::FrameTooBig]);
    assert_eq!(f[0].violations[0].close_code().code(), 1009);
    assert!(d.is_stopped());
    // Exactly at the limit is fine.
    let (f, m, _) = decode_with(&frame(OpCode::Binary, true, &[0; 100]), config);
    assert!(f[0].violations.is_empty());
    assert_eq!(m, 1);
}

#[test]
fn message_over_limit_is_1009() {
    let config = DecoderConfig {
        sender: Some(Role::Client),
        limits: Limits {
            max_frame_size: 100,
            max_message_size: 150,
        },
    };
    let mut wire = frame(OpCode::Binary, false, &[0; 100]);
    wire.extend(frame(OpCode::Continuation, true, &[0; 51]));
    let (f, m, _) = decode_with(&wire, config);
    assert!(f[0].violations.is_empty());
    assert_eq!(rules(&f[1]), vec![Rule::MessageTooBig]);
    assert_eq!(f[1].violations[0].close_code(), CloseCode::TooBig);
    assert_eq!(m, 0);
}

#[test]
fn violations_display_section_range_and_code() {
    let (f, _) = from_client(&[0x81, 0x02, b'h', b'i']);
    let text = f[0].violations[0].to_string();
    assert!(text.contains("§5.1"), "{text}");
    assert!(text.contains("bytes 1..2"), "{text}");
    assert!(text.contains("close 1002"), "{text}");
}
