//! The Sec-WebSocket-Accept derivation (RFC 6455 §4.2.2 item 5.4, example in §1.3), kept as data
//! so every intermediate value can be shown.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::fmt;

/// The fixed GUID every server appends to the client's key (§1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Every step from Sec-WebSocket-Key to Sec-WebSocket-Accept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AcceptDerivation {
    /// The key as the client sent it (surrounding whitespace removed, as HTTP does).
    pub key: String,
    /// `key + GUID`, the exact string that is hashed.
    pub concatenated: String,
    /// SHA-1 of `concatenated`: 20 raw bytes.
    #[serde(with = "super::serde_repr::hex")]
    pub sha1: [u8; 20],
    /// base64 of the 20 raw bytes: the Sec-WebSocket-Accept value.
    pub accept: String,
}

/// Whether a Sec-WebSocket-Key is well formed (§4.1: base64 of a 16-byte nonce).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyCheck {
    /// base64 that decodes to exactly 16 bytes.
    Valid,
    /// Not valid base64; says why.
    NotBase64(Base64Problem),
    /// Valid base64, but of this many bytes instead of 16.
    WrongLength(usize),
}

/// Why a key is not base64, as data (positions count the key's bytes from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Base64Problem {
    /// A byte outside the base64 alphabet.
    InvalidByte {
        /// Where it is.
        index: usize,
        /// The byte.
        byte: u8,
    },
    /// This many base64 characters cannot encode whole bytes.
    InvalidLength {
        /// How many characters.
        symbols: usize,
    },
    /// The last character has bits set that encode nothing (not the canonical encoding).
    InvalidLastSymbol {
        /// Where it is.
        index: usize,
        /// The byte.
        byte: u8,
    },
    /// The `=` padding is missing, misplaced or too long.
    InvalidPadding,
}

impl From<base64::DecodeError> for Base64Problem {
    fn from(e: base64::DecodeError) -> Self {
        match e {
            base64::DecodeError::InvalidByte(index, byte) => Self::InvalidByte { index, byte },
            base64::DecodeError::InvalidLength(symbols) => Self::InvalidLength { symbols },
            base64::DecodeError::InvalidLastSymbol(index, byte) => {
                Self::InvalidLastSymbol { index, byte }
            }
            base64::DecodeError::InvalidPadding => Self::InvalidPadding,
        }
    }
}

impl KeyCheck {
    /// Checks `key` (already trimmed).
    pub fn of(key: &str) -> Self {
        match STANDARD.decode(key) {
            Ok(bytes) if bytes.len() == 16 => Self::Valid,
            Ok(bytes) => Self::WrongLength(bytes.len()),
            Err(e) => Self::NotBase64(e.into()),
        }
    }
}

/// The English words of the 400 answer's body (HTTP bytes on the wire, the same for every
/// client). Screens say it with `i18n::key_check`, in their language.
impl fmt::Display for KeyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Valid => write!(f, "valid: base64 of 16 bytes"),
            Self::NotBase64(why) => write!(f, "not valid base64: {why}"),
            Self::WrongLength(n) => {
                write!(f, "base64 of {n} bytes, but the nonce must be 16 bytes")
            }
        }
    }
}

/// English, for the 400 answer's body (see [`KeyCheck`]'s `Display`).
impl fmt::Display for Base64Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::InvalidByte { index, byte } => {
                write!(f, "byte 0x{byte:02x} at position {index} is not base64")
            }
            Self::InvalidLength { symbols } => {
                write!(f, "{symbols} base64 characters cannot encode whole bytes")
            }
            Self::InvalidLastSymbol { index, byte } => write!(
                f,
                "the last character, 0x{byte:02x} at position {index}, has bits left over"
            ),
            Self::InvalidPadding => write!(f, "the '=' padding is missing or misplaced"),
        }
    }
}

impl AcceptDerivation {
    /// Derives the accept value for `key`. The server hashes the key string as sent; it does not
    /// decode it, so any string has a derivation (validity is [`KeyCheck`]'s question).
    pub fn new(key: &str) -> Self {
        let key = key.trim().to_string();
        let concatenated = format!("{key}{GUID}");
        let sha1: [u8; 20] = Sha1::digest(concatenated.as_bytes()).into();
        let accept = STANDARD.encode(sha1);
        Self {
            key,
            concatenated,
            sha1,
            accept,
        }
    }

    /// The digest as 40 lowercase hex digits (how people print it, not what is encoded).
    pub fn sha1_hex(&self) -> String {
        hex_lower(&self.sha1)
    }

    /// Whether the key itself is well formed.
    pub fn key_check(&self) -> KeyCheck {
        KeyCheck::of(&self.key)
    }

    /// Learner mistake 1: base64 of the 40-character hex text instead of the 20 raw bytes. The
    /// result is 56 characters long and no client accepts it.
    pub fn mistake_base64_of_hex(&self) -> String {
        STANDARD.encode(self.sha1_hex())
    }

    /// Learner mistake 2: base64-decoding the accept value and reading it as text. It decodes to
    /// the 20 raw SHA-1 bytes, which are not text: printable ASCII is kept, every other byte is
    /// shown as `\xNN`.
    pub fn mistake_decode_as_text(&self) -> String {
        self.sha1
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    char::from(b).to_string()
                } else {
                    format!("\\x{b:02x}")
                }
            })
            .collect()
    }
}

/// Lowercase hex of `bytes`, no separators.
pub fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
    s
}
