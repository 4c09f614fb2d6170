//! One colour per field kind and per direction, used by every view (and matching the CLI).

use eframe::egui::Color32;

use crate::event::Direction;

/// FIN bit.
pub const FIN: Color32 = Color32::from_rgb(0x4a, 0x9e, 0xff);
/// RSV bits.
pub const RSV: Color32 = Color32::from_rgb(0x9a, 0x9a, 0x9a);
/// Opcode.
pub const OPCODE: Color32 = Color32::from_rgb(0xff, 0x8c, 0x1a);
/// MASK bit.
pub const MASK: Color32 = Color32::from_rgb(0xb3, 0x6b, 0xff);
/// Payload length fields.
pub const LENGTH: Color32 = Color32::from_rgb(0x3c, 0xc8, 0x50);
/// Masking key.
pub const KEY: Color32 = Color32::from_rgb(0xf0, 0xb4, 0x1e);
/// Payload.
pub const PAYLOAD: Color32 = Color32::from_rgb(0x2c, 0xc5, 0xd8);
/// Violations and failures.
pub const BAD: Color32 = Color32::from_rgb(0xff, 0x4d, 0x4d);
/// Passed checks.
pub const GOOD: Color32 = Color32::from_rgb(0x3c, 0xc8, 0x50);
/// The tag of a connection wsscope's client opened.
pub const CLIENT: Color32 = Color32::from_rgb(0xe0, 0x6c, 0xc0);

/// The colour of a direction.
pub fn direction(d: Direction) -> Color32 {
    match d {
        Direction::ClientToServer => Color32::from_rgb(0x6a, 0xb0, 0xff),
        Direction::ServerToClient => Color32::from_rgb(0x7c, 0xd9, 0x7c),
    }
}

/// Short arrow text for a direction.
pub fn arrow(d: Direction) -> &'static str {
    match d {
        Direction::ClientToServer => "C->S",
        Direction::ServerToClient => "S->C",
    }
}

/// The colour of an opcode name in tables.
pub fn opcode(op: crate::protocol::OpCode) -> Color32 {
    use crate::protocol::OpCode as O;
    match op {
        O::Text => Color32::from_rgb(0x6a, 0xb0, 0xff),
        O::Binary => Color32::from_rgb(0xb3, 0x6b, 0xff),
        O::Continuation => Color32::from_rgb(0x9a, 0x9a, 0xc8),
        O::Close => Color32::from_rgb(0xff, 0x8c, 0x1a),
        O::Ping | O::Pong => Color32::from_rgb(0x3c, 0xc8, 0x50),
        O::ReservedData(_) | O::ReservedControl(_) => BAD,
    }
}
