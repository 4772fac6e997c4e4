"""`peel serve --workers N`: the shared listening socket keeps Nagle's algorithm off on every
connection (without it each keep-alive response waited ~40 ms for a delayed ACK)."""

from __future__ import annotations

import asyncio
import socket

from peel.cli.serve import _nodelay_listener


async def _nodelay_of_accepted(listener: socket.socket) -> int:
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
    port = listener.getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(seen, 5)
    finally:
        writer.close()
        server.close()


def test_accepted_connections_have_tcp_nodelay() -> None:
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # as uvicorn binds it: proto 0
    raw.bind(("127.0.0.1", 0))
    listener = _nodelay_listener(raw)
    assert listener.proto == socket.IPPROTO_TCP
    assert asyncio.run(_nodelay_of_accepted(listener)) != 0


def test_a_unix_socket_is_left_alone() -> None:
    a, b = socket.socketpair()
    with a, b:
        assert _nodelay_listener(a) is a
