#!/usr/bin/env bash
# Remakes the real captures in this folder: tcpdump / tshark on the loopback interface while
# ws_peer.py serves and talks (python `websockets`, compression off). Needs root (or capture
# rights), tcpdump, tshark and `pip install websockets`. tests/import.rs reads the results.
set -euo pipefail
cd "$(dirname "$0")"

capture() { # NAME HOST PORT CAPTURE-COMMAND...
    local name=$1 host=$2 port=$3
    shift 3
    "$@" "tcp port $port" &
    local cap=$!
    sleep 1.5
    python3 ws_peer.py serve "$host" "$port" &
    local srv=$!
    sleep 1
    python3 ws_peer.py talk "$host" "$port"
    sleep 0.5
    kill "$srv" || true
    sleep 1
    kill -INT "$cap"
    wait "$cap" || true
    wait "$srv" || true
    echo "$name: $(stat -c %s "$name") bytes"
}

case "${1:-all}" in
all)
    capture ws-lo.pcap 127.0.0.1 18081 tcpdump -q -U -i lo -w ws-lo.pcap
    capture ws-lo.pcapng 127.0.0.1 18082 tshark -q -i lo -w ws-lo.pcapng -f
    capture ws-any-sll2.pcap 127.0.0.1 18083 tcpdump -q -U -i any -w ws-any-sll2.pcap
    capture ws-any-sll.pcap 127.0.0.1 18084 tcpdump -q -U -i any -y LINUX_SLL -w ws-any-sll.pcap
    ;&
ipv6)
    capture ws-ipv6-nano.pcap ::1 18085 tcpdump -q -U -i lo --time-stamp-precision=nano -w ws-ipv6-nano.pcap
    ;;
esac
