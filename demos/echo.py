"""A TCP echo server and N clients, all goroutines, on aiogc's wall-clock runtime.

The server is ``asyncio.start_server``: every accepted connection gets a goroutine (the host
loop's callback readies it onto a P, as Go's netpoller does).  Each client goroutine connects,
sends a few lines, reads each echo back, prints what it sent and received, and reports on a
channel; ``main`` waits for every client and every server-side handler, then closes the server
and returns, so the program exits cleanly.  Only 127.0.0.1 is used.

    python demos/echo.py [--clients N] [--messages M] [--port PORT]
    aiogc run demos/echo.py --clock wall     # the CLI calls main() (real sockets need wall time)
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import aiogc

HOST = "127.0.0.1"


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, done: aiogc.Chan) -> None:
    """Server side of one connection: echo every line until the client closes."""
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line)
            await writer.drain()
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
        await done.send(None)


async def client(i: int, port: int, messages: int, results: aiogc.Chan) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    pairs: list[tuple[str, str]] = []
    try:
        for k in range(messages):
            msg = f"client {i} message {k} from goroutine {aiogc.current_g().id}"
            writer.write(msg.encode() + b"\n")
            await writer.drain()
            echo = (await reader.readline()).decode().rstrip("\n")
            pairs.append((msg, echo))
            print(f"client {i}: sent {msg!r} received {echo!r}")
    finally:
        writer.close()
        await writer.wait_closed()
    await results.send((i, pairs))


async def main(clients: int = 4, messages: int = 3, port: int = 0) -> list[tuple[int, list[tuple[str, str]]]]:
    """Run the server and ``clients`` clients; return [(client, [(sent, received), ...]), ...]."""
    handlers_done = aiogc.Chan(clients)
    server = await asyncio.start_server(lambda r, w: handle(r, w, handlers_done), HOST, port)
    port = server.sockets[0].getsockname()[1]
    print(f"echo server listening on {HOST}:{port}")
    results = aiogc.Chan(clients)
    for i in range(clients):
        aiogc.go(client(i, port, messages, results), name=f"client{i}")
    out = sorted([await results.recv() for _ in range(clients)])
    for _ in range(clients):
        await handlers_done.recv()
    server.close()
    await server.wait_closed()
    ok = all(sent == got for _, pairs in out for sent, got in pairs)
    print(f"{clients} clients x {messages} messages echoed: {'all match' if ok else 'MISMATCH'}")
    return out


def _args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--messages", type=int, default=3)
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    a = ap.parse_args(argv)
    if a.clients < 1 or a.messages < 0 or not 0 <= a.port <= 65535:
        ap.error("--clients must be >= 1, --messages >= 0, --port in 0..65535")
    return a


if __name__ == "__main__":
    _a = _args(sys.argv[1:])
    aiogc.run(main(_a.clients, _a.messages, _a.port), clock="wall")
