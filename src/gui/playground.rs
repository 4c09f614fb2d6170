//! The playground tabs that need no connection: the frame decoder (hex in, the same anatomy
//! view as live frames out) and the frame builder (every field settable, valid or not).

use eframe::egui::{self, RichText};

use super::i18n::{fill, opcode_name, Lang};
use super::panel::{Action, Outbox, PanelCtx};
use super::{anatomy, style};
use crate::event::Command;
use crate::explain::{hex_spaced, parse_hex, StreamDecode};
use crate::protocol::{apply_mask, FrameHeader, LenEncoding, OpCode, Role};

/// What a receiver makes of some bytes: the same decode summary the CLI prints.
pub(super) type Decoding = StreamDecode;

/// Every frame's anatomy, the messages, and what is left over.
fn show_decoding(ui: &mut egui::Ui, d: &Decoding, lang: Lang, salt: &str) {
    let t = lang.t();
    ui.label(fill(t.decoded_n, &[&d.frame_count(), &d.len]));
    if let Some(note) = d.sender_note(lang) {
        ui.label(RichText::new(note).small());
    }
    // A pasted capture can hold many thousands of frames: list the first ones.
    const SHOWN: usize = 200;
    for (i, f) in d.frames().enumerate().take(SHOWN) {
        let title = fill(
            t.frame_n,
            &[
                &(i + 1),
                &opcode_name(lang, f.header.opcode),
                &f.header.payload_len,
            ],
        );
        let head = if f.violations.is_empty() {
            RichText::new(&title)
        } else {
            RichText::new(format!("{title} !")).color(style::BAD)
        };
        egui::CollapsingHeader::new(head)
            .id_salt((salt, i))
            .default_open(i < 3)
            .show(ui, |ui| {
                anatomy::show(ui, lang, (salt, i), &title, f);
            });
    }
    if d.frame_count() > SHOWN {
        ui.label(fill(t.more_frames, &[&(d.frame_count() - SHOWN)]));
    }
    for (i, m) in d.messages().enumerate().take(SHOWN) {
        ui.add_space(4.0);
        ui.strong(fill(
            t.message_n,
            &[
                &(i + 1),
                &opcode_name(lang, m.opcode),
                &m.frame_count,
                &m.payload.len(),
            ],
        ));
        anatomy::payload_view(ui, lang, &m.payload);
    }
    for problem in [d.leftover(lang), d.stopped(lang)].into_iter().flatten() {
        ui.colored_label(style::BAD, problem);
    }
}

/// The length encoding the builder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LenChoice {
    /// The shortest that fits (what a correct sender does).
    Auto,
    /// Force one, even if it is not the shortest (§5.2 violation) or cannot carry the length.
    Forced(LenEncoding),
}

/// The Build a frame tab: its fields.
pub(super) struct BuildPanel {
    fin: bool,
    rsv: [bool; 3],
    opcode: u8,
    masked: bool,
    key: String,
    payload: String,
    payload_hex: bool,
    encoding: LenChoice,
    announce: bool,
    announced: u64,
    /// The receiver is the server (so the sender is a client) or the client.
    receiver: Role,
}

impl Default for BuildPanel {
    fn default() -> Self {
        Self {
            fin: true,
            rsv: [false; 3],
            opcode: 1,
            masked: true,
            key: "37 fa 21 3d".into(),
            payload: "Hello".into(),
            payload_hex: false,
            encoding: LenChoice::Auto,
            announce: false,
            announced: 5,
            receiver: Role::Server,
        }
    }
}

impl BuildPanel {
    /// The frame's bytes and, when the chosen length field cannot carry the length, a note
    /// saying what it carries instead; or why the bytes cannot be made.
    pub(super) fn bytes(&self, lang: Lang) -> Result<(Vec<u8>, Option<String>), String> {
        let t = lang.t();
        let payload = if self.payload_hex {
            parse_hex(&self.payload).map_err(|e| fill(t.build_bad_payload, &[&e.describe(lang)]))?
        } else {
            self.payload.as_bytes().to_vec()
        };
        let key = if self.masked {
            let k =
                parse_hex(&self.key).map_err(|e| fill(t.build_bad_key, &[&e.describe(lang)]))?;
            let k: [u8; 4] = k
                .try_into()
                .map_err(|k: Vec<u8>| fill(t.build_bad_key, &[&format!("{} bytes", k.len())]))?;
            Some(k)
        } else {
            None
        };
        let announced = if self.announce {
            self.announced
        } else {
            payload.len() as u64
        };
        let len_encoding = match self.encoding {
            LenChoice::Auto => LenEncoding::minimal_for(announced),
            LenChoice::Forced(e) => e,
        };
        // A 7-bit field cannot say more than 125 and a 16-bit one more than 65535: the bytes
        // carry the most the chosen encoding can, and the note says so.
        let written = announced.min(len_encoding.max_len());
        let note = (written != announced).then(|| {
            fill(
                t.build_clamped,
                &[&len_encoding.bits(), &announced, &written],
            )
        });
        let announced = written;
        let header = FrameHeader {
            fin: self.fin,
            rsv: self.rsv,
            opcode: OpCode::from(self.opcode),
            masked: self.masked,
            payload_len: announced,
            mask_key: key,
            len_encoding,
        };
        let mut out = Vec::with_capacity(14 + payload.len());
        header.encode(&mut out);
        let start = out.len();
        out.extend_from_slice(&payload);
        if let Some(k) = key {
            apply_mask(&mut out[start..], k, 0);
        }
        Ok((out, note))
    }
}

/// The Decode frames tab: hex in, every frame's anatomy out.
pub(super) struct DecodePanel {
    /// The bytes as typed (a saved setting).
    pub(super) hex: String,
    /// Which end sent them (`None`: judged from the MASK bit).
    sender: Option<Role>,
    /// The last input and what it decoded to.
    decoded: Option<DecodeCache>,
}

/// The decoder's last input and what it decoded to.
type DecodeCache = ((String, Option<Role>), Result<Decoding, String>);

impl DecodePanel {
    /// The decoder showing `hex`, its sender judged from the MASK bit.
    pub(super) fn new(hex: String) -> Self {
        Self {
            hex,
            sender: None,
            decoded: None,
        }
    }

    /// Shows `hex` as sent by `sender`.
    pub(super) fn open(&mut self, hex: String, sender: Role) {
        self.hex = hex;
        self.sender = Some(sender);
    }

    /// Draws the tab.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelCtx) {
        let Self {
            hex,
            sender,
            decoded,
        } = self;
        let lang = cx.lang;
        let t = lang.t();
        ui.label(t.decode_intro);
        ui.horizontal(|ui| {
            let l = ui.label(t.frame_bytes);
            ui.add(
                egui::TextEdit::singleline(hex)
                    .font(egui::TextStyle::Monospace)
                    .desired_width(520.0),
            )
            .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            ui.label(t.sent_by);
            ui.selectable_value(sender, None, t.auto);
            ui.selectable_value(sender, Some(Role::Client), t.client);
            ui.selectable_value(sender, Some(Role::Server), t.server);
        });
        ui.separator();
        // Decode once per edit, not once per repaint: a pasted capture can be large.
        let key = (hex.clone(), *sender);
        if decoded.as_ref().is_none_or(|(k, _)| *k != key) {
            let result = parse_hex(hex)
                .map(|b| Decoding::new(&b, *sender))
                .map_err(|e| e.to_string());
            *decoded = Some((key, result));
        }
        egui::ScrollArea::vertical()
            .id_salt("decode")
            .show(ui, |ui| match decoded.as_ref().map(|(_, r)| r) {
                Some(Ok(d)) => show_decoding(ui, d, lang, "decode"),
                Some(Err(e)) => {
                    // The cache keeps the English text; say it in the language shown now.
                    let why = parse_hex(hex)
                        .err()
                        .map_or_else(|| e.clone(), |e| e.describe(lang));
                    ui.colored_label(style::BAD, fill(t.cannot_read_hex, &[&why]));
                }
                None => {}
            });
    }
}

impl BuildPanel {
    /// Draws the tab; the bytes can go to the decoder or, raw, to the selected connection.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelCtx, out: &mut Outbox) {
        let lang = cx.lang;
        let t = lang.t();
        ui.label(t.build_intro);
        self.fields_ui(ui, lang);
        ui.separator();
        let bytes = match self.bytes(lang) {
            Ok((b, note)) => {
                if let Some(n) = note {
                    ui.colored_label(style::BAD, n);
                }
                b
            }
            Err(e) => {
                ui.colored_label(style::BAD, e);
                return;
            }
        };
        let sender = self.receiver.peer();
        let hex = hex_spaced(&bytes);
        ui.label(fill(t.build_bytes, &[&bytes.len()]));
        ui.label(RichText::new(&hex).monospace().strong());
        let target = cx.open_target();
        ui.horizontal(|ui| {
            if ui.button(t.build_copy).clicked() {
                ui.ctx().copy_text(hex.clone());
            }
            if ui.button(t.build_to_decoder).clicked() {
                out.request(Action::Decode {
                    hex: hex.clone(),
                    sender,
                });
            }
            let send = ui.add_enabled(target.is_some(), egui::Button::new(t.build_send));
            if let Some(id) = target.filter(|_| send.clicked()) {
                out.send(Command::Raw(id, bytes.clone()));
            }
        });
        ui.separator();
        let d = Decoding::new(&bytes, Some(sender));
        if d.clean() {
            ui.colored_label(style::GOOD, t.build_all_ok);
        }
        egui::ScrollArea::vertical()
            .id_salt("build")
            .show(ui, |ui| {
                show_decoding(ui, &d, lang, "build");
            });
    }

    /// Every field of the header, editable.
    fn fields_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let t = lang.t();
        let Self {
            fin,
            rsv,
            opcode,
            masked,
            key,
            payload,
            payload_hex,
            encoding,
            announce,
            announced,
            receiver,
        } = self;
        egui::Grid::new("builder")
            .num_columns(2)
            .spacing([12.0, 4.0])
            .show(ui, |ui| {
                let l = ui.label(RichText::new("FIN").color(style::FIN));
                ui.checkbox(fin, "").labelled_by(l.id);
                ui.end_row();
                ui.label(RichText::new("RSV1-3").color(style::RSV));
                ui.horizontal(|ui| {
                    for (i, r) in rsv.iter_mut().enumerate() {
                        ui.checkbox(r, format!("RSV{}", i + 1));
                    }
                });
                ui.end_row();
                let l = ui.label(RichText::new(t.col_opcode).color(style::OPCODE));
                ui.horizontal(|ui| {
                    ui.add(
                        egui::DragValue::new(opcode)
                            .range(0..=15)
                            .hexadecimal(1, false, true),
                    )
                    .labelled_by(l.id);
                    for op in [0u8, 1, 2, 8, 9, 10, 3, 11] {
                        let name = opcode_name(lang, OpCode::from(op));
                        ui.selectable_value(opcode, op, name);
                    }
                });
                ui.end_row();
                let l = ui.label(RichText::new("MASK").color(style::MASK));
                ui.horizontal(|ui| {
                    ui.checkbox(masked, "").labelled_by(l.id);
                    if *masked {
                        let l = ui.label(RichText::new(t.build_key).color(style::KEY));
                        ui.add(
                            egui::TextEdit::singleline(key)
                                .font(egui::TextStyle::Monospace)
                                .desired_width(110.0),
                        )
                        .labelled_by(l.id);
                    }
                });
                ui.end_row();
                let l = ui.label(RichText::new(t.build_payload).color(style::PAYLOAD));
                ui.horizontal(|ui| {
                    ui.add(egui::TextEdit::singleline(payload).desired_width(360.0))
                        .labelled_by(l.id);
                    ui.checkbox(payload_hex, t.build_payload_hex);
                });
                ui.end_row();
                ui.label(RichText::new(t.build_force_encoding).color(style::LENGTH));
                ui.horizontal(|ui| {
                    ui.selectable_value(encoding, LenChoice::Auto, t.build_auto);
                    ui.selectable_value(encoding, LenChoice::Forced(LenEncoding::Seven), "7");
                    ui.selectable_value(encoding, LenChoice::Forced(LenEncoding::Sixteen), "7+16");
                    ui.selectable_value(
                        encoding,
                        LenChoice::Forced(LenEncoding::SixtyFour),
                        "7+64",
                    );
                });
                ui.end_row();
                ui.label(RichText::new(t.len_field).color(style::LENGTH));
                ui.horizontal(|ui| {
                    let c = ui.checkbox(announce, t.build_len_override);
                    if *announce {
                        ui.add(egui::DragValue::new(announced)).labelled_by(c.id);
                    }
                });
                ui.end_row();
                ui.label(t.build_receiver);
                ui.horizontal(|ui| {
                    ui.selectable_value(receiver, Role::Server, t.server);
                    ui.selectable_value(receiver, Role::Client, t.client);
                });
                ui.end_row();
            });
    }
}
