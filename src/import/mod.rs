//! Captures made elsewhere: pcap and pcapng files written by tcpdump, tshark, dumpcap or
//! Wireshark, turned into the same [`Event`]s a live connection gives, through the same
//! [`Tap`](crate::tap::Tap) (with [`Endpoint::File`](crate::event::Endpoint::File)).
//!
//! The file is streamed, one record at a time ([`open`] never loads it). Link types: Ethernet
//! (with VLAN tags), NULL/LOOP (BSD loopback), Linux cooked v1 and v2 (`tcpdump -i any`), raw
//! IPv4/IPv6. Each TCP connection is put back in order per direction (out-of-order segments
//! wait, retransmitted and overlapping bytes are delivered once); a connection whose stream
//! starts with an HTTP request carrying `Upgrade: websocket`, on any port, is decoded, its
//! sender being the client. Everything else is skipped and counted ([`ImportStats`]).
//!
//! A hole in a stream that is never filled (the connection ends, the file ends, or the
//! out-of-order bound is hit) is reported as an [`ErrorKind::Gap`](crate::event::ErrorKind)
//! with its numbers, and that direction is not decoded any further: frames after a hole cannot
//! be trusted.
//!
//! Memory is bounded, whatever the file: one record at a time (at most [`MAX_RECORD`] bytes),
//! at most [`MAX_FLOWS`] TCP connections followed at once (the next ones are skipped, reported
//! once as [`ErrorKind::FlowLimit`](crate::event::ErrorKind)), at most
//! [`MAX_HELD_PER_DIRECTION`] bytes out of order per direction and [`MAX_HELD_TOTAL`] in all
//! (past it: a gap, reported), at most 16 KiB of each side's bytes before the upgrade is found,
//! and per WebSocket direction what the decoder holds of an unfinished frame or message
//! (bounded by [`Limits::default`](crate::protocol::Limits), 16 MiB; larger ones are reported
//! as violations without their payload). Events are handed out as each packet makes them.

mod file;
mod flow;
mod link;
mod stream;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::event::{ConnId, ErrorKind, Event, EventKind};

pub use file::{Format, MAX_RECORD};
pub use stream::{MAX_HELD_PER_DIRECTION, MAX_HELD_TOTAL};

use flow::{End, Flow, Verdict};
use link::Skip;

/// The most TCP connections followed at once.
pub const MAX_FLOWS: usize = 1024;

/// A file that cannot be read (further): which file, where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: at byte {offset}: {kind}", path.display())]
pub struct ImportError {
    /// The file.
    pub path: PathBuf,
    /// The byte offset of the record (or header) that could not be read.
    pub offset: u64,
    /// What is wrong.
    pub kind: ImportErrorKind,
}

/// What is wrong with a capture file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportErrorKind {
    /// Opening or reading failed (the operating system's words).
    #[error("cannot read it: {0}")]
    Io(String),
    /// The first bytes are no pcap or pcapng magic number.
    #[error("not a pcap or pcapng file (no known magic number in its first {len} bytes)")]
    NotACapture {
        /// Bytes looked at.
        len: u64,
    },
    /// The file ends inside a record.
    #[error("the file ends inside a record: {have} of its {needed} bytes are there (truncated?)")]
    Truncated {
        /// Bytes of the record in the file.
        have: u64,
        /// Bytes the record needs.
        needed: u64,
    },
    /// A record larger than [`MAX_RECORD`].
    #[error("a record of {size} bytes, over the {limit}-byte limit (corrupt?)")]
    RecordTooLarge {
        /// Its declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A pcapng block length that cannot be.
    #[error("a pcapng block length of {len}, not a multiple of 4 of at least 12 (corrupt)")]
    BadBlockLength {
        /// The length read.
        len: u64,
    },
    /// A pcapng packet of an interface its section did not describe.
    #[error("a packet of interface {id}, which its section did not describe (corrupt)")]
    NoInterface {
        /// The interface number.
        id: u32,
    },
    /// A record that does not parse (pcap-parser's words).
    #[error("a record that does not parse: {0}")]
    Corrupt(String),
}

/// What was read and what was skipped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportStats {
    /// Packets read.
    pub packets: u64,
    /// Packets that are not TCP over IP (ARP, UDP, ICMP, IP fragments).
    pub not_tcp: u64,
    /// Packets of a link type this reader does not know.
    pub unknown_linktype: u64,
    /// Packets whose headers do not parse (cut by the snap length, or corrupt).
    pub unparsable: u64,
    /// TCP connections seen.
    pub flows: u64,
    /// Of those, WebSocket connections decoded.
    pub websocket: u64,
    /// Of those, connections skipped: no WebSocket upgrade at the start of either stream.
    pub skipped: u64,
    /// TCP connections not followed because [`MAX_FLOWS`] were open.
    pub untracked: u64,
    /// Segments that arrived out of order and waited.
    pub out_of_order: u64,
    /// Bytes seen twice (retransmissions, overlaps) and delivered once.
    pub duplicate_bytes: u64,
    /// Holes reported.
    pub gaps: u64,
}

/// The events of a capture file, as each packet makes them: `Clock` first, then per
/// WebSocket connection `Opened`, `Tcp`, `Handshake`, `Frame`, `Message`, ..., `Closed`. A
/// file that goes bad yields the events of what was valid, then one error, then ends.
pub struct PcapEvents {
    records: file::Records,
    flows: BTreeMap<(SocketAddr, SocketAddr), Flow>,
    /// The first packet's time, in microseconds since the Unix epoch.
    first: Option<u64>,
    /// The last event time handed out (times never go back, even when a file's do).
    last: Duration,
    next_id: ConnId,
    held_total: usize,
    flow_limit_said: bool,
    queue: VecDeque<Event>,
    error: Option<ImportError>,
    done: bool,
    stats: ImportStats,
}

/// Opens a pcap or pcapng file (told apart by magic number) and reads its header.
pub fn open(path: &Path) -> Result<PcapEvents, ImportError> {
    Ok(PcapEvents {
        records: file::Records::open(path)?,
        flows: BTreeMap::new(),
        first: None,
        last: Duration::ZERO,
        next_id: 0,
        held_total: 0,
        flow_limit_said: false,
        queue: VecDeque::new(),
        error: None,
        done: false,
        stats: ImportStats::default(),
    })
}

impl PcapEvents {
    /// Which container the file is.
    pub fn format(&self) -> Format {
        self.records.format()
    }

    /// What was read and skipped so far (all of it once the iterator has ended).
    pub fn stats(&self) -> ImportStats {
        self.stats
    }

    /// Reads one packet into the queue; false when nothing is left.
    fn step(&mut self) -> bool {
        let packet = match self.records.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => {
                self.finish();
                return false;
            }
            Err(e) => {
                self.finish();
                self.error = Some(e);
                return false;
            }
        };
        self.stats.packets += 1;
        let first = *self.first.get_or_insert(packet.unix_micros);
        if self.stats.packets == 1 {
            self.queue.push_back(Event {
                conn: 0,
                time: Duration::ZERO,
                kind: EventKind::Clock { unix_micros: first },
            });
        }
        let time = Duration::from_micros(packet.unix_micros.saturating_sub(first)).max(self.last);
        self.last = time;
        let seg = match link::segment(packet.linktype, packet.data) {
            Ok(s) => s,
            Err(Skip::NotTcp) => {
                self.stats.not_tcp += 1;
                return true;
            }
            Err(Skip::Linktype) => {
                self.stats.unknown_linktype += 1;
                return true;
            }
            Err(Skip::Unparsable) => {
                self.stats.unparsable += 1;
                return true;
            }
        };
        let key = if seg.src <= seg.dst {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        let mut out = Vec::new();
        if !self.flows.contains_key(&key) {
            // A connection starts at its SYN, or (begun before the capture) at its first bytes;
            // a lone ACK or the last packets of a connection already ended start nothing.
            if seg.rst || (!seg.syn && seg.payload.is_empty()) {
                return true;
            }
            if self.flows.len() >= MAX_FLOWS {
                self.stats.untracked += 1;
                if !self.flow_limit_said {
                    self.flow_limit_said = true;
                    self.queue.push_back(Event {
                        conn: 0,
                        time,
                        kind: EventKind::Error(ErrorKind::FlowLimit {
                            limit: MAX_FLOWS as u64,
                        }),
                    });
                }
                return true;
            }
            self.stats.flows += 1;
            self.flows.insert(key, Flow::new(seg.src, seg.dst, time));
        }
        let Some(flow) = self.flows.get_mut(&key) else {
            return true;
        };
        let side = flow.side(seg.src);
        let verdict = flow.segment(
            side,
            &seg,
            time,
            &mut self.next_id,
            &mut self.held_total,
            &mut out,
        );
        if verdict == Verdict::Over {
            if let Some(flow) = self.flows.remove(&key) {
                self.end(flow, End::Closed, time, &mut out);
            }
        }
        self.queue.extend(out);
        true
    }

    fn end(&mut self, flow: Flow, how: End, time: Duration, out: &mut Vec<Event>) {
        for s in flow.streams() {
            self.stats.out_of_order += s.held_segments;
            self.stats.duplicate_bytes += s.duplicate_bytes;
        }
        let counts = flow.end(how, time, &mut self.held_total, out);
        self.stats.websocket += u64::from(counts.websocket);
        self.stats.skipped += u64::from(counts.skipped && !counts.websocket);
        self.stats.gaps += counts.gaps;
    }

    /// The file ended (or went bad): every connection still open ends, in the order they
    /// were numbered.
    fn finish(&mut self) {
        let mut flows: Vec<Flow> = std::mem::take(&mut self.flows).into_values().collect();
        flows.sort_by_key(|f| f.conn().unwrap_or(ConnId::MAX));
        let mut out = Vec::new();
        for flow in flows {
            self.end(flow, End::EndOfFile, self.last, &mut out);
        }
        self.queue.extend(out);
    }
}

impl Iterator for PcapEvents {
    type Item = Result<Event, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(Ok(e));
            }
            if self.done {
                return self.error.take().map(Err);
            }
            if !self.step() {
                self.done = true;
            }
        }
    }
}
