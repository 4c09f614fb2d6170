//! What wsscope sends itself is decoded by the tap too. A raw frame from the builder whose
//! length field lies (announces 2^40 bytes) stops the decoding of wsscope's own direction at
//! once, with an event that says so, instead of making the capture hold every later byte of the
//! connection waiting for a payload that never comes. Real server on port 0, tungstenite client.

use std::time::{Duration, Instant};

use wsscope::event::{Command, Direction, ErrorKind, Event, EventKind};
use wsscope::i18n::{error_text, Lang};
use wsscope::protocol::Rule;
use wsscope::server::{ServerConfig, Supervisor};
use wsscope::tap::OWN_FRAME_CAP;

const WAIT: Duration = Duration::from_secs(10);

fn drain_until(
    sup: &mut Supervisor,
    seen: &mut Vec<Event>,
    what: &str,
    done: impl Fn(&[Event]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        sup.drain(Duration::from_millis(20), |b| seen.extend(b));
        if done(seen) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!(
        "{what} did not happen; saw {:#?}",
        seen.iter().map(|e| &e.kind).collect::<Vec<_>>()
    );
}

fn s2c_tcp_bytes(seen: &[Event]) -> usize {
    seen.iter()
        .map(|e| match &e.kind {
            EventKind::Tcp {
                direction: Direction::ServerToClient,
                bytes,
            } => bytes.len(),
            _ => 0,
        })
        .sum()
}

#[test]
fn a_raw_frame_with_a_lying_length_stops_our_decoder_and_says_so() {
    let mut sup = Supervisor::new(None);
    let addr = sup
        .start(ServerConfig {
            port: 0,
            ..ServerConfig::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // The client never reads: nothing it could read after the lie would make sense to it.
    let (_ws, _) = tungstenite::connect(format!("ws://{addr}/")).unwrap_or_else(|e| panic!("{e}"));
    let mut seen = Vec::new();
    drain_until(&mut sup, &mut seen, "the handshake", |s| {
        s.iter().any(|e| matches!(e.kind, EventKind::Handshake(_)))
    });
    let id = seen
        .iter()
        .find(|e| matches!(e.kind, EventKind::Handshake(_)))
        .map_or(0, |e| e.conn);
    let before = s2c_tcp_bytes(&seen);

    // A binary frame announcing 2^40 payload bytes (§5.2 64-bit form), then 3 of them.
    let mut raw = vec![0x82, 0x7f];
    raw.extend_from_slice(&(1u64 << 40).to_be_bytes());
    raw.extend_from_slice(b"abc");
    assert!(sup.command(Command::Raw(id, raw.clone())));
    // Then more, which a decoder waiting for 2^40 bytes would have held on to.
    let chunk = "x".repeat(64 << 10);
    for _ in 0..16 {
        assert!(sup.command(Command::Text(id, chunk.clone())));
    }
    assert!(sup.command(Command::Binary(id, vec![7; 1000])));
    let sent = raw.len() + 16 * (chunk.len() + 4) + (1000 + 4);
    drain_until(&mut sup, &mut seen, "every byte sent, and the error", |s| {
        s2c_tcp_bytes(s) >= before + sent
            && s.iter()
                .any(|e| matches!(e.kind, EventKind::Error(ErrorKind::OwnFrameTooBig { .. })))
    });

    // The lying frame is reported at once, header only, with the limit it broke.
    let frames: Vec<_> = seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Frame {
                direction: Direction::ServerToClient,
                frame,
            } => Some(frame),
            _ => None,
        })
        .collect();
    let last = frames.last().unwrap_or_else(|| panic!("no frame of ours"));
    assert_eq!(frames.len(), 1, "nothing after the lie is decoded");
    assert_eq!(last.header.payload_len, 1 << 40);
    assert!(!last.payload_captured);
    assert!(last.violations.iter().any(|v| v.rule == Rule::FrameTooBig));

    let error = seen.iter().find_map(|e| match &e.kind {
        EventKind::Error(k @ ErrorKind::OwnFrameTooBig { .. }) => Some((e.conn, k.clone())),
        _ => None,
    });
    let Some((conn, kind)) = error else {
        panic!("no error event");
    };
    assert_eq!(conn, id);
    assert_eq!(
        kind,
        ErrorKind::OwnFrameTooBig {
            direction: Direction::ServerToClient,
            offset: 0,
            announced: 1 << 40,
            limit: OWN_FRAME_CAP,
        }
    );
    // Said in both languages, with its numbers.
    let en = error_text(Lang::En, &kind);
    assert!(
        en.contains("1099511627776") && en.contains(&OWN_FRAME_CAP.to_string()),
        "{en}"
    );
    assert!(error_text(Lang::Zh, &kind).contains("不再解码"));
    // Every byte written is still captured, as TCP events.
    assert!(s2c_tcp_bytes(&seen) >= before + sent);
    sup.stop(Duration::from_millis(200));
}
