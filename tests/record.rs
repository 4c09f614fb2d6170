//! Recording as a user does it: `wsscope serve --record FILE` run as the real binary and driven
//! by a tungstenite client, the file read back with `record::Reader` and with `wsscope read`.
#![cfg(unix)]

mod common;
use std::io::{BufRead, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::{Data, OpCode as WsOp};
use tungstenite::protocol::frame::Frame as WsFrame;
use tungstenite::Message as M;

use wsscope::event::{ClosedBy, Direction, Event, EventKind};
use wsscope::protocol::{CloseCode, Decoded, Decoder, DecoderConfig, Frame, Limits, OpCode, Role};
use wsscope::record::{Problem, ReadError, Reader};

/// A path under cargo's temporary directory for tests, removed first.
fn temp(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("record-{name}"));
    let _ = std::fs::remove_file(&p);
    p
}

/// `wsscope serve` started with `args` (English, no colours), with its stdout (after the
/// listening line) and the URL it listens on.
struct Serve {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
    first_line: String,
    url: String,
}

fn serve(program: &str, args: &[&str]) -> Serve {
    let mut child = Command::new(program)
        .args(args)
        .env("NO_COLOR", "1")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mut out = BufReader::new(child.stdout.take().unwrap_or_else(|| panic!("no stdout")));
    let mut first_line = String::new();
    let _ = out.read_line(&mut first_line);
    let url = first_line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap_or_else(|| panic!("no URL in {first_line:?}"))
        .to_string();
    Serve {
        child,
        out,
        first_line,
        url,
    }
}

impl Serve {
    /// Ctrl-C, then waits for the exit: the status, all of stdout, all of stderr.
    fn interrupt(self) -> (ExitStatus, String, String) {
        let sigint = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(sigint.success());
        self.wait()
    }

    fn wait(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
                break s;
            }
            assert!(Instant::now() < deadline, "wsscope serve did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = self.first_line;
        let _ = self.out.read_to_string(&mut out);
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status, out, err)
    }
}

fn wsscope() -> &'static str {
    env!("CARGO_BIN_EXE_wsscope")
}

/// `wsscope read FILE args...`: status, stdout, stderr.
fn read_cli(file: &Path, args: &[&str]) -> (ExitStatus, String, String) {
    let o = Command::new(wsscope())
        .arg("read")
        .arg(file)
        .args(args)
        .env("NO_COLOR", "1")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .unwrap_or_else(|e| panic!("cannot run wsscope read: {e}"));
    (
        o.status,
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Every event of a file that must read without error.
fn read_all(path: &Path) -> Vec<Event> {
    Reader::open(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| e.unwrap_or_else(|err| panic!("{err}")))
        .collect()
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// The messages the session sends (and the echo server sends back).
fn session_messages() -> Vec<Vec<u8>> {
    vec![
        "héllo 世界 ✓".as_bytes().to_vec(),
        vec![0xff, 0xfe, 0x00, 0x80, 0xc3],
        b"fragmented".to_vec(),
        (0..70_000u32).map(|i| (i % 251) as u8).collect(),
    ]
}

/// Text (with non-ASCII), binary that is not UTF-8, a message in two fragments, a ping, a
/// 70 000-byte message, a close: each echoed, as the client checks.
fn run_session(url: &str) {
    let (mut ws, _) = ok(tungstenite::connect(format!("{url}chat")));
    let m = session_messages();
    let echo = |ws: &mut tungstenite::WebSocket<_>, want: &[u8]| match ws.read() {
        Ok(M::Text(t)) => assert_eq!(t.as_bytes(), want),
        Ok(M::Binary(b)) => assert_eq!(&b[..], want),
        other => panic!("no echo: {other:?}"),
    };
    ok(ws.send(M::text(ok(String::from_utf8(m[0].clone())))));
    echo(&mut ws, &m[0]);
    ok(ws.send(M::binary(m[1].clone())));
    echo(&mut ws, &m[1]);
    ok(ws.send(M::Frame(WsFrame::message(
        m[2][..4].to_vec(),
        WsOp::Data(Data::Text),
        false,
    ))));
    ok(ws.send(M::Frame(WsFrame::message(
        m[2][4..].to_vec(),
        WsOp::Data(Data::Continue),
        true,
    ))));
    echo(&mut ws, &m[2]);
    ok(ws.send(M::Ping(b"p".to_vec().into())));
    match ws.read() {
        Ok(M::Pong(p)) => assert_eq!(&p[..], b"p"),
        other => panic!("no pong: {other:?}"),
    }
    ok(ws.send(M::binary(m[3].clone())));
    echo(&mut ws, &m[3]);
    ok(ws.close(Some(tungstenite::protocol::CloseFrame {
        code: tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "bye".into(),
    })));
    common::read_until_closed(&mut ws, "the close");
}

/// The frames a fresh decoder finds in `bytes`, sent by `sender`.
fn decode(bytes: &[u8], sender: Role) -> Vec<Frame> {
    let mut d = Decoder::new(DecoderConfig {
        sender: Some(sender),
        limits: Limits::default(),
    });
    let mut out = Vec::new();
    d.feed_bytes(bytes::Bytes::copy_from_slice(bytes), &mut out);
    out.into_iter()
        .filter_map(|d| match d {
            Decoded::Frame(f) => Some(f),
            Decoded::Message(_) => None,
        })
        .collect()
}

/// A whole session recorded by the real `serve --record`: the file reads back without error,
/// starts with the clock of its header and ends with the stop; the messages each way are the
/// bytes the client sent and got; the frames recorded are exactly what the recorded TCP bytes
/// decode to; and `wsscope read` prints the same trace and totals `serve` printed.
#[test]
fn a_served_session_is_recorded_and_reads_back() {
    let file = temp("session.jsonl");
    let server = serve(
        wsscope(),
        &[
            "serve",
            "--port",
            "0",
            "--record",
            ok(file.to_str().ok_or("path")),
        ],
    );
    run_session(&server.url);
    let (status, serve_out, serve_err) = server.interrupt();
    assert!(status.success(), "{status}: {serve_err}");

    let reader = ok(Reader::open(&file));
    let unix_us = reader.header().unix_us;
    let events: Vec<Event> = reader.map(ok).collect();
    assert!(
        matches!(events[0].kind, EventKind::Clock { unix_micros } if unix_micros == unix_us),
        "{:?}",
        events[0]
    );
    assert!(matches!(
        events.last().map(|e| &e.kind),
        Some(EventKind::Stopped)
    ));

    let on_conn: Vec<&Event> = events.iter().filter(|e| e.conn == 1).collect();
    let messages = |dir: Direction| -> Vec<Vec<u8>> {
        on_conn
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Message { direction, message } if *direction == dir => {
                    Some(message.payload.to_vec())
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(messages(Direction::ClientToServer), session_messages());
    assert_eq!(messages(Direction::ServerToClient), session_messages());

    let frames = |dir: Direction| -> Vec<Frame> {
        on_conn
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Frame { direction, frame } if *direction == dir => {
                    Some((**frame).clone())
                }
                _ => None,
            })
            .collect()
    };
    let tcp = |dir: Direction| -> Vec<u8> {
        on_conn
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Tcp { direction, bytes } if *direction == dir => Some(&bytes[..]),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    };
    let hs = on_conn
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Handshake(hs) => Some(hs),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no handshake"));
    assert_eq!(hs.request.path, "/chat");
    let c2s = tcp(Direction::ClientToServer);
    let s2c = tcp(Direction::ServerToClient);
    assert!(c2s.starts_with(&hs.request.raw));
    assert!(s2c.starts_with(&hs.response.raw));
    let c2s_frames = frames(Direction::ClientToServer);
    assert_eq!(
        decode(&c2s[hs.request.raw.len()..], Role::Client),
        c2s_frames
    );
    assert_eq!(
        decode(&s2c[hs.response.raw.len()..], Role::Server),
        frames(Direction::ServerToClient)
    );
    let ops: Vec<OpCode> = c2s_frames.iter().map(|f| f.header.opcode).collect();
    assert_eq!(
        ops,
        [
            OpCode::Text,
            OpCode::Binary,
            OpCode::Text,
            OpCode::Continuation,
            OpCode::Ping,
            OpCode::Binary,
            OpCode::Close
        ]
    );
    assert!(on_conn.iter().any(|e| matches!(
        &e.kind,
        EventKind::Closed { code: Some(CloseCode::Normal), reason, by: ClosedBy::Client, clean: true } if reason == "bye"
    )));

    let (status, read_out, read_err) = read_cli(&file, &[]);
    assert!(status.success(), "{read_err}");
    assert_eq!(read_out, serve_out);
    assert!(read_out.contains("C->S frame ping"), "{read_out}");
    // At every level.
    let full = read_cli(&file, &["--trace", "full"]).1;
    assert!(full.contains("[PASS]") && full.lines().count() > read_out.lines().count());
    assert_eq!(read_cli(&file, &["--trace", "none"]).1.lines().count(), 3);
}

/// Ctrl-C with a client still connected: the file is complete, its last events are the 1001
/// close the shutdown sent and the stop.
#[test]
fn ctrl_c_leaves_a_complete_file_ending_with_the_closes_and_the_stop() {
    let file = temp("ctrl-c.jsonl");
    let server = serve(
        wsscope(),
        &[
            "serve",
            "--port",
            "0",
            "--record",
            ok(file.to_str().ok_or("path")),
        ],
    );
    let (mut ws, _) = ok(tungstenite::connect(&server.url));
    ok(ws.send(M::text("still here")));
    let _ = ws.read();
    let sigint = ok(Command::new("kill")
        .args(["-INT", &server.child.id().to_string()])
        .status());
    assert!(sigint.success());
    match ws.read() {
        Ok(M::Close(Some(c))) => assert_eq!(u16::from(c.code), 1001),
        other => panic!("no close frame: {other:?}"),
    }
    let _ = ws.read();
    drop(ws);
    let (status, _, err) = server.wait();
    assert!(status.success(), "{err}");
    let text = ok(std::fs::read_to_string(&file));
    assert!(text.ends_with("}\n"), "the last line is whole");
    let events = read_all(&file);
    let kinds: Vec<&EventKind> = events.iter().rev().take(2).map(|e| &e.kind).collect();
    assert!(matches!(kinds[0], EventKind::Stopped), "{kinds:?}");
    assert!(
        matches!(
            kinds[1],
            EventKind::Closed {
                code: Some(CloseCode::Away),
                by: ClosedBy::Server,
                ..
            }
        ),
        "{kinds:?}"
    );
}

/// A file that cannot be written is refused before the server listens, naming the file.
#[test]
fn a_bad_record_path_is_refused_before_listening() {
    let o = ok(Command::new(wsscope())
        .args([
            "serve",
            "--port",
            "0",
            "--record",
            "/nonexistent-dir/x.jsonl",
        ])
        .output());
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot record: /nonexistent-dir/x.jsonl: "),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "it listened: {:?}", o.stdout);
}

/// A write error while serving (here: the file size limit, as a full disk would) is said once,
/// naming the file; the server goes on; the exit status says the recording failed.
#[test]
fn a_write_error_is_reported_once_and_the_server_goes_on() {
    let file = temp("too-big.jsonl");
    let script = format!(
        "trap '' XFSZ; ulimit -f 8; exec '{}' serve --port 0 --record '{}'",
        wsscope(),
        file.display()
    );
    let server = serve("sh", &["-c", &script]);
    let (mut ws, _) = ok(tungstenite::connect(&server.url));
    for _ in 0..3 {
        ok(ws.send(M::binary(vec![7u8; 20_000])));
        match ws.read() {
            Ok(M::Binary(b)) => assert_eq!(b.len(), 20_000),
            other => panic!("no echo: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = ws.close(None);
    let _ = ws.read();
    drop(ws);
    let (status, out, err) = server.interrupt();
    assert_eq!(status.code(), Some(1), "{err}");
    let reports: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("recording stopped"))
        .collect();
    assert_eq!(reports.len(), 1, "{err}");
    assert!(
        reports[0].contains(&format!("{}: ", file.display())),
        "{err}"
    );
    // The trace went on to the end.
    assert!(out.contains("stopped"), "{out}");
    // What reached the file is a valid capture, perhaps cut in its last line.
    let read: Vec<Result<Event, ReadError>> = ok(Reader::open(&file)).collect();
    assert!(!read.is_empty());
}

/// A file whose lines are `lines` (each gets its newline).
fn file_of(name: &str, lines: &[&str]) -> PathBuf {
    let p = temp(name);
    ok(std::fs::write(
        &p,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    ));
    p
}

const HEADER: &str = r#"{"format":"wsscope-capture","version":"1.0","tool":"wsscope","tool_version":"0.1.0","unix_us":1700000000000000}"#;
const CLOCK: &str = r#"{"t_us":0,"conn":0,"type":"clock","unix_us":1700000000000000}"#;
const LISTENING: &str = r#"{"t_us":5,"ns":7,"conn":0,"type":"listening","addr":"127.0.0.1:8765"}"#;
const STOPPED: &str = r#"{"t_us":9,"conn":0,"type":"stopped"}"#;

/// Reads `path` through: the events before the error, and the error.
fn read_until_error(path: &Path) -> (Vec<Event>, Option<ReadError>) {
    let mut events = Vec::new();
    match Reader::open(path) {
        Err(e) => (events, Some(e)),
        Ok(r) => {
            for e in r {
                match e {
                    Ok(e) => events.push(e),
                    Err(e) => return (events, Some(e)),
                }
            }
            (events, None)
        }
    }
}

/// The hand-written lines of the documentation's examples read as events.
#[test]
fn hand_written_lines_read() {
    let p = file_of("hand.jsonl", &[HEADER, CLOCK, "", LISTENING, "  ", STOPPED]);
    let events = read_all(&p);
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].time, Duration::from_nanos(5_007));
    // The last line may lack its newline when it is whole (a file edited by hand).
    let p = temp("no-final-newline.jsonl");
    ok(std::fs::write(&p, format!("{HEADER}\n{CLOCK}\n{STOPPED}")));
    assert_eq!(read_all(&p).len(), 2);
}

/// Every kind of bad file: the documented problem, where it is, and the events before it.
#[test]
fn bad_files_give_the_problem_where_it_is_and_keep_the_valid_prefix() {
    let offset_of_line = |lines: &[&str], n: usize| -> u64 {
        lines[..n - 1].iter().map(|l| l.len() as u64 + 1).sum()
    };
    // Garbage in the middle.
    let lines = [HEADER, CLOCK, LISTENING, "garbage, not json", STOPPED];
    let (events, e) = read_until_error(&file_of("garbage.jsonl", &lines));
    let e = e.unwrap_or_else(|| panic!("no error"));
    assert_eq!(events.len(), 2);
    assert!(matches!(e.problem, Problem::NotJson(_)), "{e}");
    assert_eq!(e.line, 4);
    assert_eq!(e.offset, offset_of_line(&lines, 4));
    assert!(
        e.to_string().contains("garbage.jsonl: line 4, byte "),
        "{e}"
    );

    // An unknown type, a bad event, a bad sub-microsecond count.
    for (line, want) in [
        (
            r#"{"t_us":1,"conn":0,"type":"teleport"}"#,
            "unknown event type \"teleport\"",
        ),
        (
            r#"{"t_us":1,"conn":0,"type":"frame","dir":"c2s"}"#,
            "bad frame event: missing field",
        ),
        (
            r#"{"t_us":1,"ns":1000,"conn":0,"type":"stopped"}"#,
            "bad stopped event: ns is 1000",
        ),
        (r#"{"t_us":1,"conn":0}"#, "bad untyped event"),
        (
            r#"{"t_us":1,"conn":0,"type":"tcp","dir":"c2s","bytes":{"b64":"@@"}}"#,
            "bad base64",
        ),
    ] {
        let (events, e) = read_until_error(&file_of("bad-event.jsonl", &[HEADER, CLOCK, line]));
        let e = e.unwrap_or_else(|| panic!("no error for {line}"));
        assert_eq!(events.len(), 1, "{e}");
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains(want), "{e}");
    }

    // A truncated last line: the recording was cut off.
    let p = temp("truncated.jsonl");
    ok(std::fs::write(
        &p,
        format!("{HEADER}\n{CLOCK}\n{LISTENING}\n{}", &STOPPED[..12]),
    ));
    let (events, e) = read_until_error(&p);
    let e = e.unwrap_or_else(|| panic!("no error"));
    assert_eq!(events.len(), 2);
    assert!(matches!(e.problem, Problem::Truncated), "{e}");
    assert_eq!(e.line, 4);
    assert!(e.to_string().contains("cut short"), "{e}");

    // Line 1 decides whether it is a capture at all.
    for (name, content, want) in [
        ("empty.jsonl", String::new(), "empty file"),
        ("wrong-header.jsonl", r#"{"format":"har","version":"1.2"}"#.to_string() + "\n", "not a wsscope capture header: its format is \"har\""),
        ("no-format.jsonl", format!("{CLOCK}\n"), "no \"format\""),
        ("newer.jsonl", HEADER.replace("\"1.0\"", "\"2.0\"") + "\n" + CLOCK + "\n", "capture format version 2.0 is newer than this wsscope reads (1.x): use a newer wsscope"),
        ("bad-version.jsonl", HEADER.replace("\"1.0\"", "\"one\"") + "\n", "not MAJOR.MINOR"),
        ("pcap.jsonl", "\u{d4}\u{c3}\u{b2}\u{a1}\u{2}\0\u{4}\0".to_string(), "not JSON"),
    ] {
        let p = temp(name);
        ok(std::fs::write(&p, content));
        let (events, e) = read_until_error(&p);
        assert!(events.is_empty());
        let e = e.unwrap_or_else(|| panic!("no error for {name}"));
        assert!(e.to_string().contains(want), "{name}: {e}");
        assert!(e.to_string().starts_with(&p.display().to_string()), "{e}");
    }
    // A newer minor version reads (it only adds fields), and unknown fields are skipped.
    let p = file_of(
        "newer-minor.jsonl",
        &[
            &HEADER.replace("\"1.0\"", "\"1.7\""),
            &STOPPED.replace("}", ",\"later\":true}"),
        ],
    );
    assert_eq!(read_all(&p).len(), 1);
}

/// A 100 MB line is refused at the limit (never read whole), after the events before it.
#[test]
fn a_huge_line_is_an_error_not_a_huge_allocation() {
    let p = temp("huge.jsonl");
    {
        use std::io::Write as _;
        let mut f = std::io::BufWriter::new(ok(std::fs::File::create(&p)));
        ok(writeln!(f, "{HEADER}\n{CLOCK}\n{LISTENING}"));
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            ok(f.write_all(&chunk));
        }
        ok(writeln!(f));
        ok(writeln!(f, "{STOPPED}"));
    }
    let (events, e) = read_until_error(&p);
    assert_eq!(events.len(), 2);
    let e = e.unwrap_or_else(|| panic!("no error"));
    assert!(
        matches!(e.problem, Problem::LineTooLong { limit } if limit == 64 << 20),
        "{e}"
    );
    assert_eq!(e.line, 4);
    assert_eq!(
        e.offset,
        (HEADER.len() + CLOCK.len() + LISTENING.len() + 3) as u64
    );
    // A smaller limit is the reader's choice.
    let long = format!("{STOPPED}{}", " ".repeat(HEADER.len()));
    let small = ok(Reader::open_with_limit(
        &file_of("limit.jsonl", &[HEADER, &long]),
        HEADER.len(),
    ))
    .next();
    assert!(
        matches!(
            &small,
            Some(Err(ReadError {
                problem: Problem::LineTooLong { limit },
                line: 2,
                ..
            })) if *limit == HEADER.len()
        ),
        "{small:?}"
    );
}

/// `wsscope read` on a bad file: the trace of what was valid, the totals, then the error naming
/// the file, the line and the byte; exit status 1. A file that is not there says so.
#[test]
fn read_prints_the_valid_part_then_the_error() {
    let lines = [
        HEADER,
        CLOCK,
        LISTENING,
        r#"{"t_us":7,"conn":1,"type":"opened","endpoint":"server","client":"127.0.0.1:5000","server":"127.0.0.1:8765"}"#,
        "{\"t_us\":8,",
        STOPPED,
    ];
    let p = file_of("read-bad.jsonl", &lines);
    let (status, out, err) = read_cli(&p, &[]);
    assert_eq!(status.code(), Some(1));
    let out: Vec<&str> = out.lines().collect();
    assert_eq!(out.len(), 3, "{out:#?}");
    assert!(
        out[0].contains("listening on ws://127.0.0.1:8765/"),
        "{out:#?}"
    );
    assert!(
        out[1].contains("TCP open  127.0.0.1:5000 -> 127.0.0.1:8765"),
        "{out:#?}"
    );
    assert!(out[2].starts_with("1 connection"), "{out:#?}");
    // The byte where the parser ran out: the last of the cut line.
    let at = lines[..4].iter().map(|l| l.len() + 1).sum::<usize>();
    assert!(
        err.contains(&format!(
            "wsscope read: {}: line 5, byte {}: not JSON",
            p.display(),
            at + 9
        )),
        "{err}"
    );
    let (status, out, err) = read_cli(Path::new("/nonexistent/capture.jsonl"), &[]);
    assert_eq!(status.code(), Some(1));
    assert!(out.is_empty());
    assert!(
        err.contains("/nonexistent/capture.jsonl: cannot read: "),
        "{err}"
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A valid capture's lines (header first): a few events of several kinds.
    fn valid_lines() -> Vec<String> {
        let mut lines = vec![HEADER.to_string(), CLOCK.to_string(), LISTENING.to_string()];
        lines.push(
            r#"{"t_us":8,"ns":999,"conn":1,"type":"tcp","dir":"s2c","bytes":{"b64":"gQJoaQ=="}}"#
                .to_string(),
        );
        lines.push(r#"{"t_us":9,"conn":1,"type":"message","dir":"c2s","opcode":"text","payload":{"text":"hé\"\n"},"frame_count":1,"byte_range":{"start":0,"end":9}}"#.to_string());
        lines.push(r#"{"t_us":10,"conn":1,"type":"closed","code":1000,"reason":"","by":"client","clean":true}"#.to_string());
        lines.push(STOPPED.to_string());
        lines
    }

    fn write(name: &str, bytes: &[u8]) -> PathBuf {
        let p = temp(name);
        ok(std::fs::write(&p, bytes));
        p
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any bytes, alone or after a valid header: the reader ends (events, then at most
        /// one error) and never panics.
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            with_header in any::<bool>(),
        ) {
            let mut content = if with_header { format!("{HEADER}\n").into_bytes() } else { Vec::new() };
            content.extend(&bytes);
            let p = write("arbitrary.jsonl", &content);
            if let Ok(r) = Reader::open(&p) {
                let items: Vec<_> = r.collect();
                prop_assert!(items.iter().rev().skip(1).all(Result::is_ok), "an error is the last item");
            }
        }

        /// Any bytes (text, text with control characters, not UTF-8) at any time to the
        /// nanosecond read back exactly, as TCP bytes and as a frame's payload.
        #[test]
        fn any_bytes_at_any_time_read_back_exactly(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            text in ".{0,40}",
            nanos in 0u64..u64::MAX / 1000,
            conn in any::<u64>(),
        ) {
            use wsscope::event::Direction::*;
            let time = Duration::from_nanos(nanos);
            let mut wire = Vec::new();
            let header = wsscope::protocol::FrameHeader::new(OpCode::Binary, bytes.len() as u64, Some([1, 2, 3, 4]));
            wsscope::protocol::encode_frame(header, &bytes, &mut wire);
            let mut frame = decode(&wire, Role::Client);
            prop_assert_eq!(frame.len(), 1);
            let events = vec![
                Event { conn, time, kind: EventKind::Tcp { direction: ClientToServer, bytes: bytes.clone().into() } },
                Event { conn, time, kind: EventKind::Tcp { direction: ServerToClient, bytes: text.clone().into_bytes().into() } },
                Event { conn, time, kind: EventKind::Frame { direction: ClientToServer, frame: Box::new(frame.remove(0)) } },
            ];
            let p = temp("any-bytes.jsonl");
            {
                let mut w = ok(wsscope::record::Writer::create(&p));
                for e in &events {
                    ok(w.write(e));
                }
            }
            prop_assert_eq!(read_all(&p), events);
        }

        /// A valid file cut anywhere, or with one byte changed: what reads is a prefix of the
        /// original events (a cut at a line's end loses nothing before it), never a wrong event.
        #[test]
        fn a_cut_or_damaged_file_reads_a_prefix(cut in 0usize..2000, flip in 0usize..2000, byte in any::<u8>()) {
            let lines = valid_lines();
            let whole = lines.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes();
            let original = read_all(&write("original.jsonl", &whole));
            let cut = cut % (whole.len() + 1);
            let p = write("cut.jsonl", &whole[..cut]);
            let (events, _) = read_until_error(&p);
            // Lines wholly inside the cut (a line cut just before its newline is whole too).
            let mut end = 0;
            let mut whole_events = 0usize;
            for (i, l) in lines.iter().enumerate() {
                end += l.len();
                if end <= cut && i > 0 {
                    whole_events += 1;
                }
                end += 1;
            }
            prop_assert_eq!(&events[..], &original[..whole_events]);

            let mut damaged = whole.clone();
            let at = flip % damaged.len();
            damaged[at] = byte;
            let (events, _) = read_until_error(&write("damaged.jsonl", &damaged));
            // The damaged line may still parse (a digit changed): everything before it is intact.
            let line_of_damage = whole[..at].iter().filter(|&&b| b == b'\n').count();
            // Events of the lines before it (line 0 is the header).
            let intact = line_of_damage.saturating_sub(1);
            prop_assert!(events.len() >= intact, "{} events before the damage, {} read", intact, events.len());
            prop_assert_eq!(&events[..intact], &original[..intact]);
        }
    }
}

/// Stream offsets at the end of u64. A gap that ends two bytes before 2^64, then more bytes than
/// fit: read from a file. A frame at offset `u64::MAX` (and its message), which a file cannot
/// say (its bytes run past 2^64: see `offsets_past_u64_are_bad_lines`) but which the store
/// must take from any source: stored and exported (events, pcap, HAR) without an overflow (a
/// panic in a debug build, a wrapped number in a release one).
#[test]
fn offsets_at_the_end_of_u64_read_store_and_export() {
    use wsscope::event::{ErrorKind, GapCause};
    use wsscope::protocol::{Fragment, FrameHeader, Message};
    let ev = |us: u64, kind: EventKind| Event {
        time: Duration::from_micros(us),
        conn: 1,
        kind,
    };
    let tcp = |us, bytes: &'static [u8]| {
        ev(
            us,
            EventKind::Tcp {
                direction: Direction::ClientToServer,
                bytes: bytes::Bytes::from_static(bytes),
            },
        )
    };
    let header = FrameHeader::new(OpCode::Binary, 2, None);
    let mut header_bytes = Vec::new();
    header.encode(&mut header_bytes);
    let frame = Frame {
        offset: u64::MAX,
        header,
        header_bytes: header_bytes.into(),
        payload: bytes::Bytes::from_static(b"hi"),
        payload_captured: true,
        fragment: Fragment::Whole,
        violations: Vec::new(),
    };
    let events = [
        tcp(1, b"abc"),
        ev(
            2,
            EventKind::Error(ErrorKind::Gap {
                direction: Direction::ClientToServer,
                offset: u64::MAX - 2,
                missing: 2,
                cause: GapCause::EndOfFile,
            }),
        ),
        tcp(3, b"defgh"),
        ev(
            4,
            EventKind::Frame {
                direction: Direction::ClientToServer,
                frame: Box::new(frame),
            },
        ),
        ev(
            4,
            EventKind::Message {
                direction: Direction::ClientToServer,
                message: Message {
                    opcode: OpCode::Binary,
                    payload: bytes::Bytes::from_static(b"hi"),
                    frame_count: 1,
                    byte_range: u64::MAX..u64::MAX,
                },
            },
        ),
        tcp(5, b"ij"),
    ];
    let mut lines = vec![HEADER.to_string(), CLOCK.to_string()];
    lines.extend(
        events
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::Frame { .. }))
            .map(|e| ok(serde_json::to_string(e))),
    );
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let p = file_of("offsets-at-u64-max.jsonl", &lines);
    let mut read = read_all(&p);
    assert_eq!(read.len(), events.len());
    // The frame before its message, where it came.
    read.insert(4, events[3].clone());
    let mut c = wsscope::capture::Capture::new(1 << 20);
    for e in read {
        c.ingest(e);
    }
    let conn = c.connection(1).unwrap_or_else(|| panic!("no connection"));
    // The stream cannot count past its last byte; what came after is still kept.
    assert_eq!(conn.bytes[0], u64::MAX);
    assert_eq!(c.frame_count(), 1);
    assert_eq!(c.message_count(), 1);
    let out = c.events();
    assert!(out
        .iter()
        .any(|e| matches!(&e.kind, EventKind::Message { message, .. } if message.byte_range.start == u64::MAX)));
    let mut pcap = Vec::new();
    ok(wsscope::export::write_pcap(out.iter().cloned(), &mut pcap));
    let mut har = Vec::new();
    ok(wsscope::export::write_har(out, &mut har));
}

/// A line whose stream bytes run past 2^64 is a bad line, reported with the file, the line and
/// its byte offset, after the events before it: a frame at offset `u64::MAX`, one whose offset
/// plus header and payload does not fit, a gap whose end does not. They were read silently
/// before. A frame that ends at 2^64 exactly, and one whose announced length has its top bit
/// set (a broken frame wsscope records as the peer sent it), still read.
#[test]
fn offsets_past_u64_are_bad_lines() {
    let frame = |offset: u64, payload_len: u64, captured: bool, violation: &str| {
        format!(
            r#"{{"t_us":3,"conn":1,"type":"frame","dir":"s2c","offset":{offset},"header":{{"fin":true,"rsv":[false,false,false],"opcode":"binary","masked":false,"payload_len":{payload_len},"mask_key":null,"len_encoding":"sixty_four"}},"header_bytes":{{"b64":""}},"payload":{{"text":"hi"}},"payload_captured":{captured},"fragment":"whole","violations":[{violation}]}}"#
        )
    };
    let gap = |offset: u64, missing: u64| {
        use wsscope::event::{ErrorKind, GapCause};
        ok(serde_json::to_string(&Event {
            time: Duration::from_micros(3),
            conn: 1,
            kind: EventKind::Error(ErrorKind::Gap {
                direction: Direction::ClientToServer,
                offset,
                missing,
                cause: GapCause::EndOfFile,
            }),
        }))
    };
    let max = u64::MAX;
    // A 64-bit length: a 10-byte header.
    for (bad, len) in [
        (frame(max, 2, true, ""), 12),
        (frame(max - 11, 2, true, ""), 12),
        (frame(max - 100, 1000, true, ""), 1010),
        (frame(1 << 63, max >> 1, true, ""), 10 + (max >> 1)),
        (gap(max - 1, 2), 2),
        (gap(2, max), max),
    ] {
        let lines = [HEADER, CLOCK, LISTENING, &bad, STOPPED];
        let p = file_of("past-u64.jsonl", &lines);
        let (events, e) = read_until_error(&p);
        let e = e.unwrap_or_else(|| panic!("no error for {bad}"));
        assert_eq!(events.len(), 2, "{e}");
        assert_eq!(e.line, 4, "{e}");
        let start: u64 = lines[..3].iter().map(|l| l.len() as u64 + 1).sum();
        assert_eq!(e.offset, start, "{e}");
        assert!(
            matches!(&e.problem, Problem::PastStreamEnd { len: l, .. } if *l == len),
            "{e}"
        );
        let said = e.to_string();
        assert!(
            said.starts_with(&format!("{}: line 4, byte {start}: bad ", p.display()))
                && said.contains("runs past 2^64"),
            "{said}"
        );
    }
    // At the end, not past it; a broken frame's announced length is only a claim. Its
    // violation is in its bytes (the frame at 5: byte 1 and the 64-bit length after it).
    let top_bit =
        r#"{"rule":"length_top_bit_set","byte_range":{"start":6,"end":15},"detail":"none"}"#;
    for good in [
        frame(max - 12, 2, true, ""),
        frame(5, max, false, top_bit),
        gap(max - 2, 2),
    ] {
        let p = file_of("at-u64.jsonl", &[HEADER, CLOCK, &good, STOPPED]);
        let (events, e) = read_until_error(&p);
        assert!(e.is_none(), "{good}: {e:?}");
        assert_eq!(events.len(), 3);
    }
}
