//! The store read back as events ([`Capture::events`]): what an exporter needs to write the
//! capture as JSON lines, pcap or HAR, from what the budget left.
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
    /// store can be unlocked while they are written.
    pub fn events(&self) -> Vec<Event> {
        let mut out: Vec<Event> = Vec::with_capacity(
            self.tcp.len() + 2 * self.frames.len() + 4 * self.connections.len() + 8,
        );
        // Non-record events by where they came; the order of one connection's own kinds is the
        // order they happen in.
        let mut marked: Vec<(Mark, ConnId, u8, Event)> = Vec::new();
        if let (Some(addr), Some(m)) = (self.listening, self.listening_at) {
            marked.push((m, 0, 0, ev(0, m.time, EventKind::Listening { addr })));
        }
        let mut resume: HashMap<(ConnId, usize), Resume> = HashMap::new();
        for c in &self.connections {
            self.conn_events(c, &mut marked, &mut resume);
        }
        marked.sort_by_key(|(m, conn, k, _)| (m.tcp, m.frames, m.time, *conn, *k));

        // Messages by their last frame.
        let mut after_frame: HashMap<Seq, Vec<Seq>> = HashMap::new();
        for (s, m) in self.messages.iter_from(0) {
            if let Some(&last) = m.frames().last() {
                after_frame.entry(last).or_default().push(s);
            }
        }

        let mut marked = marked.into_iter().peekable();
        for item in self.records() {
            while let Some((m, ..)) = marked.peek() {
                let before = match item {
                    Item::Tcp(s) => m.tcp <= s,
                    Item::Frame(s) => m.frames <= s,
                };
                if !before {
                    break;
                }
                if let Some((_, conn, _, e)) = marked.next() {
                    self.say_gaps_before_close(conn, &e, &mut resume, &mut out);
                    out.push(e);
                }
            }
            match item {
                Item::Tcp(s) => self.tcp_event(s, &mut resume, &mut out),
                Item::Frame(s) => {
                    let Some(r) = self.frames.get(s) else {
                        continue;
                    };
                    if let Some(frame) = self.frame(s) {
                        out.push(ev(
                            r.conn,
                            r.time(),
                            EventKind::Frame {
                                direction: r.direction,
                                frame: Box::new(frame),
                            },
                        ));
                    }
                    for m in after_frame.remove(&s).unwrap_or_default() {
                        if let Some(e) = self.message_event(m, r.time()) {
                            out.push(e);
                        }
                    }
                }
            }
        }
        for (_, conn, _, e) in marked {
            self.say_gaps_before_close(conn, &e, &mut resume, &mut out);
            out.push(e);
        }
        // Gaps of directions with no call kept after them, at the end of what is known.
        let mut left: Vec<Resume> = resume.into_values().filter(|r| !r.said).collect();
        left.sort_by_key(|r| (r.conn, r.direction.index()));
        let end = out.last().map_or(Duration::ZERO, |e| e.time);
        out.extend(left.iter().map(|r| gap(r, end)));

        for n in &self.notices {
            let kind = match &n.what {
                super::NoticeKind::Limit {
                    kind,
                    limit,
                    actual,
                } => EventKind::Limit {
                    kind: *kind,
                    limit: *limit,
                    actual: *actual,
                },
                super::NoticeKind::Error(e) => EventKind::Error(e.clone()),
            };
            out.push(ev(n.conn, n.time, kind));
        }
        // Stable: events of the same time keep the order above.
        out.sort_by_key(|e| e.time);
        if let Some(unix_micros) = self.clock_unix_micros {
            out.insert(0, ev(0, Duration::ZERO, EventKind::Clock { unix_micros }));
        }
        out
    }

    /// The kept TCP calls and frames in the order they were stored. A frame's payload is
    /// appended to the log after the bytes of the calls that carried it, and a call's after the
    /// frames before it, so log positions order them; at the same position (an empty payload)
    /// the frame came first, since a call with bytes stored before it would have moved the log.
    fn records(&self) -> impl Iterator<Item = Item> + '_ {
        let mut tcp = self.tcp.iter_from(0).peekable();
        let mut frames = self.frames.iter_from(0).peekable();
        std::iter::from_fn(move || {
            let frame_first = match (tcp.peek(), frames.peek()) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((_, t)), Some((_, f))) => f.log < t.log || (f.log == t.log && t.len > 0),
            };
            if frame_first {
                frames.next().map(|(s, _)| Item::Frame(s))
            } else {
                tcp.next().map(|(s, _)| Item::Tcp(s))
            }
        })
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

    /// TCP call `s`, after its direction's gap, and only from where its direction resumes.
    fn tcp_event(
        &self,
        s: Seq,
        resume: &mut HashMap<(ConnId, usize), Resume>,
        out: &mut Vec<Event>,
    ) {
        let Some(r) = self.tcp.get(s) else {
            return;
        };
        let Some(bytes) = self.tcp_bytes(r) else {
            return;
        };
        let mut skip = 0;
        if let Some(g) = resume.get_mut(&(r.conn, r.direction.index())) {
            if r.range().end <= g.to {
                return;
            }
            skip = usize::try_from(g.to.saturating_sub(r.offset)).unwrap_or(0);
            if !g.said {
                g.said = true;
                out.push(gap(g, r.time()));
            }
        }
        let bytes = Bytes::copy_from_slice(bytes.get(skip..).unwrap_or_default());
        out.push(ev(
            r.conn,
            r.time(),
            EventKind::Tcp {
                direction: r.direction,
                bytes,
            },
        ));
    }

    /// Before a connection's close: the gaps of its directions that no kept call followed.
    fn say_gaps_before_close(
        &self,
        conn: ConnId,
        e: &Event,
        resume: &mut HashMap<(ConnId, usize), Resume>,
        out: &mut Vec<Event>,
    ) {
        if !matches!(e.kind, EventKind::Closed { .. }) {
            return;
        }
        for i in 0..2 {
            if let Some(g) = resume.get_mut(&(conn, i)) {
                if !g.said {
                    g.said = true;
                    out.push(gap(g, e.time));
                }
            }
        }
    }

    /// Message `s` as its event, at `time` (its last frame's).
    fn message_event(&self, s: Seq, time: Duration) -> Option<Event> {
        let m = self.messages.get(s)?;
        let payload = self.message_payload(m)?;
        let frames = m.frames();
        let first = self.frames.get(*frames.first()?)?;
        let last = self.frames.get(*frames.last()?)?;
        let end = last.offset + last.header.header_len() as u64 + u64::from(last.kept);
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
