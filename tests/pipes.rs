//! A reader that goes away (`wsscope decode ... | head`) ends the output quietly: no panic.
#![cfg(unix)]

use std::io::Read;
use std::process::{Command, Stdio};

#[test]
fn decode_into_a_closed_pipe_does_not_panic() {
    // 5,000 empty text frames: far more output than a pipe holds.
    let hex = "81 00 ".repeat(5000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["decode", "--role", "server", &hex])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run wsscope: {e}"));
    let mut stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut first = [0u8; 100];
    stdout
        .read_exact(&mut first)
        .unwrap_or_else(|e| panic!("{e}"));
    // What `head` does once it has its lines.
    drop(stdout);
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}
