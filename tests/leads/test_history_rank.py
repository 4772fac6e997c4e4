"""The keeper's history of the crime type in the ranking of leads: the policy's odds ratio,
for ordering only, never for a hire or company keeper or a possibly cloned plate, and never
from the crimes searched about."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from helpers.resolved import ResolvedWorld
from peel.errors import PolicyError
from peel.governance.policy import default_policy_text, load_policy
from peel.lake import Lake
from peel.leads.chain import Keeper, attach_history, history_factor, keepers
from peel.leads.crimes import by_refs
from peel.leads.find import ranked
from peel.leads.search import Candidate
from peel.resolve.output import current_run


def _cand(plate: str, expected: float) -> Candidate:
    return Candidate(plate, 1.0, [0], {}, {}, {}, expected=expected)


def _keeper(kind: str = "person", **history: int) -> Keeper:
    return Keeper(
        kind=kind,
        profile_id="P1" if kind == "person" else None,
        record="pnc:1",
        start=None,
        end=None,
        history={k: [{"record": f"{k}:{i}"} for i in range(n)] for k, n in history.items()},
    )


def test_history_factor_only_for_a_person_keeper_with_relevant_history() -> None:
    assert history_factor([_keeper(convictions=2)], False, 30) == 30
    assert history_factor([_keeper(crimes=1)], False, 30) == 30
    assert history_factor([_keeper(intelligence=1)], False, 30) == 30
    # Intelligence about other crime types, or nothing at all: no factor.
    assert history_factor([_keeper(other_intelligence=4)], False, 30) == 1
    assert history_factor([_keeper()], False, 30) == 1
    assert history_factor([], False, 30) == 1
    # A hire or company keeper has no such history to give; a possible clone is not the
    # keeper's car on the road; odds of 1 turn it off.
    assert history_factor([_keeper("hire", convictions=3)], False, 30) == 1
    assert history_factor([_keeper(convictions=3)], True, 30) == 1
    assert history_factor([_keeper(convictions=3)], False, 1) == 1
    # Any person keeper in the reads' period counts.
    assert history_factor([_keeper(), _keeper(convictions=1)], False, 30) == 30


def test_ranked_divides_the_chance_figure_for_ordering_only() -> None:
    top = [_cand("AAA", 0.001), _cand("BBB", 0.01), _cand("CCC", 0.5)]
    found = {"BBB": [_keeper(convictions=1)], "CCC": [_keeper(convictions=2)]}
    order = ranked(top, found, {}, 30)
    assert [(c.plate, f) for c, f in order] == [("BBB", 30), ("AAA", 1), ("CCC", 30)]
    # The candidates are not changed: the chance figure (what reports a lead) is their own.
    assert [c.expected for c, _ in order] == [0.01, 0.001, 0.5]
    # Strong ANPR evidence still beats history: 0.0001 against 0.01 / 30.
    top[0] = _cand("AAA", 0.0001)
    assert [c.plate for c, _ in ranked(top, found, {}, 30)] == ["AAA", "BBB", "CCC"]
    # The ANPR order without the policy's odds, or when the plate may be cloned.
    top[0] = _cand("AAA", 0.001)
    assert [c.plate for c, _ in ranked(top, found, {}, 1)] == ["AAA", "BBB", "CCC"]
    assert [c.plate for c, _ in ranked(top, found, {"BBB": {}}, 30)] == ["AAA", "BBB", "CCC"]
    # Below the reporting threshold (cutoff 0.05 before calibration), history never lifts a
    # lead above a reported one: without the cutoff CCC (0.5 / 30 = 0.017) would come first;
    # with it, CCC stays under AAA and BBB, which are reported.
    top = [_cand("AAA", 0.04), _cand("BBB", 0.045), _cand("CCC", 0.5)]
    found = {"CCC": [_keeper(convictions=5)]}
    assert [c.plate for c, _ in ranked(top, found, {}, 30)] == ["CCC", "AAA", "BBB"]
    assert [c.plate for c, _ in ranked(top, found, {}, 30, cutoff=0.05)] == ["AAA", "BBB", "CCC"]
    # Within the reported leads history still orders.
    found = {"BBB": [_keeper(convictions=1)], "CCC": [_keeper(convictions=5)]}
    assert [c.plate for c, _ in ranked(top, found, {}, 30, cutoff=0.05)] == ["BBB", "AAA", "CCC"]
    # Equal figures keep the search's order (score, then plate).
    # Equal figures keep the search's order (score, then plate), not the plates' order, and a
    # tie made by the history division keeps it too.
    tie = [_cand("YYY", 0.02), _cand("XXX", 0.02)]
    assert [c.plate for c, _ in ranked(tie, {}, {}, 30)] == ["YYY", "XXX"]
    tie = [_cand("YYY", 0.02), _cand("XXX", 0.6)]
    assert [c.plate for c, _ in ranked(tie, {"XXX": [_keeper(crimes=1)]}, {}, 30)] == [
        "YYY",
        "XXX",
    ]


def test_policy_carries_the_odds_and_refuses_nonsense() -> None:
    text = default_policy_text()
    assert load_policy(text).policy.leads.history_odds_ratio == 30
    bad = text.replace("history_odds_ratio: 30", "history_odds_ratio: 0.5")
    assert bad != text
    with pytest.raises(PolicyError, match=r"leads\.history_odds_ratio"):
        load_policy(bad)
    # A policy without the section (an older version) still loads: ANPR-plus-history at the
    # documented default.
    older = text.split("\nleads:\n")[0] + "\n" + text.split("history_odds_ratio: 30\n")[1]
    assert "leads:" not in older
    assert load_policy(older).policy.leads.history_odds_ratio == 30


def test_history_leaves_out_the_crimes_searched_about(resolved_world: ResolvedWorld) -> None:
    # The true vehicle of a planted series, kept by its offender: the history found for the
    # keeper without exclusions names series crimes (the offender is a suspect on some of
    # them); asked about those crimes, the search must not count them again as history.
    lake = Lake(resolved_world.settings)
    truth = resolved_world.city / "truth"
    crimes = pq.read_table(truth / "crime.parquet").to_pylist()
    vehicles = pq.read_table(truth / "series_vehicle.parquet").to_pylist()
    engine = lake.engine()
    run = current_run(lake.settings)
    assert run is not None
    checked = 0
    try:
        for v in vehicles:
            if v["how"] != "own":
                continue
            refs = [c["crime_ref"] for c in crimes if c["series_id"] == v["series_id"]]
            picked, _ = by_refs(engine, refs)
            if not picked:
                continue
            plate = str(v["vrm_read"]).replace(" ", "").upper()
            span = {
                plate: (
                    min(c.committed_from for c in picked).date(),
                    max(c.committed_to for c in picked).date(),
                )
            }
            types = {picked[0].crime_type}
            full = keepers(engine, [plate], span)
            attach_history(engine, run, full, types)
            named = [r for k in full.get(plate, []) for r in k.history.get("crimes", [])]
            if not named:
                continue
            row_ids = [str(r["record"]).split(":", 1)[1] for r in named]
            ref_of = {
                r["row_id"]: r["crime_ref"]
                for r in engine.query(
                    "SELECT CAST(row_id AS VARCHAR) AS row_id, crime_ref FROM "
                    + engine.table_sql("person_crime")
                ).to_pylist()
            }
            in_series = {ref_of[r] for r in row_ids} & set(refs)
            if not in_series:
                continue
            cut = keepers(engine, [plate], span)
            attach_history(engine, run, cut, types, exclude=in_series)
            left = [
                ref_of[str(r["record"]).split(":", 1)[1]]
                for k in cut.get(plate, [])
                for r in k.history.get("crimes", [])
            ]
            assert not set(left) & in_series
            assert len(left) == len(named) - sum(1 for r in row_ids if ref_of[r] in in_series)
            checked += 1
    finally:
        engine.close()
    assert checked >= 1, "no own-car series whose offender is named on its crimes"
