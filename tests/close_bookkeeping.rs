//! How a connection ended is decided in the sans-IO `Connection`, which keeps `close_sent` and
//! `close_rcvd` as python-websockets does. The summary names the close that started the closing
//! handshake (the first close frame either way) and who sent it, 1005 for a close frame without a
//! code, 1006 when no close frame went either way (§7.1.5), and clean only when both close frames
//! were exchanged (§7.1.1). The same answers whether the frames come through
//! the connection's own decoder or, as in the server, from a capture tap that decoded them.

use wsscope::protocol::connection::CloseSummary;
use wsscope::protocol::{
    close_payload_bytes, encode_frame, CloseCode, Connection, Decoded, Decoder, DecoderConfig,
    FrameHeader, OpCode, Role,
};

fn frame_from(sender: Role, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let key = (sender == Role::Client).then_some([1, 2, 3, 4]);
    let mut out = Vec::new();
    encode_frame(FrameHeader::new(opcode, 0, key), payload, &mut out);
    out
}

/// Feeds the peer's bytes both ways a connection can take them, and returns each connection.
fn both_ways(role: Role, peer_bytes: &[u8], before: impl Fn(&mut Connection)) -> [Connection; 2] {
    let mut own = Connection::new(role, DecoderConfig::default());
    before(&mut own);
    own.feed_data(peer_bytes);
    while own.next_event().is_some() {}

    let mut tapped = Connection::new(role, DecoderConfig::default());
    before(&mut tapped);
    let mut d = Decoder::new(DecoderConfig {
        sender: Some(role.peer()),
        ..DecoderConfig::default()
    });
    let mut decoded: Vec<Decoded> = Vec::new();
    d.feed(peer_bytes, &mut decoded);
    for x in &decoded {
        tapped.receive_decoded(x);
        while tapped.next_event().is_some() {}
    }
    [own, tapped]
}

fn summary(code: u16, reason: &str, by: Role, clean: bool) -> CloseSummary {
    CloseSummary {
        code: CloseCode::from(code),
        reason: reason.into(),
        by,
        clean,
    }
}

#[test]
fn the_peer_closes_first_and_we_answer_section_5_5_1() {
    let bytes = frame_from(
        Role::Client,
        OpCode::Close,
        &close_payload_bytes(1001, "bye"),
    );
    for c in both_ways(Role::Server, &bytes, |_| {}) {
        assert_eq!(c.close_summary(), summary(1001, "bye", Role::Client, true));
        assert!(c.close_sent().is_some() && c.close_received().is_some());
    }
}

#[test]
fn we_close_first_and_the_peer_answers() {
    let bytes = frame_from(Role::Client, OpCode::Close, &close_payload_bytes(1000, ""));
    let start = |c: &mut Connection| {
        let _ = c.send_close(4000, "done");
    };
    for c in both_ways(Role::Server, &bytes, start) {
        assert_eq!(c.close_summary(), summary(4000, "done", Role::Server, true));
    }
    // The same as a client: the server's close answers ours.
    let bytes = frame_from(Role::Server, OpCode::Close, &close_payload_bytes(4000, ""));
    for c in both_ways(Role::Client, &bytes, start) {
        assert_eq!(c.close_summary(), summary(4000, "done", Role::Client, true));
    }
}

#[test]
fn a_close_frame_without_a_code_is_1005_section_7_1_5() {
    let bytes = frame_from(Role::Client, OpCode::Close, b"");
    for c in both_ways(Role::Server, &bytes, |_| {}) {
        assert_eq!(c.close_summary(), summary(1005, "", Role::Client, true));
    }
}

#[test]
fn no_close_frame_is_1006_and_not_clean_section_7_1_5() {
    let mut c = Connection::new(Role::Server, DecoderConfig::default());
    c.tcp_cut(Role::Client);
    assert_eq!(c.close_summary(), summary(1006, "", Role::Client, false));
    let mut c = Connection::new(Role::Server, DecoderConfig::default());
    c.tcp_cut(Role::Server);
    // The first cut is the one that counts.
    c.tcp_cut(Role::Client);
    assert_eq!(c.close_summary(), summary(1006, "", Role::Server, false));
    // Nobody said anything: the peer went away.
    let c = Connection::new(Role::Client, DecoderConfig::default());
    assert_eq!(c.close_summary().by, Role::Server);
}

#[test]
fn a_violation_fails_the_connection_with_its_code_and_it_is_not_clean() {
    // An unmasked client frame (§5.1): we close with 1002 and do not wait for an answer.
    let bytes = frame_from(Role::Server, OpCode::Text, b"hi");
    for c in both_ways(Role::Server, &bytes, |_| {}) {
        let s = c.close_summary();
        assert_eq!(
            (s.code, s.by, s.clean),
            (CloseCode::from(1002), Role::Server, false)
        );
        assert!(c.should_close_tcp());
    }
}

#[test]
fn a_close_we_sent_that_is_never_answered_is_not_clean() {
    let mut c = Connection::new(Role::Server, DecoderConfig::default());
    let _ = c.send_close(1001, "going away");
    c.tcp_cut(Role::Client);
    assert_eq!(
        c.close_summary(),
        summary(1001, "going away", Role::Server, false)
    );
}
