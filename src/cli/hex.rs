//! Hex input and output: the code lives in [`crate::explain::hex`] (the window uses it too).

pub use crate::explain::hex::{hex_spaced, parse_hex, HexError};
