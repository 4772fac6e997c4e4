"""`peel policy check|apply|history`: the code of ethics as policy."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.table import Table

from peel.cli.common import JsonOption, emit_json, err, handled
from peel.errors import AccessDenied, PolicyError
from peel.governance import audit, history
from peel.governance.access import check, event_for
from peel.governance.accounts import Accounts
from peel.governance.policy import LoadedPolicy, load_policy_file
from peel.serving import Store

app = typer.Typer(help="The code of ethics as policy: check, apply, history.", no_args_is_help=True)


@app.command("check")
def check_cmd(
    path: Path = typer.Argument(..., help="Policy YAML file."), as_json: bool = JsonOption
) -> None:
    """Validate a policy file. Exit 0 if valid, 1 naming the first problem."""
    try:
        loaded = load_policy_file(path)
    except PolicyError as e:
        if as_json:
            emit_json({"valid": False, "error": str(e)})
        else:
            err.print(f"[red]invalid:[/red] {e}", highlight=False)
        raise typer.Exit(1) from e
    doc = {
        "valid": True,
        "file": str(path),
        "version": loaded.policy.version,
        "sha256": loaded.sha256,
        "roles": sorted(loaded.policy.roles),
        "purposes": sorted(loaded.policy.purposes),
    }
    if as_json:
        emit_json(doc)
    else:
        err.print(f"valid: policy {loaded.policy.version}, sha256 {loaded.sha256[:16]}")


@app.command("apply")
def apply_cmd(
    path: Path = typer.Argument(..., help="Policy YAML file."),
    as_user: str = typer.Option(..., "--as", help="Oversight-panel account applying it."),
    totp: str = typer.Option(
        None, "--totp", envvar="PEEL_AS_TOTP", help="Authenticator code (prompted if omitted)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Apply a policy: needs an oversight-panel account with its password and TOTP code.
    Records the hash, time, approver and a diff from the previous policy, and audits it.
    The password is read from a hidden prompt (or PEEL_AS_PASSWORD for scripts)."""
    with handled():
        loaded = load_policy_file(path)
        store = Store()
        try:
            version, approver = _apply(store, loaded, path, as_user, totp)
        finally:
            store.dispose()
    doc = {"version": version, "sha256": loaded.sha256, "approved_by": approver}
    if as_json:
        emit_json(doc)
        return
    err.print(f"applied as history version {version} (sha256 {loaded.sha256[:16]})")
    err.print("restart `peel serve` to run it")


def _apply(
    store: Store, loaded: LoadedPolicy, path: Path, as_user: str, totp: str | None
) -> tuple[int, str]:
    store.migrate()
    with store.begin() as conn:
        running = history.ensure_installed(conn)
    accounts = Accounts(store, running.loaded.policy)
    password = os.environ.get("PEEL_AS_PASSWORD") or typer.prompt(
        f"Password for {as_user}", hide_input=True
    )
    code = totp or typer.prompt(f"TOTP code for {as_user}", hide_input=True)
    caller = accounts.verify_credentials(as_user, password, code)
    check(running.loaded.policy, caller, "policy.apply")
    if "oversight_panel" not in caller.roles:
        raise AccessDenied("only an oversight-panel account may apply a policy")
    with store.begin() as conn:
        now_running = history.current(conn)
        if now_running is not None and now_running.loaded.sha256 == loaded.sha256:
            raise PolicyError(f"{path} is already the applied policy")
        version = history.record(conn, loaded, approved_by=caller.username)
        audit.append(
            conn,
            event_for(
                caller,
                operation="admin",
                object_type="policy",
                object_ids=[f"policy:v{version}"],
                query={"sha256": loaded.sha256, "policy_version": loaded.policy.version},
            ),
        )
    return version, caller.username


@app.command("history")
def history_cmd(as_json: bool = JsonOption) -> None:
    """Every applied policy: version, hash, approver, time."""
    with handled():
        store = Store()
        try:
            store.migrate()
            with store.begin() as conn:
                history.ensure_installed(conn)
                rows = history.history(conn)
        finally:
            store.dispose()
    doc = [
        {
            "version": r["version"],
            "policy_version": r["policy_version"],
            "sha256": r["sha256"],
            "approved_by": r["approved_by"],
            "applied_at": r["applied_at"].isoformat(),
        }
        for r in rows
    ]
    if as_json:
        emit_json(doc)
        return
    t = Table(title="applied policies (newest first)")
    for col in ("version", "policy", "applied at", "approved by", "sha256"):
        t.add_column(col)
    for r in doc:
        t.add_row(
            str(r["version"]),
            r["policy_version"],
            r["applied_at"][:19],
            r["approved_by"],
            r["sha256"][:16],
        )
    err.print(t)
