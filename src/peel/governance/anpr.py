"""ANPR access authorisations: the table behind the policy's access tiers.

Reads up to `anpr.recent_days` old (by the data clock) are open to roles with the ANPR
permission; older reads need an authorisation from an officer of a configured rank who is not
the requester, for one investigation and offence category, until an expiry. The ANPR pages
(a later issue) call `decision_for`; this module grants, revokes and lists authorisations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from peel import clock as data_clock
from peel.errors import AccessDenied, PeelError
from peel.governance import audit
from peel.governance.access import Caller, check, event_for, record_denial
from peel.governance.policy import (
    AnprDecision,
    Authorisation,
    Policy,
    decide_anpr_access,
    rank_code,
)
from peel.serving import Store
from peel.serving.tables import anpr_authorisations, users


def _row_to_auth(row: Any) -> Authorisation:
    return Authorisation(
        id=row.id,
        requester=row.requester,
        authoriser=row.authoriser,
        authoriser_rank=row.authoriser_rank,
        investigation_reference=row.investigation_reference,
        offence_category=row.offence_category,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def grant(
    store: Store,
    policy: Policy,
    authoriser: Caller,
    *,
    requester: str,
    investigation_reference: str,
    offence_category: str,
    reason: str,
    days: int,
    now: Callable[[], datetime] = data_clock.now,
    wall: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """An authorisation from `authoriser` for `requester`; refused (and said why) unless the
    authoriser holds a configured rank, is not the requester, and the period is within the
    policy's maximum. Audited as an admin action. `now` is the data clock (expiry is measured
    against the age of data); `wall` stamps the audit entry."""
    rules = policy.anpr
    check(policy, authoriser, "anpr.authorise")
    if authoriser.username == requester:
        raise AccessDenied("an officer cannot authorise their own access to old ANPR reads")
    rank = rank_code(authoriser.rank)
    if rank not in rules.authoriser_ranks:
        raise AccessDenied(
            f"rank {authoriser.rank or '(none)'} may not authorise; the policy allows "
            + ", ".join(rules.authoriser_ranks)
        )
    if not 0 < days <= rules.max_authorisation_days:
        raise PeelError(f"an authorisation lasts 1 to {rules.max_authorisation_days} days")
    if not investigation_reference.strip() or not offence_category.strip() or not reason.strip():
        raise PeelError("an authorisation needs an investigation reference, offence and reason")
    start = now()
    with store.begin() as conn:
        if (
            conn.execute(
                select(users.c.id).where(users.c.username == requester, users.c.disabled.is_(False))
            ).first()
            is None
        ):
            raise PeelError(f"no enabled account {requester!r}")
        result = conn.execute(
            insert(anpr_authorisations).values(
                requester=requester,
                authoriser=authoriser.username,
                authoriser_rank=rank,
                investigation_reference=investigation_reference.strip()[:64],
                offence_category=offence_category.strip()[:100],
                reason=reason.strip()[:2000],
                granted_at=start,
                expires_at=start + timedelta(days=days),
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        audit.append(
            conn,
            event_for(
                authoriser,
                operation="admin",
                object_type="anpr_authorisation",
                object_ids=[str(pk[0]), requester],
                query={"action": "grant", "days": days, "investigation": investigation_reference},
            ),
            clock=wall,
        )
    return {"id": int(pk[0]), "expires_at": (start + timedelta(days=days)).isoformat()}


def get(conn: Connection, authorisation_id: int) -> Authorisation | None:
    row = conn.execute(
        select(anpr_authorisations).where(anpr_authorisations.c.id == authorisation_id)
    ).first()
    return None if row is None else _row_to_auth(row)


def revoke(store: Store, policy: Policy, actor: Caller, authorisation_id: int) -> None:
    check(policy, actor, "anpr.authorise")
    with store.begin() as conn:
        auth = get(conn, authorisation_id)
        if auth is None:
            raise PeelError(f"no authorisation {authorisation_id}")
        conn.execute(
            update(anpr_authorisations)
            .where(anpr_authorisations.c.id == authorisation_id)
            .values(revoked_at=data_clock.now())
        )
        audit.append(
            conn,
            event_for(
                actor,
                operation="admin",
                object_type="anpr_authorisation",
                object_ids=[str(authorisation_id), auth.requester],
                query={"action": "revoke"},
            ),
        )


def list_for(conn: Connection, username: str) -> list[dict[str, Any]]:
    """Authorisations a user holds or gave, newest first."""
    rows = conn.execute(
        select(anpr_authorisations)
        .where(
            (anpr_authorisations.c.requester == username)
            | (anpr_authorisations.c.authoriser == username)
        )
        .order_by(anpr_authorisations.c.id.desc())
    ).mappings()
    return [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows
    ]


def decision_for(
    conn: Connection,
    policy: Policy,
    caller: Caller,
    *,
    read_time: datetime,
    authorisation_id: int | None = None,
) -> AnprDecision:
    """The policy's answer for this caller and a read taken at `read_time`, now by the data
    clock, with the authorisation looked up in the table."""
    auth = get(conn, authorisation_id) if authorisation_id is not None else None
    return decide_anpr_access(
        policy,
        username=caller.username,
        roles=caller.roles,
        read_time=read_time,
        now=data_clock.now(),
        authorisation=auth,
        case_reference=caller.case_reference,
    )


def require_access(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    read_time: datetime,
    authorisation_id: int | None,
    object_type: str,
    query: Mapping[str, Any],
) -> AnprDecision:
    """The ANPR decision for a search whose oldest read was taken at `read_time`; a refusal
    is audited as denied (with the reason) and raised as AccessDenied."""
    with store.connect() as conn:
        decision = decision_for(
            conn, policy, caller, read_time=read_time, authorisation_id=authorisation_id
        )
    if not decision.allowed:
        record_denial(
            store,
            caller,
            operation="consultation",
            object_type=object_type,
            query={**query, "refused": decision.reason},
            clock=lambda: datetime.now(UTC),
        )
        raise AccessDenied(f"ANPR reads from {read_time.date()}: {decision.reason}")
    return decision


__all__ = ["decision_for", "get", "grant", "list_for", "require_access", "revoke"]
