//! The connections filter: a query of space-separated terms, every one of which a connection
//! must match, so a lecture hall of a thousand connections (or a churn of tens of thousands)
//! comes down to the few a teacher is looking for.
//!
//! Terms: `#3` (connection 3), a state (`open`, `closed`, `handshaking`, `unclean`: closed
//! without a clean close, `http`: answered without an upgrade), a kind (`server`, `client`,
//! `proxy`, `file`, `tls`), and any other word: found in the client's or server's address, the
//! request path or the subprotocol, ASCII case ignored (`:5123`, `/chat`, `127.0.0.1`).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::{ConnRecord, ConnState};
use crate::event::{ConnId, Endpoint};

/// One term of a connections query.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Id(ConnId),
    State(ConnState),
    Unclean,
    Http,
    Kind(&'static [Endpoint]),
    Tls,
    Word(String),
}

impl Term {
    fn parse(t: &str) -> Self {
        if let Some(n) = t.strip_prefix('#').and_then(|n| n.parse().ok()) {
            return Self::Id(n);
        }
        let lower = t.to_ascii_lowercase();
        match lower.as_str() {
            "open" => Self::State(ConnState::Open),
            "closed" => Self::State(ConnState::Closed),
            "handshaking" => Self::State(ConnState::Handshaking),
            "unclean" => Self::Unclean,
            "http" => Self::Http,
            "server" => Self::Kind(&[Endpoint::Server]),
            "client" => Self::Kind(&[Endpoint::Client]),
            "proxy" => Self::Kind(&[Endpoint::ProxyToClient, Endpoint::ProxyToServer]),
            "file" => Self::Kind(&[Endpoint::File]),
            "tls" => Self::Tls,
            _ => Self::Word(lower),
        }
    }

    /// Whether the term can change for a connection already tested (its state moves on).
    fn changes(&self) -> bool {
        // A word can be in the path or subprotocol, which the handshake brings later.
        !matches!(self, Self::Id(_) | Self::Kind(_))
    }

    /// `scratch` is reused for the connection's addresses, so testing allocates nothing per
    /// connection once it has grown.
    fn matches(&self, c: &ConnRecord, scratch: &mut String) -> bool {
        match self {
            Self::Id(n) => c.id == *n,
            Self::State(s) => c.state == *s,
            Self::Unclean => {
                c.state == ConnState::Closed && c.close.as_ref().is_none_or(|cl| !cl.clean)
            }
            Self::Http => c.http.is_some(),
            Self::Kind(kinds) => c.endpoint.is_some_and(|e| kinds.contains(&e)),
            Self::Tls => c.tls.is_some(),
            Self::Word(w) => {
                scratch.clear();
                for a in [c.client, c.server].into_iter().flatten() {
                    let _ = write!(scratch, "{a} ");
                }
                if let Some(p) = c.path() {
                    scratch.push_str(p);
                    scratch.push(' ');
                }
                if let Some(p) = c.subprotocol() {
                    scratch.push_str(p);
                }
                scratch.make_ascii_lowercase();
                scratch.contains(w.as_str())
            }
        }
    }
}

/// A parsed connections query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnQuery {
    terms: Vec<Term>,
}

impl ConnQuery {
    /// Parses `text` (see the module doc); every word means something, so nothing fails.
    pub fn parse(text: &str) -> Self {
        Self {
            terms: text.split_whitespace().map(Term::parse).collect(),
        }
    }

    /// Whether the query has no terms (every connection matches).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether connection `c` matches every term.
    pub fn matches(&self, c: &ConnRecord) -> bool {
        self.matches_with(c, &mut String::new())
    }

    /// [`ConnQuery::matches`] with a scratch string reused across connections.
    fn matches_with(&self, c: &ConnRecord, scratch: &mut String) -> bool {
        self.terms.iter().all(|t| t.matches(c, scratch))
    }
}

/// How often connections already tested are tested again, for terms that change as a
/// connection moves on (`open` becomes `closed`).
const RETEST: Duration = Duration::from_millis(250);

/// The connections matching a query, by id (oldest first), kept up to date as connections
/// arrive: new ones are tested once, known ones again every 250 ms when the query has terms
/// that a connection's life changes.
#[derive(Debug, Default)]
pub struct ConnFilter {
    text: String,
    query: ConnQuery,
    /// Ids of the matching connections, ascending.
    ids: Vec<ConnId>,
    /// The highest id tested so far.
    tested: Option<ConnId>,
    at: Option<Instant>,
}

impl ConnFilter {
    /// Whether no query is set: every connection shows.
    pub fn is_empty(&self) -> bool {
        self.query.is_empty()
    }

    /// The ids of the matching connections, oldest first.
    pub fn ids(&self) -> &[ConnId] {
        &self.ids
    }

    /// Brings the matches up to date with `text` over `conns` (in ascending id order, as the
    /// capture keeps them).
    pub fn update(&mut self, text: &str, conns: &[ConnRecord]) {
        let now = Instant::now();
        let stale = self.at.is_none_or(|at| {
            now.duration_since(at) >= RETEST && self.query.terms.iter().any(Term::changes)
        });
        if text != self.text || stale {
            if text != self.text {
                self.text = text.to_string();
                self.query = ConnQuery::parse(text);
            }
            self.ids.clear();
            self.tested = None;
            self.at = Some(now);
        }
        if self.query.is_empty() {
            return;
        }
        // Connections the budget dropped go from the list.
        let first = conns.first().map_or(ConnId::MAX, |c| c.id);
        let gone = self.ids.partition_point(|&id| id < first);
        self.ids.drain(..gone);
        let from = self
            .tested
            .map_or(0, |t| conns.partition_point(|c| c.id <= t));
        let mut scratch = String::new();
        for c in conns.get(from..).unwrap_or_default() {
            if self.query.matches_with(c, &mut scratch) {
                self.ids.push(c.id);
            }
            self.tested = Some(c.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(id: ConnId, state: ConnState, endpoint: Endpoint, port: u16) -> ConnRecord {
        let mut c = ConnRecord::new(id, Duration::ZERO);
        c.state = state;
        c.endpoint = Some(endpoint);
        c.client = Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        c.server = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
        c
    }

    #[test]
    fn terms_each_pick_what_they_name() {
        let conns = [
            conn(1, ConnState::Open, Endpoint::Server, 5001),
            conn(2, ConnState::Closed, Endpoint::Client, 5002),
            conn(3, ConnState::Handshaking, Endpoint::ProxyToClient, 6003),
            conn(4, ConnState::Open, Endpoint::ProxyToServer, 6004),
        ];
        let pick = |q: &str| -> Vec<ConnId> {
            let q = ConnQuery::parse(q);
            conns
                .iter()
                .filter(|c| q.matches(c))
                .map(|c| c.id)
                .collect()
        };
        assert_eq!(pick(""), [1, 2, 3, 4]);
        assert_eq!(pick("#3"), [3]);
        assert_eq!(pick("open"), [1, 4]);
        assert_eq!(pick("OPEN proxy"), [4]);
        assert_eq!(pick("proxy"), [3, 4]);
        assert_eq!(pick("client"), [2]);
        assert_eq!(pick("closed"), [2]);
        assert_eq!(
            pick("unclean"),
            [2],
            "closed with no close record: not clean"
        );
        assert_eq!(pick(":60"), [3, 4]);
        assert_eq!(pick(":8080"), [1, 2, 3, 4]);
        assert_eq!(pick("nothing-like-it"), Vec::<ConnId>::new());
    }

    #[test]
    fn new_connections_are_tested_as_they_come_and_dropped_ones_go() {
        let mut conns: Vec<ConnRecord> = (1..=1000)
            .map(|i| conn(i, ConnState::Open, Endpoint::Server, 10_000 + i as u16))
            .collect();
        let mut f = ConnFilter::default();
        f.update("#7", &conns);
        assert_eq!(f.ids(), [7]);
        f.update(":10999", &conns);
        assert_eq!(f.ids(), [999]);
        conns.push(conn(1001, ConnState::Open, Endpoint::Server, 10_999));
        f.update(":10999", &conns);
        assert_eq!(f.ids(), [999, 1001]);
        conns.drain(..999);
        f.update(":10999", &conns);
        assert_eq!(f.ids(), [1001]);
        f.update("", &conns);
        assert!(f.is_empty());
    }
}
