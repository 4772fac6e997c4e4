"""The `peel` command: one verb per job, one module per command group."""

from __future__ import annotations

import typer

from peel import __version__
from peel.cli import (
    anpr,
    audit,
    demo,
    evidence,
    lake,
    leads,
    policy,
    quarantine,
    resolve,
    users,
)
from peel.cli.ingest import ingest
from peel.cli.publish import publish
from peel.cli.serve import serve
from peel.cli.synth import synth

app = typer.Typer(
    name="peel",
    help="Peel: use a police force's own data to solve crime, under rules it can prove it keeps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("ingest")(ingest)
app.add_typer(lake.app, name="lake")
app.add_typer(resolve.app, name="resolve")
app.add_typer(leads.app, name="leads")
app.add_typer(anpr.app, name="anpr")
app.add_typer(evidence.app, name="evidence")
app.command("publish")(publish)
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(users.app, name="users")
app.add_typer(audit.app, name="audit")
app.command("synth")(synth)
app.add_typer(policy.app, name="policy")
app.command("serve")(serve)
app.command("demo")(demo.demo)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit(0)


__all__ = ["app"]
