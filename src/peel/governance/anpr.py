"""ANPR access authorisations: the table behind the policy's access tiers, and the workflow
that fills it.

Reads up to `anpr.recent_days` old (by the data clock) are open to roles with the ANPR
permission; older reads need an authorisation from an officer of a configured rank who is not
the requester, for one investigation and offence category, until an expiry; reads older than
`retention.anpr_reads_days` are refused whatever the authorisation. An officer with the ANPR
permission asks (`request`) and may `withdraw` a request while it is pending; an authoriser
grants it (`grant_request`, through the same rules as a direct `grant`) or refuses it with a
note (`refuse`), and may `revoke` an authorisation later. Every step is audited (ids, action,
days and investigation; never the free-text reason or note) and a step refused for breaking a
rule is audited as denied with the rule broken.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from peel import clock as data_clock
from peel.errors import AccessDenied, NotFound, PeelError
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
from peel.serving.tables import anpr_authorisation_requests as requests_t
from peel.serving.tables import anpr_authorisations, users

AUTHORISE = "anpr.authorise"
AUTHORISATION = "anpr_authorisation"
REQUEST = "anpr_authorisation_request"
PENDING, GRANTED, REFUSED, WITHDRAWN = "pending", "granted", "refused", "withdrawn"
Clock = Callable[[], datetime]


def _wall() -> datetime:
    return datetime.now(UTC)


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


def _plain(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


# -- the rules --------------------------------------------------------------------------------
@contextmanager
def _denials_audited(
    store: Store, caller: Caller, *, object_type: str, query: Mapping[str, Any], wall: Clock
) -> Iterator[None]:
    """A step refused for breaking a rule (AccessDenied) is audited as denied, with the rule."""
    try:
        yield
    except AccessDenied as e:
        record_denial(
            store,
            caller,
            operation="admin",
            object_type=object_type,
            query={**query, "refused": str(e)},
            clock=wall,
        )
        raise


def _authoriser_rank(policy: Policy, authoriser: Caller) -> str:
    """The authoriser's police_rank code, if the policy lets that rank authorise."""
    rank = rank_code(authoriser.rank)
    if rank is None or rank not in policy.anpr.authoriser_ranks:
        raise AccessDenied(
            f"rank not allowed: rank {authoriser.rank or '(none)'} may not authorise; the "
            "policy (anpr.authoriser_ranks) allows " + ", ".join(policy.anpr.authoriser_ranks)
        )
    return rank


def _not_self(authoriser: Caller, requester: str, verb: str = "authorise") -> None:
    if authoriser.username == requester:
        raise AccessDenied(
            f"self-authorisation: an officer cannot {verb} their own access to old ANPR reads"
        )


def _days(policy: Policy, days: int, *, asked: int | None = None) -> int:
    most = policy.anpr.max_authorisation_days
    if not 0 < days <= most:
        raise PeelError(
            f"days: too long or too short; an authorisation lasts 1 to {most} days "
            "(anpr.max_authorisation_days)"
        )
    if asked is not None and days > asked:
        raise PeelError(f"days: too long; the request asked for {asked} days")
    return days


def _text(value: str, field: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise PeelError(f"{field}: required")
    if len(value) > limit:
        raise PeelError(f"{field}: at most {limit} characters")
    return value


# -- authorisations -----------------------------------------------------------------------------
def _insert_authorisation(
    conn: Connection,
    *,
    requester: str,
    authoriser: Caller,
    rank: str,
    investigation_reference: str,
    offence_category: str,
    reason: str,
    start: datetime,
    days: int,
) -> int:
    enabled = select(users.c.id).where(users.c.username == requester, users.c.disabled.is_(False))
    if conn.execute(enabled).first() is None:
        raise PeelError(f"no enabled account {requester!r}")
    result = conn.execute(
        insert(anpr_authorisations).values(
            requester=requester,
            authoriser=authoriser.username,
            authoriser_rank=rank,
            investigation_reference=investigation_reference,
            offence_category=offence_category,
            reason=reason,
            granted_at=start,
            expires_at=start + timedelta(days=days),
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


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
    now: Clock = data_clock.now,
    wall: Clock = _wall,
) -> dict[str, Any]:
    """An authorisation from `authoriser` for `requester` without a request; refused (and
    said why) unless the authoriser holds a configured rank, is not the requester, and the
    period is within the policy's maximum. Audited as an admin action. `now` is the data clock
    (expiry is measured against the age of data); `wall` stamps the audit entry."""
    query = {"action": "grant", "days": days, "investigation": investigation_reference[:64]}
    with _denials_audited(store, authoriser, object_type=AUTHORISATION, query=query, wall=wall):
        check(policy, authoriser, AUTHORISE)
        _not_self(authoriser, requester)
        rank = _authoriser_rank(policy, authoriser)
    _days(policy, days)
    if not investigation_reference.strip() or not offence_category.strip() or not reason.strip():
        raise PeelError("an authorisation needs an investigation reference, offence and reason")
    start = now()
    with store.begin() as conn:
        auth_id = _insert_authorisation(
            conn,
            requester=requester,
            authoriser=authoriser,
            rank=rank,
            investigation_reference=investigation_reference.strip()[:64],
            offence_category=offence_category.strip()[:100],
            reason=reason.strip()[:2000],
            start=start,
            days=days,
        )
        audit.append(
            conn,
            event_for(
                authoriser,
                operation="admin",
                object_type=AUTHORISATION,
                object_ids=[str(auth_id), requester],
                query=query,
            ),
            clock=wall,
        )
    return {"id": auth_id, "expires_at": (start + timedelta(days=days)).isoformat()}


def get(conn: Connection, authorisation_id: int) -> Authorisation | None:
    row = conn.execute(
        select(anpr_authorisations).where(anpr_authorisations.c.id == authorisation_id)
    ).first()
    return None if row is None else _row_to_auth(row)


def revoke(
    store: Store,
    policy: Policy,
    actor: Caller,
    authorisation_id: int,
    *,
    now: Clock = data_clock.now,
    wall: Clock = _wall,
) -> dict[str, Any]:
    """End an authorisation now (by the data clock): an officer with `anpr.authorise` of a
    configured rank. Audited; an authorisation already revoked is refused."""
    query = {"action": "revoke", "authorisation": authorisation_id}
    with _denials_audited(store, actor, object_type=AUTHORISATION, query=query, wall=wall):
        check(policy, actor, AUTHORISE)
        _authoriser_rank(policy, actor)
    at = now()
    with store.begin() as conn:
        auth = get(conn, authorisation_id)
        if auth is None:
            raise NotFound(f"no authorisation {authorisation_id}")
        done = conn.execute(
            update(anpr_authorisations)
            .where(
                anpr_authorisations.c.id == authorisation_id,
                anpr_authorisations.c.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )
        if done.rowcount != 1:
            raise PeelError(f"not live: authorisation {authorisation_id} is already revoked")
        audit.append(
            conn,
            event_for(
                actor,
                operation="admin",
                object_type=AUTHORISATION,
                object_ids=[str(authorisation_id), auth.requester],
                query=query,
            ),
            clock=wall,
        )
    return {"id": authorisation_id, "revoked_at": at.isoformat()}


def status_of(row: Mapping[Any, Any], now: datetime) -> str:
    """ "live", "expired" or "revoked", by the data clock `now`."""
    revoked = row["revoked_at"]
    if revoked is not None and revoked <= now:
        return "revoked"
    return "expired" if row["expires_at"] <= now else "live"


def list_for(
    conn: Connection, username: str, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Authorisations a user holds or gave, newest first, each with its status by the data
    clock."""
    at = now or data_clock.now()
    rows = conn.execute(
        select(anpr_authorisations)
        .where(
            (anpr_authorisations.c.requester == username)
            | (anpr_authorisations.c.authoriser == username)
        )
        .order_by(anpr_authorisations.c.id.desc())
    ).mappings()
    return [{**_plain(r), "status": status_of(r, at)} for r in rows]


# -- requests ---------------------------------------------------------------------------------
def request(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    investigation_reference: str,
    offence_category: str,
    reason: str,
    days: int,
    now: Clock = data_clock.now,
    wall: Clock = _wall,
) -> dict[str, Any]:
    """Ask for access to ANPR reads older than the recent tier, for one investigation and
    offence, for `days` (at most the policy's maximum). The caller needs the ANPR permission
    (with a purpose). Pending until an authoriser grants or refuses it."""
    ref = investigation_reference.strip()[:64]
    query = {"action": "request", "days": days, "investigation": ref}
    with _denials_audited(store, caller, object_type=REQUEST, query=query, wall=wall):
        check(policy, caller, policy.anpr.permission)
    ref = _text(investigation_reference, "investigation_reference", 64)
    offence = _text(offence_category, "offence_category", 100)
    why = _text(reason, "reason", 2000)
    _days(policy, days)
    with store.begin() as conn:
        result = conn.execute(
            insert(requests_t).values(
                requester=caller.username,
                investigation_reference=ref,
                offence_category=offence,
                reason=why,
                days=days,
                requested_at=now(),
                status=PENDING,
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        request_id = int(pk[0])
        _audit(conn, caller, REQUEST, [str(request_id), caller.username], query, wall)
    return {"id": request_id, "status": PENDING}


def get_request(conn: Connection, request_id: int) -> dict[str, Any]:
    row = conn.execute(select(requests_t).where(requests_t.c.id == request_id)).mappings().first()
    if row is None:
        raise NotFound(f"no authorisation request {request_id}")
    return _plain(row)


def _close(
    conn: Connection,
    request_id: int,
    status: str,
    *,
    by: str,
    at: datetime,
    note: str | None = None,
    authorisation_id: int | None = None,
) -> None:
    """Move a pending request to `status`; refused if it is no longer pending (two
    authorisers at once: the second is told)."""
    done = conn.execute(
        update(requests_t)
        .where(requests_t.c.id == request_id, requests_t.c.status == PENDING)
        .values(
            status=status,
            decided_by=by,
            decided_at=at,
            decision_note=note,
            authorisation_id=authorisation_id,
        )
    )
    if done.rowcount != 1:
        raise PeelError(f"not pending: request {request_id} was already decided or withdrawn")


def _audit(
    conn: Connection,
    caller: Caller,
    object_type: str,
    ids: list[str],
    query: Mapping[str, Any],
    wall: Clock,
) -> None:
    audit.append(
        conn,
        event_for(caller, operation="admin", object_type=object_type, object_ids=ids, query=query),
        clock=wall,
    )


def _pending(req: Mapping[str, Any]) -> None:
    if req["status"] != PENDING:
        raise PeelError(f"not pending: request {req['id']} is {req['status']}")


def withdraw(
    store: Store,
    policy: Policy,
    caller: Caller,
    request_id: int,
    *,
    now: Clock = data_clock.now,
    wall: Clock = _wall,
) -> dict[str, Any]:
    """The requester takes back a pending request."""
    query = {"action": "withdraw", "request": request_id}
    with _denials_audited(store, caller, object_type=REQUEST, query=query, wall=wall):
        check(policy, caller, policy.anpr.permission)
        with store.connect() as conn:
            req = get_request(conn, request_id)
        if req["requester"] != caller.username:
            raise AccessDenied(
                f"not yours: request {request_id} was made by another officer; only they may "
                "withdraw it"
            )
    _pending(req)
    with store.begin() as conn:
        _close(conn, request_id, WITHDRAWN, by=caller.username, at=now())
        _audit(conn, caller, REQUEST, [str(request_id), caller.username], query, wall)
        return get_request(conn, request_id)


def _decidable(
    store: Store,
    policy: Policy,
    authoriser: Caller,
    request_id: int,
    *,
    verb: str,
    query: Mapping[str, Any],
    wall: Clock,
) -> tuple[dict[str, Any], str]:
    """The request and the authoriser's rank, once the rules for deciding it are kept."""
    with _denials_audited(store, authoriser, object_type=REQUEST, query=query, wall=wall):
        check(policy, authoriser, AUTHORISE)
        with store.connect() as conn:
            req = get_request(conn, request_id)
        _not_self(authoriser, req["requester"], verb)
        rank = _authoriser_rank(policy, authoriser)
    _pending(req)
    return req, rank


def grant_request(
    store: Store,
    policy: Policy,
    authoriser: Caller,
    request_id: int,
    *,
    days: int | None = None,
    now: Clock = data_clock.now,
    wall: Clock = _wall,
) -> dict[str, Any]:
    """Grant a pending request for `days` (default: as asked; never longer): creates the
    authorisation under the rules of `grant` and marks the request granted with its id."""
    query: dict[str, Any] = {"action": "grant", "request": request_id}
    req, rank = _decidable(
        store, policy, authoriser, request_id, verb="authorise", query=query, wall=wall
    )
    period = _days(policy, req["days"] if days is None else days, asked=req["days"])
    query |= {"days": period, "investigation": req["investigation_reference"]}
    start = now()
    with store.begin() as conn:
        auth_id = _insert_authorisation(
            conn,
            requester=req["requester"],
            authoriser=authoriser,
            rank=rank,
            investigation_reference=req["investigation_reference"],
            offence_category=req["offence_category"],
            reason=req["reason"],
            start=start,
            days=period,
        )
        _close(
            conn, request_id, GRANTED, by=authoriser.username, at=start, authorisation_id=auth_id
        )
        _audit(conn, authoriser, AUTHORISATION, [str(auth_id), req["requester"]], query, wall)
    expires = start + timedelta(days=period)
    return {"id": auth_id, "request_id": request_id, "expires_at": expires.isoformat()}


def refuse(
    store: Store,
    policy: Policy,
    authoriser: Caller,
    request_id: int,
    *,
    note: str,
    now: Clock = data_clock.now,
    wall: Clock = _wall,
) -> dict[str, Any]:
    """Refuse a pending request, with a note to the requester (kept with the request, not
    in the audit log)."""
    query = {"action": "refuse", "request": request_id}
    req, _ = _decidable(
        store, policy, authoriser, request_id, verb="refuse", query=query, wall=wall
    )
    text = _text(note, "note", 2000)
    with store.begin() as conn:
        _close(conn, request_id, REFUSED, by=authoriser.username, at=now(), note=text)
        _audit(conn, authoriser, REQUEST, [str(request_id), req["requester"]], query, wall)
        return get_request(conn, request_id)


def requests_of(conn: Connection, username: str) -> list[dict[str, Any]]:
    """A user's own requests, newest first."""
    rows = conn.execute(
        select(requests_t)
        .where(requests_t.c.requester == username)
        .order_by(requests_t.c.id.desc())
    ).mappings()
    return [_plain(r) for r in rows]


def pending(conn: Connection, *, limit: int = 500) -> list[dict[str, Any]]:
    """Requests waiting for an authoriser, oldest first."""
    rows = conn.execute(
        select(requests_t)
        .where(requests_t.c.status == PENDING)
        .order_by(requests_t.c.id)
        .limit(limit)
    ).mappings()
    return [_plain(r) for r in rows]


# -- the access decision ------------------------------------------------------------------------
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


__all__ = [
    "GRANTED",
    "PENDING",
    "REFUSED",
    "WITHDRAWN",
    "decision_for",
    "get",
    "get_request",
    "grant",
    "grant_request",
    "list_for",
    "pending",
    "refuse",
    "request",
    "requests_of",
    "require_access",
    "revoke",
    "status_of",
    "withdraw",
]
