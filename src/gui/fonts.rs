//! Fonts: egui's defaults have no CJK glyphs, so the window adds a bundled subset of Noto Sans
//! CJK SC (every GB2312 character and every character of the Chinese UI), then a full CJK font
//! from the system when one is installed, for rarer characters in payloads.

use eframe::egui::{self, FontData, FontDefinitions, FontFamily};

/// Noto Sans CJK SC Regular cut down by `assets/fonts/make-subset.sh` (SIL OFL 1.1).
pub const BUNDLED_CJK: &[u8] = include_bytes!("../../assets/fonts/NotoSansSC-subset.otf");

/// Where Linux, macOS and Windows keep a full CJK font, with the face index to use in a
/// collection (Noto's collection holds JP, KR, SC, ... in that order; SC is 2).
const SYSTEM_CJK: &[(&str, u32)] = &[
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        2,
    ),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/System/Library/Fonts/PingFang.ttc", 0),
    ("/System/Library/Fonts/STHeiti Light.ttc", 0),
    ("C:\\Windows\\Fonts\\msyh.ttc", 0),
    ("C:\\Windows\\Fonts\\simsun.ttc", 0),
];

/// Which fonts to add after egui's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// The bundled subset only (tests: the same glyphs on every machine).
    Bundled,
    /// The bundled subset, then the first system CJK font found.
    BundledAndSystem,
}

/// Adds the CJK fallbacks to both families; egui's fonts keep priority for Latin text.
/// Returns the system font used, if any.
pub fn install(ctx: &egui::Context, sources: Sources) -> Option<&'static str> {
    let mut defs = FontDefinitions::default();
    let mut names = vec!["wsscope-cjk".to_string()];
    defs.font_data.insert(
        names[0].clone(),
        std::sync::Arc::new(FontData::from_static(BUNDLED_CJK)),
    );
    let mut used = None;
    if sources == Sources::BundledAndSystem {
        // A missing or unreadable font is not an error: the bundled subset still covers the UI.
        if let Some((path, bytes, index)) = SYSTEM_CJK.iter().find_map(|(p, i)| {
            let bytes = std::fs::read(p).ok()?;
            usable(&bytes, *i).then_some((*p, bytes, *i))
        }) {
            let mut data = FontData::from_owned(bytes);
            data.index = index;
            defs.font_data
                .insert("system-cjk".into(), std::sync::Arc::new(data));
            names.push("system-cjk".into());
            used = Some(path);
        }
    }
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        defs.families
            .entry(family)
            .or_default()
            .extend(names.iter().cloned());
    }
    ctx.set_fonts(defs);
    used
}

/// Whether egui can parse face `index` of `bytes` (it panics on a font it cannot parse, so a
/// damaged system font must be skipped here).
pub fn usable(bytes: &[u8], index: u32) -> bool {
    skrifa::FontRef::from_index(bytes, index).is_ok()
}
