//! The store read back as events ([`Capture::events`], [`Capture::export`]): what an exporter
//! needs to write the capture as JSON lines, pcap or HAR, from what the budget left.
//!
//! Streamed: an export takes the small per-connection events (opening, handshake, close...)
//! and the range of records (TCP calls, frames) at once, then copies the records out a chunk at
//! a time ([`CHUNK_BYTES`], [`CHUNK_RECORDS`]), the store read-locked for one chunk only, and
//! goes on from the sequence numbers where it stopped (they survive eviction). Records stored
//! after it began are not part of it; records the budget drops before it reaches them are
//! counted ([`Evicted`]) and their TCP bytes written as a [`GapCause::Evicted`] gap, so a pcap
//! or JSON-lines file never has a hole it does not say.
//!
//! Order: the records (TCP calls, frames) come back in the order they were stored, which their
//! places in the byte log give (a frame's payload is appended after the calls that carried it);
//! a message follows its last frame; an opening, handshake, HTTP answer or close goes back
//! between the records it came between ([`Mark`]). The whole is then sorted by time, stably, so a
//! file's packets are in time order while events of the same time keep their order.
//!
//! Times: every event has the time it had, except a message, which gets its last frame's (the
//! store does not keep a message's own; live, the two are nanoseconds apart), and the limits
//! and errors, which sort after the records of the same time.
//!
//! A connection whose first bytes the budget dropped (its first TCP calls) does not come back
//! as a stream that starts in the middle as if that were its start. Per direction: the heads of
//! its opening handshake (kept with the connection record, so their exact bytes) come back as
//! one call each at the handshake's time, then an [`ErrorKind::Gap`] with
//! [`GapCause::Evicted`] says how many bytes are missing after them, and the kept bytes resume
//! at the first frame that starts in them (the part of a call before it counts in the gap). So
//! the pcap writer skips the missing bytes in the TCP sequence numbers (Wireshark says
//! "previous segment not captured") and Wireshark still finds the upgrade and every frame
//! after the gap; a JSON-lines file says what is missing, and reads back with the right
//! offsets.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;

use super::{Capture, ConnRecord, Seq};
use crate::event::{ConnId, Direction, ErrorKind, Event, EventKind, GapCause};
use crate::protocol::Message;

mod stream;
pub use stream::{Evicted, Export, ExportEvents, ExportStats, CHUNK_BYTES, CHUNK_RECORDS};

/// Where an event that is not a record came in the stream of records: after the TCP calls
/// numbered below `tcp` and the frames numbered below `frames`, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// The event's time.
    pub time: Duration,
    /// TCP calls stored before it.
    tcp: Seq,
    /// Frames stored before it.
    frames: Seq,
}

/// A connection's events that are not records, by where they came.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ConnMarks {
    pub(super) opened: Option<Mark>,
    pub(super) handshake: Option<Mark>,
    pub(super) tls: Option<Mark>,
    pub(super) relay: Option<Mark>,
    pub(super) http: Option<Mark>,
    pub(super) closed: Option<Mark>,
}

/// The kind of a [`Mark`]ed event that closes its connection (the order key `conn_events`
/// gives a close).
const CLOSED: u8 = 5;

/// A record, in the order of the store.
#[derive(Clone, Copy)]
enum Item {
    Tcp(Seq),
    Frame(Seq),
}

/// How one direction of a connection whose start was dropped comes back.
#[derive(Debug, Clone, Copy)]
struct Resume {
    conn: ConnId,
    direction: Direction,
    /// Stream offset the gap starts at (after the heads given again, or 0).
    from: u64,
    /// Stream offset the kept bytes resume at.
    to: u64,
    /// Whether the gap event was written.
    said: bool,
}

impl Capture {
    /// Where the next event comes among the records, at `time`.
    pub(super) fn mark(&self, time: Duration) -> Mark {
        Mark {
            time,
            tcp: self.tcp.end(),
            frames: self.frames.end(),
        }
    }

    /// Every event the store can still give, in time order, for an exporter: the clock, the
    /// listener, per connection its opening, TCP calls, handshake, HTTP answer, frames,
    /// messages and close, and the limits and errors kept. See the module doc for the order,
    /// the times and a connection whose first bytes were dropped. The events are copies: the
    /// store can be unlocked while they are written. All of them at once (one chunk: what the
    /// export did before it streamed, and what the streamed one is tested against): an
    /// exporter that must not hold the capture twice uses [`Capture::export`].
    pub fn events(&self) -> Vec<Event> {
        self.export()
            .with_chunks(usize::MAX, usize::MAX)
            .events(|f| f(self))
            .collect()
    }

    /// Connection `c`'s events that are not records, and how each direction resumes when its
    /// start was dropped.
    fn conn_events(
        &self,
        c: &ConnRecord,
        marked: &mut Vec<(Mark, ConnId, u8, Event)>,
        resume: &mut HashMap<(ConnId, usize), Resume>,
    ) {
        let id = c.id;
        let m = &c.marks;
        if let (Some(mark), Some(endpoint), Some(client), Some(server)) =
            (m.opened, c.endpoint, c.client, c.server)
        {
            let kind = EventKind::Opened {
                endpoint,
                client,
                server,
            };
            marked.push((mark, id, 0, ev(id, mark.time, kind)));
        }
        for d in [Direction::ClientToServer, Direction::ServerToClient] {
            let i = d.index();
            let first = c
                .tcp_of(d)
                .front()
                .and_then(|&s| self.tcp.get(s))
                .map_or(c.bytes[i], |r| r.offset);
            if first == 0 {
                continue;
            }
            // The start of this direction is gone: its head again, if the handshake kept it
            // whole and no part of it is among the kept calls.
            let head = c.handshake.as_ref().map(|h| match d {
                Direction::ClientToServer => &h.request.raw,
                Direction::ServerToClient => &h.response.raw,
            });
            let mut from = 0;
            if let (Some(head), Some(mark)) = (head, m.handshake) {
                if first >= head.len() as u64 {
                    from = head.len() as u64;
                    let bytes = Bytes::copy_from_slice(head);
                    let kind = EventKind::Tcp {
                        direction: d,
                        bytes,
                    };
                    marked.push((mark, id, 1 + i as u8, ev(id, mark.time, kind)));
                }
            }
            // Resume where a frame starts, so what follows the gap decodes as it did.
            let to = if from > 0 && c.ws_start[i].is_some() {
                c.frame_seqs()
                    .iter()
                    .filter_map(|&s| self.frames.get(s))
                    .filter(|r| r.direction == d)
                    .filter_map(|r| c.frame_span(r))
                    .map(|span| span.start)
                    .find(|&start| start >= first)
                    .unwrap_or(c.bytes[i])
            } else {
                first
            };
            if to > from {
                resume.insert(
                    (id, i),
                    Resume {
                        conn: id,
                        direction: d,
                        from,
                        to,
                        said: false,
                    },
                );
            }
        }
        if let (Some(mark), Some(peer)) = (m.relay, c.relay) {
            marked.push((mark, id, 0, ev(id, mark.time, EventKind::Relay { peer })));
        }
        if let (Some(mark), Some(t)) = (m.tls, &c.tls) {
            let kind = EventKind::Tls(t.clone());
            marked.push((mark, id, 0, ev(id, mark.time, kind)));
        }
        if let (Some(mark), Some(h)) = (m.handshake, &c.handshake) {
            marked.push((
                mark,
                id,
                3,
                ev(id, mark.time, EventKind::Handshake(h.clone())),
            ));
        }
        if let (Some(mark), Some(h)) = (m.http, &c.http) {
            let kind = EventKind::Http {
                request: h.request.clone(),
                status: h.status,
                outcome: h.outcome.clone(),
            };
            marked.push((mark, id, 4, ev(id, mark.time, kind)));
        }
        if let (Some(mark), Some(close)) = (m.closed, &c.close) {
            let kind = EventKind::Closed {
                code: close.code,
                reason: close.reason.clone(),
                by: close.by,
                clean: close.clean,
            };
            marked.push((mark, id, 5, ev(id, mark.time, kind)));
        }
    }

    /// Message `s` as its event, at `time` (its last frame's).
    fn message_event(&self, s: Seq, time: Duration) -> Option<Event> {
        let m = self.messages.get(s)?;
        let payload = self.message_payload(m)?;
        let frames = m.frames();
        let first = self.frames.get(*frames.first()?)?;
        let last = self.frames.get(*frames.last()?)?;
        // Saturating: a capture file can put a frame at any offset, up to 2^64 - 1.
        let end = last
            .offset
            .saturating_add(last.header.header_len() as u64)
            .saturating_add(u64::from(last.kept));
        Some(ev(
            m.conn,
            time,
            EventKind::Message {
                direction: m.direction,
                message: Message {
                    opcode: m.opcode,
                    payload,
                    frame_count: frames.len(),
                    byte_range: first.offset..end,
                },
            },
        ))
    }
}

fn ev(conn: ConnId, time: Duration, kind: EventKind) -> Event {
    Event { conn, time, kind }
}

/// The event saying what the budget dropped of a direction.
fn gap(g: &Resume, time: Duration) -> Event {
    ev(
        g.conn,
        time,
        EventKind::Error(ErrorKind::Gap {
            direction: g.direction,
            offset: g.from,
            missing: g.to - g.from,
            cause: GapCause::Evicted,
        }),
    )
}
