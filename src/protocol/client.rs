//! The opening handshake, client side (§4.1): the request a client sends, and every rule a
//! client must check in the server's answer, by name. wsscope's own client fails the connection
//! on a broken rule; a handshake read from a capture file is judged the same way.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::accept::AcceptDerivation;
use super::handshake::{Found, Outcome, Request, ResponseHead, RFC_URL};

/// What goes into a client's upgrade request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestSpec {
    /// The request target: path and query (§3: the resource name), e.g. `/chat?room=1`.
    pub resource: String,
    /// The Host field's value: the host, with the port when it is not the scheme's default.
    pub host: String,
    /// The Sec-WebSocket-Key: base64 of 16 random bytes ([`fresh_key`]).
    pub key: String,
    /// Subprotocols offered, in preference order.
    pub protocols: Vec<String>,
    /// Extensions offered (whole offers, e.g. `permessage-deflate; client_max_window_bits`).
    pub extensions: Vec<String>,
    /// The Origin field, when the user gives one (browsers always send it; §4.1 item 8 makes
    /// it optional for other clients).
    pub origin: Option<String>,
    /// More header fields, as given, after the ones above.
    pub headers: Vec<(String, String)>,
}

/// A fresh Sec-WebSocket-Key: §4.1 item 7, a nonce of 16 random bytes, base64-encoded, chosen
/// anew for each connection.
pub fn fresh_key() -> String {
    let mut nonce = [0u8; 16];
    if getrandom::fill(&mut nonce).is_err() {
        // No OS randomness: the masking keys would be just as weak, so say it loudly rather than
        // send a predictable key silently. Falls back to the clock, which still varies.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        nonce = t.to_le_bytes();
    }
    STANDARD.encode(nonce)
}

/// The request head, through the blank line, in the order §4.1 lists its fields.
pub fn build_request(spec: &RequestSpec) -> Vec<u8> {
    let resource = if spec.resource.is_empty() {
        "/"
    } else {
        &spec.resource
    };
    // §4.1 items 1-6: GET, HTTP/1.1, Host, Upgrade, Connection, Sec-WebSocket-Key.
    let mut head = format!(
        "GET {resource} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\n",
        spec.host, spec.key
    );
    if let Some(origin) = &spec.origin {
        head.push_str(&format!("Origin: {origin}\r\n"));
    }
    // Item 9: the version this client speaks.
    head.push_str("Sec-WebSocket-Version: 13\r\n");
    if !spec.protocols.is_empty() {
        head.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            spec.protocols.join(", ")
        ));
    }
    if !spec.extensions.is_empty() {
        head.push_str(&format!(
            "Sec-WebSocket-Extensions: {}\r\n",
            spec.extensions.join(", ")
        ));
    }
    for (name, value) in &spec.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// The rules of §4.1 a client checks in the server's answer, in the RFC's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseCheckId {
    /// 1: the status is 101 (anything else is an HTTP answer, not a WebSocket).
    Status,
    /// 2: Upgrade is "websocket" (case-insensitive).
    Upgrade,
    /// 3: Connection contains the "Upgrade" token (case-insensitive).
    Connection,
    /// 4: Sec-WebSocket-Accept is the key's derivation.
    Accept,
    /// 5: no extension the client did not offer.
    Extensions,
    /// 6: no subprotocol the client did not offer.
    Protocol,
}

impl ResponseCheckId {
    /// Every check, in RFC order.
    pub const ALL: [Self; 6] = [
        Self::Status,
        Self::Upgrade,
        Self::Connection,
        Self::Accept,
        Self::Extensions,
        Self::Protocol,
    ];

    /// The rule's number in §4.1's list of what the client validates.
    pub fn item(self) -> u8 {
        match self {
            Self::Status => 1,
            Self::Upgrade => 2,
            Self::Connection => 3,
            Self::Accept => 4,
            Self::Extensions => 5,
            Self::Protocol => 6,
        }
    }

    /// The section, for display.
    pub fn section(self) -> &'static str {
        "4.1"
    }

    /// Link to the section.
    pub fn url(self) -> String {
        format!("{RFC_URL}#section-4.1")
    }
}

/// One §4.1 rule, judged on a response.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResponseCheck {
    /// Which rule.
    pub id: ResponseCheckId,
    /// Pass, fail, or information (an optional field not sent).
    pub outcome: Outcome,
    /// What the response had.
    pub detail: Found,
}

fn judged(id: ResponseCheckId, ok: bool, detail: Found) -> ResponseCheck {
    ResponseCheck {
        id,
        outcome: if ok { Outcome::Pass } else { Outcome::Fail },
        detail,
    }
}

/// Names of the extensions in a Sec-WebSocket-Extensions value (`a; x=1, b` → `a`, `b`).
fn extension_names(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .filter_map(|offer| offer.split(';').next())
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

/// Judges `response` against the rules of §4.1, for the `request` it answers. A status other
/// than 101 is the only check then: the rest apply to a switch.
pub fn check_response(request: &Request, response: &ResponseHead) -> Vec<ResponseCheck> {
    let status = judged(
        ResponseCheckId::Status,
        response.status == 101,
        Found::Value(response.status.to_string()),
    );
    if response.status != 101 {
        return vec![status];
    }
    let mut checks = vec![status];
    // Item 2: "If the response lacks an |Upgrade| header field or the |Upgrade| header field
    // contains a value that is not an ASCII case-insensitive match for the value "websocket"".
    checks.push(match response.joined("Upgrade") {
        None => judged(ResponseCheckId::Upgrade, false, Found::Missing),
        Some(v) => judged(
            ResponseCheckId::Upgrade,
            v.eq_ignore_ascii_case("websocket"),
            Found::Value(v),
        ),
    });
    // Item 3: Connection must contain the token "Upgrade", case-insensitive.
    checks.push(match response.joined("Connection") {
        None => judged(ResponseCheckId::Connection, false, Found::Missing),
        Some(v) => {
            let ok = v
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
            judged(ResponseCheckId::Connection, ok, Found::Value(v))
        }
    });
    // Item 4: Sec-WebSocket-Accept must be base64(SHA-1(key + GUID)), trimmed of whitespace.
    let expected = request
        .single("Sec-WebSocket-Key")
        .map(|k| AcceptDerivation::new(&k).accept);
    checks.push(match response.joined("Sec-WebSocket-Accept") {
        None => judged(ResponseCheckId::Accept, false, Found::Missing),
        Some(v) => judged(
            ResponseCheckId::Accept,
            expected.as_deref() == Some(v.as_str()),
            Found::Value(v),
        ),
    });
    // Item 5: every extension in the answer must have been offered.
    let offered = request.tokens("Sec-WebSocket-Extensions").join(", ");
    let offered: Vec<&str> = extension_names(&offered).collect();
    checks.push(match response.joined("Sec-WebSocket-Extensions") {
        None => ResponseCheck {
            id: ResponseCheckId::Extensions,
            outcome: Outcome::Info,
            detail: Found::Absent,
        },
        Some(v) => {
            let ok = extension_names(&v).all(|n| offered.iter().any(|o| o.eq_ignore_ascii_case(n)));
            // RFC 7692 §7.1: an agreed permessage-deflate must have parameters the client can
            // accept, or the client fails the connection.
            let answer = super::deflate::check_answer(
                request.values("Sec-WebSocket-Extensions"),
                response
                    .headers
                    .iter()
                    .filter(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
                    .map(|h| &h.value[..]),
            );
            match answer {
                Err(why) if ok => ResponseCheck {
                    id: ResponseCheckId::Extensions,
                    outcome: Outcome::Fail,
                    detail: Found::BadExtension { value: v, why },
                },
                _ => judged(ResponseCheckId::Extensions, ok, Found::Value(v)),
            }
        }
    });
    // Item 6: a subprotocol in the answer must be one the client offered (exactly one value).
    let offered = request.tokens("Sec-WebSocket-Protocol");
    checks.push(match response.joined("Sec-WebSocket-Protocol") {
        None => ResponseCheck {
            id: ResponseCheckId::Protocol,
            outcome: Outcome::Info,
            detail: Found::Absent,
        },
        Some(v) => judged(
            ResponseCheckId::Protocol,
            offered.contains(&v),
            Found::Value(v),
        ),
    });
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::{parse_request, parse_response, HandshakeLimits, Parsed};

    fn request(extra: &str) -> Request {
        let raw = format!(
            "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        match parse_request(raw.as_bytes(), &HandshakeLimits::default()) {
            Ok(Parsed::Complete(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn response(raw: &str) -> ResponseHead {
        match parse_response(raw.as_bytes(), &HandshakeLimits::default()) {
            Ok(Some(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn failed(checks: &[ResponseCheck]) -> Vec<ResponseCheckId> {
        checks
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .map(|c| c.id)
            .collect()
    }

    const OK: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                      Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";

    /// The RFC's own example (§1.3) passes every rule.
    #[test]
    fn the_rfc_example_passes_every_rule() {
        let checks = check_response(&request(""), &response(&format!("{OK}\r\n")));
        assert_eq!(
            checks.iter().map(|c| c.id).collect::<Vec<_>>(),
            ResponseCheckId::ALL
        );
        assert!(failed(&checks).is_empty(), "{checks:?}");
    }

    /// Each rule fails on its own when broken.
    #[test]
    fn each_broken_rule_is_named() {
        let cases = [
            (
                "",
                "HTTP/1.1 101 x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
                ResponseCheckId::Upgrade,
            ),
            (
                "",
                "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
                ResponseCheckId::Connection,
            ),
            (
                "",
                "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: keep-alive, upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n",
                ResponseCheckId::Accept,
            ),
            (
                "Sec-WebSocket-Extensions: x-foo\r\n",
                &format!("{OK}Sec-WebSocket-Extensions: permessage-deflate\r\n"),
                ResponseCheckId::Extensions,
            ),
            (
                "Sec-WebSocket-Protocol: chat, superchat\r\n",
                &format!("{OK}Sec-WebSocket-Protocol: mqtt\r\n"),
                ResponseCheckId::Protocol,
            ),
            ("", &format!("{OK}Sec-WebSocket-Protocol: chat\r\n"), ResponseCheckId::Protocol),
        ];
        for (extra, resp, id) in cases {
            let checks = check_response(&request(extra), &response(&format!("{resp}\r\n")));
            assert_eq!(failed(&checks), [id], "{resp}");
        }
    }

    /// Offered extensions and subprotocols may be agreed to; case of tokens does not matter.
    #[test]
    fn offered_extensions_and_protocols_pass() {
        let checks = check_response(
            &request("Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"),
            &response(&format!(
                "{OK}Sec-WebSocket-Protocol: superchat\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n"
            )),
        );
        assert!(failed(&checks).is_empty(), "{checks:?}");
    }

    /// RFC 7692 §7.1: an agreed permessage-deflate whose parameters we cannot accept fails
    /// item 5, and the finding names the parameter and the rule; with --no-deflate (no offer)
    /// any permessage-deflate answer fails it.
    #[test]
    fn a_deflate_answer_we_cannot_accept_fails_item_5() {
        let chromium = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
        let cases = [
            (
                chromium,
                "permessage-deflate; server_max_window_bits=16",
                "server_max_window_bits=16 is not a valid value (RFC 7692 §7.1.2",
            ),
            (
                chromium,
                "permessage-deflate; foo",
                "foo is not a parameter of a permessage-deflate answer (RFC 7692 §7.1)",
            ),
            (
                "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                "permessage-deflate; client_max_window_bits=9",
                "client_max_window_bits was not in our offer (RFC 7692 §7.1.2.2)",
            ),
        ];
        for (offer, answer, why) in cases {
            let checks = check_response(
                &request(offer),
                &response(&format!("{OK}Sec-WebSocket-Extensions: {answer}\r\n\r\n")),
            );
            assert_eq!(failed(&checks), [ResponseCheckId::Extensions], "{answer}");
            let line = crate::i18n::response_check_line(crate::i18n::Lang::En, &checks[4]);
            assert!(line.contains(why), "{line}");
            assert!(line.contains(answer), "{line}");
            let zh = crate::i18n::response_check_line(crate::i18n::Lang::Zh, &checks[4]);
            assert!(zh.contains("RFC 7692 §7.1"), "{zh}");
        }
        // No offer: the answer names an extension we did not offer.
        let checks = check_response(
            &request(""),
            &response(&format!(
                "{OK}Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
            )),
        );
        assert_eq!(failed(&checks), [ResponseCheckId::Extensions]);
        assert_eq!(checks[4].detail, Found::Value("permessage-deflate".into()));
        // A valid answer to Chromium's offer passes.
        let checks = check_response(
            &request(chromium),
            &response(&format!(
                "{OK}Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; client_max_window_bits=12\r\n\r\n"
            )),
        );
        assert!(failed(&checks).is_empty(), "{checks:?}");
    }

    /// A refusal is judged by its status only.
    #[test]
    fn a_non_101_answer_has_only_the_status_check() {
        let checks = check_response(
            &request(""),
            &response("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
        );
        assert_eq!(checks.len(), 1);
        assert_eq!(failed(&checks), [ResponseCheckId::Status]);
        assert_eq!(checks[0].detail, Found::Value("403".into()));
    }

    /// The request we build parses as a valid upgrade (every §4.2.1 rule passes) and carries
    /// what was asked for.
    #[test]
    fn a_built_request_passes_the_servers_checks() {
        let spec = RequestSpec {
            resource: "/chat?x=1".into(),
            host: "[::1]:8765".into(),
            key: fresh_key(),
            protocols: vec!["chat".into(), "superchat".into()],
            extensions: vec![],
            origin: Some("http://example.com".into()),
            headers: vec![("X-Test".into(), "1".into())],
        };
        let raw = build_request(&spec);
        let Ok(Parsed::Complete(req)) = parse_request(&raw, &HandshakeLimits::default()) else {
            panic!("does not parse");
        };
        assert_eq!(req.raw.len(), raw.len());
        assert_eq!(req.path, "/chat?x=1");
        let checks = crate::protocol::handshake::check_request(&req);
        assert!(
            checks.iter().all(|c| c.outcome != Outcome::Fail),
            "{checks:?}"
        );
        assert_eq!(req.tokens("Sec-WebSocket-Protocol"), ["chat", "superchat"]);
        assert_eq!(req.single("Host").as_deref(), Some("[::1]:8765"));
        assert_eq!(req.single("X-Test").as_deref(), Some("1"));
        assert_ne!(fresh_key(), fresh_key());
    }
}
