"""`peel serve`: the web app and JSON API (FastAPI on uvicorn)."""

from __future__ import annotations

import typer

from peel.cli.common import handled, setup_logging


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8000, "--port", help="Port (0: any free port)."),
) -> None:
    """Serve the app. Refuses to start on an invalid or unapplied policy, an unmigrated store,
    or (outside development mode) placeholder secrets, naming the problem."""
    import uvicorn

    from peel.app.main import create_app

    setup_logging(quiet=False)
    with handled():
        app = create_app()
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)
