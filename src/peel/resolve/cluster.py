"""Clusters from scored pairs, with constraints, and profile ids that survive reruns.

Written here rather than taken from Splink: Splink clusters by connected components at a
threshold, which chains (A~B and B~C put A with C however different they are) and has no
notion of "these two may never be one person". Peel joins pairs from the strongest down and
refuses a join that would put two different values of a person identifier (PNC ID, CRO
number: `distinct_identifiers`), dates of birth that cannot be one date mistyped
(`dates_of_birth_must_agree`), forenames that cannot be one name (`forenames_must_agree`),
no date of birth and no home in common (`inexact_dates_need_home`), a warrant or warning
with records that live elsewhere and share no identifier (`guarded_tables`), or an analyst's
"not the same person" (a split) into one profile; and it leaves apart a record with no date
of birth that is linked as strongly to two groups that can never be one person
(`undated_ambiguous_stay_apart`). Must-links (one reference in one system; an
analyst's merge) are applied first.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import jellyfish
import numpy as np
import pyarrow as pa


@dataclass
class Constraints:
    must: list[tuple[str, str]] = field(default_factory=list)
    cannot: list[tuple[str, str]] = field(default_factory=list)


def _one_character(a: str, b: str) -> bool:
    """Equal but for one substituted character or one swap of neighbours."""
    if len(a) != len(b):
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) <= 1 or (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and a[diff[0]] == b[diff[1]]
        and a[diff[1]] == b[diff[0]]
    )


def dates_compatible(a: str, b: str) -> bool:
    """Could two YYYY-MM-DD dates of birth be one date as records carry it: equal, day and
    month swapped, one character mistyped, or one an estimated 1 January of the same year?"""
    if a == b or _one_character(a, b):
        return True
    if a[:4] != b[:4]:
        return False
    if a[5:] == "01-01" or b[5:] == "01-01":
        return True
    return a[5:7] == b[8:10] and a[8:10] == b[5:7]


def names_compatible(a: str, b: str, keys: dict[str, frozenset[str]]) -> bool:
    """Could two forenames be one person's as records carry them? A veto, so lenient: equal,
    one typing error apart, a known nickname of one formal name, one cut short of the other,
    or close in spelling (Jaro-Winkler at least 0.75, or 0.7 with the same initial). Splink's
    score still has to join them; this only stops joins of plainly different names."""
    if not a or not b or a == b or jellyfish.damerau_levenshtein_distance(a, b) <= 1:
        return True
    if keys.get(a, frozenset()) & keys.get(b, frozenset()):
        return True
    if min(len(a), len(b)) >= 2 and (a.startswith(b) or b.startswith(a)):
        return True
    jw = jellyfish.jaro_winkler_similarity(a, b)
    return jw >= 0.75 or (a[0] == b[0] and jw >= 0.7)


def homes_compatible(a: tuple[set[str], set[str]], b: tuple[set[str], set[str]]) -> bool:
    """Could two groups' (addresses, postcodes) be one person's? A postcode in common, or two
    addresses that are nearly the same (Jaro-Winkler at least 0.9: the residence comparison's
    own bar, which a mistyped address clears)."""
    (aa, pa_), (ab, pb) = a, b
    if not pa_.isdisjoint(pb) or not aa.isdisjoint(ab):
        return True
    if len(aa) * len(ab) > 400:  # a group this varied is compared on exact values only
        return False
    return any(jellyfish.jaro_winkler_similarity(x, y) >= 0.9 for x in aa for y in ab)


def _specific(dates: set[str]) -> set[str]:
    """A group's dates of birth, leaving out estimated 1 January dates when it has others (an
    estimate must not let a group take any date of its year)."""
    exact = {d for d in dates if d[5:] != "01-01"}
    return exact or dates


class _Groups:
    """Union-find whose groups remember their identifier values, dates of birth and
    forbidden partners."""

    def __init__(
        self,
        n: int,
        ids: list[dict[str, str]],
        dobs: list[str | None] | None = None,
        names: list[set[tuple[str, str]]] | None = None,
        name_keys: dict[str, frozenset[str]] | None = None,
        distinct: frozenset[str] = frozenset(),
        homes: list[tuple[set[str], set[str]]] | None = None,
        dates_must_agree: bool = True,
        guarded: list[bool] | None = None,
        inexact_need_home: bool = False,
    ) -> None:
        self.inexact_need_home = inexact_need_home
        self.distinct = distinct
        self.dates_must_agree = dates_must_agree
        # Per group: does it hold a warrant or warning-marker record?
        self.guarded: dict[int, bool] | None = (
            dict(enumerate(guarded)) if guarded is not None else None
        )
        # Per group: (addresses, postcodes) seen; only when inexact dates need a home.
        self.homes: dict[int, tuple[set[str], set[str]]] | None = (
            dict(enumerate(homes)) if homes is not None else None
        )
        self.parent = list(range(n))
        # Per group: the (forename, surname) pairs of its records ("" where missing).
        self.names: dict[int, set[tuple[str, str]]] | None = (
            dict(enumerate(names)) if names is not None else None
        )
        self.name_keys = name_keys or {}
        self.dobs: dict[int, set[str]] | None = (
            {i: {d} if d else set() for i, d in enumerate(dobs)} if dobs is not None else None
        )
        self.members: dict[int, list[int]] = {i: [i] for i in range(n)}
        self.ids: dict[int, dict[str, set[str]]] = {
            i: {k: {v} for k, v in d.items()} for i, d in enumerate(ids)
        }
        self.cannot: dict[int, set[int]] = defaultdict(set)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def conflict(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        ia, ib = self.ids[ra], self.ids[rb]
        shared = False
        for key in ia.keys() & ib.keys():
            if ia[key].isdisjoint(ib[key]):
                if key in self.distinct:
                    return True
            else:
                shared = True
        if shared:
            # One identifier value on both sides (a PNC ID, a National Insurance number): an
            # alias or a mistyped date of birth is the same person's, so names and dates do
            # not veto.
            return self._split_between(ra, rb)
        if self.dobs is not None:
            da, db = _specific(self.dobs[ra]), _specific(self.dobs[rb])
            if (
                self.dates_must_agree
                and da
                and db
                and not any(dates_compatible(x, y) for x in da for y in db)
            ):
                return True
            if (
                self.inexact_need_home
                and self.homes is not None
                and self.dobs[ra].isdisjoint(self.dobs[rb])
                and all(self.homes[ra])
                and all(self.homes[rb])
                and not homes_compatible(self.homes[ra], self.homes[rb])
            ):
                # No date of birth in common (one mistyped, estimated or missing) and
                # nowhere in common: a namesake, unless an identifier says otherwise.
                return True
        if (
            self.guarded is not None
            and self.homes is not None
            and (self.guarded[ra] or self.guarded[rb])
            and all(self.homes[ra])
            and all(self.homes[rb])
            and not homes_compatible(self.homes[ra], self.homes[rb])
        ):
            # A warrant or warning joins records elsewhere only through an identifier:
            # name and date of birth alone are shared by namesakes. Left apart, both
            # profiles still come up at a check on that name and date, each with what
            # differs; joined wrongly, the warning is shown as someone else's.
            return True
        if self.names is not None and not self._names_agree(self.names[ra], self.names[rb]):
            return True
        return self._split_between(ra, rb)

    def ambiguous(self, w: int, target: int, partners: list[list[int]]) -> bool:
        """Would joining `w`'s group to `target`'s settle an undated record that could as
        well be someone else's? True when `w`'s group has no date of birth and one of its
        records is also linked (above the threshold) to a group that can never be
        `target`'s person (a different date of birth, say): two relatives of one name at
        one address, and a record naming neither's date. Left apart, it is shown with
        neither person's warnings; joined, it could put one's warning on the other."""
        if self.dobs is None:
            return False
        rw, rt = self.find(w), self.find(target)
        if _specific(self.dobs[rw]):
            return False
        for m in self.members[rw]:
            for p in partners[m]:
                rp = self.find(p)
                if rp != rw and rp != rt and self.conflict(rt, rp):
                    return True
        return False

    def _names_agree(self, na: set[tuple[str, str]], nb: set[tuple[str, str]]) -> bool:
        """Some forename of one group could be some forename of the other, or one record's
        names are another's swapped (its forename the other's surname *and* its surname the
        other's forename: one swapped record must not make every bearer of its surname
        compatible)."""
        keys = self.name_keys
        fa = {f for f, _ in na if f}
        fb = {f for f, _ in nb if f}
        if not fa or not fb:
            return True
        if any(names_compatible(x, y, keys) for x in fa for y in fb):
            return True
        return any(
            f1
            and s1
            and f2
            and s2
            and names_compatible(f1, s2, keys)
            and names_compatible(s1, f2, keys)
            for f1, s1 in na
            for f2, s2 in nb
        )

    def _split_between(self, ra: int, rb: int) -> bool:
        """Has an analyst said a record of one group is not a record of the other?"""
        ca, cb = self.cannot.get(ra), self.cannot.get(rb)
        if ca and any(self.find(x) == rb for x in ca):
            return True
        return bool(cb and any(self.find(x) == ra for x in cb))

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra].extend(self.members.pop(rb))
        for k, vals in self.ids.pop(rb).items():
            self.ids[ra].setdefault(k, set()).update(vals)
        if rb in self.cannot:
            self.cannot[ra].update(self.cannot.pop(rb))
        if self.dobs is not None:
            self.dobs[ra].update(self.dobs.pop(rb))
        if self.guarded is not None:
            self.guarded[ra] = self.guarded[ra] or self.guarded.pop(rb)
        if self.homes is not None:
            ab, pb = self.homes.pop(rb)
            self.homes[ra][0].update(ab)
            self.homes[ra][1].update(pb)
        if self.names is not None:
            self.names[ra].update(self.names.pop(rb))


def cluster(
    records: pa.Table,
    pairs: pa.Table,
    *,
    threshold: float,
    distinct_identifiers: Iterable[str],
    same_reference: bool,
    constraints: Constraints,
    dates_must_agree: bool = False,
    names_must_agree: bool = False,
    shared_identifiers: Iterable[str] = (),
    inexact_dates_need_home: bool = False,
    guarded_tables: Iterable[str] = (),
    undated_ambiguous_stay_apart: bool = False,
) -> tuple[list[list[str]], dict[str, int]]:
    """Clusters of record ids (each sorted, the list sorted by first member) and counts of
    what the constraints did."""
    rid = records["record_id"].to_pylist()
    index = {r: i for i, r in enumerate(rid)}
    distinct = frozenset(distinct_identifiers)
    keys = sorted(distinct | set(shared_identifiers))
    cols = {k: records[k].to_pylist() for k in keys}
    ids = [{k: cols[k][i] for k in keys if cols[k][i]} for i in range(len(rid))]
    names: list[set[tuple[str, str]]] | None = None
    name_keys: dict[str, frozenset[str]] = {}
    if names_must_agree:
        fore = records["forename1"].to_pylist()
        sur = records["surname_norm"].to_pylist()
        names = [{(f or "", s or "")} for f, s in zip(fore, sur, strict=True)]
        for f, k in zip(fore, records["forename_keys"].to_pylist(), strict=True):
            if f and k:
                name_keys[f] = frozenset(k)
    guarded_set = frozenset(guarded_tables)
    homes: list[tuple[set[str], set[str]]] | None = None
    if inexact_dates_need_home or guarded_set:
        homes = [
            ({a} if a else set(), {p.replace(" ", "")} if p else set())
            for a, p in zip(
                records["address_norm"].to_pylist(), records["postcode"].to_pylist(), strict=True
            )
        ]
    g = _Groups(
        len(rid),
        ids,
        records["dob"].to_pylist()
        if dates_must_agree or inexact_dates_need_home or undated_ambiguous_stay_apart
        else None,
        names,
        name_keys,
        distinct,
        homes,
        dates_must_agree,
        [t in guarded_set for t in records["lake_table"].to_pylist()] if guarded_set else None,
        inexact_dates_need_home,
    )
    stats = Counter[str]()
    for a, b in constraints.cannot:
        if a in index and b in index:
            g.cannot[g.find(index[a])].add(index[b])
            g.cannot[g.find(index[b])].add(index[a])
            stats["cannot_links"] += 1
    if same_reference:
        first: dict[tuple[str, str], int] = {}
        for i, (system, ref) in enumerate(
            zip(
                records["person_system"].to_pylist(), records["person_ref"].to_pylist(), strict=True
            )
        ):
            if system and ref:
                j = first.setdefault((system, ref), i)
                if j != i and g.find(i) != g.find(j):
                    g.union(i, j)
                    stats["same_reference_links"] += 1
    for a, b in constraints.must:
        if a in index and b in index and g.find(index[a]) != g.find(index[b]):
            g.union(index[a], index[b])
            stats["must_links"] += 1
    prob = np.asarray(pairs["match_probability"].to_numpy(zero_copy_only=False))
    weight = np.asarray(pairs["match_weight"].to_numpy(zero_copy_only=False))
    left = pairs["record_id_l"].to_pylist()
    right = pairs["record_id_r"].to_pylist()
    keep = np.nonzero(prob >= threshold)[0]
    shared_keys = [k for k in keys if k in set(shared_identifiers)]

    def confirmed(k: int) -> bool:
        """Do the two records carry one value of a shared identifier (a PNC ID, say)?"""
        a, b = ids[index[left[k]]], ids[index[right[k]]]
        return any(a.get(c) is not None and a.get(c) == b.get(c) for c in shared_keys)

    # Pairs an identifier confirms first, so each person's records are together before any
    # link on name and date alone is weighed against them (otherwise a namesake could join
    # a record with the identifier first, and the identifier then lift the vetoes for the
    # rest of that person's records); within each, strongest first; ties broken by the
    # record ids so the result never depends on the order Splink returned the pairs in.
    order = sorted(keep.tolist(), key=lambda k: (not confirmed(k), -weight[k], left[k], right[k]))
    partners: list[list[int]] = [[] for _ in rid]
    if undated_ambiguous_stay_apart:
        for k in order:
            ia, ib = index[left[k]], index[right[k]]
            partners[ia].append(ib)
            partners[ib].append(ia)
    for k in order:
        ia, ib = index[left[k]], index[right[k]]
        if g.find(ia) == g.find(ib):
            continue
        if g.conflict(ia, ib):
            stats["links_refused"] += 1
            continue
        if (
            undated_ambiguous_stay_apart
            and not confirmed(k)
            and (g.ambiguous(ia, ib, partners) or g.ambiguous(ib, ia, partners))
        ):
            stats["links_ambiguous"] += 1
            continue
        g.union(ia, ib)
        stats["links_joined"] += 1
    clusters = sorted(sorted(rid[i] for i in members) for members in g.members.values())
    return clusters, dict(stats)


def _new_id(members: list[str]) -> str:
    digest = hashlib.sha256("\n".join(members).encode()).hexdigest()
    return f"P-{digest[:12].upper()}"


def assign_profile_ids(
    clusters: list[list[str]], previous: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, int]]:
    """record id -> profile id. A cluster keeps the id of the earlier profile it shares most
    records with (each earlier id goes to one cluster at most, largest overlaps first), so an
    unchanged profile keeps its id and a grown or shrunk one usually does; a new cluster gets
    an id from its members."""
    candidates = []
    for n, members in enumerate(clusters):
        overlap = Counter(previous[m] for m in members if m in previous)
        for pid, count in overlap.items():
            candidates.append((-count, -len(members), pid, n))
    candidates.sort()
    chosen: dict[int, str] = {}
    used: set[str] = set()
    for _, _, old, n in candidates:
        if n not in chosen and old not in used:
            chosen[n] = old
            used.add(old)
    out: dict[str, str] = {}
    stats = Counter[str]()
    for n, members in enumerate(clusters):
        kept = chosen.get(n)
        if kept is not None:
            pid = kept
            stats["kept"] += 1
        else:
            pid = _new_id(members)
            while pid in used:
                pid = _new_id([pid, *members])
            used.add(pid)
            stats["new"] += 1
        for m in members:
            out[m] = pid
    return out, dict(stats)


__all__ = ["Constraints", "assign_profile_ids", "cluster"]
