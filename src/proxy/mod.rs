//! The inspecting proxy: a real client talks to a real server through wsscope, and both legs of
//! every proxied connection are captured: the client's leg (wsscope plays the server,
//! [`Endpoint::ProxyToClient`]) and the upstream leg (wsscope plays the client,
//! [`Endpoint::ProxyToServer`]), each through its own capture [`Tap`], linked by a
//! [`EventKind::Relay`] event.
//!
//! Frames are relayed one by one as they are decoded, fragments and control frames included,
//! with FIN, RSV and opcode unchanged: only the mask differs (the client masked its frames with
//! its keys; wsscope re-masks them toward the upstream with fresh keys of its own, §5.3, and
//! sends the upstream's frames to the client unmasked, as a server must). Pings, pongs and
//! closes are relayed end to end, not answered by wsscope. A frame that breaks a rule is not
//! relayed: that leg is failed with the rule's close code (§7.1.7), and the other leg is closed
//! with the same code. A leg that drops TCP without a close gets its peer closed with 1001
//! (going away, §7.4.1). An upstream that cannot be reached or refuses the upgrade gets the
//! client a 502 with the reason.
//!
//! One thread per proxied connection; the listener refuses connections past the limit with 503.

use std::collections::HashMap;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream as StdStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Sender;
use mio::{Events, Interest, Poll, Token};

use crate::client::tls::{self, Trust};
use crate::client::transport::{as_tls_error, Transport};
use crate::client::{open_tcp, WsUrl};
use crate::event::{
    Clock, ClosedBy, Command, ConnId, Direction, Endpoint, ErrorKind, Event, EventKind,
    HttpOutcome, IoFailure, RequestLine, SendRefusal,
};
use crate::protocol::client::{build_request, fresh_key, RequestSpec};
use crate::protocol::connection::fresh_mask_key;
use crate::protocol::handshake::{
    answer, check_request, error_response, observed, parse_request, parse_response,
    HandshakeLimits, Outcome, Parsed, Request, ServerPolicy,
};
use crate::protocol::{
    close_payload_bytes, encode_frame, parse_close_payload, CloseCode, Decoded, Frame, FrameHeader,
    Limits, OpCode, Role,
};
use crate::tap::{Head, Tap};

/// What the proxy is asked to do.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where clients connect (loopback unless the user asks otherwise).
    pub listen: SocketAddr,
    /// The server behind the proxy.
    pub upstream: WsUrl,
    /// What wss:// upstreams are trusted by.
    pub trust: Trust,
    /// Most proxied connections at once (503 past it).
    pub max_connections: usize,
    /// Time for the client's request head, the upstream's connection and its answer.
    pub handshake_timeout: Duration,
    /// Time a leg's closing handshake may take before its TCP is cut.
    pub close_timeout: Duration,
    /// Request head limits for both legs.
    pub handshake_limits: HandshakeLimits,
    /// Frame and message limits for what either peer sends (the leg is failed with 1009 past
    /// them).
    pub limits: Limits,
}

impl ProxyConfig {
    /// Defaults for relaying `listen` to `upstream`.
    pub fn new(listen: SocketAddr, upstream: WsUrl) -> Self {
        Self {
            listen,
            upstream,
            trust: Trust::System,
            max_connections: 256,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            handshake_limits: HandshakeLimits::default(),
            limits: Limits::default(),
        }
    }
}

/// Where the proxy's events go and what it shares with the rest of wsscope.
#[derive(Clone)]
pub struct Context {
    /// The capture's clock.
    pub clock: Clock,
    /// Connection numbers (each proxied connection takes two).
    pub conn_ids: Arc<AtomicU64>,
    /// Event batches.
    pub events: Sender<Vec<Event>>,
    /// Called after each batch.
    pub waker: Option<crate::server::Waker>,
}

impl Context {
    fn publish(&self, batch: Vec<Event>) {
        if batch.is_empty() {
            return;
        }
        let _ = self.events.send(batch);
        if let Some(w) = &self.waker {
            w();
        }
    }
}

/// The way to one proxied connection's thread: commands for either of its legs.
struct Route {
    tx: Sender<Command>,
    waker: Arc<mio::Waker>,
}

/// Proxied connections under way, by the number of each of their legs.
type Routes = Arc<Mutex<HashMap<ConnId, Arc<Route>>>>;

/// A running proxy.
pub struct ProxyHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    listener: Option<JoinHandle<()>>,
    routes: Routes,
    open: Arc<AtomicUsize>,
}

impl ProxyHandle {
    /// The address clients connect to (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Injects `cmd` on the leg it names (a frame wsscope sends itself, to the client or to the
    /// upstream); `false` when no open leg has that number.
    pub fn command(&self, cmd: Command) -> bool {
        let Some(id) = cmd.conn() else {
            return false;
        };
        let route = self.routes.lock().ok().and_then(|r| r.get(&id).cloned());
        match route {
            Some(r) if r.tx.send(cmd).is_ok() => {
                let _ = r.waker.wake();
                true
            }
            _ => false,
        }
    }

    /// Whether `conn` is a leg of a connection this proxy is relaying.
    pub fn has(&self, conn: ConnId) -> bool {
        self.routes.lock().is_ok_and(|r| r.contains_key(&conn))
    }

    /// Proxied connections under way.
    pub fn active(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Stops accepting and closes every relayed leg with 1001 (going away, §7.4.1); the
    /// connections finish their closing handshakes on their own threads ([`ProxyHandle::active`]).
    pub fn stop(&mut self) {
        if let Ok(routes) = self.routes.lock() {
            for (id, r) in routes.iter() {
                let _ = r.tx.send(Command::Close(*id, 1001, String::new()));
                let _ = r.waker.wake();
            }
        }
        if self.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the blocking accept.
        let _ = StdStream::connect_timeout(
            &crate::server::reachable(self.addr),
            Duration::from_millis(200),
        );
        if let Some(t) = self.listener.take() {
            let _ = t.join();
        }
    }
}

/// Starts listening; every accepted connection is proxied on a thread of its own.
pub fn start(config: ProxyConfig, ctx: Context) -> io::Result<ProxyHandle> {
    let listener = TcpListener::bind(config.listen)?;
    let addr = listener.local_addr()?;
    ctx.publish(vec![Event {
        conn: 0,
        time: ctx.clock.now(),
        kind: EventKind::Listening { addr },
    }]);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let config = Arc::new(config);
    let routes = Routes::default();
    let open = Arc::new(AtomicUsize::new(0));
    let (r, o) = (Arc::clone(&routes), Arc::clone(&open));
    let thread = std::thread::Builder::new()
        .name("wsscope-proxy".into())
        .spawn(move || accept_loop(&listener, &config, &ctx, &flag, &r, &o))?;
    Ok(ProxyHandle {
        addr,
        stop,
        listener: Some(thread),
        routes,
        open,
    })
}

fn accept_loop(
    listener: &TcpListener,
    config: &Arc<ProxyConfig>,
    ctx: &Context,
    stop: &AtomicBool,
    routes: &Routes,
    open: &Arc<AtomicUsize>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        if open.load(Ordering::SeqCst) >= config.max_connections {
            // Past the limit: 503 with the reason, as the server answers.
            let body = format!(
                "{} proxied connections are open, the configured maximum; try again\n",
                config.max_connections
            );
            let mut s = stream;
            let _ = s.write_all(&error_response(503, &[("Retry-After", "1")], &body));
            continue;
        }
        open.fetch_add(1, Ordering::SeqCst);
        let (config, ctx, count) = (Arc::clone(config), ctx.clone(), Arc::clone(open));
        let routes = Arc::clone(routes);
        let spawned = std::thread::Builder::new()
            .name("wsscope-proxied".into())
            .spawn(move || {
                proxy_one(stream, &config, &ctx, &routes);
                count.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// One leg: its tap, socket and closing-handshake bookkeeping.
struct Leg {
    tap: Tap,
    wire: Transport,
    /// The role wsscope plays on this leg.
    ours: Role,
    /// The first close frame each way (by direction index): its code and reason.
    closes: [Option<(Option<CloseCode>, String)>; 2],
    /// Which way the first close frame went.
    first_close: Option<Direction>,
    /// Who cut TCP when no close frame went before.
    cut_by: Option<ClosedBy>,
    /// We shut our sending side.
    write_shut: bool,
    /// The peer's end of stream came, or the leg was cut.
    ended: bool,
    /// When this leg's TCP is cut if it has not ended by then.
    deadline: Option<Instant>,
}

impl Leg {
    fn new(tap: Tap, wire: Transport, ours: Role) -> Self {
        Self {
            tap,
            wire,
            ours,
            closes: [None, None],
            first_close: None,
            cut_by: None,
            write_shut: false,
            ended: false,
            deadline: None,
        }
    }

    /// The direction of the peer's bytes on this leg.
    fn incoming(&self) -> Direction {
        Direction::sent_by(match self.ours {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        })
    }

    /// Notes the close frames among `events` (this leg's).
    fn note_closes(&mut self, events: &[Event], close_timeout: Duration) {
        for e in events {
            if let EventKind::Frame { direction, frame } = &e.kind {
                if frame.header.opcode == OpCode::Close && frame.violations.is_empty() {
                    let i = direction.index();
                    if self.closes[i].is_none() {
                        let body = parse_close_payload(&frame.payload).ok().flatten();
                        self.closes[i] = Some(match body {
                            Some(b) => (Some(b.code), b.reason.unwrap_or_default()),
                            None => (None, String::new()),
                        });
                        self.first_close.get_or_insert(*direction);
                        self.deadline
                            .get_or_insert_with(|| Instant::now() + close_timeout);
                    }
                }
            }
        }
    }

    fn close_done(&self) -> bool {
        self.closes.iter().all(Option::is_some)
    }

    /// Writes `bytes` of ours and captures them.
    fn send(&mut self, bytes: Vec<u8>, batch: &mut Vec<Event>, close_timeout: Duration) {
        if self.write_shut || self.ended {
            return;
        }
        let bytes = Bytes::from(bytes);
        let written = self.wire.write(&bytes);
        let at = batch.len();
        self.tap
            .observe(Direction::sent_by(self.ours), bytes, batch);
        let (_, mine) = batch.split_at(at);
        let mine = mine.to_vec();
        self.note_closes(&mine, close_timeout);
        if let Err(e) = written {
            batch.push(
                self.tap
                    .event(EventKind::Error(ErrorKind::Write(IoFailure::from(&e)))),
            );
            self.cut(ClosedBy::from(self.ours), batch);
        }
    }

    /// Sends our own close frame (a drop or a failure on the other leg).
    fn close(&mut self, code: u16, reason: &str, batch: &mut Vec<Event>, close_timeout: Duration) {
        if self.closes[Direction::sent_by(self.ours).index()].is_some() {
            return;
        }
        let mask = (self.ours == Role::Client).then(fresh_mask_key);
        let payload = close_payload_bytes(code, reason);
        let mut out = Vec::new();
        encode_frame(
            FrameHeader::new(OpCode::Close, payload.len() as u64, mask),
            &payload,
            &mut out,
        );
        self.send(out, batch, close_timeout);
    }

    /// Drops the leg now.
    fn cut(&mut self, by: ClosedBy, batch: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        self.wire.cut();
        self.cut_by.get_or_insert(by);
        self.finish(batch);
    }

    /// The leg is over: its Closed event.
    fn finish(&mut self, batch: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let (code, reason, by) = match self.first_close {
            Some(d) => {
                let (code, reason) = self.closes[d.index()]
                    .clone()
                    .unwrap_or((None, String::new()));
                // §7.1.5: a close frame without a code is 1005.
                let code = code.unwrap_or(CloseCode::from(1005));
                let by = match d {
                    Direction::ClientToServer => ClosedBy::Client,
                    Direction::ServerToClient => ClosedBy::Server,
                };
                (code, reason, by)
            }
            // No close frame at all: 1006 (§7.1.5), started by whoever cut TCP.
            None => (
                CloseCode::from(1006),
                String::new(),
                self.cut_by.unwrap_or(ClosedBy::from(self.ours)),
            ),
        };
        batch.push(self.tap.event(EventKind::Closed {
            code: Some(code),
            reason,
            by,
            clean: self.close_done(),
        }));
    }
}

const CLIENT: Token = Token(0);
const UPSTREAM: Token = Token(1);
const WAKE: Token = Token(2);

/// Bytes read per call.
const READ_BUF: usize = 64 * 1024;

/// Proxies one client connection from its first byte to the end of both legs.
fn proxy_one(stream: StdStream, config: &ProxyConfig, ctx: &Context, routes: &Routes) {
    let id_a = ctx.conn_ids.fetch_add(2, Ordering::Relaxed);
    let id_b = id_a + 1;
    let mut tap_a = Tap::new(id_a, ctx.clock, Endpoint::ProxyToClient);
    let peer = stream.peer_addr();
    let local = stream.local_addr();
    let (Ok(peer), Ok(local)) = (peer, local) else {
        return;
    };
    ctx.publish(vec![tap_a.opened(peer, local)]);
    let mut stream = stream;
    let deadline = Instant::now() + config.handshake_timeout;
    let Some((request, early)) = read_request(&mut stream, &mut tap_a, config, ctx, deadline)
    else {
        return;
    };
    // The client's request must be an upgrade wsscope would accept (§4.2.1) before anything is
    // asked of the upstream: a bad one is answered here, as the server would.
    if check_request(&request)
        .iter()
        .any(|c| c.outcome == Outcome::Fail)
    {
        let hs = answer(request, &ServerPolicy::default());
        let mut batch = Vec::new();
        let raw = hs.response.raw.clone();
        let _ = stream.write_all(&raw);
        tap_a.tcp(Direction::ServerToClient, Bytes::from(raw), &mut batch);
        tap_a.handshake(hs, config.limits, &mut batch);
        batch.push(closed_plain(&tap_a, ClosedBy::Server));
        ctx.publish(batch);
        return;
    }
    let up = match upstream(&request, config, ctx, id_b, id_a) {
        Ok(up) => up,
        Err(why) => {
            bad_gateway(&mut stream, &mut tap_a, &request, &why, ctx);
            return;
        }
    };
    let Upstream {
        tap: tap_b,
        wire: wire_b,
        subprotocol,
        rest,
    } = up;
    // Our own 101 to the client: the accept from its key, the upstream's subprotocol.
    let policy = ServerPolicy {
        protocols: subprotocol.into_iter().collect(),
        ..ServerPolicy::default()
    };
    let hs = answer(request, &policy);
    let mut batch = Vec::new();
    let raw = Bytes::copy_from_slice(&hs.response.raw);
    let written = stream.write_all(&raw);
    tap_a.tcp(Direction::ServerToClient, raw, &mut batch);
    tap_a.handshake(hs, config.limits, &mut batch);
    ctx.publish(batch);
    if written.is_err() || stream.set_nonblocking(true).is_err() {
        let mut batch = vec![closed_plain(&tap_a, ClosedBy::Client)];
        let mut b = Leg::new(tap_b, wire_b, Role::Client);
        b.close(1001, "", &mut batch, config.close_timeout);
        b.cut(ClosedBy::Client, &mut batch);
        ctx.publish(batch);
        return;
    }
    let a = Leg::new(
        tap_a,
        Transport::plain(mio::net::TcpStream::from_std(stream)),
        Role::Server,
    );
    let b = Leg::new(tap_b, wire_b, Role::Client);
    relay(a, b, early, rest, config, ctx, routes);
}

/// Reads the client's request head (blocking, until `deadline`); returns it and any bytes after
/// it, or `None` after answering or recording why there is none.
fn read_request(
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
            batch.push(closed_plain(tap, ClosedBy::Server));
            ctx.publish(batch);
            return None;
        }
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => {
                ctx.publish(vec![closed_plain(tap, ClosedBy::Client)]);
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
                batch.push(closed_plain(tap, ClosedBy::Server));
                ctx.publish(batch);
                return None;
            }
        }
    }
}

fn closed_plain(tap: &Tap, by: ClosedBy) -> Event {
    tap.event(EventKind::Closed {
        code: None,
        reason: String::new(),
        by,
        clean: false,
    })
}

/// The upstream leg, switched.
struct Upstream {
    tap: Tap,
    wire: Transport,
    subprotocol: Option<String>,
    /// Frames that came with the upstream's 101.
    rest: Bytes,
}

/// Why the upstream leg did not switch, for the client's 502 (already recorded on the leg).
type Refusal = String;

/// Opens the upstream leg: TCP, TLS for wss://, our request (the client's offer, our key), and
/// the answer judged by §4.1. Blocking, within the handshake timeout.
fn upstream(
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
            closed_plain(tap, ClosedBy::Client),
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
    // ones that belong to each hop. Extensions are declined (permessage-deflate is not relayed
    // yet), so frames pass through uncompressed.
    const HOP: [&str; 8] = [
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "origin",
    ];
    let headers = client_req
        .headers
        .iter()
        .filter(|h| !HOP.contains(&h.name.to_ascii_lowercase().as_str()))
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
                ctx.publish(vec![closed_plain(&tap, ClosedBy::Server)]);
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
    let hs = observed(our_req, head);
    let status = hs.response.status;
    let subprotocol = hs.response.subprotocol.clone();
    let failure = hs.client_failure().map(|c| {
        format!(
            "the upstream's 101 breaks §4.1 item {}: {} ({})",
            c.id.item(),
            crate::i18n::response_rule(crate::i18n::Lang::En, c.id),
            crate::i18n::check_found(crate::i18n::Lang::En, &c.detail)
        )
    });
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
        batch.push(closed_plain(&tap, ClosedBy::Client));
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
    })
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
fn bad_gateway(stream: &mut StdStream, tap: &mut Tap, request: &Request, why: &str, ctx: &Context) {
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
    batch.push(closed_plain(tap, ClosedBy::Server));
    ctx.publish(batch);
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// Relays frames between the two legs until both have ended.
fn relay(
    mut a: Leg,
    mut b: Leg,
    early_a: Bytes,
    early_b: Bytes,
    config: &ProxyConfig,
    ctx: &Context,
    routes: &Routes,
) {
    let mut batch = vec![a.tap.event(EventKind::Relay { peer: b.tap.id() })];
    let (tx, commands) = crossbeam_channel::unbounded();
    let mut waker = None;
    let poll = Poll::new().and_then(|p| {
        waker = Some(Arc::new(mio::Waker::new(p.registry(), WAKE)?));
        p.registry().register(
            &mut a.wire.sock,
            CLIENT,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        p.registry().register(
            &mut b.wire.sock,
            UPSTREAM,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(p)
    });
    let mut poll = match poll {
        Ok(p) => p,
        Err(e) => {
            batch.push(
                a.tap
                    .event(EventKind::Error(ErrorKind::Setup(IoFailure::from(&e)))),
            );
            a.cut(ClosedBy::Server, &mut batch);
            b.cut(ClosedBy::Client, &mut batch);
            ctx.publish(batch);
            return;
        }
    };
    let ids = [a.tap.id(), b.tap.id()];
    if let (Some(waker), Ok(mut r)) = (waker, routes.lock()) {
        let route = Arc::new(Route { tx, waker });
        for id in ids {
            r.insert(id, Arc::clone(&route));
        }
    }
    let mut r = Relay {
        config,
        buf: vec![0; READ_BUF],
        decoded: Vec::new(),
    };
    // What came with the request and with the upstream's 101.
    if !early_a.is_empty() {
        r.received(&mut a, &mut b, early_a, &mut batch, false);
    }
    if !early_b.is_empty() {
        r.received(&mut b, &mut a, early_b, &mut batch, false);
    }
    ctx.publish(std::mem::take(&mut batch));
    let mut events = Events::with_capacity(16);
    while !(a.ended && b.ended) {
        let next = [a.deadline, b.deadline].into_iter().flatten().min();
        let timeout = next.map(|d| d.saturating_duration_since(Instant::now()));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            batch.push(
                a.tap
                    .event(EventKind::Error(ErrorKind::EventLoop(IoFailure::from(&e)))),
            );
            a.cut(ClosedBy::Server, &mut batch);
            b.cut(ClosedBy::Client, &mut batch);
            break;
        }
        while let Ok(cmd) = commands.try_recv() {
            if cmd.conn() == Some(ids[0]) {
                r.inject(&mut a, &mut b, cmd, &mut batch);
            } else {
                r.inject(&mut b, &mut a, cmd, &mut batch);
            }
        }
        r.service(&mut a, &mut b, &mut batch);
        r.service(&mut b, &mut a, &mut batch);
        let now = Instant::now();
        for leg in [&mut a, &mut b] {
            if !leg.ended && leg.deadline.is_some_and(|d| now >= d) {
                // The closing handshake (or the peer's end of stream after it) took too long.
                let by = ClosedBy::from(leg.ours);
                leg.cut(by, &mut batch);
            }
        }
        ctx.publish(std::mem::take(&mut batch));
    }
    if let Ok(mut r) = routes.lock() {
        for id in ids {
            r.remove(&id);
        }
    }
    ctx.publish(batch);
}

struct Relay<'a> {
    config: &'a ProxyConfig,
    buf: Vec<u8>,
    decoded: Vec<Decoded>,
}

impl Relay<'_> {
    /// A frame the user injects on `leg` (wsscope's own, masked toward a server), or bytes as
    /// they are, or the leg dropped.
    fn inject(&mut self, leg: &mut Leg, other: &mut Leg, cmd: Command, batch: &mut Vec<Event>) {
        let (opcode, payload) = match cmd {
            Command::Text(_, t) => (OpCode::Text, t.into_bytes()),
            Command::Binary(_, b) => (OpCode::Binary, b),
            Command::Ping(_, p) => (OpCode::Ping, p),
            Command::Pong(_, p) => (OpCode::Pong, p),
            Command::Close(_, code, reason) => {
                // §5.5.1: the reason fits a control frame with its 2-byte code.
                if reason.len() > 123 {
                    let refusal = SendRefusal::ReasonTooLong(reason.len());
                    batch.push(leg.tap.event(EventKind::Error(ErrorKind::NotSent(refusal))));
                    return;
                }
                (OpCode::Close, close_payload_bytes(code, &reason))
            }
            Command::Raw(_, bytes) => {
                leg.send(bytes, batch, self.config.close_timeout);
                return;
            }
            Command::Disconnect(_) => {
                leg.cut(ClosedBy::from(leg.ours), batch);
                self.gone(other, batch);
                return;
            }
            Command::SetReplyMode(_) | Command::SetAutoPong(_) => return,
        };
        // §5.5: control frames carry at most 125 bytes.
        if opcode.is_control() && payload.len() > 125 {
            let refusal = SendRefusal::ControlTooLong(payload.len());
            batch.push(leg.tap.event(EventKind::Error(ErrorKind::NotSent(refusal))));
            return;
        }
        if leg.closes[Direction::sent_by(leg.ours).index()].is_some() {
            // §5.5.1: nothing after our close frame.
            let refusal = SendRefusal::Closed;
            batch.push(leg.tap.event(EventKind::Error(ErrorKind::NotSent(refusal))));
            return;
        }
        let mask = (leg.ours == Role::Client).then(fresh_mask_key);
        let mut out = Vec::with_capacity(payload.len() + 14);
        encode_frame(
            FrameHeader::new(opcode, payload.len() as u64, mask),
            &payload,
            &mut out,
        );
        leg.send(out, batch, self.config.close_timeout);
    }

    /// Flushes `from`, then reads it while `to` can take more.
    fn service(&mut self, from: &mut Leg, to: &mut Leg, batch: &mut Vec<Event>) {
        if from.ended {
            return;
        }
        if let Err(e) = from.wire.flush() {
            batch.push(
                from.tap
                    .event(EventKind::Error(ErrorKind::Write(IoFailure::from(&e)))),
            );
            from.cut(ClosedBy::from(from.ours), batch);
            self.gone(to, batch);
            return;
        }
        // Reads wait while the other leg's bytes wait: a slow reader on one side is not
        // buffered without bound on the other.
        while !from.ended && !to.wire.has_unsent() {
            let n = match from.wire.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let kind = match as_tls_error(&e) {
                        Some(t) => ErrorKind::Tls(t.to_string()),
                        None => ErrorKind::Read(IoFailure::from(&e)),
                    };
                    batch.push(from.tap.event(EventKind::Error(kind)));
                    let peer = ClosedBy::from(match from.ours {
                        Role::Client => Role::Server,
                        Role::Server => Role::Client,
                    });
                    from.cut(peer, batch);
                    self.gone(to, batch);
                    return;
                }
            };
            if n == 0 {
                self.ended(from, to, batch);
                return;
            }
            let bytes = Bytes::copy_from_slice(&self.buf[..n]);
            self.received(from, to, bytes, batch, true);
        }
    }

    /// `from`'s peer ended its stream.
    fn ended(&mut self, from: &mut Leg, to: &mut Leg, batch: &mut Vec<Event>) {
        let peer = ClosedBy::from(match from.ours {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        });
        from.cut_by.get_or_insert(peer);
        from.wire.shutdown_write();
        from.write_shut = true;
        let clean = from.close_done();
        from.finish(batch);
        if !clean {
            self.gone(to, batch);
        }
    }

    /// The other leg went away without finishing its closing handshake: close this one with
    /// 1001 (going away, §7.4.1).
    fn gone(&mut self, to: &mut Leg, batch: &mut Vec<Event>) {
        if !to.ended {
            to.close(1001, "", batch, self.config.close_timeout);
            if to.ours == Role::Server && to.close_done() {
                to.wire.shutdown_write();
                to.write_shut = true;
            }
        }
    }

    /// Bytes from `from`'s peer: captured, decoded once, relayed frame by frame to `to`.
    fn received(
        &mut self,
        from: &mut Leg,
        to: &mut Leg,
        bytes: Bytes,
        batch: &mut Vec<Event>,
        tcp: bool,
    ) {
        let dir = from.incoming();
        if tcp {
            from.tap.tcp(dir, bytes.clone(), batch);
        }
        let mut decoded = std::mem::take(&mut self.decoded);
        from.tap.decode(dir, bytes, &mut decoded);
        for d in decoded.drain(..) {
            // The frame as it came, then as it was relayed.
            let frame = match &d {
                Decoded::Frame(f) => Some(f.clone()),
                Decoded::Message(_) => None,
            };
            let e = from.tap.decoded(dir, d);
            from.note_closes(std::slice::from_ref(&e), self.config.close_timeout);
            batch.push(e);
            if let Some(frame) = frame {
                self.frame(from, to, &frame, batch);
            }
        }
        self.decoded = decoded;
        // §7.1.1: once both close frames went on the client's leg, wsscope (its server) closes
        // TCP first.
        if from.ours == Role::Server && from.close_done() && !from.write_shut {
            from.wire.shutdown_write();
            from.write_shut = true;
        }
        if to.ours == Role::Server && to.close_done() && !to.write_shut {
            to.wire.shutdown_write();
            to.write_shut = true;
        }
    }

    /// One frame from `from`'s peer: relayed as it was (re-masked toward a server), or, when it
    /// broke a rule, `from` is failed with the rule's code and `to` closed with the same.
    fn frame(&mut self, from: &mut Leg, to: &mut Leg, frame: &Frame, batch: &mut Vec<Event>) {
        let close_timeout = self.config.close_timeout;
        if let Some(v) = frame.violations.first() {
            let code = u16::from(v.close_code());
            // §7.1.7: fail the connection: our close with the rule's code, then close TCP.
            from.close(code, "", batch, close_timeout);
            from.wire.shutdown_write();
            from.write_shut = true;
            to.close(code, "", batch, close_timeout);
            return;
        }
        if from.write_shut && from.ours == Role::Server && frame.header.opcode != OpCode::Close {
            return;
        }
        let mut header = frame.header;
        // §5.3: toward a server every frame is masked with a fresh key; toward a client never.
        let key = (to.ours == Role::Client).then(fresh_mask_key);
        header.masked = key.is_some();
        header.mask_key = key;
        let mut out = Vec::with_capacity(frame.payload.len() + 14);
        encode_frame(header, &frame.payload, &mut out);
        to.send(out, batch, close_timeout);
    }
}
