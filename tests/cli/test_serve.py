"""`peel serve --workers N`: one SO_REUSEPORT listener per worker, each keeping Nagle's
algorithm off (without TCP_NODELAY each keep-alive response waited ~40 ms for a delayed
ACK), and a supervisor that starts and stops the workers together."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from peel.cli.serve import listener


async def _nodelay_of_accepted(sock: socket.socket) -> int:
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            s = transport.get_extra_info("socket")
            seen.set_result(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
    _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
    try:
        return await asyncio.wait_for(seen, 5)
    finally:
        writer.close()
        server.close()


def test_each_worker_listens_on_the_same_port_with_tcp_nodelay() -> None:
    first = listener("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = listener("127.0.0.1", port)  # a second worker binds the same port
    with first, second:
        assert first.proto == socket.IPPROTO_TCP
        assert first.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert asyncio.run(_nodelay_of_accepted(second)) != 0


@pytest.mark.slow
def test_two_workers_serve_and_stop_together(tmp_path: Path) -> None:
    env = {**os.environ, "PEEL_DATA_DIR": str(tmp_path), "PEEL_ENV": "development"}
    env.pop("PEEL_DATABASE_URL", None)
    peel = Path(sys.executable).parent / "peel"
    proc = subprocess.Popen(
        [str(peel), "serve", "--port", "0", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if m := re.search(r"workers on http://127\.0\.0\.1:(\d+)", line):
                port = int(m.group(1))
        assert port, "the supervisor did not say where it listens"
        pids = set()
        while time.monotonic() < deadline and len(pids) < 2:
            try:
                with httpx.Client() as c:  # a new connection each time
                    r = c.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                    assert r.status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            pids = {p for p in _children(proc.pid)}
        assert len(pids) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
    assert code == 0
    assert not any(_alive(p) for p in pids)


def _children(pid: int) -> list[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    kids = [int(x) for x in out.stdout.split()]
    return [k for k in kids if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
