//! Read buffers: a connection reads straight into memory that the captured read can keep, and
//! large buffers go round a pool instead of being allocated and zero-filled per read.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::protocol::small_bytes;

/// Largest read. A 64 KiB message with its header (65,550 bytes) arrives in one read, not in a
/// full 64 KiB read and a 14-byte one: one syscall and one wake-up less per large message.
pub(crate) const READ_BUF: usize = 128 * 1024;

/// The first read buffer of a connection. Many connections only ever read a few small frames:
/// the large buffer is allocated once a read fills this one.
const FIRST_READ_BUF: usize = 4 * 1024;

/// Where a connection reads: straight into memory that the captured read can keep.
/// A read that fills at least half the buffer is handed over whole (the TCP event and the frames
/// cut from it share it, without a copy) and the next read gets another buffer from the pool; a
/// smaller read is copied out, so captured bytes never hold more than twice their size in memory
/// and the buffer is reused at once.
pub(crate) struct ReadBuf {
    /// Initialised memory (safe `read` needs it): zero-filled once, when first allocated.
    buf: Vec<u8>,
    pool: Arc<ReadPool>,
}

impl ReadBuf {
    pub(crate) fn new(pool: Arc<ReadPool>) -> Self {
        Self {
            buf: vec![0; FIRST_READ_BUF],
            pool,
        }
    }

    /// One `read`; empty at end of stream. The flag says whether the read filled the buffer
    /// (more may be waiting).
    pub(crate) fn read(&mut self, mut from: impl Read) -> io::Result<(Bytes, bool)> {
        let n = from.read(&mut self.buf)?.min(self.buf.len());
        let full = n == self.buf.len();
        if n < self.buf.len() / 2 {
            return Ok((copied(&self.buf[..n]), full));
        }
        let buf = std::mem::replace(&mut self.buf, self.pool.take());
        let lent = Bytes::from_owner(Lent {
            buf,
            len: n,
            pool: Arc::clone(&self.pool),
        });
        Ok((lent, full))
    }
}

/// A copy of a small read that the TCP event and the frames cut from it share without another
/// allocation (see [`small_bytes`]).
fn copied(src: &[u8]) -> Bytes {
    small_bytes(src.len(), |d| d.copy_from_slice(src))
        .unwrap_or_else(|| Bytes::copy_from_slice(src))
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

/// Read buffers of [`READ_BUF`] bytes that are not in use. A captured read gives its buffer back
/// once every event holding it is dropped; the `serve` consumer does that within milliseconds, so
/// at up to 128 KiB per read the same few buffers go round, with no allocation or zero-filling
/// per read.
pub(crate) struct ReadPool {
    spare: Mutex<Vec<Vec<u8>>>,
}

/// Most spare buffers kept (4 MiB); more are freed.
const POOLED: usize = 32;

impl ReadPool {
    pub(crate) fn new() -> Self {
        Self {
            spare: Mutex::new(Vec::new()),
        }
    }

    /// A spare buffer, or a new zero-filled one.
    fn take(&self) -> Vec<u8> {
        self.spare
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_else(|| vec![0; READ_BUF])
    }

    fn give(&self, buf: Vec<u8>) {
        if buf.len() != READ_BUF {
            return;
        }
        if let Ok(mut s) = self.spare.lock() {
            if s.len() < POOLED {
                s.push(buf);
            }
        }
    }
}

/// A read buffer lent to the captured bytes of one read (its first `len` bytes), back to the
/// pool when the last of them is dropped.
struct Lent {
    buf: Vec<u8>,
    len: usize,
    pool: Arc<ReadPool>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each read comes back exactly, whether it is copied out or handed over; a handed-over
    /// buffer returns to the pool once its bytes are dropped.
    #[test]
    fn read_buf_returns_each_read_exactly() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let pool = Arc::new(ReadPool::new());
        let mut rb = ReadBuf::new(Arc::clone(&pool));
        let mut from = &data[..10];
        assert_eq!(
            rb.read(&mut from).ok().map(|(b, _)| b),
            Some(Bytes::copy_from_slice(&data[..10]))
        );
        // Fills the first buffer: handed over, and the next buffer is a large one.
        let mut from = &data[10..];
        let (first, full) = rb.read(&mut from).unwrap_or_default();
        assert!(full);
        assert_eq!(&first[..], &data[10..10 + FIRST_READ_BUF]);
        assert_eq!(rb.buf.len(), READ_BUF);
        let mut got = first.to_vec();
        let mut reads = Vec::new();
        loop {
            let (b, _) = rb.read(&mut from).unwrap_or_default();
            if b.is_empty() {
                break;
            }
            got.extend_from_slice(&b);
            reads.push(b);
        }
        assert_eq!(&got[..], &data[10..]);
        let spare = |p: &ReadPool| p.spare.lock().map(|s| s.len()).unwrap_or_default();
        assert_eq!(spare(&pool), 0);
        // The large reads were lent; dropping them (and the reader) fills the pool.
        let lent = reads.iter().filter(|b| b.len() >= READ_BUF / 2).count();
        drop(reads);
        drop(rb);
        assert_eq!(spare(&pool), lent + 1);
    }
}
