//! A proxied connection's opening: the client's request head, the upstream leg up to its
//! switch (TCP, TLS, our request, its answer judged by §4.1), or the 502 that says why not.

use std::io::{self, Read as _, Write as _};
use std::net::TcpStream as StdStream;
use std::time::Instant;

use bytes::Bytes;

use super::{Context, ProxyConfig};
use crate::client::open_tcp;
use crate::client::tls::{self};
use crate::client::transport::{as_tls_error, Transport};
use crate::event::{
    ClosedBy, ConnId, Direction, Endpoint, ErrorKind, EventKind, HttpOutcome, IoFailure,
    RequestLine,
};
use crate::protocol::client::{build_request, fresh_key, RequestSpec};
use crate::protocol::handshake::{
    error_response, observed, parse_request, parse_response, HandshakeLimits, Parsed, Request,
};
use crate::tap::{Head, Tap};

/// Reads the client's request head (blocking, until `deadline`); returns it and any bytes after
/// it, or `None` after answering or recording why there is none.
pub(super) fn read_request(
    stream: &mut StdStream,
    tap: &mut Tap,
    config: &ProxyConfig,
    ctx: &Context,
    deadline: Instant,
) -> Option<(Request, Bytes)> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            let mut batch = Vec::new();
            let _ = stream.write_all(&error_response(
                408,
                &[],
                "the request head did not arrive in time\n",
            ));
            batch.push(tap.closed_unclean(ClosedBy::Server));
            ctx.publish(batch);
            return None;
        }
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => {
                ctx.publish(vec![tap.closed_unclean(ClosedBy::Client)]);
                return None;
            }
            Ok(n) => n,
        };
        let mut batch = Vec::new();
        let bytes = Bytes::copy_from_slice(&buf[..n]);
        match tap.request_bytes(bytes, &config.handshake_limits, &mut batch) {
            Head::Partial => ctx.publish(batch),
            Head::Complete(r) => {
                ctx.publish(batch);
                let rest = tap.take_rest();
                return Some((r, rest));
            }
            Head::Refused(e) => {
                let raw = e.response();
                let _ = stream.write_all(&raw);
                tap.tcp(Direction::ServerToClient, Bytes::from(raw), &mut batch);
                batch.push(tap.closed_unclean(ClosedBy::Server));
                ctx.publish(batch);
                return None;
            }
        }
    }
}

/// The upstream leg, switched.
pub(super) struct Upstream {
    pub(super) tap: Tap,
    pub(super) wire: Transport,
    pub(super) subprotocol: Option<String>,
    /// Frames that came with the upstream's 101.
    pub(super) rest: Bytes,
    /// The upstream's Sec-WebSocket-Extensions fields, as it sent them: our 101 to the client
    /// carries them unchanged, so the two ends agree with each other (RFC 7692).
    pub(super) extensions: Vec<Vec<u8>>,
}

/// Why the upstream leg did not switch, for the client's 502 (already recorded on the leg).
type Refusal = String;

/// Opens the upstream leg: TCP, TLS for wss://, our request (the client's offer, our key), and
/// the answer judged by §4.1. Blocking, within the handshake timeout.
pub(super) fn upstream(
    client_req: &Request,
    config: &ProxyConfig,
    ctx: &Context,
    id: ConnId,
    partner: ConnId,
) -> Result<Upstream, Refusal> {
    let url = &config.upstream;
    let mut tap = Tap::new(id, ctx.clock, Endpoint::ProxyToServer);
    let (sock, addr) = match open_tcp(url, config.handshake_timeout) {
        Ok(found) => found,
        Err(e) => {
            let why = crate::i18n::error_text(crate::i18n::Lang::En, &e);
            ctx.publish(vec![tap.event(EventKind::Error(e))]);
            return Err(why);
        }
    };
    let local = sock.local_addr().unwrap_or(addr);
    ctx.publish(vec![
        tap.opened(local, addr),
        tap.event(EventKind::Relay { peer: partner }),
    ]);
    let fail = |tap: &Tap, kind: ErrorKind, why: String| {
        ctx.publish(vec![
            tap.event(EventKind::Error(kind)),
            tap.closed_unclean(ClosedBy::Client),
        ]);
        Err(why)
    };
    let _ = sock.set_nodelay(true);
    let _ = sock.set_read_timeout(Some(config.handshake_timeout));
    let _ = sock.set_write_timeout(Some(config.handshake_timeout));
    let mut stream = if url.secure {
        let session = tls::client_config(&config.trust).and_then(|c| {
            let name = tls::server_name(&url.host)?;
            rustls::ClientConnection::new(c, name).map_err(|e| e.to_string())
        });
        let mut session = match session {
            Ok(s) => s,
            Err(why) => return fail(&tap, ErrorKind::Client(why.clone()), why),
        };
        let mut sock = sock;
        while session.is_handshaking() {
            if let Err(e) = session.complete_io(&mut sock) {
                let why = match as_tls_error(&e) {
                    Some(t) => t.to_string(),
                    None => e.to_string(),
                };
                return fail(&tap, ErrorKind::Tls(why.clone()), format!("TLS: {why}"));
            }
        }
        let info = tls::session_info(&session, &url.host, &config.trust);
        ctx.publish(vec![tap.event(EventKind::Tls(Box::new(info)))]);
        Blocking::Tls(Box::new(rustls::StreamOwned::new(session, sock)))
    } else {
        Blocking::Plain(sock)
    };
    // The client's offer, forwarded: its subprotocols and Origin, and its other fields but the
    // ones that belong to each hop. Its Sec-WebSocket-Extensions go unchanged, so the two ends
    // negotiate permessage-deflate with each other; with deflate off they are left out, and
    // frames pass through uncompressed.
    const HOP: [&str; 7] = [
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "origin",
    ];
    let headers = client_req
        .headers
        .iter()
        .filter(|h| {
            let name = h.name.to_ascii_lowercase();
            !HOP.contains(&name.as_str()) && (config.deflate || name != "sec-websocket-extensions")
        })
        .map(|h| {
            (
                h.name.clone(),
                String::from_utf8_lossy(&h.value).into_owned(),
            )
        })
        .collect();
    // The upstream URL's path when it has one; the client's otherwise.
    let resource = if url.resource == "/" {
        client_req.path.clone()
    } else {
        url.resource.clone()
    };
    let spec = RequestSpec {
        resource,
        host: url.host_header(),
        key: fresh_key(),
        protocols: client_req.tokens("Sec-WebSocket-Protocol"),
        extensions: Vec::new(),
        origin: client_req.single("Origin"),
        headers,
    };
    let raw = build_request(&spec);
    if let Err(e) = stream.write_all(&raw).and_then(|()| stream.flush()) {
        let why = e.to_string();
        return fail(&tap, ErrorKind::Write(IoFailure::from(&e)), why);
    }
    let mut batch = Vec::new();
    tap.tcp(
        Direction::ClientToServer,
        Bytes::copy_from_slice(&raw),
        &mut batch,
    );
    ctx.publish(batch);
    let Ok(Parsed::Complete(our_req)) = parse_request(&raw, &HandshakeLimits::default()) else {
        return fail(
            &tap,
            ErrorKind::Client("the request did not parse".into()),
            "internal".into(),
        );
    };
    let mut response = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let head = loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => {
                ctx.publish(vec![tap.closed_unclean(ClosedBy::Server)]);
                return Err("the upstream closed the connection before answering".into());
            }
            Ok(n) => n,
            Err(e) => {
                let why = format!("reading the upstream's answer: {e}");
                return fail(&tap, ErrorKind::Read(IoFailure::from(&e)), why);
            }
        };
        let mut batch = Vec::new();
        tap.tcp(
            Direction::ServerToClient,
            Bytes::copy_from_slice(&buf[..n]),
            &mut batch,
        );
        ctx.publish(batch);
        response.extend_from_slice(&buf[..n]);
        match parse_response(&response, &config.handshake_limits) {
            Ok(None) => {}
            Ok(Some(head)) => break head,
            Err(e) => {
                let why = e.to_string();
                return fail(&tap, ErrorKind::BadResponse(why.clone()), why);
            }
        }
    };
    let rest = Bytes::copy_from_slice(response.get(head.raw.len()..).unwrap_or(&[]));
    let extensions: Vec<Vec<u8>> = head
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
        .map(|h| h.value.clone())
        .collect();
    let hs = observed(our_req, head);
    let status = hs.response.status;
    let subprotocol = hs.response.subprotocol.clone();
    let failure = hs
        .client_failure()
        .map(|c| {
            format!(
                "the upstream's 101 breaks §4.1 item {}: {} ({})",
                c.id.item(),
                crate::i18n::response_rule(crate::i18n::Lang::En, c.id),
                crate::i18n::check_found(crate::i18n::Lang::En, &c.detail)
            )
        })
        .or_else(|| unfollowable(&extensions));
    let line = RequestLine {
        method: hs.request.method.clone(),
        path: hs.request.path.clone(),
    };
    let mut batch = Vec::new();
    tap.handshake(hs, config.limits, &mut batch);
    if status != 101 || failure.is_some() {
        if status != 101 {
            batch.push(tap.event(EventKind::Http {
                request: Some(line),
                status,
                outcome: HttpOutcome::ServerAnswer,
            }));
        }
        batch.push(tap.closed_unclean(ClosedBy::Client));
        ctx.publish(batch);
        return Err(
            failure.unwrap_or_else(|| format!("the upstream answered {status} instead of 101"))
        );
    }
    ctx.publish(batch);
    let (sock, session) = match stream {
        Blocking::Plain(s) => (s, None),
        Blocking::Tls(t) => {
            let t = *t;
            (t.sock, Some(t.conn))
        }
    };
    if let Err(e) = sock.set_nonblocking(true) {
        let why = e.to_string();
        return fail(&tap, ErrorKind::Setup(IoFailure::from(&e)), why);
    }
    let sock = mio::net::TcpStream::from_std(sock);
    let wire = match session {
        Some(s) => Transport::tls(sock, s),
        None => Transport::plain(sock),
    };
    Ok(Upstream {
        tap,
        wire,
        subprotocol,
        rest,
        extensions,
    })
}

/// An extension the upstream agreed to that the proxy cannot follow: any but
/// permessage-deflate, whose RSV bits and payloads the proxy could not check (§9: an extension
/// changes the framing both ends agreed on).
fn unfollowable(extensions: &[Vec<u8>]) -> Option<String> {
    let values: Vec<String> = extensions
        .iter()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    let joined = values.join(", ");
    let other = joined
        .split(',')
        .filter_map(|e| e.split(';').next())
        .map(str::trim)
        .find(|n| !n.is_empty() && !n.eq_ignore_ascii_case(crate::protocol::deflate::NAME))?;
    Some(format!(
        "the upstream agreed to the extension {other}, which the proxy cannot follow (only permessage-deflate)"
    ))
}

/// The upstream leg before the switch: blocking reads and writes, TLS or not.
enum Blocking {
    Plain(StdStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, StdStream>>),
}

impl io::Read for Blocking {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl io::Write for Blocking {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// The upstream could not be used: 502 to the client with the reason; both legs stay captured.
pub(super) fn bad_gateway(
    stream: &mut StdStream,
    tap: &mut Tap,
    request: &Request,
    why: &str,
    ctx: &Context,
) {
    let body = format!("wsscope proxy: the upstream could not be used: {why}\n");
    let raw = error_response(502, &[], &body);
    let _ = stream.write_all(&raw);
    let mut batch = Vec::new();
    tap.tcp(Direction::ServerToClient, Bytes::from(raw), &mut batch);
    batch.push(tap.event(EventKind::Http {
        request: Some(RequestLine {
            method: request.method.clone(),
            path: request.path.clone(),
        }),
        status: 502,
        outcome: HttpOutcome::BadGateway(why.to_string()),
    }));
    batch.push(tap.closed_unclean(ClosedBy::Server));
    ctx.publish(batch);
    let _ = stream.shutdown(std::net::Shutdown::Write);
}
