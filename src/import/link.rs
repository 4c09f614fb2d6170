//! From a captured packet to its TCP segment: the link layers tcpdump, dumpcap and Wireshark
//! write on Linux, macOS and the BSDs, then IPv4 or IPv6 and TCP with etherparse.

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::Linktype;

/// One TCP segment: addresses, the fields reassembly needs, and its payload.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number of the first byte (of the SYN, when set).
    pub seq: u32,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// The TCP payload as captured.
    pub payload: &'a [u8],
}

/// Why a packet gives no TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A link type this reader does not know.
    Linktype,
    /// Not IP, or not TCP (ARP, UDP, ICMP, an IP fragment).
    NotTcp,
    /// The headers do not parse (cut by the snap length, or corrupt).
    Unparsable,
}

/// The TCP segment in `data`, a packet of link type `linktype`.
pub fn segment(linktype: Linktype, data: &[u8]) -> Result<Segment<'_>, Skip> {
    let sliced = match linktype.0 {
        // Ethernet, with any VLAN tags (etherparse walks them).
        1 => SlicedPacket::from_ethernet(data),
        // NULL (host byte order) and LOOP (network byte order): a 4-byte address family,
        // whose IPv6 value differs between systems; the IP header says its version itself.
        0 | 108 => SlicedPacket::from_ip(data.get(4..).ok_or(Skip::Unparsable)?),
        // Linux cooked v1: 16 bytes, the protocol (an EtherType) last. (etherparse's own SLL
        // parser refuses the loopback device's ARPHRD type, 772, which `tcpdump -i any` gives.)
        113 => cooked(data, 14, 16)?,
        // Linux cooked v2 (`tcpdump -i any` since 4.99): 20 bytes, the protocol first.
        276 => cooked(data, 0, 20)?,
        // Raw IP (101; 12 and 14 on some BSDs), IPv4 (228), IPv6 (229).
        101 | 12 | 14 | 228 | 229 => SlicedPacket::from_ip(data),
        _ => return Err(Skip::Linktype),
    }
    .map_err(|_| Skip::Unparsable)?;
    let (src_ip, dst_ip): (IpAddr, IpAddr) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => (
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
        ),
        Some(NetSlice::Ipv6(v6)) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
        ),
        _ => return Err(Skip::NotTcp),
    };
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        return Err(Skip::NotTcp);
    };
    Ok(Segment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload: tcp.payload(),
    })
}

/// A Linux cooked header of `len` bytes with the protocol (an EtherType) at `proto`.
fn cooked(
    data: &[u8],
    proto: usize,
    len: usize,
) -> Result<Result<SlicedPacket<'_>, etherparse::err::packet::SliceError>, Skip> {
    let p = data.get(proto..proto + 2).ok_or(Skip::Unparsable)?;
    let rest = data.get(len..).ok_or(Skip::Unparsable)?;
    Ok(SlicedPacket::from_ether_type(
        EtherType(u16::from_be_bytes([p[0], p[1]])),
        rest,
    ))
}
