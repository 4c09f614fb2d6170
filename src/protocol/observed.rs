//! The handshake as observed, not answered: a real server's response head read from a capture,
//! parsed and judged against the request it answers (the accept value checked against the key,
//! §4.1), with the same types as the handshakes wsscope's own server makes.

use super::accept::AcceptDerivation;
use super::client::check_response;
use super::handshake::{
    check_request, head_len, headers_of, Handshake, HandshakeError, HandshakeLimits, Header,
    Outcome, Request, Response,
};

/// A Sec-WebSocket-Accept seen in a real server's 101, checked against the key (§4.1: the
/// client MUST fail the connection when it is missing or not the key's derivation).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AcceptCheck {
    /// The value as sent (several fields joined with ", "), or `None` when there was none.
    pub sent: Option<String>,
    /// Whether `sent` is exactly the accept derived from the request's key.
    pub matches: bool,
}

/// A complete response head seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The exact bytes of the head, through the blank line.
    pub raw: Vec<u8>,
    /// The status code.
    pub status: u16,
    /// Header fields in order.
    pub headers: Vec<Header>,
}

impl ResponseHead {
    /// Values of every field named `name` (case-insensitive), trimmed, joined with ", ".
    pub fn joined(&self, name: &str) -> Option<String> {
        let v: Vec<String> = self
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(&h.value).trim().to_string())
            .collect();
        (!v.is_empty()).then(|| v.join(", "))
    }
}

/// Parses a response head from the start of `buf` (a server's answer read from a capture):
/// `Ok(None)` while it is incomplete.
pub fn parse_response(
    buf: &[u8],
    limits: &HandshakeLimits,
) -> Result<Option<ResponseHead>, HandshakeError> {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut res = httparse::Response::new(&mut headers);
    let Some(head_len) = head_len(res.parse(buf), buf.len(), limits)? else {
        return Ok(None);
    };
    Ok(Some(ResponseHead {
        raw: buf[..head_len].to_vec(),
        status: res.code.unwrap_or_default(),
        headers: headers_of(res.headers),
    }))
}

/// A handshake seen on the wire: the request judged by §4.2.1 as wsscope's server would, and
/// the real server's response as it was sent, its accept value checked against the key.
pub fn observed(request: Request, response: ResponseHead) -> Handshake {
    let checks = check_request(&request);
    let derivation = request
        .single("Sec-WebSocket-Key")
        .map(|k| AcceptDerivation::new(&k));
    let failed = checks
        .iter()
        .filter(|c| c.outcome == Outcome::Fail)
        .map(|c| c.id)
        .collect();
    let accept_check = (response.status == 101).then(|| {
        let sent = response.joined("Sec-WebSocket-Accept");
        let matches = matches!((&sent, &derivation), (Some(s), Some(d)) if *s == d.accept);
        AcceptCheck { sent, matches }
    });
    let client_checks = check_response(&request, &response);
    Handshake {
        request,
        checks,
        derivation,
        response: Response {
            client_checks,
            status: response.status,
            subprotocol: response.joined("Sec-WebSocket-Protocol"),
            raw: response.raw,
            failed,
            accept_check,
        },
    }
}
