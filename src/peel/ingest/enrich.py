"""Vectorised enrichment of validated blocks: local times to UTC with clock-change flags, and
positions into both WGS84 and the configured projected CRS (British National Grid by default).

Both run on Arrow arrays in Python because DuckDB has no way, without its spatial extension
(which cannot be installed offline for this DuckDB), to project coordinates, and none to say
that a local time fell in a clock change; pyarrow and pyproj do both over whole arrays.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from pyproj import Transformer

AMBIGUOUS = "ambiguous"  # the local time happened twice (clocks went back); the first is kept
NONEXISTENT = "nonexistent"  # the local time never happened (clocks went forward)


@lru_cache(maxsize=16)
def _transformer(src: str, dst: str) -> Transformer:
    from pyproj import Transformer  # imported when first needed: a tenth of a second

    return Transformer.from_crs(src, dst, always_xy=True)


def localise(naive: pa.Array | pa.ChunkedArray, zone: str) -> tuple[pa.Array, pa.Array]:
    """(UTC timestamps, flags) for naive local times, following PEP 495 with fold=0: an
    ambiguous time takes its first occurrence, a nonexistent one is read with the offset in
    force before the change (01:30 on the spring-forward night in London is 01:30 UTC). Both
    are flagged."""
    naive = naive.cast(pa.timestamp("us"))
    early = pc.assume_timezone(naive, timezone=zone, ambiguous="earliest", nonexistent="earliest")
    late = pc.assume_timezone(naive, timezone=zone, ambiguous="latest", nonexistent="latest")
    differs = pc.fill_null(pc.not_equal(early, late), False)
    if not pc.any(differs).as_py():
        flags = pa.nulls(len(naive), pa.string())
    else:
        # Ambiguous times read back as themselves in local time; nonexistent ones do not.
        back = pc.local_timestamp(early).cast(pa.timestamp("us"))
        same = pc.fill_null(pc.equal(back, naive), False)
        kind = pc.if_else(same, pa.scalar(AMBIGUOUS), pa.scalar(NONEXISTENT))
        flags = pc.if_else(differs, kind, pa.scalar(None, pa.string()))
        gap = pc.and_(differs, pc.invert(same))
        if pc.any(gap).as_py():
            # `early` is the last instant before the gap; its local reading gives the old offset.
            offset = pc.subtract(back, early.cast(pa.timestamp("us")))
            shifted = pc.subtract(naive, offset).cast(pa.timestamp("us", tz=zone))
            early = pc.if_else(gap, shifted, early)
    utc = early.cast(pa.timestamp("us", tz="UTC"))
    return _one(utc), _one(flags)


def _one(a: pa.Array | pa.ChunkedArray) -> pa.Array:
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def project(
    table: pa.Table, field: str, *, crs: str, given_crs: str | None = None, given: str = "lonlat"
) -> pa.Table:
    """Fill `<field>_x/_y` from `<field>_lon/_lat` (given="lonlat"), or the reverse."""
    lon_c, lat_c, x_c, y_c = (f"{field}_{s}" for s in ("lon", "lat", "x", "y"))
    if given == "lonlat":
        lon = table[lon_c].to_numpy(zero_copy_only=False).astype(np.float64)
        lat = table[lat_c].to_numpy(zero_copy_only=False).astype(np.float64)
        x, y = _transformer("EPSG:4326", crs).transform(lon, lat)
    else:
        x = table[x_c].to_numpy(zero_copy_only=False).astype(np.float64)
        y = table[y_c].to_numpy(zero_copy_only=False).astype(np.float64)
        if given_crs and given_crs != crs:
            x, y = _transformer(given_crs, crs).transform(x, y)
        lon, lat = _transformer(crs, "EPSG:4326").transform(x, y)
    cols = {lon_c: lon, lat_c: lat, x_c: x, y_c: y}
    for name, values in cols.items():
        arr = np.asarray(values, dtype=np.float64)
        mask = ~np.isfinite(arr)
        idx = table.schema.get_field_index(name)
        table = table.set_column(idx, name, pa.array(arr, mask=mask, type=pa.float64()))
    return table


__all__ = ["AMBIGUOUS", "NONEXISTENT", "localise", "project"]
