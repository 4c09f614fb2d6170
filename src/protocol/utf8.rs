//! Incremental UTF-8 validation across fragment boundaries (§8.1), failing as soon as the bytes
//! seen so far cannot be the start of valid UTF-8 (what Autobahn 6.4.* calls failing fast).

/// Where a byte stream stops being UTF-8, counted from the first byte of the stream (the
/// message), whatever pieces it came in: the same numbers `std::str::from_utf8` gives for the
/// whole stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error {
    /// Bytes of the stream that are valid UTF-8 before the bad sequence starts (which may be in
    /// an earlier piece than the byte that shows it is bad).
    pub valid_up_to: u64,
    /// Length of the bad sequence, as `std::str::Utf8Error::error_len`; `None` when the stream
    /// ends inside a character.
    pub error_len: Option<usize>,
}

/// Validates a byte stream given in pieces.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    /// The bytes of a character that is split across pieces (at most 3).
    carry: [u8; 4],
    carry_len: usize,
    /// Bytes pushed so far, carried ones included.
    seen: u64,
}

/// Bytes a character starting with `lead` takes; 0 for a byte that cannot start one.
fn char_width(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes pushed so far: the stream offset where the next piece starts.
    pub fn position(&self) -> u64 {
        self.seen
    }

    /// Feeds the next piece. After an error the validator's state means nothing: stop there.
    pub fn push(&mut self, data: &[u8]) -> Result<(), Utf8Error> {
        let start = self.seen;
        self.seen = self.seen.saturating_add(data.len() as u64);
        let mut rest = data;
        if self.carry_len > 0 {
            // The carried character starts `carry_len` bytes before this piece.
            let char_start = start.saturating_sub(self.carry_len as u64);
            let need = char_width(self.carry[0]);
            let take = need.saturating_sub(self.carry_len).min(rest.len());
            let end = self.carry_len + take;
            self.carry[self.carry_len..end].copy_from_slice(&rest[..take]);
            match std::str::from_utf8(&self.carry[..end]) {
                Ok(_) => {
                    self.carry_len = 0;
                    rest = &rest[take..];
                }
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix; the piece was too short to finish it.
                    self.carry_len = end;
                    return Ok(());
                }
                Err(e) => {
                    return Err(Utf8Error {
                        valid_up_to: char_start,
                        error_len: e.error_len(),
                    })
                }
            }
        }
        // Offsets in `rest` count from here: the completed carried character (1-3 bytes of
        // this piece) comes before it.
        let rest_start = start.saturating_add((data.len() - rest.len()) as u64);
        match std::str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) => match e.error_len() {
                None => {
                    let tail = &rest[e.valid_up_to()..];
                    self.carry[..tail.len()].copy_from_slice(tail);
                    self.carry_len = tail.len();
                    Ok(())
                }
                Some(n) => Err(Utf8Error {
                    valid_up_to: rest_start.saturating_add(e.valid_up_to() as u64),
                    error_len: Some(n),
                }),
            },
        }
    }

    /// Whether the stream so far ends on a character boundary (so the message may end here).
    pub fn is_complete(&self) -> bool {
        self.carry_len == 0
    }

    /// The stream ends here: an error when it ends inside a character.
    pub fn finish(&self) -> Result<(), Utf8Error> {
        if self.is_complete() {
            return Ok(());
        }
        Err(Utf8Error {
            valid_up_to: self.seen.saturating_sub(self.carry_len as u64),
            error_len: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the validator says about `pieces`, pushed in order, then ended.
    fn run(pieces: &[&[u8]]) -> Result<(), Utf8Error> {
        let mut v = Utf8Validator::new();
        for p in pieces {
            v.push(p)?;
        }
        v.finish()
    }

    #[test]
    fn an_error_after_a_carried_character_counts_from_the_message_start() {
        // "é" split across pieces, then an invalid byte: the reference says byte 2.
        let whole = [0xC3, 0xA9, 0xFF];
        let got = run(&[&whole[..1], &whole[1..]]);
        assert_eq!(
            got,
            Err(Utf8Error {
                valid_up_to: 2,
                error_len: Some(1)
            })
        );
        // A bad continuation of a carried character starts at that character.
        let got = run(&[b"ab\xF0\x90", b"\x41"]);
        assert_eq!(
            got,
            Err(Utf8Error {
                valid_up_to: 2,
                error_len: Some(2)
            })
        );
        // Ending inside a character.
        let got = run(&[b"a\xE2", b"\x82"]);
        assert_eq!(
            got,
            Err(Utf8Error {
                valid_up_to: 1,
                error_len: None
            })
        );
    }
}
