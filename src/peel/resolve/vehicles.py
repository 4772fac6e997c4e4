"""Vehicles join by exact plate only; what looks like one plate on two vehicles, or a misread
of another plate, is flagged and never merged.

- **Possible clone:** two consecutive reads of one plate at cameras at least `min_km` apart,
  closer in time than a vehicle could drive (`max_kmh` in a straight line, which understates
  road distance, so the flag errs towards fewer flags). Camera positions are the projected
  ones (metres), so the distance is plain geometry.
- **Likely misread:** a plate the cameras read but no register holds, read at most
  `misread_max_reads` times, one confusable character (O/0, I/1, S/5, B/8, Z/2) away from a
  registered plate.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from peel.lake.engine import DuckDBEngine

_NORM = "upper(regexp_replace({c}, '\\s', '', 'g'))"
CONFUSABLE = {
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


def one_swap_variants(plate: str) -> list[str]:
    """Every plate one confusable character away."""
    out = []
    for i, ch in enumerate(plate):
        if ch in CONFUSABLE:
            out.append(plate[:i] + CONFUSABLE[ch] + plate[i + 1 :])
    return out


def clone_flags(engine: DuckDBEngine, *, max_kmh: float = 250.0, min_km: float = 5.0) -> pa.Table:
    """Plates read twice in a row at places too far apart for the time between: plate,
    number of such pairs, the fastest implied speed, and one example pair of read row ids."""
    engine.create_views()
    norm = _NORM.format(c="r.vrm")
    return engine.query(
        f"""
        WITH reads AS (
          SELECT {norm} AS plate, r.read_at, CAST(r.row_id AS VARCHAR) AS rid,
                 c.location_x AS x, c.location_y AS y
          FROM anpr_read r JOIN anpr_camera_current c USING (camera_id)
          WHERE r.vrm IS NOT NULL AND c.location_x IS NOT NULL
        ), steps AS (
          SELECT plate, rid, read_at,
                 lag(rid) OVER w AS prev_rid, lag(read_at) OVER w AS prev_at,
                 sqrt(power(x - lag(x) OVER w, 2) + power(y - lag(y) OVER w, 2)) AS metres
          FROM reads WINDOW w AS (PARTITION BY plate ORDER BY read_at, rid)
        ), fast AS (
          SELECT plate, rid, prev_rid, metres,
                 metres / 1000.0 / greatest(epoch(read_at - prev_at) / 3600.0, 1.0 / 3600)
                   AS kmh
          FROM steps WHERE prev_at IS NOT NULL AND metres >= $min_m
        )
        SELECT plate, count(*) AS impossible_pairs, max(kmh) AS fastest_kmh,
               arg_max([prev_rid, rid], kmh) AS example_reads
        FROM fast WHERE kmh > $max_kmh GROUP BY plate ORDER BY plate
        """,
        {"min_m": min_km * 1000.0, "max_kmh": max_kmh},
    )


def misread_flags(engine: DuckDBEngine, *, max_reads: int = 2) -> pa.Table:
    """Plates read at most `max_reads` times, on no register, one confusable character away
    from a registered plate: plate, reads, the registered plate(s) it is likely a misread of."""
    engine.create_views()
    rare = engine.query(
        f"""
        SELECT {_NORM.format(c="vrm")} AS plate, count(*) AS reads FROM anpr_read
        WHERE vrm IS NOT NULL GROUP BY ALL HAVING count(*) <= $n
        EXCEPT
        SELECT {_NORM.format(c="vrm")}, count(*) FROM anpr_read
        WHERE {_NORM.format(c="vrm")} IN (SELECT {_NORM.format(c="vrm")} FROM vehicle_current)
        GROUP BY ALL
        """,
        {"n": max_reads},
    ).to_pylist()
    registered = {
        r["p"]
        for r in engine.query(
            f"SELECT DISTINCT {_NORM.format(c='vrm')} AS p FROM vehicle_current "
            "WHERE vrm IS NOT NULL"
        ).to_pylist()
    }
    rows: dict[str, list[Any]] = {"plate": [], "reads": [], "misread_of": []}
    for r in sorted(rare, key=lambda r: r["plate"]):
        if r["plate"] in registered:
            continue
        near = sorted(v for v in one_swap_variants(r["plate"]) if v in registered)
        if near:
            rows["plate"].append(r["plate"])
            rows["reads"].append(r["reads"])
            rows["misread_of"].append(near)
    return pa.table(
        rows,
        schema=pa.schema(
            [("plate", pa.string()), ("reads", pa.int64()), ("misread_of", pa.list_(pa.string()))]
        ),
    )


__all__ = ["clone_flags", "misread_flags", "one_swap_variants"]
