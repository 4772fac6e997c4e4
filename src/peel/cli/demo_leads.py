"""The lead-search step of `peel demo`: the investigator runs an ANPR lead search through the
API on one planted series of the demo city, and the demo prints the top lead's claim and the
workbench page that opens with the same crimes chosen.

The series is picked by a fixed rule, not by how well the search does on it: of the planted
series of the demo case's offence (burglary), the one whose vehicle was read near the most of
its crimes (the truth's series_reads); those crimes are the query. When any of them is older
than the ANPR recent tier, the search uses the investigator's newest authorisation for the
demo case (the governance step grants one). Reading truth/ is the demo's business, as it is
each evaluate module's: the search itself never sees it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from starlette.testclient import TestClient

from peel import clock as data_clock
from peel.cli.common import err
from peel.cli.demo_app import CASE, Login, Tour
from peel.governance import anpr

OFFENCE = "burglary"  # the demo case's offence


def demo_series(truth: Path) -> dict[str, Any] | None:
    """The series the demo searches (see the module docstring), or None."""
    crimes = {r["crime_ref"]: r for r in pq.read_table(truth / "crime.parquet").to_pylist()}
    reads = pq.read_table(truth / "series_reads.parquet").to_pylist()
    best: tuple[int, int] | None = None
    found = None
    for v in pq.read_table(truth / "series_vehicle.parquet").to_pylist():
        sid = int(v["series_id"])
        refs = sorted(
            {
                r["crime_ref"]
                for r in reads
                if r["kind"] == "series"
                and r["vrm"] == v["vrm_read"]
                and crimes[r["crime_ref"]]["series_id"] == sid
                and crimes[r["crime_ref"]]["crime_type"] == OFFENCE
            }
        )
        key = (len(refs), -sid)
        if len(refs) >= 3 and (best is None or key > best):
            best = key
            first = min(crimes[r]["committed_from_local"] for r in refs)
            found = {
                "series_id": sid,
                "refs": refs,
                "vrm": v["vrm_read"].replace(" ", "").upper(),
                "first": first.replace(tzinfo=UTC) if first.tzinfo is None else first,
            }
    return found


def _authorisation(app: Any) -> int | None:
    state = app.state.peel
    now = data_clock.now()
    with state.store.connect() as conn:
        rows = anpr.list_for(conn, "investigator")
    for r in rows:  # newest first
        expires = datetime.fromisoformat(r["expires_at"])
        expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
        if (
            r["requester"] == "investigator"
            and r["investigation_reference"] == CASE
            and not r["revoked_at"]
            and expires > now
        ):
            return int(r["id"])
    return None


def leads_step(app: Any, logins: list[Login], truth: Path, base: str) -> str | None:
    """Run the search as the investigator and print what it found; returns the page to open."""
    t0 = time.perf_counter()
    series = demo_series(truth)
    if series is None:
        err.print(f"7. lead search: the city has no {OFFENCE} series read near 3+ crimes; skipped")
        return None
    recent = app.state.peel.policy.anpr.recent_days
    old = series["first"] - timedelta(minutes=30) < data_clock.now() - timedelta(days=recent)
    auth = _authorisation(app) if old else None
    body: dict[str, Any] = {"crimes": series["refs"]}
    if auth is not None:
        body["authorisation_id"] = auth
    with TestClient(app) as client:
        tour = Tour(client, logins)
        out = tour.call(
            "investigator",
            "POST",
            "/api/leads/search",
            purpose="investigation",
            case=CASE,
            json=body,
        )
        tour.call("investigator", "POST", "/api/auth/logout", expect=204)
    leads = out["leads"]
    ranks = [lead["rank"] for lead in leads if lead["vrm"] == series["vrm"]]
    err.print(
        f"7. lead search as the investigator on planted {OFFENCE} series {series['series_id']} "
        f"({len(series['refs'])} crimes; ANPR access {out['access']['tier']}"
        + (f" under authorisation {auth}" if auth is not None else "")
        + f"): {out['vehicles_near']:,} vehicles near the scenes, {out['reported']} lead(s) "
        f"reported; the series vehicle ranks {ranks[0] if ranks else 'nowhere'} "
        f"({time.perf_counter() - t0:.1f}s: the search {out['seconds']['total']:.1f}s, of which "
        f"the scoring {out['seconds']['search']:.1f}s; the first search of a crime type on a "
        "new lake also builds the background and calibrates the chance figure)"
    )
    if leads:
        top = leads[0]
        mark = "reported" if top["reported"] else "below threshold"
        err.print(
            f"   top lead [{mark}]: {top['explanation']['claim']}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    page = f"{base}/leads?crimes={','.join(series['refs'])}"
    if auth is not None:
        page += f"&authorisation_id={auth}"
    return page


__all__ = ["demo_series", "leads_step"]
