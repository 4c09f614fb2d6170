//! A sans-IO WebSocket connection (after the handshake): bytes in, events out, bytes to send.
//! It owns no socket; the caller reads, calls [`Connection::receive_data`], and writes
//! [`Connection::data_to_send`]. The shape follows python-websockets' protocol.py.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;

use super::close::{close_payload_bytes, parse_close_payload, CloseCode};
use super::decoder::{Decoded, Decoder, DecoderConfig};
use super::deflate::Deflater;
use super::frame::{encode_frame, Frame, FrameHeader, OpCode};
use super::mask::extend_copy;
use super::message::Message;
use super::violation::Violation;
use super::Role;

/// Where the closing handshake (§7) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Data may flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's.
    CloseSent,
    /// The peer sent a close frame and we have not answered yet (auto-close off).
    CloseReceived,
    /// Both close frames were exchanged, or the connection was failed.
    Closed,
}

/// What a call to [`Connection::receive_data`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// A frame arrived (reported even when it breaks rules).
    Frame(Frame),
    /// A text or binary message is complete.
    Message(Message),
    /// The peer's close frame arrived.
    CloseReceived {
        /// The status code, if the body had one.
        code: Option<CloseCode>,
        /// The reason text (lossy if it was not UTF-8).
        reason: String,
    },
    /// The peer broke a rule; a close frame with the rule's code is queued and the TCP
    /// connection should be closed (§7.1.7).
    Failed(Violation),
    /// Both close frames have been exchanged.
    CloseHandshakeDone,
}

/// A close frame's body: its code (none for an empty body) and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code, if the body had one.
    pub code: Option<CloseCode>,
    /// The reason text (lossy if it was not UTF-8).
    pub reason: String,
}

/// How a connection ended, for an inspector: the close that started the closing handshake and
/// who sent it. (§7.1.5's "connection close code" is the code *received*; an inspector shows
/// both frames anyway and names the one that began the close, as the engine always has.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseSummary {
    /// The code of the first close frame (sent or received); 1005 when that frame had no code,
    /// 1006 when no close frame went either way (the codes §7.1.5 defines for those cases).
    pub code: CloseCode,
    /// The reason of that close frame.
    pub reason: String,
    /// Who started the close: the sender of the first close frame, or whoever cut TCP.
    pub by: Role,
    /// Both close frames were exchanged (§7.1.1).
    pub clean: bool,
}

/// Why something could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A close frame was already sent; nothing may follow it (§5.5.1).
    #[error("a close frame was already sent")]
    Closed,
    /// Control frame payloads are at most 125 bytes (§5.5).
    #[error("control frame payload of {0} bytes; the limit is 125")]
    ControlTooLong(usize),
    /// Close reasons are at most 123 bytes (125 minus the code).
    #[error("close reason of {0} bytes; the limit is 123")]
    ReasonTooLong(usize),
}

/// One end of a WebSocket connection.
pub struct Connection {
    role: Role,
    decoder: Decoder,
    state: ConnectionState,
    /// A whole frame queued as it was encoded elsewhere ([`Connection::send_encoded`]), sent
    /// before `out`: it is only ever set while `out` is empty, and moved into `out` when more
    /// is queued, so the order on the wire is the order of the calls.
    encoded: Option<Bytes>,
    out: Vec<u8>,
    scratch: Vec<Decoded>,
    pending: VecDeque<Decoded>,
    ready: VecDeque<ConnectionEvent>,
    failed: bool,
    /// The first close frame we sent, and the first we received (python-websockets' `close_sent`
    /// and `close_rcvd`).
    close_sent: Option<CloseFrame>,
    close_rcvd: Option<CloseFrame>,
    /// Whether our close frame went before the peer's.
    sent_first: bool,
    /// Both close frames were exchanged (§7.1.1: a clean close, as far as frames go).
    close_done: bool,
    /// Who cut the TCP connection without a close frame before it, when that is known.
    cut_by: Option<Role>,
    /// Answer pings with pongs automatically (§5.5.2).
    pub auto_pong: bool,
    /// Answer a close frame with a close frame automatically (§5.5.1).
    pub auto_close: bool,
    /// Compresses the messages we send, once permessage-deflate is agreed (RFC 7692).
    deflater: Option<Deflater>,
}

impl Connection {
    /// A connection in the open state, for an endpoint playing `role`. The decoder judges the
    /// peer's frames (`config.sender` is set to the peer's role).
    pub fn new(role: Role, mut config: DecoderConfig) -> Self {
        config.sender = Some(role.peer());
        Self {
            role,
            decoder: Decoder::new(config),
            state: ConnectionState::Open,
            encoded: None,
            out: Vec::new(),
            scratch: Vec::new(),
            pending: VecDeque::new(),
            ready: VecDeque::new(),
            failed: false,
            close_sent: None,
            close_rcvd: None,
            sent_first: false,
            close_done: false,
            cut_by: None,
            auto_pong: true,
            auto_close: true,
            deflater: None,
        }
    }

    /// This endpoint's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The closing-handshake state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// Compresses the text and binary messages sent from now on (RFC 7692 §7.2.1). What this
    /// connection receives is inflated by an extension on whichever decoder decodes it.
    pub fn set_deflater(&mut self, deflater: Deflater) {
        self.deflater = Some(deflater);
    }

    /// The decoder (to install an extension, read its position).
    pub fn decoder_mut(&mut self) -> &mut Decoder {
        &mut self.decoder
    }

    /// Whether the caller should now close the TCP connection: after a failure (§7.1.7), or as
    /// the server once the close handshake is done (§7.1.1: the server closes TCP first).
    pub fn should_close_tcp(&self) -> bool {
        self.failed || (self.state == ConnectionState::Closed && self.role == Role::Server)
    }

    /// Takes the bytes queued for the wire.
    pub fn data_to_send(&mut self) -> Vec<u8> {
        self.unshare_encoded();
        std::mem::take(&mut self.out)
    }

    /// Takes the bytes queued for the wire, without copying a frame queued by
    /// [`Connection::send_encoded`] when it is all there is.
    pub fn take_output(&mut self) -> Bytes {
        match self.encoded.take() {
            Some(frame) if self.out.is_empty() => frame,
            frame => {
                self.encoded = frame;
                self.unshare_encoded();
                // A small output is copied out and the buffer kept for the next frames: one
                // allocation instead of a new buffer and its share count.
                let out = &self.out;
                match super::small_bytes(out.len(), |d| d.copy_from_slice(out)) {
                    Some(small) => {
                        self.out.clear();
                        small
                    }
                    None => Bytes::from(std::mem::take(&mut self.out)),
                }
            }
        }
    }

    /// Whether bytes are queued.
    pub fn has_data_to_send(&self) -> bool {
        !self.out.is_empty() || self.encoded.is_some()
    }

    /// Moves a frame queued by [`Connection::send_encoded`] into `out`, ahead of what follows.
    fn unshare_encoded(&mut self) {
        if let Some(frame) = self.encoded.take() {
            let rest = std::mem::take(&mut self.out);
            self.out.reserve(frame.len() + rest.len());
            extend_copy(&mut self.out, &frame);
            extend_copy(&mut self.out, &rest);
        }
    }

    /// Queues a data frame already encoded by the caller, unmasked, as a server sends: the
    /// echo of a message the decoder unmasked behind room for its header
    /// ([`Decoder::echo_frame`]), sent without copying it again. `Ok(false)`, and nothing
    /// queued, when the frame cannot go as it is: a client masks, and an agreed
    /// permessage-deflate compresses what is sent.
    pub fn send_encoded(&mut self, frame: Bytes) -> Result<bool, SendError> {
        self.check_open()?;
        if self.role == Role::Client || self.deflater.is_some() {
            return Ok(false);
        }
        if self.out.is_empty() && self.encoded.is_none() {
            self.encoded = Some(frame);
        } else {
            self.unshare_encoded();
            extend_copy(&mut self.out, &frame);
        }
        Ok(true)
    }

    /// Feeds received bytes; appends everything that happened to `events`. Automatic answers
    /// (pong, close) are queued as their frames are reached; to send replies to messages in
    /// stream order (before an auto-close that follows them), use [`Connection::feed_data`] and
    /// [`Connection::next_event`] instead.
    pub fn receive_data(&mut self, data: &[u8], events: &mut Vec<ConnectionEvent>) {
        self.feed_data(data);
        while let Some(e) = self.next_event() {
            events.push(e);
        }
    }

    /// Decodes received bytes; their events come from [`Connection::next_event`].
    pub fn feed_data(&mut self, data: &[u8]) {
        self.decoder.feed(data, &mut self.scratch);
        self.pending.extend(self.scratch.drain(..));
    }

    /// Like [`Connection::feed_data`], sharing the caller's buffer instead of copying it.
    pub fn feed_bytes(&mut self, data: bytes::Bytes) {
        self.decoder.feed_bytes(data, &mut self.scratch);
        self.pending.extend(self.scratch.drain(..));
    }

    /// The next event, processing decoded frames one at a time so that what the caller does in
    /// between (a reply to a message) goes on the wire before later automatic answers.
    pub fn next_event(&mut self) -> Option<ConnectionEvent> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Some(e);
            }
            let d = self.pending.pop_front()?;
            self.process(d);
        }
    }

    fn process(&mut self, d: Decoded) {
        let at = self.ready.len();
        let deliver = self.receive_decoded(&d);
        match d {
            // The frame goes before what it caused (a failure, the peer's close).
            Decoded::Frame(frame) => self.ready.insert(at, ConnectionEvent::Frame(frame)),
            Decoded::Message(m) if deliver => self.ready.push_back(ConnectionEvent::Message(m)),
            Decoded::Message(_) => {}
        }
    }

    /// Acts on a frame or a message of the peer's that was decoded elsewhere (a capture tap
    /// decodes each direction once, for the inspector and for this connection): queues the
    /// automatic answers, follows the closing handshake, and fails the connection on a broken
    /// rule. What that causes comes out of [`Connection::next_event`] (the frame and message
    /// themselves are not repeated there). Returns whether a message is for the application:
    /// none is once the connection has failed.
    pub fn receive_decoded(&mut self, d: &Decoded) -> bool {
        match d {
            Decoded::Frame(frame) => {
                if !self.failed {
                    match frame.violations.first() {
                        Some(v) => {
                            self.fail(v.clone());
                            self.ready.push_back(ConnectionEvent::Failed(v.clone()));
                        }
                        None => self.on_control(frame.header.opcode, &frame.payload),
                    }
                }
                false
            }
            Decoded::Message(_) => !self.failed,
        }
    }

    /// The first close frame this endpoint sent.
    pub fn close_sent(&self) -> Option<&CloseFrame> {
        self.close_sent.as_ref()
    }

    /// The first close frame the peer sent.
    pub fn close_received(&self) -> Option<&CloseFrame> {
        self.close_rcvd.as_ref()
    }

    /// The TCP connection was cut by `by` (this end dropping it, or the peer's end of stream or
    /// reset). Matters only when no close frame went before: then that end started the close.
    pub fn tcp_cut(&mut self, by: Role) {
        self.cut_by.get_or_insert(by);
    }

    /// How the connection ended (or stands): see [`CloseSummary`] for which code it names.
    pub fn close_summary(&self) -> CloseSummary {
        let first = if self.sent_first {
            self.close_sent.as_ref().map(|c| (c, self.role))
        } else {
            (self.close_rcvd.as_ref().map(|c| (c, self.role.peer())))
                .or_else(|| self.close_sent.as_ref().map(|c| (c, self.role)))
        };
        match first {
            Some((c, by)) => CloseSummary {
                code: c.code.unwrap_or(CloseCode::NoStatus),
                reason: c.reason.clone(),
                by,
                clean: self.close_done,
            },
            None => CloseSummary {
                code: CloseCode::Abnormal,
                reason: String::new(),
                by: self.cut_by.unwrap_or(self.role.peer()),
                clean: false,
            },
        }
    }

    /// Fails the connection (§7.1.7): queue a close frame with the violation's code and stop.
    fn fail(&mut self, v: Violation) {
        self.failed = true;
        if matches!(
            self.state,
            ConnectionState::Open | ConnectionState::CloseReceived
        ) {
            let mut reason = v.rule.description().to_string();
            truncate_utf8(&mut reason, 123);
            self.queue_close(v.close_code().code(), &reason);
        }
        self.state = ConnectionState::Closed;
    }

    fn on_control(&mut self, opcode: OpCode, payload: &[u8]) {
        match opcode {
            // §5.5.2: on a Ping, an endpoint MUST send a Pong with the same payload, unless it
            // already received a Close.
            OpCode::Ping if self.auto_pong && self.state == ConnectionState::Open => {
                self.queue(OpCode::Pong, payload);
            }
            OpCode::Close => {
                // The decoder has already rejected 1-byte bodies, bad codes and bad reasons.
                let (code, reason) = match parse_close_payload(payload) {
                    Ok(Some(p)) => (Some(p.code), p.reason.unwrap_or_default()),
                    _ => (None, String::new()),
                };
                if self.close_rcvd.is_none() {
                    self.close_rcvd = Some(CloseFrame {
                        code,
                        reason: reason.clone(),
                    });
                }
                self.ready.push_back(ConnectionEvent::CloseReceived {
                    code,
                    reason: reason.clone(),
                });
                match self.state {
                    ConnectionState::Open if self.auto_close => {
                        // §5.5.1: answer with a Close frame, typically echoing the status code.
                        let body = code
                            .map(|c| close_payload_bytes(c.code(), ""))
                            .unwrap_or_default();
                        self.queue(OpCode::Close, &body);
                        self.close_sent.get_or_insert(CloseFrame {
                            code,
                            reason: String::new(),
                        });
                        self.state = ConnectionState::Closed;
                        self.close_done = true;
                        self.ready.push_back(ConnectionEvent::CloseHandshakeDone);
                    }
                    ConnectionState::Open => self.state = ConnectionState::CloseReceived,
                    ConnectionState::CloseSent => {
                        self.state = ConnectionState::Closed;
                        self.close_done = true;
                        self.ready.push_back(ConnectionEvent::CloseHandshakeDone);
                    }
                    ConnectionState::CloseReceived | ConnectionState::Closed => {}
                }
            }
            _ => {}
        }
    }

    fn mask_key(&self) -> Option<[u8; 4]> {
        // §5.3: a client masks every frame with a fresh, unpredictable key; a server never masks.
        (self.role == Role::Client).then(fresh_mask_key)
    }

    fn queue(&mut self, opcode: OpCode, payload: &[u8]) {
        self.unshare_encoded();
        let header = FrameHeader::new(opcode, payload.len() as u64, self.mask_key());
        encode_frame(header, payload, &mut self.out);
    }

    fn queue_close(&mut self, code: u16, reason: &str) {
        self.queue(OpCode::Close, &close_payload_bytes(code, reason));
        if self.close_sent.is_none() {
            self.sent_first = self.close_rcvd.is_none();
            self.close_sent = Some(CloseFrame {
                code: Some(CloseCode::from(code)),
                reason: reason.to_string(),
            });
        }
    }

    fn check_open(&self) -> Result<(), SendError> {
        match self.state {
            ConnectionState::Open | ConnectionState::CloseReceived => Ok(()),
            _ => Err(SendError::Closed),
        }
    }

    /// Queues a text message in one frame.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.check_open()?;
        self.queue_data(OpCode::Text, text.as_bytes());
        Ok(())
    }

    /// Queues a binary message in one frame.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        self.queue_data(OpCode::Binary, data);
        Ok(())
    }

    /// A data message in one frame, compressed when permessage-deflate is agreed.
    fn queue_data(&mut self, opcode: OpCode, payload: &[u8]) {
        let Some(d) = self.deflater.as_mut() else {
            self.queue(opcode, payload);
            return;
        };
        let (payload, compressed) = d.deflate(payload);
        self.unshare_encoded();
        let mut header = FrameHeader::new(opcode, payload.len() as u64, self.mask_key());
        // RFC 7692 §6: RSV1 on the first frame says the message is compressed.
        header.rsv[0] = compressed;
        encode_frame(header, &payload, &mut self.out);
    }

    /// Queues a ping.
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues a pong (unsolicited pongs are allowed as a heartbeat, §5.5.3).
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        if payload.len() > 125 {
            return Err(SendError::ControlTooLong(payload.len()));
        }
        self.queue(opcode, payload);
        Ok(())
    }

    /// Starts (or answers) the closing handshake.
    pub fn send_close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        self.check_open()?;
        if reason.len() > 123 {
            return Err(SendError::ReasonTooLong(reason.len()));
        }
        self.queue_close(code, reason);
        self.state = match self.state {
            ConnectionState::CloseReceived => {
                self.close_done = true;
                ConnectionState::Closed
            }
            _ => ConnectionState::CloseSent,
        };
        Ok(())
    }

    /// Queues a frame exactly as given (any opcode, RSV bits, even a lie about the length):
    /// for demonstrating what a peer does with bad input. The connection state does not change.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.unshare_encoded();
        self.out.extend_from_slice(bytes);
    }
}

/// A masking key from the operating system's random source.
pub fn fresh_mask_key() -> [u8; 4] {
    static FALLBACK: AtomicU32 = AtomicU32::new(0x5EED_1234);
    let mut key = [0u8; 4];
    if getrandom::fill(&mut key).is_err() {
        // The OS source failing is not something input can cause; still never reuse a key.
        key = FALLBACK
            .fetch_add(0x9E37_79B9, Ordering::Relaxed)
            .to_le_bytes();
    }
    key
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}
