//! Reading a capture file back, one bounded line at a time.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read as _};
use std::path::{Path, PathBuf};

use super::{Header, FORMAT, VERSION_MAJOR};
use crate::event::{ErrorKind, Event, EventKind};
use crate::protocol::{Detail, Frame, LenEncoding, Rule, Violation};

/// The longest line read by default: 64 MiB. The writer's lines are at most about twice the
/// largest payload in them (base64 or text with two-byte escapes), so this reads every frame and
/// message up to 32 MiB (the server's default limits are 16 MiB); a longer line is refused, not
/// held in memory.
pub const DEFAULT_MAX_LINE: usize = 64 << 20;

/// Why a capture file could not be read (further).
#[derive(Debug, thiserror::Error)]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// The line (1 is the header); 0 when the file could not be opened.
    pub line: u64,
    /// Byte offset in the file where the problem is: the start of the line, or the place in it
    /// that is wrong when the JSON parser says where.
    pub offset: u64,
    /// What was wrong.
    #[source]
    pub problem: Problem,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.problem)
        } else {
            write!(
                f,
                "{}: line {}, byte {}: {}",
                self.path.display(),
                self.line,
                self.offset,
                self.problem
            )
        }
    }
}

/// What was wrong with a capture file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The file could not be opened or read.
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    /// The file has no bytes at all.
    #[error("empty file: a capture starts with a header line")]
    Empty,
    /// A line that is not JSON.
    #[error("not JSON ({0})")]
    NotJson(String),
    /// Line 1 is JSON but not a wsscope capture header.
    #[error("not a wsscope capture header: {0}")]
    NotACapture(String),
    /// The file was written by a newer wsscope in a format version this one cannot read.
    #[error("capture format version {found} is newer than this wsscope reads ({supported}.x): use a newer wsscope")]
    NewerVersion {
        /// The version in the header.
        found: String,
        /// The major version this reader reads.
        supported: u32,
    },
    /// An event line whose `type` is not one this version knows.
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    /// An event line that is JSON but not a valid event.
    #[error("bad {kind} event: {why}")]
    BadEvent {
        /// The line's `type`, or `"untyped"`.
        kind: String,
        /// What the parser said.
        why: String,
    },
    /// An event whose stream bytes run past 2^64 (a frame's offset plus its length, a gap's
    /// offset plus what it misses, wsscope's own frame too big to follow: its offset plus the
    /// header and payload it announces): no stream is that long, so the line is wrong.
    #[error(
        "bad {kind} event: offset {offset} plus {len} bytes runs past 2^64, the end of any stream"
    )]
    PastStreamEnd {
        /// The line's `type`.
        kind: String,
        /// Where it says the bytes start.
        offset: u64,
        /// How many it says there are.
        len: u64,
    },
    /// An event with a byte range that ends before it starts (a message's `byte_range`, one of
    /// a frame's violations'): no bytes are like that, so the line is wrong.
    #[error("bad {kind} event: its {field} {start}..{end} ends before it starts")]
    ReversedRange {
        /// The line's `type`.
        kind: String,
        /// The range's field, as a path in the line (`violations[1].byte_range`).
        field: String,
        /// Where it says the bytes start.
        start: u64,
        /// Where it says they end.
        end: u64,
    },
    /// A frame with a violation whose bytes are not the frame's own (from its `offset` to the
    /// end of its header and payload; a rule of the whole message may start at the message's
    /// first byte, in an earlier frame): a rule a frame breaks is in its bytes, so the line is
    /// wrong.
    #[error("bad frame event: its {field} {start}..{end} is outside the frame's bytes {frame_start}..{frame_end}")]
    OutsideFrame {
        /// The range's field, as a path in the line (`violations[1].byte_range`).
        field: String,
        /// Where it says the bytes start.
        start: u64,
        /// Where it says they end.
        end: u64,
        /// The frame's first byte.
        frame_start: u64,
        /// One past its last byte.
        frame_end: u64,
    },
    /// The last line ends without a newline and does not parse: the writer was cut off.
    #[error("the last line is cut short (no newline at the end of the file): the recording was interrupted; everything before it was read")]
    Truncated,
    /// A line longer than the limit (it was not read into memory).
    #[error("line longer than {limit} bytes")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
}

/// Streams the events of a capture file. The header is read by [`Reader::open`]; each
/// [`Iterator::next`] reads one more line. After an error the iterator ends: everything valid
/// before it was yielded.
pub struct Reader {
    input: BufReader<File>,
    path: PathBuf,
    header: Header,
    max_line: usize,
    /// Lines read so far.
    line_no: u64,
    /// Bytes read so far (the offset of the next line).
    offset: u64,
    /// One line, reused.
    buf: Vec<u8>,
    done: bool,
}

/// One line as read.
enum Line {
    /// End of file.
    End,
    /// A line in `buf`; `newline` says whether it ended with one (only the last line may not).
    Some { newline: bool },
    /// Longer than the limit.
    TooLong,
}

impl Reader {
    /// Opens `path` and reads its header, with lines up to [`DEFAULT_MAX_LINE`].
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        Self::open_with_limit(path, DEFAULT_MAX_LINE)
    }

    /// Opens `path` and reads its header, refusing lines longer than `max_line` bytes.
    pub fn open_with_limit(path: &Path, max_line: usize) -> Result<Self, ReadError> {
        let file = File::open(path).map_err(|e| ReadError {
            path: path.to_path_buf(),
            line: 0,
            offset: 0,
            problem: Problem::Io(e),
        })?;
        let mut r = Self {
            input: BufReader::with_capacity(256 * 1024, file),
            path: path.to_path_buf(),
            header: Header::new(0),
            max_line,
            line_no: 0,
            offset: 0,
            buf: Vec::new(),
            done: false,
        };
        r.header = r.read_header()?;
        Ok(r)
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, offset: u64, problem: Problem) -> ReadError {
        ReadError {
            path: self.path.clone(),
            line: self.line_no,
            offset,
            problem,
        }
    }

    /// Reads the next line into `buf` (without its newline), counting lines and bytes.
    fn next_line(&mut self) -> Result<Line, ReadError> {
        self.buf.clear();
        let limit = self.max_line as u64 + 1;
        let start = self.offset;
        let n = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| {
                self.line_no += 1;
                self.error(start, Problem::Io(e))
            })?;
        if n == 0 {
            return Ok(Line::End);
        }
        self.line_no += 1;
        self.offset += n as u64;
        let newline = self.buf.last() == Some(&b'\n');
        if newline {
            self.buf.pop();
        }
        if self.buf.len() > self.max_line {
            return Ok(Line::TooLong);
        }
        Ok(Line::Some { newline })
    }

    fn read_header(&mut self) -> Result<Header, ReadError> {
        let newline = match self.next_line()? {
            Line::End => return Err(self.error(0, Problem::Empty)),
            Line::TooLong => {
                let limit = self.max_line;
                return Err(self.error(0, Problem::LineTooLong { limit }));
            }
            Line::Some { newline } => newline,
        };
        let value: serde_json::Value = match serde_json::from_slice(&self.buf) {
            Ok(v) => v,
            Err(e) => {
                let at = json_offset(0, &e);
                let problem = if !newline && e.is_eof() {
                    Problem::Truncated
                } else {
                    Problem::NotJson(format!(
                        "{}; a wsscope capture starts with {{\"format\":\"{FORMAT}\",...}}",
                        json_message(&e)
                    ))
                };
                return Err(self.error(at, problem));
            }
        };
        let format = value.get("format").and_then(|f| f.as_str());
        if format != Some(FORMAT) {
            let found = match format {
                Some(f) => format!("its format is {f:?}, not {FORMAT:?}"),
                None => format!("it has no \"format\":\"{FORMAT}\""),
            };
            return Err(self.error(0, Problem::NotACapture(found)));
        }
        let version = value.get("version").and_then(|v| v.as_str()).unwrap_or("");
        let major = version
            .split_once('.')
            .and_then(|(major, minor)| {
                minor.parse::<u32>().ok()?;
                major.parse::<u32>().ok()
            })
            .ok_or_else(|| {
                self.error(
                    0,
                    Problem::NotACapture(format!("its version {version:?} is not MAJOR.MINOR")),
                )
            })?;
        if major > VERSION_MAJOR {
            return Err(self.error(
                0,
                Problem::NewerVersion {
                    found: version.to_string(),
                    supported: VERSION_MAJOR,
                },
            ));
        }
        if major < VERSION_MAJOR {
            return Err(self.error(
                0,
                Problem::NotACapture(format!("version {version} never existed")),
            ));
        }
        serde_json::from_value(value)
            .map_err(|e| self.error(0, Problem::NotACapture(e.to_string())))
    }

    /// Reads the next event, skipping blank lines.
    fn next_event(&mut self) -> Result<Option<Event>, ReadError> {
        loop {
            let start = self.offset;
            let newline = match self.next_line()? {
                Line::End => return Ok(None),
                Line::TooLong => {
                    let limit = self.max_line;
                    return Err(self.error(start, Problem::LineTooLong { limit }));
                }
                Line::Some { newline } => newline,
            };
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return match serde_json::from_slice::<Event>(&self.buf) {
                Ok(e) => match past_stream_end(&e).or_else(|| bad_range(&e)) {
                    // The line as a whole is wrong, not a place in it: its start.
                    Some(problem) => Err(self.error(start, problem)),
                    None => Ok(Some(e)),
                },
                Err(e) => Err(self.error(json_offset(start, &e), self.classify(&e, newline))),
            };
        }
    }

    /// Why the line in `buf` is not an event.
    fn classify(&self, e: &serde_json::Error, newline: bool) -> Problem {
        if !e.is_data() {
            return if !newline && e.is_eof() {
                Problem::Truncated
            } else {
                Problem::NotJson(json_message(e))
            };
        }
        // Valid JSON that is no event: look at its type (only on this error path).
        let value = serde_json::from_slice::<serde_json::Value>(&self.buf).ok();
        let kind = value.as_ref().and_then(|v| v.get("type"));
        match kind.and_then(|k| k.as_str()) {
            Some(k) if !KNOWN_TYPES.contains(&k) => Problem::UnknownType(k.to_string()),
            Some(k) => Problem::BadEvent {
                kind: k.to_string(),
                why: json_message(e),
            },
            None => Problem::BadEvent {
                kind: "untyped".to_string(),
                why: if kind.is_some() {
                    "its \"type\" is not a string".to_string()
                } else {
                    json_message(e)
                },
            },
        }
    }
}

/// The problem with `e` when the stream bytes it says run past 2^64: a frame's offset plus the
/// bytes it took (see [`frame_len`]), a gap's offset plus the bytes it misses, the offset of a
/// frame of wsscope's own that decoding stopped at plus its header and the payload the header
/// announces (when that is a length a frame can have: one with its top bit set is only a claim,
/// and wsscope's raw frames can send it). The store and the exporters saturate such numbers,
/// but a file saying them is wrong, and is told so.
fn past_stream_end(e: &Event) -> Option<Problem> {
    let (kind, offset, len) = match &e.kind {
        EventKind::Frame { frame, .. } => ("frame", frame.offset, frame_len(frame)),
        EventKind::Error(ErrorKind::Gap {
            offset, missing, ..
        }) => ("error", *offset, *missing),
        EventKind::Error(ErrorKind::OwnFrameTooBig {
            offset, announced, ..
        }) => {
            // Decoding stopped at its header, so the header was there: at least the shortest
            // one that carries the announced length (at most 10 bytes, no overflow).
            let header = 2 + LenEncoding::minimal_for(*announced).extra_bytes() as u64;
            let payload = if announced >> 63 == 0 { *announced } else { 0 };
            ("error", *offset, header + payload)
        }
        _ => return None,
    };
    offset
        .checked_add(len)
        .is_none()
        .then(|| Problem::PastStreamEnd {
            kind: kind.to_string(),
            offset,
            len,
        })
}

/// The stream bytes a frame took: its header, and the payload its header announces; the
/// payload kept when decoding stopped at it, whose announced length is only a claim, as wsscope
/// records a peer's length with its top bit set.
fn frame_len(frame: &Frame) -> u64 {
    let payload = if frame.payload_captured && frame.violations.is_empty() {
        frame.header.payload_len
    } else {
        frame.payload.len() as u64
    };
    (frame.header.header_len() as u64).saturating_add(payload)
}

/// The problem with `e` when a byte range in it is not one: a message's that ends before it
/// starts, a frame's violation's that does or that is not in the frame's bytes. Downstream
/// only shows and writes these numbers, but a file saying them is wrong, and is told so.
/// Called after [`past_stream_end`]: a frame's end fits in a u64.
fn bad_range(e: &Event) -> Option<Problem> {
    match &e.kind {
        EventKind::Message { message, .. } => {
            let r = &message.byte_range;
            (r.start > r.end).then(|| Problem::ReversedRange {
                kind: "message".to_string(),
                field: "byte_range".to_string(),
                start: r.start,
                end: r.end,
            })
        }
        EventKind::Frame { frame, .. } => {
            let frame_start = frame.offset;
            let frame_end = frame_start.saturating_add(frame_len(frame));
            frame.violations.iter().enumerate().find_map(|(i, v)| {
                let (start, end) = (v.byte_range.start, v.byte_range.end);
                let field = || format!("violations[{i}].byte_range");
                if start > end {
                    return Some(Problem::ReversedRange {
                        kind: "frame".to_string(),
                        field: field(),
                        start,
                        end,
                    });
                }
                // A rule of the whole message starts at its first byte, in an earlier frame.
                let from = if spans_message(v) { 0 } else { frame_start };
                (start < from || end > frame_end).then(|| Problem::OutsideFrame {
                    field: field(),
                    start,
                    end,
                    frame_start,
                    frame_end,
                })
            })
        }
        _ => None,
    }
}

/// Whether `v` is a rule of the whole message, reported on its last frame with a range from
/// the message's first byte: an extension that could not decode it, or the text it decoded to
/// that is not UTF-8 (`protocol::message`).
fn spans_message(v: &Violation) -> bool {
    v.rule == Rule::ExtensionError || matches!(v.detail, Detail::Utf8AfterExtension { .. })
}

/// The event types of format version 1 (`docs/capture-format.md`).
pub(super) const KNOWN_TYPES: &[&str] = &[
    "clock",
    "listening",
    "opened",
    "tcp",
    "handshake",
    "http",
    "frame",
    "message",
    "limit",
    "closed",
    "error",
    "stopped",
];

/// The file offset of a JSON error in the line starting at `line_start` (serde_json's column is
/// 1-based, in bytes).
fn json_offset(line_start: u64, e: &serde_json::Error) -> u64 {
    line_start + (e.column() as u64).saturating_sub(1)
}

/// serde_json's message without its "at line 1 column N" (the error says where, in the file).
fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}

impl Iterator for Reader {
    type Item = Result<Event, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_event() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for Reader {}
