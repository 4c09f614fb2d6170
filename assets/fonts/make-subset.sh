#!/usr/bin/env bash
# Rebuilds NotoSansSC-subset.otf: Noto Sans CJK SC Regular (SIL OFL 1.1) cut down to the 6763
# hanzi and the punctuation of GB2312 plus every character of src/gui/i18n.rs, so the window
# shows Chinese UI text and common Chinese payloads without tofu and without a 16 MB font.
# Needs: Debian's fonts-noto-cjk and `pip install fonttools`. The glyph test in tests/gui.rs fails
# when a new UI string needs a character outside this set: rerun this script then.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC=/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
TEXT="$(mktemp)"
python3 - "$HERE/../../src/gui/i18n.rs" > "$TEXT" <<'PY'
import sys
chars = set(open(sys.argv[1], encoding="utf-8").read())
for hi in list(range(0xA1, 0xAA)) + list(range(0xB0, 0xF8)):
    for lo in range(0xA1, 0xFF):
        try:
            chars.add(bytes([hi, lo]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
sys.stdout.write("".join(sorted(c for c in chars if ord(c) > 0x7f)))
PY
# Font number 2 in the collection is Noto Sans CJK SC.
pyftsubset "$SRC" --font-number=2 --text-file="$TEXT" --output-file="$HERE/NotoSansSC-subset.otf" \
  --no-hinting --layout-features='' --name-IDs='*'
rm -f "$TEXT"
ls -l "$HERE/NotoSansSC-subset.otf"
