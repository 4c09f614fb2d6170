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
//! permessage-deflate (RFC 7692): the client's Sec-WebSocket-Extensions go upstream unchanged
//! and the upstream's answer comes back unchanged, so the two ends agree with each other.
//! Compressed frames are relayed as they came (RSV1 kept, payload bytes unchanged: the same
//! compressed stream on both legs, never re-compressed); each leg's tap inflates both
//! directions for display, each with its own context. Without an agreement RSV1 is a
//! violation (§6.1), and `deflate: false` leaves the offer out.
//!
//! One thread per proxied connection; the listener refuses connections past the limit with 503.

use std::collections::HashMap;
use std::io::{self, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream as StdStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Sender;

use crate::client::tls::Trust;
use crate::client::transport::Transport;
use crate::client::WsUrl;
use crate::event::{ClosedBy, Command, ConnId, Direction, Endpoint};
use crate::protocol::handshake::{
    answer, check_request_with, error_response, HandshakeLimits, HostPolicy, Outcome, ServerPolicy,
};
use crate::protocol::{Limits, Role};
use crate::tap::Tap;

mod opening;
mod relay;

use opening::{bad_gateway, read_request, upstream, Upstream};
use relay::{relay, Leg};

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
    /// them; a compressed message is bounded once inflated).
    pub limits: Limits,
    /// Pass the client's Sec-WebSocket-Extensions to the upstream and its answer back, so the
    /// ends may agree to permessage-deflate (RFC 7692) with each other; off (`--no-deflate`):
    /// the offer is left out, nothing is compressed, and RSV1 is a violation on both legs.
    pub deflate: bool,
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
            deflate: true,
        }
    }
}

/// Where the proxy's events go: the client's [`Context`] (each proxied connection takes two
/// connection numbers).
pub use crate::client::Context;

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
    // No Listening event: that event names the server's address (the window's top bar).
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

/// Adds `extensions` (Sec-WebSocket-Extensions values, as the upstream sent them) to the head
/// of a 101 built by [`answer`], before its blank line. The tap reads the agreement back from
/// these bytes (`deflate::agreed`), as it does for any 101.
fn with_extensions(raw: &mut Vec<u8>, extensions: &[Vec<u8>]) {
    if extensions.is_empty() || !raw.ends_with(b"\r\n\r\n") {
        return;
    }
    let at = raw.len() - 2;
    let mut fields = Vec::new();
    for v in extensions {
        fields.extend_from_slice(b"Sec-WebSocket-Extensions: ");
        fields.extend_from_slice(v);
        fields.extend_from_slice(b"\r\n");
    }
    raw.splice(at..at, fields);
}

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
    // A proxy on loopback answers loopback Host names only, as the server does: a web page
    // whose name was re-pointed at 127.0.0.1 (DNS rebinding) cannot use it to reach the
    // upstream.
    let hosts = if config.listen.ip().is_loopback() {
        HostPolicy::Loopback
    } else {
        HostPolicy::Any
    };
    let guard = ServerPolicy {
        hosts,
        ..ServerPolicy::default()
    };
    // The client's request must be an upgrade wsscope would accept (§4.2.1) before anything is
    // asked of the upstream: a bad one is answered here, as the server would (403 for a Host).
    if check_request_with(&request, &guard)
        .iter()
        .any(|c| c.outcome == Outcome::Fail)
    {
        let hs = answer(request, &guard);
        let mut batch = Vec::new();
        let raw = hs.response.raw.clone();
        let _ = stream.write_all(&raw);
        tap_a.tcp(Direction::ServerToClient, Bytes::from(raw), &mut batch);
        tap_a.handshake(hs, config.limits, &mut batch);
        batch.push(tap_a.closed_unclean(ClosedBy::Server));
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
        extensions,
    } = up;
    // Our own 101 to the client: the accept from its key, the upstream's subprotocol and its
    // extensions as it sent them.
    let policy = ServerPolicy {
        protocols: subprotocol.into_iter().collect(),
        ..guard
    };
    let mut hs = answer(request, &policy);
    if hs.accepted() {
        with_extensions(&mut hs.response.raw, &extensions);
    }
    let mut batch = Vec::new();
    let raw = Bytes::copy_from_slice(&hs.response.raw);
    let written = stream.write_all(&raw);
    tap_a.tcp(Direction::ServerToClient, raw, &mut batch);
    tap_a.handshake(hs, config.limits, &mut batch);
    ctx.publish(batch);
    if written.is_err() || stream.set_nonblocking(true).is_err() {
        let mut batch = vec![tap_a.closed_unclean(ClosedBy::Client)];
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
