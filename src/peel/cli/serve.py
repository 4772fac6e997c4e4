"""`peel serve`: the web app and JSON API (FastAPI on uvicorn)."""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import signal
import socket
import sys
from types import FrameType

import typer

from peel.cli.common import handled, setup_logging


def listener(host: str, port: int) -> socket.socket:
    """A TCP listening socket for one worker, bound with SO_REUSEPORT so that every worker
    has its own and the kernel spreads new connections across them.

    Written here rather than using uvicorn's `--workers`: there all workers accept from one
    shared socket, and under keep-alive load one process ended up with most connections
    (87% of a core against 33% in the patrol benchmark) and saturated while the other
    idled; uvicorn also binds that socket with protocol 0, so asyncio never set TCP_NODELAY
    and each keep-alive response waited ~40 ms for a delayed ACK (uvicorn issue 3149,
    open for 0.54). The protocol is stated as TCP here for the same reason."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def freeze_heap() -> None:
    """Move every object alive now into the garbage collector's permanent generation.

    A built app holds about 200,000 objects the collector tracks (routes, policy, templates,
    SQLAlchemy metadata), all living as long as the process. Each full collection walked
    them all, about 100 ms on the benchmark machine, stalling every request in flight: it
    was most of the roadside check's p99 at 200 a second. Frozen, collections skip them
    (`gc.freeze`); garbage made later is collected as before. Called once the app is built,
    in the serving process only (a test process builds many apps and must free them)."""
    gc.collect()
    gc.freeze()


def _worker(host: str, port: int) -> None:
    import uvicorn

    from peel.app.main import create_app

    setup_logging(quiet=False)
    config = uvicorn.Config(
        create_app(),
        log_level="info",
        access_log=False,
        proxy_headers=False,
        loop="uvloop",
        http="httptools",
    )
    freeze_heap()
    uvicorn.Server(config).run(sockets=[listener(host, port)])


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8000, "--port", help="Port (0: any free port)."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Server processes (use the machine's cores)."
    ),
) -> None:
    """Serve the app. Refuses to start on an invalid or unapplied policy, an unmigrated store,
    or (outside development mode) placeholder secrets, naming the problem. No access log:
    request paths carry plates and names, and every access is in the audit log already."""
    import uvicorn

    from peel.app.main import create_app

    setup_logging(quiet=False)
    with handled():
        app = create_app()
    if workers == 1:
        freeze_heap()
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="info",
            access_log=False,
            proxy_headers=False,
            loop="uvloop",
            http="httptools",
        )
        return
    # Checked above in this process; each worker builds its own app (and store engine).
    app.state.peel.store.dispose()
    # Hold the port (port 0 picks one) while the workers bind it beside this socket.
    held = listener(host, port)
    port = held.getsockname()[1]
    typer.echo(f"peel: {workers} workers on http://{host}:{port}", err=True)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(host, port), daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    held.close()  # never listened on: connections go to the workers' sockets only

    def stop(signum: int, frame: FrameType | None) -> None:
        for p in procs:
            if p.is_alive():
                p.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # A worker that exits takes the service down with it: a supervisor (systemd, say)
    # restarts the whole; a half-served port is worse than a stopped one.
    sentinel = multiprocessing.connection.wait([p.sentinel for p in procs])
    stop(signal.SIGTERM, None)
    for p in procs:
        p.join(timeout=30)
    failed = [p for p in procs if p.sentinel in sentinel and p.exitcode not in (0, -15)]
    sys.exit(1 if failed else 0)
