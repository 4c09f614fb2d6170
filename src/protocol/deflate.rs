//! permessage-deflate (RFC 7692): the negotiation of §5 and §7.1 and the codec of §7.2.
//!
//! The server picks the first offer it can honour and answers with the agreed parameters
//! ([`negotiate`]); whoever sees the 101 (the tap, for both directions) reads the agreement back
//! from it ([`agreed`]). Each direction has its own compression context: the receiving side is an
//! [`Extension`] for the decoder ([`PerMessageDeflate`]), the sending side a [`Deflater`].

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::extension::Extension;
use super::frame::OpCode;
use super::handshake::{Handshake, Request};
use super::violation::ExtensionFailure;
use super::Role;

/// The extension's token in Sec-WebSocket-Extensions.
pub const NAME: &str = "permessage-deflate";

/// The tail a sync flush ends with, removed before sending (§7.2.1) and put back before
/// inflating (§7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The window the inflater uses: the largest, which inflates whatever window the peer used.
const MAX_WINDOW_BITS: u8 = 15;

/// Output is produced this many bytes at a time, so a bomb is stopped soon after the limit.
const INFLATE_CHUNK: usize = 64 * 1024;

/// What both ends agreed on for one connection (§7.1). `None` window bits: the default, 15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct DeflateParams {
    /// The server starts every message with an empty window (§7.1.1.1).
    pub server_no_context_takeover: bool,
    /// The client starts every message with an empty window (§7.1.1.2).
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with (§7.1.2.1), 8 to 15.
    pub server_max_window_bits: Option<u8>,
    /// The largest window the client compresses with (§7.1.2.2), 8 to 15.
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// Whether `sender` starts every message with an empty window.
    pub fn no_context_takeover(&self, sender: Role) -> bool {
        match sender {
            Role::Server => self.server_no_context_takeover,
            Role::Client => self.client_no_context_takeover,
        }
    }

    /// The window `sender` compresses with at most.
    pub fn max_window_bits(&self, sender: Role) -> u8 {
        match sender {
            Role::Server => self.server_max_window_bits,
            Role::Client => self.client_max_window_bits,
        }
        .unwrap_or(MAX_WINDOW_BITS)
    }

    /// The response's extension element, e.g. `permessage-deflate; server_no_context_takeover`.
    pub fn response_value(&self) -> String {
        let mut s = String::from(NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if let Some(b) = self.server_max_window_bits {
            s.push_str(&format!("; server_max_window_bits={b}"));
        }
        if let Some(b) = self.client_max_window_bits {
            s.push_str(&format!("; client_max_window_bits={b}"));
        }
        s
    }
}

/// One extension element of a Sec-WebSocket-Extensions value (§9.1): its token and parameters,
/// quoted values unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionElement {
    /// The extension token.
    pub name: String,
    /// Parameters in order: name and value (`None`: a parameter without a value).
    pub params: Vec<(String, Option<String>)>,
}

/// Parses the elements of Sec-WebSocket-Extensions values (§9.1), in order. An element that
/// does not follow the grammar is left out (it cannot be agreed to).
pub fn parse_extensions<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Vec<ExtensionElement> {
    let mut out = Vec::new();
    for v in values {
        let Ok(v) = std::str::from_utf8(v) else {
            continue;
        };
        for element in split_outside_quotes(v, ',') {
            if element.trim().is_empty() {
                continue;
            }
            if let Some(e) = parse_element(&element) {
                out.push(e);
            }
        }
    }
    out
}

/// Splits on `sep` where it is not inside a quoted string.
fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let (mut quoted, mut escaped) = (false, false);
    for c in s.chars() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            quoted = true;
        } else if c == sep {
            parts.push(String::new());
            continue;
        }
        if let Some(p) = parts.last_mut() {
            p.push(c);
        }
    }
    parts
}

/// An RFC 7230 token.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn parse_element(element: &str) -> Option<ExtensionElement> {
    let mut parts = split_outside_quotes(element, ';').into_iter();
    let name = parts.next()?.trim().to_string();
    if !is_token(&name) {
        return None;
    }
    let mut params = Vec::new();
    for p in parts {
        let (key, value) = match p.split_once('=') {
            Some((k, v)) => (k.trim(), Some(unquote(v.trim())?)),
            None => (p.trim(), None),
        };
        // §9.1: a parameter's value, quoted or not, conforms to the token ABNF.
        if !is_token(key) || value.as_deref().is_some_and(|v| !is_token(v)) {
            return None;
        }
        params.push((key.to_ascii_lowercase(), value));
    }
    Some(ExtensionElement {
        name: name.to_ascii_lowercase(),
        params,
    })
}

fn unquote(v: &str) -> Option<String> {
    let Some(inner) = v.strip_prefix('"') else {
        return Some(v.to_string());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out)
}

/// A window size value: `8` to `15`, no sign, no leading zero (§7.1.2.1, §7.1.2.2).
fn window_bits(v: &str) -> Option<u8> {
    if v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u8>().ok().filter(|b| (8..=15).contains(b))
}

/// Reads a permessage-deflate element's parameters as `from` sends them: an offer (from the
/// client) or a response (from the server). `None`: the element must be declined (as an offer)
/// or fails the connection (as a response), §7.1: an unknown parameter, a parameter twice, or
/// an invalid value.
pub fn params_of(e: &ExtensionElement, from: Role) -> Option<DeflateParams> {
    let mut p = DeflateParams::default();
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in &e.params {
        // §7.1: multiple parameters with the same name make the element invalid.
        if seen.contains(&key.as_str()) {
            return None;
        }
        seen.push(key);
        match (key.as_str(), value.as_deref()) {
            // §7.1.1.1, §7.1.1.2: these parameters have no value.
            ("server_no_context_takeover", None) => p.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => p.client_no_context_takeover = true,
            // §7.1.2.1: server_max_window_bits always has a value.
            ("server_max_window_bits", Some(v)) => p.server_max_window_bits = Some(window_bits(v)?),
            // §7.1.2.2: in an offer client_max_window_bits may come without a value (the
            // client supports the parameter); in a response it has one.
            ("client_max_window_bits", None) if from == Role::Client => {}
            ("client_max_window_bits", Some(v)) => p.client_max_window_bits = Some(window_bits(v)?),
            _ => return None,
        }
    }
    Some(p)
}

/// The server's choice among the client's offers: the first permessage-deflate offer it can
/// honour (§5: offers are in the client's order of preference), and the parameters to answer
/// with. `None`: no offer, or none acceptable (then the 101 names no extension).
pub fn negotiate(request: &Request) -> Option<DeflateParams> {
    parse_extensions(request.values("Sec-WebSocket-Extensions"))
        .iter()
        .filter(|e| e.name == NAME)
        .find_map(|e| params_of(e, Role::Client))
        .map(|offer| DeflateParams {
            // §7.1.1.1: a server that accepts an offer with server_no_context_takeover MUST
            // include it in the response.
            server_no_context_takeover: offer.server_no_context_takeover,
            // §7.1.1.2: the server may include it when offered; saying so shows it was heard.
            client_no_context_takeover: offer.client_no_context_takeover,
            // §7.1.2.1: accepted with a value no larger than the offered one; the same one is
            // honoured (window 8, which zlib cannot produce, by sending uncompressed).
            server_max_window_bits: offer.server_max_window_bits,
            // §7.1.2.2: the server inflates any window, so it never limits the client's.
            client_max_window_bits: None,
        })
}

/// What the 101 of `hs` agreed on, when the request offered permessage-deflate and the
/// response accepted it with parameters a client can accept ([`check_answer`]).
pub fn agreed(hs: &Handshake) -> Option<DeflateParams> {
    if !hs.accepted() {
        return None;
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    response.parse(&hs.response.raw).ok()?;
    let values = response
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
        .map(|h| h.value);
    check_answer(hs.request.values("Sec-WebSocket-Extensions"), values)
        .ok()
        .flatten()
}

/// Why a client cannot accept a server's permessage-deflate answer: it fails the connection
/// (RFC 7692 §5, §7.1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerProblem {
    /// The element does not follow the extension grammar (RFC 6455 §9.1).
    Malformed(String),
    /// A parameter not defined for a response (§7.1).
    Unknown(String),
    /// The same parameter more than once (§7.1).
    Repeated(String),
    /// A parameter with an invalid value (§7.1): window bits other than 8 to 15 (§7.1.2), a
    /// value on a parameter that has none (§7.1.1), or none where one is required (§7.1.2).
    BadValue {
        /// The parameter.
        param: String,
        /// Its value as sent (`None`: sent without one).
        value: Option<String>,
    },
    /// client_max_window_bits, when the offer did not include it (§7.1.2.2).
    NotOffered(String),
    /// permessage-deflate accepted more than once: both would claim RSV1 (§5).
    Twice,
}

/// Judges a 101's Sec-WebSocket-Extensions values against the request's offers, as a client
/// must (RFC 7692 §5, §7.1): `Ok(None)` when permessage-deflate was not agreed, the agreed
/// parameters, or why the client fails the connection. Extensions other than
/// permessage-deflate are not judged here (RFC 6455 §4.1 item 5 checks their names).
pub fn check_answer<'a>(
    offers: impl IntoIterator<Item = &'a [u8]>,
    answers: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<DeflateParams>, AnswerProblem> {
    let offers: Vec<ExtensionElement> = parse_extensions(offers)
        .into_iter()
        .filter(|e| e.name == NAME)
        .collect();
    let mut agreed = None;
    for value in answers {
        let value = String::from_utf8_lossy(value);
        for element in split_outside_quotes(&value, ',') {
            let name = element.split(';').next().unwrap_or("").trim();
            if !name.eq_ignore_ascii_case(NAME) {
                continue;
            }
            if offers.is_empty() {
                return Err(AnswerProblem::NotOffered(NAME.into()));
            }
            // §5: one PMCE claims RSV1; a second one accepted would conflict with it.
            if agreed.is_some() {
                return Err(AnswerProblem::Twice);
            }
            let Some(e) = parse_element(&element) else {
                return Err(AnswerProblem::Malformed(element.trim().to_string()));
            };
            agreed = Some(answer_params(&e, &offers)?);
        }
    }
    Ok(agreed)
}

/// One permessage-deflate response element's parameters, judged by §7.1.
fn answer_params(
    e: &ExtensionElement,
    offers: &[ExtensionElement],
) -> Result<DeflateParams, AnswerProblem> {
    let mut p = DeflateParams::default();
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in &e.params {
        // §7.1: "multiple extension parameters with the same name".
        if seen.contains(&key.as_str()) {
            return Err(AnswerProblem::Repeated(key.clone()));
        }
        seen.push(key);
        let bad = || AnswerProblem::BadValue {
            param: key.clone(),
            value: value.clone(),
        };
        match key.as_str() {
            // §7.1.1.1, §7.1.1.2: no value. A server may state either even when not offered.
            "server_no_context_takeover" | "client_no_context_takeover" => {
                if value.is_some() {
                    return Err(bad());
                }
                if key == "server_no_context_takeover" {
                    p.server_no_context_takeover = true;
                } else {
                    p.client_no_context_takeover = true;
                }
            }
            // §7.1.2.1: the server's window, 8 to 15; a client inflates any of them.
            "server_max_window_bits" => {
                p.server_max_window_bits =
                    Some(value.as_deref().and_then(window_bits).ok_or_else(bad)?);
            }
            // §7.1.2.2: in a response it has a value, and only when the offer included it.
            "client_max_window_bits" => {
                let bits = value.as_deref().and_then(window_bits).ok_or_else(bad)?;
                let offered = offers
                    .iter()
                    .any(|o| o.params.iter().any(|(k, _)| k == "client_max_window_bits"));
                if !offered {
                    return Err(AnswerProblem::NotOffered(key.clone()));
                }
                p.client_max_window_bits = Some(bits);
            }
            // §7.1: "an extension parameter not defined for use in a response".
            _ => return Err(AnswerProblem::Unknown(key.clone())),
        }
    }
    Ok(p)
}

/// Inflates one direction's messages, keeping the window between messages unless the sender
/// resets its own (no context takeover).
pub struct Inflater {
    d: Decompress,
    no_context_takeover: bool,
}

impl Inflater {
    /// An inflater for messages from a sender that does (or not) reset its window.
    pub fn new(no_context_takeover: bool) -> Self {
        Self {
            d: Decompress::new_with_window_bits(false, MAX_WINDOW_BITS),
            no_context_takeover,
        }
    }

    /// Inflates one message's payload (§7.2.2: the tail put back first). Stops as soon as the
    /// output passes `max` bytes: a deflate bomb costs at most `max` plus one chunk.
    pub fn inflate(&mut self, payload: &[u8], max: u64) -> Result<Vec<u8>, ExtensionFailure> {
        let r = self.inflate_inner(payload, max);
        if r.is_err() || self.no_context_takeover {
            // After an error the stream cannot go on; the connection fails anyway.
            self.d.reset(false);
        }
        r
    }

    fn inflate_inner(&mut self, payload: &[u8], max: u64) -> Result<Vec<u8>, ExtensionFailure> {
        let max_len = usize::try_from(max).unwrap_or(usize::MAX);
        let mut out: Vec<u8> = Vec::new();
        for input in [payload, &TAIL[..]] {
            let mut at = 0;
            loop {
                if out.len() == out.capacity() {
                    // One more byte than the limit is room enough to tell it was passed.
                    let room = max_len.saturating_add(1).saturating_sub(out.len());
                    out.reserve(room.clamp(1, INFLATE_CHUNK));
                }
                let (in_before, out_before) = (self.d.total_in(), self.d.total_out());
                let status = self
                    .d
                    .decompress_vec(&input[at..], &mut out, FlushDecompress::Sync)
                    .map_err(|e| ExtensionFailure::BadData(e.to_string()))?;
                at += (self.d.total_in() - in_before) as usize;
                if out.len() > max_len {
                    return Err(ExtensionFailure::TooBig { limit: max });
                }
                let progress = self.d.total_in() != in_before || self.d.total_out() != out_before;
                if status == Status::StreamEnd {
                    // §7.2.3.5: a block with BFINAL set ends the stream; what follows it is
                    // not deflate data, and the next message starts a new stream.
                    self.d.reset(false);
                    return Ok(out);
                }
                let done = at == input.len() && out.len() < out.capacity();
                if done || !progress {
                    break;
                }
            }
        }
        Ok(out)
    }
}

/// Compresses one direction's messages (§7.2.1).
pub struct Deflater {
    c: Option<Compress>,
    no_context_takeover: bool,
}

impl Deflater {
    /// A compressor for `sender` under `params`. Window 8 is valid (§7.1.2.1) but zlib cannot
    /// produce it: such a deflater sends every message uncompressed, which §6 allows.
    pub fn new(params: &DeflateParams, sender: Role) -> Self {
        let bits = params.max_window_bits(sender);
        Self {
            c: (9..=15)
                .contains(&bits)
                .then(|| Compress::new_with_window_bits(Compression::default(), false, bits)),
            no_context_takeover: params.no_context_takeover(sender),
        }
    }

    /// The payload to send for `data` and whether it is compressed (RSV1 on its first frame).
    pub fn deflate(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let Some(c) = self.c.as_mut() else {
            return (data.to_vec(), false);
        };
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let mut at = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(64));
            }
            let before = c.total_in();
            if c.compress_vec(&data[at..], &mut out, FlushCompress::Sync)
                .is_err()
            {
                // Not reachable with valid state; sending uncompressed is always allowed.
                c.reset();
                return (data.to_vec(), false);
            }
            at += (c.total_in() - before) as usize;
            // A sync flush is complete once all input is in and output room is left over.
            if at == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        // §7.2.1: remove the 4-octet tail 00 00 ff ff the sync flush ended with.
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if self.no_context_takeover {
            c.reset();
        }
        (out, true)
    }
}

/// The receiving side for the decoder: RSV1 on a message's first frame means compressed.
pub struct PerMessageDeflate {
    inflater: Inflater,
}

impl PerMessageDeflate {
    /// For messages sent by `sender` under `params`.
    pub fn new(params: &DeflateParams, sender: Role) -> Self {
        Self {
            inflater: Inflater::new(params.no_context_takeover(sender)),
        }
    }
}

impl Extension for PerMessageDeflate {
    fn name(&self) -> &str {
        NAME
    }

    fn allowed_rsv(&self, opcode: OpCode, first_fragment: bool) -> [bool; 3] {
        // §6.1: RSV1 ("Per-Message Compressed") only on the first frame of a data message;
        // never on control frames or continuation frames.
        let data = matches!(opcode, OpCode::Text | OpCode::Binary);
        [data && first_fragment, false, false]
    }

    fn decode_message(
        &mut self,
        rsv: [bool; 3],
        payload: Vec<u8>,
        max_size: u64,
    ) -> Result<Vec<u8>, ExtensionFailure> {
        if !rsv[0] {
            return Ok(payload);
        }
        self.inflater.inflate(&payload, max_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::{parse_request, HandshakeLimits, Parsed};

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap_or_default())
            .collect()
    }

    fn context_takeover() -> DeflateParams {
        DeflateParams::default()
    }

    /// §7.2.3.1: "Hello" compressed into one frame, and its payload inflated back.
    #[test]
    fn rfc_7692_7_2_3_1_hello() {
        let mut d = Deflater::new(&context_takeover(), Role::Server);
        assert_eq!(
            d.deflate(b"Hello"),
            (hex("f2 48 cd c9 c9 07 00"), true),
            "frame c1 07 f2 48 cd c9 c9 07 00"
        );
        let mut i = Inflater::new(false);
        assert_eq!(
            i.inflate(&hex("f2 48 cd c9 c9 07 00"), 100),
            Ok(b"Hello".to_vec())
        );
    }

    /// §7.2.3.2: with context takeover the second "Hello" refers back to the first and shrinks
    /// to 5 bytes; without it, it is the same 7 bytes again.
    #[test]
    fn rfc_7692_7_2_3_2_sharing_the_window() {
        let mut d = Deflater::new(&context_takeover(), Role::Server);
        assert_eq!(d.deflate(b"Hello").0, hex("f2 48 cd c9 c9 07 00"));
        assert_eq!(d.deflate(b"Hello").0, hex("f2 00 11 00 00"));
        let mut i = Inflater::new(false);
        assert_eq!(
            i.inflate(&hex("f2 48 cd c9 c9 07 00"), 100),
            Ok(b"Hello".to_vec())
        );
        assert_eq!(
            i.inflate(&hex("f2 00 11 00 00"), 100),
            Ok(b"Hello".to_vec())
        );

        let no_takeover = DeflateParams {
            server_no_context_takeover: true,
            ..DeflateParams::default()
        };
        let mut d = Deflater::new(&no_takeover, Role::Server);
        assert_eq!(d.deflate(b"Hello").0, hex("f2 48 cd c9 c9 07 00"));
        assert_eq!(d.deflate(b"Hello").0, hex("f2 48 cd c9 c9 07 00"));
        let mut i = Inflater::new(true);
        for _ in 0..2 {
            assert_eq!(
                i.inflate(&hex("f2 48 cd c9 c9 07 00"), 100),
                Ok(b"Hello".to_vec())
            );
        }
    }

    /// §7.2.3.3: "Hello" in an uncompressed (stored) block.
    #[test]
    fn rfc_7692_7_2_3_3_uncompressed_block() {
        let mut i = Inflater::new(false);
        let payload = hex("00 05 00 fa ff 48 65 6c 6c 6f 00");
        assert_eq!(i.inflate(&payload, 100), Ok(b"Hello".to_vec()));
    }

    /// §7.2.3.5: a block with BFINAL set; the stream ends there and the next message starts a
    /// new one.
    #[test]
    fn rfc_7692_7_2_3_5_bfinal() {
        let mut i = Inflater::new(false);
        assert_eq!(
            i.inflate(&hex("f3 48 cd c9 c9 07 00 00"), 100),
            Ok(b"Hello".to_vec())
        );
        assert_eq!(
            i.inflate(&hex("f2 48 cd c9 c9 07 00"), 100),
            Ok(b"Hello".to_vec())
        );
    }

    /// §7.2.3.6: an empty message compresses to a single 00 byte.
    #[test]
    fn rfc_7692_7_2_3_6_empty() {
        let mut d = Deflater::new(&context_takeover(), Role::Server);
        assert_eq!(d.deflate(b""), (vec![0x00], true));
        let mut i = Inflater::new(false);
        assert_eq!(i.inflate(&[0x00], 100), Ok(Vec::new()));
    }

    /// A window of 8 cannot be produced by zlib: such a deflater sends uncompressed.
    #[test]
    fn window_8_sends_uncompressed() {
        let p = DeflateParams {
            server_max_window_bits: Some(8),
            ..DeflateParams::default()
        };
        assert_eq!(
            Deflater::new(&p, Role::Server).deflate(b"Hello"),
            (b"Hello".to_vec(), false)
        );
        let p = DeflateParams {
            server_max_window_bits: Some(9),
            ..DeflateParams::default()
        };
        let (z, compressed) = Deflater::new(&p, Role::Server).deflate(&[b'a'; 4000]);
        assert!(compressed && z.len() < 100);
        assert_eq!(Inflater::new(false).inflate(&z, 4000), Ok(vec![b'a'; 4000]));
    }

    /// A deflate bomb: 16 MiB of zeros in a few KiB stops at the limit with TooBig, and the
    /// inflater has produced little more than the limit.
    #[test]
    fn a_deflate_bomb_is_too_big() {
        let mut d = Deflater::new(&context_takeover(), Role::Client);
        let (bomb, _) = d.deflate(&vec![0u8; 16 << 20]);
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        let mut i = Inflater::new(false);
        assert_eq!(
            i.inflate(&bomb, 1 << 20),
            Err(ExtensionFailure::TooBig { limit: 1 << 20 })
        );
        assert!(i.d.total_out() <= (1 << 20) + INFLATE_CHUNK as u64 + 1);
        // Exactly at the limit is fine.
        let mut i = Inflater::new(false);
        let mut d = Deflater::new(&context_takeover(), Role::Client);
        let (z, _) = d.deflate(&vec![7u8; 1 << 20]);
        assert_eq!(i.inflate(&z, 1 << 20).map(|v| v.len()), Ok(1 << 20));
    }

    #[test]
    fn garbage_is_bad_data() {
        let mut i = Inflater::new(false);
        assert!(matches!(
            i.inflate(&[0xff; 16], 100),
            Err(ExtensionFailure::BadData(_))
        ));
    }

    /// Round trips over many messages with shared context, both ways of resetting.
    #[test]
    fn round_trips_keep_the_context_in_step() {
        for (ours, theirs) in [(false, false), (true, true)] {
            let p = DeflateParams {
                client_no_context_takeover: ours,
                ..DeflateParams::default()
            };
            let mut d = Deflater::new(&p, Role::Client);
            let mut i = Inflater::new(theirs);
            for n in 0..50u32 {
                let msg = format!(
                    "message number {n} says hello {}",
                    "x".repeat(n as usize * 37)
                );
                let (z, c) = d.deflate(msg.as_bytes());
                assert!(c);
                assert_eq!(i.inflate(&z, 1 << 20), Ok(msg.into_bytes()));
            }
        }
    }

    fn request(extensions: &[&str]) -> Request {
        let mut raw = String::from(
            "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        );
        for e in extensions {
            raw.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
        }
        raw.push_str("\r\n");
        match parse_request(raw.as_bytes(), &HandshakeLimits::default()) {
            Ok(Parsed::Complete(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    /// Offers → what the server answers (`None`: declined).
    #[test]
    fn negotiation_table() {
        let table: &[(&[&str], Option<&str>)] = &[
            (&[], None),
            (&["x-webkit-deflate-frame"], None),
            (&["permessage-deflate"], Some("permessage-deflate")),
            (&["PerMessage-Deflate"], Some("permessage-deflate")),
            // Chromium's offer.
            (&["permessage-deflate; client_max_window_bits"], Some("permessage-deflate")),
            (
                &["permessage-deflate; client_max_window_bits=10"],
                Some("permessage-deflate"),
            ),
            (
                &["permessage-deflate; server_no_context_takeover"],
                Some("permessage-deflate; server_no_context_takeover"),
            ),
            (
                &["permessage-deflate; client_no_context_takeover"],
                Some("permessage-deflate; client_no_context_takeover"),
            ),
            (
                &["permessage-deflate; server_max_window_bits=10"],
                Some("permessage-deflate; server_max_window_bits=10"),
            ),
            (
                &["permessage-deflate; server_max_window_bits=\"12\""],
                Some("permessage-deflate; server_max_window_bits=12"),
            ),
            (
                &["permessage-deflate; server_max_window_bits=8"],
                Some("permessage-deflate; server_max_window_bits=8"),
            ),
            // Invalid values, a missing value, a value where none belongs, unknown and
            // repeated parameters: declined (§7.1).
            (&["permessage-deflate; server_max_window_bits=7"], None),
            (&["permessage-deflate; server_max_window_bits=16"], None),
            (&["permessage-deflate; server_max_window_bits=010"], None),
            (&["permessage-deflate; server_max_window_bits"], None),
            (&["permessage-deflate; client_max_window_bits=0"], None),
            (&["permessage-deflate; server_no_context_takeover=1"], None),
            (&["permessage-deflate; foo"], None),
            (
                &["permessage-deflate; client_no_context_takeover; client_no_context_takeover"],
                None,
            ),
            (
                &["permessage-deflate; server_max_window_bits=10; server_max_window_bits=11"],
                None,
            ),
            // The first acceptable offer wins, across elements and header fields.
            (
                &["permessage-deflate; foo, permessage-deflate; server_max_window_bits=11"],
                Some("permessage-deflate; server_max_window_bits=11"),
            ),
            (
                &[
                    "x-other, permessage-deflate; server_max_window_bits=99",
                    "permessage-deflate; client_no_context_takeover",
                ],
                Some("permessage-deflate; client_no_context_takeover"),
            ),
            (
                &[
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9",
                ],
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9"),
            ),
        ];
        for (offers, want) in table {
            let got = negotiate(&request(offers)).map(|p| p.response_value());
            assert_eq!(got.as_deref(), *want, "offers {offers:?}");
        }
    }

    /// A client's judgement of answers (RFC 7692 §5, §7.1), for Chromium's offer and for an
    /// offer without client_max_window_bits: the agreed parameters, or the problem.
    #[test]
    fn answer_table() {
        use AnswerProblem as P;
        type Judged = Result<Option<DeflateParams>, AnswerProblem>;
        const CHROMIUM: &str = "permessage-deflate; client_max_window_bits";
        const PLAIN: &str = "permessage-deflate";
        let bad = |param: &str, value: Option<&str>| {
            Err(P::BadValue {
                param: param.into(),
                value: value.map(Into::into),
            })
        };
        let ok = |p: DeflateParams| Ok(Some(p));
        let d = DeflateParams::default;
        let table: Vec<(&str, &[&str], Judged)> =
            vec![
            (CHROMIUM, &[], Ok(None)),
            (CHROMIUM, &["x-other"], Ok(None)),
            (CHROMIUM, &["permessage-deflate"], ok(d())),
            (CHROMIUM, &["Permessage-Deflate"], ok(d())),
            (
                CHROMIUM,
                &["permessage-deflate; client_max_window_bits=10"],
                ok(DeflateParams {
                    client_max_window_bits: Some(10),
                    ..d()
                }),
            ),
            (
                CHROMIUM,
                &["permessage-deflate; client_no_context_takeover; server_max_window_bits=\"9\""],
                ok(DeflateParams {
                    client_no_context_takeover: true,
                    server_max_window_bits: Some(9),
                    ..d()
                }),
            ),
            // §7.1.1.1: the server may state its own no-context-takeover unasked.
            (
                PLAIN,
                &["permessage-deflate; server_no_context_takeover"],
                ok(DeflateParams {
                    server_no_context_takeover: true,
                    ..d()
                }),
            ),
            // §7.1.2.1: server_max_window_bits outside 8..15, or without a value.
            (
                CHROMIUM,
                &["permessage-deflate; server_max_window_bits=16"],
                bad("server_max_window_bits", Some("16")),
            ),
            (
                CHROMIUM,
                &["permessage-deflate; server_max_window_bits=7"],
                bad("server_max_window_bits", Some("7")),
            ),
            (
                CHROMIUM,
                &["permessage-deflate; server_max_window_bits"],
                bad("server_max_window_bits", None),
            ),
            // §7.1.2.2: in an answer client_max_window_bits has a value 8..15 ...
            (
                CHROMIUM,
                &["permessage-deflate; client_max_window_bits"],
                bad("client_max_window_bits", None),
            ),
            (
                CHROMIUM,
                &["permessage-deflate; client_max_window_bits=08"],
                bad("client_max_window_bits", Some("08")),
            ),
            // ... and only when we offered it.
            (
                PLAIN,
                &["permessage-deflate; client_max_window_bits=10"],
                Err(P::NotOffered("client_max_window_bits".into())),
            ),
            // §7.1.1: the no-context-takeover parameters have no value.
            (
                CHROMIUM,
                &["permessage-deflate; client_no_context_takeover=1"],
                bad("client_no_context_takeover", Some("1")),
            ),
            // §7.1: unknown and repeated parameters.
            (
                CHROMIUM,
                &["permessage-deflate; x_window=3"],
                Err(P::Unknown("x_window".into())),
            ),
            (
                CHROMIUM,
                &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
                Err(P::Repeated("server_no_context_takeover".into())),
            ),
            // §5: accepted twice, in one field or two.
            (
                CHROMIUM,
                &["permessage-deflate, permessage-deflate"],
                Err(P::Twice),
            ),
            (
                CHROMIUM,
                &["permessage-deflate", "permessage-deflate; server_no_context_takeover"],
                Err(P::Twice),
            ),
            (
                CHROMIUM,
                &["permessage-deflate; server_max_window_bits=\"1 0\""],
                Err(P::Malformed(
                    "permessage-deflate; server_max_window_bits=\"1 0\"".into(),
                )),
            ),
            // Not offered at all (RFC 6455 §4.1 item 5 names it too).
            ("", &["permessage-deflate"], Err(P::NotOffered(NAME.into()))),
        ];
        for (offer, answers, want) in table {
            let offers: &[&[u8]] = if offer.is_empty() {
                &[]
            } else {
                &[offer.as_bytes()]
            };
            let got = check_answer(offers.iter().copied(), answers.iter().map(|a| a.as_bytes()));
            assert_eq!(got, want, "offer {offer:?}, answer {answers:?}");
        }
    }

    /// Responses parse back to the parameters they state; invalid ones do not.
    #[test]
    fn response_params() {
        let parse = |v: &str| {
            parse_extensions([v.as_bytes()])
                .first()
                .and_then(|e| params_of(e, Role::Server))
        };
        assert_eq!(
            parse("permessage-deflate; client_max_window_bits=9; server_no_context_takeover"),
            Some(DeflateParams {
                server_no_context_takeover: true,
                client_max_window_bits: Some(9),
                ..DeflateParams::default()
            })
        );
        // §7.1.2.2: in a response client_max_window_bits has a value.
        assert_eq!(parse("permessage-deflate; client_max_window_bits"), None);
    }
}

#[cfg(test)]
mod decoder_tests {
    use super::*;
    use crate::protocol::{
        CloseCode, Decoded, Decoder, DecoderConfig, Limits, Message, Rule, Violation,
    };

    fn decode(bytes: &[u8], limit: u64) -> (Vec<Violation>, Vec<Message>) {
        let mut d = Decoder::new(DecoderConfig {
            sender: Some(Role::Server),
            limits: Limits {
                max_frame_size: limit,
                max_message_size: limit,
            },
        });
        d.set_extension(Box::new(PerMessageDeflate::new(
            &DeflateParams::default(),
            Role::Server,
        )));
        let mut out = Vec::new();
        d.feed(bytes, &mut out);
        let mut violations = Vec::new();
        let mut messages = Vec::new();
        for o in out {
            match o {
                Decoded::Frame(f) => violations.extend(f.violations),
                Decoded::Message(m) => messages.push(m),
            }
        }
        (violations, messages)
    }

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap_or_default())
            .collect()
    }

    /// §7.2.3.1 and §7.2.3.2 as frames: RSV1 set, the second "Hello" 5 bytes.
    #[test]
    fn compressed_frames_decode_to_hello() {
        let (v, m) = decode(
            &hex("c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00"),
            1000,
        );
        assert!(v.is_empty(), "{v:?}");
        assert_eq!(m.len(), 2);
        assert!(m.iter().all(|m| &m.payload[..] == b"Hello"));
    }

    /// §7.2.3.4: one compressed message in two frames, RSV1 on the first only.
    #[test]
    fn rfc_7692_7_2_3_4_fragmented() {
        let (v, m) = decode(&hex("41 03 f2 48 cd 80 04 c9 c9 07 00"), 1000);
        assert!(v.is_empty(), "{v:?}");
        assert_eq!(m.len(), 1);
        assert_eq!(&m[0].payload[..], b"Hello");
        assert_eq!(m[0].frame_count, 2);
    }

    /// §6.1: RSV1 on a continuation frame or a control frame is still a violation.
    #[test]
    fn rsv1_on_continuation_or_control_is_a_violation() {
        let (v, _) = decode(&hex("41 03 f2 48 cd c0 04 c9 c9 07 00"), 1000);
        assert_eq!(v.first().map(|v| v.rule), Some(Rule::ReservedBitSet));
        let (v, _) = decode(&hex("c9 00"), 1000);
        assert_eq!(v.first().map(|v| v.rule), Some(Rule::ReservedBitSet));
        // RSV2 stays reserved.
        let (v, _) = decode(&hex("a1 01 41"), 1000);
        assert_eq!(v.first().map(|v| v.rule), Some(Rule::ReservedBitSet));
    }

    /// A message that inflates past the limit fails with 1009; bad data with 1002.
    #[test]
    fn a_bomb_closes_with_1009() {
        let mut d = Deflater::new(&DeflateParams::default(), Role::Server);
        let (bomb, _) = d.deflate(&vec![0u8; 1 << 20]);
        let mut frame = vec![0xc2, 126];
        frame.extend_from_slice(&(bomb.len() as u16).to_be_bytes());
        frame.extend_from_slice(&bomb);
        let (v, m) = decode(&frame, 64 * 1024);
        assert!(m.is_empty());
        assert_eq!(
            v.first().map(Violation::close_code),
            Some(CloseCode::TooBig)
        );
        let (v, _) = decode(&hex("c2 04 ff ff ff ff"), 1000);
        assert_eq!(v.first().map(|v| v.rule), Some(Rule::ExtensionError));
        assert_eq!(
            v.first().map(Violation::close_code),
            Some(CloseCode::Protocol)
        );
    }
}
