"""A planted crime series of a synthetic city, read from its truth files (as
peel.leads.evaluate reads them): the one with the most crimes near which the series vehicle
was read, those crimes, the plate as cameras read it, and a data clock just after its last
crime (so every read of the series is in the ANPR recent tier)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq


@dataclass(frozen=True)
class Series:
    series_id: int
    crime_type: str
    refs: list[str]
    vrm: str  # compact, as the lead search returns plates
    first: datetime
    last: datetime

    @property
    def reference_time(self) -> str:
        """A data clock a day after the series' last crime."""
        return (self.last + timedelta(days=1)).isoformat()


def planted_series(city: Path) -> Series:
    truth = city / "truth"
    crimes = {r["crime_ref"]: r for r in pq.read_table(truth / "crime.parquet").to_pylist()}
    reads = pq.read_table(truth / "series_reads.parquet").to_pylist()
    found = []
    for v in pq.read_table(truth / "series_vehicle.parquet").to_pylist():
        refs = sorted(
            {
                r["crime_ref"]
                for r in reads
                if r["kind"] == "series"
                and r["vrm"] == v["vrm_read"]
                and crimes[r["crime_ref"]]["series_id"] == v["series_id"]
            }
        )
        found.append((len(refs), -int(v["series_id"]), v, refs))
    _, _, v, refs = max(found, key=lambda f: (f[0], f[1]))
    assert len(refs) >= 3, "the city has no series read near three or more of its crimes"

    def utc(d: datetime) -> datetime:
        # truth keeps local wall times (Europe/London); UTC is at most an hour behind.
        return d.replace(tzinfo=UTC)

    return Series(
        series_id=int(v["series_id"]),
        crime_type=crimes[refs[0]]["crime_type"],
        refs=refs,
        vrm=v["vrm_read"].replace(" ", "").upper(),
        first=min(utc(crimes[r]["committed_from_local"]) for r in refs),
        last=max(utc(crimes[r]["committed_to_local"]) for r in refs),
    )


__all__ = ["Series", "planted_series"]
