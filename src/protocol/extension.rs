//! The seam for extensions (RFC 6455 §9), so permessage-deflate (RFC 7692) can claim RSV1 and
//! transform payloads without the decoder changing.

use super::frame::OpCode;
use super::violation::ExtensionFailure;

/// An extension negotiated for one direction of one connection.
pub trait Extension: Send {
    /// The extension's token, as in Sec-WebSocket-Extensions.
    fn name(&self) -> &str;

    /// Which RSV bits a frame with this opcode may carry. `first_fragment` is true for a data
    /// frame that starts a message (RFC 7692 allows RSV1 only there).
    fn allowed_rsv(&self, opcode: OpCode, first_fragment: bool) -> [bool; 3];

    /// Turns a received message's payload into application data. `rsv` is the first frame's RSV
    /// bits; the result must not exceed `max_size` bytes. `Err` says why, as data.
    fn decode_message(
        &mut self,
        rsv: [bool; 3],
        payload: Vec<u8>,
        max_size: u64,
    ) -> Result<Vec<u8>, ExtensionFailure>;
}
