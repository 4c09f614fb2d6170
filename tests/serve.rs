//! `wsscope serve` as a user runs it: the real binary serves a tungstenite client, and Ctrl-C
//! (SIGINT) closes the connection with 1001, prints the totals and exits cleanly.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tungstenite::Message as M;

#[test]
fn ctrl_c_closes_connections_with_1001_and_prints_the_totals() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["serve", "--port", "0"])
        .env("NO_COLOR", "1")
        .env_remove("LANG")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run wsscope: {e}"));
    let mut out = BufReader::new(child.stdout.take().unwrap_or_else(|| panic!("no stdout")));
    let mut line = String::new();
    let _ = out.read_line(&mut line);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();

    let (mut ws, _) = tungstenite::connect(&url).unwrap_or_else(|e| panic!("{e}"));
    ws.send(M::text("hello")).unwrap_or_else(|e| panic!("{e}"));
    match ws.read() {
        Ok(M::Text(t)) => assert_eq!(t.as_str(), "hello"),
        other => panic!("no echo: {other:?}"),
    }
    let sigint = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
    assert!(sigint.success());
    match ws.read() {
        Ok(M::Close(Some(c))) => assert_eq!(u16::from(c.code), 1001),
        other => panic!("no close frame: {other:?}"),
    }
    // Answer the close, as a client should, and hang up.
    let _ = ws.read();
    drop(ws);

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            break s;
        }
        assert!(Instant::now() < deadline, "wsscope serve did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let lines: Vec<String> = out.lines().map_while(Result::ok).collect();
    // Every event was printed before the totals: the close, then one line of totals.
    assert!(
        lines.iter().any(|l| l.contains("#1") && l.contains("1001")),
        "{lines:#?}"
    );
    let totals = lines.last().unwrap_or_else(|| panic!("no totals"));
    assert!(totals.starts_with("1 connection"), "{totals}");
}
