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
    // Rotate the key so that rotated[0] applies to buf[0].
    let shift = offset % 4;
    let rotated = [
        key[shift],
        key[(shift + 1) % 4],
        key[(shift + 2) % 4],
        key[(shift + 3) % 4],
    ];
    let mut wide = [0u8; 8];
    wide[..4].copy_from_slice(&rotated);
    wide[4..].copy_from_slice(&rotated);
    let word = u64::from_ne_bytes(wide);

    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(bytes) ^ word;
        chunk.copy_from_slice(&x.to_ne_bytes());
    }
    // The tail is shorter than 8 bytes and starts at a multiple of 8, i.e. of 4: key phase 0.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= rotated[i % 4];
    }
}
