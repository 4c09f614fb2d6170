//! How bytes look in a capture file (see `docs/capture-format.md`): the serde helpers the
//! event and protocol types name in their `#[serde(with = ...)]` attributes, so the types stay
//! the one description of the format.
//!
//! - Byte strings (TCP bytes, payloads, header bytes, raw handshakes, header values) are
//!   `{"text": "..."}` when they are UTF-8 that reads as text, `{"b64": "..."}` (standard
//!   alphabet, padded) otherwise. Either form is accepted for any byte string.
//! - Short fixed-size byte arrays (a mask key, a SHA-1) are lowercase hex strings.

use std::fmt;

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap as _, Serializer};

/// Whether `s` goes out as `text`: control characters other than tab, LF and CR would each take
/// six bytes as JSON escapes (`\u0001`), so such strings go as base64 (at most 4/3 of their size),
/// which keeps a line at most about twice its payload and the text readable.
fn reads_as_text(s: &str) -> bool {
    !s.bytes()
        .any(|b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
}

/// Writes `bytes` as `{"text": ...}` or `{"b64": ...}`.
fn serialize_bytes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(1))?;
    match std::str::from_utf8(bytes) {
        Ok(text) if reads_as_text(text) => map.serialize_entry("text", text)?,
        _ => map.serialize_entry("b64", &B64(bytes))?,
    }
    map.end()
}

/// base64 written straight into the output, without an intermediate `String`.
struct B64<'a>(&'a [u8]);

impl serde::Serialize for B64<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Base64Display::new(self.0, &STANDARD))
    }
}

/// Reads `{"text": ...}` or `{"b64": ...}` (exactly one of them).
fn deserialize_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(r#"bytes as {"text": "..."} or {"b64": "..."}"#)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<u8>, A::Error> {
            let mut out = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                let bytes = match key.as_ref() {
                    "text" => map.next_value::<String>()?.into_bytes(),
                    "b64" => {
                        let b64 = map.next_value::<std::borrow::Cow<'de, str>>()?;
                        STANDARD
                            .decode(b64.as_bytes())
                            .map_err(|e| de::Error::custom(format_args!("bad base64: {e}")))?
                    }
                    other => return Err(de::Error::unknown_field(other, &["text", "b64"])),
                };
                if out.replace(bytes).is_some() {
                    return Err(de::Error::custom("bytes given twice (both text and b64?)"));
                }
            }
            out.ok_or_else(|| de::Error::missing_field("text or b64"))
        }
    }
    d.deserialize_map(V)
}

/// `#[serde(with = "crate::protocol::serde_repr::bytes")]` for `bytes::Bytes`.
pub mod bytes {
    use super::*;

    /// Writes the bytes as text or base64.
    pub fn serialize<S: Serializer>(b: &::bytes::Bytes, s: S) -> Result<S::Ok, S::Error> {
        serialize_bytes(b, s)
    }

    /// Reads text or base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<::bytes::Bytes, D::Error> {
        deserialize_bytes(d).map(::bytes::Bytes::from)
    }
}

/// `#[serde(with = "crate::protocol::serde_repr::vec")]` for `Vec<u8>`.
pub mod vec {
    use super::*;

    /// Writes the bytes as text or base64.
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        serialize_bytes(b, s)
    }

    /// Reads text or base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        deserialize_bytes(d)
    }
}

/// Lowercase hex of a fixed-size array.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Parses exactly `N` bytes of hex.
fn parse_hex<const N: usize, E: de::Error>(s: &str) -> Result<[u8; N], E> {
    let digits = s.as_bytes();
    if digits.len() != 2 * N {
        return Err(E::custom(format_args!(
            "expected {} hex digits, found {}",
            2 * N,
            digits.len()
        )));
    }
    let nibble = |c: u8| {
        (c as char)
            .to_digit(16)
            .map(|v| v as u8)
            .ok_or_else(|| E::custom(format_args!("{:?} is not a hex digit", c as char)))
    };
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Ok(out)
}

/// `#[serde(with = "crate::protocol::serde_repr::hex")]` for `[u8; N]`: `"b37a4f2c..."`.
pub mod hex {
    use super::*;

    /// Writes lowercase hex.
    pub fn serialize<S: Serializer, const N: usize>(b: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Hex(b))
    }

    /// Reads exactly `N` bytes of hex.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        parse_hex(&s)
    }
}

/// `#[serde(with = "crate::protocol::serde_repr::hex_opt")]` for `Option<[u8; N]>`: hex or
/// `null`.
pub mod hex_opt {
    use super::*;

    /// Writes lowercase hex, or `null`.
    pub fn serialize<S: Serializer, const N: usize>(
        b: &Option<[u8; N]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.collect_str(&Hex(b)),
            None => s.serialize_none(),
        }
    }

    /// Reads hex or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<Option<[u8; N]>, D::Error> {
        let s = <Option<std::borrow::Cow<'de, str>> as serde::Deserialize>::deserialize(d)?;
        s.map(|s| parse_hex(&s)).transpose()
    }
}

/// `#[serde(flatten, with = "crate::protocol::serde_repr::time")]` for an event's
/// `Duration`: `"t_us"`, whole microseconds, and `"ns"`, the nanoseconds past them (0–999,
/// left out when 0), so the time is exact and `t_us` alone is what a reader usually wants.
pub mod time {
    use std::time::Duration;

    use super::*;

    #[derive(serde::Deserialize)]
    struct Repr {
        t_us: u64,
        #[serde(default)]
        ns: u32,
    }

    /// Writes `t_us` (and `ns` when not 0).
    pub fn serialize<S: Serializer>(t: &Duration, s: S) -> Result<S::Ok, S::Error> {
        let us = u64::try_from(t.as_micros()).map_err(|_| {
            serde::ser::Error::custom(format_args!("time {t:?} is too large for t_us"))
        })?;
        let ns = t.subsec_nanos() % 1000;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("t_us", &us)?;
        if ns != 0 {
            map.serialize_entry("ns", &ns)?;
        }
        map.end()
    }

    /// Reads `t_us` and `ns`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let Repr { t_us, ns } = serde::Deserialize::deserialize(d)?;
        if ns >= 1000 {
            return Err(de::Error::custom(format_args!(
                "ns is {ns}: it counts the nanoseconds past t_us, 0 to 999"
            )));
        }
        Ok(Duration::from_micros(t_us) + Duration::from_nanos(u64::from(ns)))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct T {
        #[serde(with = "super::bytes")]
        b: ::bytes::Bytes,
        #[serde(with = "super::vec")]
        v: Vec<u8>,
        #[serde(with = "super::hex")]
        h: [u8; 4],
        #[serde(with = "super::hex_opt")]
        o: Option<[u8; 2]>,
    }

    fn json(t: &T) -> String {
        serde_json::to_string(t).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn text_when_it_reads_as_text_base64_otherwise_hex_for_keys() {
        let t = T {
            b: ::bytes::Bytes::from_static("héllo \"世界\"\n".as_bytes()),
            v: vec![0x81, 0x85, 0xff],
            h: [0x37, 0xfa, 0x21, 0x3d],
            o: None,
        };
        assert_eq!(
            json(&t),
            r#"{"b":{"text":"héllo \"世界\"\n"},"v":{"b64":"gYX/"},"h":"37fa213d","o":null}"#
        );
        // Valid UTF-8 with a control character that JSON would escape in six bytes: base64.
        let t = T {
            b: ::bytes::Bytes::from_static(b"\x01\x05"),
            v: Vec::new(),
            h: [0; 4],
            o: Some([0xab, 0xcd]),
        };
        assert_eq!(
            json(&t),
            r#"{"b":{"b64":"AQU="},"v":{"text":""},"h":"00000000","o":"abcd"}"#
        );
        let back: T = serde_json::from_str(&json(&t)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, t);
    }

    #[test]
    fn either_form_reads_and_bad_ones_say_why() {
        let ok: T = serde_json::from_str(
            r#"{"b":{"b64":"aGk="},"v":{"text":"\u0001"},"h":"00ff00FF","o":"0a0b"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&ok.b[..], b"hi");
        assert_eq!(ok.v, [1]);
        assert_eq!(ok.h, [0, 255, 0, 255]);
        for (bad, why) in [
            (
                r#"{"b":{"b64":"!!"},"v":{"text":""},"h":"00000000","o":null}"#,
                "bad base64",
            ),
            (
                r#"{"b":{"hex":"00"},"v":{"text":""},"h":"00000000","o":null}"#,
                "unknown field `hex`",
            ),
            (
                r#"{"b":{},"v":{"text":""},"h":"00000000","o":null}"#,
                "missing field `text or b64`",
            ),
            (
                r#"{"b":{"text":"a","b64":"YQ=="},"v":{"text":""},"h":"00000000","o":null}"#,
                "given twice",
            ),
            (
                r#"{"b":[1,2],"v":{"text":""},"h":"00000000","o":null}"#,
                "expected bytes as",
            ),
            (
                r#"{"b":{"text":""},"v":{"text":""},"h":"0000000","o":null}"#,
                "expected 8 hex digits",
            ),
            (
                r#"{"b":{"text":""},"v":{"text":""},"h":"0000000g","o":null}"#,
                "not a hex digit",
            ),
        ] {
            let e = serde_json::from_str::<T>(bad).err().map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains(why)),
                "{bad}: {e:?}"
            );
        }
    }
}
