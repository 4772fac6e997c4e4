"""`peel audit verify|report|checkpoint`: check the audit chain and its signed checkpoints,
report on what a user did or who consulted a subject, and sign a checkpoint now."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from peel.cli.common import JsonOption, emit_json, err, handled
from peel.governance import audit, auditlog, checkpoint, history, identity
from peel.governance.verify import verify as verify_log
from peel.serving import Store
from peel.settings import get_settings

app = typer.Typer(
    help="The tamper-evident audit log: verify, report, checkpoint.", no_args_is_help=True
)


def _store() -> Store:
    store = Store(get_settings())
    store.migrate()
    return store


def _when(value: str | None, option: str) -> datetime | None:
    """An ISO date or time; UTC unless it names its offset."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        err.print(f"[red]refused:[/red] {option} {value!r} is not an ISO date or time")
        raise typer.Exit(2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("verify")
def verify(
    public_key: list[Path] = typer.Option(
        [],
        "--public-key",
        help="Check checkpoints with this PEM public key (repeatable; default: the .pub file "
        "next to PEEL_AUDIT_KEY_FILE).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Check every entry's hash and link from the first, the subjects index, and every signed
    checkpoint. Exit 1 naming the first bad entry if anything fails."""
    with handled():
        settings = get_settings()
        store = _store()
        try:
            with store.connect() as conn:
                result = verify_log(conn, settings, public_keys=public_key)
        finally:
            store.dispose()
    if as_json:
        emit_json(result.to_dict())
    elif result.ok:
        covered = (
            f", the newest covering entry {result.last_checkpoint}"
            if result.last_checkpoint
            else ""
        )
        err.print(
            f"audit log intact: {result.entries:,} entries, "
            f"{result.checkpoints_checked} signed checkpoints{covered}"
        )
        if result.entries and not result.checkpoints_checked:
            err.print(
                "[yellow]warning:[/yellow] no signed checkpoint yet: a rewrite of the whole "
                "chain or a cut at its end would not show (run `peel audit checkpoint`)"
            )
    else:
        where = f"first bad entry: {result.first_bad_seq}" if result.first_bad_seq else "checkpoint"
        err.print(f"[red]audit log NOT intact[/red] ({where}): {result.reason}", highlight=False)
        for problem in result.problems[1:]:
            err.print(f"  also: {problem}", highlight=False)
    raise typer.Exit(0 if result.ok else 1)


@app.command("checkpoint")
def checkpoint_(as_json: bool = JsonOption) -> None:
    """Sign the current head of the log now and write it to the checkpoint folder. Exit 1 if
    the log does not verify since the previous checkpoint (nothing is signed then)."""
    settings = get_settings()
    doc: dict[str, object]
    with handled():
        store = _store()
        try:
            with store.connect() as conn:
                if audit.count(conn) == 0:
                    doc = {"written": False, "count": 0, "path": None}
                else:
                    path = checkpoint.write_checkpoint(conn, settings)
                    cp = checkpoint.read_checkpoint(path)
                    doc = {"written": True, "path": str(path), **cp.to_json()}
        except checkpoint.ChainBroken as e:
            err.print(f"[red]not signed:[/red] {e}", highlight=False)
            raise typer.Exit(1) from e
        finally:
            store.dispose()
    if as_json:
        emit_json(doc)
    elif doc["written"]:
        err.print(f"checkpoint of entry {doc['count']:,} written to {doc['path']}")
    else:
        err.print("the audit log is empty: nothing to checkpoint")


@app.command("report")
def report(
    user: str | None = typer.Option(None, "--user", help="What this account did."),
    subject: str | None = typer.Option(
        None, "--subject", help="Who consulted this subject or record id."
    ),
    from_: str | None = typer.Option(None, "--from", help="From this ISO time (UTC by default)."),
    to: str | None = typer.Option(None, "--to", help="Before this ISO time (UTC by default)."),
    as_user: str = typer.Option(..., "--as", help="The oversight account running the report."),
    purpose: str = typer.Option("oversight", "--purpose", help="The purpose of this reading."),
    limit: int | None = typer.Option(
        None, "--limit", help="At most this many entries (default: the policy's page size)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Entries of one user, or entries that touched one subject, oldest first. Reading the
    audit is itself audited."""
    if not user and not subject:
        err.print("[red]refused:[/red] give --user or --subject")
        raise typer.Exit(2)
    since, until = _when(from_, "--from"), _when(to, "--to")
    settings = get_settings()
    with handled():
        store = _store()
        try:
            with store.begin() as conn:
                policy = history.running_policy(conn, settings.policy_file).loaded.policy
                caller = identity.caller_for(conn, policy, as_user, purpose=purpose)
            result = auditlog.report(
                store,
                policy,
                caller,
                user=user,
                subject=subject,
                from_=since,
                to=until,
                limit=limit,
            )
        finally:
            store.dispose()
    if as_json:
        emit_json(result.to_dict())
        return
    t = Table(title=f"audit: {len(result.entries)} entries")
    for col in ("seq", "time (UTC)", "actor", "operation", "object", "objects", "purpose", "ok"):
        t.add_column(col)
    for e in result.entries:
        t.add_row(
            str(e["seq"]),
            e["ts"],
            e["actor"],
            e["operation"],
            e["object_type"],
            str(len(e["object_ids"])),
            e["purpose"],
            e["outcome"],
        )
    err.print(t)
    if result.truncated:
        err.print(f"more entries match: narrow the window (the next is after {result.next_after})")


__all__ = ["app"]
