"""Builders of synthetic police.uk-layout CSV text for tests (invented values only)."""

from __future__ import annotations

import hashlib

HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
    "LSOA name,Crime type,Last outcome category,Context"
)


def crime_id(i: int) -> str:
    return hashlib.sha256(f"synthetic-{i}".encode()).hexdigest()


def row(i: int, **over: str) -> list[str]:
    values = {
        "id": crime_id(i),
        "month": "2023-01",
        "force": "Test Constabulary",
        "lon": f"{-0.1 + i * 1e-4:.6f}",
        "lat": f"{51.5 + i * 1e-4:.6f}",
        "location": "On or near Example Street",
        "lsoa": "E01000001",
        "lsoa_name": "Example 001A",
        "type": "Burglary",
        "outcome": "Under investigation",
        "context": "",
    }
    values.update(over)
    return [
        values["id"],
        values["month"],
        values["force"],
        values["force"],
        values["lon"],
        values["lat"],
        values["location"],
        values["lsoa"],
        values["lsoa_name"],
        values["type"],
        values["outcome"],
        values["context"],
    ]


def csv_line(fields: list[str]) -> str:
    out = []
    for f in fields:
        if any(c in f for c in ',"\n\r'):
            f = '"' + f.replace('"', '""') + '"'
        out.append(f)
    return ",".join(out)


def csv_text(rows: list[list[str]]) -> str:
    return HEADER + "\n" + "".join(csv_line(r) + "\n" for r in rows)
