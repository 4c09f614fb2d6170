#!/usr/bin/env python3
"""Floods wsload does not make, for the capture budget's resident-memory check (benches/window.sh
measures VmRSS while they run): pings, and messages cut into one-byte fragments.

Usage: floods.py ws://127.0.0.1:PORT/ws ping|fragments SECONDS [CONNECTIONS]
Prints how many frames were sent and answered. Standard library only.
"""
import base64
import os
import socket
import struct
import sys
import threading
import time


def frame(opcode, payload, fin=True):
    key = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def connect(host, port, path):
    s = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(head.split(b"\r\n")[0].decode())
    return s


def run(url, kind, seconds, counts, i):
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    s = connect(host, int(port), "/" + path)
    received = [0]

    def drain():
        try:
            while s.recv(1 << 16):
                received[0] += 1
        except OSError:
            pass

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    # Many frames per send: the flood is the server's (and the capture's) problem, not Python's.
    if kind == "ping":
        batch = b"".join(frame(0x9, b"p%d" % k) for k in range(256))
        per = 256
    else:
        parts = [frame(0x1, b"h", fin=False)]
        parts += [frame(0x0, b"e", fin=False) for _ in range(254)]
        parts.append(frame(0x0, b"!", fin=True))
        batch = b"".join(parts)
        per = 256
    end = time.time() + seconds
    sent = 0
    while time.time() < end:
        s.sendall(batch)
        sent += per
    s.sendall(frame(0x8, struct.pack(">H", 1000)))
    time.sleep(0.5)
    s.close()
    counts[i] = (sent, received[0])


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    url, kind, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    counts = [None] * n
    threads = [threading.Thread(target=run, args=(url, kind, seconds, counts, i)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = sum(c[0] for c in counts if c)
    print(f"floods: {kind}: {sent} frames sent over {n} connections in {seconds:.0f} s")


if __name__ == "__main__":
    main()
