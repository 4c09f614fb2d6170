//! A byte stream decoded as a receiver sees it: the frames, the messages they complete, and
//! what is left over or why decoding stopped.

use crate::i18n::{fill, Lang};
use crate::protocol::{Decoded, Decoder, DecoderConfig, Frame, Message, Pending, Role};

/// Everything a receiver makes of some bytes, judged as sent by one role.
#[derive(Debug, Clone)]
pub struct StreamDecode {
    /// Bytes given.
    pub len: usize,
    /// Who is taken to have sent them (decides the masking rule, §5.1).
    pub sender: Role,
    /// Whether `sender` was guessed from the first frame's MASK bit.
    pub guessed: bool,
    /// Frames and messages in stream order (a message right after the frame completing it).
    pub items: Vec<Decoded>,
    /// What is held back at the end, waiting for bytes that never came.
    pub pending: Pending,
    /// Stream offset where the held-back bytes start.
    pub pending_at: u64,
    /// Bytes after the point where decoding stopped (0 when it did not stop).
    pub ignored: u64,
    /// Counted once: a view repaints often and a pasted capture can be long.
    frame_count: usize,
    message_count: usize,
}

impl StreamDecode {
    /// Decodes `bytes` as sent by `sender`, or by whoever the first frame's MASK bit suggests.
    pub fn new(bytes: &[u8], sender: Option<Role>) -> Self {
        let role = sender.unwrap_or_else(|| Role::guess_sender(bytes));
        let mut decoder = Decoder::new(DecoderConfig {
            sender: Some(role),
            ..DecoderConfig::default()
        });
        let mut items = Vec::new();
        decoder.feed(bytes, &mut items);
        let pending = decoder.pending();
        // Frames are contiguous, so what is held back starts where the last frame ends.
        let pending_at = items
            .iter()
            .rev()
            .find_map(|d| match d {
                Decoded::Frame(f) => Some(f.end_offset()),
                Decoded::Message(_) => None,
            })
            .unwrap_or(0);
        let frame_count = items
            .iter()
            .filter(|d| matches!(d, Decoded::Frame(_)))
            .count();
        Self {
            frame_count,
            message_count: items.len() - frame_count,
            len: bytes.len(),
            sender: role,
            guessed: sender.is_none(),
            items,
            pending,
            pending_at,
            ignored: if decoder.is_stopped() {
                decoder.ignored_bytes()
            } else {
                0
            },
        }
    }

    /// The frames, in order.
    pub fn frames(&self) -> impl Iterator<Item = &Frame> {
        self.items.iter().filter_map(|d| match d {
            Decoded::Frame(f) => Some(f),
            Decoded::Message(_) => None,
        })
    }

    /// The messages, in order.
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.items.iter().filter_map(|d| match d {
            Decoded::Message(m) => Some(m),
            Decoded::Frame(_) => None,
        })
    }

    /// How many frames.
    pub fn frame_count(&self) -> usize {
        self.frame_count
    }

    /// How many messages.
    pub fn message_count(&self) -> usize {
        self.message_count
    }

    /// Whether a receiver accepts everything: whole frames, no rule broken.
    pub fn clean(&self) -> bool {
        self.pending == Pending::Nothing
            && self.ignored == 0
            && self.frames().all(|f| f.violations.is_empty())
    }

    /// How the sender was chosen, when it was guessed.
    pub fn sender_note(&self, lang: Lang) -> Option<String> {
        self.guessed
            .then(|| fill(lang.t().sender_guess, &[&role_name(lang, self.sender)]))
    }

    /// The frame the stream ends inside, if it does.
    pub fn leftover(&self, lang: Lang) -> Option<String> {
        let t = lang.t();
        match self.pending {
            Pending::Nothing => None,
            Pending::PartialHeader { have } => {
                Some(fill(t.truncated_header, &[&self.pending_at, &have]))
            }
            Pending::PartialPayload { payload_len, have } => {
                Some(fill(t.truncated_payload, &[&payload_len, &have]))
            }
        }
    }

    /// Why decoding stopped before the end, if it did.
    pub fn stopped(&self, lang: Lang) -> Option<String> {
        (self.ignored > 0).then(|| fill(lang.t().decode_stopped, &[&self.ignored]))
    }
}

/// `client` or `server` in `lang`.
pub fn role_name(lang: Lang, role: Role) -> &'static str {
    match role {
        Role::Client => lang.t().client,
        Role::Server => lang.t().server,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fragmented_message_then_a_truncated_frame() {
        let d = StreamDecode::new(
            &[
                0x01, 0x03, b'H', b'e', b'l', 0x80, 0x02, b'l', b'o', 0x81, 0x05, b'x',
            ],
            None,
        );
        assert_eq!(d.sender, Role::Server);
        assert!(d.guessed);
        assert_eq!((d.frame_count(), d.message_count()), (2, 1));
        let m = d
            .messages()
            .next()
            .map(|m| (m.frame_count, m.byte_range.clone()));
        assert_eq!(m, Some((2, 0..9)));
        assert!(!d.clean());
        assert_eq!(
            d.leftover(Lang::En).as_deref(),
            Some(
                "truncated frame: the header announces a 5-byte payload but only 1 byte(s) follow"
            )
        );
        assert_eq!(d.pending_at, 9);
        assert_eq!(d.stopped(Lang::En), None);
        assert_eq!(
            d.sender_note(Lang::Zh).as_deref(),
            Some("根据第一个帧的 MASK 位推测：由服务器发送")
        );
    }

    #[test]
    fn a_partial_header_says_where_it_starts() {
        let d = StreamDecode::new(&[0x81, 0x00, 0x81, 0xfe, 0x01], Some(Role::Server));
        assert!(!d.guessed);
        assert_eq!(d.pending, Pending::PartialHeader { have: 3 });
        assert_eq!(d.pending_at, 2);
        assert_eq!(
            d.leftover(Lang::En).as_deref(),
            Some("truncated frame at byte 2: only 3 byte(s) of a frame header (a header is 2 to 14 bytes)")
        );
    }

    #[test]
    fn decoding_stops_at_a_length_with_the_top_bit_set() {
        let mut bytes = vec![0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&[1, 2, 3]);
        let d = StreamDecode::new(&bytes, Some(Role::Server));
        assert_eq!(d.frame_count(), 1);
        assert_eq!(d.ignored, 3);
        assert_eq!(d.pending, Pending::Nothing);
        assert!(d
            .stopped(Lang::En)
            .is_some_and(|s| s.contains("3 later byte(s)")));
        assert!(!d.clean());
    }

    #[test]
    fn the_rfc_hello_is_clean() {
        let d = StreamDecode::new(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'], None);
        assert!(d.clean());
        assert_eq!(d.sender, Role::Server);
    }
}
