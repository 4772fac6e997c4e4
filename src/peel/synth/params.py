"""Generator settings: the scales, the two difficulty profiles and the parameter file.

Every number the generator uses lives here, so that a run is fixed by (scale, profile, params
file, seed) and nothing else. `--params FILE` is a YAML mapping whose keys override these
fields (nested for `noise`, `anpr`, `crime`); unknown keys are refused, so a typo cannot pass
silently.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from peel.errors import PeelError

GENERATOR_VERSION = "1.1.0"  # 1.1.0: the disclosure case (a phone) of issue 7

Scale = Literal["tiny", "small", "demo", "large"]
Profile = Literal["standard", "hard"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoiseParams(_Strict):
    """Identity noise: the share of person-bearing records that get each kind of error.
    Ranges from issue 3 (standard profile); `hard` doubles them."""

    name_typo: float = Field(default=0.07, ge=0, le=0.5)
    nickname: float = Field(default=0.05, ge=0, le=0.5)
    name_swap: float = Field(default=0.02, ge=0, le=0.5)
    alias_offender: float = Field(default=0.01, ge=0, le=0.5, description="share of offenders")
    dob_day_month_swap: float = Field(default=0.02, ge=0, le=0.5)
    dob_digit: float = Field(default=0.02, ge=0, le=0.5)
    dob_placeholder: float = Field(default=0.01, ge=0, le=0.5)
    missing: float = Field(default=0.05, ge=0, le=0.5, description="a field left empty")
    moved: float = Field(
        default=0.10, ge=0, le=0.9, description="people who moved in the last years"
    )
    transliteration: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="records of a person with a transliterated name that use another spelling",
    )
    # Hard negatives: different people who look alike.
    name_year_clash: float = Field(default=0.03, ge=0, le=0.3)
    father_son: float = Field(default=0.004, ge=0, le=0.1)
    twins: float = Field(default=0.004, ge=0, le=0.1)


class AnprParams(_Strict):
    detect: float = Field(
        default=0.92, gt=0, le=1, description="chance a camera reads a passing plate"
    )
    misread: float = Field(default=0.01, ge=0, le=0.2)
    commute_share: float = Field(default=0.45, ge=0, le=1)
    errands_per_day: float = Field(default=0.55, ge=0)
    through_visit: float = Field(
        default=0.12, ge=0, le=1, description="daily chance a through vehicle crosses"
    )
    taxi_share: float = Field(default=0.02, ge=0, le=1)
    van_share: float = Field(default=0.08, ge=0, le=1)
    buses: int = Field(default=6, ge=0)
    convoys: int = Field(default=20, ge=0)
    clones: int = Field(default=6, ge=0, description="plates cloned outside any series")
    stolen: int = Field(default=10, ge=0)
    speed_ms: float = Field(default=8.0, gt=0)


class CrimeParams(_Strict):
    dispersion: float = Field(
        default=8.0, gt=0, description="negative binomial shape of weekly area counts"
    )
    near_repeat: float = Field(default=0.12, ge=0, lt=1)
    multi_victim: float = Field(default=0.01, ge=0, lt=1)
    series_read_share: tuple[float, float] = (0.3, 0.7)
    series_near_home_share: float = Field(default=0.45, ge=0, le=1)
    series_clone_share: float = Field(default=0.15, ge=0, le=1)
    series_hire_share: float = Field(default=0.15, ge=0, le=1)
    series_crimes: tuple[int, int] = (5, 10)
    flare_multipliers: tuple[float, ...] = (1.5, 2.0, 3.0)
    flare_weeks: tuple[int, int] = (1, 4)


class Params(_Strict):
    scale: Scale
    profile: Profile = "standard"
    start: date = date(2024, 1, 1)
    months: int = Field(default=12, ge=1, le=36)
    width_m: int = Field(default=6000, ge=1000)
    height_m: int = Field(default=5000, ge=1000)
    centre_e: int = 531000  # Lambeth (Brixton), British National Grid
    centre_n: int = 176000
    residents: int = Field(ge=100)
    outsiders: int = Field(ge=0, description="people who live outside the borough")
    vehicles: int = Field(ge=10)
    through_vehicles: int = Field(ge=0)
    cameras: int = Field(ge=4)
    reads: int = Field(
        ge=1000, description="ANPR reads a year (the trip rates are calibrated to it)"
    )
    crimes: int = Field(ge=50, description="crimes a year, all kinds")
    series: int = Field(ge=1)
    offenders: int = Field(ge=10)
    officers: int = Field(ge=20)
    flareups: int = Field(ge=0)
    chunk_rows: int = Field(default=1_000_000, ge=10_000)
    noise: NoiseParams = NoiseParams()
    anpr: AnprParams = AnprParams()
    crime: CrimeParams = CrimeParams()

    def digest(self) -> str:
        """SHA-256 of the parameters, canonical JSON: the manifest's parameter hash."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


SCALES: dict[str, dict[str, Any]] = {
    "tiny": dict(
        reads=60_000,
        residents=1500,
        outsiders=600,
        vehicles=700,
        through_vehicles=300,
        cameras=12,
        crimes=700,
        series=4,
        offenders=150,
        officers=40,
        flareups=2,
        width_m=3000,
        height_m=3000,
        anpr=dict(buses=2, convoys=4, clones=2, stolen=3),
    ),
    "small": dict(
        reads=500_000,
        residents=5000,
        outsiders=2000,
        vehicles=2000,
        through_vehicles=800,
        cameras=24,
        crimes=2000,
        series=8,
        offenders=400,
        officers=60,
        flareups=4,
        width_m=4000,
        height_m=4000,
        anpr=dict(buses=3, convoys=8, clones=3, stolen=5),
    ),
    "demo": dict(
        reads=5_000_000,
        residents=50000,
        outsiders=15000,
        vehicles=20000,
        through_vehicles=8000,
        cameras=80,
        crimes=20000,
        series=25,
        offenders=3000,
        officers=200,
        flareups=8,
    ),
    "large": dict(
        reads=100_000_000,
        residents=560000,
        outsiders=140000,
        vehicles=260000,
        through_vehicles=140000,
        cameras=420,
        crimes=240000,
        series=120,
        offenders=80000,
        officers=1500,
        flareups=30,
        width_m=18000,
        height_m=14000,
        anpr=dict(buses=60, convoys=200, clones=60, stolen=100),
    ),
}

# The hard profile: about twice the identity noise, more misreads, fewer series reads, more
# clones and hire cars, stronger contagion and overdispersion.
HARD: dict[str, Any] = {
    "noise": dict(
        name_typo=0.14,
        nickname=0.10,
        name_swap=0.04,
        alias_offender=0.02,
        dob_day_month_swap=0.04,
        dob_digit=0.04,
        dob_placeholder=0.02,
        missing=0.10,
        moved=0.2,
        transliteration=0.5,
        name_year_clash=0.05,
        father_son=0.008,
        twins=0.008,
    ),
    "anpr": dict(misread=0.02, detect=0.85),
    "crime": dict(
        dispersion=4.0,
        near_repeat=0.2,
        series_read_share=(0.3, 0.5),
        series_near_home_share=0.6,
        series_clone_share=0.25,
        series_hire_share=0.25,
    ),
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def build_params(scale: str, profile: str = "standard", params_file: Path | None = None) -> Params:
    """The settings for a run. Raises PeelError naming the bad key or value."""
    if scale not in SCALES:
        raise PeelError(f"unknown scale {scale!r}: choose one of {', '.join(SCALES)}")
    if profile not in ("standard", "hard"):
        raise PeelError(f"unknown profile {profile!r}: choose standard or hard")
    data: dict[str, Any] = {"scale": scale, "profile": profile, **SCALES[scale]}
    if profile == "hard":
        data = _merge(data, HARD)
    if params_file is not None:
        try:
            extra = yaml.safe_load(params_file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise PeelError(f"{params_file}: cannot read the parameter file ({e})") from None
        if not isinstance(extra, dict):
            raise PeelError(f"{params_file}: the parameter file must be a YAML mapping")
        data = _merge(data, extra)
    try:
        return Params(**data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PeelError(f"parameter {where}: {first['msg']}") from None


__all__ = [
    "GENERATOR_VERSION",
    "SCALES",
    "AnprParams",
    "CrimeParams",
    "NoiseParams",
    "Params",
    "build_params",
]
