//! What the protocol core found, put into words: a violation's detail, a handshake check's
//! finding, why a handshake was refused, why a key is not base64. The core gives numbers, names
//! and header values; these functions say them in the reader's language. Numbers, bytes and
//! header values go in as they are.

use super::{check_rule, close_meaning, fill, response_rule, Lang};
use crate::protocol::deflate::AnswerProblem;
use crate::protocol::handshake::{Check, CheckId, Found, Handshake, Outcome, ResponseCheck};
use crate::protocol::{
    Base64Problem, CloseCode, Detail, ExtensionFailure, KeyCheck, LenEncoding, OpCode,
};

/// A violation's detail, or `None` when the rule says it all.
pub fn violation_detail(lang: Lang, d: &Detail) -> Option<String> {
    let t = lang.t();
    Some(match d {
        Detail::None => return None,
        Detail::MaskBit(set) => fill(t.vd_mask_bit, &[&u8::from(*set)]),
        Detail::Rsv(bit) => fill(t.vd_rsv, &[bit]),
        Detail::Opcode(op) => fill(t.vd_opcode, &[&format_args!("0x{op:X}")]),
        Detail::PayloadLen(n) => fill(t.vd_payload_len, &[n]),
        Detail::LengthForm { len, used } => {
            let minimal = LenEncoding::minimal_for(*len);
            fill(
                t.vd_length_form,
                &[
                    len,
                    &len_encoding(lang, *used),
                    &len_encoding(lang, minimal),
                ],
            )
        }
        Detail::OpenMessage { opcode, frames } => {
            fill(t.vd_open_message, &[&opcode_name(lang, *opcode), frames])
        }
        Detail::AfterClose(opcode) => fill(t.vd_after_close, &[&opcode_name(lang, *opcode)]),
        // In a fragmented message the two differ: say where the message went wrong too.
        Detail::Utf8At { index, in_message } if *in_message != *index as u64 => {
            fill(t.vd_utf8_at_msg, &[index, in_message])
        }
        Detail::Utf8At { index, .. } => fill(t.vd_utf8_at, &[index]),
        Detail::Utf8AfterExtension { name, index } => fill(t.vd_utf8_after_ext, &[name, index]),
        Detail::CloseCode(code) => fill(
            t.vd_close_code,
            &[code, &close_meaning(lang, CloseCode::from(*code))],
        ),
        Detail::ReasonByte(i) => fill(t.vd_reason_byte, &[i]),
        Detail::Size { size, limit } => fill(t.vd_size, &[size, limit]),
        Detail::Extension { name, why } => match why {
            // The decompressor's own words: data, like a header value.
            ExtensionFailure::BadData(words) => fill(t.vd_ext_bad_data, &[name, words]),
            ExtensionFailure::TooBig { limit } => fill(t.vd_ext_too_big, &[name, limit]),
        },
    })
}

/// An opcode's name: the protocol's own word (`text`, `ping`...), or "reserved" said in `lang`.
pub fn opcode_name(lang: Lang, op: OpCode) -> &'static str {
    match op {
        OpCode::ReservedData(_) => lang.t().op_reserved_data,
        OpCode::ReservedControl(_) => lang.t().op_reserved_control,
        known => known.name(),
    }
}

/// How a payload length was encoded (`7-bit`, `7+16-bit (126 + u16)`, ...).
pub fn len_encoding(lang: Lang, e: LenEncoding) -> &'static str {
    let t = lang.t();
    match e {
        LenEncoding::Seven => t.len_form7,
        LenEncoding::Sixteen => t.len_form16,
        LenEncoding::SixtyFour => t.len_form64,
    }
}

/// What a handshake check found: the value as sent, or why there is none.
pub fn check_found(lang: Lang, f: &Found) -> String {
    let t = lang.t();
    match f {
        Found::Value(v) => v.clone(),
        Found::Missing => t.found_missing.to_string(),
        Found::Empty => t.found_empty.to_string(),
        Found::Repeated(n) => fill(t.found_repeated, &[n]),
        Found::Absent => t.found_absent.to_string(),
        Found::BadKey { key, why } => fill(t.found_bad_key, &[key, &key_check(lang, why)]),
        Found::BadExtension { value, why } => {
            fill(t.found_bad_key, &[value, &answer_problem(lang, why)])
        }
    }
}

/// Why a client cannot accept a server's permessage-deflate answer, with the rule's section.
pub fn answer_problem(lang: Lang, p: &AnswerProblem) -> String {
    let t = lang.t();
    match p {
        AnswerProblem::Malformed(e) => fill(t.ap_malformed, &[e]),
        AnswerProblem::Unknown(k) => fill(t.ap_unknown, &[k]),
        AnswerProblem::Repeated(k) => fill(t.ap_repeated, &[k]),
        AnswerProblem::BadValue { param, value: None } => fill(t.ap_no_value, &[param]),
        AnswerProblem::BadValue {
            param,
            value: Some(v),
        } if param.ends_with("_no_context_takeover") => fill(t.ap_flag_value, &[param, v]),
        AnswerProblem::BadValue {
            param,
            value: Some(v),
        } => fill(t.ap_bad_value, &[param, v]),
        AnswerProblem::NotOffered(k) => fill(t.ap_not_offered, &[k]),
        AnswerProblem::Twice => t.ap_twice.to_string(),
    }
}

/// One check on one line: `[PASS] §4.2.1 item 1: method is GET — GET`.
pub fn check_line(lang: Lang, c: &Check) -> String {
    rule_line(
        lang,
        c.outcome,
        c.id.section(),
        c.id.item(),
        check_rule(lang, c.id),
        &c.detail,
    )
}

/// One §4.1 check of a server's answer on one line: `[PASS] §4.1 item 4: ... — value`.
pub fn response_check_line(lang: Lang, c: &ResponseCheck) -> String {
    rule_line(
        lang,
        c.outcome,
        c.id.section(),
        c.id.item(),
        response_rule(lang, c.id),
        &c.detail,
    )
}

/// A judged rule on one line: its mark, section and item, the rule, what was found.
fn rule_line(
    lang: Lang,
    outcome: Outcome,
    section: &str,
    item: u8,
    rule: &str,
    found: &Found,
) -> String {
    let t = lang.t();
    let mark = match outcome {
        Outcome::Pass => t.pass,
        Outcome::Fail => t.fail,
        Outcome::Info => t.info,
    };
    let item = fill(t.item, &[&section, &item]);
    fill(
        t.check_line,
        &[&mark, &item, &rule, &check_found(lang, found)],
    )
}

/// Why a client fails a connection the server switched (the first §4.1 rule the 101 broke),
/// or `None` when the answer passes them all.
pub fn client_failure(lang: Lang, hs: &Handshake) -> Option<String> {
    let c = hs.client_failure()?;
    Some(fill(
        lang.t().tr_client_failed,
        &[
            &c.id.item(),
            &response_rule(lang, c.id),
            &check_found(lang, &c.detail),
        ],
    ))
}

/// Why the handshake was refused (the first rule broken, and how many more), or `None` when it
/// was accepted.
pub fn refusal(lang: Lang, hs: &Handshake) -> Option<String> {
    let t = lang.t();
    let first = *hs.response.failed.first()?;
    if hs.accepted() {
        return None;
    }
    let detail = hs.checks.iter().find(|c| c.id == first).map(|c| &c.detail);
    let found = detail.map_or_else(String::new, |d| check_found(lang, d));
    // §4.4: a version the server does not speak gets its own status (426) and sentence.
    if let (426, Some(Found::Value(version))) = (hs.response.status, detail) {
        return Some(fill(t.refused_version, &[version]));
    }
    // 403: the server's Host or Origin policy (the request itself was a valid upgrade).
    if let (403, Some(Found::Value(v))) = (hs.response.status, detail) {
        let mut s = match first {
            CheckId::Host => fill(t.http_host_not_allowed, &[v]),
            _ => fill(t.refused_origin, &[v]),
        };
        let more = hs.response.failed.len() - 1;
        if more > 0 {
            s.push_str(&fill(t.refused_more, &[&more]));
        }
        return Some(s);
    }
    let mut s = fill(
        t.refused_rule,
        &[&first.item(), &check_rule(lang, first), &found],
    );
    let more = hs.response.failed.len() - 1;
    if more > 0 {
        s.push_str(&fill(t.refused_more, &[&more]));
    }
    Some(s)
}

/// The key check's verdict.
pub fn key_check(lang: Lang, k: &KeyCheck) -> String {
    let t = lang.t();
    match k {
        KeyCheck::Valid => t.key_valid.to_string(),
        KeyCheck::NotBase64(why) => fill(t.key_not_base64, &[&base64_problem(lang, why)]),
        KeyCheck::WrongLength(n) => fill(t.key_wrong_len, &[n]),
    }
}

/// Why a key is not base64.
pub fn base64_problem(lang: Lang, p: &Base64Problem) -> String {
    let t = lang.t();
    match *p {
        Base64Problem::InvalidByte { index, byte } => {
            fill(t.b64_invalid_byte, &[&shown_byte(byte), &index])
        }
        Base64Problem::InvalidLength { symbols } => fill(t.b64_invalid_length, &[&symbols]),
        Base64Problem::InvalidLastSymbol { index, byte } => {
            fill(t.b64_invalid_last, &[&shown_byte(byte), &index])
        }
        Base64Problem::InvalidPadding => t.b64_padding.to_string(),
    }
}

/// A byte of a key: `'h'` when it is a printable ASCII character, `0xe4` otherwise.
fn shown_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", char::from(b))
    } else {
        format!("0x{b:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::{answer, parse_request, CheckId, Parsed, ServerPolicy};

    /// Every number in `s` (runs of ASCII digits), sorted.
    fn numbers(s: &str) -> Vec<String> {
        let mut v: Vec<String> = s
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    /// Renders in both languages; checks the numbers are there, the same in both, and that the
    /// Chinese is not the English.
    fn both(render: impl Fn(Lang) -> String, must: &[&str]) {
        let (en, zh) = (render(Lang::En), render(Lang::Zh));
        for m in must {
            assert!(en.contains(m) && zh.contains(m), "{m:?} in {en:?} / {zh:?}");
        }
        assert_ne!(en, zh);
        assert_eq!(numbers(&en), numbers(&zh), "{en:?} / {zh:?}");
        assert!(!zh.is_empty());
    }

    #[test]
    fn every_violation_detail_renders_with_its_numbers() {
        let cases: Vec<(Detail, Vec<&str>)> = vec![
            (Detail::MaskBit(false), vec!["MASK", "0"]),
            (Detail::MaskBit(true), vec!["MASK", "1"]),
            (Detail::Rsv(2), vec!["RSV2"]),
            (Detail::Opcode(0xB), vec!["0xB"]),
            (Detail::PayloadLen(126), vec!["126"]),
            (
                Detail::LengthForm {
                    len: 5,
                    used: LenEncoding::Sixteen,
                },
                vec!["5", "7+16", "126 + u16"],
            ),
            (
                Detail::OpenMessage {
                    opcode: OpCode::Text,
                    frames: 2,
                },
                vec!["text", "2"],
            ),
            (Detail::AfterClose(OpCode::Binary), vec!["binary"]),
            (Detail::AfterClose(OpCode::from(0x3)), vec![]),
            (
                Detail::Utf8At {
                    index: 3,
                    in_message: 3,
                },
                vec!["3"],
            ),
            (
                Detail::Utf8At {
                    index: 0,
                    in_message: 41,
                },
                vec!["0", "41"],
            ),
            (
                Detail::Utf8AfterExtension {
                    name: "permessage-deflate".into(),
                    index: 17,
                },
                vec!["permessage-deflate", "17"],
            ),
            (Detail::CloseCode(1005), vec!["1005"]),
            (Detail::ReasonByte(4), vec!["4"]),
            (
                Detail::Size {
                    size: 4096,
                    limit: 1024,
                },
                vec!["4096", "1024"],
            ),
            (
                Detail::Extension {
                    name: "permessage-deflate".into(),
                    why: ExtensionFailure::BadData("invalid stored block lengths".into()),
                },
                vec!["permessage-deflate", "invalid stored block lengths"],
            ),
            (
                Detail::Extension {
                    name: "permessage-deflate".into(),
                    why: ExtensionFailure::TooBig { limit: 65536 },
                },
                vec!["permessage-deflate", "65536"],
            ),
        ];
        for (d, must) in &cases {
            both(|lang| violation_detail(lang, d).unwrap_or_default(), must);
        }
        assert_eq!(violation_detail(Lang::Zh, &Detail::None), None);
        // The English wording the CLI showed before is kept where it was already clear.
        assert_eq!(
            violation_detail(
                Lang::En,
                &Detail::Utf8At {
                    index: 3,
                    in_message: 3
                }
            )
            .as_deref(),
            Some("payload byte 3 of this frame")
        );
        assert_eq!(
            violation_detail(Lang::En, &Detail::Size { size: 9, limit: 8 }).as_deref(),
            Some("9 bytes, limit 8")
        );
    }

    #[test]
    fn every_finding_renders_and_values_stay_as_sent() {
        both(|l| check_found(l, &Found::Missing), &[]);
        both(|l| check_found(l, &Found::Empty), &[]);
        both(|l| check_found(l, &Found::Repeated(2)), &["2"]);
        both(|l| check_found(l, &Found::Absent), &[]);
        let bad = Found::BadKey {
            key: "hello".into(),
            why: KeyCheck::of("hello"),
        };
        both(|l| check_found(l, &bad), &["hello"]);
        for lang in [Lang::En, Lang::Zh] {
            assert_eq!(check_found(lang, &Found::Value("chat".into())), "chat");
        }
    }

    #[test]
    fn every_base64_problem_renders_with_its_position() {
        both(
            |l| {
                base64_problem(
                    l,
                    &Base64Problem::InvalidByte {
                        index: 3,
                        byte: b'!',
                    },
                )
            },
            &["'!'", "3"],
        );
        both(
            |l| base64_problem(l, &Base64Problem::InvalidLength { symbols: 5 }),
            &["5"],
        );
        both(
            |l| {
                base64_problem(
                    l,
                    &Base64Problem::InvalidLastSymbol {
                        index: 23,
                        byte: 0xe4,
                    },
                )
            },
            &["0xe4", "23"],
        );
        both(
            |l| base64_problem(l, &Base64Problem::InvalidPadding),
            &["'='"],
        );
        // A key check from the real decoder names the character and where it is.
        let k = KeyCheck::of("dGhlIHNhbXBsZSBub25j!Q==");
        both(|l| key_check(l, &k), &["'!'", "20"]);
    }

    fn handshake(raw: &str) -> Handshake {
        match parse_request(raw.as_bytes(), &Default::default()) {
            Ok(Parsed::Complete(req)) => answer(req, &ServerPolicy::default()),
            other => panic!("{other:?}"),
        }
    }

    const HEAD: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n";

    #[test]
    fn refusals_name_the_rule_and_what_was_found() {
        let ok = handshake(&format!(
            "{HEAD}Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ));
        assert_eq!(refusal(Lang::Zh, &ok), None);

        // No Connection, no key: the first broken rule, and one more.
        let hs = handshake(&format!("{HEAD}Sec-WebSocket-Version: 13\r\n\r\n"));
        assert_eq!(hs.response.failed, vec![CheckId::Connection, CheckId::Key]);
        both(
            |l| refusal(l, &hs).unwrap_or_default(),
            &["4.2.1", "Connection"],
        );
        let en = refusal(Lang::En, &hs).unwrap_or_default();
        assert!(en.contains(CheckId::Connection.rule()), "{en}");
        assert!(en.contains("(missing)") && en.contains("1 more"), "{en}");

        // §4.4: a version other than 13 gets its own sentence, with the version as sent.
        let hs = handshake(&format!(
            "{HEAD}Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
        ));
        assert_eq!(hs.response.status, 426);
        both(|l| refusal(l, &hs).unwrap_or_default(), &["8", "13"]);

        // Check lines: mark, item, rule and finding in the reader's language.
        for c in &hs.checks {
            both(|l| check_line(l, c), &["4.2.1"]);
        }
        let zh = check_line(Lang::Zh, &hs.checks[0]);
        assert_eq!(zh, "[通过] §4.2.1 第 1 条：方法是 GET — GET");
    }

    #[test]
    fn length_forms_are_named_in_both_languages() {
        for e in [
            LenEncoding::Seven,
            LenEncoding::Sixteen,
            LenEncoding::SixtyFour,
        ] {
            assert_ne!(len_encoding(Lang::En, e), len_encoding(Lang::Zh, e));
            assert_eq!(len_encoding(Lang::En, e), e.describe());
        }
    }
}
