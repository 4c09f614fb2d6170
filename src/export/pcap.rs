//! Events as a classic pcap file (Ethernet link type) that Wireshark and tshark open as HTTP and
//! WebSocket: every connection becomes a TCP conversation with synthesized Ethernet and IP
//! headers around the exact bytes wsscope saw.
//!
//! - `Opened { client, server }` gives the addresses (IPv4, or IPv6 when either is IPv6, an IPv4
//!   address then written IPv4-mapped) and a SYN / SYN-ACK / ACK at the open time. The MACs are
//!   locally administered: `02:00:00:00:00:01` for every client, `02:00:00:00:00:02` for every
//!   server.
//! - Every `Tcp` event (one read or write) is one PSH|ACK segment carrying its bytes, with
//!   sequence numbers continuing that direction's stream and acknowledging everything the other
//!   direction has sent so far. A read larger than one IP packet (65,495 bytes of TCP payload over
//!   IPv4, 65,515 over IPv6) is split into as few segments as that allows. The SYNs announce a
//!   window scale of 7 (a window of 8 MiB), so the 64 KiB messages that are in flight at once do
//!   not read as a full window.
//! - An `Error(Gap { direction, missing, .. })` (bytes the capture never had, or the window's
//!   budget dropped) advances that direction's sequence numbers by `missing`: the segments after
//!   it sit at their true stream offsets, and Wireshark reports the hole.
//! - `Closed` becomes FIN|ACK from the side that started the close (`by`), FIN|ACK from the other
//!   side, and the last ACK.
//! - A connection whose events have no `Opened` (a partial capture) gets synthesized addresses
//!   when its first `Tcp` event comes: server `10.0.0.1:80`, client `10.1.x.y:p` with `x.y` and
//!   `p` taken from the connection number (unique up to 4 billion connections), and a
//!   handshake at that time. Port 80 makes Wireshark dissect it as HTTP with no setting.
//! - Times are the capture's `Clock { unix_micros }` plus each event's time (the Unix epoch if
//!   no clock came first). Other events (frames, messages, handshakes...) are derived from the
//!   TCP bytes and are not packets of their own.
//!
//! Checksums (IPv4 header, TCP) are computed by etherparse, so tshark reports none as bad.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use etherparse::{PacketBuilder, PacketBuilderStep, TcpOptionElement};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

use super::ExportError;
use crate::event::{ClosedBy, ConnId, Direction, ErrorKind, Event, EventKind};

/// What [`write_pcap`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PcapSummary {
    /// TCP conversations (connections with an `Opened` or a `Tcp` event).
    pub connections: u64,
    /// Packets written (handshakes, data segments, FIN exchanges).
    pub packets: u64,
    /// TCP payload bytes written (the sum of the `Tcp` events' bytes).
    pub bytes: u64,
}

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Large enough for a whole 65,535-byte IP packet in its Ethernet frame (tcpdump's default).
const SNAPLEN: u32 = 262_144;
const TTL: u8 = 64;
/// Announced in the SYNs: the 16-bit window counts units of 2^7 bytes after the handshake.
const WINDOW_SCALE: u8 = 7;
const WINDOW: u16 = u16::MAX;
const IPV4_HEADER: usize = 20;
const TCP_HEADER: usize = 20;
/// Both the IPv4 total length and the IPv6 payload length are 16-bit fields.
const IP_MAX: usize = u16::MAX as usize;

/// Writes `events` to `out` as a pcap file, one packet at a time (the capture is never held in
/// memory: only one small record per open connection). See the module doc for what becomes a
/// packet. On an error, the packets before it are written.
pub fn write_pcap<W: Write>(
    events: impl IntoIterator<Item = Event>,
    out: W,
) -> Result<PcapSummary, ExportError> {
    let header = PcapHeader {
        snaplen: SNAPLEN,
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::MicroSecond,
        endianness: Endianness::native(),
        ..PcapHeader::default()
    };
    let mut out = Out {
        writer: PcapWriter::with_header(out, header)?,
        unix_micros: 0,
        summary: PcapSummary::default(),
        buf: Vec::with_capacity(IP_MAX + 14),
    };
    let mut flows: HashMap<ConnId, Flow> = HashMap::new();
    for event in events {
        let (conn, at) = (event.conn, event.time);
        match event.kind {
            EventKind::Clock { unix_micros } => out.unix_micros = unix_micros,
            EventKind::Opened { client, server, .. } => {
                if let std::collections::hash_map::Entry::Vacant(slot) = flows.entry(conn) {
                    let flow = slot.insert(Flow::new(conn, client, server));
                    out.open(conn, flow, at)?;
                }
            }
            EventKind::Tcp { direction, bytes } if !bytes.is_empty() => {
                let flow = match flows.entry(conn) {
                    std::collections::hash_map::Entry::Occupied(f) => f.into_mut(),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        let (client, server) = synthesized(conn);
                        let flow = slot.insert(Flow::new(conn, client, server));
                        out.open(conn, flow, at)?;
                        flow
                    }
                };
                for chunk in bytes.chunks(flow.max_payload()) {
                    out.segment(conn, flow, direction, Flags::DATA, chunk, at)?;
                }
                out.summary.bytes += bytes.len() as u64;
            }
            EventKind::Error(ErrorKind::Gap {
                direction, missing, ..
            }) => {
                // Missing bytes still took their sequence numbers: the segments after the hole
                // carry their true place in the stream (Wireshark: "previous segment not
                // captured"), and their ACKs acknowledge what was sent.
                let flow = match flows.entry(conn) {
                    std::collections::hash_map::Entry::Occupied(f) => f.into_mut(),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        let (client, server) = synthesized(conn);
                        let flow = slot.insert(Flow::new(conn, client, server));
                        out.open(conn, flow, at)?;
                        flow
                    }
                };
                let i = direction.index();
                flow.next_seq[i] = flow.next_seq[i].wrapping_add(missing as u32);
            }
            EventKind::Closed { by, .. } => {
                // Forgotten once closed: memory stays bounded by the open connections.
                if let Some(mut flow) = flows.remove(&conn) {
                    out.close(conn, &mut flow, by, at)?;
                }
            }
            _ => {}
        }
    }
    let mut inner = out.writer.into_writer();
    inner.flush()?;
    Ok(out.summary)
}

/// The addresses of a connection whose capture has no `Opened` event (see the module doc).
fn synthesized(conn: ConnId) -> (SocketAddr, SocketAddr) {
    const PORTS: u64 = 65_536 - 1024;
    let port = 1024 + (conn % PORTS) as u16;
    let host = ((conn / PORTS) & 0xffff) as u16;
    let [x, y] = host.to_be_bytes();
    (
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, x, y)), port),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 80),
    )
}

/// The IP addresses of a conversation: both IPv4, or both IPv6.
#[derive(Clone, Copy)]
enum Ips {
    V4 { client: [u8; 4], server: [u8; 4] },
    V6 { client: [u8; 16], server: [u8; 16] },
}

/// One TCP conversation being written.
struct Flow {
    ips: Ips,
    ports: [u16; 2],
    /// The next sequence number of each direction (by [`Direction::index`]).
    next_seq: [u32; 2],
}

impl Flow {
    fn new(conn: ConnId, client: SocketAddr, server: SocketAddr) -> Self {
        let ips = match (client.ip(), server.ip()) {
            (IpAddr::V4(c), IpAddr::V4(s)) => Ips::V4 {
                client: c.octets(),
                server: s.octets(),
            },
            (c, s) => Ips::V6 {
                client: v6(c),
                server: v6(s),
            },
        };
        // Initial sequence numbers: any value is right; these differ per connection and per
        // side, as real ones do, and the same capture always gives the same file.
        let mixed = (conn as u32).wrapping_mul(0x9e37_79b9);
        Self {
            ips,
            ports: [client.port(), server.port()],
            next_seq: [mixed ^ 0x1000_0000, mixed.rotate_left(16) ^ 0x2000_0000],
        }
    }

    /// The most TCP payload one IP packet of this conversation carries.
    fn max_payload(&self) -> usize {
        match self.ips {
            Ips::V4 { .. } => IP_MAX - IPV4_HEADER - TCP_HEADER,
            // The IPv6 payload length does not count the IPv6 header itself.
            Ips::V6 { .. } => IP_MAX - TCP_HEADER,
        }
    }
}

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// The TCP flags of a segment.
#[derive(Clone, Copy)]
struct Flags {
    syn: bool,
    ack: bool,
    psh: bool,
    fin: bool,
}

impl Flags {
    const SYN: Self = Self {
        syn: true,
        ack: false,
        psh: false,
        fin: false,
    };
    const SYN_ACK: Self = Self {
        ack: true,
        ..Self::SYN
    };
    const ACK: Self = Self {
        syn: false,
        ack: true,
        psh: false,
        fin: false,
    };
    const DATA: Self = Self {
        psh: true,
        ..Self::ACK
    };
    const FIN_ACK: Self = Self {
        fin: true,
        ..Self::ACK
    };
}

/// The pcap being written.
struct Out<W: Write> {
    writer: PcapWriter<W>,
    unix_micros: u64,
    summary: PcapSummary,
    /// One packet's bytes, reused.
    buf: Vec<u8>,
}

impl<W: Write> Out<W> {
    /// The three-way handshake at `at`.
    fn open(&mut self, conn: ConnId, flow: &mut Flow, at: Duration) -> Result<(), ExportError> {
        use Direction::{ClientToServer as C, ServerToClient as S};
        self.summary.connections += 1;
        self.segment(conn, flow, C, Flags::SYN, &[], at)?;
        self.segment(conn, flow, S, Flags::SYN_ACK, &[], at)?;
        self.segment(conn, flow, C, Flags::ACK, &[], at)
    }

    /// FIN from the side that started the close, FIN from the other, the last ACK.
    fn close(
        &mut self,
        conn: ConnId,
        flow: &mut Flow,
        by: ClosedBy,
        at: Duration,
    ) -> Result<(), ExportError> {
        let (first, second) = match by {
            ClosedBy::Client => (Direction::ClientToServer, Direction::ServerToClient),
            ClosedBy::Server => (Direction::ServerToClient, Direction::ClientToServer),
        };
        self.segment(conn, flow, first, Flags::FIN_ACK, &[], at)?;
        self.segment(conn, flow, second, Flags::FIN_ACK, &[], at)?;
        self.segment(conn, flow, first, Flags::ACK, &[], at)
    }

    /// Writes one segment sent in `direction` and advances that direction's sequence number.
    fn segment(
        &mut self,
        conn: ConnId,
        flow: &mut Flow,
        direction: Direction,
        flags: Flags,
        payload: &[u8],
        at: Duration,
    ) -> Result<(), ExportError> {
        let from = direction.index();
        let to = 1 - from;
        let macs = [CLIENT_MAC, SERVER_MAC];
        let ip = match flow.ips {
            Ips::V4 { client, server } => {
                let ips = [client, server];
                PacketBuilder::ethernet2(macs[from], macs[to]).ipv4(ips[from], ips[to], TTL)
            }
            Ips::V6 { client, server } => {
                let ips = [client, server];
                PacketBuilder::ethernet2(macs[from], macs[to]).ipv6(ips[from], ips[to], TTL)
            }
        };
        let seq = flow.next_seq[from];
        let tcp = ip.tcp(flow.ports[from], flow.ports[to], seq, WINDOW);
        let tcp = tcp_flags(tcp, flags, flow.next_seq[to]);
        let number = self.summary.packets + 1;
        let failed = |reason: String| ExportError::Packet {
            conn,
            packet: number,
            reason,
        };
        let tcp = if flags.syn {
            tcp.options(&[
                TcpOptionElement::MaximumSegmentSize((flow.max_payload()) as u16),
                TcpOptionElement::Noop,
                TcpOptionElement::WindowScale(WINDOW_SCALE),
            ])
            .map_err(|e| failed(e.to_string()))?
        } else {
            tcp
        };
        self.buf.clear();
        tcp.write(&mut self.buf, payload)
            .map_err(|e| failed(e.to_string()))?;
        // An event of any time can come (not only from a file): past what a `Duration` holds
        // it is an error, not a panic.
        let time = Duration::from_micros(self.unix_micros)
            .checked_add(at)
            .ok_or_else(|| failed(format!("its time {at:?} after the clock is out of range")))?;
        let orig_len = u32::try_from(self.buf.len()).map_err(|e| failed(e.to_string()))?;
        self.writer
            .write_packet(&PcapPacket::new(time, orig_len, &self.buf))?;
        self.summary.packets = number;
        // SYN and FIN each take one sequence number.
        let advance = payload.len() as u64 + u64::from(flags.syn) + u64::from(flags.fin);
        flow.next_seq[from] = seq.wrapping_add(advance as u32);
        Ok(())
    }
}

/// Sets `flags` on the TCP header being built; `ack` is what the ACK flag acknowledges.
fn tcp_flags(
    mut tcp: PacketBuilderStep<etherparse::TcpHeader>,
    flags: Flags,
    ack: u32,
) -> PacketBuilderStep<etherparse::TcpHeader> {
    if flags.syn {
        tcp = tcp.syn();
    }
    if flags.ack {
        tcp = tcp.ack(ack);
    }
    if flags.psh {
        tcp = tcp.psh();
    }
    if flags.fin {
        tcp = tcp.fin();
    }
    tcp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Endpoint;
    use bytes::Bytes;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use pcap_file::pcap::PcapReader;

    fn ev(time_ms: u64, kind: EventKind) -> Event {
        Event {
            conn: 7,
            time: Duration::from_millis(time_ms),
            kind,
        }
    }

    /// (from client, seq, ack, syn, fin, payload length, timestamp) of every packet.
    fn packets(file: &[u8]) -> Vec<(bool, u32, u32, bool, bool, usize, Duration)> {
        let mut reader = PcapReader::new(file).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        while let Some(p) = reader.next_packet() {
            let p = p.unwrap_or_else(|e| panic!("{e}"));
            let s = SlicedPacket::from_ethernet(&p.data).unwrap_or_else(|e| panic!("{e}"));
            let Some(TransportSlice::Tcp(tcp)) = s.transport else {
                panic!("not TCP")
            };
            // The checksum etherparse computed is the one a receiver computes.
            let ok = match s.net {
                Some(NetSlice::Ipv4(ip)) => {
                    tcp.calc_checksum_ipv4(ip.header().source(), ip.header().destination())
                }
                Some(NetSlice::Ipv6(ip)) => {
                    tcp.calc_checksum_ipv6(ip.header().source(), ip.header().destination())
                }
                _ => panic!("not IP"),
            };
            assert_eq!(ok.ok(), Some(tcp.checksum()));
            out.push((
                tcp.source_port() == 50_000,
                tcp.sequence_number(),
                tcp.acknowledgment_number(),
                tcp.syn(),
                tcp.fin(),
                tcp.payload().len(),
                p.timestamp,
            ));
        }
        out
    }

    #[test]
    fn reads_larger_than_an_ip_packet_are_split_and_numbers_follow_the_bytes() {
        let (client, server): (SocketAddr, SocketAddr) = (
            "[2001:db8::1]:50000"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
            "[2001:db8::2]:8765"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let events = vec![
            ev(
                0,
                EventKind::Clock {
                    unix_micros: 1_000_000,
                },
            ),
            ev(
                1,
                EventKind::Opened {
                    endpoint: Endpoint::Server,
                    client,
                    server,
                },
            ),
            ev(
                2,
                EventKind::Tcp {
                    direction: Direction::ClientToServer,
                    bytes: Bytes::from(vec![1u8; 150_000]),
                },
            ),
            ev(
                3,
                EventKind::Tcp {
                    direction: Direction::ServerToClient,
                    bytes: Bytes::from_static(b"ok"),
                },
            ),
            ev(
                4,
                EventKind::Closed {
                    code: None,
                    reason: String::new(),
                    by: ClosedBy::Server,
                    clean: true,
                },
            ),
        ];
        let mut file = Vec::new();
        let summary = write_pcap(events, &mut file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            summary,
            PcapSummary {
                connections: 1,
                packets: 3 + 3 + 1 + 3,
                bytes: 150_002
            }
        );
        let p = packets(&file);
        let (c, s) = (p[0].1, p[1].1);
        let at = |ms| Duration::from_secs(1) + Duration::from_millis(ms);
        // IPv6 carries 65,515 bytes of TCP payload per packet: 150,000 = 65,515 + 65,515 + 18,970.
        assert_eq!(
            p,
            [
                (true, c, 0, true, false, 0, at(1)),
                (false, s, c + 1, true, false, 0, at(1)),
                (true, c + 1, s + 1, false, false, 0, at(1)),
                (true, c + 1, s + 1, false, false, 65_515, at(2)),
                (true, c + 65_516, s + 1, false, false, 65_515, at(2)),
                (true, c + 131_031, s + 1, false, false, 18_970, at(2)),
                (false, s + 1, c + 150_001, false, false, 2, at(3)),
                // The server closed first.
                (false, s + 3, c + 150_001, false, true, 0, at(4)),
                (true, c + 150_001, s + 4, false, true, 0, at(4)),
                (false, s + 4, c + 150_002, false, false, 0, at(4)),
            ]
        );
    }

    #[test]
    fn connections_without_opened_get_addresses_of_their_own() {
        let (a, b) = (synthesized(1), synthesized(1 + 64_512));
        assert_eq!(a.1, b.1);
        assert_eq!(a.1.port(), 80);
        assert_ne!(a.0, b.0);
        assert_eq!(a.0.port(), b.0.port());
    }
}
