//! The two containers the capture keeps everything in, both freed from the front in whole
//! blocks, so that what the budget counts is what the allocator holds (and the process's
//! resident memory follows it): [`Blocks`], records numbered by a sequence that never changes
//! while the oldest are dropped, and [`ByteLog`], every byte the capture keeps, appended in
//! arrival order.

use std::borrow::Cow;
use std::collections::VecDeque;

/// Records in blocks of a fixed capacity, numbered from 0 for the life of the capture; the
/// oldest are dropped from the front, a whole block freed at a time.
#[derive(Debug)]
pub struct Blocks<T> {
    blocks: VecDeque<VecDeque<T>>,
    /// Sequence number of the first kept record.
    base: u64,
    /// Records per block.
    block: usize,
    /// An emptied block, kept for the next one (no allocation in a steady state).
    spare: Option<VecDeque<T>>,
}

impl<T> Blocks<T> {
    /// Empty, with blocks of `block` records (at least 1).
    pub fn new(block: usize) -> Self {
        Self {
            blocks: VecDeque::new(),
            base: 0,
            block: block.max(1),
            spare: None,
        }
    }

    /// Appends a record and returns its sequence number.
    pub fn push(&mut self, v: T) -> u64 {
        let seq = self.end();
        if self.blocks.back().is_none_or(|b| b.len() >= self.block) {
            let b = self
                .spare
                .take()
                .unwrap_or_else(|| VecDeque::with_capacity(self.block));
            self.blocks.push_back(b);
        }
        if let Some(b) = self.blocks.back_mut() {
            b.push_back(v);
        }
        seq
    }

    /// Where `seq` is, as (block, index), if kept.
    fn locate(&self, seq: u64) -> Option<(usize, usize)> {
        let p = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        let first = self.blocks.front()?.len();
        if p < first {
            return Some((0, p));
        }
        let p = p - first;
        Some((1 + p / self.block, p % self.block))
    }

    /// The record with sequence number `seq`, unless dropped or not yet pushed.
    pub fn get(&self, seq: u64) -> Option<&T> {
        let (b, i) = self.locate(seq)?;
        self.blocks.get(b)?.get(i)
    }

    /// The same, to change.
    pub fn get_mut(&mut self, seq: u64) -> Option<&mut T> {
        let (b, i) = self.locate(seq)?;
        self.blocks.get_mut(b)?.get_mut(i)
    }

    /// The oldest kept record.
    pub fn front(&self) -> Option<&T> {
        self.blocks.front()?.front()
    }

    /// Drops the oldest kept record.
    pub fn pop_front(&mut self) -> Option<T> {
        let first = self.blocks.front_mut()?;
        let v = first.pop_front()?;
        self.base += 1;
        if first.is_empty() {
            if let Some(b) = self.blocks.pop_front() {
                self.spare = Some(b);
            }
        }
        Some(v)
    }

    /// Sequence number of the oldest kept record (of the next one when none is kept).
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Sequence number the next record will get.
    pub fn end(&self) -> u64 {
        self.base + self.len() as u64
    }

    /// Records kept.
    pub fn len(&self) -> usize {
        match self.blocks.len() {
            0 => 0,
            n => {
                let first = self.blocks.front().map_or(0, VecDeque::len);
                let last = self.blocks.back().map_or(0, VecDeque::len);
                if n == 1 {
                    first
                } else {
                    first + last + (n - 2) * self.block
                }
            }
        }
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kept records from sequence number `from` on, oldest first.
    pub fn iter_from(&self, from: u64) -> impl Iterator<Item = (u64, &T)> + '_ {
        let start = from.max(self.base);
        let skip = usize::try_from(start - self.base).unwrap_or(usize::MAX);
        self.blocks
            .iter()
            .flatten()
            .skip(skip)
            .zip(start..)
            .map(|(v, s)| (s, v))
    }

    /// Drops every record; numbering goes on from where it was.
    pub fn clear(&mut self) {
        self.base = self.end();
        self.blocks.clear();
    }

    /// Bytes one block of records takes.
    pub fn block_bytes(&self) -> usize {
        self.block * std::mem::size_of::<T>()
    }

    /// Bytes allocated for the records themselves (their own heap data is not included).
    pub fn allocated(&self) -> usize {
        let blocks = self.blocks.len() + usize::from(self.spare.is_some());
        blocks * self.block * std::mem::size_of::<T>()
    }
}

/// Every byte the capture keeps, appended in arrival order into chunks of a fixed size and
/// dropped from the front a chunk at a time. A record says where its bytes are by their
/// position in the log; a position before [`ByteLog::start`] was dropped.
#[derive(Debug)]
pub struct ByteLog {
    chunks: VecDeque<Vec<u8>>,
    /// Log position of the first byte of `chunks[0]`.
    base: u64,
    /// Positions before this are dropped even if their chunk is still held.
    start: u64,
    chunk: usize,
    spare: Option<Vec<u8>>,
}

impl ByteLog {
    /// Empty, with chunks of `chunk` bytes (at least 1).
    pub fn new(chunk: usize) -> Self {
        Self {
            chunks: VecDeque::new(),
            base: 0,
            start: 0,
            chunk: chunk.max(1),
            spare: None,
        }
    }

    /// Position the next byte will get.
    pub fn end(&self) -> u64 {
        let full = self.chunks.len().saturating_sub(1) * self.chunk;
        let last = self.chunks.back().map_or(0, Vec::len);
        self.base + (full + last) as u64
    }

    /// Position of the oldest byte kept.
    pub fn start(&self) -> u64 {
        self.start.max(self.base)
    }

    /// Appends `bytes`; returns their position.
    pub fn append(&mut self, mut bytes: &[u8]) -> u64 {
        let at = self.end();
        while !bytes.is_empty() {
            if self.chunks.back().is_none_or(|c| c.len() >= self.chunk) {
                let mut c = self
                    .spare
                    .take()
                    .unwrap_or_else(|| Vec::with_capacity(self.chunk));
                c.clear();
                self.chunks.push_back(c);
            }
            let Some(c) = self.chunks.back_mut() else {
                break;
            };
            let n = (self.chunk - c.len()).min(bytes.len());
            append_cold(c, &bytes[..n]);
            bytes = &bytes[n..];
        }
        at
    }

    /// The `len` bytes at position `at`, if all are kept.
    pub fn get(&self, at: u64, len: usize) -> Option<Cow<'_, [u8]>> {
        if at < self.start() || at.checked_add(len as u64)? > self.end() {
            return None;
        }
        if len == 0 {
            return Some(Cow::Borrowed(&[]));
        }
        let p = usize::try_from(at - self.base).ok()?;
        let (ci, off) = (p / self.chunk, p % self.chunk);
        let first = self.chunks.get(ci)?;
        if let Some(s) = first.get(off..off + len) {
            return Some(Cow::Borrowed(s));
        }
        let mut v = Vec::with_capacity(len);
        let mut ci = ci;
        let mut off = off;
        while v.len() < len {
            let c = self.chunks.get(ci)?;
            let n = (len - v.len()).min(c.len().saturating_sub(off));
            if n == 0 {
                return None;
            }
            v.extend_from_slice(&c[off..off + n]);
            ci += 1;
            off = 0;
        }
        Some(Cow::Owned(v))
    }

    /// Drops the oldest chunk (not the one being filled); returns the new start, or `None`
    /// when only that one is left.
    pub fn drop_chunk(&mut self) -> Option<u64> {
        if self.chunks.len() < 2 {
            return None;
        }
        let c = self.chunks.pop_front()?;
        self.base += self.chunk as u64;
        self.spare = Some(c);
        Some(self.start())
    }

    /// Where the oldest chunk ends, unless it is the one being filled.
    pub fn oldest_chunk_end(&self) -> Option<u64> {
        (self.chunks.len() >= 2).then(|| self.base + self.chunk as u64)
    }

    /// Marks every position before `to` dropped (the chunk holding them is freed once it is
    /// wholly before the start); returns whether a chunk was.
    pub fn drop_before(&mut self, to: u64) -> bool {
        self.start = self.start.max(to.min(self.end()));
        let mut freed = false;
        while self.chunks.len() > 1 && self.base + self.chunk as u64 <= self.start {
            if let Some(c) = self.chunks.pop_front() {
                self.base += self.chunk as u64;
                self.spare = Some(c);
                freed = true;
            }
        }
        freed
    }

    /// Drops everything; positions go on from where they were.
    pub fn clear(&mut self) {
        let end = self.end();
        self.chunks.clear();
        // Positions stay unique: the next chunk starts at the old end.
        self.base = end;
        self.start = end;
    }

    /// Bytes one chunk takes.
    pub fn chunk_bytes(&self) -> usize {
        self.chunk
    }

    /// Bytes allocated for the log.
    pub fn allocated(&self) -> usize {
        (self.chunks.len() + usize::from(self.spare.is_some())) * self.chunk
    }
}

/// Appends at least this many bytes with stores that bypass the cache (see [`append_cold`]).
const STREAM_MIN: usize = 4096;

/// Appends `src` to `dst`. The log is written once and read seldom, long after, and its end is
/// never in the cache: a large append goes with non-temporal stores, which neither read the
/// destination's lines first nor push the hot data (the reads being decoded) out of the cache.
/// Smaller ones go as `extend_copy` (not `extend_from_slice`: glibc's slow `rep movsb` case).
fn append_cold(dst: &mut Vec<u8>, src: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if src.len() >= STREAM_MIN {
        dst.reserve(src.len());
        let len = dst.len();
        // SAFETY: `reserve` made room for `src.len()` bytes past `len`; `stream_copy` writes
        // exactly those, so they are initialised before `set_len` counts them.
        unsafe {
            stream_copy(dst.as_mut_ptr().add(len), src);
            dst.set_len(len + src.len());
        }
        return;
    }
    crate::protocol::extend_copy(dst, src);
}

/// Copies `src` to `dst` with non-temporal 16-byte stores (SSE2, in every x86-64 CPU).
///
/// # Safety
/// `dst` must be valid for `src.len()` bytes of writes and not overlap `src`.
#[cfg(target_arch = "x86_64")]
unsafe fn stream_copy(dst: *mut u8, src: &[u8]) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
    let n = src.len();
    let s = src.as_ptr();
    // The stores need a 16-byte aligned destination: the first bytes go one by one.
    let head = ((dst as usize).wrapping_neg() & 15).min(n);
    // SAFETY (all below): every offset stays below `n`, the caller's bounds.
    unsafe {
        std::ptr::copy_nonoverlapping(s, dst, head);
        let mut i = head;
        while i + 64 <= n {
            let a = _mm_loadu_si128(s.add(i).cast::<__m128i>());
            let b = _mm_loadu_si128(s.add(i + 16).cast::<__m128i>());
            let c = _mm_loadu_si128(s.add(i + 32).cast::<__m128i>());
            let d = _mm_loadu_si128(s.add(i + 48).cast::<__m128i>());
            _mm_stream_si128(dst.add(i).cast::<__m128i>(), a);
            _mm_stream_si128(dst.add(i + 16).cast::<__m128i>(), b);
            _mm_stream_si128(dst.add(i + 32).cast::<__m128i>(), c);
            _mm_stream_si128(dst.add(i + 48).cast::<__m128i>(), d);
            i += 64;
        }
        while i + 16 <= n {
            let a = _mm_loadu_si128(s.add(i).cast::<__m128i>());
            _mm_stream_si128(dst.add(i).cast::<__m128i>(), a);
            i += 16;
        }
        // Non-temporal stores are weakly ordered: fenced before another thread may read them.
        _mm_sfence();
        std::ptr::copy_nonoverlapping(s.add(i), dst.add(i), n - i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Appends of every size and alignment (the large ones streamed) read back as written,
        /// across chunk boundaries.
        #[test]
        fn appended_bytes_read_back(
            chunk in 4096usize..40_000,
            appends in prop::collection::vec((0usize..16, 0usize..20_000), 1..24),
        ) {
            let source: Vec<u8> = (0..20_016u32).map(|i| (i * 31 % 251) as u8).collect();
            let mut log = ByteLog::new(chunk);
            let mut written = Vec::new();
            for &(skew, len) in &appends {
                let piece = &source[skew..skew + len];
                let at = log.append(piece);
                prop_assert_eq!(at, written.len() as u64);
                written.extend_from_slice(piece);
            }
            prop_assert_eq!(log.end(), written.len() as u64);
            let mut at = 0;
            for &(_, len) in &appends {
                let got = log.get(at as u64, len);
                prop_assert_eq!(got.as_deref(), Some(&written[at..at + len]));
                at += len;
            }
        }
    }
}
