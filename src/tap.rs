//! The capture tap: the one piece of code that turns the bytes of one TCP connection, both
//! directions, into [`Event`]s — the TCP reads and writes, the opening handshake, every frame and
//! message each way with the rules it broke. Whoever holds the socket feeds it: the server now,
//! the client, the proxy's two legs and a capture importer the same way.
//!
//! Each direction is decoded once, here. An endpoint that must act on what it receives (answer a
//! ping, follow the closing handshake) hands the tap's decoded frames to its protocol
//! [`Connection`](crate::protocol::Connection) with `receive_decoded`, instead of decoding again.

use std::time::Duration;

use bytes::Bytes;

use crate::event::{Clock, ConnId, Direction, Endpoint, ErrorKind, Event, EventKind, LimitKind};
use crate::protocol::deflate::PerMessageDeflate;
use crate::protocol::handshake::{
    parse_request, Handshake, HandshakeError, HandshakeLimits, Parsed, Request,
};
use crate::protocol::{Decoded, Decoder, DecoderConfig, Limits, Role};

/// The largest frame (and message) the tap follows on wsscope's own side unless the peer's
/// limits are larger: far above anything the composer or an echo sends with the default
/// limits, small enough that a raw frame announcing 2^40 bytes stops decoding there.
pub const OWN_FRAME_CAP: u64 = 64 << 20;

/// Where the request head stands.
#[derive(Debug)]
pub enum Head {
    /// More bytes are needed.
    Partial,
    /// The head is complete; bytes after it (the first frames, sent with the request) are kept
    /// in the tap until [`Tap::take_rest`].
    Complete(Request),
    /// The head cannot be answered with a handshake: the limit it broke, with its numbers (the
    /// event is already in the batch), or why it does not parse.
    Refused(HandshakeError),
}

/// One connection's bytes, turned into events.
pub struct Tap {
    id: ConnId,
    clock: Clock,
    endpoint: Endpoint,
    /// When the connection opened, on the clock.
    opened: Duration,
    /// The time events are stamped with when the caller says when things happened (a capture
    /// file's packet times); `None` stamps them with the clock, now.
    at: Option<Duration>,
    /// The request head received so far (before the upgrade).
    head: Vec<u8>,
    /// Bytes that came after the request head in the same reads.
    rest: Bytes,
    /// The frame decoder of each direction, once that direction carries frames.
    decoders: [Option<Decoder>; 2],
    /// What a decoder produced, reused from call to call.
    scratch: Vec<Decoded>,
    /// Times the request head was parsed (each parse reads it from the start).
    head_parses: usize,
}

impl Tap {
    /// A tap for connection `id`, on which wsscope is `endpoint`.
    pub fn new(id: ConnId, clock: Clock, endpoint: Endpoint) -> Self {
        Self {
            id,
            clock,
            endpoint,
            opened: clock.now(),
            at: None,
            head: Vec::new(),
            rest: Bytes::new(),
            decoders: [None, None],
            scratch: Vec::new(),
            head_parses: 0,
        }
    }

    /// The connection's number.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// A tap for a connection read from a capture: events are stamped with the times given
    /// to [`Tap::set_time`] (since the capture's time zero), starting at `opened`.
    pub fn replay(id: ConnId, endpoint: Endpoint, opened: Duration) -> Self {
        let mut tap = Self::new(id, Clock::start(), endpoint);
        tap.opened = opened;
        tap.at = Some(opened);
        tap
    }

    /// Stamps the events that follow with `time` (since the capture's time zero) instead of
    /// the clock: what a capture file says, not when it is read.
    pub fn set_time(&mut self, time: Duration) {
        self.at = Some(time);
    }

    /// The time events are stamped with.
    fn now(&self) -> Duration {
        self.at.unwrap_or_else(|| self.clock.now())
    }

    /// Time since the connection opened.
    pub fn age(&self) -> Duration {
        self.now().saturating_sub(self.opened)
    }

    /// An event of this connection, stamped now (or at the time given to [`Tap::set_time`]).
    pub fn event(&self, kind: EventKind) -> Event {
        Event {
            conn: self.id,
            time: self.now(),
            kind,
        }
    }

    /// The connection opened between these addresses.
    pub fn opened(&self, client: std::net::SocketAddr, server: std::net::SocketAddr) -> Event {
        self.event(EventKind::Opened {
            endpoint: self.endpoint,
            client,
            server,
        })
    }

    /// The connection ended without a WebSocket close (a plain HTTP answer, a refused or failed
    /// opening handshake, a cut before the upgrade): who ended it.
    pub fn closed_unclean(&self, by: crate::event::ClosedBy) -> Event {
        self.event(EventKind::Closed {
            code: None,
            reason: String::new(),
            by,
            clean: false,
        })
    }

    /// The size limits a received frame broke, as `Limit` events with both numbers (the frame's
    /// own event carries the violation; these say which configured limit it was).
    pub fn size_limits(&self, frame: &crate::protocol::Frame, out: &mut Vec<Event>) {
        use crate::protocol::{Detail, Rule};
        for v in &frame.violations {
            let kind = match v.rule {
                Rule::FrameTooBig => LimitKind::FrameSize,
                Rule::MessageTooBig => LimitKind::MessageSize,
                _ => continue,
            };
            // A size rule's detail carries both numbers.
            let Detail::Size { size, limit } = &v.detail else {
                continue;
            };
            out.push(self.event(EventKind::Limit {
                kind,
                limit: *limit,
                actual: *size,
            }));
        }
    }

    /// One TCP read or write, as it was: its exact bytes.
    pub fn tcp(&self, direction: Direction, bytes: Bytes, out: &mut Vec<Event>) {
        out.push(self.event(EventKind::Tcp { direction, bytes }));
    }

    /// Bytes of the request head arrived (client to server, before the upgrade): records the
    /// TCP event and says whether the head is complete. Past a limit, the `Limit` event (with
    /// the limit and what was received) is added too.
    pub fn request_bytes(
        &mut self,
        bytes: Bytes,
        limits: &HandshakeLimits,
        out: &mut Vec<Event>,
    ) -> Head {
        self.head.extend_from_slice(&bytes);
        // A head can only end, or a line in it turn out malformed, with a line feed: parsing
        // again only when one arrived (or at the size limit) keeps a head dripped one byte per
        // read from being parsed from its start for every byte. It is parsed at most once per
        // line, and lines are bounded by the header limit.
        let line_ended = bytes.contains(&b'\n');
        self.tcp(Direction::ClientToServer, bytes, out);
        if !line_ended && self.head.len() < limits.max_bytes {
            return Head::Partial;
        }
        self.head_parses += 1;
        match parse_request(&self.head, limits) {
            Ok(Parsed::Partial) => Head::Partial,
            Ok(Parsed::Complete(request)) => {
                let head = std::mem::take(&mut self.head);
                self.rest = Bytes::copy_from_slice(head.get(request.raw.len()..).unwrap_or(&[]));
                Head::Complete(request)
            }
            Err(e) => {
                let (kind, limit, actual) = match &e {
                    HandshakeError::TooLarge { limit } => {
                        (LimitKind::HandshakeBytes, *limit, self.head.len())
                    }
                    HandshakeError::TooManyHeaders { limit } => (
                        LimitKind::HandshakeHeaders,
                        *limit,
                        header_lines(&self.head),
                    ),
                    HandshakeError::Malformed(_) => return Head::Refused(e),
                };
                out.push(self.event(EventKind::Limit {
                    kind,
                    limit: limit as u64,
                    actual: actual as u64,
                }));
                Head::Refused(e)
            }
        }
    }

    /// How many times the request head was parsed so far.
    pub fn head_parses(&self) -> usize {
        self.head_parses
    }

    /// Bytes received so far of an unfinished request head.
    pub fn head_len(&self) -> usize {
        self.head.len()
    }

    /// The bytes that came after a complete request head (the client's first frames).
    pub fn take_rest(&mut self) -> Bytes {
        std::mem::take(&mut self.rest)
    }

    /// The opening handshake is done: records it and, when it switched to WebSocket, starts
    /// decoding frames both ways. `limits` bound what the other end sends; what wsscope sends
    /// itself it bounded already (a file's two ends both get `limits`).
    pub fn handshake(&mut self, hs: Handshake, limits: Limits, out: &mut Vec<Event>) {
        if hs.accepted() {
            // RFC 7692: when the 101 agreed to permessage-deflate, each direction is inflated
            // for display with its own context, as its sender compresses it.
            let deflate = crate::protocol::deflate::agreed(&hs);
            let ours = self.endpoint.role();
            for sender in [Role::Client, Role::Server] {
                let limits = if Some(sender) == ours {
                    // What wsscope sends is bounded by what it is asked to send (an echo is at
                    // most the peer's message limit), except a raw frame whose length field
                    // lies: a generous cap keeps that from holding every later byte.
                    let cap = OWN_FRAME_CAP
                        .max(limits.max_frame_size)
                        .max(limits.max_message_size);
                    Limits {
                        max_frame_size: cap,
                        max_message_size: cap,
                    }
                } else {
                    limits
                };
                let mut decoder = Decoder::new(DecoderConfig {
                    sender: Some(sender),
                    limits,
                });
                if let Some(p) = &deflate {
                    decoder.set_extension(Box::new(PerMessageDeflate::new(p, sender)));
                } else if ours == Some(Role::Server) && sender == Role::Client {
                    // A server may echo what it receives: see `Tap::echo_frame`.
                    decoder.reserve_echo_room(true);
                }
                self.decoders[Direction::sent_by(sender).index()] = Some(decoder);
            }
        }
        out.push(self.event(EventKind::Handshake(Box::new(hs))));
    }

    /// Decodes WebSocket bytes that went `direction` (after the handshake) into `decoded`,
    /// without recording anything: for an endpoint that acts on each frame before it is
    /// recorded with [`Tap::decoded`].
    pub fn decode(&mut self, direction: Direction, bytes: Bytes, decoded: &mut Vec<Decoded>) {
        if let Some(d) = self.decoders[direction.index()].as_mut() {
            d.feed_bytes(bytes, decoded);
        }
    }

    /// A message that came `direction` in the last bytes decoded, as a frame ready to go back
    /// unmasked without copying it again (see [`Decoder::echo_frame`]); `None` when it was not
    /// given the room.
    pub fn echo_frame(&mut self, direction: Direction, payload: &Bytes) -> Option<Bytes> {
        self.decoders[direction.index()]
            .as_mut()
            .and_then(|d| d.echo_frame(payload))
    }

    /// The event of a frame or message that went `direction`.
    pub fn decoded(&self, direction: Direction, d: Decoded) -> Event {
        self.event(match d {
            Decoded::Frame(frame) => EventKind::Frame {
                direction,
                frame: Box::new(frame),
            },
            Decoded::Message(message) => EventKind::Message { direction, message },
        })
    }

    /// WebSocket bytes that went `direction` in one read or write: the TCP event, then every
    /// frame and message they complete.
    pub fn observe(&mut self, direction: Direction, bytes: Bytes, out: &mut Vec<Event>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let was_stopped = self.is_stopped(direction);
        // The frames cut from these bytes share their buffer.
        self.decode(direction, bytes.clone(), &mut scratch);
        self.tcp(direction, bytes, out);
        let own = self.endpoint.role().map(Direction::sent_by) == Some(direction);
        let stopped_here = own && !was_stopped && self.is_stopped(direction);
        let limit = self.decoders[direction.index()]
            .as_ref()
            .map_or(0, Decoder::max_frame_size);
        for d in scratch.drain(..) {
            // Decoding stops at a frame whose payload it does not follow: the last one.
            let stop = match &d {
                Decoded::Frame(f) if stopped_here && !f.payload_captured => {
                    Some(ErrorKind::OwnFrameTooBig {
                        direction,
                        offset: f.offset,
                        announced: f.header.payload_len,
                        limit,
                    })
                }
                _ => None,
            };
            out.push(self.decoded(direction, d));
            if let Some(e) = stop {
                out.push(self.event(EventKind::Error(e)));
            }
        }
        self.scratch = scratch;
    }

    /// Whether decoding of `direction` stopped for good.
    fn is_stopped(&self, direction: Direction) -> bool {
        self.decoders[direction.index()]
            .as_ref()
            .is_some_and(Decoder::is_stopped)
    }

    /// Bytes the decoder of `direction` holds back waiting for the rest of a frame.
    pub fn buffered(&self, direction: Direction) -> usize {
        self.decoders[direction.index()]
            .as_ref()
            .map_or(0, Decoder::buffered)
    }
}

/// Header lines in a request head (the request line and the blank line not counted).
fn header_lines(head: &[u8]) -> usize {
    head.split(|&b| b == b'\n')
        .skip(1)
        .take_while(|l| !l.is_empty() && *l != b"\r")
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::{answer, ServerPolicy};
    use crate::protocol::{encode_frame, FrameHeader, OpCode};

    const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn frame(opcode: OpCode, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
        let mut v = Vec::new();
        encode_frame(
            FrameHeader::new(opcode, payload.len() as u64, key),
            payload,
            &mut v,
        );
        v
    }

    /// Both directions, from the request head to frames, come out as the same events whether the
    /// bytes arrive in one piece or one byte at a time.
    #[test]
    fn a_connection_in_any_chunking_gives_the_same_events() {
        let mut c2s = REQUEST.to_vec();
        c2s.extend(frame(
            OpCode::Text,
            b"Hello",
            Some([0x37, 0xfa, 0x21, 0x3d]),
        ));
        let s2c = frame(OpCode::Text, b"thank you!!!", None);
        let run = |chunk: usize| {
            let mut tap = Tap::new(7, Clock::start(), Endpoint::File);
            let mut out = Vec::new();
            let mut request = None;
            let mut rest = Vec::new();
            for piece in c2s.chunks(chunk) {
                let piece = Bytes::copy_from_slice(piece);
                if request.is_some() {
                    rest.extend_from_slice(&piece);
                    continue;
                }
                match tap.request_bytes(piece, &HandshakeLimits::default(), &mut out) {
                    Head::Partial => {}
                    Head::Complete(r) => {
                        request = Some(r);
                        rest.extend_from_slice(&tap.take_rest());
                    }
                    Head::Refused(e) => panic!("refused: {e}"),
                }
            }
            let Some(r) = request else {
                panic!("the head never completed");
            };
            let hs = answer(r, &ServerPolicy::default());
            tap.handshake(hs, Limits::default(), &mut out);
            // What followed the head, then the server's reply.
            let mut frames = Vec::new();
            tap.observe(Direction::ClientToServer, Bytes::from(rest), &mut frames);
            tap.observe(
                Direction::ServerToClient,
                Bytes::from(s2c.clone()),
                &mut frames,
            );
            let summary: Vec<String> = frames
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::Frame { direction, frame } => Some(format!(
                        "{direction:?} frame {:?} {:?}",
                        frame.header.opcode, frame.payload
                    )),
                    EventKind::Message { direction, message } => {
                        Some(format!("{direction:?} message {:?}", message.payload))
                    }
                    _ => None,
                })
                .collect();
            (out.iter().all(|e| e.conn == 7), summary)
        };
        let whole = run(c2s.len());
        assert!(whole.0);
        assert_eq!(
            whole.1,
            [
                "ClientToServer frame Text b\"Hello\"",
                "ClientToServer message b\"Hello\"",
                "ServerToClient frame Text b\"thank you!!!\"",
                "ServerToClient message b\"thank you!!!\"",
            ]
        );
        for chunk in [1, 2, 7, 100] {
            assert_eq!(run(chunk), whole, "chunks of {chunk}");
        }
    }

    /// A request head past the size limit is refused with a Limit event that carries the limit
    /// and how much arrived.
    #[test]
    fn an_oversized_head_gives_a_limit_with_both_numbers() {
        let mut tap = Tap::new(1, Clock::start(), Endpoint::Server);
        let mut out = Vec::new();
        let limits = HandshakeLimits {
            max_bytes: 64,
            max_headers: 64,
        };
        let head = Bytes::from(vec![b'a'; 100]);
        assert!(matches!(
            tap.request_bytes(head, &limits, &mut out),
            Head::Refused(HandshakeError::TooLarge { limit: 64 })
        ));
        assert!(out.iter().any(|e| matches!(
            e.kind,
            EventKind::Limit {
                kind: LimitKind::HandshakeBytes,
                limit: 64,
                actual: 100
            }
        )));
    }

    /// Our own direction: a frame that announces more than [`OWN_FRAME_CAP`] stops decoding
    /// there, says so once, and nothing sent after it is held back.
    #[test]
    fn a_lying_length_on_our_side_is_not_followed() {
        let mut tap = Tap::new(3, Clock::start(), Endpoint::Server);
        let mut out = Vec::new();
        let r = match parse_request(REQUEST, &HandshakeLimits::default()) {
            Ok(Parsed::Complete(r)) => r,
            other => panic!("{other:?}"),
        };
        tap.handshake(
            answer(r, &ServerPolicy::default()),
            Limits::default(),
            &mut out,
        );
        let mut lie = vec![0x82, 0x7f];
        lie.extend_from_slice(&(1u64 << 40).to_be_bytes());
        let s2c = Direction::ServerToClient;
        tap.observe(s2c, Bytes::from(lie), &mut out);
        for _ in 0..8 {
            tap.observe(
                s2c,
                Bytes::from(frame(OpCode::Binary, &[1; 1 << 20], None)),
                &mut out,
            );
        }
        assert_eq!(tap.buffered(s2c), 0);
        let errors = out
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Error(ErrorKind::OwnFrameTooBig { .. })))
            .count();
        assert_eq!(errors, 1);
        // A frame as large as the cap is still followed on our side.
        let mut tap = Tap::new(4, Clock::start(), Endpoint::Server);
        let r = match parse_request(REQUEST, &HandshakeLimits::default()) {
            Ok(Parsed::Complete(r)) => r,
            other => panic!("{other:?}"),
        };
        tap.handshake(
            answer(r, &ServerPolicy::default()),
            Limits::default(),
            &mut out,
        );
        let mut big = vec![0x82, 0x7f];
        big.extend_from_slice(&OWN_FRAME_CAP.to_be_bytes());
        out.clear();
        tap.observe(s2c, Bytes::from(big), &mut out);
        assert!(!out.iter().any(|e| matches!(e.kind, EventKind::Error(_))));
    }

    /// A head dripped one byte per read is parsed once per line, not once per byte, and
    /// completes the same.
    #[test]
    fn a_dripped_head_is_parsed_once_per_line() {
        let mut tap = Tap::new(1, Clock::start(), Endpoint::Server);
        let mut out = Vec::new();
        let limits = HandshakeLimits::default();
        let mut complete = None;
        for (i, b) in REQUEST.iter().enumerate() {
            match tap.request_bytes(Bytes::copy_from_slice(&[*b]), &limits, &mut out) {
                Head::Partial => assert!(i + 1 < REQUEST.len(), "partial at the end"),
                Head::Complete(r) => complete = Some(r),
                Head::Refused(e) => panic!("refused: {e}"),
            }
        }
        let lines = REQUEST.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(tap.head_parses(), lines);
        assert!(lines < REQUEST.len() / 10);
        assert_eq!(complete.map(|r| r.raw), Some(REQUEST.to_vec()));
        // One TCP event per read, as always.
        assert_eq!(out.len(), REQUEST.len());
    }

    /// A malformed request line is still refused as soon as it ends, and a head with no line
    /// feed at all at the size limit.
    #[test]
    fn a_bad_line_or_a_long_line_is_refused_without_the_blank_line() {
        let limits = HandshakeLimits {
            max_bytes: 64,
            max_headers: 8,
        };
        let mut tap = Tap::new(1, Clock::start(), Endpoint::Server);
        let mut out = Vec::new();
        let mut r = Head::Partial;
        for b in b"HELLO THERE\r\n" {
            r = tap.request_bytes(Bytes::copy_from_slice(&[*b]), &limits, &mut out);
        }
        assert!(
            matches!(r, Head::Refused(HandshakeError::Malformed(_))),
            "{r:?}"
        );
        assert_eq!(tap.head_parses(), 1);
        let mut tap = Tap::new(2, Clock::start(), Endpoint::Server);
        let mut r = Head::Partial;
        for _ in 0..64 {
            r = tap.request_bytes(Bytes::from_static(b"a"), &limits, &mut out);
        }
        assert!(
            matches!(r, Head::Refused(HandshakeError::TooLarge { limit: 64 })),
            "{r:?}"
        );
        assert_eq!(tap.head_parses(), 1);
    }

    #[test]
    fn header_lines_counts_fields_only() {
        assert_eq!(header_lines(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n"), 2);
        assert_eq!(header_lines(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2"), 2);
        assert_eq!(header_lines(b"GET / HTTP/1.1"), 0);
    }
}
