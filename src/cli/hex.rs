//! Hex input as people paste it: `81 85 37 fa`, `81:85:37:fa`, `8185 37fa`, `0x81 0x85`.

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
