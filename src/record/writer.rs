//! Appending events to a capture file.

use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Header;
use crate::event::{Clock, Event};

/// Bytes gathered before a write to the file: big enough that a flood of small events costs one
/// system call per few thousand of them.
const BUFFER: usize = 256 * 1024;

/// Event time between two flushes at most: a crash loses about this much.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Writes events to a capture file as JSON lines: buffered, flushed at least once per second
/// of event time, on [`Writer::flush`] and when dropped (the `BufWriter` inside flushes; an
/// error there goes unseen: call `flush` first to see it).
///
/// Every error names the file. After one, the file ends at the last complete flush: stop
/// writing and tell the user.
pub struct Writer {
    out: BufWriter<File>,
    path: PathBuf,
    /// One event's line, reused.
    line: Vec<u8>,
    /// Event time of the last flush (`None` before the first event).
    flushed_at: Option<Duration>,
}

impl Writer {
    /// Creates (or truncates) `path` and writes the header, with time zero now on the wall
    /// clock. Prefer [`Writer::create_with_clock`] when the events' clock is known.
    pub fn create(path: &Path) -> io::Result<Self> {
        Self::create_at(path, Clock::start().unix_micros())
    }

    /// Creates (or truncates) `path` and writes the header with `clock`'s time zero: the clock
    /// the events' times count from.
    pub fn create_with_clock(path: &Path, clock: &Clock) -> io::Result<Self> {
        Self::create_at(path, clock.unix_micros())
    }

    fn create_at(path: &Path, unix_us: u64) -> io::Result<Self> {
        let file = File::create(path).map_err(|e| named(path, e))?;
        let mut w = Self {
            out: BufWriter::with_capacity(BUFFER, file),
            path: path.to_path_buf(),
            line: Vec::with_capacity(1024),
            flushed_at: None,
        };
        serde_json::to_writer(&mut w.line, &Header::new(unix_us)).map_err(io::Error::other)?;
        w.line.push(b'\n');
        w.out.write_all(&w.line).map_err(|e| named(path, e))?;
        // Now, so that a path that cannot be written (a full disk, /dev/full) fails here,
        // before anything is captured, and the file is a valid capture from the start.
        w.flush()?;
        Ok(w)
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `e` as one line. Flushes when a second of event time has passed since the last
    /// flush.
    pub fn write(&mut self, e: &Event) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, e).map_err(|err| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: cannot write an event: {err}", self.path.display()),
            )
        })?;
        self.line.push(b'\n');
        self.out
            .write_all(&self.line)
            .map_err(|err| named(&self.path, err))?;
        // abs_diff: events of another source may come with earlier times.
        if self
            .flushed_at
            .is_none_or(|t| e.time.abs_diff(t) >= FLUSH_EVERY)
        {
            self.flushed_at = Some(e.time);
            self.flush()?;
        }
        Ok(())
    }

    /// Writes everything buffered to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush().map_err(|e| named(&self.path, e))
    }
}

/// `e` with the file's name in its message.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
