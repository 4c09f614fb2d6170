//! Export over a real session: the real server, a tungstenite client (text with non-ASCII,
//! binary, a fragmented message, a ping, a 70,000-byte message, a close), a refused upgrade and
//! a plain HTTP request; the events written as pcap and read back by tshark, and as HAR and
//! parsed back; and `wsscope export` over a recorded capture, whole and with a bad line.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode as WsOp};
use tungstenite::protocol::frame::Frame as WsFrame;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message as M;
mod common;
use common::{tshark, tshark_run as run};
use wsscope::event::{Direction, Event, EventKind};
use wsscope::export::{write_har, write_pcap};
use wsscope::protocol::OpCode;
use wsscope::server::{ServerConfig, Supervisor};

const TEXT: &str = "héllo, 世界 👋";
const BIG: usize = 70_000;

fn big_payload() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

/// The client's script: every message is echoed by the server, and read back before the next.
fn websocket_client(addr: SocketAddr) {
    let url = format!("ws://{addr}/chat?room=1&name=%E4%BD%A0");
    let (mut ws, _) = tungstenite::connect(url).unwrap_or_else(|e| panic!("{e}"));
    let echo = |ws: &mut tungstenite::WebSocket<_>| loop {
        match ws.read() {
            Ok(M::Text(_) | M::Binary(_) | M::Pong(_)) => return,
            Ok(_) => {}
            Err(e) => panic!("no echo: {e}"),
        }
    };
    let send = |ws: &mut tungstenite::WebSocket<_>, m: M| {
        ws.send(m).unwrap_or_else(|e| panic!("{e}"));
    };
    send(&mut ws, M::text(TEXT));
    echo(&mut ws);
    send(&mut ws, M::binary(vec![0u8, 1, 2, 0xff]));
    echo(&mut ws);
    for (part, op, fin) in [
        ("frag", WsOp::Data(Data::Text), false),
        ("ment", WsOp::Data(Data::Continue), false),
        ("ed", WsOp::Data(Data::Continue), true),
    ] {
        send(&mut ws, M::Frame(WsFrame::message(part, op, fin)));
    }
    echo(&mut ws);
    send(&mut ws, M::Ping(b"are you there".to_vec().into()));
    echo(&mut ws);
    send(&mut ws, M::binary(big_payload()));
    echo(&mut ws);
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => return,
            Err(e) => panic!("no clean close: {e}"),
        }
    }
}

/// Sends `request` on its own connection and reads the answer to the end.
fn raw_request(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("{e}"));
    s.write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Every event of a session: the WebSocket client (connection 1), a refused upgrade (2: no
/// key, 400) and a plain request (3: 404), one after the other.
fn session() -> Vec<Event> {
    let mut sup = Supervisor::new(None);
    let addr = sup
        .start(ServerConfig {
            port: 0,
            ..ServerConfig::default()
        })
        .unwrap_or_else(|e| panic!("cannot start: {e}"));
    let mut events = Vec::new();
    let wait_closed = |sup: &mut Supervisor, events: &mut Vec<Event>, conn: u64| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !events
            .iter()
            .any(|e| e.conn == conn && matches!(e.kind, EventKind::Closed { .. }))
        {
            assert!(Instant::now() < deadline, "connection {conn} did not close");
            sup.drain(Duration::from_millis(20), |b| events.extend(b));
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let client = std::thread::spawn(move || websocket_client(addr));
    wait_closed(&mut sup, &mut events, 1);
    client
        .join()
        .unwrap_or_else(|_| panic!("the client panicked"));
    let refused = raw_request(
        addr,
        "GET /chat HTTP/1.1\r\nHost: refused.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    wait_closed(&mut sup, &mut events, 2);
    let missing = raw_request(
        addr,
        "GET /missing?x=1 HTTP/1.1\r\nHost: plain.localhost\r\nCookie: a=1; b=2\r\n\r\n",
    );
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    wait_closed(&mut sup, &mut events, 3);
    sup.shutdown(Duration::from_millis(200), |b| events.extend(b));
    events
}

fn out_path(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("export");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir.join(name)
}

/// One frame as tshark and the events both describe it.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    from_client: bool,
    opcode: u8,
    len: u64,
    fin: bool,
    masked: bool,
}

/// What tshark shows of the payloads, per kind, in order: texts (messages, reassembled),
/// binary messages, pings, pongs and close frames (code and reason), each with its direction.
#[derive(Debug, Default, PartialEq, Eq)]
struct Payloads {
    texts: Vec<(bool, String)>,
    binaries: Vec<(bool, String)>,
    pings: Vec<(bool, String)>,
    pongs: Vec<(bool, String)>,
    closes: Vec<(bool, String)>,
}

/// Short enough to print when a comparison fails: long values keep their start, length and hash.
fn short(s: String) -> String {
    if s.len() <= 120 {
        return s;
    }
    let fnv = s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let head: String = s.chars().take(40).collect();
    format!("{head}…[{} bytes, fnv {fnv:016x}]", s.len())
}

/// Bytes as tshark's fields print them.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The frames and payloads tshark finds in `pcap` (with `extra` options), the server on `port`.
fn tshark_view(tshark: &str, pcap: &Path, port: u16, extra: &[&str]) -> (Vec<Seen>, Payloads) {
    const FIELDS: [&str; 14] = [
        "tcp.srcport",
        "websocket.opcode",
        "websocket.payload_length",
        "websocket.payload_length_ext_16",
        "websocket.payload_length_ext_64",
        "websocket.fin",
        "websocket.mask",
        "websocket.payload.text",
        "data.data",
        "websocket.payload.ping",
        "websocket.payload.pong",
        "websocket.payload.close.status_code",
        "websocket.payload.close.reason",
        "frame.number",
    ];
    // Fields and occurrences apart by control characters no payload here contains (the text
    // has a comma, tshark's default).
    let mut args = vec![
        "-r",
        pcap.to_str().unwrap_or_else(|| panic!("path")),
        "-Y",
        "websocket",
        "-T",
        "fields",
        "-E",
        "separator=\u{1e}",
        "-E",
        "aggregator=\u{1f}",
    ];
    args.extend_from_slice(extra);
    for f in FIELDS {
        args.extend(["-e", f]);
    }
    let out = run(tshark, &args);
    let mut frames = Vec::new();
    let mut payloads = Payloads::default();
    for row in out.lines() {
        let cols: Vec<Vec<String>> = row
            .split('\u{1e}')
            .map(|c| {
                c.split('\u{1f}')
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .collect();
        assert_eq!(cols.len(), FIELDS.len(), "{}", short(row.to_string()));
        let from_client = cols[0].first().map(String::as_str) != Some(&port.to_string());
        let num = |v: &str| -> u64 { v.parse().unwrap_or_else(|e| panic!("{e}: {v:?}")) };
        let (mut ext16, mut ext64) = (cols[3].iter(), cols[4].iter());
        for i in 0..cols[1].len() {
            // The 7-bit length says which extended length (if any) is this frame's.
            let len7 = num(&cols[2][i]);
            let len = match len7 {
                126 => ext16.next().map(|v| num(v)),
                127 => ext64.next().map(|v| num(v)),
                n => Some(n),
            }
            .unwrap_or_else(|| panic!("no extended length in {}", short(row.to_string())));
            let flag = |c: usize| cols[c].get(i).is_some_and(|v| v == "1" || v == "True");
            frames.push(Seen {
                from_client,
                opcode: num(&cols[1][i]) as u8,
                len,
                fin: flag(5),
                masked: flag(6),
            });
        }
        let each = |c: usize| cols[c].iter().map(move |v| (from_client, short(v.clone())));
        payloads.texts.extend(each(7));
        payloads.binaries.extend(each(8));
        payloads.pings.extend(each(9));
        payloads.pongs.extend(each(10));
        for (code, reason) in cols[11]
            .iter()
            .zip(cols[12].iter().chain(std::iter::repeat(&String::new())))
        {
            payloads
                .closes
                .push((from_client, format!("{code} {reason}")));
        }
    }
    (frames, payloads)
}

/// The same, from the events.
fn events_view(events: &[Event]) -> (Vec<Seen>, Payloads) {
    let mut frames = Vec::new();
    let mut payloads = Payloads::default();
    for e in events {
        match &e.kind {
            EventKind::Frame { direction, frame } => {
                let from_client = *direction == Direction::ClientToServer;
                frames.push(Seen {
                    from_client,
                    opcode: frame.header.opcode.into(),
                    len: frame.header.payload_len,
                    fin: frame.header.fin,
                    masked: frame.header.mask_key.is_some(),
                });
                let p = &frame.payload;
                match frame.header.opcode {
                    OpCode::Ping => payloads.pings.push((from_client, short(hex(p)))),
                    OpCode::Pong => payloads.pongs.push((from_client, short(hex(p)))),
                    OpCode::Close if p.len() >= 2 => payloads.closes.push((
                        from_client,
                        format!(
                            "{} {}",
                            u16::from_be_bytes([p[0], p[1]]),
                            String::from_utf8_lossy(&p[2..])
                        ),
                    )),
                    _ => {}
                }
            }
            EventKind::Message { direction, message } => {
                let from_client = *direction == Direction::ClientToServer;
                let p = &message.payload;
                if message.opcode == OpCode::Text {
                    let text = String::from_utf8_lossy(p).into_owned();
                    payloads.texts.push((from_client, short(text)));
                } else {
                    payloads.binaries.push((from_client, short(hex(p))));
                }
            }
            _ => {}
        }
    }
    (frames, payloads)
}

/// The events of one real session, shared by the tests (a session takes seconds).
fn shared_session() -> &'static [Event] {
    static EVENTS: std::sync::OnceLock<Vec<Event>> = std::sync::OnceLock::new();
    EVENTS.get_or_init(session)
}

/// Writes `events` as a pcap named `name`; checks what tshark reads against the events.
fn check_pcap(
    tshark: &str,
    events: &[Event],
    name: &str,
    port: u16,
    conns: usize,
    options: &[&str],
) {
    let path = out_path(name);
    let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    let summary = write_pcap(events.to_vec(), std::io::BufWriter::new(file))
        .unwrap_or_else(|e| panic!("{e}"));
    let p = path.to_str().unwrap_or_else(|| panic!("path"));
    // Every packet made it, and TCP analysis and the checksums (verified) are silent: no lost
    // segment, retransmission, window or checksum warning anywhere.
    let count = run(tshark, &["-r", p, "-T", "fields", "-e", "frame.number"]);
    assert_eq!(count.lines().count() as u64, summary.packets, "{name}");
    // Read as the user is told to read it (`options`: Decode As on a port another protocol
    // owns): without them, IRC's dissector on 6667 judges the masked bytes, which differ with
    // every run's masking keys, and flags some of them.
    let mut args = vec![
        "-r",
        p,
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
        "-Y",
        "tcp.analysis.flags || _ws.expert.severity >= warning || tcp.checksum.status == \"Bad\" || ip.checksum.status == \"Bad\" || _ws.malformed",
    ];
    args.extend_from_slice(options);
    let flagged = run(tshark, &args);
    assert_eq!(flagged.trim(), "", "{name}: tshark flags packets");
    let conv = run(tshark, &["-r", p, "-q", "-z", "conv,tcp"]);
    assert_eq!(
        conv.lines().filter(|l| l.contains("<->")).count(),
        conns,
        "{name}: {conv}"
    );
    // With no option, Wireshark's HTTP heuristic finds the request on any port that no other
    // dissector claims, and the 101 hands the rest of the conversation to the WebSocket one.
    let (frames, payloads) = tshark_view(tshark, &path, port, options);
    let (want_frames, want_payloads) = events_view(events);
    assert_eq!(frames, want_frames, "{name}");
    assert_eq!(payloads, want_payloads, "{name}");
}

#[test]
fn pcap_export_reads_back_in_tshark_as_the_same_frames() {
    let events = shared_session();
    let tcp_bytes: u64 = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::Tcp { bytes, .. } => bytes.len() as u64,
            _ => 0,
        })
        .sum();
    let summary = write_pcap(events.to_vec(), std::io::sink()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.connections, 3);
    assert_eq!(summary.bytes, tcp_bytes);
    // The session's shape, so a change in the server cannot make both sides empty.
    let (frames, payloads) = events_view(events);
    assert!(frames.len() >= 14, "{frames:#?}");
    assert!(frames.iter().any(|f| f.len == BIG as u64 && f.from_client));
    assert_eq!(payloads.texts.len(), 4);
    assert_eq!(payloads.texts[0], (true, TEXT.to_string()));
    assert_eq!(payloads.binaries.len(), 4);
    assert_eq!(payloads.closes.len(), 2);

    let Some(tshark) = tshark() else { return };
    let port = events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Opened { server, .. } => Some(server.port()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Opened event"));
    check_pcap(tshark, events, "session.pcap", port, 3, &[]);

    // The same connections over IPv6.
    let v6: Vec<Event> = events
        .iter()
        .cloned()
        .map(|mut e| {
            if let EventKind::Opened { client, server, .. } = &mut e.kind {
                client.set_ip("::1".parse().unwrap_or_else(|e| panic!("{e}")));
                server.set_ip("::1".parse().unwrap_or_else(|e| panic!("{e}")));
            }
            e
        })
        .collect();
    check_pcap(tshark, &v6, "session-v6.pcap", port, 3, &[]);

    // Without Opened events: synthesized addresses, the server on port 80.
    let bare: Vec<Event> = events
        .iter()
        .filter(|e| !matches!(e.kind, EventKind::Opened { .. }))
        .cloned()
        .collect();
    check_pcap(tshark, &bare, "session-no-opened.pcap", 80, 3, &[]);
    let path = out_path("session-no-opened.pcap");
    let hosts = run(
        tshark,
        &[
            "-r",
            path.to_str().unwrap_or_default(),
            "-Y",
            "tcp.flags.syn == 1 && tcp.flags.ack == 0",
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "tcp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "tcp.dstport",
        ],
    );
    assert_eq!(
        hosts.lines().collect::<Vec<_>>(),
        [
            "10.1.0.0\t1025\t10.0.0.1\t80",
            "10.1.0.0\t1026\t10.0.0.1\t80",
            "10.1.0.0\t1027\t10.0.0.1\t80"
        ]
    );

    // On a port whose registered dissector takes any bytes (IRC's 6667; likewise MQTT's 1883,
    // XMPP's 5222), the heuristic never runs: nothing reads as WebSocket until the port is
    // decoded as HTTP (Wireshark: Analyze → Decode As…; tshark: -d), or heuristics are tried
    // first. (Ports whose dissector rejects HTTP, like the seed's 6666, need nothing.)
    let seed: Vec<Event> = events
        .iter()
        .cloned()
        .map(|mut e| {
            if let EventKind::Opened { server, .. } = &mut e.kind {
                server.set_port(6667);
            }
            e
        })
        .collect();
    let path = out_path("session-6667.pcap");
    let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    write_pcap(seed.clone(), std::io::BufWriter::new(file)).unwrap_or_else(|e| panic!("{e}"));
    let (frames, _) = tshark_view(tshark, &path, 6667, &[]);
    assert!(frames.is_empty(), "{frames:?}");
    check_pcap(
        tshark,
        &seed,
        "session-6667.pcap",
        6667,
        3,
        &["-d", "tcp.port==6667,http"],
    );
    check_pcap(
        tshark,
        &seed,
        "session-6667.pcap",
        6667,
        3,
        &["-o", "tcp.try_heuristic_first:TRUE"],
    );
}

#[test]
fn har_export_lists_the_upgrade_its_messages_and_the_plain_answers() {
    let events = shared_session();
    let path = out_path("session.har");
    let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    let summary =
        write_har(events.to_vec(), std::io::BufWriter::new(file)).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let har: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(har["log"]["version"], "1.2");
    let entries = har["log"]["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries"));
    assert_eq!(entries.len(), 3);
    assert_eq!(summary.entries, 3);
    assert_eq!(summary.websockets, 2);
    // Connection 0 (listening, stopping) is no connection: nothing is left out.
    assert_eq!(summary.skipped, 0);

    let ws = &entries[0];
    let server = events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Opened { server, .. } => Some(server),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Opened"));
    assert_eq!(ws["_resourceType"], "websocket");
    assert_eq!(ws["request"]["method"], "GET");
    assert_eq!(
        ws["request"]["url"],
        format!("ws://{server}/chat?room=1&name=%E4%BD%A0")
    );
    assert_eq!(ws["request"]["httpVersion"], "HTTP/1.1");
    assert_eq!(
        ws["request"]["queryString"],
        serde_json::json!([{"name": "room", "value": "1"}, {"name": "name", "value": "你"}])
    );
    let header = |h: &serde_json::Value, name: &str| {
        h.as_array()
            .and_then(|a| {
                a.iter().find(|x| {
                    x["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
            })
            .map(|x| x["value"].clone())
    };
    assert_eq!(
        header(&ws["request"]["headers"], "Upgrade"),
        Some("websocket".into())
    );
    assert_eq!(ws["response"]["status"], 101);
    assert_eq!(ws["response"]["statusText"], "Switching Protocols");
    assert!(header(&ws["response"]["headers"], "Sec-WebSocket-Accept").is_some());
    // startedDateTime is the open time on the wall clock.
    let unix_micros = events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Clock { unix_micros } => Some(unix_micros),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no clock"));
    let started = ws["startedDateTime"].as_str().unwrap_or_default();
    assert!(started.ends_with('Z') && started.len() == 24, "{started}");
    assert!(ws["time"].as_f64().is_some_and(|t| t > 0.0));

    // The messages: every data message of the events, in order, from the client's side.
    let messages = ws["_webSocketMessages"]
        .as_array()
        .unwrap_or_else(|| panic!("no _webSocketMessages"));
    let expected: Vec<(&str, u64, String, f64)> = events
        .iter()
        .filter(|e| e.conn == 1)
        .filter_map(|e| match &e.kind {
            EventKind::Message { direction, message } => Some((
                if *direction == Direction::ClientToServer {
                    "send"
                } else {
                    "receive"
                },
                if message.opcode == OpCode::Text { 1 } else { 2 },
                if message.opcode == OpCode::Text {
                    String::from_utf8_lossy(&message.payload).into_owned()
                } else {
                    base64::engine::general_purpose::STANDARD.encode(&message.payload)
                },
                (unix_micros as f64 + e.time.as_micros() as f64) / 1e6,
            )),
            _ => None,
        })
        .collect();
    // text, binary, the fragmented text and the big binary, each echoed.
    assert_eq!(expected.len(), 8);
    assert_eq!(messages.len(), expected.len());
    assert_eq!(summary.messages, 8);
    let mut last = 0.0;
    for (m, (kind, opcode, data, time)) in messages.iter().zip(&expected) {
        assert_eq!(m["type"], *kind);
        assert_eq!(m["opcode"], *opcode);
        assert_eq!(m["data"].as_str(), Some(data.as_str()));
        let t = m["time"].as_f64().unwrap_or_default();
        assert!((t - time).abs() < 1e-6, "{t} vs {time}");
        assert!(t >= last, "times go back: {t} after {last}");
        last = t;
    }
    assert_eq!(messages[0]["data"], TEXT);
    assert_eq!(messages[2]["data"], "AAEC/w==");
    assert_eq!(messages[4]["data"], "fragmented");
    let big = base64::engine::general_purpose::STANDARD.encode(big_payload());
    assert_eq!(messages[6]["data"].as_str(), Some(big.as_str()));

    // The refused upgrade and the plain request are ordinary entries with their status.
    let refused = &entries[1];
    assert_eq!(refused["response"]["status"], 400);
    assert_eq!(refused["request"]["url"], "ws://refused.localhost/chat");
    assert_eq!(refused["_webSocketMessages"], serde_json::json!([]));
    let plain = &entries[2];
    assert_eq!(plain["_resourceType"], "other");
    assert_eq!(plain["response"]["status"], 404);
    assert_eq!(
        plain["request"]["url"],
        "http://plain.localhost/missing?x=1"
    );
    assert_eq!(
        plain["request"]["cookies"],
        serde_json::json!([{"name": "a", "value": "1"}, {"name": "b", "value": "2"}])
    );
    assert!(plain.get("_webSocketMessages").is_none());
    assert!(plain["response"]["bodySize"]
        .as_u64()
        .is_some_and(|b| b > 0));
}

/// Writes the shared session as a capture file (as `serve --record` does) at `path`.
fn record_session(path: &Path) -> u64 {
    let events = shared_session();
    let unix_micros = events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Clock { unix_micros } => Some(unix_micros),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no clock"));
    let clock = wsscope::event::Clock {
        epoch: Instant::now(),
        wall: std::time::UNIX_EPOCH + Duration::from_micros(unix_micros),
    };
    let mut w =
        wsscope::record::Writer::create_with_clock(path, &clock).unwrap_or_else(|e| panic!("{e}"));
    for e in events {
        w.write(e).unwrap_or_else(|e| panic!("{e}"));
    }
    w.flush().unwrap_or_else(|e| panic!("{e}"));
    unix_micros
}

fn wsscope_export(input: &Path, to: &str, output: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wsscope"))
        .arg("export")
        .arg(input)
        .args(["--to", to, "-o"])
        .arg(output)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read_capture(path: &Path) -> Vec<Event> {
    wsscope::record::Reader::open(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| e.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

#[test]
fn cli_export_writes_each_format_and_stops_at_a_bad_line() {
    let input = out_path("cli-session.jsonl");
    record_session(&input);

    // JSON lines: the same events and the same time zero.
    let copy = out_path("cli-copy.jsonl");
    let (ok, stderr) = wsscope_export(&input, "jsonl", &copy);
    assert!(ok, "{stderr}");
    assert_eq!(read_capture(&copy), read_capture(&input));
    let header = |p: &Path| {
        wsscope::record::Reader::open(p)
            .unwrap_or_else(|e| panic!("{e}"))
            .header()
            .unix_us
    };
    assert_eq!(header(&copy), header(&input));

    // pcap: what tshark reads is the capture's frames.
    let pcap = out_path("cli-session.pcap");
    let (ok, stderr) = wsscope_export(&input, "pcap", &pcap);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("TCP connections: 3,"), "{stderr}");
    if let Some(tshark) = tshark() {
        let port = shared_session()
            .iter()
            .find_map(|e| match e.kind {
                EventKind::Opened { server, .. } => Some(server.port()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no Opened"));
        let (frames, payloads) = tshark_view(tshark, &pcap, port, &[]);
        let (want_frames, want_payloads) = events_view(shared_session());
        assert_eq!(frames, want_frames);
        assert_eq!(payloads, want_payloads);
    }

    // HAR: three entries, the WebSocket one with its eight messages.
    let har = out_path("cli-session.har");
    let (ok, stderr) = wsscope_export(&input, "har", &har);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("entries: 3 (2 WebSocket), messages: 8") && !stderr.contains("left out"),
        "{stderr}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&har).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["log"]["entries"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        doc["log"]["entries"][0]["_webSocketMessages"]
            .as_array()
            .map(Vec::len),
        Some(8)
    );

    // A full disk is said as such, naming the file.
    if Path::new("/dev/full").exists() {
        for to in ["pcap", "har", "jsonl"] {
            let (ok, stderr) = wsscope_export(&input, to, Path::new("/dev/full"));
            assert!(!ok, "{to}");
            assert!(
                stderr.contains("/dev/full") && stderr.contains("No space left"),
                "{to}: {stderr}"
            );
        }
    }

    // A bad line after connection 1 closed: the export stops there with the reader's error
    // (file, line, byte offset) and status 1, and the output holds connection 1.
    let text = std::fs::read_to_string(&input).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines
        .iter()
        .position(|l| l.contains("\"closed\"") || l.contains("\"Closed\""))
        .unwrap_or_else(|| panic!("no close line in the capture"))
        + 1;
    let bad = out_path("cli-bad.jsonl");
    let mut damaged = lines[..cut].join("\n");
    damaged.push_str("\n{\"this is\": not json\n");
    damaged.push_str(&lines[cut..].join("\n"));
    damaged.push('\n');
    std::fs::write(&bad, damaged).unwrap_or_else(|e| panic!("{e}"));
    let bad_line = format!("line {}", cut + 1);
    let pcap = out_path("cli-bad.pcap");
    let (ok, stderr) = wsscope_export(&bad, "pcap", &pcap);
    assert!(!ok);
    assert!(
        stderr.contains(&bad_line) && stderr.contains("cli-bad.jsonl"),
        "{stderr}"
    );
    assert!(stderr.contains("TCP connections: 1,"), "{stderr}");
    if let Some(tshark) = tshark() {
        let conv = run(
            tshark,
            &[
                "-r",
                pcap.to_str().unwrap_or_default(),
                "-q",
                "-z",
                "conv,tcp",
            ],
        );
        assert_eq!(
            conv.lines().filter(|l| l.contains("<->")).count(),
            1,
            "{conv}"
        );
    }
    let har = out_path("cli-bad.har");
    let (ok, stderr) = wsscope_export(&bad, "har", &har);
    assert!(!ok);
    assert!(stderr.contains(&bad_line), "{stderr}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&har).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["log"]["entries"].as_array().map(Vec::len), Some(1));
}

/// `wsscope export` takes a tcpdump capture too: as JSON lines it is the importer's events
/// (the file's time zero in the header), as HAR its messages.
#[test]
fn cli_export_takes_a_pcap() {
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ws-lo.pcap");
    let imported: Vec<Event> = wsscope::import::open(&pcap)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let jsonl = out_path("from-pcap.jsonl");
    let (ok, stderr) = wsscope_export(&pcap, "jsonl", &jsonl);
    assert!(ok, "{stderr}");
    let unix = imported.iter().find_map(|e| match e.kind {
        EventKind::Clock { unix_micros } => Some(unix_micros),
        _ => None,
    });
    let reader = wsscope::record::Reader::open(&jsonl).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(Some(reader.header().unix_us), unix);
    let back: Vec<Event> = reader
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let without_clock: Vec<&Event> = imported
        .iter()
        .filter(|e| !matches!(e.kind, EventKind::Clock { .. }))
        .collect();
    assert_eq!(back.iter().collect::<Vec<_>>(), without_clock);
    let har = out_path("from-pcap.har");
    let (ok, stderr) = wsscope_export(&pcap, "har", &har);
    assert!(ok, "{stderr}");
    let messages = imported
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Message { .. }))
        .count();
    assert!(
        stderr.contains(&format!("messages: {messages}")),
        "{stderr}"
    );
}
