//! Close codes (RFC 6455 §7.4) as an infallible conversion: every `u16` maps to a value, so a code
//! seen on the wire can always be shown, even when it is one the RFC forbids.

use std::fmt;

/// A close status code as read from (or written to) the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
// In files, the number itself: every u16 converts back to the same code.
#[serde(into = "u16", from = "u16")]
pub enum CloseCode {
    /// 1000: normal closure.
    Normal,
    /// 1001: endpoint going away (server shutdown, page navigated away).
    Away,
    /// 1002: protocol error.
    Protocol,
    /// 1003: received a data type it cannot accept.
    Unsupported,
    /// 1005: no status code was present. Never sent on the wire (§7.4.1).
    NoStatus,
    /// 1006: closed abnormally, without a close frame. Never sent on the wire.
    Abnormal,
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text).
    InvalidPayload,
    /// 1008: policy violation.
    Policy,
    /// 1009: message too big to process.
    TooBig,
    /// 1010: client expected an extension the server did not negotiate.
    MandatoryExtension,
    /// 1011: server hit an unexpected condition.
    InternalError,
    /// 1012: service restart (IANA registry).
    ServiceRestart,
    /// 1013: try again later (IANA registry).
    TryAgainLater,
    /// 1014: bad gateway (IANA registry).
    BadGateway,
    /// 1015: TLS handshake failure. Never sent on the wire.
    TlsHandshake,
    /// Other codes in 1000–2999 that the RFC reserves for future use of the protocol.
    Reserved(u16),
    /// 3000–3999: registered with IANA for libraries and frameworks.
    Library(u16),
    /// 4000–4999: private use by applications.
    Private(u16),
    /// 0–999 and 5000+: not a close code at all.
    Invalid(u16),
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        match code {
            1000 => Self::Normal,
            1001 => Self::Away,
            1002 => Self::Protocol,
            1003 => Self::Unsupported,
            1005 => Self::NoStatus,
            1006 => Self::Abnormal,
            1007 => Self::InvalidPayload,
            1008 => Self::Policy,
            1009 => Self::TooBig,
            1010 => Self::MandatoryExtension,
            1011 => Self::InternalError,
            1012 => Self::ServiceRestart,
            1013 => Self::TryAgainLater,
            1014 => Self::BadGateway,
            1015 => Self::TlsHandshake,
            1004 | 1016..=2999 => Self::Reserved(code),
            3000..=3999 => Self::Library(code),
            4000..=4999 => Self::Private(code),
            _ => Self::Invalid(code),
        }
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        match code {
            CloseCode::Normal => 1000,
            CloseCode::Away => 1001,
            CloseCode::Protocol => 1002,
            CloseCode::Unsupported => 1003,
            CloseCode::NoStatus => 1005,
            CloseCode::Abnormal => 1006,
            CloseCode::InvalidPayload => 1007,
            CloseCode::Policy => 1008,
            CloseCode::TooBig => 1009,
            CloseCode::MandatoryExtension => 1010,
            CloseCode::InternalError => 1011,
            CloseCode::ServiceRestart => 1012,
            CloseCode::TryAgainLater => 1013,
            CloseCode::BadGateway => 1014,
            CloseCode::TlsHandshake => 1015,
            CloseCode::Reserved(c)
            | CloseCode::Library(c)
            | CloseCode::Private(c)
            | CloseCode::Invalid(c) => c,
        }
    }
}

impl CloseCode {
    /// The numeric value.
    pub fn code(self) -> u16 {
        self.into()
    }

    /// Whether an endpoint may put this code in a close frame.
    ///
    /// §7.4.1 and §7.4.2: 1005, 1006 and 1015 are for reporting only, 1004 and the rest of
    /// 1000–2999 are reserved, below 1000 and above 4999 are not codes. 1012–1014 were later
    /// registered with IANA and are accepted, as browsers and Autobahn do.
    pub fn is_sendable(self) -> bool {
        !matches!(
            self,
            Self::NoStatus
                | Self::Abnormal
                | Self::TlsHandshake
                | Self::Reserved(_)
                | Self::Invalid(_)
        )
    }

    /// One line saying what the code means, for people.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Normal => "normal closure",
            Self::Away => "going away",
            Self::Protocol => "protocol error",
            Self::Unsupported => "unsupported data",
            Self::NoStatus => "no status received (reporting only, never on the wire)",
            Self::Abnormal => "abnormal closure (reporting only, never on the wire)",
            Self::InvalidPayload => "invalid frame payload data",
            Self::Policy => "policy violation",
            Self::TooBig => "message too big",
            Self::MandatoryExtension => "mandatory extension missing",
            Self::InternalError => "internal server error",
            Self::ServiceRestart => "service restart",
            Self::TryAgainLater => "try again later",
            Self::BadGateway => "bad gateway",
            Self::TlsHandshake => "TLS handshake failure (reporting only, never on the wire)",
            Self::Reserved(_) => "reserved by RFC 6455 for future use (not sendable)",
            Self::Library(_) => "registered for libraries and frameworks",
            Self::Private(_) => "private use by applications",
            Self::Invalid(_) => "not a valid close code (outside 1000-4999)",
        }
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.meaning())
    }
}

/// The body of a close frame: a status code and a UTF-8 reason (§5.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosePayload {
    /// The 2-byte status code.
    pub code: CloseCode,
    /// The reason as text, or `Err(i)` with the index of the first byte that is not UTF-8.
    pub reason: Result<String, usize>,
}

/// A close body of exactly one byte: too long to be empty, too short to hold a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneByteCloseBody;

/// Parses a close frame's payload. `Ok(None)` is the empty body (no code).
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<ClosePayload>, OneByteCloseBody> {
    match payload {
        [] => Ok(None),
        [_] => Err(OneByteCloseBody),
        [hi, lo, reason @ ..] => Ok(Some(ClosePayload {
            code: CloseCode::from(u16::from_be_bytes([*hi, *lo])),
            reason: std::str::from_utf8(reason)
                .map(str::to_string)
                .map_err(|e| e.valid_up_to()),
        })),
    }
}

/// Builds a close body: the code in network byte order, then the reason.
pub fn close_payload_bytes(code: u16, reason: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 + reason.len());
    v.extend_from_slice(&code.to_be_bytes());
    v.extend_from_slice(reason.as_bytes());
    v
}
