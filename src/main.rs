//! The `wsscope` command: the inspector window by default, and subcommands that reuse the same
//! core from a terminal.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum};

use wsscope::cli::trace::{Totals, TraceLevel, Tracer};
use wsscope::cli::{parse_hex, render_accept, render_decode, Paint};
use wsscope::event::{Clock, ReplyMode};
use wsscope::i18n::Lang;
use wsscope::protocol::handshake::{HandshakeLimits, HostPolicy, OriginPolicy};
use wsscope::protocol::{AcceptDerivation, Limits, Role};
use wsscope::record;
use wsscope::server::{self, ServerConfig, StartError, Supervisor};

#[derive(Parser, Debug)]
#[command(
    name = "wsscope",
    version,
    about = "See everything RFC 6455 puts on the wire"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Run the server in the terminal instead of opening the window (as `serve` does).
    #[arg(long)]
    headless: bool,
    #[command(flatten)]
    server: ServerArgs,
    /// The window's capture memory budget in MiB: everything it keeps (records, indexes,
    /// bytes) stays within it; when full, the oldest records are dropped (and said so).
    #[arg(long, value_name = "MIB", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(16..=1_048_576))]
    capture_budget: u32,
    /// The window records every event to FILE as JSON lines from the start (see `serve --record`).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Language of the explanations (default: from LC_ALL, LC_MESSAGES or LANG; zh* is Chinese).
    #[arg(long, global = true, value_enum)]
    lang: Option<LangArg>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LangArg {
    /// English.
    En,
    /// 简体中文.
    Zh,
}

/// Options of the WebSocket server (shared by `serve` and the window).
#[derive(Args, Debug, Clone)]
struct ServerArgs {
    /// Port to listen on (0 picks a free one). Browsers refuse 6666, the seed's port.
    #[arg(long, default_value_t = server::DEFAULT_PORT)]
    port: u16,
    /// Address to listen on. Anything but loopback lets other machines connect.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Reply mode: `echo`, `manual`, or any other text to answer every message with it
    /// (`--reply 'thank you!!!'` is the seed's server).
    #[arg(long, default_value = "echo")]
    reply: String,
    /// Subprotocols to agree to, in preference order.
    #[arg(long, value_delimiter = ',', default_value = "chat,superchat")]
    protocols: Vec<String>,
    /// Largest frame payload accepted, in bytes (1009 past it).
    #[arg(long, default_value_t = Limits::default().max_frame_size)]
    max_frame: u64,
    /// Largest message accepted, in bytes (1009 past it).
    #[arg(long, default_value_t = Limits::default().max_message_size)]
    max_message: u64,
    /// Largest request head, in bytes (431 past it).
    #[arg(long, default_value_t = HandshakeLimits::default().max_bytes)]
    max_header_bytes: usize,
    /// Most request header fields (431 past it).
    #[arg(long, default_value_t = HandshakeLimits::default().max_headers)]
    max_headers: usize,
    /// Seconds a client has to finish the opening handshake.
    #[arg(long, default_value_t = 10.0)]
    handshake_timeout: f64,
    /// Most connections open at once (503 past it).
    #[arg(long, default_value_t = 256)]
    max_connections: usize,
    /// Do not answer pings automatically.
    #[arg(long)]
    no_auto_pong: bool,
    /// Decline permessage-deflate (RFC 7692): messages travel uncompressed and RSV1 is a
    /// violation.
    #[arg(long)]
    no_deflate: bool,
    /// Threads that serve the connections (event loops); 0 is half the CPUs, 1 to 4.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=64))]
    event_loops: u16,
    /// Microseconds an event loop keeps polling after a busy turn before it sleeps (0: sleep
    /// at once). Being woken costs more than looking, on virtual machines most; off on one CPU.
    #[arg(long, value_name = "MICROS", default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    busy_poll: u32,
    /// Seconds a close frame we sent waits for the client's before TCP is closed anyway
    /// (python-websockets' default, 10).
    #[arg(long, default_value_t = 10.0)]
    close_timeout: f64,
    /// Send a keepalive ping every SECS seconds (off by default: a class sees only its own
    /// frames); a client that does not answer within --ping-timeout is closed with 1011.
    #[arg(long, value_name = "SECS")]
    ping_interval: Option<f64>,
    /// Seconds a keepalive ping waits for its pong.
    #[arg(long, value_name = "SECS", default_value_t = 20.0)]
    ping_timeout: f64,
    /// Web pages that may connect, by Origin: `*` (any, the default) or exact origins separated
    /// by commas (`http://localhost:8765,http://127.0.0.1:8765`); others get 403. A client
    /// that sends no Origin is not a browser page and is not judged.
    #[arg(long, value_name = "LIST", default_value = "*")]
    allowed_origins: String,
    /// Host names answered: `all`, or names separated by commas (`.example.com` is it and its
    /// subdomains; loopback names and IP addresses are always answered), like
    /// webpack-dev-server's allowedHosts; others get 403. Default: bound to loopback, only
    /// loopback names and addresses (a guard against DNS rebinding); otherwise all.
    #[arg(long, value_name = "LIST")]
    allowed_hosts: Option<String>,
    /// MiB of events waiting for the trace or the window (not yet printed or stored) past
    /// which the server stops reading from the WebSocket clients that send the most (TCP slows
    /// them down; nothing is lost; quieter ones are still read, and past 1.5x the bound, or the
    /// bound + 1 MiB if more, all of them) until half of it is taken; handshakes are still
    /// answered.
    #[arg(long, value_name = "MIB", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    max_in_flight: u32,
}

impl ServerArgs {
    fn config(&self) -> Result<ServerConfig, String> {
        if !(self.handshake_timeout.is_finite()
            && self.handshake_timeout > 0.0
            && self.handshake_timeout <= 3600.0)
        {
            return Err(format!(
                "--handshake-timeout {} is not a number of seconds between 0 and 3600",
                self.handshake_timeout
            ));
        }
        if self.max_connections == 0 || self.max_headers == 0 || self.max_header_bytes < 16 {
            return Err("--max-connections and --max-headers must be at least 1, --max-header-bytes at least 16".into());
        }
        // A limit must be a length a frame can announce (§5.2: the top bit of a 64-bit length is
        // 0) and one this machine can hold in memory (usize is 32 bits on a 32-bit target), or
        // the length arithmetic behind it could wrap.
        let most = u64::try_from(usize::MAX)
            .unwrap_or(u64::MAX)
            .min(u64::MAX >> 1);
        for (flag, value) in [
            ("--max-frame", self.max_frame),
            ("--max-message", self.max_message),
        ] {
            if value > most {
                return Err(format!(
                    "{flag} {value} is more than this machine can hold (at most {most} bytes)"
                ));
            }
        }
        let secs = |flag: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= 86_400.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(format!(
                    "--{flag} {v} is not a number of seconds between 0 and 86400"
                ))
            }
        };
        let close_timeout = secs("close-timeout", self.close_timeout)?;
        let ping_interval = self
            .ping_interval
            .map(|v| secs("ping-interval", v))
            .transpose()?;
        let ping_timeout = secs("ping-timeout", self.ping_timeout)?;
        let allowed_origins = OriginPolicy::parse(&self.allowed_origins).map_err(|e| {
            format!("--allowed-origins: {e} is not an origin (scheme://host[:port], or null)")
        })?;
        let allowed_hosts = self
            .allowed_hosts
            .as_deref()
            .map(HostPolicy::parse)
            .transpose()
            .map_err(|e| format!("--allowed-hosts: {e:?} is not a host name"))?;
        let reply = match self.reply.as_str() {
            "echo" => ReplyMode::Echo,
            "manual" => ReplyMode::Manual,
            text => ReplyMode::Fixed(text.to_string()),
        };
        Ok(ServerConfig {
            bind: self.bind,
            port: self.port,
            reply,
            protocols: self
                .protocols
                .iter()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            handshake_limits: HandshakeLimits {
                max_bytes: self.max_header_bytes,
                max_headers: self.max_headers,
            },
            handshake_timeout: Duration::from_secs_f64(self.handshake_timeout),
            limits: Limits {
                max_frame_size: self.max_frame,
                max_message_size: self.max_message,
            },
            max_connections: self.max_connections,
            event_loops: usize::from(self.event_loops),
            busy_poll: Duration::from_micros(u64::from(self.busy_poll)),
            auto_pong: !self.no_auto_pong,
            deflate: !self.no_deflate,
            close_timeout,
            ping_interval,
            ping_timeout,
            allowed_origins,
            allowed_hosts,
            // At most 64 GiB: fits a 64-bit usize; saturates (never wraps) on a 32-bit one.
            max_in_flight: usize::try_from(u64::from(self.max_in_flight) << 20)
                .unwrap_or(usize::MAX),
            ..ServerConfig::default()
        })
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TraceArg {
    None,
    Summary,
    Full,
}

impl From<TraceArg> for TraceLevel {
    fn from(t: TraceArg) -> Self {
        match t {
            TraceArg::None => TraceLevel::None,
            TraceArg::Summary => TraceLevel::Summary,
            TraceArg::Full => TraceLevel::Full,
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the WebSocket server without a window, printing one line per event.
    Serve {
        #[command(flatten)]
        server: ServerArgs,
        /// How much to print per event.
        #[arg(long, value_enum, default_value = "summary")]
        trace: TraceArg,
        /// Also write every event to FILE as JSON lines (docs/capture-format.md), to read back
        /// with `wsscope read FILE`. The file is replaced.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
    },
    /// Show a capture file in the window (as a live capture is shown), without a server.
    Open {
        /// A capture written by `serve --record` or the window's record button (JSON lines), or
        /// a pcap or pcapng file.
        file: PathBuf,
    },
    /// Print a capture file's trace, as `serve` printed it live, then the totals (like
    /// `tshark -r`).
    Read {
        /// A capture written by `serve --record` or the window (JSON lines), or a pcap or
        /// pcapng file from tcpdump, tshark, dumpcap or Wireshark.
        file: PathBuf,
        /// How much to print per event.
        #[arg(long, value_enum, default_value = "summary")]
        trace: TraceArg,
        /// Longest line to read, in MiB: a longer one is an error (not held in memory).
        #[arg(long, value_name = "MIB", default_value_t = (record::DEFAULT_MAX_LINE >> 20) as u16,
              value_parser = clap::value_parser!(u16).range(1..=4096))]
        max_line: u16,
    },
    /// Write a capture (our JSON lines, or a pcap/pcapng file) as pcap, HAR or JSON lines.
    Export {
        /// The capture file to read: JSON lines from `serve --record` or the window, or a pcap
        /// or pcapng file from tcpdump, tshark or Wireshark.
        input: PathBuf,
        /// The format to write: pcap (Wireshark, tshark), har (browser DevTools), jsonl.
        #[arg(long, value_enum)]
        to: ExportFormat,
        /// The file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Connect to a WebSocket server as a client (ws:// or wss://) and print the same trace as
    /// `serve`. Without --send, each line typed is a text message; /ping [TEXT], /hex HEX,
    /// /raw HEX, /close [CODE [REASON]], /disconnect; the end of input closes.
    Connect(ConnectArgs),
    /// An inspecting proxy: clients connect to --listen, wsscope relays every frame to
    /// --upstream and back, and prints both legs (the client's and the upstream's).
    Proxy(ProxyArgs),
    /// Derive Sec-WebSocket-Accept from a Sec-WebSocket-Key, showing every step.
    Accept {
        /// The client's Sec-WebSocket-Key, e.g. dGhlIHNhbXBsZSBub25jZQ==
        key: String,
    },
    /// Decode WebSocket frames from hex and explain every field.
    Decode {
        /// Hex bytes, with or without spaces/colons: '81 85 37 fa 21 3d 7f 9f 4d 51 58'.
        #[arg(required = true, num_args = 1..)]
        hex: Vec<String>,
        /// Who sent the bytes (decides the masking rule). Default: taken from the first frame.
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
    },
}

/// `wsscope connect`'s options.
#[derive(Args, Debug)]
struct ConnectArgs {
    /// ws://HOST[:PORT]/PATH or wss://...; IPv6 in brackets: ws://[::1]:8765/
    url: String,
    /// A subprotocol to offer (repeatable, in preference order).
    #[arg(long = "protocol", value_name = "NAME")]
    protocols: Vec<String>,
    /// A header field to add to the request, 'Name: value' (repeatable).
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    headers: Vec<String>,
    /// The Origin field to send (browsers always send one; servers may check it).
    #[arg(long)]
    origin: Option<String>,
    /// A text message to send once connected (repeatable; in order with --send-hex).
    #[arg(long = "send", value_name = "TEXT")]
    sends: Vec<String>,
    /// A binary message to send, as hex (repeatable; in order with --send).
    #[arg(long = "send-hex", value_name = "HEX")]
    send_hex: Vec<String>,
    /// The close to send at the end: CODE[:REASON].
    #[arg(long, value_name = "CODE[:REASON]", default_value = "1000")]
    close: String,
    /// After the last message, seconds to wait for as many answers before closing.
    #[arg(long, default_value_t = 2.0)]
    wait: f64,
    /// Trust the certificates in this PEM file for wss:// (a local or private CA).
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Take any certificate for wss:// (still encrypted, not authenticated: local tests only).
    #[arg(long, conflicts_with = "ca_file")]
    insecure: bool,
    /// Seconds to open the connection and finish the opening handshake.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Do not offer permessage-deflate (RFC 7692): messages travel uncompressed and RSV1 from
    /// the server is a violation.
    #[arg(long)]
    no_deflate: bool,
    /// How much to print per event.
    #[arg(long, value_enum, default_value = "summary")]
    trace: TraceArg,
    /// Also write every event to FILE as JSON lines.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
}

/// `wsscope proxy`'s options.
#[derive(Args, Debug)]
struct ProxyArgs {
    /// Where clients connect. Anything but loopback lets other machines use the proxy.
    #[arg(long, default_value = "127.0.0.1:8766")]
    listen: std::net::SocketAddr,
    /// The server behind the proxy: ws://HOST:PORT/PATH or wss://... (without a path, the
    /// client's path is used).
    #[arg(long)]
    upstream: String,
    /// Trust the certificates in this PEM file for a wss:// upstream.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Take any certificate from a wss:// upstream (local tests only).
    #[arg(long, conflicts_with = "ca_file")]
    insecure: bool,
    /// Most proxied connections at once (503 past it).
    #[arg(long, default_value_t = 256)]
    max_connections: usize,
    /// Leave the client's permessage-deflate offer out of the upstream request (RFC 7692):
    /// nothing is compressed, and RSV1 is a violation on both legs.
    #[arg(long)]
    no_deflate: bool,
    /// How much to print per event.
    #[arg(long, value_enum, default_value = "summary")]
    trace: TraceArg,
    /// Also write every event of both legs to FILE as JSON lines.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RoleArg {
    Client,
    Server,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ExportFormat {
    /// The same events as JSON lines (the capture format).
    Jsonl,
    /// A pcap file: TCP conversations Wireshark and tshark open as HTTP and WebSocket.
    Pcap,
    /// HAR 1.2 with `_webSocketMessages`, as Chrome DevTools writes it.
    Har,
}

fn paint() -> Paint {
    Paint {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// glibc hands memory back to the kernel as soon as 128 KiB are free at the top of a heap. Every
/// captured read, frame and write is allocated by a connection's thread and freed later by the
/// consumer, so under load the next allocation page-faults that memory back in: up to five faults
/// per 64 KiB echo, about a third of the server's CPU in `perf`. Keeping up to 16 MiB free per
/// heap (and serving blocks below 4 MiB from the heaps, not from fresh mappings) removes that.
/// The window keeps 4 MiB per heap instead: what it holds must stay within its capture budget
/// plus a fixed overhead, and each thread's heap (server loops, ingest, UI) keeps its own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator(window: bool) {
    let keep = if window { 4 << 20 } else { 16 << 20 };
    // SAFETY: mallopt only sets malloc's parameters; it is called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, keep);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator(_window: bool) {}

fn main() -> ExitCode {
    // Parsing starts no thread: the allocator is still tuned before any other thread runs.
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    tune_allocator(!cli.headless && matches!(cli.command, None | Some(Command::Open { .. })));
    let lang = match cli.lang {
        Some(LangArg::En) => Lang::En,
        Some(LangArg::Zh) => Lang::Zh,
        None => Lang::from_env(),
    };
    match cli.command {
        None => {
            let Some(config) = server_config(&cli.server) else {
                return ExitCode::from(2);
            };
            if cli.headless {
                return serve(config, TraceArg::Summary, lang, cli.record.as_deref());
            }
            window(config, lang, window_options(&cli, None))
        }
        Some(Command::Open { ref file }) => {
            let opts = window_options(&cli, Some(file.clone()));
            match server_config(&cli.server) {
                Some(config) => window(config, lang, opts),
                None => ExitCode::from(2),
            }
        }
        Some(Command::Serve {
            server,
            trace,
            record,
        }) => match server_config(&server) {
            Some(config) => serve(config, trace, lang, record.as_deref()),
            None => ExitCode::from(2),
        },
        Some(Command::Read {
            file,
            trace,
            max_line,
        }) => read(&file, trace.into(), lang, usize::from(max_line) << 20),
        Some(Command::Export { input, to, output }) => export(&input, to, &output, lang),
        Some(Command::Proxy(args)) => proxy(args, lang),
        Some(Command::Connect(args)) => {
            let order = matches.subcommand_matches("connect").map(send_order);
            connect(args, order.unwrap_or_default(), lang)
        }
        Some(Command::Accept { key }) => {
            if key.trim().is_empty() {
                eprintln!("wsscope accept: {}", lang.t().cli_empty_key);
                return ExitCode::from(2);
            }
            print_out(&render_accept(&AcceptDerivation::new(&key), lang, paint()));
            ExitCode::SUCCESS
        }
        Some(Command::Decode { hex, role }) => {
            let bytes = match parse_hex(&hex.join(" ")) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("wsscope decode: {}", e.describe(lang));
                    return ExitCode::from(2);
                }
            };
            let sender = role.map(|r| match r {
                RoleArg::Client => Role::Client,
                RoleArg::Server => Role::Server,
            });
            let report = render_decode(&bytes, sender, lang, paint());
            print_out(&report.text);
            match report.error {
                None => ExitCode::SUCCESS,
                Some(e) => {
                    eprintln!("wsscope decode: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// Prints `text` and a newline. A reader that has gone (`wsscope decode ... | head`) is not an
/// error worth a panic: the rest is simply not printed.
fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// The server options as a config, or `None` after saying what is wrong with them.
fn server_config(args: &ServerArgs) -> Option<ServerConfig> {
    args.config().map_err(|e| eprintln!("wsscope: {e}")).ok()
}

/// What the window is asked for besides its server.
struct WindowArgs {
    #[cfg_attr(not(feature = "gui"), allow(dead_code))]
    budget: usize,
    record: Option<PathBuf>,
    open: Option<PathBuf>,
}

fn window_options(cli: &Cli, open: Option<PathBuf>) -> WindowArgs {
    WindowArgs {
        budget: usize::try_from(u64::from(cli.capture_budget) << 20).unwrap_or(usize::MAX),
        record: cli.record.clone(),
        open,
    }
}

/// The window, or the terminal when no window can open here: the server (as `serve`), or the
/// file's trace (as `read`).
#[cfg(feature = "gui")]
fn window(config: ServerConfig, lang: Lang, args: WindowArgs) -> ExitCode {
    if !wsscope::gui::has_display() {
        eprintln!("wsscope: no display (DISPLAY and WAYLAND_DISPLAY are unset): printing in the terminal instead");
        return terminal(config, lang, args);
    }
    let WindowArgs {
        budget,
        record,
        open,
    } = args;
    wsscope::gui::run(
        config,
        wsscope::gui::WindowOptions {
            budget: Some(budget),
            record,
            open,
        },
    )
}

/// This build has no window: the terminal.
#[cfg(not(feature = "gui"))]
fn window(config: ServerConfig, lang: Lang, args: WindowArgs) -> ExitCode {
    eprintln!("wsscope: this build has no window (built without the `gui` feature): printing in the terminal instead");
    terminal(config, lang, args)
}

/// What the window would have shown, in the terminal.
fn terminal(config: ServerConfig, lang: Lang, args: WindowArgs) -> ExitCode {
    match &args.open {
        Some(file) => read(file, TraceLevel::Summary, lang, record::DEFAULT_MAX_LINE),
        None => serve(config, TraceArg::Summary, lang, args.record.as_deref()),
    }
}

/// `wsscope read FILE`: the format is told by the file's magic number.
fn read(path: &std::path::Path, level: TraceLevel, lang: Lang, max_line: usize) -> ExitCode {
    // An unreadable file goes to the JSON-lines reader, which names it and says why.
    match wsscope::import::Format::of_file(path).unwrap_or(None) {
        Some(_) => read_pcap(path, level, lang),
        // Not pcap or pcapng: our JSON lines (whose reader names the file and says why it is
        // not a capture, including when it cannot be opened).
        None => read_capture(path, level, lang, max_line),
    }
}

/// `wsscope read FILE` for a pcap or pcapng file: the `serve` trace of every WebSocket
/// connection in it, the totals, and what was skipped. A file that goes bad prints what was
/// valid, then the error naming the file and byte offset (exit 1).
fn read_pcap(path: &std::path::Path, level: TraceLevel, lang: Lang) -> ExitCode {
    let events = match wsscope::import::open(path) {
        Ok(events) => events,
        Err(e) => {
            eprintln!("wsscope read: {}", wsscope::i18n::import_error(lang, &e));
            return ExitCode::from(1);
        }
    };
    let mut events = events;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let Some((totals, failed)) = print_trace(events.by_ref(), level, lang, &mut out) else {
        return ExitCode::SUCCESS;
    };
    let stats = events.stats();
    let _ = writeln!(out, "{}", totals.text(lang));
    let _ = writeln!(
        out,
        "{}",
        wsscope::i18n::fill(
            lang.t().rd_stats,
            &[
                &stats.packets,
                &stats.flows,
                &stats.websocket,
                &stats.skipped,
                &stats.untracked,
                &stats.not_tcp,
                &stats.unparsable,
                &stats.unknown_linktype,
                &stats.out_of_order,
                &stats.duplicate_bytes,
                &stats.gaps,
            ],
        )
    );
    let _ = out.flush();
    drop(out);
    match failed {
        Some(e) => {
            eprintln!("wsscope read: {}", wsscope::i18n::import_error(lang, &e));
            ExitCode::from(1)
        }
        None => ExitCode::SUCCESS,
    }
}

/// Prints the trace lines of `events` to `out`; returns the totals and the error that ended the
/// events, or `None` when the reader of our output has gone (`| head`): nothing more to do then.
fn print_trace<E>(
    events: impl Iterator<Item = Result<wsscope::event::Event, E>>,
    level: TraceLevel,
    lang: Lang,
    out: &mut impl std::io::Write,
) -> Option<(Totals, Option<E>)> {
    let mut totals = Totals::default();
    let mut tracer = Tracer::default();
    let mut failed = None;
    for event in events {
        match event {
            Ok(event) => {
                totals.add(&event);
                if let Some(line) = tracer.line(&event, level, lang) {
                    writeln!(out, "{line}").ok()?;
                }
            }
            Err(e) => failed = Some(e),
        }
    }
    Some((totals, failed))
}

/// The server in the terminal, one trace line per event; with `record`, every event also goes
/// to that file.
fn serve(mut config: ServerConfig, trace: TraceArg, lang: Lang, record: Option<&Path>) -> ExitCode {
    let level = TraceLevel::from(trace);
    let addr = (config.bind, config.port);
    // The file's header and the events count from one clock: the server's.
    let clock = *config.clock.get_or_insert_with(Clock::start);
    let mut recorder = match record.map(|path| record::Writer::create_with_clock(path, &clock)) {
        None => None,
        Some(Ok(w)) => Some(w),
        Some(Err(e)) => {
            // Refused before listening: a capture that cannot be kept is not started.
            eprintln!("wsscope serve: cannot record: {e}");
            return ExitCode::from(1);
        }
    };
    let mut record_failed = false;
    // Nobody to wake: this loop polls (below).
    let mut server = Supervisor::new(None);
    if let Err(e) = server.start(config) {
        let e = match e {
            StartError::Listen { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        eprintln!("wsscope serve: cannot listen on {}:{}: {e}", addr.0, addr.1);
        return ExitCode::from(1);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        eprintln!("wsscope serve: Ctrl-C will not close connections cleanly: {e}");
    }
    let mut stopping = false;
    let mut totals = Totals::default();
    // Follows each message's frames, to say how many bytes a compressed one took on the wire.
    let mut tracer = Tracer::default();
    let stdout = std::io::stdout();
    let mut idle_polls = 0u32;
    let mut more = false;
    loop {
        // Under load, poll every millisecond: while this loop is not blocked waiting, the
        // event loops' sends never have to wake it (a futex call per TCP read otherwise).
        // After 100 empty polls, block until the next event: an idle server costs nothing.
        if more {
            // The last drain ran out of time: events are waiting.
        } else if idle_polls < 100 {
            std::thread::sleep(Duration::from_millis(1));
        } else {
            server.wait(Duration::from_millis(100));
        }
        let mut out = stdout.lock();
        let drained = server.drain(Duration::from_millis(50), |batch| {
            for event in &batch {
                if let Some(w) = recorder.as_mut() {
                    if let Err(e) = w.write(event) {
                        stop_recording(e, &mut recorder, &mut record_failed);
                    }
                }
                totals.add(event);
                if let Some(line) = tracer.line(event, level, lang) {
                    let _ = writeln!(out, "{line}");
                }
            }
        });
        more = drained.more;
        if drained.batches > 0 {
            idle_polls = 0;
            let _ = out.flush();
        } else {
            if idle_polls == 0 {
                // Quiet now: what was recorded goes to disk instead of waiting for more.
                if let Some(Err(e)) = recorder.as_mut().map(record::Writer::flush) {
                    stop_recording(e, &mut recorder, &mut record_failed);
                }
            }
            idle_polls = idle_polls.saturating_add(1);
        }
        drop(out);
        // Every server has stopped and its last events are printed.
        if drained.finished {
            break;
        }
        if !stopping && stop.load(Ordering::SeqCst) {
            stopping = true;
            eprintln!("wsscope serve: closing connections with 1001 (going away)...");
            // Shut down on another thread: it publishes events this loop must keep draining.
            server.stop(Duration::from_secs(2));
        }
    }
    if let Some(Err(e)) = recorder.as_mut().map(record::Writer::flush) {
        stop_recording(e, &mut recorder, &mut record_failed);
    }
    print_out(&totals.text(lang));
    if record_failed {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Says once that recording failed (the error names the file) and stops it; the server and the
/// trace go on.
fn stop_recording(e: std::io::Error, recorder: &mut Option<record::Writer>, failed: &mut bool) {
    eprintln!("wsscope serve: recording stopped: {e}; the server and the trace go on, the file ends before this point");
    *recorder = None;
    *failed = true;
}

/// `wsscope read` of a JSON-lines capture: the trace `serve` printed, then the totals. A bad
/// file prints what was valid before the problem, then the problem (file, line, byte offset),
/// and exits with 1.
fn read_capture(path: &Path, level: TraceLevel, lang: Lang, max_line: usize) -> ExitCode {
    let reader = match record::Reader::open_with_limit(path, max_line) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wsscope read: {}", wsscope::i18n::read_error(lang, &e));
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let Some((totals, failure)) = print_trace(reader, level, lang, &mut out) else {
        return ExitCode::SUCCESS;
    };
    let _ = writeln!(out, "{}", totals.text(lang)).and_then(|()| out.flush());
    match failure {
        None => ExitCode::SUCCESS,
        Some(e) => {
            eprintln!("wsscope read: {}", wsscope::i18n::read_error(lang, &e));
            ExitCode::from(1)
        }
    }
}

/// `wsscope export`: reads `input` to its end or its first bad line, writes what it read.
/// A bad line or a write error: the message, exit status 1 (the output keeps what was written).
fn export(input: &Path, to: ExportFormat, output: &Path, lang: Lang) -> ExitCode {
    use wsscope::event::{Event, EventKind};
    use wsscope::export::{until_error, write_har, write_pcap};
    use wsscope::record::Writer;

    // Our JSON lines, or a pcap/pcapng file (told by its magic number), as events with the
    // capture's time zero first; a bad record ends them with its error.
    let mut events = match record::open_any(input, lang) {
        Ok(events) => events.peekable(),
        Err(e) => {
            eprintln!("wsscope export: {e}");
            return ExitCode::from(1);
        }
    };
    let unix_micros = match events.peek() {
        Some(Ok(Event {
            kind: EventKind::Clock { unix_micros },
            ..
        })) => *unix_micros,
        _ => 0,
    };
    let create = || {
        std::fs::File::create(output)
            .map(std::io::BufWriter::new)
            .map_err(|e| format!("{}: {e}", output.display()))
    };
    let (written, read_error) = match to {
        ExportFormat::Pcap => match create() {
            Ok(out) => until_error(events, |events| {
                write_pcap(events, out)
                    .map(|s| {
                        format!(
                            "TCP connections: {}, packets: {}, TCP payload bytes: {}",
                            s.connections, s.packets, s.bytes
                        )
                    })
                    .map_err(|e| format!("{}: {e}", output.display()))
            }),
            Err(e) => (Err(e), None),
        },
        ExportFormat::Har => match create() {
            Ok(out) => until_error(events, |events| {
                write_har(events, out)
                    .map(|s| {
                        let mut text = format!(
                            "entries: {} ({} WebSocket), messages: {}",
                            s.entries, s.websockets, s.messages
                        );
                        if s.skipped > 0 {
                            text.push_str(&format!(
                                "; left out (no HTTP request seen): {} connection(s)",
                                s.skipped
                            ));
                        }
                        text
                    })
                    .map_err(|e| format!("{}: {e}", output.display()))
            }),
            Err(e) => (Err(e), None),
        },
        ExportFormat::Jsonl => {
            let clock = Clock {
                epoch: std::time::Instant::now(),
                wall: std::time::UNIX_EPOCH + Duration::from_micros(unix_micros),
            };
            match Writer::create_with_clock(output, &clock) {
                Ok(mut w) => until_error(events, |events| {
                    let mut n = 0u64;
                    // The file's header carries the time zero (the first event): not a line of
                    // its own.
                    let mut first = true;
                    for e in events.filter(|e| {
                        let time_zero = first && matches!(e.kind, EventKind::Clock { .. });
                        first = false;
                        !time_zero
                    }) {
                        w.write(&e).map_err(|e| e.to_string())?;
                        n += 1;
                    }
                    w.flush().map_err(|e| e.to_string())?;
                    Ok(format!("events: {n}"))
                }),
                Err(e) => (Err(e.to_string()), None),
            }
        }
    };
    match (written, read_error) {
        (Ok(summary), None) => {
            eprintln!("wsscope export: wrote {}: {summary}", output.display());
            ExitCode::SUCCESS
        }
        (Ok(summary), Some(e)) => {
            eprintln!("wsscope export: {e}");
            eprintln!(
                "wsscope export: wrote what came before it to {}: {summary}",
                output.display()
            );
            ExitCode::from(1)
        }
        (Err(e), _) => {
            eprintln!("wsscope export: cannot write {e}");
            ExitCode::from(1)
        }
    }
}

/// Where each --send and --send-hex stood on the command line: (index, is_hex), in order.
fn send_order(m: &clap::ArgMatches) -> Vec<(usize, bool)> {
    let mut order: Vec<(usize, bool)> = Vec::new();
    for (id, hex) in [("sends", false), ("send_hex", true)] {
        if let Some(ix) = m.indices_of(id) {
            order.extend(ix.map(|i| (i, hex)));
        }
    }
    order.sort_unstable();
    order
}

/// `wsscope connect`.
fn connect(args: ConnectArgs, order: Vec<(usize, bool)>, lang: Lang) -> ExitCode {
    use wsscope::cli::connect::{parse_close, run, ConnectRun, Input};
    use wsscope::client::{ClientConfig, Trust, WsUrl};

    let fail = |e: String| {
        eprintln!("wsscope connect: {e}");
        ExitCode::from(2)
    };
    let url = match WsUrl::parse(&args.url) {
        Ok(u) => u,
        Err(e) => return fail(e.to_string()),
    };
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        return fail(format!(
            "--timeout {} is not a number of seconds between 0 and 3600",
            args.timeout
        ));
    }
    if !(args.wait.is_finite() && (0.0..=3600.0).contains(&args.wait)) {
        return fail(format!(
            "--wait {} is not a number of seconds between 0 and 3600",
            args.wait
        ));
    }
    let close = match parse_close(&args.close) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut headers = Vec::new();
    for h in &args.headers {
        match h.split_once(':') {
            Some((name, value))
                if !name.trim().is_empty() && !name.contains(char::is_whitespace) =>
            {
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
            _ => return fail(format!("--header {h:?}: expected 'Name: value'")),
        }
    }
    let (mut texts, mut hexes) = (args.sends.into_iter(), args.send_hex.into_iter());
    let mut script = Vec::new();
    for (_, hex) in order {
        let input = if hex {
            match hexes.next().map(|h| wsscope::cli::parse_hex(&h)) {
                Some(Ok(b)) => Input::Binary(b),
                Some(Err(e)) => return fail(format!("--send-hex: {}", e.describe(lang))),
                None => continue,
            }
        } else {
            match texts.next() {
                Some(t) => Input::Text(t),
                None => continue,
            }
        };
        script.push(input);
    }
    let trust = match (args.insecure, args.ca_file) {
        (true, _) => Trust::Insecure,
        (false, Some(p)) => Trust::CaFile(p),
        (false, None) => Trust::System,
    };
    let timeout = Duration::from_secs_f64(args.timeout);
    let config = ClientConfig {
        protocols: args.protocols,
        origin: args.origin,
        headers,
        trust,
        connect_timeout: timeout,
        handshake_timeout: timeout,
        deflate: !args.no_deflate,
        ..ClientConfig::new(url)
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        eprintln!("wsscope connect: Ctrl-C will not close the connection cleanly: {e}");
    }
    let status = run(
        ConnectRun {
            config,
            script: (!script.is_empty()).then_some(script),
            close,
            wait: Duration::from_secs_f64(args.wait),
            level: args.trace.into(),
            record: args.record,
        },
        lang,
        stop,
    );
    ExitCode::from(status)
}

/// `wsscope proxy`.
fn proxy(args: ProxyArgs, lang: Lang) -> ExitCode {
    use wsscope::client::{Trust, WsUrl};
    use wsscope::proxy::ProxyConfig;
    let upstream = match WsUrl::parse(&args.upstream) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("wsscope proxy: --upstream {e}");
            return ExitCode::from(2);
        }
    };
    if args.max_connections == 0 {
        eprintln!("wsscope proxy: --max-connections must be at least 1");
        return ExitCode::from(2);
    }
    let trust = match (args.insecure, args.ca_file) {
        (true, _) => Trust::Insecure,
        (false, Some(p)) => Trust::CaFile(p),
        (false, None) => Trust::System,
    };
    let config = ProxyConfig {
        trust,
        max_connections: args.max_connections,
        deflate: !args.no_deflate,
        ..ProxyConfig::new(args.listen, upstream)
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        eprintln!("wsscope proxy: Ctrl-C will not stop cleanly: {e}");
    }
    let status = wsscope::cli::proxy::run(
        config,
        args.trace.into(),
        lang,
        args.record.as_deref(),
        &stop,
    );
    ExitCode::from(status)
}
