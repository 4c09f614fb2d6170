//! One TCP connection read from a capture: its two streams, whether it carries a WebSocket
//! upgrade, and once it does, the tap that turns its bytes into events.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::event::{
    ClosedBy, ConnId, Direction, Endpoint, ErrorKind, Event, EventKind, GapCause, HttpOutcome,
    RequestLine,
};
use crate::protocol::handshake::{
    observed, parse_request, parse_response, HandshakeLimits, Parsed, Request,
};
use crate::protocol::{parse_close_payload, CloseCode, Decoded, Limits, OpCode};
use crate::tap::{Head, Tap};

use super::stream::{Overflow, Stream, MAX_HELD_PER_DIRECTION};

/// What one side's first bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    /// Not enough yet.
    Unknown,
    /// Not a WebSocket upgrade request: this side is not a client.
    NotUpgrade,
}

/// Where the opening handshake stands on a WebSocket connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The client's request head is arriving.
    Request,
    /// The request is complete; the server's answer is arriving.
    Response,
    /// Switched: frames both ways.
    Frames,
    /// Not switched (refused, or the answer did not parse): only TCP events.
    Plain,
}

struct Ws {
    tap: Tap,
    /// The side (0 or 1) that is the client.
    client: usize,
    phase: Phase,
    request: Option<Request>,
    /// The server's bytes until its response head is complete.
    response: Vec<u8>,
    /// The client's bytes after its request, until the server answers.
    early: Vec<Bytes>,
    early_len: usize,
    /// The first close frame (its sender, code and reason) and which ways one went.
    first_close: Option<(Direction, Option<CloseCode>, String)>,
    close_sent: [bool; 2],
    scratch: Vec<Decoded>,
}

enum State {
    /// Which side is the client is not known yet: each side's bytes so far, with their times.
    Undecided {
        pre: [Vec<(Duration, Bytes)>; 2],
        len: [usize; 2],
        opening: [Opening; 2],
    },
    WebSocket(Box<Ws>),
    /// Not a WebSocket connection (or not decidable): followed only to be ignored.
    Skipped,
}

/// How a flow was ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// FIN both ways, or RST.
    Closed,
    /// The file ended.
    EndOfFile,
}

/// What a packet did to a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Still open.
    Open,
    /// Over: end it.
    Over,
}

/// Counters the importer adds up.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlowCounts {
    /// Became a WebSocket connection.
    pub websocket: bool,
    /// Decided not to be one.
    pub skipped: bool,
    /// Holes found.
    pub gaps: u64,
}

/// One TCP connection.
pub struct Flow {
    /// Side 0 is the sender of the first segment seen, side 1 the other.
    addrs: [SocketAddr; 2],
    streams: [Stream; 2],
    /// When its first packet was captured.
    opened: Duration,
    /// The side whose FIN or RST came first.
    first_cut: Option<usize>,
    state: State,
    /// Counters.
    pub counts: FlowCounts,
}

const HANDSHAKE: HandshakeLimits = HandshakeLimits {
    max_bytes: 16 * 1024,
    max_headers: 64,
};

impl Flow {
    /// A flow whose first segment went from `from` to `to` at `time`.
    pub fn new(from: SocketAddr, to: SocketAddr, time: Duration) -> Self {
        Self {
            addrs: [from, to],
            streams: [Stream::default(), Stream::default()],
            opened: time,
            first_cut: None,
            state: State::Undecided {
                pre: [Vec::new(), Vec::new()],
                len: [0, 0],
                opening: [Opening::Unknown; 2],
            },
            counts: FlowCounts::default(),
        }
    }

    /// The side that sends from `addr`.
    pub fn side(&self, addr: SocketAddr) -> usize {
        usize::from(addr != self.addrs[0])
    }

    /// Its streams (for counters).
    pub fn streams(&self) -> &[Stream; 2] {
        &self.streams
    }

    /// The connection number, once it is a WebSocket connection.
    pub fn conn(&self) -> Option<ConnId> {
        match &self.state {
            State::WebSocket(ws) => Some(ws.tap.id()),
            _ => None,
        }
    }

    /// A segment from `side`. `next_id` numbers a connection found to be WebSocket; `total`
    /// is what all streams hold out of order.
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        side: usize,
        seg: &super::link::Segment<'_>,
        time: Duration,
        next_id: &mut ConnId,
        total: &mut usize,
        out: &mut Vec<Event>,
    ) -> Verdict {
        let stream = &mut self.streams[side];
        if seg.syn {
            stream.syn(seg.seq);
        }
        let seq = if seg.syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let mut chunks = Vec::new();
        let result = stream.segment(seq, seg.payload, seg.fin, total, &mut chunks);
        for bytes in chunks {
            self.deliver(side, bytes, time, next_id, out);
        }
        if result == Err(Overflow) {
            self.gap(
                side,
                GapCause::BufferFull {
                    limit: MAX_HELD_PER_DIRECTION as u64,
                },
                time,
                total,
                out,
            );
        }
        if seg.fin || seg.rst {
            self.first_cut.get_or_insert(side);
        }
        if seg.rst || self.streams.iter().all(Stream::fin_seen) {
            Verdict::Over
        } else {
            Verdict::Open
        }
    }

    /// Ends the flow: holes left are reported, and a WebSocket connection says how it closed.
    pub fn end(
        mut self,
        how: End,
        time: Duration,
        total: &mut usize,
        out: &mut Vec<Event>,
    ) -> FlowCounts {
        let cause = match how {
            End::Closed => GapCause::Closed,
            End::EndOfFile => GapCause::EndOfFile,
        };
        for side in 0..2 {
            self.gap(side, cause, time, total, out);
        }
        match &mut self.state {
            // As on a live server: a connection that never switched ends with its HTTP answer
            // (or without one), not with a WebSocket close.
            State::WebSocket(ws) if ws.phase != Phase::Frames => {}
            State::WebSocket(ws) => {
                ws.tap.set_time(time);
                let (code, reason, by) = match &ws.first_close {
                    Some((d, code, reason)) => (
                        code.unwrap_or(CloseCode::NoStatus),
                        reason.clone(),
                        match d {
                            Direction::ClientToServer => ClosedBy::Client,
                            Direction::ServerToClient => ClosedBy::Server,
                        },
                    ),
                    None => {
                        // No close frame: whoever cut TCP first (the client if nobody did).
                        let by = match self.first_cut {
                            Some(s) if s != ws.client => ClosedBy::Server,
                            _ => ClosedBy::Client,
                        };
                        (CloseCode::Abnormal, String::new(), by)
                    }
                };
                out.push(ws.tap.event(EventKind::Closed {
                    code: Some(code),
                    reason,
                    by,
                    clean: ws.close_sent == [true, true],
                }));
            }
            State::Undecided { .. } => self.counts.skipped = true,
            State::Skipped => {}
        }
        self.counts
    }

    /// Reports the hole in `side`'s stream, if there is one, and stops that direction.
    fn gap(
        &mut self,
        side: usize,
        cause: GapCause,
        time: Duration,
        total: &mut usize,
        out: &mut Vec<Event>,
    ) {
        let Some(hole) = self.streams[side].hole() else {
            return;
        };
        self.streams[side].stop(total);
        self.counts.gaps += 1;
        match &mut self.state {
            State::WebSocket(ws) => {
                ws.tap.set_time(time);
                let direction = direction(ws.client, side);
                out.push(ws.tap.event(EventKind::Error(ErrorKind::Gap {
                    direction,
                    offset: hole.offset,
                    missing: hole.missing,
                    cause,
                })));
            }
            // Before the upgrade is found, a hole leaves nothing to decode: the flow is skipped
            // (the importer counts it), its bytes before the hole with it.
            State::Undecided { .. } => {
                self.counts.skipped = true;
                self.state = State::Skipped;
            }
            State::Skipped => {}
        }
    }

    /// Bytes of `side`'s stream, in order.
    fn deliver(
        &mut self,
        side: usize,
        bytes: Bytes,
        time: Duration,
        next_id: &mut ConnId,
        out: &mut Vec<Event>,
    ) {
        match &mut self.state {
            State::Skipped => {}
            State::WebSocket(ws) => ws.feed(side, bytes, time, out),
            State::Undecided { pre, len, opening } => {
                len[side] += bytes.len();
                pre[side].push((time, bytes));
                if opening[side] == Opening::Unknown {
                    let head: Vec<u8> = pre[side]
                        .iter()
                        .flat_map(|(_, b)| b.iter().copied())
                        .collect();
                    match parse_request(&head, &HANDSHAKE) {
                        Ok(Parsed::Complete(r)) if r.wants_websocket() => {
                            let pre = std::mem::take(pre);
                            self.upgrade(side, pre, next_id, out);
                            return;
                        }
                        Ok(Parsed::Partial) => {}
                        Ok(Parsed::Complete(_)) | Err(_) => opening[side] = Opening::NotUpgrade,
                    }
                }
                let undecidable = len.iter().any(|&n| n > HANDSHAKE.max_bytes);
                if opening == &[Opening::NotUpgrade; 2] || undecidable {
                    self.counts.skipped = true;
                    self.state = State::Skipped;
                }
            }
        }
    }

    /// `client`'s stream starts with a WebSocket upgrade request: the connection is opened and
    /// the bytes so far are replayed through the tap, the client's first.
    fn upgrade(
        &mut self,
        client: usize,
        pre: [Vec<(Duration, Bytes)>; 2],
        next_id: &mut ConnId,
        out: &mut Vec<Event>,
    ) {
        *next_id += 1;
        let mut tap = Tap::replay(*next_id, Endpoint::File, self.opened);
        out.push(tap.opened(self.addrs[client], self.addrs[1 - client]));
        tap.set_time(self.opened);
        let mut ws = Box::new(Ws {
            tap,
            client,
            phase: Phase::Request,
            request: None,
            response: Vec::new(),
            early: Vec::new(),
            early_len: 0,
            first_close: None,
            close_sent: [false; 2],
            scratch: Vec::new(),
        });
        let [a, b] = pre;
        let (first, second) = if client == 0 { (a, b) } else { (b, a) };
        for (time, bytes) in first {
            ws.feed(client, bytes, time, out);
        }
        for (time, bytes) in second {
            ws.feed(1 - client, bytes, time, out);
        }
        self.counts.websocket = true;
        self.state = State::WebSocket(ws);
    }
}

/// The direction of bytes sent by `side` when `client` is the client's side.
fn direction(client: usize, side: usize) -> Direction {
    if side == client {
        Direction::ClientToServer
    } else {
        Direction::ServerToClient
    }
}

impl Ws {
    fn feed(&mut self, side: usize, bytes: Bytes, time: Duration, out: &mut Vec<Event>) {
        self.tap.set_time(time);
        let dir = direction(self.client, side);
        match (self.phase, dir) {
            (Phase::Request, Direction::ClientToServer) => {
                match self.tap.request_bytes(bytes, &HANDSHAKE, out) {
                    Head::Partial => {}
                    Head::Complete(r) => {
                        self.request = Some(r);
                        self.phase = Phase::Response;
                        let rest = self.tap.take_rest();
                        self.hold_early(rest, out);
                        self.answer(out);
                    }
                    // Not reached: the same head parsed before the flow became WebSocket.
                    Head::Refused(_) => self.phase = Phase::Plain,
                }
            }
            (Phase::Request | Phase::Response, Direction::ServerToClient) => {
                self.tap.tcp(dir, bytes.clone(), out);
                self.response.extend_from_slice(&bytes);
                if self.phase == Phase::Response {
                    self.answer(out);
                }
            }
            (Phase::Response, Direction::ClientToServer) => {
                self.tap.tcp(dir, bytes.clone(), out);
                self.hold_early(bytes, out);
            }
            (Phase::Frames, _) => {
                let at = out.len();
                self.tap.observe(dir, bytes, out);
                self.note_closes(at, out);
            }
            (Phase::Plain, _) => self.tap.tcp(dir, bytes, out),
        }
    }

    /// Client bytes that came before the server's answer: decoded once it switches.
    fn hold_early(&mut self, bytes: Bytes, out: &mut Vec<Event>) {
        if bytes.is_empty() {
            return;
        }
        self.early_len += bytes.len();
        self.early.push(bytes);
        if self.early_len > MAX_HELD_PER_DIRECTION {
            // A bound on memory: a server that never answers does not make us hold everything.
            self.early.clear();
            out.push(
                self.tap
                    .event(EventKind::Error(ErrorKind::BadResponse(format!(
                        "no answer before {} bytes from the client",
                        self.early_len
                    )))),
            );
            self.phase = Phase::Plain;
        }
    }

    /// The server's answer, once its head is complete.
    fn answer(&mut self, out: &mut Vec<Event>) {
        if self.response.is_empty() {
            return;
        }
        let head = match parse_response(&self.response, &HANDSHAKE) {
            Ok(None) => return,
            Ok(Some(head)) => head,
            Err(e) => {
                let why = match e {
                    crate::protocol::handshake::HandshakeError::Malformed(why) => why,
                    other => other.to_string(),
                };
                out.push(
                    self.tap
                        .event(EventKind::Error(ErrorKind::BadResponse(why))),
                );
                self.phase = Phase::Plain;
                return;
            }
        };
        let Some(request) = self.request.take() else {
            return;
        };
        let line = RequestLine {
            method: request.method.clone(),
            path: request.path.clone(),
        };
        let rest = Bytes::copy_from_slice(self.response.get(head.raw.len()..).unwrap_or(&[]));
        self.response = Vec::new();
        let hs = observed(request, head);
        let status = hs.response.status;
        let switched = hs.accepted();
        self.tap.handshake(hs, Limits::default(), out);
        if !switched {
            out.push(self.tap.event(EventKind::Http {
                request: Some(line),
                status,
                outcome: HttpOutcome::ServerAnswer,
            }));
            self.phase = Phase::Plain;
            return;
        }
        self.phase = Phase::Frames;
        let early = std::mem::take(&mut self.early);
        self.early_len = 0;
        self.decode(Direction::ServerToClient, rest, out);
        for bytes in early {
            self.decode(Direction::ClientToServer, bytes, out);
        }
    }

    /// Decodes bytes whose TCP event is already out.
    fn decode(&mut self, dir: Direction, bytes: Bytes, out: &mut Vec<Event>) {
        if bytes.is_empty() {
            return;
        }
        let at = out.len();
        self.tap.decode(dir, bytes, &mut self.scratch);
        for d in self.scratch.drain(..) {
            out.push(self.tap.decoded(dir, d));
        }
        self.note_closes(at, out);
    }

    /// Keeps the close frames among `out[at..]` for the summary at the end.
    fn note_closes(&mut self, at: usize, out: &[Event]) {
        for e in &out[at..] {
            let EventKind::Frame { direction, frame } = &e.kind else {
                continue;
            };
            if frame.header.opcode != OpCode::Close {
                continue;
            }
            self.close_sent[direction.index()] = true;
            if self.first_close.is_none() {
                let (code, reason) = match parse_close_payload(&frame.payload) {
                    Ok(Some(p)) => (Some(p.code), p.reason.unwrap_or_default()),
                    Ok(None) | Err(_) => (None, String::new()),
                };
                self.first_close = Some((*direction, code, reason));
            }
        }
    }
}
