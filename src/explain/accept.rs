//! The Sec-WebSocket-Accept derivation (§4.2.2) step by step, with the two classic mistakes.

use crate::i18n::{self, fill, Lang};
use crate::protocol::{AcceptDerivation, KeyCheck, GUID};

use super::hex::hex_spaced;

/// One step from key to accept value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptStep {
    /// 1, 2 or 3.
    pub number: u8,
    /// What the step does: `key + GUID`, `SHA-1`, `base64` (the same in every language).
    pub label: &'static str,
    /// Its result, as text.
    pub value: String,
    /// Where the GUID starts in `value`, for the step that appends it (views colour it).
    pub guid_at: Option<usize>,
    /// What to notice about it, in the chosen language.
    pub note: String,
}

/// The whole derivation, in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptExplanation {
    /// The key as the client sent it.
    pub key: String,
    /// Whether the key is base64 of 16 bytes (§4.1).
    pub key_valid: bool,
    /// The key check's verdict.
    pub key_check: String,
    /// Key + GUID, SHA-1, base64.
    pub steps: [AcceptStep; 3],
    /// Two wrong ways to do it, each with the wrong value it gives.
    pub mistakes: [String; 2],
    /// The Sec-WebSocket-Accept value.
    pub accept: String,
}

impl AcceptExplanation {
    /// Explains `d` in `lang`.
    pub fn new(d: &AcceptDerivation, lang: Lang) -> Self {
        let t = lang.t();
        let check = d.key_check();
        let wrong = d.mistake_base64_of_hex();
        Self {
            key: d.key.clone(),
            key_valid: check == KeyCheck::Valid,
            key_check: i18n::key_check(lang, &check),
            steps: [
                AcceptStep {
                    number: 1,
                    label: "key + GUID",
                    value: d.concatenated.clone(),
                    guid_at: Some(d.key.len()),
                    note: fill(t.step_concat_chars, &[&d.key.chars().count(), &GUID.len()]),
                },
                AcceptStep {
                    number: 2,
                    label: "SHA-1",
                    value: hex_spaced(&d.sha1),
                    guid_at: None,
                    note: t.step_sha1_note.into(),
                },
                AcceptStep {
                    number: 3,
                    label: "base64",
                    value: d.accept.clone(),
                    guid_at: None,
                    note: t.step_base64_note.into(),
                },
            ],
            mistakes: [
                fill(t.mistake_hex, &[&wrong, &wrong.len()]),
                fill(t.mistake_text, &[&d.mistake_decode_as_text()]),
            ],
            accept: d.accept.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_1_3_example_in_both_languages() {
        let d = AcceptDerivation::new("dGhlIHNhbXBsZSBub25jZQ==");
        let en = AcceptExplanation::new(&d, Lang::En);
        let zh = AcceptExplanation::new(&d, Lang::Zh);
        assert!(en.key_valid);
        assert_eq!(en.key_check, "valid: base64 of 16 bytes");
        assert_eq!(
            en.steps[0].value,
            "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        );
        assert_eq!(en.steps[0].value.get(24..), Some(GUID));
        assert_eq!(en.steps[0].guid_at, Some(24));
        assert!(en.steps[0].note.starts_with("24 characters of key"));
        assert_eq!(
            en.steps[1].value,
            "b3 7a 4f 2c c0 62 4f 16 90 f6 46 06 cf 38 59 45 b2 be c4 ea"
        );
        assert_eq!(en.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        for (a, b) in en.steps.iter().zip(&zh.steps) {
            assert_eq!((a.number, a.label, &a.value), (b.number, b.label, &b.value));
            assert_ne!(a.note, b.note);
        }
        assert!(zh.steps[0].note.contains("24") && zh.steps[0].note.contains("36"));
        assert_eq!(zh.accept, en.accept);
        assert!(en.mistakes[0].contains("(56 chars)"));
    }

    #[test]
    fn a_bad_key_is_explained() {
        let e = AcceptExplanation::new(&AcceptDerivation::new("hello"), Lang::En);
        assert!(!e.key_valid);
        assert!(
            e.key_check.starts_with("not valid base64"),
            "{}",
            e.key_check
        );
        assert_eq!(e.accept.len(), 28);
    }
}
