//! The export walked a chunk at a time (see the parent module's doc): [`Capture::export`]
//! takes what is small at once, [`Export::events`] copies the records out under the store's
//! read lock one chunk at a time.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;

use super::{ev, gap, Item, Mark, Resume, CLOSED};
use crate::capture::{Capture, MessageRecord, Seq};
use crate::event::{ConnId, Direction, ErrorKind, Event, EventKind, GapCause};

/// Payload bytes one chunk of an export copies out of the store at most (the record that
/// crosses the limit ends the chunk): what an export holds at once, whatever the capture's size.
pub const CHUNK_BYTES: usize = 4 << 20;
/// Records (TCP calls and frames) one chunk walks at most, so a chunk of small records holds
/// the store's read lock as briefly as one of large ones.
pub const CHUNK_RECORDS: usize = 4096;

/// Where an export is in one direction of a connection, to see the bytes the budget drops
/// while it runs.
#[derive(Debug, Clone, Copy)]
struct Track {
    /// Stream offset up to which the export has written (or skipped on purpose).
    expected: u64,
    /// The first call of this direction the export has not walked yet is at or after this.
    from: Seq,
    /// The direction's length when the export began.
    end: u64,
}

/// What the capture budget dropped while an export ran, before the export reached it. The
/// export writes a [`GapCause::Evicted`] gap for the TCP bytes, so a pcap's sequence numbers
/// and a JSON-lines file say where the hole is; nothing goes missing unsaid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evicted {
    /// TCP calls (reads and writes) dropped.
    pub tcp_calls: u64,
    /// Frames dropped (with them, the messages that started in them).
    pub frames: u64,
    /// TCP bytes the gaps written in their place say are missing.
    pub bytes: u64,
}

impl Evicted {
    /// Whether anything was dropped.
    pub fn any(&self) -> bool {
        self.tcp_calls > 0 || self.frames > 0 || self.bytes > 0
    }
}

/// How an export went, as the iterator counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Chunks copied out of the store (one read lock each; planning ones not counted).
    pub chunks: u64,
    /// Payload bytes (TCP calls, frames, messages) copied out in the largest chunk.
    pub largest_chunk: usize,
    /// Most payload bytes held at once: the chunk just copied and the events still waiting
    /// for an earlier time to come.
    pub most_held: usize,
    /// What the budget dropped before the export reached it.
    pub evicted: Evicted,
}

/// An export of the store as it is now: the small per-connection events (opening,
/// handshake, close...), the notices and the range of records to walk, taken at once; the
/// records themselves (the payload-carrying TCP calls and frames) are copied out later, a
/// chunk at a time, by [`Export::events`]. Records stored after this are not part of it.
pub struct Export {
    /// Events that are not records, by where they came; taken (moved out) when written.
    marks: Vec<(Mark, ConnId, u8, Option<Event>)>,
    /// The walk as it starts.
    start: Walk,
    frames_end: Seq,
    messages_end: Seq,
    notices: Vec<Event>,
    clock: Option<Event>,
    chunk_bytes: usize,
    chunk_records: usize,
}

/// Where a walk over the records is; the planning walk and the writing walk start alike.
#[derive(Clone)]
struct Walk {
    tcp: Seq,
    frames: Seq,
    tcp_end: Seq,
    /// Next mark to write.
    mark: usize,
    resume: HashMap<(ConnId, usize), Resume>,
    track: HashMap<(ConnId, usize), Track>,
    /// TCP calls of the export dropped before the walk reached them.
    skipped: Vec<Range<Seq>>,
    evicted: Evicted,
    /// Time of the last event walked.
    last: Option<Duration>,
}

/// What one chunk gives: its events (none when planning), how many bytes and records, and
/// the times seen.
struct Out {
    /// Planning: only times, nothing copied.
    dry: bool,
    events: Vec<Event>,
    bytes: usize,
    records: usize,
    min: Option<Duration>,
    last: Option<Duration>,
}

impl Out {
    fn new(dry: bool) -> Self {
        Self {
            dry,
            events: Vec::new(),
            bytes: 0,
            records: 0,
            min: None,
            last: None,
        }
    }

    /// An event at `t` (planning: only its time).
    fn at(&mut self, t: Duration) {
        self.min = Some(self.min.map_or(t, |m| m.min(t)));
        self.last = Some(t);
    }

    fn push(&mut self, e: Event) {
        self.at(e.time);
        if !self.dry {
            self.events.push(e);
        }
    }
}

impl Capture {
    /// An export of what the store holds now, to be walked a chunk at a time with
    /// [`Export::events`]: the same events as [`Capture::events`], in the same order.
    pub fn export(&self) -> Export {
        // Non-record events by where they came; the order of one connection's own kinds is the
        // order they happen in.
        let mut marked: Vec<(Mark, ConnId, u8, Event)> = Vec::new();
        if let (Some(addr), Some(m)) = (self.listening, self.listening_at) {
            marked.push((m, 0, 0, ev(0, m.time, EventKind::Listening { addr })));
        }
        let mut resume: HashMap<(ConnId, usize), Resume> = HashMap::new();
        let mut track = HashMap::new();
        for c in &self.connections {
            self.conn_events(c, &mut marked, &mut resume);
            for d in [Direction::ClientToServer, Direction::ServerToClient] {
                let i = d.index();
                let first = c
                    .tcp_of(d)
                    .front()
                    .and_then(|&s| Some((s, self.tcp.get(s)?)));
                if let Some((from, r)) = first {
                    let end = c.bytes[i];
                    // Where the direction resumes after its start was dropped: the gap written
                    // for the start says the bytes before, a hole made during the export the
                    // ones after (from the call's start, both would say the same bytes).
                    let expected = resume
                        .get(&(c.id, i))
                        .map_or(r.offset, |g| g.to.max(r.offset));
                    track.insert(
                        (c.id, i),
                        Track {
                            expected,
                            from,
                            end,
                        },
                    );
                }
            }
        }
        marked.sort_by_key(|(m, conn, k, _)| (m.tcp, m.frames, m.time, *conn, *k));
        let notices = self
            .notices
            .iter()
            .map(|n| {
                let kind = match &n.what {
                    crate::capture::NoticeKind::Limit {
                        kind,
                        limit,
                        actual,
                    } => EventKind::Limit {
                        kind: *kind,
                        limit: *limit,
                        actual: *actual,
                    },
                    crate::capture::NoticeKind::Error(e) => EventKind::Error(e.clone()),
                };
                ev(n.conn, n.time, kind)
            })
            .collect();
        Export {
            marks: marked
                .into_iter()
                .map(|(m, c, k, e)| (m, c, k, Some(e)))
                .collect(),
            start: Walk {
                tcp: self.tcp.base(),
                frames: self.frames.base(),
                tcp_end: self.tcp.end(),
                mark: 0,
                resume,
                track,
                skipped: Vec::new(),
                evicted: Evicted::default(),
                last: None,
            },
            frames_end: self.frames.end(),
            messages_end: self.messages.end(),
            notices,
            clock: self
                .clock_unix_micros
                .map(|unix_micros| ev(0, Duration::ZERO, EventKind::Clock { unix_micros })),
            chunk_bytes: CHUNK_BYTES,
            chunk_records: CHUNK_RECORDS,
        }
    }
}

/// Whether the `len` bytes at log position `at` are still kept (what `ByteLog::get` would
/// give, without copying them).
fn kept(cap: &Capture, at: u64, len: usize) -> bool {
    at >= cap.log.start()
        && at
            .checked_add(len as u64)
            .is_some_and(|e| e <= cap.log.end())
}

/// Whether message `m` comes back as an event (what [`Capture::message_event`] checks,
/// without copying its payload).
fn message_kept(cap: &Capture, m: &MessageRecord) -> bool {
    let frames = m.frames();
    let ends = [frames.first(), frames.last()];
    if !ends
        .iter()
        .all(|s| s.is_some_and(|&s| cap.frames.get(s).is_some()))
    {
        return false;
    }
    if m.log != crate::capture::NONE {
        return usize::try_from(m.len).is_ok_and(|len| kept(cap, m.log, len));
    }
    frames.iter().all(|&f| {
        cap.frames
            .get(f)
            .is_some_and(|r| kept(cap, r.log, r.kept as usize))
    })
}

/// Whether one of the calls the budget dropped during the export is in `from..to`.
fn skipped_within(skipped: &[Range<Seq>], from: Seq, to: Seq) -> bool {
    skipped.iter().any(|r| r.start < to && r.end > from)
}

/// Payload bytes an event holds (what a chunk is measured by).
fn payload_len(e: &Event) -> usize {
    match &e.kind {
        EventKind::Tcp { bytes, .. } => bytes.len(),
        EventKind::Frame { frame, .. } => frame.payload.len(),
        EventKind::Message { message, .. } => message.payload.len(),
        _ => 0,
    }
}

impl Walk {
    /// Counts what the budget dropped since the last chunk and goes on from the oldest record
    /// kept.
    fn catch_up(&mut self, cap: &Capture, frames_end: Seq) {
        let base = cap.tcp.base();
        if self.tcp < base {
            let to = base.min(self.tcp_end);
            if to > self.tcp {
                self.evicted.tcp_calls += to - self.tcp;
                self.skipped.push(self.tcp..to);
            }
            self.tcp = base;
        }
        let base = cap.frames.base();
        if self.frames < base {
            self.evicted.frames += base.min(frames_end).saturating_sub(self.frames);
            self.frames = base;
        }
    }

    /// The next record of the export, in the order they were stored. A frame's payload is
    /// appended to the log after the bytes of the calls that carried it, and a call's after the
    /// frames before it, so log positions order them; at the same position (an empty payload)
    /// the frame came first, since a call with bytes stored before it would have moved the log.
    fn peek(&self, cap: &Capture, frames_end: Seq) -> Option<Item> {
        let t = (self.tcp < self.tcp_end)
            .then(|| cap.tcp.get(self.tcp))
            .flatten();
        let f = (self.frames < frames_end)
            .then(|| cap.frames.get(self.frames))
            .flatten();
        let frame_first = match (t, f) {
            (None, None) => return None,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some(t), Some(f)) => f.log < t.log || (f.log == t.log && t.len > 0),
        };
        Some(if frame_first {
            Item::Frame(self.frames)
        } else {
            Item::Tcp(self.tcp)
        })
    }

    /// Walks records until the chunk is full (`stop` `None`: by the export's limits) or the
    /// next record is at or past `stop` (the TCP call and frame the planning walk stopped
    /// before, and the marks it had written by then: written here too, even when the record
    /// they came before was dropped since); `false` when no record of the export is left.
    fn chunk(
        &mut self,
        cap: &Capture,
        plan: &mut Export,
        out: &mut Out,
        stop: Option<(Seq, Seq, usize)>,
    ) -> bool {
        self.catch_up(cap, plan.frames_end);
        let more = loop {
            let Some(item) = self.peek(cap, plan.frames_end) else {
                break false;
            };
            let full = match (stop, item) {
                (Some((t, _, _)), Item::Tcp(s)) => s >= t,
                (Some((_, f, _)), Item::Frame(s)) => s >= f,
                (None, _) => {
                    out.records > 0
                        && (out.bytes >= plan.chunk_bytes || out.records >= plan.chunk_records)
                }
            };
            if full {
                break true;
            }
            self.marks(plan, Some(item), usize::MAX, out);
            match item {
                Item::Tcp(s) => {
                    self.tcp = s + 1;
                    self.tcp_event(cap, s, out);
                }
                Item::Frame(s) => {
                    self.frames = s + 1;
                    self.frame_events(cap, plan.messages_end, s, out);
                }
            }
            out.records += 1;
        };
        // So each event comes in the chunk the planning walk saw it in, and its times hold.
        if let Some((_, _, marks)) = stop {
            self.marks(plan, None, marks, out);
        }
        more
    }

    /// Writes the marks that came before `item` (all that are left when `None`), up to mark
    /// number `upto`.
    fn marks(&mut self, plan: &mut Export, item: Option<Item>, upto: usize, out: &mut Out) {
        while let Some(&(m, conn, k, _)) = plan.marks.get(self.mark).filter(|_| self.mark < upto) {
            let before = match item {
                None => true,
                Some(Item::Tcp(s)) => m.tcp <= s,
                Some(Item::Frame(s)) => m.frames <= s,
            };
            if !before {
                break;
            }
            if k == CLOSED {
                self.gaps_before_close(conn, m.time, out);
            }
            if out.dry {
                out.at(m.time);
            } else if let Some(e) = plan.marks.get_mut(self.mark).and_then(|x| x.3.take()) {
                out.push(e);
            }
            self.mark += 1;
        }
    }

    /// Frame `s`, and the message it ends.
    fn frame_events(&mut self, cap: &Capture, messages_end: Seq, s: Seq, out: &mut Out) {
        let Some(r) = cap.frames.get(s) else {
            return;
        };
        out.bytes += r.kept as usize;
        if out.dry {
            if kept(cap, r.log, r.kept as usize) {
                out.at(r.time());
            }
        } else if let Some(frame) = cap.frame(s) {
            out.push(ev(
                r.conn,
                r.time(),
                EventKind::Frame {
                    direction: r.direction,
                    frame: Box::new(frame),
                },
            ));
        }
        let Some(m) = r.message().filter(|&m| m < messages_end) else {
            return;
        };
        let Some(mr) = cap.messages.get(m) else {
            return;
        };
        if mr.frames().last() != Some(&s) {
            return;
        }
        out.bytes += usize::try_from(mr.len).unwrap_or(usize::MAX);
        if out.dry {
            if message_kept(cap, mr) {
                out.at(r.time());
            }
        } else if let Some(e) = cap.message_event(m, r.time()) {
            out.push(e);
        }
    }

    /// TCP call `s`, after its direction's gap, and only from where its direction resumes;
    /// after a gap saying what the budget dropped of the direction since the export began.
    fn tcp_event(&mut self, cap: &Capture, s: Seq, out: &mut Out) {
        let Some(r) = cap.tcp.get(s) else {
            return;
        };
        if !kept(cap, r.log, r.len()) {
            return;
        }
        let key = (r.conn, r.direction.index());
        let mut skip = 0;
        let mut floor = 0;
        if let Some(g) = self.resume.get_mut(&key) {
            if r.range().end <= g.to {
                if let Some(t) = self.track.get_mut(&key) {
                    t.from = s + 1;
                    t.expected = t.expected.max(r.range().end);
                }
                return;
            }
            skip = usize::try_from(g.to.saturating_sub(r.offset)).unwrap_or(0);
            floor = g.to;
            if !g.said {
                g.said = true;
                out.push(gap(g, r.time()));
            }
        }
        if let Some(t) = self.track.get_mut(&key) {
            let expected = t.expected.max(floor);
            if r.offset > expected && skipped_within(&self.skipped, t.from, s) {
                let missing = r.offset - expected;
                self.evicted.bytes = self.evicted.bytes.saturating_add(missing);
                out.push(evicted_gap(
                    r.conn,
                    r.direction,
                    expected,
                    missing,
                    r.time(),
                ));
            }
            t.expected = expected.max(r.range().end);
            t.from = s + 1;
        }
        out.bytes += r.len().saturating_sub(skip);
        if out.dry {
            out.at(r.time());
            return;
        }
        let Some(bytes) = cap.tcp_bytes(r) else {
            return;
        };
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
    fn gaps_before_close(&mut self, conn: ConnId, time: Duration, out: &mut Out) {
        for i in 0..2 {
            if let Some(g) = self.resume.get_mut(&(conn, i)) {
                if !g.said {
                    g.said = true;
                    out.push(gap(g, time));
                }
            }
        }
        for i in 0..2 {
            self.trailing_hole((conn, i), time, out);
        }
    }

    /// The end of a direction the budget dropped during the export (no later call of it
    /// was written), as a gap at `time`.
    fn trailing_hole(&mut self, key: (ConnId, usize), time: Duration, out: &mut Out) {
        if let Some(e) = self.hole_at_end(key, time) {
            out.push(e);
        }
    }

    /// The gap [`Walk::trailing_hole`] writes, if there is one.
    fn hole_at_end(&mut self, key: (ConnId, usize), time: Duration) -> Option<Event> {
        let t = self.track.get_mut(&key)?;
        if t.expected >= t.end || !skipped_within(&self.skipped, t.from, self.tcp_end) {
            return None;
        }
        let missing = t.end - t.expected;
        self.evicted.bytes = self.evicted.bytes.saturating_add(missing);
        let direction = if key.1 == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        let hole = evicted_gap(key.0, direction, t.expected, missing, time);
        t.expected = t.end;
        Some(hole)
    }

    /// After the last record (no store needed): the marks left, then (when writing, `left` being what the
    /// planning walk left unsaid) the gaps the budget made during the export. Returns the
    /// time of the last event before them, the gaps of directions no kept call followed,
    /// by connection, and the holes at the end of the directions in `left`: those must come
    /// after their direction's gap, which the export's tail says.
    fn finish(
        &mut self,
        plan: &mut Export,
        out: &mut Out,
        left: Option<(&[(ConnId, usize)], Duration)>,
    ) -> (Duration, Vec<Resume>, HolesAfterGap) {
        let mut after_gap = Vec::new();
        self.marks(plan, None, usize::MAX, out);
        let end = out.last.or(self.last).unwrap_or(Duration::ZERO);
        let mut unsaid: Vec<Resume> = self.resume.values().filter(|r| !r.said).copied().collect();
        unsaid.sort_by_key(|r| (r.conn, r.direction.index()));
        if let Some((left, given)) = left {
            // Not before what was given already, so the file stays in time order.
            let at = end.max(given);
            // Said by the planning walk at a call dropped since: said here instead.
            for r in &unsaid {
                if !left.contains(&(r.conn, r.direction.index())) {
                    out.push(gap(r, at));
                }
            }
            let mut keys: Vec<(ConnId, usize)> = self.track.keys().copied().collect();
            keys.sort_unstable();
            for k in keys {
                match self.hole_at_end(k, at) {
                    Some(hole) if left.contains(&k) => after_gap.push((k, hole)),
                    Some(hole) => out.push(hole),
                    None => {}
                }
            }
        }
        (end, unsaid, after_gap)
    }
}

/// Holes at the end of directions whose gap the export's tail says (see [`Walk::finish`]),
/// by (connection, direction index).
type HolesAfterGap = Vec<((ConnId, usize), Event)>;

/// The gap of bytes the budget dropped while an export ran.
fn evicted_gap(
    conn: ConnId,
    direction: Direction,
    offset: u64,
    missing: u64,
    time: Duration,
) -> Event {
    ev(
        conn,
        time,
        EventKind::Error(ErrorKind::Gap {
            direction,
            offset,
            missing,
            cause: GapCause::Evicted,
        }),
    )
}

impl Export {
    /// Chunks of at most `bytes` payload bytes and `records` records instead of
    /// [`CHUNK_BYTES`] and [`CHUNK_RECORDS`] (at least 1 each).
    pub fn with_chunks(mut self, bytes: usize, records: usize) -> Self {
        self.chunk_bytes = bytes.max(1);
        self.chunk_records = records.max(1);
        self
    }

    /// The events, in the order and with the content [`Capture::events`] gives, copied out a
    /// chunk at a time: `with` is called with a function to run on the store, and runs it
    /// under the store's read lock, once per chunk (`|f| f(&capture)` for a store at hand,
    /// `|f| f(&lock.read()...)` for a shared one). Between two chunks the store is free;
    /// what the budget drops before the export reaches it is counted
    /// ([`ExportEvents::stats`]) and its TCP bytes are written as a gap.
    ///
    /// Two walks: the first copies nothing and notes, per chunk, the earliest time to come
    /// (the events are written in time order, and one stored later can be earlier); the
    /// second copies and writes an event once no later chunk can hold an earlier one.
    pub fn events<F>(self, with: F) -> ExportEvents<F>
    where
        F: FnMut(&mut dyn FnMut(&Capture)),
    {
        ExportEvents {
            with,
            walk: self.start.clone(),
            plan: self,
            planned: false,
            bounds: Vec::new(),
            after: Vec::new(),
            next: 0,
            done: false,
            pending: VecDeque::new(),
            held: 0,
            tail: VecDeque::new(),
            left: Vec::new(),
            given: Duration::ZERO,
            stats: ExportStats::default(),
        }
    }
}

/// The events of an [`Export`], in time order, copied out of the store a chunk at a time.
pub struct ExportEvents<F> {
    with: F,
    plan: Export,
    /// The writing walk.
    walk: Walk,
    planned: bool,
    /// Where each chunk ends (the TCP call and frame after it, the marks written), from the
    /// planning walk.
    bounds: Vec<(Seq, Seq, usize)>,
    /// `after[k]`: the earliest time of the events of chunks `k..` and the marks after them.
    after: Vec<Option<Duration>>,
    /// The next chunk to copy.
    next: usize,
    /// Every chunk copied.
    done: bool,
    /// Copied events, in time order, not yet given.
    pending: VecDeque<Event>,
    /// Their payload bytes.
    held: usize,
    /// The events after the records (gaps of directions no call followed, notices), in time
    /// order.
    tail: VecDeque<Event>,
    /// The directions the planning walk left with their gap unsaid.
    left: Vec<(ConnId, usize)>,
    /// Time of the last event given.
    given: Duration,
    stats: ExportStats,
}

impl<F: FnMut(&mut dyn FnMut(&Capture))> ExportEvents<F> {
    /// How the export went so far (all of it once the iterator is done).
    pub fn stats(&self) -> ExportStats {
        self.stats
    }

    /// The planning walk: where the chunks end and the earliest time in each.
    fn plan(&mut self) {
        let Self {
            with,
            plan,
            walk,
            bounds,
            ..
        } = self;
        let mut dry = walk.clone();
        let mut mins = Vec::new();
        loop {
            let mut out = Out::new(true);
            let mut more = false;
            with(&mut |cap| more = dry.chunk(cap, plan, &mut out, None));
            dry.last = out.last.or(dry.last);
            bounds.push((dry.tcp, dry.frames, dry.mark));
            mins.push(out.min);
            if !more {
                break;
            }
        }
        let mut out = Out::new(true);
        // The marks need no store.
        let (end, unsaid, _) = dry.finish(plan, &mut out, None);
        mins.push(out.min);
        let mut tail: Vec<Event> = unsaid.iter().map(|r| gap(r, end)).collect();
        self.left = unsaid
            .iter()
            .map(|r| (r.conn, r.direction.index()))
            .collect();
        tail.append(&mut plan.notices);
        // Stable: of the same time, the gaps, then the notices in their order.
        tail.sort_by_key(|e| e.time);
        self.tail = tail.into();
        let mut min: Option<Duration> = None;
        self.after = mins
            .iter()
            .rev()
            .map(|&m| {
                min = match (min, m) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                min
            })
            .collect();
        self.after.reverse();
    }

    /// Copies the next chunk (or, after the last, what follows the records).
    fn copy(&mut self) {
        let Self {
            with,
            plan,
            walk,
            bounds,
            next,
            left,
            given,
            ..
        } = self;
        let mut out = Out::new(false);
        match bounds.get(*next).copied() {
            Some(stop) => {
                with(&mut |cap| {
                    walk.chunk(cap, plan, &mut out, Some(stop));
                });
            }
            None => {
                let (_, _, after_gap) =
                    walk.finish(plan, &mut out, Some((left.as_slice(), *given)));
                for (key, mut hole) in after_gap {
                    // Right after its direction's gap while the tail still holds it (at its
                    // time, so the tail stays in order); once given, anywhere after.
                    let at = self.tail.iter().position(|e| {
                        e.conn == key.0
                            && matches!(&e.kind, EventKind::Error(ErrorKind::Gap { direction, .. })
                                if direction.index() == key.1)
                    });
                    match at {
                        Some(i) => {
                            hole.time = self.tail[i].time;
                            self.tail.insert(i + 1, hole);
                        }
                        None => out.push(hole),
                    }
                }
                self.done = true;
            }
        }
        *next += 1;
        walk.last = out.last.or(walk.last);
        self.stats.chunks += 1;
        self.stats.largest_chunk = self.stats.largest_chunk.max(out.bytes);
        self.stats.evicted = walk.evicted;
        let mut events = out.events;
        // Stable: events of the same time keep the order they were stored in.
        events.sort_by_key(|e| e.time);
        self.held += events.iter().map(payload_len).sum::<usize>();
        self.stats.most_held = self.stats.most_held.max(self.held);
        let in_order = match (self.pending.back(), events.first()) {
            (Some(a), Some(b)) => a.time <= b.time,
            _ => true,
        };
        if in_order {
            self.pending.extend(events);
            return;
        }
        // Merge; of the same time, the ones copied before come first.
        let old = std::mem::take(&mut self.pending);
        let mut a = old.into_iter().peekable();
        let mut b = events.into_iter().peekable();
        loop {
            let take_a = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(x), Some(y)) => x.time <= y.time,
            };
            let e = if take_a { a.next() } else { b.next() };
            self.pending.extend(e);
        }
    }
}

impl<F: FnMut(&mut dyn FnMut(&Capture))> Iterator for ExportEvents<F> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if !self.planned {
            self.planned = true;
            self.plan();
            if let Some(clock) = self.plan.clock.take() {
                return Some(clock);
            }
        }
        loop {
            // The earliest time a chunk not yet copied can give (none: nothing more comes).
            let coming = if self.done {
                None
            } else {
                self.after.get(self.next).copied().flatten()
            };
            let pending = self.pending.front().map(|e| e.time);
            let records_min = match (pending, coming) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // After the records in the stable order: first only when strictly earlier.
            if let Some(t) = self.tail.front() {
                if records_min.is_none_or(|m| t.time < m) {
                    let e = self.tail.pop_front()?;
                    self.given = e.time;
                    return Some(e);
                }
            }
            if let Some(p) = pending {
                if coming.is_none_or(|c| p <= c) {
                    let e = self.pending.pop_front()?;
                    self.held = self.held.saturating_sub(payload_len(&e));
                    self.given = e.time;
                    return Some(e);
                }
            }
            if self.done {
                return None;
            }
            self.copy();
        }
    }
}
