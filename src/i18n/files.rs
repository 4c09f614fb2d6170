//! Why a capture file cannot be read (further), in the reader's language: our JSON lines
//! ([`ReadError`]) and pcap/pcapng files ([`ImportError`]). Paths, numbers and the words of
//! the operating system or a parser go in as they are.

use super::{fill, Lang};
use crate::import::{ImportError, ImportErrorKind};
use crate::record::{Problem, ReadError};

/// A JSON-lines capture that cannot be read (further): the file, the line and byte, and why.
pub fn read_error(lang: Lang, e: &ReadError) -> String {
    let t = lang.t();
    let why = match &e.problem {
        Problem::Io(io) => fill(t.rf_io, &[io]),
        Problem::Empty => t.rf_empty.to_string(),
        Problem::NotJson(why) => fill(t.rf_not_json, &[why]),
        Problem::NotACapture(why) => fill(t.rf_not_capture, &[why]),
        Problem::NewerVersion { found, supported } => fill(t.rf_newer, &[found, supported]),
        Problem::UnknownType(kind) => fill(t.rf_unknown_type, &[kind]),
        Problem::BadEvent { kind, why } => fill(t.rf_bad_event, &[kind, why]),
        Problem::PastStreamEnd { kind, offset, len } => {
            fill(t.rf_past_stream_end, &[kind, offset, len])
        }
        Problem::ReversedRange {
            kind,
            field,
            start,
            end,
        } => fill(t.rf_reversed_range, &[kind, field, start, end]),
        Problem::OutsideFrame {
            field,
            start,
            end,
            frame_start,
            frame_end,
        } => fill(
            t.rf_outside_frame,
            &[field, start, end, frame_start, frame_end],
        ),
        Problem::Truncated => t.rf_truncated.to_string(),
        Problem::LineTooLong { limit } => fill(t.rf_line_too_long, &[limit]),
    };
    let path = e.path.display();
    if e.line == 0 {
        format!("{path}: {why}")
    } else {
        format!(
            "{path}: {}: {why}",
            fill(t.rf_at_line, &[&e.line, &e.offset])
        )
    }
}

/// A pcap or pcapng file that cannot be read (further): the file, the byte, and why.
pub fn import_error(lang: Lang, e: &ImportError) -> String {
    let t = lang.t();
    let why = match &e.kind {
        ImportErrorKind::Io(io) => fill(t.rf_io, &[io]),
        ImportErrorKind::NotACapture { len } => fill(t.pf_not_capture, &[len]),
        ImportErrorKind::Truncated { have, needed } => fill(t.pf_truncated, &[have, needed]),
        ImportErrorKind::RecordTooLarge { size, limit } => {
            fill(t.pf_record_too_large, &[size, limit])
        }
        ImportErrorKind::BadBlockLength { len } => fill(t.pf_block_length, &[len]),
        ImportErrorKind::NoInterface { id } => fill(t.pf_no_interface, &[id]),
        ImportErrorKind::Corrupt(why) => fill(t.pf_corrupt, &[why]),
    };
    format!(
        "{}: {}: {why}",
        e.path.display(),
        fill(t.pf_at_byte, &[&e.offset])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every problem is said in both languages, with the file and where.
    #[test]
    fn both_languages_name_the_file_and_where() {
        let e = ImportError {
            path: "x.pcap".into(),
            offset: 24,
            kind: ImportErrorKind::Truncated {
                have: 3,
                needed: 16,
            },
        };
        let en = import_error(Lang::En, &e);
        let zh = import_error(Lang::Zh, &e);
        assert!(
            en.starts_with("x.pcap: at byte 24:") && en.contains("3 of its 16"),
            "{en}"
        );
        assert!(
            zh.starts_with("x.pcap: 第 24 字节: ") && zh.contains("16"),
            "{zh}"
        );
        let r = ReadError {
            path: "c.jsonl".into(),
            line: 7,
            offset: 120,
            problem: Problem::UnknownType("warp".into()),
        };
        assert!(read_error(Lang::En, &r).contains("line 7, byte 120"));
        assert!(read_error(Lang::Zh, &r).contains("第 7 行"));
    }
}
