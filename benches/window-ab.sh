#!/usr/bin/env bash
# The window against `serve` on a noisy machine: both run side by side (same binary), and each
# wsload scenario goes to one then the other, alternating which goes first, ROUNDS times. Prints
# each round's window/serve ratio and the ratio of the medians. `benches/window.sh` runs serve's
# loads minutes before the window's, so the machine's drift (30 % within a session here) lands
# in its ratios; this one spreads it over both.
#
# Usage: benches/window-ab.sh   Env: BIN (target/release/wsscope), WSLOAD (as in window.sh),
#        ROUNDS (5), DUR seconds (5), BUDGET MiB (128), DISPLAY_NUM (95).
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/wsscope}
ROUNDS=${ROUNDS:-5}; DUR=${DUR:-5}; BUDGET=${BUDGET:-128}; D=:${DISPLAY_NUM:-95}
. benches/wsload.sh
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release" >&2; exit 1; }
if ! xdpyinfo -display $D > /dev/null 2>&1; then
    Xvfb $D -screen 0 1500x900x24 > /dev/null 2>&1 &
    XVFB=$!
    sleep 1
fi
$BIN serve --port 17341 --trace none > /dev/null 2>&1 & SP=$!
DISPLAY=$D HOME=$(mktemp -d) WSSCOPE_FRAME_STATS=1 $BIN --port 17342 --capture-budget $BUDGET \
    > target/window-ab.log 2>&1 & WP=$!
trap 'kill $SP $WP ${XVFB:-} 2>/dev/null' EXIT
for p in 17341 17342; do
    for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.2; done
done
sleep 1
NAMES=(1x32B 1x64KiB 50x32B handshakes)
ARGS=("-c 1 -s 32" "-c 1 -s 65536 -b" "-c 50 -s 32" "--handshake -c 4")
OUT=target/window-ab.tsv; : > $OUT
for r in $(seq $ROUNDS); do
    for i in 0 1 2 3; do
        if ((r % 2)); then MODES="serve window"; else MODES="window serve"; fi
        for m in $MODES; do
            p=17341; [ $m = window ] && p=17342
            v=$($WSLOAD ws://127.0.0.1:$p/ws -d $DUR -w 1 ${ARGS[$i]} 2>&1 | grep '^wsload:' |
                tail -1 | awk '{print $2}')
            echo -e "$r\t${NAMES[$i]}\t$m\t${v:-0}" >> $OUT
        done
    done
done
kill -INT $WP; sleep 2
grep -h 'frames: p50' target/window-ab.log
python3 - $OUT <<'PY'
import sys, statistics as st, collections
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r, n, m, v = line.rstrip("\n").split("\t")
    d[(n, m)].append(float(v))
for n in ["1x32B", "1x64KiB", "50x32B", "handshakes"]:
    s, w = d[(n, "serve")], d[(n, "window")]
    rounds = " ".join(f"{a / b:.2f}" if b else "-" for a, b in zip(w, s))
    ratio = st.median(w) / st.median(s) if st.median(s) else 0
    print(f"{n:11s} serve {st.median(s):9.1f}  window {st.median(w):9.1f}  "
          f"window/serve {ratio:.2f}  (rounds: {rounds})")
PY
