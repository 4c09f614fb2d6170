//! wsscope's WebSocket client: one connection to any server, ws:// or wss://, on a thread of
//! its own. Its bytes go through the same capture [`Tap`] as the server's, so its events are the
//! same events (with [`Endpoint::Client`]): the opening handshake judged by §4.1, every frame
//! both ways. It takes the same [`Command`]s as a server connection.

pub(crate) mod tls;
pub(crate) mod transport;

use std::io;
use std::net::{SocketAddr, TcpStream as StdStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use mio::{Events, Interest, Poll, Token};

use crate::event::{
    Clock, ClosedBy, Command, ConnId, Direction, Endpoint, ErrorKind, Event, EventKind,
    HttpOutcome, IoFailure, LimitKind, RequestLine,
};
use crate::protocol::client::{build_request, fresh_key, RequestSpec};
use crate::protocol::deflate::{agreed, Deflater};
use crate::protocol::handshake::{
    observed, parse_request, parse_response, HandshakeLimits, Parsed,
};
use crate::protocol::{Connection, Decoded, DecoderConfig, Limits, Role};
use crate::tap::Tap;
pub use tls::Trust;
use transport::{as_tls_error, Transport};

/// A ws:// or wss:// URL, taken apart as §3 does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// wss:// (TLS).
    pub secure: bool,
    /// The host as written: a name, an IPv4 address or a bracketed IPv6 address.
    pub host: String,
    /// The port (80 for ws://, 443 for wss:// when none is given).
    pub port: u16,
    /// Path and query: the request target (`/` when empty).
    pub resource: String,
}

/// Why a URL is not one the client can open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL at all.
    #[error("{0:?} is not a URL: {1}")]
    Parse(String, String),
    /// A scheme other than ws or wss (§3).
    #[error("{0:?}: the scheme must be ws:// or wss:// (§3), not {1}://")]
    Scheme(String, String),
    /// No host.
    #[error("{0:?} has no host")]
    NoHost(String),
    /// A fragment, which §3 forbids in a WebSocket URI.
    #[error("{0:?}: a WebSocket URI has no #fragment (§3)")]
    Fragment(String),
}

impl WsUrl {
    /// Parses `text`: `ws://host[:port]/path?query` or `wss://...`; IPv6 literals in brackets.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let url = url::Url::parse(text).map_err(|e| UrlError::Parse(text.into(), e.to_string()))?;
        let secure = match url.scheme() {
            "ws" => false,
            "wss" => true,
            other => return Err(UrlError::Scheme(text.into(), other.into())),
        };
        // §3: "Fragment identifiers are meaningless in the context of WebSocket URIs and MUST
        // NOT be used on these URIs."
        if url.fragment().is_some() {
            return Err(UrlError::Fragment(text.into()));
        }
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.to_string(),
            _ => return Err(UrlError::NoHost(text.into())),
        };
        let port = url.port().unwrap_or(if secure { 443 } else { 80 });
        let mut resource = url.path().to_string();
        if resource.is_empty() {
            resource.push('/');
        }
        if let Some(q) = url.query() {
            resource.push('?');
            resource.push_str(q);
        }
        Ok(Self {
            secure,
            host,
            port,
            resource,
        })
    }

    /// The Host field: §4.1 item 4, the host, and the port when it is not the default one.
    pub fn host_header(&self) -> String {
        let default = if self.secure { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for WsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        write!(f, "{scheme}://{}:{}{}", self.host, self.port, self.resource)
    }
}

/// What the client is asked to do.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Where to connect.
    pub url: WsUrl,
    /// Subprotocols offered, in preference order.
    pub protocols: Vec<String>,
    /// The Origin field, if any.
    pub origin: Option<String>,
    /// More header fields for the request.
    pub headers: Vec<(String, String)>,
    /// What wss:// trusts.
    pub trust: Trust,
    /// Time to open the TCP connection, per address.
    pub connect_timeout: Duration,
    /// Time from the TCP connection to the server's complete answer (TLS included).
    pub handshake_timeout: Duration,
    /// Time the closing handshake may take once a close frame went either way; then TCP is
    /// cut.
    pub close_timeout: Duration,
    /// Bounds on the server's response head.
    pub handshake_limits: HandshakeLimits,
    /// Frame and message size limits for what the server sends (1009 past them).
    pub limits: Limits,
    /// Answer pings automatically.
    pub auto_pong: bool,
    /// Offer permessage-deflate (RFC 7692) as Chromium does, `permessage-deflate;
    /// client_max_window_bits`; when the server agrees, what we send is compressed and what it
    /// sends compressed is inflated. Off: no offer, and RSV1 from the server is a violation.
    pub deflate: bool,
}

impl ClientConfig {
    /// Defaults for `url`: 10 s to connect and to finish the handshake, 5 s to close.
    pub fn new(url: WsUrl) -> Self {
        Self {
            url,
            protocols: Vec::new(),
            origin: None,
            headers: Vec::new(),
            trust: Trust::System,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            handshake_limits: HandshakeLimits::default(),
            limits: Limits::default(),
            auto_pong: true,
            deflate: true,
        }
    }
}

/// How long a batch waits, at most, for a lagging consumer (see [`Context::in_flight`]).
const PUBLISH_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Where the client's events go and what it shares with the rest of wsscope.
#[derive(Clone)]
pub struct Context {
    /// The capture's clock.
    pub clock: Clock,
    /// Connection numbers, shared with the server so none is given twice.
    pub conn_ids: Arc<AtomicU64>,
    /// Event batches.
    pub events: Sender<Vec<Event>>,
    /// Called after each batch (a window repaints).
    pub waker: Option<crate::server::Waker>,
    /// The consumer's count of bytes in flight and its bound (a [`crate::server::Supervisor`]'s,
    /// shared with its servers): past the bound, publishing waits for the consumer to catch up,
    /// so this connection's reads pause instead of events piling up. `None`: not counted.
    pub in_flight: Option<(Arc<crate::server::InFlight>, usize)>,
}

impl Context {
    /// Queues a batch and wakes the consumer. A consumer that has gone is not the wire's
    /// problem: the connection goes on.
    pub(crate) fn publish(&self, batch: Vec<Event>) {
        if batch.is_empty() {
            return;
        }
        let cost = crate::server::cost(&batch);
        let sent = self.events.send(batch).is_ok();
        if let Some(w) = &self.waker {
            w();
        }
        let Some((in_flight, bound)) = self.in_flight.as_ref().filter(|_| sent) else {
            return;
        };
        in_flight.add(cost);
        // A consumer that lags gets time to catch up; one that stalls for good (or is gone
        // without saying) holds a connection up by a second per batch at most, never for ever.
        let deadline = std::time::Instant::now() + PUBLISH_WAIT;
        while in_flight.get() > *bound && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// A running client connection.
pub struct ClientHandle {
    id: ConnId,
    commands: Sender<Command>,
    waker: Arc<mio::Waker>,
    thread: Option<JoinHandle<()>>,
}

impl ClientHandle {
    /// The connection's number in the capture.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Sends `cmd` to the connection (ignored once it has ended).
    pub fn command(&self, cmd: Command) {
        if self.commands.send(cmd).is_ok() {
            let _ = self.waker.wake();
        }
    }

    /// Whether the connection's thread has ended (every event of it was published).
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the connection's thread to end.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Resolves `url`'s host and connects to the first of its addresses that answers within
/// `timeout`; or why none did.
pub(crate) fn open_tcp(
    url: &WsUrl,
    timeout: Duration,
) -> Result<(StdStream, SocketAddr), ErrorKind> {
    let bare = url.host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match (bare, url.port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => {
            return Err(ErrorKind::Resolve {
                host: url.host.clone(),
                why: e.to_string(),
            })
        }
    };
    let mut last = None;
    for addr in &addrs {
        match StdStream::connect_timeout(addr, timeout) {
            Ok(s) => return Ok((s, *addr)),
            Err(e) => last = Some((*addr, e)),
        }
    }
    Err(match last {
        Some((addr, e)) => ErrorKind::Connect {
            addr,
            failure: IoFailure::from(&e),
        },
        None => ErrorKind::Resolve {
            host: url.host.clone(),
            why: "no address".into(),
        },
    })
}

const SOCK: Token = Token(0);
const WAKE: Token = Token(1);

/// Starts a connection to `config.url` on a thread of its own. Everything that happens,
/// failures included, comes out as events; the thread ends after the connection's `Closed` (or
/// the error that kept it from opening).
pub fn connect(config: ClientConfig, ctx: Context) -> io::Result<ClientHandle> {
    let poll = Poll::new()?;
    let waker = Arc::new(mio::Waker::new(poll.registry(), WAKE)?);
    let (tx, rx) = crossbeam_channel::unbounded();
    let id = ctx.conn_ids.fetch_add(1, Ordering::Relaxed);
    let thread = std::thread::Builder::new()
        .name(format!("wsscope-client-{id}"))
        .spawn(move || {
            let mut c = Client::new(id, config, ctx, rx);
            c.run(poll);
        })?;
    Ok(ClientHandle {
        id,
        commands: tx,
        waker,
        thread: Some(thread),
    })
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// TLS is being negotiated; the request goes once it is up.
    Tls,
    /// The request went; the answer's head is being read.
    Response,
    /// A WebSocket.
    Open,
    /// A refused upgrade: the answer's body is read until the server closes (or the deadline).
    Body,
    /// Over.
    Done,
}

struct Client {
    config: ClientConfig,
    ctx: Context,
    commands: Receiver<Command>,
    tap: Tap,
    phase: Phase,
    /// The request as sent.
    request: Vec<u8>,
    /// The answer's head so far.
    response: Vec<u8>,
    ws: Option<Connection>,
    decoded: Vec<Decoded>,
    deadline: Option<Instant>,
    /// Our sending side is shut.
    write_shut: bool,
    buf: Vec<u8>,
}

/// Bytes read per call.
const READ_BUF: usize = 64 * 1024;

/// The permessage-deflate offer, as Chromium sends it: the defaults, and that we can compress
/// with a smaller window if the server asks (RFC 7692 §7.1.2.2).
pub const CHROMIUM_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// How much of a refusal's body is read (the rest is not waited for).
const MAX_BODY: usize = 64 * 1024;

impl Client {
    fn new(id: ConnId, config: ClientConfig, ctx: Context, commands: Receiver<Command>) -> Self {
        let tap = Tap::new(id, ctx.clock, Endpoint::Client);
        Self {
            config,
            ctx,
            commands,
            tap,
            phase: Phase::Tls,
            request: Vec::new(),
            response: Vec::new(),
            ws: None,
            decoded: Vec::new(),
            deadline: None,
            write_shut: false,
            buf: vec![0; READ_BUF],
        }
    }

    fn publish(&self, batch: Vec<Event>) {
        self.ctx.publish(batch);
    }

    fn error(&self, e: ErrorKind) -> Event {
        self.tap.event(EventKind::Error(e))
    }

    /// A failure before any connection existed: reported on connection 0, as the server
    /// reports what concerns no connection.
    fn fail_early(&self, e: ErrorKind) {
        self.publish(vec![Event {
            conn: 0,
            time: self.ctx.clock.now(),
            kind: EventKind::Error(e),
        }]);
    }

    fn run(&mut self, mut poll: Poll) {
        let Some((std, peer)) = self.open_tcp() else {
            return;
        };
        let local = std.local_addr().unwrap_or(peer);
        let _ = std.set_nodelay(true);
        if let Err(e) = std.set_nonblocking(true) {
            self.fail_early(ErrorKind::Setup(IoFailure::from(&e)));
            return;
        }
        let mut sock = mio::net::TcpStream::from_std(std);
        if let Err(e) =
            poll.registry()
                .register(&mut sock, SOCK, Interest::READABLE | Interest::WRITABLE)
        {
            self.fail_early(ErrorKind::Setup(IoFailure::from(&e)));
            return;
        }
        self.publish(vec![self.tap.opened(local, peer)]);
        self.deadline = Some(Instant::now() + self.config.handshake_timeout);
        let mut wire = match self.start_transport(sock) {
            Ok(w) => w,
            Err(e) => {
                let batch = vec![
                    self.error(ErrorKind::Client(e)),
                    self.tap.closed_unclean(ClosedBy::Client),
                ];
                self.publish(batch);
                return;
            }
        };
        if !self.config.url.secure {
            self.send_request(&mut wire);
        }
        let mut events = Events::with_capacity(16);
        while self.phase != Phase::Done {
            let timeout = self
                .deadline
                .map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(e) = poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                let batch = vec![self.error(ErrorKind::EventLoop(IoFailure::from(&e)))];
                self.publish(batch);
                self.cut(&mut wire, ClosedBy::Client);
                break;
            }
            self.commands(&mut wire);
            self.service(&mut wire);
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.expire(&mut wire);
            }
        }
    }

    /// Resolves the host and connects to the first address that answers.
    fn open_tcp(&self) -> Option<(StdStream, SocketAddr)> {
        match open_tcp(&self.config.url, self.config.connect_timeout) {
            Ok(found) => Some(found),
            Err(e) => {
                self.fail_early(e);
                None
            }
        }
    }

    fn start_transport(&self, sock: mio::net::TcpStream) -> Result<Transport, String> {
        if !self.config.url.secure {
            return Ok(Transport::plain(sock));
        }
        let config = tls::client_config(&self.config.trust)?;
        let name = tls::server_name(&self.config.url.host)?;
        let session = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        let mut wire = Transport::tls(sock, session);
        // The ClientHello.
        wire.flush().map_err(|e| e.to_string())?;
        Ok(wire)
    }

    fn send_request(&mut self, wire: &mut Transport) {
        let url = &self.config.url;
        let spec = RequestSpec {
            resource: url.resource.clone(),
            host: url.host_header(),
            key: fresh_key(),
            protocols: self.config.protocols.clone(),
            extensions: if self.config.deflate {
                vec![CHROMIUM_OFFER.to_string()]
            } else {
                Vec::new()
            },
            origin: self.config.origin.clone(),
            headers: self.config.headers.clone(),
        };
        self.request = build_request(&spec);
        let mut batch = Vec::new();
        let written = wire.write(&self.request);
        self.tap.tcp(
            Direction::ClientToServer,
            Bytes::copy_from_slice(&self.request),
            &mut batch,
        );
        if let Err(e) = written {
            batch.push(self.error(ErrorKind::Write(IoFailure::from(&e))));
            batch.push(self.tap.closed_unclean(ClosedBy::Client));
            wire.cut();
            self.phase = Phase::Done;
        } else {
            self.phase = Phase::Response;
        }
        self.publish(batch);
    }

    /// Commands from the user (only once the connection is a WebSocket).
    fn commands(&mut self, wire: &mut Transport) {
        while let Ok(cmd) = self.commands.try_recv() {
            let mut batch = Vec::new();
            let Some(ws) = self.ws.as_mut() else {
                if matches!(cmd, Command::Disconnect(_)) && self.phase != Phase::Done {
                    self.publish(vec![self.tap.closed_unclean(ClosedBy::Client)]);
                    wire.cut();
                    self.phase = Phase::Done;
                    return;
                }
                batch.push(self.error(ErrorKind::NotOpen));
                self.publish(batch);
                continue;
            };
            let result = match cmd {
                Command::Text(_, t) => ws.send_text(&t),
                Command::Binary(_, b) => ws.send_binary(&b),
                Command::Ping(_, p) => ws.send_ping(&p),
                Command::Pong(_, p) => ws.send_pong(&p),
                Command::Close(_, code, reason) => ws.send_close(code, &reason),
                Command::Raw(_, bytes) => {
                    ws.send_raw(&bytes);
                    Ok(())
                }
                Command::Disconnect(_) => {
                    self.cut(wire, ClosedBy::Client);
                    return;
                }
                Command::SetReplyMode(_) | Command::SetAutoPong(_) => Ok(()),
            };
            if let Err(e) = result {
                batch.push(self.error(ErrorKind::NotSent(e.into())));
            }
            self.flush_ws(wire, &mut batch);
            self.publish(batch);
        }
    }

    /// Reads and writes what the socket allows.
    fn service(&mut self, wire: &mut Transport) {
        if let Err(e) = wire.flush() {
            self.io_failed(wire, &e, false);
            return;
        }
        // Reads wait while our bytes wait: a peer that does not read is not read from.
        while self.phase != Phase::Done && !wire.has_unsent() {
            let n = match wire.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.io_failed(wire, &e, true);
                    return;
                }
            };
            if n == 0 {
                self.ended(wire);
                return;
            }
            let bytes = Bytes::copy_from_slice(&self.buf[..n]);
            self.received(wire, bytes);
        }
        if self.phase == Phase::Tls && !wire.handshaking() {
            if let Some(session) = wire.session() {
                let info = tls::session_info(session, &self.config.url.host, &self.config.trust);
                self.publish(vec![self.tap.event(EventKind::Tls(Box::new(info)))]);
            }
            self.send_request(wire);
            // The answer may already be in.
            self.service(wire);
        }
    }

    /// Plaintext from the server.
    fn received(&mut self, wire: &mut Transport, bytes: Bytes) {
        let mut batch = Vec::new();
        self.tap
            .tcp(Direction::ServerToClient, bytes.clone(), &mut batch);
        match self.phase {
            Phase::Response => self.response_bytes(wire, &bytes, &mut batch),
            Phase::Open => self.frames(wire, bytes, &mut batch),
            Phase::Body => {
                self.response.extend_from_slice(&bytes);
                if self.response.len() >= MAX_BODY {
                    wire.cut();
                    batch.push(self.tap.closed_unclean(ClosedBy::Client));
                    self.phase = Phase::Done;
                }
            }
            Phase::Tls | Phase::Done => {}
        }
        self.publish(batch);
    }

    /// More of the server's answer: once its head is complete, judge it (§4.1).
    fn response_bytes(&mut self, wire: &mut Transport, bytes: &[u8], batch: &mut Vec<Event>) {
        self.response.extend_from_slice(bytes);
        let head = match parse_response(&self.response, &self.config.handshake_limits) {
            Ok(None) => return,
            Ok(Some(head)) => head,
            Err(e) => {
                let why = match e {
                    crate::protocol::handshake::HandshakeError::Malformed(why) => why,
                    other => other.to_string(),
                };
                batch.push(self.error(ErrorKind::BadResponse(why)));
                batch.push(self.tap.closed_unclean(ClosedBy::Client));
                wire.cut();
                self.phase = Phase::Done;
                return;
            }
        };
        let request = match parse_request(&self.request, &HandshakeLimits::default()) {
            Ok(Parsed::Complete(r)) => r,
            // Our own request always parses; were it not to, nothing could be judged.
            _ => {
                batch.push(self.error(ErrorKind::Client("the request did not parse".into())));
                wire.cut();
                self.phase = Phase::Done;
                return;
            }
        };
        let rest = Bytes::copy_from_slice(self.response.get(head.raw.len()..).unwrap_or(&[]));
        let line = RequestLine {
            method: request.method.clone(),
            path: request.path.clone(),
        };
        let hs = observed(request, head);
        let status = hs.response.status;
        let switched = hs.accepted() && hs.client_failure().is_none();
        let failed = hs.accepted() && !switched;
        // RFC 7692: what the 101 agreed to (the tap inflates both directions from it).
        let deflate = if switched { agreed(&hs) } else { None };
        self.tap.handshake(hs, self.config.limits, batch);
        if failed {
            // §4.1: a 101 that breaks a rule: the client MUST _Fail the WebSocket Connection_,
            // which before any frame is simply closing TCP (§7.1.7).
            batch.push(self.tap.closed_unclean(ClosedBy::Client));
            wire.cut();
            self.phase = Phase::Done;
            return;
        }
        if !switched {
            batch.push(self.tap.event(EventKind::Http {
                request: Some(line),
                status,
                outcome: HttpOutcome::ServerAnswer,
            }));
            // Read the body (bounded) until the server closes, for the user to see.
            self.response = rest.to_vec();
            self.phase = Phase::Body;
            self.deadline =
                Some(Instant::now() + self.config.close_timeout.min(Duration::from_secs(2)));
            return;
        }
        self.response = Vec::new();
        self.deadline = None;
        let mut ws = Connection::new(
            Role::Client,
            DecoderConfig {
                sender: Some(Role::Server),
                limits: self.config.limits,
            },
        );
        ws.auto_pong = self.config.auto_pong;
        if let Some(p) = &deflate {
            // §7.2.1: our messages compressed with the window and context the answer allows.
            ws.set_deflater(Deflater::new(p, Role::Client));
        }
        self.ws = Some(ws);
        self.phase = Phase::Open;
        if !rest.is_empty() {
            // Frames that came with the 101.
            self.frames(wire, rest, batch);
        }
    }

    /// WebSocket bytes from the server (their TCP event is out): decoded once by the tap, acted
    /// on by the protocol connection, answered.
    fn frames(&mut self, wire: &mut Transport, bytes: Bytes, batch: &mut Vec<Event>) {
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        let mut decoded = std::mem::take(&mut self.decoded);
        self.tap
            .decode(Direction::ServerToClient, bytes, &mut decoded);
        for d in decoded.drain(..) {
            let deliver = ws.receive_decoded(&d);
            while ws.next_event().is_some() {}
            if let Decoded::Frame(frame) = &d {
                self.tap.size_limits(frame, batch);
            }
            if matches!(d, Decoded::Message(_)) && !deliver {
                continue;
            }
            batch.push(self.tap.decoded(Direction::ServerToClient, d));
        }
        self.decoded = decoded;
        self.flush_ws(wire, batch);
    }

    /// Writes what the protocol connection queued, captures it, and follows the close.
    fn flush_ws(&mut self, wire: &mut Transport, batch: &mut Vec<Event>) {
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        let out = ws.data_to_send();
        if !out.is_empty() && !self.write_shut {
            let out = Bytes::from(out);
            if let Err(e) = wire.write(&out) {
                batch.push(
                    self.tap
                        .event(EventKind::Error(ErrorKind::Write(IoFailure::from(&e)))),
                );
            }
            self.tap.observe(Direction::ClientToServer, out, batch);
        }
        let closing = ws.close_sent().is_some() || ws.close_received().is_some();
        if ws.should_close_tcp() && !self.write_shut {
            // §7.1.7: after failing the connection, close without waiting.
            wire.shutdown_write();
            self.write_shut = true;
        }
        if closing && self.deadline.is_none() {
            // §7.1.1: the server closes TCP first; a client waits for it, not forever.
            self.deadline = Some(Instant::now() + self.config.close_timeout);
        }
    }

    /// The server ended the stream.
    fn ended(&mut self, wire: &mut Transport) {
        let mut batch = Vec::new();
        match self.ws.as_mut() {
            Some(ws) => {
                ws.tcp_cut(Role::Server);
                batch.push(self.summary());
            }
            // No WebSocket (a refusal whose body is complete, or a server that closed before it
            // answered): the server ended it.
            None => batch.push(self.tap.closed_unclean(ClosedBy::Server)),
        }
        wire.shutdown_write();
        self.phase = Phase::Done;
        self.publish(batch);
    }

    /// The Closed event of a WebSocket.
    fn summary(&self) -> Event {
        let Some(ws) = self.ws.as_ref() else {
            return self.tap.closed_unclean(ClosedBy::Client);
        };
        let close = ws.close_summary();
        self.tap.event(EventKind::Closed {
            code: Some(close.code),
            reason: close.reason,
            by: close.by.into(),
            clean: close.clean,
        })
    }

    /// Reading or writing failed: a TLS failure is said as such.
    fn io_failed(&mut self, wire: &mut Transport, e: &io::Error, reading: bool) {
        let kind = match as_tls_error(e) {
            Some(tls) => ErrorKind::Tls(tls.to_string()),
            None if reading => ErrorKind::Read(IoFailure::from(e)),
            None => ErrorKind::Write(IoFailure::from(e)),
        };
        let mut batch = vec![self.error(kind)];
        if let Some(ws) = self.ws.as_mut() {
            ws.tcp_cut(Role::Server);
        }
        batch.push(if self.ws.is_some() {
            self.summary()
        } else {
            self.tap.closed_unclean(ClosedBy::Client)
        });
        wire.cut();
        self.phase = Phase::Done;
        self.publish(batch);
    }

    /// We drop the connection.
    fn cut(&mut self, wire: &mut Transport, by: ClosedBy) {
        if let Some(ws) = self.ws.as_mut() {
            ws.tcp_cut(match by {
                ClosedBy::Client => Role::Client,
                ClosedBy::Server => Role::Server,
            });
        }
        wire.cut();
        let last = if self.ws.is_some() {
            self.summary()
        } else {
            self.tap.closed_unclean(ClosedBy::Client)
        };
        self.phase = Phase::Done;
        self.publish(vec![last]);
    }

    /// A deadline passed: the handshake's, the refusal body's, or the closing handshake's.
    fn expire(&mut self, wire: &mut Transport) {
        self.deadline = None;
        match self.phase {
            Phase::Tls | Phase::Response => {
                let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                let batch = vec![self.tap.event(EventKind::Limit {
                    kind: LimitKind::HandshakeTimeout,
                    limit: ms(self.config.handshake_timeout),
                    actual: ms(self.tap.age()),
                })];
                self.publish(batch);
                self.cut(wire, ClosedBy::Client);
            }
            Phase::Body => {
                let batch = vec![self.tap.closed_unclean(ClosedBy::Client)];
                wire.cut();
                self.phase = Phase::Done;
                self.publish(batch);
            }
            // The server did not finish the close in time: we close TCP (§7.1.1 allows the
            // client to, after a reasonable time).
            Phase::Open => self.cut(wire, ClosedBy::Client),
            Phase::Done => {}
        }
    }
}
