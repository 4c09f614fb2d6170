//! `wsscope serve` as a user runs it: the real binary serves a tungstenite client, and Ctrl-C
//! (SIGINT) closes the connection with 1001, prints the totals and exits cleanly.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tungstenite::Message as M;

mod common;
use common::{late_client, Flood};

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

/// `wsscope serve | less`, with the pager paused: the trace cannot be written, so the server's
/// consumer stops draining. The server pauses reading the flooding client at the bound (TCP
/// slows it), yet a new client's handshake is answered; once the pipe is read again, every
/// event of both clients is in the trace.
#[test]
fn a_paused_pager_freezes_no_handshake() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args([
            "serve",
            "--port",
            "0",
            "--event-loops",
            "1",
            "--max-in-flight",
            "1",
        ])
        .env("NO_COLOR", "1")
        .env_remove("LANG")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run wsscope: {e}"));
    let mut out = BufReader::new(child.stdout.take().unwrap_or_else(|| panic!("no stdout")));
    let mut line = String::new();
    let _ = out.read_line(&mut line);
    let addr: std::net::SocketAddr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ws://"))
        .and_then(|w| w.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    // Nobody reads the pipe from here: it fills, and the server's trace stops.
    let flood = Flood::start(addr);
    let stalled = flood.stalls(Duration::from_millis(500), Duration::from_secs(30));
    let (handshake, late) = late_client(addr, Duration::from_secs(5));
    let answered = handshake.recv_timeout(Duration::from_secs(10));

    // The pager goes on: read the trace to its end.
    let reader = std::thread::spawn(move || out.lines().map_while(Result::ok).collect::<Vec<_>>());
    flood.stop();
    let sent = flood.join();
    assert!(stalled, "the flood was never slowed down");
    match answered {
        Ok(Ok(())) => {}
        other => panic!("the handshake was not answered while the pager was paused: {other:?}"),
    }
    late.join()
        .unwrap_or_else(|_| panic!("the late client failed"));
    let sigint = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
    assert!(sigint.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("wsscope serve did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let lines = reader
        .join()
        .unwrap_or_else(|_| panic!("reading the trace failed"));
    let messages = |id: u32| -> Vec<&String> {
        let head = format!("#{id:<4} C->S message");
        lines.iter().filter(|l| l.contains(&head)).collect()
    };
    let flooded = messages(1);
    assert_eq!(flooded.len(), sent, "every flooded message is in the trace");
    for (i, l) in flooded.iter().enumerate() {
        assert!(l.ends_with(&format!("\"flood {i}\"")), "{l}");
    }
    let late = messages(2);
    assert_eq!(late.len(), 1, "{late:?}");
    assert!(late[0].ends_with("\"hello\""), "{}", late[0]);
}
