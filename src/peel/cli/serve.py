"""`peel serve`: the web app and JSON API (FastAPI on uvicorn)."""

from __future__ import annotations

import socket

import typer

from peel.cli.common import handled, setup_logging


def _nodelay_listener(sock: socket.socket) -> socket.socket:
    """The listening socket with its protocol stated as TCP. uvicorn binds the socket for
    its worker processes with protocol 0; accepted connections inherit it, and asyncio
    turns Nagle's algorithm off (TCP_NODELAY) only on sockets that say IPPROTO_TCP, so every
    keep-alive response waited about 40 ms for the client's delayed ACK (uvicorn issue
    3149, open for 0.54). Rebuilding the socket object around the same descriptor fixes it."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
        return sock
    return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())


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
    from uvicorn.supervisors import Multiprocess

    from peel.app.main import create_app

    setup_logging(quiet=False)
    with handled():
        app = create_app()
    if workers == 1:
        uvicorn.run(
            app, host=host, port=port, log_level="info", access_log=False, proxy_headers=False
        )
        return
    # Checked above in this process; each worker builds its own app (and store engine).
    app.state.peel.store.dispose()
    config = uvicorn.Config(
        "peel.app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
        proxy_headers=False,
    )
    Multiprocess(config, sockets=[_nodelay_listener(config.bind_socket())]).run()
