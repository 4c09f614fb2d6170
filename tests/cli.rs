//! The command line as a user runs it: the real binary, its output and its exit status.

use std::process::{Command, Output};

fn wsscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run wsscope: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn accept_shows_every_step_and_ends_with_the_value() {
    let o = wsscope(&["accept", "dGhlIHNhbXBsZSBub25jZQ=="]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains("dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
        "{out}"
    );
    assert!(
        out.contains("b3 7a 4f 2c c0 62 4f 16 90 f6 46 06 cf 38 59 45 b2 be c4 ea"),
        "{out}"
    );
    assert!(out.contains("valid: base64 of 16 bytes"), "{out}");
    assert!(
        out.trim_end().ends_with("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{out}"
    );
    // The steps come in order.
    let a = out.find("step 1").unwrap_or(usize::MAX);
    let b = out.find("step 2").unwrap_or(0);
    let c = out.find("step 3").unwrap_or(0);
    assert!(a < b && b < c, "{out}");
}

#[test]
fn accept_explains_a_malformed_key_and_refuses_an_empty_one() {
    let o = wsscope(&["accept", "hello"]);
    assert!(o.status.success(), "the derivation works on any text");
    assert!(stdout(&o).contains("not valid base64"), "{}", stdout(&o));
    let o = wsscope(&["accept", "  "]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("key is empty"), "{}", stderr(&o));
}

#[test]
fn decode_the_rfc_masked_hello() {
    let o = wsscope(&["decode", "81 85 37 fa 21 3d 7f 9f 4d 51 58"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "FIN    1",
        "opcode 0x1",
        "text",
        "MASK   1",
        "length 5 (7-bit form",
        "37 fa 21 3d (37fa213d)",
        "payload text \"Hello\"",
        "0  7f  ^ 37  = 48  'H'",
        "violations: none",
        "1 frame(s), 1 message(s)",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

#[test]
fn decode_accepts_hex_with_or_without_separators() {
    let spaced = stdout(&wsscope(&["decode", "81 85 37 fa 21 3d 7f 9f 4d 51 58"]));
    for form in [
        vec!["81:85:37:fa:21:3d:7f:9f:4d:51:58"],
        vec!["818537fa213d7f9f4d5158"],
        vec!["8185", "37fa213d", "7f9f4d5158"],
        vec!["0x81", "0x85", "37FA213D7F9F4D5158"],
    ] {
        assert_eq!(
            stdout(&wsscope(&[&["decode"][..], &form[..]].concat())),
            spaced,
            "{form:?}"
        );
    }
}

#[test]
fn decode_a_stream_of_fragments_and_name_violations() {
    let o = wsscope(&["decode", "01 03 48 65 6c 80 02 6c 6f", "--role", "server"]);
    let out = stdout(&o);
    assert!(o.status.success());
    assert!(out.contains("first fragment"), "{out}");
    assert!(out.contains("last fragment"), "{out}");
    assert!(
        out.contains("message 1: text in 2 frame(s), 5 bytes"),
        "{out}"
    );

    // Client frames must be masked (§5.1).
    let o = wsscope(&["decode", "--role", "client", "81 05 48 65 6c 6c 6f"]);
    let out = stdout(&o);
    assert!(out.contains("VIOLATION RFC 6455 §5.1"), "{out}");
    assert!(out.contains("close 1002"), "{out}");
}

#[test]
fn bad_input_gets_a_message_and_status_2() {
    for (args, needle) in [
        (vec!["decode", "81 8"], "odd number of hex digits"),
        (vec!["decode", "81 zz"], "'z' at character 4"),
        (vec!["decode", ""], "no bytes given"),
        (vec!["decode", "81 85 37"], "truncated frame"),
        (
            vec!["decode", "81 85 37 fa 21 3d 7f"],
            "announces a 5-byte payload but only 1",
        ),
    ] {
        let o = wsscope(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}");
    }
    let o = wsscope(&["decode", "--role", "proxy", "81"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("invalid value 'proxy'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn without_a_display_the_app_runs_the_server_in_the_terminal() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["--port", "0"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let _ = child.kill();
    let o = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(line.contains("listening on ws://127.0.0.1:"), "{line}");
    // A build without the window (`--no-default-features`) says that instead.
    let why = if cfg!(feature = "gui") {
        "no display"
    } else {
        "this build has no window"
    };
    assert!(stderr(&o).contains(why), "{}", stderr(&o));
}

#[test]
fn bad_server_options_are_refused() {
    for (args, needle) in [
        (
            vec!["serve", "--handshake-timeout=0"],
            "--handshake-timeout",
        ),
        (vec!["serve", "--port", "70000"], "70000"),
        (vec!["serve", "--bind", "localhost:1"], "invalid value"),
        (vec!["serve", "--max-connections", "0"], "--max-connections"),
        (vec!["serve", "--event-loops", "65"], "--event-loops"),
    ] {
        let o = wsscope(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}
