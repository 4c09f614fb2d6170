//! The incremental, lossless frame decoder.
//!
//! Push bytes in any chunking; get back every frame exactly as it was on the wire, each with the
//! rules it broke, and the messages the frames complete. Decoding is separate from judging: a
//! frame that breaks a rule is still reported in full. Only two things stop the decoder, because
//! after them it cannot know where the next frame starts without buffering unbounded data: a
//! 64-bit length with the top bit set and a frame over the size limit.

use bytes::{Bytes, BytesMut};

use super::extension::Extension;
use super::frame::{Fragment, Frame, FrameHeader, LenEncoding, OpCode};
use super::mask::{apply_mask, extend_copy, extend_masked};
use super::message::{Assembler, Message};
use super::violation::{Detail, Rule, Violation};
use super::Role;

/// Size limits, each answered with close code 1009 when exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted frame payload, in bytes.
    pub max_frame_size: u64,
    /// Largest accepted (reassembled) message, in bytes.
    pub max_message_size: u64,
}

impl Default for Limits {
    /// 16 MiB each: Autobahn 9.* sends messages of up to 16 MiB.
    fn default() -> Self {
        Self {
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
        }
    }
}

/// How to judge what is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecoderConfig {
    /// Who sent the bytes; decides the masking rule. `None` skips that rule (unknown sender).
    pub sender: Option<Role>,
    /// Size limits.
    pub limits: Limits,
}

/// What the decoder produces, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A frame (always reported, even when it breaks rules).
    Frame(Frame),
    /// A message completed by the frame just before it.
    Message(Message),
}

/// Bytes held back because they do not yet form a whole frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// Nothing is pending: the stream ends on a frame boundary.
    Nothing,
    /// Part of a header: `have` bytes of it.
    PartialHeader {
        /// Bytes received.
        have: usize,
    },
    /// A whole header and part of the payload.
    PartialPayload {
        /// The payload length the header announces.
        payload_len: u64,
        /// Payload bytes received.
        have: u64,
    },
}

/// The incremental decoder. See the module docs.
pub struct Decoder {
    config: DecoderConfig,
    buf: BytesMut,
    /// Stream offset of `buf[0]`.
    buf_offset: u64,
    /// Set when decoding cannot go on (see module docs); later bytes are only counted.
    stopped: bool,
    ignored: u64,
    assembler: Assembler,
    extension: Option<Box<dyn Extension>>,
    /// Whether large masked whole messages are unmasked behind room for an echo's header.
    echo_room: bool,
    /// Those messages of the last feed, encoded as unmasked frames (see [`Decoder::echo_frame`]).
    echoes: Vec<Bytes>,
}

/// Payloads shorter than this are not given echo room: copying them again costs less than
/// keeping their frames aside.
const ECHO_ROOM_MIN: usize = 1024;

impl Decoder {
    /// A decoder at the start of a stream.
    pub fn new(config: DecoderConfig) -> Self {
        Self {
            config,
            buf: BytesMut::new(),
            buf_offset: 0,
            stopped: false,
            ignored: 0,
            // A message must fit in memory too, whatever was configured.
            assembler: Assembler::new(config.limits.max_message_size.min(MAX_IN_MEMORY)),
            extension: None,
            echo_room: false,
            echoes: Vec::new(),
        }
    }

    /// Installs a negotiated extension (it may claim RSV bits and transform payloads).
    pub fn set_extension(&mut self, extension: Box<dyn Extension>) {
        self.extension = Some(extension);
    }

    /// Unmask large masked single-frame messages behind room for a header, so that a server
    /// echoing them sends the very buffer the message is in (see [`Decoder::echo_frame`]).
    pub fn reserve_echo_room(&mut self, on: bool) {
        self.echo_room = on;
        self.echoes.clear();
    }

    /// The message with this payload (from the last feed) as an unmasked frame of the same
    /// opcode, ready to send back: the payload unmasked once, behind its echo's header, and
    /// shared with the decoded message rather than copied again. `None` for a message that was
    /// not given the room (small, fragmented, compressed, or not masked).
    pub fn echo_frame(&mut self, payload: &Bytes) -> Option<Bytes> {
        let at = self.echoes.iter().position(|w| {
            w.len() >= payload.len() && w[w.len() - payload.len()..].as_ptr() == payload.as_ptr()
        })?;
        Some(self.echoes.swap_remove(at))
    }

    /// The configuration in use.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Whether decoding stopped for good (a length the decoder cannot follow).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Bytes received after decoding stopped.
    pub fn ignored_bytes(&self) -> u64 {
        self.ignored
    }

    /// Stream offset of the next byte to be pushed.
    pub fn stream_position(&self) -> u64 {
        self.buf_offset + self.buf.len() as u64 + self.ignored
    }

    /// What is held back waiting for more bytes.
    pub fn pending(&self) -> Pending {
        if self.buf.is_empty() || self.stopped {
            return Pending::Nothing;
        }
        match FrameHeader::parse(&self.buf) {
            None => Pending::PartialHeader {
                have: self.buf.len(),
            },
            Some((header, header_len)) => Pending::PartialPayload {
                payload_len: header.payload_len,
                have: (self.buf.len() - header_len) as u64,
            },
        }
    }

    /// Feeds bytes; appends what they complete to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Decoded>) {
        self.echoes.clear();
        if self.stopped {
            self.ignored += data.len() as u64;
            return;
        }
        extend_copy(&mut self.buf, data);
        let mut buf = std::mem::take(&mut self.buf);
        self.run(&mut buf, out);
        self.buf = buf;
        self.reserve_for_partial_frame();
    }

    /// Makes room for the rest of a frame whose header has arrived (see [`room_for_frame`]).
    fn reserve_for_partial_frame(&mut self) {
        if !self.stopped {
            let room = room_for_frame(&self.buf);
            self.buf.reserve(room.saturating_sub(self.buf.len()));
        }
    }

    /// Like [`Decoder::feed`], for bytes the caller already holds in a shared buffer: whole
    /// frames are cut out of `data` without copying it (only a masked payload is copied, to be
    /// unmasked), so a captured TCP read and the frames in it share memory.
    pub fn feed_bytes(&mut self, data: Bytes, out: &mut Vec<Decoded>) {
        if self.stopped || !self.buf.is_empty() {
            self.feed(&data, out);
            return;
        }
        self.echoes.clear();
        let mut data = data;
        self.run(&mut data, out);
        if !self.stopped && !data.is_empty() {
            // Reserve before copying the partial frame in, so it is copied once.
            self.buf.reserve(room_for_frame(&data));
            extend_copy(&mut self.buf, &data);
        }
    }

    /// Decodes every whole frame at the front of `src`.
    fn run<S: Source>(&mut self, src: &mut S, out: &mut Vec<Decoded>) {
        while !self.stopped {
            let Some((header, header_len)) = FrameHeader::parse(src.bytes()) else {
                break;
            };
            let mut violations = Vec::new();
            let fatal = self.check_header(&header, header_len, &mut violations);
            if fatal {
                let (header_bytes, _, _) = src.take(header_len, header_len, None, None);
                self.ignored += src.discard() as u64;
                self.stopped = true;
                let frame = Frame {
                    offset: self.buf_offset,
                    header,
                    header_bytes,
                    payload: Bytes::new(),
                    payload_captured: false,
                    fragment: Fragment::Stray,
                    violations,
                };
                out.push(Decoded::Frame(frame));
                break;
            }
            // Not fatal, so payload_len <= max_frame_size(), which fits in memory with its
            // header even on a 32-bit target; checked all the same rather than wrapped.
            let total = usize::try_from(header.payload_len)
                .ok()
                .and_then(|n| n.checked_add(header_len));
            let Some(total) = total else {
                break;
            };
            if src.bytes().len() < total {
                break;
            }
            // A whole, plain data message can be echoed as it is: room for the echo's header.
            let room = (self.echo_room
                && header.mask_key.is_some()
                && header.fin
                && matches!(header.opcode, OpCode::Text | OpCode::Binary)
                && header.rsv == [false; 3]
                && violations.is_empty()
                && total - header_len >= ECHO_ROOM_MIN
                && !self.assembler.has_open_message())
            .then(|| FrameHeader::new(header.opcode, header.payload_len, None));
            let (header_bytes, payload, echo) =
                src.take(header_len, total, header.mask_key, room.as_ref());
            let mut frame = Frame {
                offset: self.buf_offset,
                header,
                header_bytes,
                payload,
                payload_captured: true,
                fragment: Fragment::Stray,
                violations,
            };
            self.buf_offset += total as u64;
            let verdict = self.assembler.on_frame(&frame, &mut self.extension);
            frame.fragment = verdict.fragment;
            frame.violations.extend(verdict.violations);
            out.push(Decoded::Frame(frame));
            if let Some(m) = verdict.message {
                if let Some(echo) = echo {
                    self.echoes.push(echo);
                }
                out.push(Decoded::Message(m));
            }
        }
    }

    /// The frame limit in force: the configured one, but never more than a whole frame (header
    /// included) that fits in this target's memory, so `header_len + payload_len` cannot wrap
    /// a 32-bit `usize`.
    pub fn max_frame_size(&self) -> u64 {
        self.config.limits.max_frame_size.min(MAX_IN_MEMORY)
    }

    /// Bytes held back waiting for the rest of a frame (what a lying length field can make the
    /// decoder hold: never more than the frame limit plus a header).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Judges the header alone. Returns true when decoding cannot continue past it.
    fn check_header(&self, h: &FrameHeader, header_len: usize, out: &mut Vec<Violation>) -> bool {
        let at = self.buf_offset;
        let byte0 = at..at + 1;
        let byte1 = at + 1..at + 2;
        let len_field = at + 1..at + 2 + h.len_encoding.extra_bytes() as u64;
        let first_fragment = !h.opcode.is_control() && !self.assembler.has_open_message();
        let allowed = self
            .extension
            .as_ref()
            .map_or([false; 3], |e| e.allowed_rsv(h.opcode, first_fragment));
        for (i, (&set, &ok)) in h.rsv.iter().zip(allowed.iter()).enumerate() {
            if set && !ok {
                // §5.2: a nonzero RSV value with no extension defining it fails the connection.
                out.push(Violation::new(
                    Rule::ReservedBitSet,
                    byte0.clone(),
                    Detail::Rsv(i as u8 + 1),
                ));
            }
        }
        if h.opcode.is_reserved() {
            // §5.2: on an unknown opcode the receiving endpoint MUST fail the connection.
            out.push(Violation::new(
                Rule::ReservedOpcode,
                byte0.clone(),
                Detail::Opcode(u8::from(h.opcode)),
            ));
        }
        match (self.config.sender, h.masked) {
            // §5.1: a server MUST close on an unmasked client frame; a client on a masked one.
            (Some(Role::Client), false) => {
                out.push(Violation::new(
                    Rule::UnmaskedClientFrame,
                    byte1.clone(),
                    Detail::MaskBit(false),
                ));
            }
            (Some(Role::Server), true) => {
                out.push(Violation::new(
                    Rule::MaskedServerFrame,
                    byte1.clone(),
                    Detail::MaskBit(true),
                ));
            }
            _ => {}
        }
        if h.opcode.is_control() {
            if h.payload_len > 125 {
                // §5.5: all control frames MUST have a payload length of 125 bytes or less.
                out.push(Violation::new(
                    Rule::ControlFrameTooLong,
                    len_field.clone(),
                    Detail::PayloadLen(h.payload_len),
                ));
            }
            if !h.fin {
                // §5.5: control frames MUST NOT be fragmented.
                out.push(Violation::new(
                    Rule::FragmentedControlFrame,
                    byte0,
                    Detail::None,
                ));
            }
        }
        let minimal = LenEncoding::minimal_for(h.payload_len);
        if h.len_encoding != minimal && h.payload_len >> 63 == 0 {
            // §5.2: the minimal number of bytes MUST be used to encode the length.
            out.push(Violation::new(
                Rule::NonMinimalLength,
                len_field.clone(),
                Detail::LengthForm {
                    len: h.payload_len,
                    used: h.len_encoding,
                },
            ));
        }
        let mut fatal = false;
        if h.payload_len >> 63 != 0 {
            // §5.2: the most significant bit of the 64-bit length MUST be 0.
            out.push(Violation::new(
                Rule::LengthTopBitSet,
                len_field.clone(),
                Detail::None,
            ));
            fatal = true;
        }
        let max_frame = self.max_frame_size();
        if h.payload_len > max_frame {
            // §10.4: an implementation may limit frame size; the close code for that is 1009.
            out.push(Violation::new(
                Rule::FrameTooBig,
                len_field,
                Detail::Size {
                    size: h.payload_len,
                    limit: max_frame,
                },
            ));
            fatal = true;
        }
        debug_assert!(header_len == h.header_len());
        fatal
    }
}

/// The largest payload a frame can have and still fit in memory with the longest header (14
/// bytes). `usize` is at most 64 bits, so the cast widens.
const MAX_IN_MEMORY: u64 = (usize::MAX as u64).saturating_sub(14);

/// The buffer size to hold the frame that starts `partial`, so a large frame is not copied again
/// each time the buffer doubles. At most the announced size (which passed the frame limit), and
/// beyond 1 MiB at most twice what already arrived: a header alone cannot make the decoder hold
/// much more memory than was sent.
fn room_for_frame(partial: &[u8]) -> usize {
    let Some((header, header_len)) = FrameHeader::parse(partial) else {
        return partial.len();
    };
    let Ok(payload_len) = usize::try_from(header.payload_len) else {
        return partial.len();
    };
    let total = header_len.saturating_add(payload_len);
    total.min(partial.len().max(1 << 20)).max(partial.len())
}

/// Where the bytes being decoded are: the decoder's own growing buffer, or a caller's `Bytes`.
trait Source {
    fn bytes(&self) -> &[u8];
    /// Removes the first `total` bytes; returns the first `header_len` as received and the rest
    /// unmasked with `key`, and, when `room` is given and the source can, the unmasked payload
    /// behind `room` encoded (the payload returned is then part of that frame).
    fn take(
        &mut self,
        header_len: usize,
        total: usize,
        key: Option<[u8; 4]>,
        room: Option<&FrameHeader>,
    ) -> (Bytes, Bytes, Option<Bytes>);
    /// Drops everything left; returns how many bytes that was.
    fn discard(&mut self) -> usize;
}

impl Source for BytesMut {
    fn bytes(&self) -> &[u8] {
        self
    }

    fn take(
        &mut self,
        header_len: usize,
        total: usize,
        key: Option<[u8; 4]>,
        _room: Option<&FrameHeader>,
    ) -> (Bytes, Bytes, Option<Bytes>) {
        // The frame spans reads: it is unmasked in place in the decoder's own buffer.
        let mut raw = self.split_to(total);
        let mut payload = raw.split_off(header_len);
        if let Some(key) = key {
            apply_mask(&mut payload, key, 0);
        }
        (raw.freeze(), payload.freeze(), None)
    }

    fn discard(&mut self) -> usize {
        let n = self.len();
        self.clear();
        n
    }
}

impl Source for Bytes {
    fn bytes(&self) -> &[u8] {
        self
    }

    fn take(
        &mut self,
        header_len: usize,
        total: usize,
        key: Option<[u8; 4]>,
        room: Option<&FrameHeader>,
    ) -> (Bytes, Bytes, Option<Bytes>) {
        let raw = self.split_to(total);
        let (payload, echo) = match key {
            None => (raw.slice(header_len..), None),
            // The wire bytes stay as they were (they are the captured TCP read): unmask a copy.
            Some(key) => {
                let src = &raw[header_len..];
                let small = room.is_none().then(|| {
                    super::small_bytes(src.len(), |d| {
                        d.copy_from_slice(src);
                        apply_mask(d, key, 0);
                    })
                });
                match small.flatten() {
                    Some(payload) => (payload, None),
                    None => {
                        let mut p = Vec::new();
                        let start = room.map_or(0, |h| {
                            p.reserve(h.header_len() + total - header_len);
                            h.encode(&mut p);
                            p.len()
                        });
                        extend_masked(&mut p, src, Some(key), 0);
                        let p = Bytes::from(p);
                        (p.slice(start..), room.map(|_| p))
                    }
                }
            }
        };
        (raw.slice(..header_len), payload, echo)
    }

    fn discard(&mut self) -> usize {
        let n = self.len();
        self.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode_frame;

    fn masked(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut h = FrameHeader::new(opcode, 0, Some([9, 8, 7, 6]));
        h.fin = fin;
        let mut v = Vec::new();
        encode_frame(h, payload, &mut v);
        v
    }

    /// A large whole message from a client comes with its echo frame: the unmasked frame a
    /// server would encode, holding the very bytes of the message's payload. Small, fragmented
    /// and last-feed messages get none, and a decoder without the room gives none.
    #[test]
    fn echo_frames_are_the_encoded_answer_sharing_the_payload() {
        let big: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
        let mut d = Decoder::new(DecoderConfig {
            sender: Some(Role::Client),
            limits: Limits::default(),
        });
        d.reserve_echo_room(true);
        let mut wire = masked(OpCode::Binary, true, &big);
        wire.extend(masked(OpCode::Text, true, b"small"));
        wire.extend(masked(OpCode::Binary, false, &big));
        wire.extend(masked(OpCode::Continuation, true, b"end"));
        let mut out = Vec::new();
        d.feed_bytes(Bytes::from(wire), &mut out);
        let messages: Vec<Bytes> = out
            .iter()
            .filter_map(|x| match x {
                Decoded::Message(m) => Some(m.payload.clone()),
                Decoded::Frame(_) => None,
            })
            .collect();
        assert_eq!(messages.len(), 3);
        let echo = d.echo_frame(&messages[0]).unwrap_or_default();
        let mut want = Vec::new();
        encode_frame(FrameHeader::new(OpCode::Binary, 0, None), &big, &mut want);
        assert_eq!(&echo[..], &want[..]);
        assert_eq!(
            echo[4..].as_ptr(),
            messages[0].as_ptr(),
            "the payload itself, not a copy of it"
        );
        assert_eq!(d.echo_frame(&messages[0]), None, "taken once");
        assert_eq!(d.echo_frame(&messages[1]), None, "small");
        assert_eq!(d.echo_frame(&messages[2]), None, "fragmented");

        let again = Bytes::from(masked(OpCode::Binary, true, &big));
        d.feed_bytes(again.clone(), &mut out);
        d.feed_bytes(Bytes::from(masked(OpCode::Ping, true, b"")), &mut out);
        let Some(Decoded::Message(m)) = out.iter().rev().find(|x| matches!(x, Decoded::Message(_)))
        else {
            panic!("no message");
        };
        assert_eq!(d.echo_frame(&m.payload), None, "from an earlier feed");

        d.reserve_echo_room(false);
        let mut out = Vec::new();
        d.feed_bytes(again, &mut out);
        let Some(Decoded::Message(m)) = out.last() else {
            panic!("no message");
        };
        assert_eq!(m.payload[..], big[..]);
        assert_eq!(d.echo_frame(&m.payload), None, "no room asked for");
    }

    /// Whatever limit is configured, the one in force keeps a whole frame addressable, so
    /// `header_len + payload_len` cannot wrap `usize` (32-bit targets included).
    #[test]
    fn the_frame_limit_in_force_fits_in_memory() {
        let d = Decoder::new(DecoderConfig {
            sender: None,
            limits: Limits {
                max_frame_size: u64::MAX,
                max_message_size: u64::MAX,
            },
        });
        let most = d.max_frame_size();
        assert!(usize::try_from(most).is_ok_and(|n| n.checked_add(14).is_some()));
        let small = Decoder::new(DecoderConfig::default());
        assert_eq!(small.max_frame_size(), 16 << 20);
    }
}
