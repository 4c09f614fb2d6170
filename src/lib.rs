//! wsscope: see everything RFC 6455 puts on the wire.
//!
//! - [`protocol`]: the sans-IO core (handshake, accept derivation, frames, decoder, connection).
//! - [`cli`]: text renderers and input parsing shared by the command line (and later the GUI).

pub mod capture;
pub mod cli;
#[cfg(feature = "gui")]
pub mod gui;
pub mod i18n;
pub mod protocol;
pub mod server;
