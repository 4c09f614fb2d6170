//! `wsscope connect`: the client in a terminal. Scripted (`--send`, `--send-hex`, then a close)
//! or interactive like websocat and wscat (each stdin line a text message, `/ping`, `/close`,
//! `/hex`...), printing the same trace as `serve`.

use std::io::{BufRead as _, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::trace::{Totals, TraceLevel, Tracer};
use crate::client::{self, ClientConfig, ClientHandle, Context};
use crate::event::{Clock, Command, ConnId, Direction, Event, EventKind};
use crate::explain::hex::parse_hex;
use crate::i18n::Lang;
use crate::record;

/// One thing to send, from `--send`, `--send-hex` or a line typed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping with this payload.
    Ping(Vec<u8>),
    /// A pong with this payload.
    Pong(Vec<u8>),
    /// Bytes written as they are (a hand-made frame).
    Raw(Vec<u8>),
    /// Start the closing handshake.
    Close(u16, String),
    /// Drop TCP without a close frame.
    Disconnect,
}

impl Input {
    /// The command for connection `id`.
    pub fn command(self, id: ConnId) -> Command {
        match self {
            Self::Text(t) => Command::Text(id, t),
            Self::Binary(b) => Command::Binary(id, b),
            Self::Ping(p) => Command::Ping(id, p),
            Self::Pong(p) => Command::Pong(id, p),
            Self::Raw(r) => Command::Raw(id, r),
            Self::Close(code, reason) => Command::Close(id, code, reason),
            Self::Disconnect => Command::Disconnect(id),
        }
    }

    fn is_message(&self) -> bool {
        matches!(self, Self::Text(_) | Self::Binary(_))
    }
}

/// Parses `CODE[:REASON]` (`--close 1000:bye`).
pub fn parse_close(s: &str) -> Result<(u16, String), String> {
    let (code, reason) = s.split_once(':').unwrap_or((s, ""));
    let code: u16 = code
        .trim()
        .parse()
        .map_err(|_| format!("--close {s:?}: the code must be a number such as 1000"))?;
    Ok((code, reason.to_string()))
}

/// One line typed in interactive mode: text, or a `/command`. `//text` sends `/text`.
pub fn parse_line(line: &str) -> Result<Input, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let Some(cmd) = line.strip_prefix('/') else {
        return Ok(Input::Text(line.to_string()));
    };
    if cmd.starts_with('/') {
        return Ok(Input::Text(cmd.to_string()));
    }
    let (name, arg) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let hex = |a: &str| parse_hex(a).map_err(|e| e.describe(Lang::En));
    match name {
        "ping" => Ok(Input::Ping(arg.as_bytes().to_vec())),
        "pong" => Ok(Input::Pong(arg.as_bytes().to_vec())),
        "hex" | "binary" => hex(arg).map(Input::Binary),
        "raw" => hex(arg).map(Input::Raw),
        "close" => {
            let arg = arg.trim();
            if arg.is_empty() {
                return Ok(Input::Close(1000, String::new()));
            }
            let (code, reason) = arg.split_once(' ').unwrap_or((arg, ""));
            parse_close(&format!("{code}:{reason}")).map(|(c, r)| Input::Close(c, r))
        }
        "disconnect" | "quit" => Ok(Input::Disconnect),
        _ => Err(format!(
            "unknown command /{name}: /ping [text], /pong [text], /hex HEX, /raw HEX, /close [CODE [REASON]], /disconnect (//text sends /text)"
        )),
    }
}

/// What `wsscope connect` was asked.
pub struct ConnectRun {
    /// The client's settings.
    pub config: ClientConfig,
    /// What to send after the handshake, in order (`None`: interactive, from stdin).
    pub script: Option<Vec<Input>>,
    /// The close to send after the script (or at the end of stdin).
    pub close: (u16, String),
    /// After the last message is sent, how long to wait for as many answers before closing.
    pub wait: Duration,
    /// Trace detail.
    pub level: TraceLevel,
    /// Also record every event here.
    pub record: Option<std::path::PathBuf>,
}

/// What the user typed, from the stdin thread.
enum Typed {
    Line(String),
    End,
}

/// Runs the client until its connection is over; returns the exit status (0: it opened and
/// closed; 1: it could not connect, was refused, or failed the handshake).
pub fn run(run: ConnectRun, lang: Lang, stop: Arc<AtomicBool>) -> u8 {
    let t = lang.t();
    let clock = Clock::start();
    let mut recorder = match run
        .record
        .as_deref()
        .map(|p| record::Writer::create_with_clock(p, &clock))
    {
        None => None,
        Some(Ok(w)) => Some(w),
        Some(Err(e)) => {
            eprintln!("wsscope connect: cannot record: {e}");
            return 1;
        }
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let ctx = Context {
        clock,
        conn_ids: Arc::new(AtomicU64::new(1)),
        events: tx,
        waker: None,
        in_flight: None,
    };
    let handle = match client::connect(run.config.clone(), ctx) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("wsscope connect: {e}");
            return 1;
        }
    };
    let typed = run.script.is_none().then(stdin_lines);
    let mut session = Session {
        id: handle.id(),
        handle: &handle,
        pending: run.script.clone().unwrap_or_default(),
        scripted: run.script.is_some(),
        close: Some(run.close.clone()),
        wait: run.wait,
        open: false,
        ok: false,
        over: false,
        sent: 0,
        received: 0,
        wait_until: None,
        answer: Vec::new(),
        stop_seen: 0,
    };
    let mut totals = Totals::default();
    let mut tracer = Tracer::default();
    let mut out = std::io::stdout().lock();
    loop {
        let batch = match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(b) => Some(b),
            Err(RecvTimeoutError::Timeout) => None,
            // The client's thread ended: every event is in.
            Err(RecvTimeoutError::Disconnected) => break,
        };
        for event in batch.iter().flatten() {
            if let Some(w) = recorder.as_mut() {
                if let Err(e) = w.write(event) {
                    eprintln!("wsscope connect: recording stopped: {e}");
                    recorder = None;
                }
            }
            totals.add(event);
            if let Some(line) = tracer.line(event, run.level, lang) {
                let _ = writeln!(out, "{line}");
            }
            if run.level == TraceLevel::Full {
                if let EventKind::Handshake(hs) = &event.kind {
                    if let Some(d) = &hs.derivation {
                        let p = super::Paint { color: false };
                        let _ = writeln!(out, "{}", super::render_accept(d, lang, p));
                    }
                }
            }
            session.saw(event);
        }
        let _ = out.flush();
        if let Some(typed) = &typed {
            while let Ok(line) = typed.try_recv() {
                match line {
                    Typed::Line(l) => match parse_line(&l) {
                        Ok(input) => session.pending.push(input),
                        Err(e) => eprintln!("wsscope connect: {e}"),
                    },
                    Typed::End => session.scripted = true,
                }
            }
        }
        let stops = stop.swap(false, Ordering::SeqCst);
        if stops {
            session.stop_seen += 1;
        }
        session.step(stops);
    }
    if let Some(Err(e)) = recorder.as_mut().map(record::Writer::flush) {
        eprintln!("wsscope connect: recording stopped: {e}");
    }
    if !session.answer.is_empty() && !session.ok {
        // A refusal: what the server said, for the reader.
        let _ = writeln!(
            out,
            "{}\n{}",
            t.cn_answer,
            String::from_utf8_lossy(&session.answer)
        );
    }
    let _ = writeln!(out, "{}", totals.text(lang));
    let _ = out.flush();
    let ok = session.ok;
    drop(session);
    handle.join();
    u8::from(!ok)
}

/// The conversation's state, as the events tell it.
struct Session<'a> {
    id: ConnId,
    handle: &'a ClientHandle,
    /// Inputs not sent yet.
    pending: Vec<Input>,
    /// Close once everything is sent and answered (a script, or stdin ended).
    scripted: bool,
    close: Option<(u16, String)>,
    wait: Duration,
    open: bool,
    /// The handshake succeeded.
    ok: bool,
    over: bool,
    sent: usize,
    received: usize,
    wait_until: Option<Instant>,
    /// The server's bytes before the switch (a refusal's head and body), bounded.
    answer: Vec<u8>,
    stop_seen: u32,
}

impl Session<'_> {
    fn saw(&mut self, e: &Event) {
        if e.conn != self.id {
            return;
        }
        match &e.kind {
            EventKind::Handshake(hs) => {
                self.open = hs.accepted() && hs.client_failure().is_none();
                self.ok = self.open;
            }
            EventKind::Tcp {
                direction: Direction::ServerToClient,
                bytes,
            } if !self.open && self.answer.len() < 64 * 1024 => {
                self.answer.extend_from_slice(bytes);
            }
            EventKind::Message {
                direction: Direction::ServerToClient,
                ..
            } => self.received += 1,
            EventKind::Closed { .. } => {
                self.open = false;
                self.over = true;
            }
            _ => {}
        }
    }

    /// Sends what is due; closes when the script is done and answered.
    fn step(&mut self, stop: bool) {
        if self.over {
            return;
        }
        if stop {
            // Ctrl-C: close the RFC way; a second Ctrl-C drops the connection.
            let input = if self.stop_seen > 1 || !self.open {
                Input::Disconnect
            } else {
                let (code, reason) = self.close.take().unwrap_or((1000, String::new()));
                Input::Close(code, reason)
            };
            self.handle.command(input.command(self.id));
            return;
        }
        if !self.open {
            return;
        }
        for input in self.pending.drain(..) {
            if input.is_message() {
                self.sent += 1;
                self.wait_until = Some(Instant::now() + self.wait);
            }
            if matches!(input, Input::Close(..) | Input::Disconnect) {
                self.close = None;
            }
            self.handle.command(input.command(self.id));
        }
        if !self.scripted {
            return;
        }
        let answered = self.received >= self.sent;
        let waited = self.wait_until.is_none_or(|t| Instant::now() >= t);
        if answered || waited {
            if let Some((code, reason)) = self.close.take() {
                self.handle.command(Command::Close(self.id, code, reason));
            }
        }
    }
}

/// Lines from stdin, on a thread of their own (a blocking read); `End` at the end of input.
fn stdin_lines() -> Receiver<Typed> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let spawned = std::thread::Builder::new()
        .name("wsscope-stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(Typed::Line(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Typed::End);
        });
    if spawned.is_err() {
        // No thread for stdin: behave as if it were empty (send nothing, then close).
        let (tx, rx) = crossbeam_channel::bounded(1);
        let _ = tx.send(Typed::End);
        return rx;
    }
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_commands_parse() {
        assert_eq!(
            parse_line("hello 你好"),
            Ok(Input::Text("hello 你好".into()))
        );
        assert_eq!(parse_line("//x"), Ok(Input::Text("/x".into())));
        assert_eq!(parse_line("/ping hi"), Ok(Input::Ping(b"hi".to_vec())));
        assert_eq!(parse_line("/hex 01 02"), Ok(Input::Binary(vec![1, 2])));
        assert_eq!(parse_line("/raw 8900"), Ok(Input::Raw(vec![0x89, 0])));
        assert_eq!(
            parse_line("/close 1000 bye now"),
            Ok(Input::Close(1000, "bye now".into()))
        );
        assert_eq!(parse_line("/close"), Ok(Input::Close(1000, String::new())));
        assert!(parse_line("/close abc").is_err());
        assert!(parse_line("/hex zz").is_err());
        assert!(parse_line("/nope").is_err());
        assert_eq!(parse_close("1001:going"), Ok((1001, "going".into())));
        assert_eq!(parse_close("1000"), Ok((1000, String::new())));
        assert!(parse_close("x").is_err());
    }
}
