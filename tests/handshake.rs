//! The opening handshake (§4.1, §4.2.1, §4.2.2, §4.4), table-driven like httparse's tests.

use wsscope::i18n::{refusal, Lang};
use wsscope::protocol::handshake::{
    answer, check_request, parse_request, CheckId, HandshakeError, HandshakeLimits, HostPolicy,
    OriginPolicy, Outcome, Parsed, Request, ServerPolicy,
};

/// The example request of RFC 6455 §1.2 (and of the seed post).
const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

fn parse(raw: &str) -> Request {
    match parse_request(raw.as_bytes(), &HandshakeLimits::default()) {
        Ok(Parsed::Complete(r)) => r,
        other => panic!("expected a complete request, got {other:?}"),
    }
}

fn outcome(req: &Request, id: CheckId) -> Outcome {
    check_request(req)
        .into_iter()
        .find(|c| c.id == id)
        .map(|c| c.outcome)
        .unwrap_or_else(|| panic!("no check {id:?}"))
}

#[test]
fn rfc_example_gets_101_with_accept_and_chat() {
    let req = parse(RFC_REQUEST);
    assert_eq!(
        req.raw,
        RFC_REQUEST.as_bytes(),
        "raw request kept byte for byte"
    );
    assert_eq!(req.path, "/chat");
    let hs = answer(req, &ServerPolicy::default());
    assert!(hs.accepted());
    assert!(hs.checks.iter().all(|c| c.outcome != Outcome::Fail));
    assert_eq!(
        String::from_utf8(hs.response.raw.clone()).unwrap_or_default(),
        "HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\r\n"
    );
    assert_eq!(hs.response.subprotocol.as_deref(), Some("chat"));
    let d = hs.derivation.as_ref().map(|d| d.accept.as_str());
    assert_eq!(d, Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
}

#[test]
fn every_rule_has_its_item_and_all_ten_checks_are_listed() {
    let checks = check_request(&parse(RFC_REQUEST));
    let ids: Vec<CheckId> = checks.iter().map(|c| c.id).collect();
    assert_eq!(ids, CheckId::ALL.to_vec());
    let items: Vec<u8> = checks.iter().map(|c| c.id.item()).collect();
    assert_eq!(items, vec![1, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert!(checks[0].to_string().contains("§4.2.1 item 1"));
}

#[test]
fn partial_is_a_normal_answer() {
    for cut in [0, 1, 10, RFC_REQUEST.len() - 1] {
        let r = parse_request(&RFC_REQUEST.as_bytes()[..cut], &HandshakeLimits::default());
        assert_eq!(r, Ok(Parsed::Partial), "cut at {cut}");
    }
}

#[test]
fn bytes_after_the_head_are_not_part_of_it() {
    let mut raw = RFC_REQUEST.as_bytes().to_vec();
    raw.extend_from_slice(&[0x81, 0x85]);
    match parse_request(&raw, &HandshakeLimits::default()) {
        Ok(Parsed::Complete(r)) => assert_eq!(r.raw.len(), RFC_REQUEST.len()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn table_of_failing_rules() {
    // (what to change, the rule that fails, the status)
    let cases: &[(&str, &str, CheckId, u16)] = &[
        (
            "GET /chat HTTP/1.1",
            "POST /chat HTTP/1.1",
            CheckId::Method,
            400,
        ),
        (
            "GET /chat HTTP/1.1",
            "GET /chat HTTP/1.0",
            CheckId::HttpVersion,
            400,
        ),
        ("Host: server.example.com\r\n", "", CheckId::Host, 400),
        ("Upgrade: websocket", "Upgrade: h2c", CheckId::Upgrade, 400),
        ("Upgrade: websocket\r\n", "", CheckId::Upgrade, 400),
        (
            "Connection: Upgrade",
            "Connection: keep-alive",
            CheckId::Connection,
            400,
        ),
        (
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            "",
            CheckId::Key,
            400,
        ),
        (
            "dGhlIHNhbXBsZSBub25jZQ==",
            "dGhlIHNhbXBsZSBub25jZQ",
            CheckId::Key,
            400,
        ),
        (
            "dGhlIHNhbXBsZSBub25jZQ==",
            "AAAAAAAAAAAAAAAAAAAA",
            CheckId::Key,
            400,
        ),
        (
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Version: 8",
            CheckId::Version,
            426,
        ),
        ("Sec-WebSocket-Version: 13\r\n", "", CheckId::Version, 426),
    ];
    for (from, to, id, status) in cases {
        let raw = RFC_REQUEST.replacen(from, to, 1);
        assert_ne!(raw, RFC_REQUEST, "case {from} -> {to} changed nothing");
        let req = parse(&raw);
        assert_eq!(outcome(&req, *id), Outcome::Fail, "{from} -> {to}");
        let hs = answer(req, &ServerPolicy::default());
        assert_eq!(hs.response.status, *status, "{from} -> {to}");
        let text = String::from_utf8_lossy(&hs.response.raw).into_owned();
        assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        assert!(text.contains("Connection: close"), "{text}");
        if *status == 426 {
            // §4.4: tell the client which version the server speaks.
            assert!(text.contains("Sec-WebSocket-Version: 13\r\n"), "{text}");
        } else {
            assert!(text.contains(&format!("item {}", id.item())), "{text}");
            // The refusal names the rule, as data and in words.
            assert_eq!(hs.response.failed.first(), Some(id), "{from} -> {to}");
            let why = refusal(Lang::En, &hs).unwrap_or_default();
            assert!(why.contains(id.rule()), "{why}");
        }
    }
}

#[test]
fn duplicated_key_or_host_fails() {
    let raw = RFC_REQUEST.replacen(
        "Origin:",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin:",
        1,
    );
    let req = parse(&raw);
    assert_eq!(outcome(&req, CheckId::Key), Outcome::Fail);
    assert!(answer(req, &ServerPolicy::default()).derivation.is_none());
    let raw = RFC_REQUEST.replacen("Origin:", "Host: other\r\nOrigin:", 1);
    assert_eq!(outcome(&parse(&raw), CheckId::Host), Outcome::Fail);
}

#[test]
fn tokens_are_case_insensitive_and_may_be_lists() {
    let raw = RFC_REQUEST
        .replacen("Upgrade: websocket", "Upgrade: WebSocket", 1)
        .replacen("Connection: Upgrade", "Connection: keep-alive, upgrade", 1);
    let hs = answer(parse(&raw), &ServerPolicy::default());
    assert!(hs.accepted(), "{:?}", hs.response.failed);
}

#[test]
fn subprotocol_is_the_first_offered_that_the_server_knows() {
    let policy = ServerPolicy {
        protocols: vec!["superchat".into(), "chat".into()],
        ..ServerPolicy::default()
    };
    // The client's order decides among those the server supports.
    let hs = answer(parse(RFC_REQUEST), &policy);
    assert_eq!(hs.response.subprotocol.as_deref(), Some("chat"));
    let raw = RFC_REQUEST.replacen("chat, superchat", "mqtt, superchat", 1);
    let hs = answer(parse(&raw), &policy);
    assert_eq!(hs.response.subprotocol.as_deref(), Some("superchat"));
    // None in common: no header at all.
    let raw = RFC_REQUEST.replacen("chat, superchat", "mqtt", 1);
    let hs = answer(parse(&raw), &policy);
    assert!(hs.accepted());
    assert_eq!(hs.response.subprotocol, None);
    assert!(!String::from_utf8_lossy(&hs.response.raw).contains("Sec-WebSocket-Protocol"));
}

#[test]
fn header_limits_answer_431() {
    let limits = HandshakeLimits {
        max_bytes: 256,
        max_headers: 7,
    };
    // Too many header fields: the example has 7, one more is refused.
    let raw = RFC_REQUEST.replacen("Origin:", "X-A: 1\r\nOrigin:", 1);
    let err = parse_request(raw.as_bytes(), &limits);
    assert_eq!(err, Err(HandshakeError::TooManyHeaders { limit: 7 }));
    // Too many bytes, even while the head is still incomplete.
    let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(300));
    let err = parse_request(long.as_bytes(), &limits);
    assert_eq!(err, Err(HandshakeError::TooLarge { limit: 256 }));
    let e = HandshakeError::TooLarge { limit: 256 };
    assert_eq!(e.status(), 431);
    let text = String::from_utf8_lossy(&e.response()).into_owned();
    assert!(
        text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{text}"
    );
    assert!(
        text.ends_with("request head larger than 256 bytes\n"),
        "{text}"
    );
}

#[test]
fn garbage_is_a_400_not_a_panic() {
    for raw in [
        &b"\x16\x03\x01\x02\x00\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"\0\0\0\0",
    ] {
        match parse_request(raw, &HandshakeLimits::default()) {
            Err(e @ HandshakeError::Malformed(_)) => assert_eq!(e.status(), 400),
            other => panic!("{raw:?}: {other:?}"),
        }
    }
}

/// A server's response head read from a capture: partial until the blank line, its status and
/// fields, and what follows it left alone; not HTTP, or too long, is an error.
#[test]
fn observed_response_heads_parse_like_request_heads() {
    use wsscope::protocol::handshake::{parse_response, HandshakeError, HandshakeLimits};
    let limits = HandshakeLimits::default();
    let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n";
    let mut bytes = head.to_vec();
    bytes.extend([0x81, 0x00]);
    assert_eq!(parse_response(&bytes[..20], &limits), Ok(None));
    let parsed = parse_response(&bytes, &limits).ok().flatten();
    assert_eq!(
        parsed
            .as_ref()
            .map(|r| (r.status, r.raw.len(), r.headers.len())),
        Some((101, head.len(), 2))
    );
    assert!(matches!(
        parse_response(b"\x81\x05hello\r\n\r\n", &limits),
        Err(HandshakeError::Malformed(_))
    ));
    let small = HandshakeLimits {
        max_bytes: 16,
        max_headers: 4,
    };
    assert_eq!(
        parse_response(head, &small),
        Err(HandshakeError::TooLarge { limit: 16 })
    );
}

/// The Host rule, value by value: loopback names and addresses (with or without a port) pass
/// the loopback rule; a list adds its names, `.name` suffixes and any IP address.
#[test]
fn host_policies_judge_each_form_of_host() {
    let lo = HostPolicy::Loopback;
    for host in [
        "localhost",
        "localhost:8765",
        "LocalHost.",
        "a.b.localhost:1",
        "127.0.0.1",
        "127.255.0.9:80",
        "[::1]:8765",
        "[::ffff:127.0.0.1]",
    ] {
        assert!(lo.allows(Some(host)), "{host}");
    }
    for host in [
        "evil.example",
        "localhost.evil.example",
        "evillocalhost",
        "10.0.0.1",
        "[::2]:80",
        "0.0.0.0",
        "",
    ] {
        assert!(!lo.allows(Some(host)), "{host}");
    }
    // No Host at all is not a browser (the handshake's own rule judges it).
    assert!(lo.allows(None));
    let list = HostPolicy::parse(" .Example.com ,lab.test").unwrap_or_else(|e| panic!("{e}"));
    for (host, ok) in [
        ("example.com", true),
        ("www.example.com:80", true),
        ("badexample.com", false),
        ("lab.test", true),
        ("x.lab.test", false),
        ("192.168.1.20:8765", true),
        ("localhost", true),
        ("evil.example", false),
    ] {
        assert_eq!(list.allows(Some(host)), ok, "{host}");
    }
    assert_eq!(HostPolicy::parse("all"), Ok(HostPolicy::Any));
    assert!(HostPolicy::parse("bad/name").is_err());
    assert!(HostPolicy::parse(" , ").is_err());
}

#[test]
fn origin_policies_parse_and_compare_whole_origins() {
    assert_eq!(OriginPolicy::parse("*"), Ok(OriginPolicy::Any));
    let p = OriginPolicy::parse("http://localhost:8765/, null").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.to_string(), "http://localhost:8765,null");
    assert!(p.allows(Some("http://localhost:8765")));
    assert!(p.allows(Some("HTTP://LOCALHOST:8765")));
    assert!(p.allows(Some("null")));
    assert!(p.allows(None));
    assert!(!p.allows(Some("http://localhost:8766")));
    assert!(!p.allows(Some("http://localhost:8765.evil.example")));
    assert_eq!(
        OriginPolicy::parse("localhost:8765"),
        Err("localhost:8765".into())
    );
    assert!(OriginPolicy::parse("http://a/b").is_err());
}

/// A valid upgrade from a refused Origin or Host is 403 naming the rule; a request that also
/// breaks a §4.2.1 rule is still 400 (the request is wrong before the policy matters).
#[test]
fn policy_refusals_are_403_and_rule_breaks_stay_400() {
    let policy = ServerPolicy {
        origins: OriginPolicy::parse("http://localhost:8765").unwrap_or_else(|e| panic!("{e}")),
        hosts: HostPolicy::Loopback,
        ..ServerPolicy::default()
    };
    // The RFC example: Host server.example.com, Origin http://example.com.
    let hs = answer(parse(RFC_REQUEST), &policy);
    assert_eq!(hs.response.status, 403);
    assert_eq!(hs.response.failed, [CheckId::Host, CheckId::Origin]);
    let body = String::from_utf8_lossy(&hs.response.raw);
    assert!(body.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{body}");
    assert!(
        body.contains("Host server.example.com is not allowed"),
        "{body}"
    );
    assert!(
        body.contains("Origin http://example.com is not allowed"),
        "{body}"
    );
    let why = refusal(Lang::En, &hs).unwrap_or_default();
    assert!(
        why.contains("server.example.com") && why.contains("1 more"),
        "{why}"
    );
    let ok = RFC_REQUEST
        .replacen("server.example.com", "localhost:8765", 1)
        .replacen("http://example.com", "http://localhost:8765", 1);
    let hs = answer(parse(&ok), &policy);
    assert!(hs.accepted());
    let origin = hs.checks.iter().find(|c| c.id == CheckId::Origin);
    assert_eq!(origin.map(|c| c.outcome), Some(Outcome::Pass));
    let broken = RFC_REQUEST.replacen("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8", 1);
    let hs = answer(parse(&broken), &policy);
    assert_eq!(hs.response.status, 400);
}
