//! permessage-deflate (RFC 7692) in the window: what the opening handshake offered and agreed,
//! with what each parameter means for this connection, and a compressed message's bytes on the
//! wire beside the payload they carry, with the ratio and whether the message needed the ones
//! before it (the shared window).

use bytes::Bytes;
use eframe::egui::{self, RichText};
use egui::text::{LayoutJob, TextFormat};

use super::i18n::{fill, Lang};
use super::{anatomy, style};
use crate::capture::{Capture, Seq};
use crate::event::{Direction, Endpoint};
use crate::explain::hex_spaced;
use crate::protocol::deflate::{
    self, params_of, parse_extensions, DeflateParams, ExtensionElement, Inflater,
};
use crate::protocol::handshake::Handshake;
use crate::protocol::{ExtensionFailure, Role};

const RFC_7692: &str = "https://www.rfc-editor.org/rfc/rfc7692";

/// A link to RFC 7692 §`section`.
fn section_link(ui: &mut egui::Ui, section: &str) {
    ui.hyperlink_to(
        format!("§{section}"),
        format!("{RFC_7692}#section-{section}"),
    );
}

/// What the 101 made of the client's permessage-deflate offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Agreed, with these parameters, as the 101 named them.
    Agreed(DeflateParams, String),
    /// The 101 has no permessage-deflate.
    Declined(Declined),
    /// Not a 101: nothing applies.
    Refused,
    /// The 101 names it, but not validly for this request (§7.1: the client fails it).
    Invalid,
}

/// Why an offer was declined, as far as the capture tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declined {
    /// No offer was valid (§7.1: an invalid offer is declined).
    NoValidOffer,
    /// wsscope's own server answered: its switch is off.
    Ours,
    /// Another server answered (to wsscope's client, or in a file).
    Theirs,
}

/// The deflate side of one handshake: the offers as sent and the answer. `None` when neither
/// the request nor the response names permessage-deflate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeDeflate {
    /// The request's Sec-WebSocket-Extensions values, as sent.
    pub raw_offers: Vec<String>,
    /// Each element offered, with its parameters as permessage-deflate reads them (`None`:
    /// invalid, or another extension).
    pub offers: Vec<(ExtensionElement, Option<DeflateParams>)>,
    /// What the 101 said.
    pub answer: Answer,
}

/// The response's extension elements (its head parsed again: the handshake keeps it raw).
fn response_elements(hs: &Handshake) -> Vec<ExtensionElement> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    if response.parse(&hs.response.raw).is_err() {
        return Vec::new();
    }
    parse_extensions(
        response
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
            .map(|h| h.value),
    )
}

impl HandshakeDeflate {
    /// What `hs` offered and agreed; `endpoint` is which end wsscope was (it says whose switch
    /// declined an offer).
    pub fn of(hs: &Handshake, endpoint: Option<Endpoint>) -> Option<Self> {
        let raw_offers: Vec<String> = hs
            .request
            .values("Sec-WebSocket-Extensions")
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        let offers: Vec<_> = parse_extensions(hs.request.values("Sec-WebSocket-Extensions"))
            .into_iter()
            .map(|e| {
                let p = (e.name == deflate::NAME)
                    .then(|| params_of(&e, Role::Client))
                    .flatten();
                (e, p)
            })
            .collect();
        let offered = offers.iter().any(|(e, _)| e.name == deflate::NAME);
        let answered = response_elements(hs)
            .into_iter()
            .find(|e| e.name == deflate::NAME);
        if !offered && answered.is_none() {
            return None;
        }
        let answer = if !hs.accepted() {
            Answer::Refused
        } else if let Some(p) = deflate::agreed(hs) {
            Answer::Agreed(p, answered.map_or_else(String::new, |e| element_text(&e)))
        } else if answered.is_some() {
            Answer::Invalid
        } else if offers.iter().all(|(_, p)| p.is_none()) {
            Answer::Declined(Declined::NoValidOffer)
        } else if matches!(endpoint, Some(Endpoint::Server)) {
            Answer::Declined(Declined::Ours)
        } else {
            Answer::Declined(Declined::Theirs)
        };
        Some(Self {
            raw_offers,
            offers,
            answer,
        })
    }
}

/// An element as `name; param; param=value`.
fn element_text(e: &ExtensionElement) -> String {
    let mut s = e.name.clone();
    for (k, v) in &e.params {
        s.push_str("; ");
        s.push_str(k);
        if let Some(v) = v {
            s.push('=');
            s.push_str(v);
        }
    }
    s
}

/// What an offered parameter asks for, and its section.
fn offer_param_meaning(
    lang: Lang,
    key: &str,
    value: Option<&str>,
) -> (String, Option<&'static str>) {
    let t = lang.t();
    let bits = value
        .and_then(|v| v.parse::<u8>().ok())
        .filter(|b| (8..=15).contains(b));
    let window = |b: u8| 1u32 << b;
    match (key, value, bits) {
        ("server_no_context_takeover", None, _) => (t.dv_offer_snct.into(), Some("7.1.1.1")),
        ("client_no_context_takeover", None, _) => (t.dv_offer_cnct.into(), Some("7.1.1.2")),
        ("server_max_window_bits", Some(_), Some(b)) => {
            (fill(t.dv_offer_smwb, &[&b, &window(b)]), Some("7.1.2.1"))
        }
        ("client_max_window_bits", None, _) => (t.dv_offer_cmwb_bare.into(), Some("7.1.2.2")),
        ("client_max_window_bits", Some(_), Some(b)) => {
            (fill(t.dv_offer_cmwb, &[&b, &window(b)]), Some("7.1.2.2"))
        }
        _ => (t.dv_param_unknown.into(), Some("7.1")),
    }
}

/// The agreed parameters, each with its value as named in the 101 (`None`: not named) and
/// what it means for this connection, and its section.
fn agreed_rows(
    lang: Lang,
    p: &DeflateParams,
) -> Vec<(&'static str, Option<String>, String, &'static str)> {
    let t = lang.t();
    let flag = |on: bool| on.then(String::new);
    let bits = |sender: Role, b: Option<u8>, template: &str| {
        let b = b.unwrap_or(p.max_window_bits(sender));
        fill(template, &[&b, &(1u32 << b)])
    };
    vec![
        (
            "server_no_context_takeover",
            flag(p.server_no_context_takeover),
            if p.server_no_context_takeover {
                t.dv_snct_on
            } else {
                t.dv_snct_off
            }
            .into(),
            "7.1.1.1",
        ),
        (
            "client_no_context_takeover",
            flag(p.client_no_context_takeover),
            if p.client_no_context_takeover {
                t.dv_cnct_on
            } else {
                t.dv_cnct_off
            }
            .into(),
            "7.1.1.2",
        ),
        (
            "server_max_window_bits",
            p.server_max_window_bits.map(|b| b.to_string()),
            bits(Role::Server, p.server_max_window_bits, t.dv_smwb),
            "7.1.2.1",
        ),
        (
            "client_max_window_bits",
            p.client_max_window_bits.map(|b| b.to_string()),
            bits(Role::Client, p.client_max_window_bits, t.dv_cmwb),
            "7.1.2.2",
        ),
    ]
}

/// The handshake's compression section: nothing when permessage-deflate was not named.
pub fn handshake_section(
    ui: &mut egui::Ui,
    lang: Lang,
    hs: &Handshake,
    endpoint: Option<Endpoint>,
) {
    let Some(d) = HandshakeDeflate::of(hs, endpoint) else {
        return;
    };
    let t = lang.t();
    ui.add_space(6.0);
    ui.strong(t.dv_title);
    ui.horizontal_wrapped(|ui| {
        ui.label(t.dv_intro);
        section_link(ui, "5");
        section_link(ui, "6");
    });
    if !d.raw_offers.is_empty() {
        ui.label(t.dv_offer_header);
        for v in &d.raw_offers {
            ui.monospace(format!("Sec-WebSocket-Extensions: {v}"));
        }
    }
    egui::Grid::new("deflate-offers")
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            for (i, (e, p)) in d.offers.iter().enumerate() {
                ui.label(fill(t.dv_offer_n, &[&(i + 1)]));
                ui.monospace(element_text(e));
                if e.name != deflate::NAME {
                    ui.label(RichText::new(t.dv_offer_other).weak());
                } else if p.is_none() {
                    ui.colored_label(style::BAD, t.dv_offer_invalid);
                } else if e.params.is_empty() {
                    ui.label(t.dv_offer_bare);
                } else {
                    ui.label("");
                }
                ui.end_row();
                if e.name != deflate::NAME {
                    continue;
                }
                for (k, v) in &e.params {
                    let (meaning, section) = offer_param_meaning(lang, k, v.as_deref());
                    ui.label("");
                    ui.monospace(match v {
                        Some(v) => format!("{k}={v}"),
                        None => k.clone(),
                    });
                    ui.horizontal_wrapped(|ui| {
                        ui.label(meaning);
                        if let Some(s) = section {
                            section_link(ui, s);
                        }
                    });
                    ui.end_row();
                }
            }
        });
    match &d.answer {
        Answer::Agreed(p, named) => {
            ui.add_space(4.0);
            ui.label(t.dv_agreed);
            ui.monospace(format!("Sec-WebSocket-Extensions: {named}"));
            egui::Grid::new("deflate-agreed")
                .num_columns(3)
                .striped(true)
                .show(ui, |ui| {
                    for (name, value, meaning, section) in agreed_rows(lang, p) {
                        ui.monospace(name);
                        match value {
                            Some(v) if v.is_empty() => ui.label(t.dv_named),
                            Some(v) => ui.monospace(format!("= {v}")),
                            None => ui.label(RichText::new(t.dv_agreed_by_default).weak()),
                        };
                        ui.horizontal_wrapped(|ui| {
                            ui.label(meaning);
                            section_link(ui, section);
                        });
                        ui.end_row();
                    }
                });
        }
        Answer::Declined(why) => {
            ui.add_space(4.0);
            ui.colored_label(style::KEY, t.dv_declined);
            ui.label(match why {
                Declined::NoValidOffer => t.dv_declined_invalid,
                Declined::Ours => t.dv_declined_ours,
                Declined::Theirs => t.dv_declined_theirs,
            });
        }
        Answer::Refused => {
            ui.label(t.dv_refused);
        }
        Answer::Invalid => {
            ui.colored_label(style::BAD, t.dv_bad_answer);
        }
    }
}

/// Whether a message needed the messages before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    /// A fresh inflater gives the same bytes.
    StandsAlone,
    /// A fresh inflater fails (its words, as data) or gives other bytes (`None`).
    NeedsEarlier(Option<String>),
}

/// Inflates `wire` (one message's compressed bytes) with a fresh inflater and compares with
/// `inflated`, the bytes the connection's own inflater (with the shared window) produced.
pub fn context_of(wire: &[u8], inflated: &[u8]) -> Context {
    // Past the real length, the bytes are different anyway: no need to inflate further.
    let limit = inflated.len() as u64;
    match Inflater::new(true).inflate(wire, limit) {
        Ok(v) if v == inflated => Context::StandsAlone,
        Ok(_) | Err(ExtensionFailure::TooBig { .. }) => Context::NeedsEarlier(None),
        Err(ExtensionFailure::BadData(why)) => Context::NeedsEarlier(Some(why)),
    }
}

/// A compressed message, gathered from the store once per selected message.
pub struct Compressed {
    /// Who sent it.
    pub direction: Direction,
    /// The parameters of the connection, when its handshake agreed.
    pub params: Option<DeflateParams>,
    /// Its frames' payloads, one after the other (`None`: not all kept).
    pub wire: Option<Vec<u8>>,
    /// The compressed length (the frames' payload lengths).
    pub wire_len: u64,
    /// How many frames carried it.
    pub frames: usize,
    /// The inflated payload (`None`: not kept).
    pub inflated: Option<Bytes>,
    /// The inflated length.
    pub inflated_len: u64,
    /// Whether it needed earlier messages (`None`: the bytes are not all kept).
    pub context: Option<Context>,
}

impl Compressed {
    /// Message `msg` of the capture, when RSV1 is set on its first frame.
    pub fn of(capture: &Capture, msg: Seq) -> Option<Self> {
        let m = capture.message(msg)?;
        let first = capture.frame_record(*m.frames().first()?)?;
        if !first.header.rsv[0] {
            return None;
        }
        let params = capture
            .connection(m.conn)
            .and_then(|c| c.handshake.as_deref())
            .and_then(deflate::agreed);
        let mut wire_len = 0u64;
        let mut wire = Some(Vec::new());
        for &f in m.frames() {
            let Some(r) = capture.frame_record(f) else {
                wire = None;
                continue;
            };
            wire_len = wire_len.saturating_add(r.header.payload_len);
            let kept = r.payload_captured && u64::from(r.kept) == r.header.payload_len;
            match (&mut wire, kept) {
                (Some(w), true) => w.extend_from_slice(&capture.payload_prefix(r, usize::MAX)),
                _ => wire = None,
            }
        }
        let inflated = capture.message_payload(m);
        let context = match (&wire, &inflated) {
            (Some(w), Some(i)) => Some(context_of(w, i)),
            _ => None,
        };
        Some(Self {
            direction: m.direction,
            params,
            wire,
            wire_len,
            frames: m.frames().len(),
            inflated,
            inflated_len: m.len,
            context,
        })
    }

    /// "23 -> 5 bytes, 22 %": the inflated size, the size on the wire, and their ratio.
    pub fn ratio_text(&self, lang: Lang) -> String {
        let t = lang.t();
        if self.inflated_len == 0 {
            return fill(t.dv_ratio_empty, &[&self.inflated_len, &self.wire_len]);
        }
        let pct = (self.wire_len as f64 * 100.0 / self.inflated_len as f64).round();
        fill(t.dv_ratio, &[&self.inflated_len, &self.wire_len, &pct])
    }
}

/// The compressed bytes, wrapped, with the tail the sender removed shown after them, dim.
fn wire_hex(ui: &mut egui::Ui, wire: &[u8]) {
    const MAX: usize = 1024;
    let font = egui::FontId::monospace(13.0);
    let mut job = LayoutJob::default();
    job.wrap.max_width = ui.available_width();
    let mut s = hex_spaced(&wire[..wire.len().min(MAX)]);
    if wire.len() > MAX {
        s.push_str(" …");
    }
    job.append(&s, 0.0, TextFormat::simple(font.clone(), style::PAYLOAD));
    let mut tail = TextFormat::simple(font, ui.visuals().weak_text_color());
    tail.background = ui.visuals().faint_bg_color;
    job.append(" [00 00 ff ff]", 0.0, tail);
    ui.label(job);
}

/// The compressed message's section in the anatomy: the wire bytes beside the payload, the
/// ratio, and whether it used the shared window.
pub fn message_section(ui: &mut egui::Ui, lang: Lang, c: &Compressed) {
    let t = lang.t();
    ui.add_space(6.0);
    ui.separator();
    ui.strong(t.dv_msg_title);
    ui.horizontal_wrapped(|ui| {
        ui.label(t.dv_msg_intro);
        section_link(ui, "6");
    });
    ui.add_space(4.0);
    ui.label(RichText::new(c.ratio_text(lang)).strong().size(18.0));
    ui.add_space(4.0);
    ui.columns(2, |cols| {
        // Columns justify their labels (stretching monospace text): lay out from the left.
        cols[0].vertical(|ui| {
            ui.strong(fill(t.dv_wire_n, &[&c.wire_len]));
            if c.frames > 1 {
                ui.label(RichText::new(fill(t.dv_wire_frames, &[&c.frames])).small());
            }
            match &c.wire {
                Some(w) => wire_hex(ui, w),
                None => {
                    ui.label(t.dv_msg_not_kept);
                }
            }
        });
        cols[1].vertical(|ui| {
            ui.strong(fill(t.dv_inflated_n, &[&c.inflated_len]));
            match &c.inflated {
                Some(p) => anatomy::payload_view(ui, lang, p),
                None => {
                    ui.label(t.dv_msg_not_kept);
                }
            }
        });
    });
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(t.dv_tail).small());
        section_link(ui, "7.2.1");
        section_link(ui, "7.2.2");
    });
    ui.add_space(4.0);
    match &c.context {
        Some(Context::StandsAlone) => {
            ui.colored_label(style::GOOD, t.dv_alone);
        }
        Some(Context::NeedsEarlier(why)) => {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(style::KEY, t.dv_needs_earlier);
                section_link(ui, "7.1.1");
            });
            if let Some(why) = why {
                ui.label(RichText::new(fill(t.dv_fresh_said, &[why])).small().weak());
            }
        }
        None => {
            ui.label(t.dv_msg_not_kept);
        }
    }
    let sender = match c.direction {
        Direction::ClientToServer => Role::Client,
        Direction::ServerToClient => Role::Server,
    };
    if c.params.is_some_and(|p| p.no_context_takeover(sender)) {
        ui.label(RichText::new(t.dv_sender_resets).small());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Clock, Event};
    use crate::protocol::deflate::Deflater;
    use crate::protocol::handshake::{
        answer, parse_request, HandshakeLimits, Parsed, ServerPolicy,
    };
    use crate::protocol::{encode_frame, FrameHeader, Limits, OpCode};
    use crate::tap::Tap;

    fn request(extensions: &[&str]) -> crate::protocol::handshake::Request {
        let mut raw = String::from(
            "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
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

    fn handshake(extensions: &[&str], deflate: bool) -> Handshake {
        let policy = ServerPolicy {
            deflate,
            ..ServerPolicy::default()
        };
        answer(request(extensions), &policy)
    }

    /// Offers and answers, and why an offer was declined.
    #[test]
    fn the_handshake_says_what_was_offered_and_agreed() {
        let ours = Some(Endpoint::Server);
        assert_eq!(HandshakeDeflate::of(&handshake(&[], true), ours), None);
        let d = HandshakeDeflate::of(
            &handshake(&["permessage-deflate; client_max_window_bits"], true),
            ours,
        );
        let d = d.unwrap_or_else(|| panic!("offered"));
        assert_eq!(d.raw_offers, ["permessage-deflate; client_max_window_bits"]);
        assert_eq!(
            d.answer,
            Answer::Agreed(DeflateParams::default(), "permessage-deflate".into())
        );
        let d = HandshakeDeflate::of(
            &handshake(&["permessage-deflate; server_no_context_takeover"], true),
            ours,
        );
        assert!(matches!(
            d.map(|d| d.answer),
            Some(Answer::Agreed(p, named))
                if p.server_no_context_takeover
                    && named == "permessage-deflate; server_no_context_takeover"
        ));
        // Switched off (--no-deflate): ours; the same answer from another server: theirs.
        let off = handshake(&["permessage-deflate"], false);
        assert_eq!(
            HandshakeDeflate::of(&off, ours).map(|d| d.answer),
            Some(Answer::Declined(Declined::Ours))
        );
        assert_eq!(
            HandshakeDeflate::of(&off, Some(Endpoint::Client)).map(|d| d.answer),
            Some(Answer::Declined(Declined::Theirs))
        );
        // An invalid offer is declined whatever the switch says.
        let bad = handshake(&["permessage-deflate; server_max_window_bits=16"], true);
        assert_eq!(
            HandshakeDeflate::of(&bad, ours).map(|d| d.answer),
            Some(Answer::Declined(Declined::NoValidOffer))
        );
        let rows = agreed_rows(Lang::En, &DeflateParams::default());
        assert!(
            rows[0].2.contains("keeps its compression window"),
            "{rows:?}"
        );
        assert!(rows[2].2.contains("2^15 = 32768"), "{rows:?}");
        let (m, s) = offer_param_meaning(Lang::En, "client_max_window_bits", Some("10"));
        assert_eq!(
            (m.as_str(), s),
            (
                "the client will look back at most 2^10 = 1024 bytes",
                Some("7.1.2.2")
            )
        );
    }

    /// Two compressed "Hello"s from a client, through the tap into a capture: the first
    /// stands alone in 7 bytes, the second needs it and takes 5 bytes, as many as the text
    /// (the capture must still show the inflated text, not the wire bytes, for it).
    #[test]
    fn the_second_hello_needs_the_first() {
        let mut tap = Tap::new(1, Clock::start(), Endpoint::Server);
        let mut events: Vec<Event> = Vec::new();
        tap.handshake(
            handshake(&["permessage-deflate"], true),
            Limits::default(),
            &mut events,
        );
        let mut d = Deflater::new(&DeflateParams::default(), Role::Client);
        let mut wire = Vec::new();
        for _ in 0..2 {
            let (z, _) = d.deflate(b"Hello");
            let mut h = FrameHeader::new(OpCode::Text, z.len() as u64, Some([1, 2, 3, 4]));
            h.rsv[0] = true;
            encode_frame(h, &z, &mut wire);
        }
        tap.observe(Direction::ClientToServer, wire.into(), &mut events);
        let mut capture = Capture::new(1 << 20);
        for e in events {
            capture.ingest(e);
        }
        let c: Vec<Compressed> = (0..2).filter_map(|m| Compressed::of(&capture, m)).collect();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].ratio_text(Lang::En), "5 -> 7 bytes, 140 %");
        assert_eq!(c[0].context, Some(Context::StandsAlone));
        assert_eq!(c[1].ratio_text(Lang::En), "5 -> 5 bytes, 100 %");
        assert_eq!(
            c[1].wire.as_deref(),
            Some(&[0xf2, 0x00, 0x11, 0x00, 0x00][..])
        );
        assert_eq!(c[1].inflated.as_deref(), Some(&b"Hello"[..]));
        assert!(matches!(c[1].context, Some(Context::NeedsEarlier(_))));
    }

    /// RFC 7692 §7.2.3.2: the second "Hello" of a shared window needs the first; the first,
    /// and every "Hello" without context takeover, stand alone.
    #[test]
    fn a_repeated_hello_needs_the_first_one() {
        let mut d = Deflater::new(&DeflateParams::default(), Role::Server);
        let (first, _) = d.deflate(b"Hello");
        let (second, _) = d.deflate(b"Hello");
        assert_eq!(second, [0xf2, 0x00, 0x11, 0x00, 0x00]);
        assert_eq!(context_of(&first, b"Hello"), Context::StandsAlone);
        assert!(matches!(
            context_of(&second, b"Hello"),
            Context::NeedsEarlier(Some(_))
        ));
        let p = DeflateParams {
            server_no_context_takeover: true,
            ..DeflateParams::default()
        };
        let mut d = Deflater::new(&p, Role::Server);
        for _ in 0..2 {
            let (z, _) = d.deflate(b"Hello");
            assert_eq!(context_of(&z, b"Hello"), Context::StandsAlone);
        }
    }
}
