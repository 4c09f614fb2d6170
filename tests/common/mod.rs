//! Helpers shared by the integration tests (each test file includes this module; not every
//! file uses every helper).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsscope::event::{Event, EventKind};
use wsscope::protocol::{encode_frame, FrameHeader, OpCode};
use wsscope::server::{self, ServerConfig};

/// A valid upgrade request for `/lab` with the RFC's example key.
pub const REQUEST: &str =
    "GET /lab HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// One masked frame (key 09 08 07 06) as a client sends it.
pub fn frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut h = FrameHeader::new(opcode, 0, Some([9, 8, 7, 6]));
    h.fin = fin;
    let mut v = Vec::new();
    encode_frame(h, payload, &mut v);
    v
}

/// Every event of one scripted client's connection to an echo server, up to its close (the
/// client's bytes in these writes, `pause` apart).
pub fn events_of_writes<W: AsRef<[u8]>>(writes: &[W], pause: Duration) -> Vec<Event> {
    let (tx, rx) = crossbeam_channel::bounded(64);
    let handle = server::start(
        ServerConfig {
            port: 0,
            // REQUEST's `Host: x` is not a loopback name: these captures are about the bytes
            // (their lengths matter), not about the Host rule.
            allowed_hosts: Some(wsscope::protocol::handshake::HostPolicy::Any),
            ..ServerConfig::default()
        },
        tx,
        Arc::new(|| {}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut s = TcpStream::connect(handle.local_addr()).unwrap_or_else(|e| panic!("{e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut reader = s.try_clone().unwrap_or_else(|e| panic!("{e}"));
    let reader = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    for w in writes {
        s.write_all(w.as_ref()).unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(pause);
    }
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
    let _ = reader.join();
    let drain =
        std::thread::spawn(move || while rx.recv_timeout(Duration::from_secs(2)).is_ok() {});
    handle.shutdown(Duration::from_millis(200));
    let _ = drain.join();
    events
}

/// tshark, or `None` (after saying so) when it is not installed. Under CI (CI=true) a missing
/// tshark fails the test: CI installs it (.ci/run).
pub fn tshark() -> Option<&'static str> {
    match Command::new("tshark").arg("--version").output() {
        Ok(o) if o.status.success() => Some("tshark"),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("tshark is not installed, and CI=true: .ci/run installs it (apt package tshark)")
        }
        _ => {
            eprintln!(
                "note: tshark is not installed; skipping the pcap check (apt install tshark)"
            );
            None
        }
    }
}

/// Runs tshark with `args` and returns what it printed (a failure fails the test).
pub fn tshark_run(tshark: &str, args: &[&str]) -> String {
    let out = Command::new(tshark)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
