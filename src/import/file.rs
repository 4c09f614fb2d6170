//! The records of a pcap or pcapng file, one packet at a time, read through a small buffer
//! (never the whole file). pcap-parser parses each record once it is wholly in the buffer; this
//! file only frames them, so every error knows its byte offset.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::{Block, PcapNGOption};
use pcap_parser::{Linktype, PcapError};

use super::{ImportError, ImportErrorKind};

/// The largest record (pcap) or block (pcapng) read: far above any snap length tcpdump,
/// dumpcap or Wireshark write (262,144 bytes), and a bound on what one record can make this
/// reader hold.
pub const MAX_RECORD: usize = 16 << 20;

/// How much is read from the file at a time.
const CHUNK: usize = 64 << 10;

/// Which container the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// libpcap's format (either byte order, micro- or nanosecond timestamps).
    Pcap,
    /// pcapng (any byte order per section).
    PcapNg,
}

impl Format {
    /// The format the first bytes of a file announce, by magic number.
    pub fn sniff(head: &[u8]) -> Option<Format> {
        let magic: [u8; 4] = head.get(..4)?.try_into().ok()?;
        match u32::from_le_bytes(magic) {
            0x0a0d_0d0a => Some(Format::PcapNg),
            0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0xa1b2_cd34 | 0x34cd_b2a1 => {
                Some(Format::Pcap)
            }
            _ => None,
        }
    }

    /// The format the file at `path` announces, by its first bytes (`None`: neither pcap nor
    /// pcapng, or shorter than a magic number).
    pub fn of_file(path: &Path) -> std::io::Result<Option<Format>> {
        let mut head = [0u8; 4];
        let n = File::open(path)?.read(&mut head)?;
        Ok(Format::sniff(&head[..n]))
    }
}

/// One captured packet, borrowed from the reader's buffer.
pub struct Packet<'a> {
    /// When it was captured, in microseconds since the Unix epoch (0 if before).
    pub unix_micros: u64,
    /// The link type its bytes start with.
    pub linktype: Linktype,
    /// The captured bytes (perhaps fewer than were on the wire: the snap length).
    pub data: &'a [u8],
}

/// An interface of the current pcapng section: its link type and how its times count.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: Linktype,
    /// Timestamp units per second.
    units: u64,
    /// Seconds added to every timestamp.
    offset_secs: i64,
}

enum Kind {
    Pcap {
        big_endian: bool,
        nanos: bool,
        /// The "modified" format (Alexey Kuznetsov's patches): 24-byte record headers.
        modified: bool,
        linktype: Linktype,
    },
    PcapNg {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// Reads records from a capture file.
pub struct Records {
    path: PathBuf,
    file: File,
    /// Bytes read and not yet consumed start at `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    /// The file offset of `buf[start]`.
    pos: u64,
    eof: bool,
    kind: Kind,
}

impl Records {
    /// Opens `path` and reads its file header.
    pub fn open(path: &Path) -> Result<Self, ImportError> {
        let err = |offset, kind| ImportError {
            path: path.to_path_buf(),
            offset,
            kind,
        };
        let file = File::open(path).map_err(|e| err(0, ImportErrorKind::Io(e.to_string())))?;
        let mut r = Records {
            path: path.to_path_buf(),
            file,
            buf: Vec::with_capacity(CHUNK),
            start: 0,
            pos: 0,
            eof: false,
            kind: Kind::Pcap {
                big_endian: false,
                nanos: false,
                modified: false,
                linktype: Linktype(0),
            },
        };
        if !r.fill(4)? {
            return Err(err(
                0,
                ImportErrorKind::NotACapture {
                    len: r.available() as u64,
                },
            ));
        }
        match Format::sniff(r.data()) {
            None => Err(err(0, ImportErrorKind::NotACapture { len: 4 })),
            Some(Format::PcapNg) => {
                // The first block (a section header) sets the byte order; read by `next`.
                r.kind = Kind::PcapNg {
                    big_endian: false,
                    interfaces: Vec::new(),
                };
                Ok(r)
            }
            Some(Format::Pcap) => {
                if !r.fill(24)? {
                    return Err(r.truncated(24));
                }
                let header = match pcap_parser::parse_pcap_header(&r.data()[..24]) {
                    Ok((_, h)) => h,
                    Err(e) => return Err(err(0, corrupt(&e))),
                };
                r.kind = Kind::Pcap {
                    big_endian: header.is_bigendian(),
                    nanos: header.is_nanosecond_precision(),
                    modified: header.is_modified_format(),
                    linktype: header.network,
                };
                r.consume(24);
                Ok(r)
            }
        }
    }

    /// Which container the file is.
    pub fn format(&self) -> Format {
        match self.kind {
            Kind::Pcap { .. } => Format::Pcap,
            Kind::PcapNg { .. } => Format::PcapNg,
        }
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn available(&self) -> usize {
        self.buf.len() - self.start
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.pos += n as u64;
    }

    fn error(&self, kind: ImportErrorKind) -> ImportError {
        ImportError {
            path: self.path.clone(),
            offset: self.pos,
            kind,
        }
    }

    fn truncated(&self, needed: usize) -> ImportError {
        self.error(ImportErrorKind::Truncated {
            have: self.available() as u64,
            needed: needed as u64,
        })
    }

    /// Makes at least `n` bytes available; `false` when the file ends first.
    fn fill(&mut self, n: usize) -> Result<bool, ImportError> {
        if self.available() >= n {
            return Ok(true);
        }
        // Move what is left to the front so the buffer never grows past one record.
        self.buf.drain(..self.start);
        self.start = 0;
        while self.buf.len() < n && !self.eof {
            let want = (n - self.buf.len()).max(CHUNK);
            let old = self.buf.len();
            self.buf.resize(old + want, 0);
            match self.file.read(&mut self.buf[old..]) {
                Ok(0) => {
                    self.buf.truncate(old);
                    self.eof = true;
                }
                Ok(k) => self.buf.truncate(old + k),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => self.buf.truncate(old),
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(self.error(ImportErrorKind::Io(e.to_string())));
                }
            }
        }
        Ok(self.buf.len() >= n)
    }

    /// The next packet, `None` at the end of the file.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, ImportError> {
        loop {
            if !self.fill(1)? {
                return Ok(None);
            }
            match &self.kind {
                Kind::Pcap { .. } => return self.pcap_record(),
                Kind::PcapNg { .. } => {
                    if let Some(len) = self.ng_block()? {
                        // A packet block: parse it again, borrowed, to hand out its bytes.
                        return self.ng_packet(len);
                    }
                }
            }
        }
    }

    fn pcap_record(&mut self) -> Result<Option<Packet<'_>>, ImportError> {
        let Kind::Pcap {
            big_endian,
            nanos,
            modified,
            linktype,
        } = self.kind
        else {
            return Ok(None);
        };
        let header = if modified { 24 } else { 16 };
        if !self.fill(header)? {
            return Err(self.truncated(header));
        }
        let word = |d: &[u8], at: usize| {
            let b = [d[at], d[at + 1], d[at + 2], d[at + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let caplen = word(self.data(), 8) as usize;
        if caplen > MAX_RECORD {
            return Err(self.error(ImportErrorKind::RecordTooLarge {
                size: caplen as u64,
                limit: MAX_RECORD as u64,
            }));
        }
        let total = header + caplen;
        if !self.fill(total)? {
            return Err(self.truncated(total));
        }
        let offset = self.pos;
        let start = self.start;
        self.consume(total);
        let data = &self.buf[start..start + total];
        let parsed = match (modified, big_endian) {
            (true, _) => pcap_parser::pcap::parse_pcap_frame_modified(data),
            (false, true) => pcap_parser::pcap::parse_pcap_frame_be(data),
            (false, false) => pcap_parser::pcap::parse_pcap_frame(data),
        };
        let block = parsed.map(|(_, b)| b).map_err(|e| ImportError {
            path: self.path.clone(),
            offset,
            kind: corrupt(&e),
        })?;
        let fraction = if nanos {
            u64::from(block.ts_usec) / 1000
        } else {
            u64::from(block.ts_usec)
        };
        Ok(Some(Packet {
            unix_micros: u64::from(block.ts_sec) * 1_000_000 + fraction,
            linktype,
            data: block.data,
        }))
    }

    /// Reads one pcapng block: section and interface blocks update the state; returns the
    /// block's length when it is a packet block (still in the buffer, not consumed).
    fn ng_block(&mut self) -> Result<Option<usize>, ImportError> {
        if !self.fill(12)? {
            return Err(self.truncated(12));
        }
        let mut d = [0u8; 12];
        d.copy_from_slice(&self.data()[..12]);
        let block_type = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
        let Kind::PcapNg { big_endian, .. } = &mut self.kind else {
            return Ok(None);
        };
        // A section header says its own byte order, with a magic after the length.
        if block_type == 0x0a0d_0d0a {
            *big_endian = d[8..12] == [0x1a, 0x2b, 0x3c, 0x4d];
        }
        let be = *big_endian;
        let len_bytes = [d[4], d[5], d[6], d[7]];
        let len = if be {
            u32::from_be_bytes(len_bytes)
        } else {
            u32::from_le_bytes(len_bytes)
        } as usize;
        if len < 12 || len % 4 != 0 {
            return Err(self.error(ImportErrorKind::BadBlockLength { len: len as u64 }));
        }
        if len > MAX_RECORD {
            return Err(self.error(ImportErrorKind::RecordTooLarge {
                size: len as u64,
                limit: MAX_RECORD as u64,
            }));
        }
        if !self.fill(len)? {
            return Err(self.truncated(len));
        }
        let block_data = &self.buf[self.start..self.start + len];
        let parsed = if be {
            pcap_parser::pcapng::parse_block_be(block_data)
        } else {
            pcap_parser::pcapng::parse_block_le(block_data)
        };
        let block = match parsed {
            Ok((_, b)) => b,
            Err(e) => return Err(self.error(corrupt(&e))),
        };
        let Kind::PcapNg { interfaces, .. } = &mut self.kind else {
            return Ok(None);
        };
        match block {
            Block::SectionHeader(_) => interfaces.clear(),
            Block::InterfaceDescription(idb) => {
                let (resol, offset_secs) = ts_options(&idb.options, be);
                interfaces.push(Interface {
                    linktype: idb.linktype,
                    // An invalid resolution: microseconds, pcapng's default.
                    units: pcap_parser::pcapng::build_ts_resolution(resol).unwrap_or(1_000_000),
                    offset_secs,
                });
            }
            Block::EnhancedPacket(_) | Block::SimplePacket(_) => return Ok(Some(len)),
            // Statistics, name resolution, secrets, custom blocks: nothing to follow.
            _ => {}
        }
        self.consume(len);
        Ok(None)
    }

    fn ng_packet(&mut self, len: usize) -> Result<Option<Packet<'_>>, ImportError> {
        let offset = self.pos;
        let start = self.start;
        self.consume(len);
        let Kind::PcapNg {
            big_endian,
            interfaces,
        } = &self.kind
        else {
            return Ok(None);
        };
        let err = |kind| ImportError {
            path: self.path.clone(),
            offset,
            kind,
        };
        let data = &self.buf[start..start + len];
        let parsed = if *big_endian {
            pcap_parser::pcapng::parse_block_be(data)
        } else {
            pcap_parser::pcapng::parse_block_le(data)
        };
        let block = parsed.map(|(_, b)| b).map_err(|e| err(corrupt(&e)))?;
        let (if_id, ts, bytes) = match block {
            Block::EnhancedPacket(epb) => {
                let caplen = (epb.caplen as usize).min(epb.data.len());
                let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                (epb.if_id, Some(ts), &epb.data[..caplen])
            }
            Block::SimplePacket(spb) => {
                let n = (spb.origlen as usize).min(spb.data.len());
                (0, None, &spb.data[..n])
            }
            _ => return Ok(None),
        };
        let Some(iface) = interfaces.get(if_id as usize) else {
            return Err(err(ImportErrorKind::NoInterface { id: if_id }));
        };
        // Simple packet blocks carry no time: they count as time zero of the file.
        let unix_micros = ts.map_or(0, |ts| {
            let micros = i128::from(ts) * 1_000_000 / i128::from(iface.units.max(1))
                + i128::from(iface.offset_secs) * 1_000_000;
            u64::try_from(micros.max(0)).unwrap_or(u64::MAX)
        });
        Ok(Some(Packet {
            unix_micros,
            linktype: iface.linktype,
            data: bytes,
        }))
    }
}

/// `if_tsresol` and `if_tsoffset` of an interface (6 and 0 when absent: microseconds).
fn ts_options(options: &[PcapNGOption], big_endian: bool) -> (u8, i64) {
    let mut resol = 6;
    let mut offset = 0;
    for o in options {
        match o.code.0 {
            9 => {
                if let Some(&r) = o.value.first() {
                    resol = r;
                }
            }
            14 => {
                if let Some(b) = o.value.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                    offset = if big_endian {
                        i64::from_be_bytes(b)
                    } else {
                        i64::from_le_bytes(b)
                    };
                }
            }
            _ => {}
        }
    }
    (resol, offset)
}

/// A parse error of a record that was wholly in the buffer.
fn corrupt(e: &pcap_parser::nom::Err<PcapError<&[u8]>>) -> ImportErrorKind {
    let why = match e {
        pcap_parser::nom::Err::Incomplete(_) => {
            "a field runs past the end of its record".to_string()
        }
        pcap_parser::nom::Err::Error(e) | pcap_parser::nom::Err::Failure(e) => match e {
            PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
                format!("{kind:?}")
            }
            other => format!("{other}"),
        },
    };
    ImportErrorKind::Corrupt(why)
}
