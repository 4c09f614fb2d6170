//! Writing a capture in other tools' formats: pcap for Wireshark and tshark ([`pcap`]), HAR for
//! browser DevTools and HAR viewers ([`har`]). Both take any iterator of events (a live capture,
//! a JSON-lines file being read, a test's vector) and stream it: what they hold at once is bounded
//! by the connections open at the same time, not by the length of the capture.

pub mod har;
pub mod pcap;

pub use har::{write_har, HarSummary};
pub use pcap::{write_pcap, PcapSummary};

/// Why an export stopped. What was written before the error stays written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing the output failed.
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    /// The pcap writer refused a packet or failed to write it (e.g. a time after 2106, which
    /// the classic pcap format cannot hold).
    #[error("cannot write the pcap: {0}")]
    Pcap(#[from] pcap_file::PcapError),
    /// A packet could not be built (its headers cannot describe it).
    #[error("cannot build packet {packet} of connection #{conn}: {reason}")]
    Packet {
        /// The connection.
        conn: crate::event::ConnId,
        /// The packet's number in the file (1-based, as Wireshark counts).
        packet: u64,
        /// What etherparse said.
        reason: String,
    },
    /// Serialising the HAR failed.
    #[error("cannot write the HAR: {0}")]
    Json(#[from] serde_json::Error),
}
