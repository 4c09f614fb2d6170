//! Command-line helpers: hex input and the text the subcommands print (the explanations
//! themselves are in [`crate::explain`]; this module only lays them out for a terminal).

pub mod connect;
pub mod hex;
pub mod proxy;
pub mod render;
pub mod trace;

pub use hex::{hex_spaced, parse_hex, HexError};
pub use render::{render_accept, render_decode, DecodeReport, Ink, Paint};
