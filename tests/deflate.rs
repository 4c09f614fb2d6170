//! permessage-deflate (RFC 7692) on the server, over real sockets: python websockets as a
//! compressing client, and scripted frames for the rules (RSV1 where it is not allowed, a
//! deflate bomb). tungstenite 0.30 has no permessage-deflate, so it is not a peer here.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{events_of_writes, REQUEST};
use wsscope::event::{Direction, Event, EventKind};
use wsscope::protocol::deflate::{DeflateParams, Deflater};
use wsscope::protocol::{encode_frame, CloseCode, Frame, FrameHeader, OpCode, Role, Rule};
use wsscope::server::{self, ServerConfig};

/// python3 with websockets, or `None` (after saying so); under CI a missing one fails.
fn python() -> Option<String> {
    let py = std::env::var("WSSCOPE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import websockets.sync.client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI needs python3 with websockets (set WSSCOPE_PYTHON)"
    );
    eprintln!("note: python websockets not found; skipped");
    None
}

/// A python websockets client (it offers permessage-deflate by default) that sends "Hello"
/// twice, 3000 bytes of repeated text and 10000 binary bytes, and checks every echo.
const CLIENT: &str = r#"
import sys
from websockets.sync.client import connect
with connect(sys.argv[1]) as ws:
    print("extensions:", ws.response.headers.get("Sec-WebSocket-Extensions"))
    for m in ["Hello", "Hello", "abc" * 1000, b"\x00\x01" * 5000]:
        ws.send(m)
        r = ws.recv()
        assert r == m, (r[:20], m[:20])
    print("echoes ok")
"#;

/// Runs [`CLIENT`] against a server with `deflate` on or off; returns what it printed and every
/// event of its connection.
fn python_session(py: &str, deflate: bool) -> (String, Vec<Event>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let handle = server::start(
        ServerConfig {
            port: 0,
            deflate,
            ..ServerConfig::default()
        },
        tx,
        Arc::new(|| {}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("ws://127.0.0.1:{}/", handle.local_addr().port());
    let out = Command::new(py)
        .args(["-c", CLIENT, &url])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(batch) = rx.recv_timeout(Duration::from_millis(50)) {
            let closed = batch
                .iter()
                .any(|e| matches!(e.kind, EventKind::Closed { .. }));
            events.extend(batch);
            if closed {
                break;
            }
        }
    }
    handle.shutdown(Duration::from_millis(200));
    (stdout, events)
}

fn frames(events: &[Event], dir: Direction) -> Vec<&Frame> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Frame { direction, frame } if *direction == dir => Some(&**frame),
            _ => None,
        })
        .collect()
}

fn messages(events: &[Event], dir: Direction) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Message { direction, message } if *direction == dir => {
                Some(message.payload.to_vec())
            }
            _ => None,
        })
        .collect()
}

fn data_frames(events: &[Event], dir: Direction) -> Vec<&Frame> {
    frames(events, dir)
        .into_iter()
        .filter(|f| matches!(f.header.opcode, OpCode::Text | OpCode::Binary))
        .collect()
}

/// python websockets offers permessage-deflate; wsscope agrees, inflates what it receives,
/// echoes it compressed (the second "Hello" in 5 bytes: the shared window, §7.2.3.2), and the
/// events show the compressed bytes in frames and the inflated ones in messages, both ways.
#[test]
fn python_websockets_negotiates_and_compresses_both_ways() {
    let Some(py) = python() else { return };
    let (out, events) = python_session(&py, true);
    assert!(out.contains("extensions: permessage-deflate"), "{out}");
    assert!(out.contains("echoes ok"), "{out}");
    let want: Vec<Vec<u8>> = vec![
        b"Hello".to_vec(),
        b"Hello".to_vec(),
        b"abc".repeat(1000),
        b"\x00\x01".repeat(5000),
    ];
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        assert_eq!(messages(&events, dir), want, "{dir:?}");
        let data = data_frames(&events, dir);
        assert_eq!(data.len(), 4, "{dir:?}");
        assert!(
            data.iter().all(|f| f.header.rsv[0]),
            "{dir:?}: RSV1 on each"
        );
        // The wire carries far fewer bytes than the messages.
        assert!(data[2].payload.len() < 100, "{}", data[2].payload.len());
        assert!(data[3].payload.len() < 100, "{}", data[3].payload.len());
        for f in frames(&events, dir) {
            assert!(f.violations.is_empty(), "{dir:?}: {:?}", f.violations);
        }
    }
    // Our own compression, byte for byte as RFC 7692 §7.2.3.1 and §7.2.3.2 show it.
    let ours = data_frames(&events, Direction::ServerToClient);
    assert_eq!(
        &ours[0].payload[..],
        [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
    assert_eq!(&ours[1].payload[..], [0xf2, 0x00, 0x11, 0x00, 0x00]);
}

/// With deflate off, the same client gets no extension and every frame goes uncompressed.
#[test]
fn python_websockets_without_deflate() {
    let Some(py) = python() else { return };
    let (out, events) = python_session(&py, false);
    assert!(out.contains("extensions: None"), "{out}");
    assert!(out.contains("echoes ok"), "{out}");
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        assert!(frames(&events, dir).iter().all(|f| !f.header.rsv[0]));
        assert_eq!(messages(&events, dir).len(), 4);
    }
}

/// The request with a permessage-deflate offer.
fn offer_request() -> String {
    REQUEST.replacen(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
        1,
    )
}

/// One masked frame with RSV1 as given.
fn frame_rsv1(opcode: OpCode, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut h = FrameHeader::new(opcode, payload.len() as u64, Some([9, 8, 7, 6]));
    h.rsv[0] = rsv1;
    let mut v = Vec::new();
    encode_frame(h, payload, &mut v);
    v
}

/// The close code of the server's close frame.
fn server_close(events: &[Event]) -> Option<u16> {
    frames(events, Direction::ServerToClient)
        .into_iter()
        .find(|f| f.header.opcode == OpCode::Close)
        .and_then(|f| f.payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])))
}

fn first_violation(events: &[Event]) -> Option<Rule> {
    frames(events, Direction::ClientToServer)
        .iter()
        .find_map(|f| f.violations.first().map(|v| v.rule))
}

/// §6.1 of RFC 7692: with deflate agreed, RSV1 on a control frame is still a violation (1002),
/// after a compressed message was received and echoed.
#[test]
fn rsv1_on_a_ping_fails_even_with_deflate() {
    let hello = frame_rsv1(
        OpCode::Text,
        true,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    );
    let ping = frame_rsv1(OpCode::Ping, true, b"");
    let events = events_of_writes(
        &[offer_request().into_bytes(), hello, ping],
        Duration::from_millis(20),
    );
    assert_eq!(
        messages(&events, Direction::ServerToClient),
        [b"Hello".to_vec()]
    );
    assert_eq!(first_violation(&events), Some(Rule::ReservedBitSet));
    assert_eq!(server_close(&events), Some(1002));
}

/// Without an offer, deflate is not agreed and a compressed frame's RSV1 is a violation.
#[test]
fn rsv1_without_an_agreement_fails() {
    let hello = frame_rsv1(
        OpCode::Text,
        true,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    );
    let events = events_of_writes(&[REQUEST.as_bytes().to_vec(), hello], Duration::ZERO);
    assert_eq!(first_violation(&events), Some(Rule::ReservedBitSet));
    assert_eq!(server_close(&events), Some(1002));
}

/// A deflate bomb (32 MiB of zeros in about 32 KiB) against the 16 MiB message limit: the
/// server stops inflating at the limit and closes with 1009.
#[test]
fn a_deflate_bomb_gets_1009() {
    let mut d = Deflater::new(&DeflateParams::default(), Role::Client);
    let (bomb, compressed) = d.deflate(&vec![0u8; 32 << 20]);
    assert!(compressed && bomb.len() < 64 * 1024, "{}", bomb.len());
    let events = events_of_writes(
        &[
            offer_request().into_bytes(),
            frame_rsv1(OpCode::Binary, true, &bomb),
        ],
        Duration::ZERO,
    );
    assert!(messages(&events, Direction::ClientToServer).is_empty());
    assert_eq!(server_close(&events), Some(CloseCode::TooBig.code()));
}
