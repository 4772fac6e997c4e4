"""Which of a batch's row ids the lake already stores, checked block by block as the batch is
read, against the ids stored in the same day partition.

A row's identity covers every raw value, so a stored copy of a row lies in the partition the
row itself falls in. The ids of each partition a batch touches are read once (the `row_id`
column only) and kept as their first 64 bits, sorted, with the other 64 bits beside them; a
block's ids are sorted the same way and found with one merge-like `searchsorted`, so a check
costs a sort of the block, not a hash table of the partition. Partitions are kept in memory up
to a budget of ids (least recently used first out); a partition larger than the whole budget
is checked file by file instead, so memory stays bounded whatever the lake holds.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CACHE_IDS = 6_000_000  # ids kept in memory across partitions (16 bytes each: 96 MB)
SEEN_BITS = 1 << 28  # the batch's Bloom filter of identities: 32 MB
MAX_CANDIDATES = 1_000_000  # identities kept as possible repeats before giving up on the filter


def id_words(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A UUID (or 16-byte binary) array as an (n, 2) uint64 view of its bytes, no copy when
    the array is in one chunk."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
    if isinstance(ids, pa.ExtensionArray):
        ids = ids.storage
    if ids.null_count:
        raise ValueError("row ids must not be null")
    buf = ids.buffers()[1]
    words = np.frombuffer(buf, dtype=np.uint64) if buf is not None else np.empty(0, np.uint64)
    return words[ids.offset * 2 : (ids.offset + len(ids)) * 2].reshape(-1, 2)


class _Sorted:
    """Ids sorted by their first word."""

    def __init__(self, words: np.ndarray) -> None:
        order = np.argsort(words[:, 0])
        self.w0 = np.ascontiguousarray(words[order, 0])
        self.w1 = np.ascontiguousarray(words[order, 1])

    def __len__(self) -> int:
        return len(self.w0)

    def contains(self, words: np.ndarray, *, presorted: bool = False) -> np.ndarray:
        """Exact membership of each id in `words` (n, 2); `presorted` says they are in order of
        their first word already (the block's one sort, shared with the repeat filter)."""
        out = np.zeros(len(words), dtype=bool)
        if len(words) == 0 or len(self.w0) == 0:
            return out
        q0 = words[:, 0]
        if presorted:
            order = np.arange(len(q0))
            q0s = np.ascontiguousarray(q0)
        else:
            order = np.argsort(q0)  # sorted queries make the search cache-friendly
            q0s = q0[order]
        left = np.searchsorted(self.w0, q0s, side="left")
        at = np.minimum(left, len(self.w0) - 1)
        cand = np.flatnonzero(self.w0[at] == q0s)
        if len(cand) == 0:
            return out
        rows = order[cand]
        q1 = words[rows, 1]
        hit = self.w1[at[cand]] == q1
        # Another stored id may share the first word (64-bit collision): check its whole run.
        right = np.searchsorted(self.w0, q0s[cand], side="right")
        for k in np.flatnonzero(~hit & (right - left[cand] > 1)).tolist():
            lo, hi = int(left[cand[k]]), int(right[k])
            hit[k] = bool(np.any(self.w1[lo:hi] == q1[k]))
        out[rows[hit]] = True
        return out


class SeenIds:
    """Which identities of a batch may have come before in the same batch: a blocked Bloom
    filter (two bits in one 64-bit word an id, all taken from the first 64 bits of the id's own
    MD5) over the identities seen so far, and an exact check within each block. It never misses
    a repeat, so a batch with no candidate has no repeated content and the query over all its
    identities can be skipped; with candidates, that query only needs to look at the ids with
    their first 64 bits. Each block is looked up in sorted order, so the filter is read and
    written front to back. The candidates are kept (8 bytes each) up to `limit`; past it,
    `overflowed` says to look at every identity."""

    def __init__(self, bits: int = SEEN_BITS, limit: int = MAX_CANDIDATES) -> None:
        if bits & (bits - 1) or bits < 64:
            raise ValueError("bits must be a power of two, at least 64")
        self._bits = np.zeros(bits // 64, dtype=np.uint64)
        self._shift = np.uint64(64 - ((bits // 64).bit_length() - 1))
        self._limit = limit
        self._candidates: list[np.ndarray] = []
        self._count = 0
        self.overflowed = False

    def add(self, first: np.ndarray, *, presorted: bool = False) -> None:
        """Note the ids of one block by their first 64 bits (`id_words(ids)[:, 0]`);
        `presorted` says they are in ascending order already."""
        if len(first) == 0:
            return
        if not presorted:
            first = np.sort(first)
        word = first >> self._shift if self._shift < 64 else np.zeros(len(first), np.uint64)
        low = np.uint64(63)
        mask = (np.uint64(1) << (first & low)) | (np.uint64(1) << ((first >> np.uint64(6)) & low))
        have = self._bits[word]
        maybe = (have & mask) == mask
        same = first[1:] == first[:-1]  # equal first words: a superset of repeats in the block
        maybe[1:] |= same
        maybe[:-1] |= same
        starts = np.flatnonzero(np.concatenate(([True], word[1:] != word[:-1])))
        self._bits[word[starts]] = have[starts] | np.bitwise_or.reduceat(mask, starts)
        if maybe.any() and not self.overflowed:
            hit = first[maybe]
            self._count += len(hit)
            if self._count > self._limit:
                self.overflowed = True
                self._candidates = []
            else:
                self._candidates.append(hit)

    def candidates(self) -> np.ndarray:
        """The first 64 bits of the ids that may repeat (sorted, unique): every repeated id
        has one of them (unless overflowed)."""
        if not self._candidates:
            return np.empty(0, dtype=np.uint64)
        return np.unique(np.concatenate(self._candidates))


def _read_ids(path: Path) -> np.ndarray:
    col = pq.ParquetFile(path).read(columns=["row_id"]).column(0)
    return id_words(col)  # a view: every use copies it (concatenated or sorted)


class StoredIds:
    """The ids a table already stores, by partition (None for an unpartitioned table)."""

    def __init__(
        self, files: dict[str | None, list[Path]], rows: dict[str | None, int], *, budget: int
    ) -> None:
        self.files = files
        self.rows = rows
        self.budget = budget
        self._cache: OrderedDict[str | None, _Sorted] = OrderedDict()
        self._held = 0

    def holds(self, partition: str | None) -> bool:
        """Whether the lake stores anything in `partition` (else nothing there is known)."""
        return bool(self.files.get(partition))

    def contains(
        self, partition: str | None, words: np.ndarray, *, presorted: bool = False
    ) -> np.ndarray:
        """True for each id (an (n, 2) array from `id_words`) already stored in `partition`;
        `presorted` says the ids are in ascending order of their first word."""
        paths = self.files.get(partition, [])
        if not paths or len(words) == 0:
            return np.zeros(len(words), dtype=bool)
        if self.rows.get(partition, 0) > self.budget:
            out = np.zeros(len(words), dtype=bool)
            for p in paths:  # too big to hold: one file at a time
                out |= _Sorted(_read_ids(p)).contains(words, presorted=presorted)
            return out
        return self._get(partition, paths).contains(words, presorted=presorted)

    def _get(self, partition: str | None, paths: list[Path]) -> _Sorted:
        hit = self._cache.get(partition)
        if hit is not None:
            self._cache.move_to_end(partition)
            return hit
        parts = [_read_ids(p) for p in paths]
        found = _Sorted(np.concatenate(parts) if parts else np.empty((0, 2), np.uint64))
        self._held += len(found)
        self._cache[partition] = found
        while self._held > self.budget and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._held -= len(old)
        return found


__all__ = ["CACHE_IDS", "SeenIds", "StoredIds", "id_words"]
