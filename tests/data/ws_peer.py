"""The python `websockets` exchange the capture fixtures in this folder record.

`python3 ws_peer.py serve HOST PORT` echoes every message (compression off, so the frames are
plain RFC 6455); `python3 ws_peer.py talk HOST PORT` sends a text message with non-ASCII, a
binary one, a fragmented text message, a ping, then closes with 1000 "bye". See make_captures.sh.
"""
import socket
import sys

from websockets.sync.client import connect
from websockets.sync.server import serve


def echo(ws):
    for message in ws:
        ws.send(message)


def talk(host, port):
    uri = f"ws://[{host}]:{port}/chat" if ":" in host else f"ws://{host}:{port}/chat"
    with connect(uri, compression=None, subprotocols=["chat"]) as ws:
        ws.send("Hello, 世界 ✓")
        assert ws.recv() == "Hello, 世界 ✓"
        ws.send(bytes(range(20)))
        assert ws.recv() == bytes(range(20))
        # An iterable is sent as one message in several frames (a fragmented message).
        ws.send(["frag-one ", "frag-two ", "frag-three"])
        assert ws.recv() == "frag-one frag-two frag-three"
        ws.ping(b"are you there").wait(5)
        ws.close(1000, "bye")


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "serve":
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        options = dict(compression=None, subprotocols=["chat"], family=family)
        with serve(echo, host, port, **options) as server:
            server.serve_forever()
    else:
        talk(host, port)


if __name__ == "__main__":
    main()
