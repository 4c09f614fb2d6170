//! The top bar's Export menu: what the store holds now, written as JSON lines, pcap or HAR to
//! a file in the current folder. The file is written on a thread of its own, which copies the
//! store's records out a chunk at a time ([`Capture::export`]): the store is read-locked for
//! one chunk (a few MiB) at a time, so ingest and drawing go on, and the export holds one chunk,
//! not a second copy of the capture. What the budget drops before the export reaches it is
//! written as a gap and said in the status bar.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use eframe::egui;

use super::i18n::{fill, Text};
use super::{style, WsscopeApp};
use crate::capture::{Capture, Evicted};
use crate::event::{Clock, Event, EventKind};
use crate::export::{write_har, write_pcap, HarSummary, PcapSummary};
use crate::record::Writer;

/// The formats the menu writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// wsscope's JSON lines (`wsscope read`, `wsscope open`).
    JsonLines,
    /// Classic pcap (Wireshark, tshark).
    Pcap,
    /// HAR 1.2 (browser DevTools).
    Har,
}

impl ExportFormat {
    /// The file name's extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::JsonLines => "jsonl",
            Self::Pcap => "pcap",
            Self::Har => "har",
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exported {
    /// Events written as JSON lines.
    JsonLines {
        /// Events written (the header line not counted).
        events: u64,
    },
    /// What the pcap writer wrote.
    Pcap(PcapSummary),
    /// What the HAR writer wrote.
    Har(HarSummary),
}

/// An export under way, or the last one.
#[derive(Debug, Clone)]
pub struct ExportJob {
    /// The file.
    pub path: PathBuf,
    /// Events written so far (all of them once done).
    pub events: u64,
    /// What the capture budget dropped before the export reached it (written as gaps; see
    /// [`Evicted`]).
    pub evicted: Evicted,
    /// `None` while writing; then what was written, or why not (the file's name is in
    /// [`ExportJob::path`]).
    pub result: Option<Result<Exported, String>>,
}

/// The menu's state: the last export.
#[derive(Default)]
pub(super) struct Exports {
    last: Option<Arc<Mutex<ExportJob>>>,
}

impl WsscopeApp {
    /// The Export menu of the top bar.
    pub(super) fn export_menu(&mut self, ui: &mut egui::Ui) {
        let t = self.lang.t();
        let r = ui.menu_button(t.export, |ui| {
            for (format, label) in [
                (ExportFormat::JsonLines, t.export_jsonl),
                (ExportFormat::Pcap, t.export_pcap),
                (ExportFormat::Har, t.export_har),
            ] {
                if ui.button(label).clicked() {
                    self.export(format);
                    ui.close();
                }
            }
        });
        r.response.on_hover_text(t.export_hover);
    }

    /// Exports what the store holds to `wsscope-<unix seconds>.<ext>` in the current folder
    /// (`-2`, `-3`... when that name is taken) and returns the path. See
    /// [`WsscopeApp::export_to`].
    pub fn export(&mut self, format: ExportFormat) -> PathBuf {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let ext = format.extension();
        let mut path = PathBuf::from(format!("wsscope-{secs}.{ext}"));
        let mut n = 2;
        while path.exists() {
            path = PathBuf::from(format!("wsscope-{secs}-{n}.{ext}"));
            n += 1;
        }
        self.export_to(format, &path);
        path
    }

    /// Writes what the store holds now to `path` as `format` on a thread of its own, which
    /// copies the store's records out a chunk at a time; [`WsscopeApp::export_job`] says how
    /// it goes. Events stored after this call are not part of the export.
    pub fn export_to(&mut self, format: ExportFormat, path: &Path) {
        let shared = self.server.shared_capture();
        let export = read(&shared).export();
        let job = Arc::new(Mutex::new(ExportJob {
            path: path.to_path_buf(),
            events: 0,
            evicted: Evicted::default(),
            result: None,
        }));
        self.exports.last = Some(Arc::clone(&job));
        let ctx = self.egui_ctx.clone();
        let path = path.to_path_buf();
        let done = Arc::clone(&job);
        let spawned = std::thread::Builder::new()
            .name("wsscope-export".into())
            .spawn(move || {
                let mut events = export.events(|f| f(&read(&shared)));
                let mut n = 0u64;
                let result = {
                    let mut counted = events.by_ref().inspect(|_| {
                        n += 1;
                        if n % 4096 == 0 {
                            lock(&done).events = n;
                        }
                    });
                    write(format, &mut counted, &path)
                };
                let mut job = lock(&done);
                job.events = n;
                job.evicted = events.stats().evicted;
                job.result = Some(result);
                ctx.request_repaint();
            });
        if let Err(e) = spawned {
            lock(&job).result = Some(Err(e.to_string()));
        }
    }

    /// The export under way, or the last one.
    pub fn export_job(&self) -> Option<ExportJob> {
        self.exports.last.as_ref().map(|j| lock(j).clone())
    }

    /// The last export, for the status bar.
    pub(super) fn export_status(&self, ui: &mut egui::Ui) {
        let Some(job) = self.export_job() else {
            return;
        };
        let t = self.lang.t();
        let path = job.path.display();
        match &job.result {
            None => {
                ui.label(fill(t.exporting, &[&job.events, &path]));
                // Repainted by the writer when it is done; a slow disk shows the progress line.
                ui.ctx().request_repaint_after(Duration::from_millis(500));
            }
            Some(Ok(done)) => {
                ui.label(exported_text(t, done, &path));
                let e = job.evicted;
                if e.any() {
                    let text = fill(t.export_evicted, &[&e.tcp_calls, &e.bytes, &e.frames]);
                    ui.colored_label(style::BAD, text);
                }
            }
            Some(Err(e)) => {
                ui.colored_label(style::BAD, fill(t.export_failed, &[&path, e]));
            }
        }
    }
}

/// The status line of a finished export.
fn exported_text(t: &Text, done: &Exported, path: &dyn std::fmt::Display) -> String {
    match done {
        Exported::JsonLines { events } => fill(t.exported_jsonl, &[events, path]),
        Exported::Pcap(s) => fill(
            t.exported_pcap,
            &[&s.connections, &s.packets, &s.bytes, path],
        ),
        Exported::Har(s) => fill(
            t.exported_har,
            &[&s.entries, &s.websockets, &s.messages, path],
        ),
    }
}

/// Writes `events` to `path` as `format`.
fn write(
    format: ExportFormat,
    events: &mut dyn Iterator<Item = Event>,
    path: &Path,
) -> Result<Exported, String> {
    let create = || {
        std::fs::File::create(path)
            .map(std::io::BufWriter::new)
            .map_err(|e| e.to_string())
    };
    match format {
        ExportFormat::Pcap => write_pcap(events, create()?)
            .map(Exported::Pcap)
            .map_err(|e| e.to_string()),
        ExportFormat::Har => write_har(events, create()?)
            .map(Exported::Har)
            .map_err(|e| e.to_string()),
        ExportFormat::JsonLines => {
            // The header carries time zero: the clock event is not repeated as a line. An
            // export gives it first when the capture has one.
            let mut events = events.peekable();
            let unix_micros = match events.peek().map(|e| &e.kind) {
                Some(EventKind::Clock { unix_micros }) => Some(*unix_micros),
                _ => None,
            };
            let clock = Clock {
                epoch: std::time::Instant::now(),
                wall: std::time::UNIX_EPOCH + Duration::from_micros(unix_micros.unwrap_or(0)),
            };
            let mut w = Writer::create_with_clock(path, &clock).map_err(|e| e.to_string())?;
            let mut n = 0;
            for e in events.filter(|e| !matches!(e.kind, EventKind::Clock { .. })) {
                w.write(&e).map_err(|e| e.to_string())?;
                n += 1;
            }
            w.flush().map_err(|e| e.to_string())?;
            Ok(Exported::JsonLines { events: n })
        }
    }
}

/// The store, read-locked (by the export's thread: not counted as the window's wait).
fn read(c: &RwLock<Capture>) -> std::sync::RwLockReadGuard<'_, Capture> {
    c.read().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
