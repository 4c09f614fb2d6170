//! Capture files: events as JSON lines, written while capturing and read back exactly
//! (`docs/capture-format.md` is the format's description).
//!
//! Line 1 is a [`Header`]; every other line is one [`Event`](crate::event::Event) in its serde
//! form (the attributes on the event and protocol types define it). [`Writer`] appends events
//! as they come; [`Reader`] streams them back, one bounded line at a time, and stops at the first
//! thing that is wrong with a [`ReadError`] naming the file, the line and the byte offset.

mod reader;
mod writer;

use serde::{Deserialize, Serialize};

pub use reader::{Problem, ReadError, Reader, DEFAULT_MAX_LINE};
pub use writer::Writer;

/// The `format` of a capture file's header.
pub const FORMAT: &str = "wsscope-capture";

/// The major version written. A reader refuses a file with a higher one: its lines may mean
/// something else. Minor versions only add (optional fields), so any minor of this major reads.
pub const VERSION_MAJOR: u32 = 1;

/// The minor version written.
pub const VERSION_MINOR: u32 = 0;

/// Line 1 of a capture file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// `"MAJOR.MINOR"`.
    pub version: String,
    /// What wrote the file (`"wsscope"`).
    #[serde(default)]
    pub tool: String,
    /// Its version (`"0.1.0"`).
    #[serde(default)]
    pub tool_version: String,
    /// Time zero (an event's `t_us` of 0) on the wall clock, in microseconds since the Unix
    /// epoch. A `clock` event in the file says the same for the events after it.
    pub unix_us: u64,
}

impl Header {
    /// The header this wsscope writes, for a capture whose time zero is `unix_us`.
    pub fn new(unix_us: u64) -> Self {
        Self {
            format: FORMAT.to_string(),
            version: format!("{VERSION_MAJOR}.{VERSION_MINOR}"),
            tool: "wsscope".to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            unix_us,
        }
    }
}

#[cfg(test)]
mod tests;
