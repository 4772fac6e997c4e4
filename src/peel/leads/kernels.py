"""The lead search's two inner loops, compiled with numba: the chance figure's dynamic
programme (`dp_tail_sums`, for `score.tail_sums`) and the background rates of the plates near
the scenes (`near_rates`, for `score.prepare`).

Written by hand because each is a few lines of arithmetic that no library offers, and compiled
because in numpy each is several passes over large arrays per crime: the programme was most of
a search's time at a force's volume (0.5-1.2 s for 20,000-70,000 rows, against 0.04-0.1 s
compiled, the same figures to 1e-14; docs/performance.md), the rates 0.1-0.3 s.

The programme runs on the tail T[b] = P(S >= b) (b = 0 .. bins-1, the top bin absorbing):
covering crime i with chance p moves the sum up by its jump j, so
T'[b] = T[b] + p (T[b - j] - T[b]), with T[b - j] = 1 for b <= j. Going down from the top,
T[b - j] is still the old value, so the update is in place. Mass past the top needs no special
case (it is in T[bins-1] either way).

Both run on one thread per call (`nogil`: concurrent searches in the app, or the two halves
of a large set of rows that `score.tail_sums` hands to two threads, run on different cores).
numba's parallel loops were about twice as fast on two cores, but its default
threading layer (workqueue) must not be entered from two threads at once, and the app runs
searches from a thread pool; 0.04-0.1 s a search did not justify a lock or a TBB dependency.

The machine code is cached on disk (`cache=True`: beside this file, or in the user's cache
folder where that is not writable), so a new process loads it (about 0.6 s, once) instead of
compiling it (about 2 s). Importing numba costs about 0.6 s, so `score` imports this module
only when a search needs it.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def dp_tail_sums(
    jumps: np.ndarray, prob: np.ndarray, mult: np.ndarray, bins: int
) -> np.ndarray:  # pragma: no cover - compiled; tested through score.tail_sums
    """sum over rows r of mult[r] * P(S_r >= b) for b = 0 .. bins-1, where S_r adds
    jumps[r, i] with chance prob[r, i], independently for each i (jumps in 0 .. bins-1)."""
    rows, n = jumps.shape
    acc = np.zeros(bins)
    tail = np.empty(bins)
    for r in range(rows):
        tail[:] = 0.0
        tail[0] = 1.0
        for i in range(n):
            j = jumps[r, i]
            p = prob[r, i]
            if j <= 0 or p == 0.0:
                continue
            for b in range(bins - 1, j, -1):
                tail[b] += p * (tail[b - j] - tail[b])
            for b in range(min(j, bins - 1), 0, -1):
                tail[b] += p * (1.0 - tail[b])
        m = mult[r]
        for b in range(bins):
            acc[b] += m * tail[b]
    return acc


@numba.njit(cache=True, nogil=True)
def near_rates(
    starts: np.ndarray,
    plate: np.ndarray,
    how: np.ndarray,
    n: np.ndarray,
    pos: np.ndarray,
    cams: np.ndarray,
    cams_at: np.ndarray,
    overlaps: np.ndarray,
    rows_out: int,
) -> np.ndarray:  # pragma: no cover - compiled; tested through score.prepare
    """Reads expected at crime i's cameras in its window, per plate: for each crime i and each
    of its cameras (cams[cams_at[i]:cams_at[i + 1]], ascending), every background row r of
    the camera (starts[c] <= r < starts[c + 1]: rows grouped by camera) adds
    n[r] * overlaps[i, how[r]] to row pos[plate[r]] of column i. The sums are taken in that
    order, as numpy's bincount over the same rows would."""
    crimes = len(cams_at) - 1
    lam = np.zeros((rows_out, crimes))
    for i in range(crimes):
        for k in range(cams_at[i], cams_at[i + 1]):
            c = cams[k]
            for r in range(starts[c], starts[c + 1]):
                lam[pos[plate[r]], i] += n[r] * overlaps[i, how[r]]
    return lam


@numba.njit(cache=True, nogil=True)
def flag_plates(
    starts: np.ndarray, plate: np.ndarray, cams: np.ndarray, flag: np.ndarray
) -> None:  # pragma: no cover - compiled; tested through score.prepare
    """flag[plate[r]] = True for every background row r of these cameras (rows grouped by
    camera, camera c's from starts[c] to starts[c + 1])."""
    for c in cams:
        for r in range(starts[c], starts[c + 1]):
            flag[plate[r]] = True


__all__ = ["dp_tail_sums", "flag_plates", "near_rates"]
