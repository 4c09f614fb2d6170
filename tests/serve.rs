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

/// The trace speaks the user's language: with `LANG=zh_CN.UTF-8` (and with `--lang zh`) every
/// line is in Chinese, with the same numbers, paths and addresses as in English.
#[test]
fn the_trace_follows_lang_and_keeps_the_numbers() {
    for (args, env) in [
        (vec!["serve", "--port", "0"], Some("zh_CN.UTF-8")),
        (vec!["--lang", "zh", "serve", "--port", "0"], None),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsscope"));
        cmd.args(&args)
            .env("NO_COLOR", "1")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match env {
            Some(lang) => cmd.env("LANG", lang),
            None => cmd.env("LANG", "C.UTF-8"),
        };
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run wsscope: {e}"));
        let mut out = BufReader::new(child.stdout.take().unwrap_or_else(|| panic!("no stdout")));
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        assert!(line.contains("正在监听 ws://127.0.0.1:"), "{line}");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        let (mut ws, _) =
            tungstenite::connect(format!("{url}chat")).unwrap_or_else(|e| panic!("{e}"));
        ws.send(M::text("hello")).unwrap_or_else(|e| panic!("{e}"));
        let _ = ws.read();
        let _ = ws.close(Some(tungstenite::protocol::CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: "bye".into(),
        }));
        let _ = ws.read();
        drop(ws);
        let sigint = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(sigint.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "wsscope serve did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
        let text: String = out
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
            .join("\n");
        for want in [
            "TCP 连接",
            "握手 GET /chat -> 101 切换协议",
            "C->S 帧 text fin=1 rsv=000 mask=1 len=5",
            "C->S 消息 text 5 字节，共 1 帧 \"hello\"",
            "由客户端关闭：1000 (正常关闭) \"bye\"，干净关闭",
            "1 个连接",
        ] {
            assert!(text.contains(want), "{want:?} not in:\n{text}");
        }
        assert!(
            !text.contains("handshake") && !text.contains("message"),
            "{text}"
        );
    }
}
