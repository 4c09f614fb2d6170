//! Bytes as hex, both ways: input as people paste it (`81 85 37 fa`, `81:85:37:fa`, `8185 37fa`,
//! `0x81 0x85`) and output as the CLI and the window print it.

use crate::i18n::{fill, Lang};

/// Why a hex string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// No hex digits at all.
    #[error("no bytes given: pass hex such as '81 85 37 fa 21 3d 7f 9f 4d 51 58'")]
    Empty,
    /// A character that is neither a hex digit nor a separator.
    #[error("'{ch}' at character {position} is not a hex digit (0-9, a-f) or a separator (space, ':', '-', ',')")]
    BadChar {
        /// The offending character.
        ch: char,
        /// Its 1-based position in the input.
        position: usize,
    },
    /// A group of digits with an odd count: a byte is two digits.
    #[error("odd number of hex digits in '{group}': every byte is two hex digits")]
    OddDigits {
        /// The group (between separators) with an odd number of digits.
        group: String,
    },
}

impl HexError {
    /// The message in `lang` (the `Display` form is English).
    pub fn describe(&self, lang: Lang) -> String {
        let t = lang.t();
        match self {
            HexError::Empty => t.hex_empty.to_string(),
            HexError::BadChar { ch, position } => fill(t.hex_bad_char, &[ch, position]),
            HexError::OddDigits { group } => fill(t.hex_odd_digits, &[group]),
        }
    }
}

/// Parses hex bytes. Separators (whitespace, `:`, `-`, `,`) may appear between bytes; a `0x`
/// prefix on a group is allowed. Each group between separators must have an even digit count.
pub fn parse_hex(input: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::new();
    let mut position = 0usize;
    for group in input.split(|c: char| c.is_whitespace() || matches!(c, ':' | '-' | ',')) {
        let start = position;
        position += group.chars().count() + 1;
        let digits = group
            .strip_prefix("0x")
            .or_else(|| group.strip_prefix("0X"))
            .unwrap_or(group);
        let skipped = group.len() - digits.len();
        let mut nibbles = Vec::with_capacity(digits.len());
        for (i, ch) in digits.chars().enumerate() {
            match ch.to_digit(16) {
                Some(d) => nibbles.push(d as u8),
                None => {
                    return Err(HexError::BadChar {
                        ch,
                        position: start + skipped + i + 1,
                    })
                }
            }
        }
        if nibbles.len() % 2 != 0 {
            return Err(HexError::OddDigits {
                group: group.to_string(),
            });
        }
        out.extend(nibbles.chunks_exact(2).map(|p| (p[0] << 4) | p[1]));
    }
    if out.is_empty() {
        return Err(HexError::Empty);
    }
    Ok(out)
}

/// Bytes as lowercase hex pairs separated by spaces.
pub fn hex_spaced(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A short view of a payload: quoted text (at most `max` characters) when it is UTF-8 and
/// `text_like`, else hex of the first `max / 3` bytes; `...` marks a cut.
pub fn preview(text_like: bool, payload: &[u8], max: usize) -> String {
    if text_like {
        if let Ok(t) = std::str::from_utf8(payload) {
            let cut: String = t.chars().take(max).collect();
            let more = if cut.len() < t.len() { " ..." } else { "" };
            return format!("{cut:?}{more}");
        }
    }
    let shown = &payload[..payload.len().min(max / 3)];
    let more = if shown.len() < payload.len() {
        " ..."
    } else {
        ""
    };
    format!("{}{more}", hex_spaced(shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_the_same_in_both_languages() {
        let e = parse_hex("81 zz").err();
        assert_eq!(
            e,
            Some(HexError::BadChar {
                ch: 'z',
                position: 4
            })
        );
        let e = e.unwrap_or(HexError::Empty);
        assert_eq!(e.describe(Lang::En), e.to_string());
        assert!(e.describe(Lang::Zh).contains("第 4 个字符 'z'"));
        let odd = HexError::OddDigits { group: "8".into() };
        assert_eq!(odd.describe(Lang::En), odd.to_string());
        assert_eq!(
            HexError::Empty.describe(Lang::En),
            HexError::Empty.to_string()
        );
    }

    #[test]
    fn previews_cut_long_payloads() {
        assert_eq!(preview(true, b"Hello", 200), "\"Hello\"");
        assert_eq!(preview(true, b"Hello", 2), "\"He\" ...");
        assert_eq!(preview(false, b"Hello", 6), "48 65 ...");
        assert_eq!(preview(true, &[0xff, 0x00], 200), "ff 00");
    }
}
