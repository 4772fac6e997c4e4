"""Roadside checks of a person and a vehicle, from the published profiles: safety first.

Each answer lists officer-safety warnings, active warrants and stolen or wanted entries
first, then how sure the identification is, then key facts, each with its source record and
as-of day. It says whether the search was complete and what it searched. Before any publish
the check raises NotPublished (HTTP 503): an empty answer must never read as "no warnings".

Plates match exactly (upper case, spaces removed); plates that differ by the usual misreads
(O/0, I/1, S/5, B/8, Z/2) and are valid UK formats are listed apart as `possible_misread`.
Names match through the publish-time keys (see peel.resolve.search); when several profiles
are plausible, every one is listed with what differs and its score.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Executable,
    Row,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
)

from peel import clock as data_clock
from peel.errors import PeelError
from peel.governance.access import Caller, consultation
from peel.governance.policy import Policy
from peel.resolve.search import (
    MAX_KEY_ROWS,
    PLAUSIBLE,
    Keys,
    Scorer,
    best_possible,
    first_forename,
    norm_name,
    score,
)
from peel.serving import Store
from peel.serving.tables import (
    person_profiles,
    person_search_keys,
    publish_runs,
    vehicle_profiles,
)

MISREADS = {
    "O": "0",
    "0": "O",
    "I": "1",
    "1": "I",
    "S": "5",
    "5": "S",
    "B": "8",
    "8": "B",
    "Z": "2",
    "2": "Z",
}
UK_PLATE = re.compile(
    r"^(?:[A-Z]{2}[0-9]{2}[A-Z]{3}"  # current (2001-): AB12CDE
    r"|[A-Z][0-9]{1,3}[A-Z]{3}"  # prefix (1983-2001): A123BCD
    r"|[A-Z]{3}[0-9]{1,3}[A-Z]"  # suffix (1963-1983): ABC123D
    r"|[0-9]{1,4}[A-Z]{1,3}|[A-Z]{1,3}[0-9]{1,4})$"  # dateless
)
MAX_CANDIDATES = 10
# Keys read from the closest tier when the whole search is too broad (exact names first).
MAX_TIER_ROWS = 500
SAFETY_VOI = (
    "stolen-vehicle",
    "stolen-plates",
    "cloned-plates",
    "wanted-person",
    "firearms-interest",
    "missing-person",
)
NAME_TEXT = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
Clock = Callable[[], datetime]


class NotPublished(PeelError):
    """No profiles have been published yet: a check cannot say anything."""


def _wall() -> datetime:
    return datetime.now(UTC)


def plate_ok(vrm: str) -> str:
    key = re.sub(r"\s+", "", vrm).upper()
    if not re.fullmatch(r"[A-Z0-9]{1,8}", key):
        raise PeelError("vrm: a registration mark is 1 to 8 letters and digits")
    return key


def misread_variants(key: str) -> list[str]:
    """Other plates this one could be misread from, in valid UK formats."""
    choices = [(c, MISREADS[c]) if c in MISREADS else (c,) for c in key]
    out = {"".join(p) for p in itertools.product(*choices)} - {key}
    return sorted(v for v in out if UK_PLATE.match(v))


# The checks' statements are built once: SQLAlchemy memoises a statement object's cache key,
# so a check reusing them skips building and keying each expression again (on a roadside
# check that was as much CPU as the queries themselves).
_LATEST_PUBLISH = (
    select(publish_runs.c.run_id, publish_runs.c.published_at, publish_runs.c.datasets)
    .order_by(publish_runs.c.id.desc())
    .limit(1)
)
# The vehicle check's one read: the latest publish run beside the documents asked for (a row
# with no document when none matches; no row when nothing was published). One round trip
# instead of two, and both from one statement, so from one view of the store.
_STAMP = _LATEST_PUBLISH.subquery("stamp")
_VEHICLE_CHECK = select(
    _STAMP.c.run_id,
    _STAMP.c.published_at,
    _STAMP.c.datasets,
    vehicle_profiles.c.vrm,
    vehicle_profiles.c.document,
).select_from(
    _STAMP.outerjoin(
        vehicle_profiles, vehicle_profiles.c.vrm.in_(bindparam("vrms", expanding=True))
    )
)
_PERSON_DOCS = select(person_profiles.c.profile_id, person_profiles.c.document).where(
    person_profiles.c.profile_id.in_(bindparam("ids", expanding=True))
)


def latest_publish(conn: Connection) -> dict[str, Any]:
    return _publish_stamp(conn.execute(_LATEST_PUBLISH).mappings().first())


def _publish_stamp(row: Any) -> dict[str, Any]:
    if row is None:
        raise NotPublished(
            "no profiles have been published yet (run `peel publish`): this check searched "
            "nothing and says nothing about warnings"
        )
    return {
        "run_id": row["run_id"],
        "published_at": row["published_at"].isoformat(),
        "datasets": row["datasets"],
    }


def _current(d: dict[str, Any], today: date) -> bool:
    end = d.get("end_date") or d.get("expiry_date")
    return end is None or date.fromisoformat(end[:10]) >= today


def vehicle_summary(doc: dict[str, Any], today: date) -> dict[str, Any]:
    voi = doc.get("vehicle_of_interest", [])
    active = sorted(
        (v for v in voi if _current(v, today)),
        key=lambda v: (v["reason"] not in SAFETY_VOI, v["voi_ref"]),
    )
    keepers = [k for k in doc.get("keepers", []) if _current(k, today)]
    register = doc.get("register", [])
    facts: list[dict[str, Any]] = [
        {
            "fact": "register",
            "make": r["make"],
            "model": r["model"],
            "colour": r["colour"],
            "record": r["record"],
            "as_of": r["as_of"],
        }
        for r in register
    ]
    facts += [
        {
            "fact": "expired hotlist entry",
            "reason": v["reason"],
            "expiry_date": v["expiry_date"],
            "record": v["record"],
            "as_of": v["as_of"],
        }
        for v in voi
        if not _current(v, today)
    ]
    facts += [
        {
            "fact": "linked crime",
            "crime_ref": c["crime_ref"],
            "crime_type": c["crime_type"],
            "record": c["record"],
            "as_of": c["as_of"],
        }
        for c in doc.get("linked_crimes", [])
    ]
    return {
        "vrm": doc["vrm"],
        "warnings": [
            {
                "reason": v["reason"],
                "required_action": v["required_action"],
                "source": v["source"],
                "expiry_date": v["expiry_date"],
                "record": v["record"],
                "as_of": v["as_of"],
            }
            for v in active
        ],
        "keeper": [
            {
                "keeper": k["keeper"],
                "profile_id": k["profile_id"],
                "since": k["start_date"],
                "record": k["record"],
                "as_of": k["as_of"],
            }
            for k in keepers
        ],
        "facts": facts,
        "anpr": doc.get("anpr"),
        # A possible clone: the plate may be on another vehicle; check it matches the register.
        "plate_flags": doc.get("flags", {"possible_clone": None, "misreads_seen": []}),
    }


def vehicle_check(
    store: Store, policy: Policy, caller: Caller, vrm: str, *, clock: Clock = _wall
) -> dict[str, Any]:
    key = plate_ok(vrm)
    variants = misread_variants(key)
    today = data_clock.now().date()
    with consultation(
        store,
        policy,
        caller,
        permission="vehicle.check",
        object_type="vehicle_check",
        query={"vrm": key},
        clock=clock,
    ) as op:
        rows = op.conn.execute(_VEHICLE_CHECK, {"vrms": [key, *variants]}).mappings().all()
        published = _publish_stamp(rows[0] if rows else None)
        docs: dict[str, Any] = {r["vrm"]: r["document"] for r in rows if r["vrm"] is not None}
        op.returned(f"vehicle:{v}" for v in sorted(docs))
    exact = docs.get(key)
    misread = [vehicle_summary(docs[v], today) for v in variants if v in docs]
    return {
        "status": "ok",
        "complete": True,
        "searched": {
            **published,
            "parts": [
                "published vehicle profiles: register, keepers, hotlists, intelligence, ANPR "
                "counts",
                f"{len(variants)} misread variants in UK plate formats",
            ],
        },
        "vrm": key,
        "found": exact is not None,
        "exact": vehicle_summary(exact, today) if exact else None,
        "possible_misread": misread,
        "message": ("plate found" if exact else "no published vehicle profile has this exact plate")
        + (f"; {len(misread)} similar plate(s) listed apart" if misread else ""),
    }


def _person_summary(doc: dict[str, Any], today: date) -> dict[str, Any]:
    markers = [
        {
            "code": m["marker_code"],
            "label": m["label"],
            "safety_advice": m["safety_advice"],
            "marker_date": m["marker_date"],
            "source": m["marker_source"],
            "record": m["record"],
            "as_of": m["as_of"],
        }
        for m in doc.get("warning_markers", [])
    ]
    warrants = [
        {
            "warrant_ref": w["warrant_ref"],
            "warrant_type": w["warrant_type"],
            "issued_date": w["issued_date"],
            "court_name": w["court_name"],
            "record": w["record"],
            "as_of": w["as_of"],
        }
        for w in doc.get("warrants", [])
        if w.get("active")
    ]
    names = sorted(
        {
            f"{i['forenames'] or ''} {i['surname'] or ''}".strip().upper()
            for i in doc.get("identities", [])
        }
        - {""}
    )
    dobs = sorted({i["date_of_birth"] for i in doc.get("identities", []) if i["date_of_birth"]})
    facts: list[dict[str, Any]] = []
    for c in sorted(
        doc.get("convictions", []), key=lambda c: c["conviction_date"] or "", reverse=True
    )[:5]:
        facts.append(
            {
                "fact": "conviction",
                "date": c["conviction_date"],
                "offence": c["offence_description"],
                "disposal": c["disposal"],
                "record": c["record"],
                "as_of": c["as_of"],
            }
        )
    for v in doc.get("vehicles", []):
        if _current(v, today):
            facts.append(
                {
                    "fact": "keeper of vehicle",
                    "vrm": v["vrm"],
                    "since": v["start_date"],
                    "record": v["record"],
                    "as_of": v["as_of"],
                }
            )
    for a in doc.get("addresses", [])[-1:]:
        facts.append(
            {
                "fact": "last address recorded",
                "postcode": a["postcode"],
                "record": a["record"],
                "as_of": a["as_of"],
            }
        )
    return {
        "warnings": markers,
        "warrants": warrants,
        "identity": {
            "names": names,
            "dates_of_birth": dobs,
            "records": len(doc.get("records", [])),
        },
        "facts": facts,
    }


def _candidate(
    pid: str,
    value: float,
    differs: list[str],
    doc: dict[str, Any],
    today: date,
    *,
    several: bool,
) -> dict[str, Any]:
    """Safety first: warnings and warrants, then the identification, then facts."""
    summary = _person_summary(doc, today)
    return {
        "profile_id": pid,
        "warnings": summary["warnings"],
        "warrants": summary["warrants"],
        "identity": {
            "confidence": _confidence(value, several),
            "score": value,
            "differs": differs,
            **summary["identity"],
        },
        "facts": summary["facts"],
    }


def _confidence(value: float, several: bool) -> str:
    if several:
        return "ambiguous: several profiles are plausible"
    if value >= 0.97:
        return "high"
    return "medium" if value >= 0.9 else "low"


@dataclass(frozen=True)
class _PersonStatements:
    first: Executable  # with a date: the key rows (limit + 1); without: their count (limit + 1)
    tier: Executable  # the closest tier when the whole search is too broad
    whole: Executable  # every key row of a search that is not too broad


@functools.cache
def _person_statements(with_dob: bool, with_forename: bool) -> _PersonStatements:
    """The check's statements, built once per shape of query with bound parameters named as
    `Keys.row()`'s fields: building and caching-keying SQLAlchemy expressions on every
    check cost about as much CPU as running them."""
    keys = person_search_keys.c
    p: dict[str, BindParameter[Any]] = {name: bindparam(name) for name in _KEY_FIELDS}
    conds: list[ColumnElement[bool]] = [
        keys.surname == p["surname"],
        keys.surname_metaphone == p["surname_metaphone"],
        keys.surname_soundex == p["surname_soundex"],
    ]
    if with_dob:
        # With a date of birth given, a key recorded with a date in another year that is not
        # the day-month swap scores at most 0.70 (the names' weights, 0.45 + 0.25 of 1.0, and
        # 0 for the date), under PLAUSIBLE: it can never be listed, so the name keys leave it
        # out. On a large city a phonetic surname bucket holds thousands of keys, nearly all
        # born in other years; reading and scoring them made the check slow and, past
        # MAX_KEY_ROWS, incomplete. (tests/resolve/test_search.py holds the bound.)
        # The day-month swap keeps the year, so "no date, or this year" covers it; each
        # branch is one search of a (surname key, birth year) index. A date with no valid
        # swap binds NULL there, which equals nothing.
        conds = [
            and_(c, year)
            for c in conds
            for year in (keys.birth_year.is_(None), keys.birth_year == p["birth_year"])
        ]
        conds += [
            keys.dob == p["dob"],
            keys.dob == p["dob_swapped"],
            keys.dob_swapped == p["dob"],
        ]
    where = or_(*conds)
    cols = (
        keys.profile_id,
        keys.surname,
        keys.forename,
        keys.surname_metaphone,
        keys.dob,
        keys.dob_swapped,
        keys.birth_year,
    )
    whole = select(*cols).where(where).order_by(keys.id)
    first: Executable
    if with_dob:
        first = whole.limit(MAX_KEY_ROWS + 1)
    else:
        counted = select(keys.id).where(where).limit(MAX_KEY_ROWS + 1).subquery()
        first = select(func.count()).select_from(counted)
    narrow = [keys.surname == p["surname"]]
    order: list[ColumnElement[Any]] = [keys.id]
    if with_forename:
        narrow.append(
            or_(keys.forename == p["forename"], keys.forename_metaphone == p["forename_metaphone"])
        )
        order.insert(0, case((keys.forename == p["forename"], 0), else_=1))
    tier = select(*cols).where(where, *narrow).order_by(*order).limit(MAX_TIER_ROWS)
    return _PersonStatements(first=first, tier=tier, whole=whole)


# The bound parameters' names: the fields of Keys.row(), which fills them.
_KEY_FIELDS = tuple(Keys(None, None, None).row())


def person_check(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    surname: str,
    forename: str | None = None,
    date_of_birth: date | None = None,
    clock: Clock = _wall,
) -> dict[str, Any]:
    for field, value in (("surname", surname), ("forename", forename)):
        if value is not None and not NAME_TEXT.match(value):
            raise PeelError(f"{field}: 1 to 100 characters, no control characters")
    q = Keys(
        norm_name(surname),
        first_forename(forename),
        date_of_birth.isoformat() if date_of_birth else None,
    )
    if q.surname is None:
        raise PeelError("surname: give at least one letter")
    k = q.row()
    today = data_clock.now().date()
    st = _person_statements(bool(k["dob"]), bool(k["forename"]))
    with consultation(
        store,
        policy,
        caller,
        permission="person.check",
        object_type="person_check",
        query={"surname": surname, "forename": forename, "date_of_birth": k["dob"]},
        clock=clock,
    ) as op:
        published = latest_publish(op.conn)
        rows: Sequence[Row[Any, Any, Any, Any, Any, Any, Any]] = []
        if k["dob"]:
            # With a date the keys are few: read them at once, one more than the limit.
            rows = op.conn.execute(st.first, k).all()
            matched = len(rows)
        else:
            # Without one, count first, in the store (no rows built): on a large force a
            # common surname's phonetic bucket passes the limit, and reading and scoring
            # thousands of rows only to answer "incomplete" made checks slow.
            matched = int(op.conn.execute(st.first, k).scalar_one())
        complete = matched <= MAX_KEY_ROWS
        if not complete:
            # Too broad to search whole: score the closest tier only (the surname as given,
            # and the forename as given or sounding alike; its exact names first, being the
            # ones listed), and say the answer is incomplete.
            rows = op.conn.execute(st.tier, k).all()
        elif not rows:
            rows = op.conn.execute(st.whole, k).all()
        # Keys share names and dates (a profile's records, a surname's bucket): each key is
        # scored once, as a number; what differs is put in words for the listed ones only.
        scorer = Scorer(q)
        values: dict[tuple[Any, ...], float] = {}
        best: dict[str, tuple[float, Any]] = {}
        for row in rows:
            pid, sur, fore, _meta, dob, dob_sw, year = row
            # Without a date in the query the key's date plays no part in its score.
            key = (sur, fore, dob, dob_sw, year) if q.dob else (sur, fore)
            s = values.get(key)
            if s is None:
                sim = scorer.surname(sur)
                # (less half a thousandth: scores are rounded to three places) A surname
                # this far off cannot be plausible whatever else agrees: not scored.
                far = sim is not None and (
                    best_possible(q, sim, fore is not None) < PLAUSIBLE - 5e-4
                )
                s = values[key] = -1.0 if far else scorer.value(sur, fore, dob, dob_sw, year)
            b = best.get(pid)
            if b is None or s > b[0]:
                best[pid] = (s, row)
        plausible = sorted(
            ((s, pid, r) for pid, (s, r) in best.items() if s >= PLAUSIBLE),
            key=lambda t: (-t[0], t[1]),
        )
        shown = plausible[:MAX_CANDIDATES]
        found = op.conn.execute(_PERSON_DOCS, {"ids": [p for _, p, _ in shown]}).all()
        docs: dict[str, Any] = {r[0]: r[1] for r in found}
        op.returned(p for _, p, _ in shown)
    several = len(plausible) > 1
    candidates = [
        _candidate(pid, s, score(q, r._asdict())[1], docs[pid], today, several=several)
        for s, pid, r in shown
        if pid in docs
    ]
    if not complete:
        message = "the name matched too many records: narrow the search (add a date of birth)"
    elif not candidates:
        message = "no published profile is plausible for these details"
    elif several:
        message = f"{len(plausible)} profiles are plausible: check each; none is chosen for you"
    else:
        message = "one plausible profile"
    return {
        "status": "ok",
        "complete": complete and len(plausible) <= MAX_CANDIDATES,
        "searched": {
            **published,
            "parts": [
                "published person profiles: exact and phonetic surname keys, date of birth "
                "exact, with day and month swapped, and year"
            ],
        },
        "query": {"surname": q.surname, "forename": q.forename, "date_of_birth": q.dob},
        "ambiguous": several,
        "candidates": candidates,
        "more_candidates": max(0, len(plausible) - len(shown)),
        "message": message,
    }


__all__ = ["NotPublished", "misread_variants", "person_check", "plate_ok", "vehicle_check"]
