//! Message-level rules: fragmentation order (§5.4), UTF-8 in text (§8.1), close payloads
//! (§5.5.1, §7.4), nothing after close, and the message size limit.

use std::ops::Range;

use bytes::Bytes;

use super::close::parse_close_payload;
use super::extension::Extension;
use super::frame::OpCode;
use super::frame::{Fragment, Frame};
use super::utf8::{Utf8Error, Utf8Validator};
use super::violation::{Detail, Rule, Violation};

/// A complete text or binary message, reassembled from its frames.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// `Text` or `Binary`.
    pub opcode: OpCode,
    /// The application data (after any extension's transform).
    #[serde(with = "super::serde_repr::bytes")]
    pub payload: Bytes,
    /// How many data frames carried it.
    pub frame_count: usize,
    /// Stream offsets from the first frame's first byte to the last frame's last byte.
    pub byte_range: Range<u64>,
}

/// What the assembler makes of one frame.
pub(crate) struct Verdict {
    /// Where the frame sits in its message.
    pub(crate) fragment: Fragment,
    /// The message rules it breaks.
    pub(crate) violations: Vec<Violation>,
    /// The message it completes.
    pub(crate) message: Option<Message>,
}

struct OpenMessage {
    opcode: OpCode,
    rsv: [bool; 3],
    start: u64,
    frames: usize,
    size: u64,
    data: Vec<u8>,
    /// Checked frame by frame when no extension transforms the payload.
    utf8: Option<Utf8Validator>,
    broken: bool,
}

/// Follows the sequence of frames and judges it. Used by the decoder; not a public entry point.
pub(crate) struct Assembler {
    open: Option<OpenMessage>,
    close_seen: bool,
    max_message_size: u64,
}

impl Assembler {
    pub(crate) fn new(max_message_size: u64) -> Self {
        Self {
            open: None,
            close_seen: false,
            max_message_size,
        }
    }

    /// Whether a fragmented message is in progress.
    pub(crate) fn has_open_message(&self) -> bool {
        self.open.is_some()
    }

    /// Judges `frame`: where it sits in its message, the message rules it breaks, and the message
    /// it completes, if any. The frame itself is not changed; the decoder applies the verdict.
    pub(crate) fn on_frame(
        &mut self,
        frame: &Frame,
        extension: &mut Option<Box<dyn Extension>>,
    ) -> Verdict {
        let mut v = Verdict {
            fragment: Fragment::Stray,
            violations: Vec::new(),
            message: None,
        };
        v.message = self.judge(frame, &mut v, extension);
        v
    }

    fn judge(
        &mut self,
        frame: &Frame,
        v: &mut Verdict,
        extension: &mut Option<Box<dyn Extension>>,
    ) -> Option<Message> {
        let end = frame.end_offset();
        if self.close_seen {
            v.fragment = Fragment::Stray;
            // §5.5.1: after sending a Close frame, the endpoint MUST NOT send any more data frames.
            v.violations.push(Violation::new(
                Rule::FrameAfterClose,
                frame.offset..end,
                Detail::AfterClose(frame.header.opcode),
            ));
            return None;
        }
        match frame.header.opcode {
            OpCode::Close => {
                v.fragment = Fragment::Control;
                self.close_seen = true;
                check_close_payload(frame, v);
                None
            }
            OpCode::Ping | OpCode::Pong => {
                v.fragment = Fragment::Control;
                None
            }
            OpCode::ReservedControl(_) => {
                v.fragment = Fragment::Control;
                None
            }
            OpCode::ReservedData(_) => {
                v.fragment = Fragment::Stray;
                None
            }
            OpCode::Continuation => {
                if self.open.is_none() {
                    v.fragment = Fragment::Stray;
                    // §5.4: continuation frames only follow a non-final data frame.
                    v.violations.push(Violation::new(
                        Rule::UnexpectedContinuation,
                        frame.offset..frame.offset + 1,
                        Detail::None,
                    ));
                    return None;
                }
                v.fragment = if frame.header.fin {
                    Fragment::Last
                } else {
                    Fragment::Middle
                };
                self.append(frame, v, extension)
            }
            OpCode::Text | OpCode::Binary => {
                if let Some(open) = self.open.take() {
                    // §5.4: fragments of one message are not interleaved with another message.
                    v.violations.push(Violation::new(
                        Rule::ExpectedContinuation,
                        frame.offset..frame.offset + 1,
                        Detail::OpenMessage {
                            opcode: open.opcode,
                            frames: open.frames,
                        },
                    ));
                }
                let transformed = frame.header.rsv.iter().any(|&b| b) && extension.is_some();
                if frame.header.fin && !transformed {
                    v.fragment = Fragment::Whole;
                    return self.whole(frame, v);
                }
                v.fragment = if frame.header.fin {
                    Fragment::Whole
                } else {
                    Fragment::First
                };
                self.open = Some(OpenMessage {
                    opcode: frame.header.opcode,
                    rsv: frame.header.rsv,
                    start: frame.offset,
                    frames: 0,
                    size: 0,
                    data: Vec::new(),
                    utf8: (frame.header.opcode == OpCode::Text && !transformed)
                        .then(Utf8Validator::new),
                    broken: false,
                });
                self.append(frame, v, extension)
            }
        }
    }

    /// A single-frame message with no transform: no copy, the frame's payload is the message.
    fn whole(&mut self, frame: &Frame, v: &mut Verdict) -> Option<Message> {
        let len = frame.payload.len() as u64;
        if len > self.max_message_size {
            v.violations
                .push(too_big(frame, len, self.max_message_size));
            return None;
        }
        if frame.header.opcode == OpCode::Text {
            if let Err(e) = std::str::from_utf8(&frame.payload) {
                let e = Utf8Error {
                    valid_up_to: e.valid_up_to() as u64,
                    error_len: e.error_len(),
                };
                v.violations.push(invalid_utf8(frame, 0, e));
                return None;
            }
        }
        Some(Message {
            opcode: frame.header.opcode,
            payload: frame.payload.clone(),
            frame_count: 1,
            byte_range: frame.offset..frame.end_offset(),
        })
    }

    fn append(
        &mut self,
        frame: &Frame,
        v: &mut Verdict,
        extension: &mut Option<Box<dyn Extension>>,
    ) -> Option<Message> {
        let max = self.max_message_size;
        let open = self.open.as_mut()?;
        open.frames += 1;
        if !open.broken {
            open.size = open.size.saturating_add(frame.payload.len() as u64);
            if open.size > max {
                v.violations.push(too_big(frame, open.size, max));
                open.broken = true;
                open.data = Vec::new();
            }
        }
        if !open.broken {
            if let Some(utf8) = open.utf8.as_mut() {
                let base = utf8.position();
                if let Err(e) = utf8.push(&frame.payload) {
                    v.violations.push(invalid_utf8(frame, base, e));
                    open.broken = true;
                }
            }
        }
        if !open.broken {
            open.data.extend_from_slice(&frame.payload);
        }
        if !frame.header.fin {
            return None;
        }
        let open = self.open.take()?;
        if open.broken {
            return None;
        }
        if let Some(u) = open.utf8.as_ref() {
            if let Err(e) = u.finish() {
                // This payload was pushed last: it starts its length before the end.
                let base = u.position().saturating_sub(frame.payload.len() as u64);
                v.violations.push(invalid_utf8(frame, base, e));
                return None;
            }
        }
        let mut data = open.data;
        if let Some(ext) = extension.as_mut() {
            if open.rsv.iter().any(|&b| b) {
                match ext.decode_message(open.rsv, data, max) {
                    Ok(d) => data = d,
                    Err(why) => {
                        v.violations.push(Violation::new(
                            Rule::ExtensionError,
                            open.start..frame.end_offset(),
                            Detail::Extension {
                                name: ext.name().to_string(),
                                why,
                            },
                        ));
                        return None;
                    }
                }
                if open.opcode == OpCode::Text {
                    if let Err(e) = std::str::from_utf8(&data) {
                        v.violations.push(Violation::new(
                            Rule::InvalidUtf8,
                            open.start..frame.end_offset(),
                            Detail::Utf8AfterExtension {
                                name: ext.name().to_string(),
                                index: e.valid_up_to(),
                            },
                        ));
                        return None;
                    }
                }
            }
        }
        Some(Message {
            opcode: open.opcode,
            payload: Bytes::from(data),
            frame_count: open.frames,
            byte_range: open.start..frame.end_offset(),
        })
    }
}

fn too_big(frame: &Frame, size: u64, max: u64) -> Violation {
    Violation::new(
        Rule::MessageTooBig,
        frame.offset..frame.end_offset(),
        Detail::Size { size, limit: max },
    )
}

/// `e` counts from the message's first byte; this frame's payload starts at message byte
/// `base`. The byte range is the part of the bad sequence inside this frame (the sequence may
/// have started in an earlier frame; a range never leaves the frame).
fn invalid_utf8(frame: &Frame, base: u64, e: Utf8Error) -> Violation {
    let len = frame.payload.len() as u64;
    let bad_start = e.valid_up_to;
    // `None`: the message ends inside a character, which runs to the end.
    let bad_end = e
        .error_len
        .map_or(u64::MAX, |n| bad_start.saturating_add(n as u64));
    let from = bad_start.saturating_sub(base).min(len);
    let to = bad_end.saturating_sub(base).clamp(from, len);
    let at = frame.payload_offset();
    Violation::new(
        Rule::InvalidUtf8,
        at.saturating_add(from)..at.saturating_add(to),
        Detail::Utf8At {
            index: usize::try_from(from).unwrap_or(usize::MAX),
            in_message: e.valid_up_to,
        },
    )
}

fn check_close_payload(frame: &Frame, v: &mut Verdict) {
    let start = frame.payload_offset();
    let parsed = parse_close_payload(&frame.payload);
    match parsed {
        Err(_) => {
            // §5.5.1: if there is a body, the first two bytes MUST be a 2-byte status code.
            v.violations.push(Violation::new(
                Rule::CloseOneBytePayload,
                start..start + 1,
                Detail::None,
            ));
        }
        Ok(None) => {}
        Ok(Some(close)) => {
            if !close.code.is_sendable() {
                v.violations.push(Violation::new(
                    Rule::InvalidCloseCode,
                    start..start + 2,
                    Detail::CloseCode(close.code.code()),
                ));
            }
            if let Err(i) = close.reason {
                let at = start + 2 + i as u64;
                v.violations.push(Violation::new(
                    Rule::InvalidCloseReason,
                    at..at + 1,
                    Detail::ReasonByte(i),
                ));
            }
        }
    }
}
