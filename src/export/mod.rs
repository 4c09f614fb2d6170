//! Writing a capture in other tools' formats: pcap for Wireshark and tshark ([`pcap`]), HAR for
//! browser DevTools and HAR viewers ([`har`]). Both take any iterator of events (a live capture,
//! a JSON-lines file being read, a test's vector) and stream it: what they hold at once is bounded
//! by the connections open at the same time, not by the length of the capture.

pub mod har;
pub mod pcap;

pub use har::{write_har, HarSummary};
pub use pcap::{write_pcap, PcapSummary};

use crate::event::Event;

/// Why an export stopped. What was written before the error stays written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing the output failed.
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    /// The temporary file that HAR's open connections' messages go to past a memory cap failed
    /// (it lives in `$TMPDIR`, or `/tmp`).
    #[error("cannot use the temporary file for the HAR's messages (in $TMPDIR or /tmp): {0}")]
    Spill(std::io::Error),
    /// The pcap writer refused a packet (e.g. a time after 2106, which the classic pcap format
    /// cannot hold).
    #[error("cannot write the pcap: {0}")]
    Pcap(pcap_file::PcapError),
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

impl From<pcap_file::PcapError> for ExportError {
    fn from(e: pcap_file::PcapError) -> Self {
        match e {
            // pcap-file words every I/O error as "Error reading bytes", even a full disk.
            pcap_file::PcapError::IoError(io) => Self::Io(io),
            other => Self::Pcap(other),
        }
    }
}

/// Runs `write` over the events of a fallible source (a file being read) up to its first error,
/// so what came before a bad line is exported and the error is reported after: the writer's
/// result, and the error that ended the input early (if any).
pub fn until_error<E, R>(
    events: impl IntoIterator<Item = Result<Event, E>>,
    write: impl FnOnce(&mut dyn Iterator<Item = Event>) -> R,
) -> (R, Option<E>) {
    let mut failed = None;
    let mut source = events.into_iter();
    let result = {
        let mut good = std::iter::from_fn(|| {
            if failed.is_some() {
                return None;
            }
            match source.next()? {
                Ok(event) => Some(event),
                Err(e) => {
                    failed = Some(e);
                    None
                }
            }
        });
        write(&mut good)
    };
    (result, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use std::time::Duration;

    fn clock(n: u64) -> Result<Event, String> {
        Ok(Event {
            conn: 0,
            time: Duration::ZERO,
            kind: EventKind::Clock { unix_micros: n },
        })
    }

    #[test]
    fn until_error_exports_what_came_before_the_first_error_and_returns_it() {
        let input = vec![clock(1), clock(2), Err("line 3".to_string()), clock(4)];
        let (seen, err) = until_error(input, |events| events.count());
        assert_eq!((seen, err.as_deref()), (2, Some("line 3")));
        let (seen, err) = until_error(vec![clock(1)], |events| events.count());
        assert_eq!((seen, err), (1, None));
    }
}
