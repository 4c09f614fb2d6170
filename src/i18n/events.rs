//! Events put into words: limits with their numbers, errors, HTTP answers. The engine gives
//! data; the CLI trace and the window's status line both say it with these.

use std::net::SocketAddr;

use super::{fill, Lang};
use crate::event::{
    Direction, ErrorKind, GapCause, HttpOutcome, IoFailure, IoKind, LimitKind, RequestLine,
    SendRefusal, TlsInfo, TlsTrust,
};

/// A limit that was hit, with the limit in force and what was seen.
pub fn limit_text(lang: Lang, kind: LimitKind, limit: u64, actual: u64) -> String {
    let t = lang.t();
    let template = match kind {
        LimitKind::HandshakeBytes => t.ev_limit_handshake_bytes,
        LimitKind::HandshakeHeaders => t.ev_limit_handshake_headers,
        LimitKind::HandshakeTimeout => t.ev_limit_handshake_timeout,
        LimitKind::Connections => t.ev_limit_connections,
        LimitKind::FrameSize => t.ev_limit_frame,
        LimitKind::MessageSize => t.ev_limit_message,
        LimitKind::CloseTimeout => t.ev_limit_close_timeout,
        LimitKind::PingTimeout => t.ev_limit_ping_timeout,
        LimitKind::ReadsPaused => t.ev_limit_reads_paused,
        LimitKind::AllReadsPaused => t.ev_limit_all_reads_paused,
    };
    fill(template, &[&limit, &actual])
}

/// An I/O failure: its kind, and the OS error number when there is one.
pub fn io_text(lang: Lang, e: &IoFailure) -> String {
    let t = lang.t();
    let kind = match e.kind {
        IoKind::ConnectionReset => t.io_reset,
        IoKind::ConnectionAborted => t.io_aborted,
        IoKind::BrokenPipe => t.io_broken_pipe,
        IoKind::WriteZero => t.io_write_zero,
        IoKind::TimedOut => t.io_timed_out,
        IoKind::OutOfResources => t.io_resources,
        IoKind::PermissionDenied => t.io_permission,
        IoKind::AddrInUse => t.io_addr_in_use,
        IoKind::ConnectionRefused => t.io_refused,
        IoKind::Unreachable => t.io_unreachable,
        IoKind::Other => t.io_other,
    };
    match e.os_code {
        Some(code) => fill(t.io_os_code, &[&kind, &code]),
        None => kind.to_string(),
    }
}

/// An error event.
pub fn error_text(lang: Lang, e: &ErrorKind) -> String {
    let t = lang.t();
    match e {
        ErrorKind::Accept(io) => fill(t.ev_err_accept, &[&io_text(lang, io)]),
        ErrorKind::EventLoop(io) => fill(t.ev_err_event_loop, &[&io_text(lang, io)]),
        ErrorKind::Setup(io) => fill(t.ev_err_setup, &[&io_text(lang, io)]),
        ErrorKind::NoEventLoop => t.ev_err_no_loop.to_string(),
        ErrorKind::Read(io) => fill(t.ev_err_read, &[&io_text(lang, io)]),
        ErrorKind::Write(io) => fill(t.ev_err_write, &[&io_text(lang, io)]),
        ErrorKind::NotOpen => t.ev_err_not_open.to_string(),
        ErrorKind::NotSent(SendRefusal::Closed) => t.ev_err_not_sent_closed.to_string(),
        ErrorKind::NotSent(SendRefusal::ControlTooLong(n)) => fill(t.ev_err_not_sent_control, &[n]),
        ErrorKind::NotSent(SendRefusal::ReasonTooLong(n)) => fill(t.ev_err_not_sent_reason, &[n]),
        ErrorKind::Gap {
            direction,
            offset,
            missing,
            cause,
        } => {
            let stream = match direction {
                Direction::ClientToServer => t.ev_dir_c2s,
                Direction::ServerToClient => t.ev_dir_s2c,
            };
            let cause = match cause {
                GapCause::Closed => t.ev_gap_closed.to_string(),
                GapCause::EndOfFile => t.ev_gap_eof.to_string(),
                GapCause::BufferFull { limit } => fill(t.ev_gap_full, &[limit]),
                GapCause::Evicted => t.ev_gap_evicted.to_string(),
            };
            fill(t.ev_err_gap, &[missing, &stream, offset, &cause])
        }
        ErrorKind::FlowLimit { limit } => fill(t.ev_err_flow_limit, &[limit]),
        // httparse's own words: data, like a header value.
        ErrorKind::BadResponse(why) => fill(t.ev_err_bad_response, &[why]),
        // The resolver's, rustls's and the client's own words: data, like httparse's.
        ErrorKind::Resolve { host, why } => fill(t.ev_err_resolve, &[host, why]),
        ErrorKind::Connect { addr, failure } => {
            fill(t.ev_err_connect, &[addr, &io_text(lang, failure)])
        }
        ErrorKind::Tls(why) if why.contains("certificate") => {
            fill(t.ev_err_tls, &[why]) + t.ev_err_tls_cert_hint
        }
        ErrorKind::Tls(why) => fill(t.ev_err_tls, &[why]),
        ErrorKind::Client(why) => fill(t.ev_err_client, &[why]),
        ErrorKind::OwnFrameTooBig {
            direction,
            offset,
            announced,
            limit,
        } => {
            let stream = match direction {
                Direction::ClientToServer => t.ev_dir_c2s,
                Direction::ServerToClient => t.ev_dir_s2c,
            };
            fill(t.ev_err_own_frame, &[&stream, offset, announced, limit])
        }
    }
}

/// A TLS session, on one line.
pub fn tls_text(lang: Lang, info: &TlsInfo) -> String {
    let t = lang.t();
    let trust = match &info.trust {
        TlsTrust::SystemRoots => t.tls_trust_system.to_string(),
        TlsTrust::CaFile(path) => fill(t.tls_trust_ca_file, &[path]),
        TlsTrust::Insecure => t.tls_trust_insecure.to_string(),
    };
    fill(
        t.tr_tls,
        &[
            &info.version,
            &info.cipher_suite,
            &info.server_name,
            &info.certificates,
            &trust,
        ],
    )
}

/// Why a plain HTTP answer was given.
pub fn http_reason(lang: Lang, outcome: &HttpOutcome, request: Option<&RequestLine>) -> String {
    let t = lang.t();
    let method = request.map_or("?", |r| r.method.as_str());
    let path = request.map_or("?", |r| r.path.as_str());
    match outcome {
        HttpOutcome::DemoPage => t.http_demo_page.to_string(),
        HttpOutcome::MethodNotAllowed => fill(t.http_method, &[&method]),
        HttpOutcome::NotFound => fill(t.http_not_found, &[&path]),
        HttpOutcome::UpgradeRefused => t.http_upgrade_refused.to_string(),
        // httparse's own words for what it could not parse: data, like a header value.
        HttpOutcome::Malformed(why) => fill(t.http_malformed, &[why]),
        HttpOutcome::HeadTooLarge => t.http_too_large.to_string(),
        HttpOutcome::TooManyHeaders => t.http_too_many_headers.to_string(),
        HttpOutcome::HandshakeTimeout => t.http_timeout.to_string(),
        HttpOutcome::Busy => t.http_busy.to_string(),
        HttpOutcome::ServerAnswer => t.http_server_answer.to_string(),
        HttpOutcome::BadGateway(why) => fill(t.http_bad_gateway, &[why]),
        // The Host as sent: data, like a header value.
        HttpOutcome::HostNotAllowed(host) => fill(t.http_host_not_allowed, &[host]),
    }
}

/// A request's method and target, or a word saying it did not parse.
pub fn request_text(lang: Lang, request: Option<&RequestLine>) -> String {
    match request {
        Some(r) => format!("{} {}", r.method, r.path),
        None => lang.t().http_unparsed.to_string(),
    }
}

/// The warning shown while listening beyond this computer, or `None` on loopback.
pub fn listening_warning(lang: Lang, addr: SocketAddr) -> Option<String> {
    (!addr.ip().is_loopback()).then(|| fill(lang.t().non_loopback, &[&addr]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both numbers of a limit are in its text, in both languages, untranslated.
    #[test]
    fn limits_say_both_numbers() {
        for lang in [Lang::En, Lang::Zh] {
            let s = limit_text(lang, LimitKind::FrameSize, 1024, 4096);
            assert!(
                s.contains("1024") && s.contains("4096") && s.contains("1009"),
                "{s}"
            );
        }
    }

    /// A pause says what was in flight against which bound, and whom it pauses: one of the
    /// busiest connections, or every WebSocket.
    #[test]
    fn pauses_say_the_bytes_and_whom() {
        for lang in [Lang::En, Lang::Zh] {
            let one = limit_text(lang, LimitKind::ReadsPaused, 262_144, 300_000);
            let all = limit_text(lang, LimitKind::AllReadsPaused, 1_310_720, 1_400_000);
            assert!(one.contains("262144") && one.contains("300000"), "{one}");
            assert!(all.contains("1310720") && all.contains("1400000"), "{all}");
            assert!(
                all.contains("WebSocket") && !one.contains("WebSocket"),
                "{one} / {all}"
            );
        }
    }

    #[test]
    fn io_failures_name_the_os_error() {
        let e = IoFailure {
            kind: IoKind::ConnectionReset,
            os_code: Some(104),
        };
        assert_eq!(
            io_text(Lang::En, &e),
            "the peer reset the connection (OS error 104)"
        );
        assert!(io_text(Lang::Zh, &e).contains("104"));
    }

    #[test]
    fn only_a_non_loopback_address_warns() {
        let lo: SocketAddr = ([127, 0, 0, 1], 8765).into();
        let any: SocketAddr = ([0, 0, 0, 0], 8765).into();
        assert!(listening_warning(Lang::En, lo).is_none());
        assert!(listening_warning(Lang::Zh, any).is_some_and(|w| w.contains("0.0.0.0:8765")));
    }
}
