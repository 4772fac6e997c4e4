"""`peel users add|disable|role|totp|password|list`: accounts and their roles.

An admin action names the admin with `--as ADMIN`, who then proves it is them: their
password and TOTP code are asked for (hidden), or read from PEEL_AS_PASSWORD and
PEEL_AS_TOTP in scripts. A new password is asked for twice, or read from PEEL_NEW_PASSWORD.
On a store with no admin, `peel users add` without `--as` makes the first admin.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from peel.cli.common import JsonOption, emit_json, err, handled
from peel.errors import PeelError
from peel.governance import history
from peel.governance.access import Caller
from peel.governance.accounts import Accounts
from peel.governance.passwords import totp_uri
from peel.serving import Store
from peel.settings import get_settings

app = typer.Typer(help="Accounts, roles and second factors.", no_args_is_help=True)

AsOption = typer.Option(
    None,
    "--as",
    metavar="ADMIN",
    help="The admin doing this; asked for their password and TOTP code "
    "(or PEEL_AS_PASSWORD, PEEL_AS_TOTP).",
)
UsernameArg = typer.Argument(..., metavar="USERNAME", help="The account's username.")


class UsageError(PeelError):
    """A command line that asks for something that cannot be done."""


@contextmanager
def _accounts() -> Iterator[Accounts]:
    """Accounts on the migrated serving store, under the applied policy."""
    store = Store(get_settings())
    try:
        store.migrate()
        with store.begin() as conn:
            policy = history.ensure_installed(conn).loaded.policy
        yield Accounts(store, policy)
    finally:
        store.dispose()


def _secret(env: str, prompt: str, *, confirm: bool = False, optional: bool = False) -> str:
    value = os.environ.get(env)
    if value is not None:
        return value
    answer: str = typer.prompt(
        prompt,
        hide_input=True,
        confirmation_prompt=confirm,
        default="" if optional else None,
        show_default=False,
        err=True,
    )
    return answer


def _admin(accounts: Accounts, name: str | None) -> Caller:
    """The admin named by --as, once they have proved it with password and code."""
    if not name:
        raise UsageError("name the admin doing this with --as ADMIN")
    password = _secret("PEEL_AS_PASSWORD", f"Password for {name}")
    code = _secret("PEEL_AS_TOTP", f"TOTP code for {name} (blank if none)", optional=True)
    return accounts.verify_credentials(name, password, code or None)


def _new_password() -> str:
    return _secret("PEEL_NEW_PASSWORD", "New password", confirm=True)


def _show_totp(secret: str, uri: str) -> None:
    typer.echo(f"TOTP secret (shown once, add it to an authenticator app): {secret}")
    typer.echo(f"otpauth URI: {uri}")


@app.command("add")
def add(
    username: str = UsernameArg,
    name: str = typer.Option(..., "--name", help="Display name, as colleagues know them."),
    role: list[str] = typer.Option(
        [], "--role", help="A role from the policy; repeat for several."
    ),
    rank: str | None = typer.Option(None, "--rank", help="Rank (e.g. PC, DS, Insp)."),
    team: str | None = typer.Option(None, "--team", help="Team code."),
    collar: str | None = typer.Option(None, "--collar", help="Collar number."),
    as_admin: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Add a person's account. Without --as on a store with no admin: the first admin.

    The new account's password is asked for twice (hidden), or read from PEEL_NEW_PASSWORD.
    Roles the policy lists under two_person_grant are requested, not granted: a second
    admin grants them with `peel users role USERNAME --add ROLE --as ADMIN`."""
    with handled(), _accounts() as accounts:
        secret: tuple[str, str] | None = None
        if as_admin is None and not accounts.admin_exists():
            if set(role) - {"admin"}:
                raise UsageError("the first account is the admin: give no --role but admin")
            doc, totp = accounts.bootstrap(
                username=username,
                display_name=name,
                password=_new_password(),
                rank=rank,
                team=team,
                collar_number=collar,
            )
            secret = (totp, totp_uri(totp, doc["username"]))
        else:
            actor = _admin(accounts, as_admin)
            doc = accounts.add_user(
                actor,
                username=username,
                display_name=name,
                roles=list(role),
                password=_new_password(),
                rank=rank,
                team=team,
                collar_number=collar,
            )
    if as_json:
        emit_json({**doc, **({"totp_secret": secret[0], "totp_uri": secret[1]} if secret else {})})
        return
    typer.echo(f"added {doc['username']}: roles {', '.join(doc['roles']) or '(none)'}")
    if doc["pending_roles"]:
        typer.echo(
            f"pending: {', '.join(doc['pending_roles'])} (a second admin must grant "
            f"with `peel users role {doc['username']} --add ROLE --as ADMIN`)"
        )
    if secret:
        _show_totp(*secret)


@app.command("disable")
def disable(username: str = UsernameArg, as_admin: str | None = AsOption) -> None:
    """Disable an account; every session of it ends at once."""
    with handled(), _accounts() as accounts:
        accounts.disable(_admin(accounts, as_admin), username)
    typer.echo(f"disabled {username}")


@app.command("role")
def role(
    username: str = UsernameArg,
    add: str | None = typer.Option(None, "--add", metavar="ROLE", help="Grant this role."),
    remove: str | None = typer.Option(None, "--remove", metavar="ROLE", help="Revoke it."),
    as_admin: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Grant (--add) or revoke (--remove) a role: prints granted, pending or revoked.

    Roles the policy lists under two_person_grant need two admins: the first grant is
    pending until a different admin grants the same role. While a store has a single
    admin, that admin's grant of the admin role takes effect at once (audited), so that
    it can get its second admin."""
    with handled():
        if (add is None) == (remove is None):
            raise UsageError("give exactly one of --add ROLE or --remove ROLE")
        with _accounts() as accounts:
            actor = _admin(accounts, as_admin)
            if add is not None:
                result = accounts.grant_role(actor, username, add)
            else:
                assert remove is not None
                accounts.revoke_role(actor, username, remove)
                result = "revoked"
    if as_json:
        emit_json({"username": username, "role": add or remove, "result": result})
    else:
        typer.echo(result)


@app.command("totp")
def totp(
    username: str = UsernameArg, as_admin: str | None = AsOption, as_json: bool = JsonOption
) -> None:
    """Enrol a new TOTP secret: printed once; from now on the account's logins need a code."""
    with handled(), _accounts() as accounts:
        secret, uri = accounts.enrol_totp(_admin(accounts, as_admin), username)
    if as_json:
        emit_json({"username": username, "totp_secret": secret, "totp_uri": uri})
    else:
        _show_totp(secret, uri)


@app.command("password")
def password(username: str = UsernameArg, as_admin: str | None = AsOption) -> None:
    """Set a new password (PEEL_NEW_PASSWORD or asked twice); clears a lockout and ends the
    account's sessions."""
    with handled(), _accounts() as accounts:
        actor = _admin(accounts, as_admin)
        accounts.set_password(actor, username, _new_password())
    typer.echo(f"password set for {username}")


@app.command("list")
def list_users(as_json: bool = JsonOption) -> None:
    """Accounts with their roles, pending roles and state."""
    with handled(), _accounts() as accounts:
        users = accounts.list_users()
    if as_json:
        emit_json({"users": users})
        return
    t = Table(title="accounts")
    for col in ("username", "name", "kind", "roles", "pending", "rank", "team", "state"):
        t.add_column(col)
    for u in users:
        state = "disabled" if u["disabled"] else "locked" if u["locked"] else "active"
        t.add_row(
            u["username"],
            u["display_name"],
            u["kind"],
            ", ".join(u["roles"]),
            ", ".join(u["pending_roles"]),
            u["rank"] or "",
            u["team"] or "",
            state + (" +totp" if u["totp_enabled"] else ""),
        )
    Console().print(t)
    if not users:
        err.print("no accounts yet: `peel users add USERNAME --name NAME` makes the first admin")


__all__ = ["app"]
