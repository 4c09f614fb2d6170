//! The opening handshake, server side: parse the upgrade request (§4.1), check every rule of
//! §4.2.1 by name, and build the answer (§4.2.2: 101; §4.4: 426; 403 for an Origin or Host the
//! server's policy does not allow; otherwise 400 or 431).

use std::fmt;
use std::net::IpAddr;

use super::accept::{AcceptDerivation, KeyCheck};
pub use super::client::{ResponseCheck, ResponseCheckId};
pub use super::observed::{observed, parse_response, AcceptCheck, ResponseHead};

/// Base of the links shown next to each check.
pub const RFC_URL: &str = "https://www.rfc-editor.org/rfc/rfc6455";

/// Bounds on the request head, answered with 431 when exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeLimits {
    /// Largest request head (request line + headers + blank line), in bytes.
    pub max_bytes: usize,
    /// Most header fields.
    pub max_headers: usize,
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024,
            max_headers: 64,
        }
    }
}

/// One header field, in the order received. The value is kept as bytes: HTTP allows obs-text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    /// The name as sent (case preserved).
    pub name: String,
    /// The raw value.
    #[serde(with = "super::serde_repr::vec")]
    pub value: Vec<u8>,
}

/// A complete request head.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Request {
    /// The exact bytes of the head, through the blank line.
    #[serde(with = "super::serde_repr::vec")]
    pub raw: Vec<u8>,
    /// The method (`GET`).
    pub method: String,
    /// The request target (any path is accepted; the seed client uses `/ws`).
    pub path: String,
    /// Minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// Header fields in order.
    pub headers: Vec<Header>,
}

/// Result of feeding bytes to [`parse_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet: read more. A normal answer, not an error.
    Partial,
    /// The head is complete; bytes after `request.raw.len()` belong to the WebSocket stream.
    Complete(Request),
}

/// Why a request could not even be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The head is longer than the limit.
    #[error("request head larger than {limit} bytes")]
    TooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// More header fields than the limit.
    #[error("more than {limit} header fields")]
    TooManyHeaders {
        /// The limit in force.
        limit: usize,
    },
    /// Not parseable as an HTTP/1.x request. The text is httparse's own words for what it could
    /// not parse: shown as data (like a header value), not a sentence of wsscope's to translate.
    #[error("malformed HTTP request: {0}")]
    Malformed(String),
}

impl HandshakeError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge { .. } | Self::TooManyHeaders { .. } => 431,
            Self::Malformed(_) => 400,
        }
    }

    /// The full response bytes, with the reason in the body.
    pub fn response(&self) -> Vec<u8> {
        error_response(self.status(), &[], &format!("{self}\n"))
    }
}

/// The length of a head httparse found complete (`None`: more bytes are needed), or the limit
/// it broke, for a request and a response alike.
pub(super) fn head_len(
    parsed: httparse::Result<usize>,
    buffered: usize,
    limits: &HandshakeLimits,
) -> Result<Option<usize>, HandshakeError> {
    let too_large = HandshakeError::TooLarge {
        limit: limits.max_bytes,
    };
    match parsed {
        Ok(httparse::Status::Partial) if buffered >= limits.max_bytes => Err(too_large),
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(n)) if n > limits.max_bytes => Err(too_large),
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::TooManyHeaders {
            limit: limits.max_headers,
        }),
        Err(e) => Err(HandshakeError::Malformed(e.to_string())),
    }
}

/// httparse's header fields as owned [`Header`]s, in order.
pub(super) fn headers_of(fields: &[httparse::Header<'_>]) -> Vec<Header> {
    fields
        .iter()
        .map(|h| Header {
            name: h.name.to_string(),
            value: h.value.to_vec(),
        })
        .collect()
}

/// Parses a request head from the start of `buf`.
pub fn parse_request(buf: &[u8], limits: &HandshakeLimits) -> Result<Parsed, HandshakeError> {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut headers);
    let Some(head_len) = head_len(req.parse(buf), buf.len(), limits)? else {
        return Ok(Parsed::Partial);
    };
    Ok(Parsed::Complete(Request {
        raw: buf[..head_len].to_vec(),
        method: req.method.unwrap_or_default().to_string(),
        path: req.path.unwrap_or_default().to_string(),
        version: req.version.unwrap_or_default(),
        headers: headers_of(req.headers),
    }))
}

impl Request {
    /// Values of every field named `name` (case-insensitive), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// The single value of `name` as trimmed text, when present exactly once.
    pub fn single(&self, name: &str) -> Option<String> {
        let mut it = self.values(name);
        let first = it.next()?;
        if it.next().is_some() {
            return None;
        }
        Some(String::from_utf8_lossy(first).trim().to_string())
    }

    /// Comma-separated tokens across every field named `name`, trimmed, empty ones skipped.
    pub fn tokens(&self, name: &str) -> Vec<String> {
        self.values(name)
            .flat_map(|v| {
                String::from_utf8_lossy(v)
                    .split(',')
                    .map(|t| t.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Whether the request asks for a WebSocket upgrade at all (an `Upgrade` field naming it).
    pub fn wants_websocket(&self) -> bool {
        self.tokens("Upgrade")
            .iter()
            .any(|t| t.eq_ignore_ascii_case("websocket"))
    }
}

/// The rules of §4.2.1, one per item, plus the optional fields shown for information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckId {
    /// Item 1: the method is GET.
    Method,
    /// Item 1: HTTP/1.1 or higher.
    HttpVersion,
    /// Item 2: a Host field.
    Host,
    /// Item 3: Upgrade contains "websocket" (case-insensitive).
    Upgrade,
    /// Item 4: Connection contains the "Upgrade" token.
    Connection,
    /// Item 5: Sec-WebSocket-Key, once, base64 of 16 bytes.
    Key,
    /// Item 6: Sec-WebSocket-Version is 13.
    Version,
    /// Item 7 (optional): Origin, for browser clients.
    Origin,
    /// Item 8 (optional): Sec-WebSocket-Protocol.
    Protocol,
    /// Item 9 (optional): Sec-WebSocket-Extensions.
    Extensions,
}

impl CheckId {
    /// Every check, in RFC order.
    pub const ALL: [CheckId; 10] = [
        CheckId::Method,
        CheckId::HttpVersion,
        CheckId::Host,
        CheckId::Upgrade,
        CheckId::Connection,
        CheckId::Key,
        CheckId::Version,
        CheckId::Origin,
        CheckId::Protocol,
        CheckId::Extensions,
    ];

    /// The item number within §4.2.1.
    pub fn item(self) -> u8 {
        match self {
            Self::Method | Self::HttpVersion => 1,
            Self::Host => 2,
            Self::Upgrade => 3,
            Self::Connection => 4,
            Self::Key => 5,
            Self::Version => 6,
            Self::Origin => 7,
            Self::Protocol => 8,
            Self::Extensions => 9,
        }
    }

    /// The section, for display (`"4.2.1"`).
    pub fn section(self) -> &'static str {
        "4.2.1"
    }

    /// Link to the section.
    pub fn url(self) -> String {
        format!("{RFC_URL}#section-4.2.1")
    }

    /// The rule in a few words.
    pub fn rule(self) -> &'static str {
        match self {
            Self::Method => "method is GET",
            Self::HttpVersion => "HTTP/1.1 or higher",
            Self::Host => "Host header present (once)",
            Self::Upgrade => "Upgrade contains \"websocket\" (case-insensitive)",
            Self::Connection => "Connection contains the \"Upgrade\" token",
            Self::Key => "Sec-WebSocket-Key present once, base64 of 16 bytes",
            Self::Version => "Sec-WebSocket-Version is 13",
            Self::Origin => "Origin (optional; sent by browsers)",
            Self::Protocol => "Sec-WebSocket-Protocol (optional subprotocols)",
            Self::Extensions => "Sec-WebSocket-Extensions (optional)",
        }
    }
}

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The rule holds.
    Pass,
    /// The rule is broken: the handshake fails.
    Fail,
    /// An optional field, shown for information.
    Info,
}

/// What a check found: the value as sent (data, never translated), or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    /// The value (several fields of the same name joined with ", "; the HTTP version as
    /// `HTTP/1.x`).
    Value(String),
    /// A required field that was not sent.
    Missing,
    /// A field sent with an empty value.
    Empty,
    /// A field that must appear once, sent this many times.
    Repeated(usize),
    /// An optional field that was not sent.
    Absent,
    /// A Sec-WebSocket-Key that is not base64 of 16 bytes.
    BadKey {
        /// The key as sent (trimmed).
        key: String,
        /// What is wrong with it.
        why: KeyCheck,
    },
    /// A 101's Sec-WebSocket-Extensions whose permessage-deflate answer a client cannot accept
    /// (RFC 7692 §7.1).
    BadExtension {
        /// The field's value as sent.
        value: String,
        /// What is wrong with it.
        why: super::deflate::AnswerProblem,
    },
}

/// English, for the 400 answer's body (HTTP bytes on the wire, the same for every client).
/// Screens say it with `i18n::check_found`, in their language.
impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(v) => write!(f, "{v}"),
            Self::Missing => write!(f, "missing"),
            Self::Empty => write!(f, "empty"),
            Self::Repeated(n) => write!(f, "sent {n} times"),
            Self::Absent => write!(f, "absent"),
            Self::BadKey { key, why } => write!(f, "{key}: {why}"),
            Self::BadExtension { value, why } => write!(
                f,
                "{value}: {}",
                crate::i18n::answer_problem(crate::i18n::Lang::En, why)
            ),
        }
    }
}

/// One checked rule with what was found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Check {
    /// Which rule.
    pub id: CheckId,
    /// Pass, fail or information.
    pub outcome: Outcome,
    /// What was found (the value, or why there is none).
    pub detail: Found,
}

/// English, for the 400 answer's body (see [`Found`]'s `Display`).
impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Info => "info",
        };
        write!(
            f,
            "[{mark}] §{} item {}: {} — {}",
            self.id.section(),
            self.id.item(),
            self.id.rule(),
            self.detail
        )
    }
}

fn check(id: CheckId, ok: bool, detail: Found) -> Check {
    Check {
        id,
        outcome: if ok { Outcome::Pass } else { Outcome::Fail },
        detail,
    }
}

fn info(id: CheckId, value: Option<String>) -> Check {
    Check {
        id,
        outcome: Outcome::Info,
        detail: value.map_or(Found::Absent, Found::Value),
    }
}

fn joined(req: &Request, name: &str) -> Option<String> {
    let v: Vec<String> = req
        .values(name)
        .map(|v| String::from_utf8_lossy(v).trim().to_string())
        .collect();
    (!v.is_empty()).then(|| v.join(", "))
}

/// Checks every rule of §4.2.1, in RFC order, with no Origin or Host policy.
pub fn check_request(req: &Request) -> Vec<Check> {
    check_request_with(req, &ServerPolicy::default())
}

/// Checks every rule of §4.2.1, in RFC order; the Host and Origin checks also apply `policy`.
pub fn check_request_with(req: &Request, policy: &ServerPolicy) -> Vec<Check> {
    let mut checks = Vec::with_capacity(CheckId::ALL.len());
    // §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    checks.push(check(
        CheckId::Method,
        req.method == "GET",
        Found::Value(req.method.clone()),
    ));
    checks.push(check(
        CheckId::HttpVersion,
        req.version >= 1,
        Found::Value(format!("HTTP/1.{}", req.version)),
    ));
    // Item 2: a |Host| header field.
    let hosts: Vec<&[u8]> = req.values("Host").collect();
    checks.push(match hosts.as_slice() {
        [] => check(CheckId::Host, false, Found::Missing),
        [h] if h.iter().all(u8::is_ascii_whitespace) => check(CheckId::Host, false, Found::Empty),
        [h] => {
            let host = String::from_utf8_lossy(h).trim().to_string();
            // §4.2.2 item 1: the server may refuse a host it does not answer for (403 below).
            check(
                CheckId::Host,
                policy.hosts.allows(Some(&host)),
                Found::Value(host),
            )
        }
        _ => check(CheckId::Host, false, Found::Repeated(hosts.len())),
    });
    // Item 3: |Upgrade| containing "websocket", an ASCII case-insensitive value.
    checks.push(match joined(req, "Upgrade") {
        None => check(CheckId::Upgrade, false, Found::Missing),
        Some(v) => check(CheckId::Upgrade, req.wants_websocket(), Found::Value(v)),
    });
    // Item 4: |Connection| that includes the token "Upgrade", case-insensitive.
    checks.push(match joined(req, "Connection") {
        None => check(CheckId::Connection, false, Found::Missing),
        Some(v) => {
            let ok = req
                .tokens("Connection")
                .iter()
                .any(|t| t.eq_ignore_ascii_case("upgrade"));
            check(CheckId::Connection, ok, Found::Value(v))
        }
    });
    // Item 5: |Sec-WebSocket-Key|, base64 of a 16-byte value, exactly once.
    let keys: Vec<&[u8]> = req.values("Sec-WebSocket-Key").collect();
    checks.push(match keys.as_slice() {
        [] => check(CheckId::Key, false, Found::Missing),
        [k] => {
            let key = String::from_utf8_lossy(k).trim().to_string();
            match KeyCheck::of(&key) {
                KeyCheck::Valid => check(CheckId::Key, true, Found::Value(key)),
                why => check(CheckId::Key, false, Found::BadKey { key, why }),
            }
        }
        _ => check(CheckId::Key, false, Found::Repeated(keys.len())),
    });
    // Item 6: |Sec-WebSocket-Version| whose value MUST be 13.
    checks.push(match joined(req, "Sec-WebSocket-Version") {
        None => check(CheckId::Version, false, Found::Missing),
        Some(v) => check(CheckId::Version, v == "13", Found::Value(v)),
    });
    // Item 7 (§10.2): the Origin of a browser page, checked when the server restricts it. No
    // Origin means no browser page sent it: the policy has nothing to say.
    checks.push(match (&policy.origins, joined(req, "Origin")) {
        (OriginPolicy::List(_), Some(o)) => check(
            CheckId::Origin,
            policy.origins.allows(Some(&o)),
            Found::Value(o),
        ),
        (_, o) => info(CheckId::Origin, o),
    });
    checks.push(info(
        CheckId::Protocol,
        joined(req, "Sec-WebSocket-Protocol"),
    ));
    checks.push(info(
        CheckId::Extensions,
        joined(req, "Sec-WebSocket-Extensions"),
    ));
    checks
}

/// What the server is willing to agree to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPolicy {
    /// Subprotocols, in the server's order; the first one the client offers that is in this list
    /// is chosen.
    pub protocols: Vec<String>,
    /// Which browser pages may connect, by Origin (403 otherwise).
    pub origins: OriginPolicy,
    /// Which Host names the server answers for (403 otherwise).
    pub hosts: HostPolicy,
    /// Agree to permessage-deflate (RFC 7692) when offered. Off by default here, so an answer
    /// built by code that does not compress (a proxy leg, a test) never promises it; the
    /// server turns it on from its config.
    pub deflate: bool,
}

impl Default for ServerPolicy {
    /// `chat` and `superchat`, so the RFC's (and the seed's) example gets `chat`; any Origin and
    /// any Host.
    fn default() -> Self {
        Self {
            protocols: vec!["chat".to_string(), "superchat".to_string()],
            origins: OriginPolicy::Any,
            hosts: HostPolicy::Any,
            deflate: false,
        }
    }
}

/// Which web pages may open a WebSocket, by the Origin their browser sends (§10.2: a server
/// that does not want every page's scripts to connect checks it, and §4.2.2 lets it answer 403).
/// A request without Origin did not come from a browser page and is not judged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OriginPolicy {
    /// Any origin (`*`).
    #[default]
    Any,
    /// Only these origins (`http://localhost:8765`, `null`), compared whole, ignoring ASCII case.
    List(Vec<String>),
}

impl OriginPolicy {
    /// `*`, or origins separated by commas. `Err` carries the entry that is not an origin.
    pub fn parse(list: &str) -> Result<Self, String> {
        let entries: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.is_empty() || entries.contains(&"*") {
            return Ok(Self::Any);
        }
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            // An origin is scheme://host[:port], with no path (RFC 6454 §6.2), or "null".
            let e = e.strip_suffix('/').unwrap_or(e);
            let ok = e == "null"
                || e.split_once("://").is_some_and(|(scheme, rest)| {
                    !scheme.is_empty() && !rest.is_empty() && !rest.contains('/')
                });
            if !ok {
                return Err(e.to_string());
            }
            out.push(e.to_string());
        }
        Ok(Self::List(out))
    }

    /// Whether `origin` (the Origin field's value, `None` when absent) may connect.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        match (self, origin) {
            (Self::Any, _) | (_, None) => true,
            (Self::List(list), Some(o)) => list.iter().any(|a| a.eq_ignore_ascii_case(o.trim())),
        }
    }
}

/// The policy as typed on the command line: `*` or the origins joined with commas.
impl fmt::Display for OriginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => write!(f, "*"),
            Self::List(list) => write!(f, "{}", list.join(",")),
        }
    }
}

/// Which Host names the server answers for. A page on `http://evil.example` whose name the
/// attacker re-points at 127.0.0.1 (DNS rebinding) reaches a loopback server with
/// `Host: evil.example`: a server that answers only its own names refuses it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HostPolicy {
    /// Any Host (`all`).
    #[default]
    Any,
    /// Loopback names and addresses only: `localhost`, `*.localhost`, 127.0.0.0/8, `[::1]`.
    Loopback,
    /// Like webpack-dev-server's `allowedHosts`: these names (`.example.com` is that name and
    /// every name under it), plus loopback names and any IP address (an address cannot be
    /// re-pointed).
    List(Vec<String>),
}

impl HostPolicy {
    /// `all`, or names separated by commas (`.example.com` for a name and its subdomains).
    /// `Err` carries the entry that is not a host name.
    pub fn parse(list: &str) -> Result<Self, String> {
        let entries: Vec<String> = list
            .split(',')
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        if entries.iter().any(|e| e == "all") {
            return Ok(Self::Any);
        }
        if entries.is_empty() {
            return Err(list.to_string());
        }
        for e in &entries {
            let name = e.strip_prefix('.').unwrap_or(e);
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._:[]".contains(c));
            if !ok {
                return Err(e.clone());
            }
        }
        Ok(Self::List(entries))
    }

    /// Whether a request with this Host value (`None` when absent) is answered. Without a
    /// Host no browser sent it (browsers always send one): only the handshake's own rule
    /// (§4.2.1 item 2) judges that.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(host) = host else {
            return true;
        };
        let name = host_name(host);
        match self {
            Self::Any => true,
            Self::Loopback => is_loopback_host(&name),
            Self::List(list) => {
                is_loopback_host(&name)
                    || name.parse::<IpAddr>().is_ok()
                    || list.iter().any(|a| match a.strip_prefix('.') {
                        Some(suffix) => name == suffix || name.ends_with(a.as_str()),
                        None => name == *a,
                    })
            }
        }
    }

    /// Why a request with this Host is refused (English: the body of the 403 on the wire).
    pub fn refusal(&self, host: &str) -> String {
        match self {
            Self::List(list) => format!(
                "Host {host} is not allowed: this server answers loopback names, IP addresses and {} (--allowed-hosts; a guard against DNS rebinding)\n",
                list.join(", ")
            ),
            _ => format!(
                "Host {host} is not allowed: bound to loopback, this server answers only localhost, *.localhost, 127.0.0.0/8 and [::1] (--allowed-hosts to add names; a guard against DNS rebinding)\n"
            ),
        }
    }
}

/// The policy as typed on the command line (`all`, or the names; loopback has no spelling).
impl fmt::Display for HostPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => write!(f, "all"),
            Self::Loopback => write!(f, "localhost,*.localhost,127.0.0.0/8,[::1]"),
            Self::List(list) => write!(f, "{}", list.join(",")),
        }
    }
}

/// The name (or address) in a Host value: no port, no brackets, lower case, no final dot.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        rest.split_once(']').map_or(rest, |(addr, _)| addr)
    } else {
        match host.rsplit_once(':') {
            // name:port (a bare IPv6 address is not a valid Host: it needs brackets)
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `localhost`, a name under `.localhost` (RFC 6761 §6.3: they resolve to loopback), or a
/// loopback address.
fn is_loopback_host(name: &str) -> bool {
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.is_loopback(),
        Ok(IpAddr::V6(a)) => {
            a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// The server's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Response {
    /// 101, 400, 426 (or 431 from [`HandshakeError`]).
    pub status: u16,
    /// The exact response bytes.
    #[serde(with = "super::serde_repr::vec")]
    pub raw: Vec<u8>,
    /// The chosen subprotocol, on 101.
    pub subprotocol: Option<String>,
    /// The rules the request broke, in RFC order: why it was refused (empty on 101). The
    /// renderers say it in the reader's language, with the checks' details.
    pub failed: Vec<CheckId>,
    /// For a response seen on the wire (a capture file), its Sec-WebSocket-Accept checked
    /// against the request's key; `None` for a response wsscope built itself.
    #[serde(default)]
    pub accept_check: Option<AcceptCheck>,
    /// The response judged as a client must judge it (§4.1), for a response wsscope's client
    /// received or a capture file showed; empty for a response wsscope's server built.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_checks: Vec<ResponseCheck>,
}

/// A request, its checks, the derivation (when a key was sent) and the answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Handshake {
    /// What the client sent.
    pub request: Request,
    /// Every §4.2.1 rule, judged.
    pub checks: Vec<Check>,
    /// The accept derivation for the key sent, if there was exactly one key.
    pub derivation: Option<AcceptDerivation>,
    /// What the server answers.
    pub response: Response,
}

impl Handshake {
    /// Whether the connection switched to WebSocket.
    pub fn accepted(&self) -> bool {
        self.response.status == 101
    }

    /// The first §4.1 rule a 101 answer broke: the client fails the connection for it.
    pub fn client_failure(&self) -> Option<&ResponseCheck> {
        if !self.accepted() {
            return None;
        }
        self.response
            .client_checks
            .iter()
            .find(|c| c.outcome == Outcome::Fail)
    }
}

/// Checks `request` and builds the server's answer.
pub fn answer(request: Request, policy: &ServerPolicy) -> Handshake {
    let checks = check_request_with(&request, policy);
    let derivation = request
        .single("Sec-WebSocket-Key")
        .map(|k| AcceptDerivation::new(&k));
    let failed: Vec<&Check> = checks
        .iter()
        .filter(|c| c.outcome == Outcome::Fail)
        .collect();
    let response = match failed.as_slice() {
        [] => {
            let offered = request.tokens("Sec-WebSocket-Protocol");
            // §4.2.2 item 5.5: the server selects one of the client's values, or none.
            let subprotocol = offered
                .iter()
                .find(|p| policy.protocols.iter().any(|s| s == *p))
                .cloned();
            let accept = derivation
                .as_ref()
                .map(|d| d.accept.clone())
                .unwrap_or_default();
            let mut head = String::from(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
            );
            head.push_str(&format!("Sec-WebSocket-Accept: {accept}\r\n"));
            if let Some(p) = &subprotocol {
                head.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
            }
            // RFC 7692 §5: the server accepts one permessage-deflate offer, or none, and says
            // which parameters it agreed to; `deflate::agreed` reads them back from these bytes.
            if let Some(d) = policy
                .deflate
                .then(|| super::deflate::negotiate(&request))
                .flatten()
            {
                head.push_str(&format!(
                    "Sec-WebSocket-Extensions: {}\r\n",
                    d.response_value()
                ));
            }
            head.push_str("\r\n");
            Response {
                status: 101,
                raw: head.into_bytes(),
                subprotocol,
                failed: Vec::new(),
                accept_check: None,
                client_checks: Vec::new(),
            }
        }
        // The request is a valid upgrade, but from a Host or Origin the policy refuses:
        // §4.2.2 item 4 "If the server does not wish to accept this connection, it MUST return
        // an appropriate HTTP error code (e.g., 403 Forbidden)".
        f if f.iter().all(|c| policy_check(c)) => {
            let mut body = String::from("WebSocket handshake refused (403):\n");
            for c in f {
                let value = c.detail.to_string();
                if c.id == CheckId::Host {
                    body.push_str(&policy.hosts.refusal(&value));
                } else {
                    body.push_str(&format!(
                        "Origin {value} is not allowed: this server accepts web pages from {} only (--allowed-origins)\n",
                        policy.origins
                    ));
                }
            }
            Response {
                status: 403,
                raw: error_response(403, &[], &body),
                subprotocol: None,
                failed: f.iter().map(|c| c.id).collect(),
                accept_check: None,
                client_checks: Vec::new(),
            }
        }
        // §4.4: an unsupported version is answered 426 with the versions the server speaks.
        [only] if only.id == CheckId::Version => {
            // The body is HTTP on the wire, in English for every client.
            let body = format!(
                "unsupported Sec-WebSocket-Version {}; this server speaks 13\n",
                only.detail
            );
            Response {
                status: 426,
                raw: error_response(426, &[("Sec-WebSocket-Version", "13")], &body),
                subprotocol: None,
                failed: vec![only.id],
                accept_check: None,
                client_checks: Vec::new(),
            }
        }
        _ => {
            let mut body = String::from("WebSocket handshake refused:\n");
            for c in &failed {
                body.push_str(&format!("{c}\n"));
            }
            Response {
                status: 400,
                raw: error_response(400, &[], &body),
                subprotocol: None,
                failed: failed.iter().map(|c| c.id).collect(),
                accept_check: None,
                client_checks: Vec::new(),
            }
        }
    };
    Handshake {
        request,
        checks,
        derivation,
        response,
    }
}

/// Whether a failed check failed only by the server's Origin or Host policy (the request
/// itself follows §4.2.1): the Host's and Origin's checks fail on a value otherwise.
fn policy_check(c: &Check) -> bool {
    matches!(c.id, CheckId::Host | CheckId::Origin) && matches!(c.detail, Found::Value(_))
}

/// The reason phrase for the statuses this crate sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// An HTTP error response with a text body that says why, and `Connection: close`.
pub fn error_response(status: u16, extra: &[(&str, &str)], body: &str) -> Vec<u8> {
    http_response(status, extra, "text/plain; charset=utf-8", body.as_bytes())
}

/// A complete HTTP/1.1 response with `Content-Length` and `Connection: close`.
pub fn http_response(
    status: u16,
    extra: &[(&str, &str)],
    content_type: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}
