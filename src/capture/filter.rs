//! The frame filter: a query of space-separated terms, every one of which a frame must match,
//! tested incrementally as frames arrive (each frame once), so a new query over a million
//! frames answers in a few repaints and the list keeps up with the capture.
//!
//! Terms: `#3` (connection 3), `c->s` / `s->c` (direction), `!` (broke a rule), `op:ping`
//! (opcode name or number), `len>100`, `len<10`, `len=0`, `len>=`, `len<=` (payload length),
//! `/regex/` (over the unmasked payload's bytes), and any other word: found in the opcode name
//! or the payload, ASCII case ignored. Payload tests look at the first 64 KiB.

use std::time::{Duration, Instant};

use super::{Capture, FrameRecord, Seq};
use crate::event::{ConnId, Direction};
use crate::protocol::OpCode;

/// How much of a payload the text and regex terms look at.
const PAYLOAD_SCAN: usize = 64 << 10;

/// One term of a query.
#[derive(Debug, Clone)]
enum Term {
    Conn(ConnId),
    Dir(Direction),
    Broken,
    Op(u8),
    Len(std::cmp::Ordering, bool, u64),
    Regex(regex::bytes::Regex),
    Word(Vec<u8>),
}

/// A parsed query.
#[derive(Debug, Clone, Default)]
pub struct Query {
    terms: Vec<Term>,
}

/// Why a query does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A `/.../` term is not a valid regular expression.
    #[error("bad regular expression {0}: {1}")]
    Regex(String, String),
    /// A `len` or `op:` term has no number or name it knows.
    #[error("bad term {0}")]
    Term(String),
}

impl Query {
    /// Parses `text` (see the module doc). An empty query matches every frame.
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let mut terms = Vec::new();
        for t in text.split_whitespace() {
            terms.push(term(t)?);
        }
        Ok(Self { terms })
    }

    /// Whether the query has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether frame `r` of `capture` matches every term.
    pub fn matches(&self, capture: &Capture, r: &FrameRecord) -> bool {
        self.terms.iter().all(|t| match t {
            Term::Conn(n) => r.conn == *n,
            Term::Dir(d) => r.direction == *d,
            Term::Broken => !r.violations().is_empty(),
            Term::Op(o) => u8::from(r.header.opcode) == *o,
            Term::Len(ord, or_equal, n) => {
                let c = r.header.payload_len.cmp(n);
                c == *ord || (*or_equal && c == std::cmp::Ordering::Equal)
            }
            Term::Regex(re) => re.is_match(&capture.payload_prefix(r, PAYLOAD_SCAN)),
            Term::Word(w) => {
                contains_ci(r.header.opcode.name().as_bytes(), w)
                    || contains_ci(&capture.payload_prefix(r, PAYLOAD_SCAN), w)
            }
        })
    }
}

fn term(t: &str) -> Result<Term, QueryError> {
    if let Some(n) = t.strip_prefix('#').and_then(|n| n.parse::<ConnId>().ok()) {
        return Ok(Term::Conn(n));
    }
    match t.to_ascii_lowercase().as_str() {
        "c->s" => return Ok(Term::Dir(Direction::ClientToServer)),
        "s->c" => return Ok(Term::Dir(Direction::ServerToClient)),
        "!" => return Ok(Term::Broken),
        _ => {}
    }
    if t.len() >= 2 && t.starts_with('/') && t.ends_with('/') {
        let pattern = &t[1..t.len() - 1];
        return regex::bytes::Regex::new(pattern)
            .map(Term::Regex)
            .map_err(|e| QueryError::Regex(pattern.to_string(), e.to_string()));
    }
    if let Some(op) = t.strip_prefix("op:") {
        return opcode(op)
            .map(Term::Op)
            .ok_or(QueryError::Term(t.to_string()));
    }
    if let Some(rest) = t.strip_prefix("len") {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let (ord, eq, n) = if let Some(n) = rest.strip_prefix(">=") {
            (Greater, true, n)
        } else if let Some(n) = rest.strip_prefix("<=") {
            (Less, true, n)
        } else if let Some(n) = rest.strip_prefix('>') {
            (Greater, false, n)
        } else if let Some(n) = rest.strip_prefix('<') {
            (Less, false, n)
        } else if let Some(n) = rest.strip_prefix('=') {
            (Equal, false, n)
        } else {
            return Ok(Term::Word(t.to_ascii_lowercase().into_bytes()));
        };
        let n = n
            .parse::<u64>()
            .map_err(|_| QueryError::Term(t.to_string()))?;
        return Ok(Term::Len(ord, eq, n));
    }
    Ok(Term::Word(t.to_ascii_lowercase().into_bytes()))
}

/// An opcode by name or number.
fn opcode(s: &str) -> Option<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return (n < 16).then_some(n);
    }
    (0u8..16).find(|&n| {
        let name = OpCode::from(n).name();
        name.eq_ignore_ascii_case(s) || (s.eq_ignore_ascii_case("cont") && n == 0)
    })
}

/// Whether `needle` occurs in `hay`, ASCII case ignored (`needle` is already lower case).
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return false;
    };
    hay.windows(needle.len()).any(|w| {
        w[0].to_ascii_lowercase() == first
            && w.iter()
                .zip(needle)
                .all(|(a, b)| a.to_ascii_lowercase() == *b)
    })
}

/// The frames matching a query, kept up to date as frames arrive and as the budget drops old
/// ones: each frame is tested once.
#[derive(Debug, Default)]
pub struct FrameFilter {
    text: String,
    conn: Option<ConnId>,
    query: Query,
    error: Option<QueryError>,
    /// The next frame to test.
    scanned: Seq,
    rows: Vec<Seq>,
}

impl FrameFilter {
    /// Forgets the matches (the capture was cleared).
    pub fn reset(&mut self) {
        self.scanned = 0;
        self.rows.clear();
    }

    /// The matching frames so far, oldest first.
    pub fn rows(&self) -> &[Seq] {
        &self.rows
    }

    /// Why the query does not parse, if it does not (nothing matches then).
    pub fn error(&self) -> Option<&QueryError> {
        self.error.as_ref()
    }

    /// Tests the frames not yet tested against `text` (restricted to connection `conn`), until
    /// `budget` runs out. Returns whether some are left.
    pub fn update(
        &mut self,
        text: &str,
        conn: Option<ConnId>,
        capture: &Capture,
        budget: Duration,
    ) -> bool {
        let deadline = Instant::now() + budget;
        if text != self.text || conn != self.conn || capture.frames_seen() < self.scanned {
            self.text = text.to_string();
            self.conn = conn;
            (self.query, self.error) = match Query::parse(text) {
                Ok(q) => (q, None),
                Err(e) => (Query::default(), Some(e)),
            };
            self.reset();
        }
        if self.error.is_some() {
            return false;
        }
        // Matches the budget dropped go from the list.
        let first = capture.first_frame();
        let gone = self.rows.partition_point(|&s| s < first);
        self.rows.drain(..gone);
        let mut n = 0usize;
        for (seq, r) in capture.frames_from(self.scanned) {
            if self.conn.is_none_or(|c| c == r.conn) && self.query.matches(capture, r) {
                self.rows.push(seq);
            }
            self.scanned = seq + 1;
            n += 1;
            if n % 1024 == 0 && Instant::now() > deadline {
                break;
            }
        }
        self.scanned = self.scanned.max(first);
        self.scanned < capture.frames_seen()
    }
}
