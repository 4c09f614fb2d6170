//! wsscope: see everything RFC 6455 puts on the wire.
//!
//! - [`protocol`]: the sans-IO core (handshake, accept derivation, frames, decoder, connection).
//! - [`event`]: what was seen, as data that belongs to no endpoint (and the commands taken).
//! - [`tap`]: turns one TCP connection's bytes, both ways, into events.
//! - [`server`]: the engine (listener, event loops) that feeds the tap.
//! - [`capture`]: the store of events the window reads.
//! - [`record`]: capture files (JSON lines): written while capturing, read back exactly.
//! - [`export`]: the capture as pcap (Wireshark, tshark) and HAR (browser DevTools).
//! - [`explain`]: one presentation-neutral explanation of frames, streams and the accept key.
//! - [`i18n`]: every sentence for people, in English and Chinese.
//! - [`import`]: pcap and pcapng files made elsewhere, read into the same events.
//! - [`cli`]: text renderers and input parsing for the command line.
//! - `gui`: the window.

pub mod capture;
pub mod cli;
pub mod client;
pub mod event;
pub mod explain;
pub mod export;
#[cfg(feature = "gui")]
pub mod gui;
pub mod i18n;
pub mod import;
pub mod protocol;
pub mod proxy;
pub mod record;
pub mod server;
pub mod tap;
