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
            // Not `extend_from_slice`: see `extend_copy` (glibc's slow `rep movsb` case).
            crate::protocol::extend_copy(c, &bytes[..n]);
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

    /// Marks every position before `to` dropped (the chunk holding them is freed once it is
    /// wholly before the start).
    pub fn drop_before(&mut self, to: u64) {
        self.start = self.start.max(to.min(self.end()));
        while self.chunks.len() > 1 && self.base + self.chunk as u64 <= self.start {
            if let Some(c) = self.chunks.pop_front() {
                self.base += self.chunk as u64;
                self.spare = Some(c);
            }
        }
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
