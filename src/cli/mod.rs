//! Command-line helpers: hex input and the text renderers the subcommands print.

pub mod hex;
pub mod render;
pub mod trace;

pub use hex::{hex_spaced, parse_hex, HexError};
pub use render::{render_accept, render_decode, DecodeReport, Paint};
