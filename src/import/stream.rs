//! One direction of a captured TCP connection put back in order: segments out of order wait
//! (up to a bound), retransmitted and overlapping bytes are delivered once, and a hole that is
//! never filled is reported, never papered over.

use std::collections::BTreeMap;

use bytes::Bytes;

/// The most bytes one direction holds out of order.
pub const MAX_HELD_PER_DIRECTION: usize = 1 << 20;

/// The most bytes all directions of all connections hold out of order together.
pub const MAX_HELD_TOTAL: usize = 64 << 20;

/// The out-of-order bound was hit: the hole before the held bytes will not be filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// A hole: `missing` bytes from stream byte `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hole {
    /// Bytes delivered before the hole.
    pub offset: u64,
    /// Bytes missing, up to the next bytes the capture has (or the FIN).
    pub missing: u64,
}

/// One direction's byte stream.
#[derive(Debug, Default)]
pub struct Stream {
    /// The sequence number of stream byte 0, once known (from the SYN, or the first segment
    /// of a connection that began before the capture).
    base: Option<u32>,
    /// Bytes delivered in order.
    delivered: u64,
    /// Segments past `delivered`, by stream offset.
    held: BTreeMap<u64, Bytes>,
    held_bytes: usize,
    /// The stream offset of the FIN, once seen.
    fin: Option<u64>,
    /// A hole was reported: nothing more is delivered.
    broken: bool,
    /// Bytes seen again (retransmissions, overlaps), dropped.
    pub duplicate_bytes: u64,
    /// Segments that arrived ahead of a hole and waited.
    pub held_segments: u64,
}

impl Stream {
    /// A SYN: the stream's bytes start after its sequence number.
    pub fn syn(&mut self, seq: u32) {
        if self.delivered == 0 && self.held.is_empty() {
            self.base = Some(seq.wrapping_add(1));
        }
    }

    /// Whether a FIN was seen (the sender will send nothing more).
    pub fn fin_seen(&self) -> bool {
        self.fin.is_some()
    }

    /// A segment whose first payload byte has sequence number `seq`: appends the bytes that
    /// are now in order to `out`. `total` is what all streams hold; past either bound the
    /// stream stops with [`Overflow`] (report [`Stream::hole`], then [`Stream::stop`]).
    pub fn segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        fin: bool,
        total: &mut usize,
        out: &mut Vec<Bytes>,
    ) -> Result<(), Overflow> {
        if self.broken {
            return Ok(());
        }
        let base = *self.base.get_or_insert(seq);
        // Where the segment starts relative to the next byte due: sequence numbers wrap, and
        // a segment is never more than 2 GiB away from it.
        let due = base.wrapping_add(self.delivered as u32);
        let rel = i64::from(seq.wrapping_sub(due) as i32);
        // Saturating: a stream never nears 2^63 bytes, but nothing here may wrap if one did.
        let start = (self.delivered as i64).saturating_add(rel);
        let end = start.saturating_add(payload.len() as i64);
        if fin {
            self.fin.get_or_insert(end.max(0) as u64);
        }
        if payload.is_empty() {
            return Ok(());
        }
        let delivered = self.delivered as i64;
        if end <= delivered {
            self.duplicate_bytes += payload.len() as u64;
            return Ok(());
        }
        if start <= delivered {
            let skip = (delivered - start) as usize;
            self.duplicate_bytes += skip as u64;
            out.push(Bytes::copy_from_slice(&payload[skip..]));
            self.delivered = end as u64;
            self.drain(total, out);
            return Ok(());
        }
        let start = start as u64;
        if let Some(old) = self.held.get(&start) {
            if old.len() >= payload.len() {
                self.duplicate_bytes += payload.len() as u64;
                return Ok(());
            }
        }
        if self.held_bytes + payload.len() > MAX_HELD_PER_DIRECTION
            || *total + payload.len() > MAX_HELD_TOTAL
        {
            // Hold this one too (it may start the hole's far side), only to measure the hole.
            self.held.entry(start).or_default();
            return Err(Overflow);
        }
        self.held_segments += 1;
        let bytes = Bytes::copy_from_slice(payload);
        if let Some(old) = self.held.insert(start, bytes) {
            self.held_bytes -= old.len();
            *total -= old.len();
        }
        self.held_bytes += payload.len();
        *total += payload.len();
        Ok(())
    }

    /// Delivers the held segments that are now in order.
    fn drain(&mut self, total: &mut usize, out: &mut Vec<Bytes>) {
        while let Some(entry) = self.held.first_entry() {
            let start = *entry.key();
            if start > self.delivered {
                break;
            }
            let bytes = entry.remove();
            self.held_bytes -= bytes.len();
            *total -= bytes.len();
            let end = start.saturating_add(bytes.len() as u64);
            if end <= self.delivered {
                self.duplicate_bytes += bytes.len() as u64;
                continue;
            }
            let skip = (self.delivered - start) as usize;
            self.duplicate_bytes += skip as u64;
            out.push(bytes.slice(skip..));
            self.delivered = end;
        }
    }

    /// The hole that keeps bytes (or the FIN) from being delivered, if there is one.
    pub fn hole(&self) -> Option<Hole> {
        if self.broken {
            return None;
        }
        let next = self
            .held
            .keys()
            .next()
            .copied()
            .or(self.fin.filter(|&f| f > self.delivered))?;
        Some(Hole {
            offset: self.delivered,
            missing: next - self.delivered,
        })
    }

    /// Stops the stream after its hole was reported: what it held is let go.
    pub fn stop(&mut self, total: &mut usize) {
        *total -= self.held_bytes;
        self.held_bytes = 0;
        self.held.clear();
        self.broken = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut Stream, seq: u32, data: &[u8], total: &mut usize) -> Vec<u8> {
        let mut out = Vec::new();
        s.segment(seq, data, false, total, &mut out)
            .map_err(|_| "overflow")
            .unwrap_or_else(|e| panic!("{e}"));
        out.concat()
    }

    #[test]
    fn out_of_order_retransmitted_and_overlapping_bytes_come_out_once_in_order() {
        let mut s = Stream::default();
        let mut total = 0;
        s.syn(u32::MAX - 2); // wraps: byte 0 is sequence number u32::MAX - 1
        let b = u32::MAX - 1;
        assert_eq!(feed(&mut s, b.wrapping_add(4), b"efgh", &mut total), b"");
        assert_eq!(total, 4);
        assert_eq!(feed(&mut s, b, b"abcd", &mut total), b"abcdefgh");
        assert_eq!(total, 0);
        assert_eq!(feed(&mut s, b, b"abcd", &mut total), b"");
        assert_eq!(feed(&mut s, b.wrapping_add(6), b"ghij", &mut total), b"ij");
        assert_eq!(s.duplicate_bytes, 6);
        assert_eq!(s.hole(), None);
    }

    #[test]
    fn a_hole_says_where_and_how_much() {
        let mut s = Stream::default();
        let mut total = 0;
        assert_eq!(feed(&mut s, 1000, b"abc", &mut total), b"abc");
        assert_eq!(feed(&mut s, 1010, b"xyz", &mut total), b"");
        assert_eq!(
            s.hole(),
            Some(Hole {
                offset: 3,
                missing: 7
            })
        );
        s.stop(&mut total);
        assert_eq!(total, 0);
        assert_eq!(feed(&mut s, 1003, b"defghij", &mut total), b"");
    }
}
