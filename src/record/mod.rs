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

/// The events of any capture file wsscope reads, as one stream: a pcap or pcapng file (told by
/// its magic number) or our JSON lines, the capture's time zero first (a `Clock` event). A file
/// that cannot be read (further) ends the stream with an error naming the file and where, in
/// `lang`.
pub type AnyEvents = Box<dyn Iterator<Item = Result<crate::event::Event, String>> + Send>;

/// Opens `path` as [`AnyEvents`].
pub fn open_any(path: &std::path::Path, lang: crate::i18n::Lang) -> Result<AnyEvents, String> {
    use crate::event::{Event, EventKind};
    use crate::i18n::{import_error, read_error};
    let format = crate::import::Format::of_file(path)
        .map_err(|e| format!("{}: {}", path.display(), fill_io(lang, &e)))?;
    if format.is_some() {
        let events = crate::import::open(path).map_err(|e| import_error(lang, &e))?;
        return Ok(Box::new(
            events.map(move |r| r.map_err(|e| import_error(lang, &e))),
        ));
    }
    let reader = Reader::open(path).map_err(|e| read_error(lang, &e))?;
    // The header's time zero, as the event the writers and the store take it from.
    let clock = Event {
        conn: 0,
        time: std::time::Duration::ZERO,
        kind: EventKind::Clock {
            unix_micros: reader.header().unix_us,
        },
    };
    let rest = reader.map(move |r| r.map_err(|e| read_error(lang, &e)));
    Ok(Box::new(std::iter::once(Ok(clock)).chain(rest)))
}

/// An I/O error opening a file, in `lang`.
fn fill_io(lang: crate::i18n::Lang, e: &std::io::Error) -> String {
    crate::i18n::fill(lang.t().rf_io, &[e])
}

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
