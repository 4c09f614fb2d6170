//! The plain HTTP answers: the demo page on `GET /`, and a clear refusal (400, 404, 405, 408,
//! 431, 503) with the reason in its body for whoever sent the request. The events say the same
//! as data ([`HttpOutcome`]); the CLI and the window put it into words.

use std::io;
use std::time::Duration;

use bytes::Bytes;

use crate::event::{
    ClosedBy, Direction, ErrorKind, Event, EventKind, HttpOutcome, IoFailure, RequestLine,
};
use crate::protocol::handshake::{
    error_response, http_response, HandshakeError, HostPolicy, Request,
};
use crate::tap::Tap;

/// The demo page served on `GET /` so a browser in the room can be the client.
const DEMO_PAGE: &str = include_str!("../../assets/demo.html");

/// A plain HTTP answer: what was asked, what is answered and why.
pub(crate) struct HttpAnswer {
    pub(crate) request: Option<RequestLine>,
    pub(crate) status: u16,
    pub(crate) outcome: HttpOutcome,
    pub(crate) response: Vec<u8>,
}

impl HttpAnswer {
    fn new(status: u16, outcome: HttpOutcome, response: Vec<u8>) -> Self {
        Self {
            request: None,
            status,
            outcome,
            response,
        }
    }

    /// The answer to a request without an upgrade: the demo page on GET /, a clear refusal for
    /// anything else, and 403 for a Host that `hosts` does not allow.
    pub(crate) fn plain(request: &Request, hosts: &HostPolicy) -> Self {
        let host = request.single("Host");
        let mut a = if !hosts.allows(host.as_deref()) {
            // Before anything else: a rebound name gets neither the page nor a hint of it.
            let host = host.unwrap_or_default();
            let r = error_response(403, &[], &hosts.refusal(&host));
            Self::new(403, HttpOutcome::HostNotAllowed(host), r)
        } else if request.method != "GET" {
            let reason = format!(
                "method {} not allowed: only GET (and the WebSocket upgrade)",
                request.method
            );
            let r = error_response(405, &[("Allow", "GET")], &format!("{reason}\n"));
            Self::new(405, HttpOutcome::MethodNotAllowed, r)
        } else if matches!(request.path.as_str(), "/" | "/index.html") {
            let r = http_response(200, &[], "text/html; charset=utf-8", DEMO_PAGE.as_bytes());
            Self::new(200, HttpOutcome::DemoPage, r)
        } else {
            let reason = format!(
                "{} is not a page here: open / for the demo page, or connect a WebSocket client to any path",
                request.path
            );
            let r = error_response(404, &[], &format!("{reason}\n"));
            Self::new(404, HttpOutcome::NotFound, r)
        };
        a.request = Some(request_line(request));
        a
    }

    /// A request head that cannot be checked: too large (431) or not HTTP (400).
    pub(crate) fn unparsed(e: &HandshakeError) -> Self {
        let outcome = match e {
            HandshakeError::TooLarge { .. } => HttpOutcome::HeadTooLarge,
            HandshakeError::TooManyHeaders { .. } => HttpOutcome::TooManyHeaders,
            HandshakeError::Malformed(why) => HttpOutcome::Malformed(why.clone()),
        };
        Self::new(e.status(), outcome, e.response())
    }

    /// The opening handshake took longer than `limit`: 408.
    pub(crate) fn timeout(limit: Duration, received: usize) -> Self {
        let secs = limit.as_secs_f64();
        let body = format!(
            "the opening handshake did not complete within {secs} s ({received} bytes received)\n"
        );
        Self::new(
            408,
            HttpOutcome::HandshakeTimeout,
            error_response(408, &[], &body),
        )
    }

    /// `limit` connections are open: 503, try again.
    pub(crate) fn busy(limit: usize) -> Self {
        let body = format!(
            "wsscope: {limit} connections are open, the configured maximum; try again later\n"
        );
        Self::new(
            503,
            HttpOutcome::Busy,
            error_response(503, &[("Retry-After", "1")], &body),
        )
    }
}

/// A request's method and target.
pub(crate) fn request_line(r: &Request) -> RequestLine {
    RequestLine {
        method: r.method.clone(),
        path: r.path.clone(),
    }
}

/// The events of an HTTP answer that was written (or failed to be): the bytes, the answer,
/// and the end of the connection.
pub(crate) fn answered(tap: &Tap, batch: &mut Vec<Event>, a: HttpAnswer, written: io::Result<()>) {
    let HttpAnswer {
        request,
        status,
        outcome,
        response,
    } = a;
    tap.tcp(Direction::ServerToClient, Bytes::from(response), batch);
    batch.push(tap.event(EventKind::Http {
        request,
        status,
        outcome,
    }));
    if let Err(e) = written {
        batch.push(tap.event(EventKind::Error(ErrorKind::Write(IoFailure::from(&e)))));
    }
    batch.push(tap.closed_unclean(ClosedBy::Server));
}
