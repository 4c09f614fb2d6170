//! The sans-IO connection: auto-pong, the close handshake, failing on violations with the RFC's
//! close code, and interoperation with tungstenite as an independent peer over a real socket.

mod common;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use wsscope::protocol::connection::SendError;
use wsscope::protocol::{
    close_payload_bytes, encode_frame, CloseCode, Connection, ConnectionEvent, ConnectionState,
    Decoded, Decoder, DecoderConfig, Frame, FrameHeader, OpCode, Role,
};

const KEY: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];

fn client_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(FrameHeader::new(opcode, 0, Some(KEY)), payload, &mut out);
    out
}

/// Decodes what a connection queued, as its peer would.
fn sent_frames(bytes: &[u8], sender: Role) -> Vec<Frame> {
    let mut d = Decoder::new(DecoderConfig {
        sender: Some(sender),
        ..Default::default()
    });
    let mut out = Vec::new();
    d.feed(bytes, &mut out);
    out.into_iter()
        .filter_map(|x| match x {
            Decoded::Frame(f) => Some(f),
            Decoded::Message(_) => None,
        })
        .collect()
}

fn server() -> Connection {
    Connection::new(Role::Server, DecoderConfig::default())
}

fn feed(c: &mut Connection, bytes: &[u8]) -> Vec<ConnectionEvent> {
    let mut ev = Vec::new();
    c.receive_data(bytes, &mut ev);
    ev
}

#[test]
fn message_is_delivered() {
    let mut c = server();
    let ev = feed(&mut c, &client_frame(OpCode::Text, b"hello"));
    assert!(matches!(&ev[0], ConnectionEvent::Frame(f) if f.header.opcode == OpCode::Text));
    assert!(matches!(&ev[1], ConnectionEvent::Message(m) if &m.payload[..] == b"hello"));
    assert!(!c.has_data_to_send());
}

#[test]
fn auto_pong_answers_with_the_same_payload_section_5_5_2() {
    let mut c = server();
    feed(&mut c, &client_frame(OpCode::Ping, b"are you there"));
    let out = sent_frames(&c.data_to_send(), Role::Server);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].header.opcode, OpCode::Pong);
    assert!(!out[0].header.masked, "a server never masks");
    assert_eq!(&out[0].payload[..], b"are you there");
    assert!(out[0].violations.is_empty());

    c.auto_pong = false;
    feed(&mut c, &client_frame(OpCode::Ping, b"x"));
    assert!(!c.has_data_to_send());
}

#[test]
fn peer_close_is_echoed_and_the_server_closes_tcp_section_5_5_1() {
    let mut c = server();
    let ev = feed(
        &mut c,
        &client_frame(OpCode::Close, &close_payload_bytes(1001, "bye")),
    );
    assert!(ev.contains(&ConnectionEvent::CloseReceived {
        code: Some(CloseCode::Away),
        reason: "bye".into()
    }));
    assert!(ev.contains(&ConnectionEvent::CloseHandshakeDone));
    let out = sent_frames(&c.data_to_send(), Role::Server);
    assert_eq!(out[0].header.opcode, OpCode::Close);
    assert_eq!(&out[0].payload[..2], &1001u16.to_be_bytes());
    assert_eq!(c.state(), ConnectionState::Closed);
    assert!(c.should_close_tcp());
    assert_eq!(c.send_text("late"), Err(SendError::Closed));
}

#[test]
fn empty_close_is_answered_with_an_empty_close() {
    let mut c = server();
    feed(&mut c, &client_frame(OpCode::Close, b""));
    let out = sent_frames(&c.data_to_send(), Role::Server);
    assert_eq!(out[0].header.opcode, OpCode::Close);
    assert!(out[0].payload.is_empty());
}

#[test]
fn without_auto_close_the_application_answers() {
    let mut c = server();
    c.auto_close = false;
    feed(
        &mut c,
        &client_frame(OpCode::Close, &close_payload_bytes(1000, "")),
    );
    assert_eq!(c.state(), ConnectionState::CloseReceived);
    assert!(!c.has_data_to_send());
    assert!(!c.should_close_tcp());
    c.send_close(1000, "ok").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.state(), ConnectionState::Closed);
    assert!(c.should_close_tcp());
}

#[test]
fn server_initiated_close_waits_for_the_peer() {
    let mut c = server();
    c.send_close(1000, "done").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.state(), ConnectionState::CloseSent);
    assert!(!c.should_close_tcp());
    let ev = feed(
        &mut c,
        &client_frame(OpCode::Close, &close_payload_bytes(1000, "")),
    );
    assert!(ev.contains(&ConnectionEvent::CloseHandshakeDone));
    assert_eq!(c.state(), ConnectionState::Closed);
    assert!(c.should_close_tcp());
}

#[test]
fn violations_fail_the_connection_with_their_close_code() {
    for (wire, code) in [
        (vec![0x81, 0x02, b'h', b'i'], 1002u16), // unmasked client frame
        (client_frame(OpCode::from(3), b""), 1002), // reserved opcode
        (client_frame(OpCode::Text, &[0xFF, 0xFE]), 1007), // invalid UTF-8
        (client_frame(OpCode::Close, &[0x03]), 1002), // 1-byte close body
        (
            client_frame(OpCode::Close, &close_payload_bytes(1005, "")),
            1002,
        ),
    ] {
        let mut c = server();
        let ev = feed(&mut c, &wire);
        assert!(
            ev.iter()
                .any(|e| matches!(e, ConnectionEvent::Failed(v) if v.close_code().code() == code)),
            "{wire:02x?}: {ev:?}"
        );
        assert!(!ev.iter().any(|e| matches!(e, ConnectionEvent::Message(_))));
        let out = sent_frames(&c.data_to_send(), Role::Server);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].header.opcode, OpCode::Close);
        assert_eq!(&out[0].payload[..2], &code.to_be_bytes(), "{wire:02x?}");
        assert!(out[0].payload.len() <= 125);
        assert!(c.should_close_tcp());
        // Later frames are still reported (nothing is hidden) but cause no more output.
        let ev = feed(&mut c, &client_frame(OpCode::Ping, b"p"));
        assert!(matches!(ev.as_slice(), [ConnectionEvent::Frame(_)]));
        assert!(!c.has_data_to_send());
    }
}

#[test]
fn client_role_masks_with_fresh_keys() {
    let mut c = Connection::new(Role::Client, DecoderConfig::default());
    c.send_text("one").unwrap_or_else(|e| panic!("{e}"));
    c.send_text("two").unwrap_or_else(|e| panic!("{e}"));
    let out = sent_frames(&c.data_to_send(), Role::Client);
    assert_eq!(out.len(), 2);
    assert!(out
        .iter()
        .all(|f| f.header.masked && f.violations.is_empty()));
    assert_eq!(&out[0].payload[..], b"one");
    assert_ne!(out[0].header.mask_key, out[1].header.mask_key);
}

#[test]
fn send_limits() {
    let mut c = server();
    assert_eq!(c.send_ping(&[0; 126]), Err(SendError::ControlTooLong(126)));
    assert_eq!(
        c.send_close(1000, &"x".repeat(124)),
        Err(SendError::ReasonTooLong(124))
    );
    assert!(c.send_ping(&[0; 125]).is_ok());
}

/// tungstenite (an independent implementation) as the client, over a loopback TCP socket, with
/// our sans-IO connection driven by a plain read/write loop as the server, echoing messages.
#[test]
fn interoperates_with_tungstenite_over_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let server = std::thread::spawn(move || -> Vec<ConnectionEvent> {
        let (mut sock, _) = listener.accept().unwrap_or_else(|e| panic!("{e}"));
        let mut c = server();
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = sock.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut ev = Vec::new();
            c.receive_data(&buf[..n], &mut ev);
            for e in &ev {
                if let ConnectionEvent::Message(m) = e {
                    let r = if m.opcode == OpCode::Text {
                        c.send_text(std::str::from_utf8(&m.payload).unwrap_or_default())
                    } else {
                        c.send_binary(&m.payload)
                    };
                    r.unwrap_or_else(|e| panic!("{e}"));
                }
            }
            all.extend(ev);
            sock.write_all(&c.data_to_send())
                .unwrap_or_else(|e| panic!("{e}"));
            if c.should_close_tcp() {
                break;
            }
        }
        all
    });

    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    let mut ws =
        tungstenite::WebSocket::from_raw_socket(stream, tungstenite::protocol::Role::Client, None);
    use tungstenite::Message as M;
    ws.send(M::text("Hello")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ws.read().unwrap_or_else(|e| panic!("{e}")),
        M::text("Hello")
    );
    let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
    ws.send(M::binary(big.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ws.read().unwrap_or_else(|e| panic!("{e}")), M::binary(big));
    ws.send(M::Ping(b"pp".to_vec().into()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ws.read().unwrap_or_else(|e| panic!("{e}")),
        M::Pong(b"pp".to_vec().into())
    );
    ws.close(Some(tungstenite::protocol::CloseFrame {
        code: tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "done".into(),
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    // Read until tungstenite reports the close handshake complete.
    common::read_until_closed(&mut ws, "unexpected");
    let events = server
        .join()
        .unwrap_or_else(|_| panic!("server thread panicked"));
    let messages = events
        .iter()
        .filter(|e| matches!(e, ConnectionEvent::Message(_)))
        .count();
    assert_eq!(messages, 2);
    assert!(events.contains(&ConnectionEvent::CloseReceived {
        code: Some(CloseCode::Normal),
        reason: "done".into()
    }));
    assert!(events.contains(&ConnectionEvent::CloseHandshakeDone));
}
