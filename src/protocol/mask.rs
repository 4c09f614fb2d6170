//! Masking (RFC 6455 §5.3): `payload[i] ^= key[(offset + i) % 4]`.
//!
//! Two implementations: [`apply_mask_reference`] is the rule written out byte by byte, and
//! [`apply_mask`] works a machine word at a time. They are property-tested against each other.

/// The obviously-correct version: one XOR per byte. `offset` is the position of `buf[0]` within
/// the payload, so a payload can be unmasked in pieces.
pub fn apply_mask_reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[(offset + i) % 4];
    }
}

/// The fast version: XORs 8 bytes at a time with the key repeated twice and rotated to the
/// starting offset. Same result as [`apply_mask_reference`] for every input.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let word = mask_word(key, offset);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let x = load_word(chunk) ^ word;
        chunk.copy_from_slice(&x.to_ne_bytes());
    }
    // The tail is shorter than 8 bytes and starts at a multiple of 8, i.e. of 4: key phase 0.
    let rotated = word.to_ne_bytes();
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= rotated[i % 4];
    }
}

/// The key repeated twice, rotated so that its first byte applies at payload position `offset`.
fn mask_word(key: [u8; 4], offset: usize) -> u64 {
    let shift = offset % 4;
    let mut wide = [0u8; 8];
    for (i, b) in wide.iter_mut().enumerate() {
        *b = key[(shift + i) % 4];
    }
    u64::from_ne_bytes(wide)
}

/// The 8 bytes of `b` (exactly 8 long: a `chunks_exact(8)` piece) as one word.
fn load_word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(b);
    u64::from_ne_bytes(w)
}

/// Whether `unmasked`, masked with `key` from payload position 0, is `wire`: one read of each,
/// no copy.
pub fn masks_to(unmasked: &[u8], key: [u8; 4], wire: &[u8]) -> bool {
    if unmasked.len() != wire.len() {
        return false;
    }
    let word = mask_word(key, 0);
    // Differences gathered over a block without a branch per word, so the loop vectorises.
    let mut a = unmasked.chunks_exact(MASK_BLOCK);
    let mut b = wire.chunks_exact(MASK_BLOCK);
    for (x, y) in (&mut a).zip(&mut b) {
        let diff = x
            .chunks_exact(8)
            .zip(y.chunks_exact(8))
            .fold(0, |d, (x, y)| d | (load_word(x) ^ word ^ load_word(y)));
        if diff != 0 {
            return false;
        }
    }
    // The tail starts at a multiple of MASK_BLOCK: key phase 0.
    a.remainder()
        .iter()
        .zip(b.remainder())
        .enumerate()
        .all(|(i, (x, y))| x ^ key[i % 4] == *y)
}

/// How much [`extend_masked`] copies per `memcpy` call: no more than glibc copies with vector
/// moves, below the size where it switches to `rep movsb`.
const COPY_PIECE: usize = 2048;

/// A growable byte buffer [`extend_masked`] can append to (`Vec<u8>` and `BytesMut`).
pub trait ByteBuf {
    /// Makes room for `n` more bytes (one allocation, so no growth copies them again).
    fn reserve_more(&mut self, n: usize);
    /// Appends the bytes.
    fn append(&mut self, bytes: &[u8]);
    /// Everything in the buffer.
    fn contents_mut(&mut self) -> &mut [u8];
}

/// `Vec<u8>` and `BytesMut` grow the same way.
macro_rules! byte_buf {
    ($t:ty) => {
        impl ByteBuf for $t {
            fn reserve_more(&mut self, n: usize) {
                self.reserve(n);
            }
            fn append(&mut self, bytes: &[u8]) {
                self.extend_from_slice(bytes);
            }
            fn contents_mut(&mut self) -> &mut [u8] {
                self
            }
        }
    };
}
byte_buf!(Vec<u8>);
byte_buf!(bytes::BytesMut);

/// How many bytes [`extend_masked`] unmasks on the stack before appending them: the copy and
/// the unmasking are one pass over the payload, and a block this small is appended with vector
/// moves, never glibc's `rep movsb` (see [`COPY_PIECE`]).
const MASK_BLOCK: usize = 256;

/// Appends `src` to `out`, unmasked with `key` when there is one (`offset`: the position of
/// `src[0]` in the payload).
///
/// A plain copy goes in [`COPY_PIECE`]s, not in one `extend_from_slice`: above 2-4 KiB glibc's
/// `memcpy` uses `rep movsb`, which on AMD Zen runs 15-20x slower when the destination sits a
/// few bytes past the source modulo 4 KiB (measured here: 64 KiB in 25 µs instead of 1.7 µs).
/// Header lengths put payloads at such offsets all the time (the echo copies a payload to 4
/// bytes past a new buffer's start); in pieces the copy runs at full speed whatever the offsets.
/// With a key, each [`MASK_BLOCK`] is read once, unmasked on the stack and appended: a copy
/// then an unmasking pass took 4.4 µs per 64 KiB, this 3.2 µs.
pub fn extend_masked<B: ByteBuf>(out: &mut B, src: &[u8], key: Option<[u8; 4]>, offset: usize) {
    out.reserve_more(src.len());
    let Some(key) = key else {
        for piece in src.chunks(COPY_PIECE) {
            out.append(piece);
        }
        return;
    };
    // MASK_BLOCK is a multiple of 4: every block starts at the same key phase.
    let word = mask_word(key, offset);
    let mut blocks = src.chunks_exact(MASK_BLOCK);
    for block in &mut blocks {
        let mut unmasked = [0u8; MASK_BLOCK];
        for (to, from) in unmasked.chunks_exact_mut(8).zip(block.chunks_exact(8)) {
            to.copy_from_slice(&(load_word(from) ^ word).to_ne_bytes());
        }
        out.append(&unmasked);
    }
    let tail = blocks.remainder();
    let start = out.contents_mut().len();
    out.append(tail);
    apply_mask(
        &mut out.contents_mut()[start..],
        key,
        offset + src.len() - tail.len(),
    );
}

/// Appends `src` to `out` as it is (see [`extend_masked`] for why not `extend_from_slice`).
pub fn extend_copy<B: ByteBuf>(out: &mut B, src: &[u8]) {
    extend_masked(out, src, None, 0);
}

/// Reads and payloads up to this size are built in one allocation that holds their share count
/// too (see [`small_bytes`]).
pub(crate) const INLINE: usize = 128;

/// The bytes of [`small_bytes`], inline.
struct Inline {
    len: usize,
    data: [u8; INLINE],
}

impl AsRef<[u8]> for Inline {
    fn as_ref(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

/// `len` bytes written by `fill`, in one allocation that clones share without another: a
/// `Bytes` made from a `Vec` allocates its share count at the first clone, and a small read or
/// payload is cloned at once (the TCP event and its frames, a frame and its message). `None`
/// past [`INLINE`].
pub(crate) fn small_bytes(len: usize, fill: impl FnOnce(&mut [u8])) -> Option<bytes::Bytes> {
    if len > INLINE {
        return None;
    }
    let mut data = [0; INLINE];
    fill(&mut data[..len]);
    Some(bytes::Bytes::from_owner(Inline { len, data }))
}
