#!/usr/bin/env bash
# The window as a user runs it (under Xvfb), against `serve` from the same binary in the same run:
# the wire rate of each wsload scenario, the window's peak resident memory (VmRSS), its frame times
# (WSSCOPE_FRAME_STATS: the whole frame, software painting included, and our egui pass alone), and
# whether every round trip came back (wsload's errors).
#
# Usage: benches/window.sh [SCENARIO...]   (default: all; `hall` alone is the lecture hall)
# Env:   BIN (default target/release/wsscope), WSLOAD (default: built from ../shared/bench/wsload
#        into target/wsload), BUDGET MiB (128), DUR seconds (6), HALL connections (1000),
#        DISPLAY_NUM (99).
# Needs: Xvfb (apt install xvfb), a release build (cargo build --release).
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/wsscope}
BUDGET=${BUDGET:-128}
DUR=${DUR:-6}
HALL=${HALL:-1000}
D=:${DISPLAY_NUM:-99}
. benches/wsload.sh
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release" >&2; exit 1; }

declare -A ARGS=(
    [1x32B]="-c 1 -s 32"
    [1x64KiB]="-c 1 -s 65536 -b"
    [50x32B]="-c 50 -s 32"
    [handshakes]="--handshake -c 4"
    [empty-flood]="-c 4 -s 0 -p 64"
    [hall]="-c $HALL -s 32"
)
# Floods wsload does not make (benches/floods.py): their rate is not comparable, their memory is.
FLOODS=(ping-flood fragment-flood)
ORDER=(1x32B 1x64KiB 50x32B handshakes empty-flood hall "${FLOODS[@]}")
[ $# -gt 0 ] && ORDER=("$@")

if ! xdpyinfo -display $D > /dev/null 2>&1; then
    Xvfb $D -screen 0 1500x900x24 > /dev/null 2>&1 &
    XVFB=$!
    trap 'kill $XVFB 2>/dev/null' EXIT
    sleep 1
fi

rss_watch() { # pid file: the peak VmRSS in kB, written as it grows
    local max=0 r
    while kill -0 "$1" 2>/dev/null; do
        r=$(awk '/VmRSS/{print $2}' /proc/"$1"/status 2>/dev/null)
        if [ -n "$r" ] && [ "$r" -gt "$max" ]; then max=$r; echo $max > "$2"; fi
        sleep 0.2
    done
}

run_mode() { # mode port
    local mode=$1 port=$2 log=target/window-bench-$1.log rss=target/window-bench-$1.rss pid
    echo 0 > $rss
    if [ "$mode" = serve ]; then
        $BIN serve --port $port --trace none --max-connections $((HALL + 50)) > $log 2>&1 &
    else
        DISPLAY=$D HOME=$(mktemp -d) WSSCOPE_FRAME_STATS=1 $BIN --port $port \
            --max-connections $((HALL + 50)) --capture-budget $BUDGET > $log 2>&1 &
    fi
    pid=$!
    rss_watch $pid $rss &
    for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
    sleep 1
    for s in "${ORDER[@]}"; do
        local line
        if [ "$s" = ping-flood ] || [ "$s" = fragment-flood ]; then
            line=$(timeout $((DUR + 60)) python3 benches/floods.py "ws://127.0.0.1:$port/ws" \
                "${s%-flood}" $DUR 4 2>&1 | tail -1)
            echo -e "$mode\t$s\t-\tpeak_rss_kB=$(cat $rss)\t$line"
            continue
        fi
        line=$(timeout $((DUR + 120)) $WSLOAD "ws://127.0.0.1:$port/ws" -d $DUR -w 1 \
            --max-time $((DUR + 100)) ${ARGS[$s]} 2>&1 | grep '^wsload: ' | tail -1)
        echo -e "$mode\t$s\t$(awk '{print $2, $3}' <<< "$line")\tpeak_rss_kB=$(cat $rss)\t$line"
    done
    kill -INT $pid; sleep 3; kill $pid 2>/dev/null
    echo -e "$mode\tpeak_rss_kB=$(cat $rss)"
    grep -h 'frames: p50' $log | sed "s/^/$mode\t/"
}

run_mode serve 17301
run_mode window 17302
