//! Incremental UTF-8 validation across fragment boundaries (§8.1), failing as soon as the bytes
//! seen so far cannot be the start of valid UTF-8 (what Autobahn 6.4.* calls failing fast).

/// Validates a byte stream given in pieces.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    /// The bytes of a character that is split across pieces (at most 3).
    carry: [u8; 4],
    carry_len: usize,
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

    /// Feeds the next piece. `Err(i)` gives the index in `data` of the first byte known to be
    /// invalid (0 when the character carried over from the previous piece is what failed).
    pub fn push(&mut self, mut data: &[u8]) -> Result<(), usize> {
        if self.carry_len > 0 {
            let need = char_width(self.carry[0]);
            let take = need.saturating_sub(self.carry_len).min(data.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&data[..take]);
            match std::str::from_utf8(&self.carry[..self.carry_len + take]) {
                Ok(_) => {
                    self.carry_len = 0;
                    data = &data[take..];
                }
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix; `data` was too short to finish it.
                    self.carry_len += take;
                    return Ok(());
                }
                Err(_) => return Err(0),
            }
        }
        match std::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) => match e.error_len() {
                None => {
                    let rest = &data[e.valid_up_to()..];
                    self.carry[..rest.len()].copy_from_slice(rest);
                    self.carry_len = rest.len();
                    Ok(())
                }
                Some(_) => Err(e.valid_up_to()),
            },
        }
    }

    /// Whether the stream so far ends on a character boundary (so the message may end here).
    pub fn is_complete(&self) -> bool {
        self.carry_len == 0
    }
}
