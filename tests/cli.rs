//! The command line as a user runs it: the real binary, its output and its exit status.

use std::process::{Command, Output};

/// Runs wsscope with `locale` as LANG (and LC_ALL, LC_MESSAGES unset), without colours.
fn wsscope_in(locale: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", locale)
        .output()
        .unwrap_or_else(|e| panic!("cannot run wsscope: {e}"))
}

/// Runs wsscope in an English locale (whatever the machine running the tests uses).
fn wsscope(args: &[&str]) -> Output {
    wsscope_in("C.UTF-8", args)
}

/// Every number in `s` (runs of ASCII digits), sorted: what must not change with the language.
fn numbers(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
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
        (vec!["serve", "--busy-poll", "100001"], "--busy-poll"),
        (vec!["serve", "--busy-poll=-1"], "--busy-poll"),
        // Above the largest length a frame can announce (and, on 32 bits, above usize).
        (
            vec!["serve", "--max-frame", "9223372036854775808"],
            "--max-frame 9223372036854775808 is more than",
        ),
        (
            vec!["serve", "--max-message", "18446744073709551615"],
            "--max-message 18446744073709551615 is more than",
        ),
    ] {
        let o = wsscope(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}

const HELLO: &str = "81 85 37 fa 21 3d 7f 9f 4d 51 58";

#[test]
fn decode_speaks_chinese_with_the_same_bytes_and_numbers() {
    let en = wsscope(&["decode", HELLO]);
    let zh = wsscope(&["decode", "--lang", "zh", HELLO]);
    assert!(zh.status.success(), "{}", stderr(&zh));
    let (en, zh) = (stdout(&en), stdout(&zh));
    for needle in [
        "第 1 帧：字节 0..11",
        "字节 0  81 = 1000 0001",
        "操作码 0x1",
        "已掩码",
        "长度 5（7 位形式",
        "掩码键 字节 2..6 = 37 fa 21 3d (37fa213d)",
        "81 | 85 | 37 fa 21 3d | 7f 9f 4d 51 58",
        "0  7f  ^ 37  = 48  'H'",
        "载荷（文本）\"Hello\"",
        "违规：无",
        "1 个帧，1 条消息",
    ] {
        assert!(zh.contains(needle), "missing {needle:?} in\n{zh}");
    }
    assert!(!zh.contains("frame"), "English left in\n{zh}");
    assert_eq!(numbers(&zh), numbers(&en), "\n{en}\n{zh}");
    assert_eq!(zh.lines().count(), en.lines().count());

    // A violation and a truncated frame, in Chinese; --lang also goes before the subcommand.
    let o = wsscope(&[
        "--lang",
        "zh",
        "decode",
        "--role",
        "client",
        "81 05 48 65 6c 6c 6f 81",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    assert!(
        out.contains("违规 RFC 6455 §5.1：客户端发送的每个帧都必须掩码"),
        "{out}"
    );
    assert!(out.contains("关闭码 1002"), "{out}");
    assert!(stderr(&o).contains("偏移 7 处的帧被截断"), "{}", stderr(&o));
    let o = wsscope(&["decode", "--lang", "zh", "81 8"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("奇数"), "{}", stderr(&o));
}

#[test]
fn accept_speaks_chinese_with_the_same_values() {
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let en = stdout(&wsscope(&["accept", key]));
    let o = wsscope(&["accept", key, "--lang", "zh"]);
    assert!(o.status.success());
    let zh = stdout(&o);
    for needle in [
        "key 检查",
        "有效：16 字节的 base64",
        "第 1 步  key + GUID",
        "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
        "b3 7a 4f 2c c0 62 4f 16 90 f6 46 06 cf 38 59 45 b2 be c4 ea",
        "两个常见错误",
    ] {
        assert!(zh.contains(needle), "missing {needle:?} in\n{zh}");
    }
    assert!(zh
        .trim_end()
        .ends_with("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    assert_eq!(numbers(&zh), numbers(&en), "\n{en}\n{zh}");
    let o = wsscope(&["accept", "--lang", "zh", " "]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("key 是空的"), "{}", stderr(&o));
}

#[test]
fn the_locale_picks_chinese_and_lang_overrides_it() {
    let zh = stdout(&wsscope_in("zh_CN.UTF-8", &["decode", HELLO]));
    assert!(zh.contains("第 1 帧"), "{zh}");
    let en = stdout(&wsscope_in(
        "zh_CN.UTF-8",
        &["decode", "--lang", "en", HELLO],
    ));
    assert!(en.contains("frame 1: bytes 0..11"), "{en}");
    assert_eq!(en, stdout(&wsscope(&["decode", HELLO])));
    let accept = stdout(&wsscope_in(
        "zh_CN.UTF-8",
        &["accept", "dGhlIHNhbXBsZSBub25jZQ=="],
    ));
    assert!(accept.contains("第 3 步"), "{accept}");
    // LC_ALL comes first, then LC_MESSAGES, then LANG.
    let o = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["decode", HELLO])
        .env("NO_COLOR", "1")
        .env("LC_ALL", "C")
        .env("LC_MESSAGES", "zh_CN.UTF-8")
        .env("LANG", "zh_CN.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(stdout(&o).contains("frame 1:"), "{}", stdout(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .args(["decode", HELLO])
        .env("NO_COLOR", "1")
        .env_remove("LC_ALL")
        .env("LC_MESSAGES", "zh_CN.UTF-8")
        .env("LANG", "en_US.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(stdout(&o).contains("第 1 帧"), "{}", stdout(&o));
}

#[test]
fn an_unfollowable_length_prints_ranges_that_do_not_wrap() {
    // §5.2: a 64-bit length with the top bit set stops decoding; the announced end saturates.
    let o = wsscope(&["decode", "--role", "client", "8100827fffffffffffffffff"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // The range is what the input holds; the announced end is said as such.
    assert!(
        out.contains("frame 2: bytes 2..12 (10 header + 18446744073709551615 payload)"),
        "{out}"
    );
    assert!(
        out.contains("(truncated: the header announces 18446744073709551615 payload bytes, up to byte 18446744073709551615 of the stream)"),
        "{out}"
    );
    assert!(out.contains("§5.2"), "{out}");
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn decode_says_what_broke_a_rule_in_chinese() {
    // An unmasked client frame: the rule and what the MASK bit was.
    let frame = "81 05 48 65 6c 6c 6f";
    let en = stdout(&wsscope(&["decode", "--role", "client", frame]));
    let zh = stdout(&wsscope(&[
        "decode", "--lang", "zh", "--role", "client", frame,
    ]));
    assert!(en.contains("close 1002 (the MASK bit is 0)"), "{en}");
    assert!(zh.contains("关闭码 1002（MASK 位是 0）"), "{zh}");
    assert_eq!(numbers(&zh), numbers(&en), "\n{en}\n{zh}");

    // A 5-byte length sent in the 16-bit form (§5.2: the minimal encoding MUST be used).
    let frame = "81 7e 00 05 48 65 6c 6c 6f";
    let en = stdout(&wsscope(&["decode", frame]));
    let zh = stdout(&wsscope(&["decode", "--lang", "zh", frame]));
    assert!(
        en.contains("(5 bytes sent in the 7+16-bit (126 + u16) form; the 7-bit form is enough)"),
        "{en}"
    );
    assert!(
        zh.contains("违规 RFC 6455 §5.2：长度必须用最短的编码形式"),
        "{zh}"
    );
    assert!(
        zh.contains("（5 字节用了 7+16 位（126 + u16）形式；7 位形式就够了）"),
        "{zh}"
    );
    for english in ["bytes", "sent", "form", "enough"] {
        assert!(!zh.contains(english), "{english:?} left in\n{zh}");
    }
    assert_eq!(numbers(&zh), numbers(&en), "\n{en}\n{zh}");
}

#[test]
fn accept_says_why_a_key_is_not_base64_in_chinese() {
    let en = stdout(&wsscope(&["accept", "dGhlIHNhbXBsZSBub25j!Q=="]));
    let zh = stdout(&wsscope(&[
        "accept",
        "--lang",
        "zh",
        "dGhlIHNhbXBsZSBub25j!Q==",
    ]));
    assert!(
        en.contains("not valid base64: '!' at position 20 is not a base64 character"),
        "{en}"
    );
    assert!(
        zh.contains("不是合法的 base64：位置 20 的 '!' 不是 base64 字符"),
        "{zh}"
    );
    assert_eq!(numbers(&zh), numbers(&en), "\n{en}\n{zh}");
}
