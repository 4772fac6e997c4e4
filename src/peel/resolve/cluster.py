"""Clusters from scored pairs, with constraints, and profile ids that survive reruns.

Written here rather than taken from Splink: Splink clusters by connected components at a
threshold, which chains (A~B and B~C put A with C however different they are) and has no
notion of "these two may never be one person". Peel joins pairs from the strongest down and
refuses a join that would put two different values of a person identifier (PNC ID, CRO
number: `distinct_identifiers`) or an analyst's "not the same person" (a split) into one
profile. Must-links (one reference in one system; an analyst's merge) are applied first.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa


@dataclass
class Constraints:
    must: list[tuple[str, str]] = field(default_factory=list)
    cannot: list[tuple[str, str]] = field(default_factory=list)


class _Groups:
    """Union-find whose groups remember their identifier values and forbidden partners."""

    def __init__(self, n: int, ids: list[dict[str, str]]) -> None:
        self.parent = list(range(n))
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
        for key in ia.keys() & ib.keys():
            if ia[key].isdisjoint(ib[key]):
                return True
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


def cluster(
    records: pa.Table,
    pairs: pa.Table,
    *,
    threshold: float,
    distinct_identifiers: Iterable[str],
    same_reference: bool,
    constraints: Constraints,
) -> tuple[list[list[str]], dict[str, int]]:
    """Clusters of record ids (each sorted, the list sorted by first member) and counts of
    what the constraints did."""
    rid = records["record_id"].to_pylist()
    index = {r: i for i, r in enumerate(rid)}
    keys = list(distinct_identifiers)
    cols = {k: records[k].to_pylist() for k in keys}
    ids = [{k: cols[k][i] for k in keys if cols[k][i]} for i in range(len(rid))]
    g = _Groups(len(rid), ids)
    stats = Counter[str]()
    for a, b in constraints.cannot:
        if a in index and b in index:
            g.cannot[g.find(index[a])].add(index[b])
            g.cannot[g.find(index[b])].add(index[a])
            stats["cannot_links"] += 1
    if same_reference:
        first: dict[tuple[str, str], int] = {}
        for i, (system, ref) in enumerate(
            zip(records["person_system"].to_pylist(), records["person_ref"].to_pylist(),
                strict=True)
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
    # Strongest first; ties broken by the record ids so the result never depends on the
    # order Splink returned the pairs in.
    order = sorted(keep.tolist(), key=lambda k: (-weight[k], left[k], right[k]))
    for k in order:
        a, b = index[left[k]], index[right[k]]
        if g.find(a) == g.find(b):
            continue
        if g.conflict(a, b):
            stats["links_refused"] += 1
            continue
        g.union(a, b)
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
    for _, _, pid, n in candidates:
        if n not in chosen and pid not in used:
            chosen[n] = pid
            used.add(pid)
    out: dict[str, str] = {}
    stats = Counter[str]()
    for n, members in enumerate(clusters):
        pid = chosen.get(n)
        if pid is None:
            pid = _new_id(members)
            while pid in used:
                pid = _new_id([pid, *members])
            used.add(pid)
            stats["new"] += 1
        else:
            stats["kept"] += 1
        for m in members:
            out[m] = pid
    return out, dict(stats)


__all__ = ["Constraints", "assign_profile_ids", "cluster"]
