"""Resolution settings: the shipped defaults (`defaults.yaml`), overridden key by key by the
file PEEL_RESOLVE_CONFIG names, checked against the policy before anything runs."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from peel.errors import PeelError, SchemaError
from peel.governance.policy import Policy, check_special_category_use
from peel.schema import Registry

# Which Person field each normalised column comes from (for the policy check).
SOURCE_FIELDS = {
    "forename1": ["forenames"],
    "forenames_norm": ["forenames"],
    "forename_keys": ["forenames"],
    "surname_norm": ["surname"],
    "dob": ["date_of_birth", "date_of_birth_text"],
    "postcode": ["postcode"],
    "address_norm": ["address_text"],
    "sex": ["sex"],
    "pnc_id": ["pnc_id"],
    "cro_number": ["cro_number"],
    "ni_number": ["ni_number"],
    "other_id": ["other_id"],
    "phone": ["phone"],
    "place_of_birth": ["place_of_birth"],
    "system_ref": ["person_ref"],
    "dob_block": ["date_of_birth", "date_of_birth_text"],
    "self_defined_ethnicity": ["self_defined_ethnicity"],
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Comparison(_Strict):
    """One Splink comparison. `name`: a name column, with a level for agreeing with the
    other record's `other` column (forename and surname swapped); `residence`: an address
    column and a postcode column (`other`) compared as one, since people at one address share
    both and counting them twice makes relatives look like one person."""

    kind: Literal["name", "date_of_birth", "postcode", "residence", "text", "exact"]
    column: str
    other: str | None = None
    variants: str | None = None  # name: a column of known variants (nicknames)
    tf: bool = False

    def columns(self) -> list[str]:
        others = self.other.split(",") if self.other else []
        return [c for c in (self.column, *others, self.variants) if c]


class ResolveConfig(_Strict):
    link_probability: float = Field(gt=0, lt=1)
    predict_probability: float = Field(gt=0, lt=1)
    comparisons: list[Comparison]
    blocking: list[list[str]]
    blocking_max_group: int = Field(ge=2)
    training_blocking: list[list[str]]
    u_sample_pairs: int = Field(ge=1000)
    training_sample_records: int = Field(ge=1000)
    deterministic_rules: list[list[str]]
    deterministic_recall: float = Field(gt=0, le=1)
    distinct_identifiers: list[str]
    shared_identifiers: list[str]
    same_reference_is_same_person: bool
    dates_of_birth_must_agree: bool
    forenames_must_agree: bool
    inexact_dates_need_home: bool = False
    guarded_tables: list[str] = Field(default_factory=list)
    undated_ambiguous_stay_apart: bool = False
    seed: int

    def check(self, policy: Policy, registry: Registry) -> None:
        """Refuse unknown columns, and special-category comparisons the policy does not allow."""
        for comp in self.comparisons:
            for c in comp.columns():
                if c not in SOURCE_FIELDS:
                    raise PeelError(
                        f"resolve settings: comparison column {c!r} is not a normalised person "
                        f"column (choose from {', '.join(sorted(SOURCE_FIELDS))})"
                    )
                check_special_category_use(
                    policy,
                    registry,
                    use="record_linkage",
                    entity="Person",
                    fields=SOURCE_FIELDS[c],
                )
        for c in [*self.distinct_identifiers, *self.shared_identifiers]:
            if c not in SOURCE_FIELDS:
                raise PeelError(f"resolve settings: distinct_identifiers names unknown {c!r}")
        for t in self.guarded_tables:
            try:
                registry.by_table(t)
            except SchemaError as e:
                raise PeelError(f"resolve settings: guarded_tables: {e}") from e


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: Path | None = None) -> ResolveConfig:
    """The defaults, overridden by `path` (or PEEL_RESOLVE_CONFIG) when given."""
    text = resources.files("peel.resolve").joinpath("defaults.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    chosen = path or (Path(p) if (p := os.environ.get("PEEL_RESOLVE_CONFIG")) else None)
    if chosen is not None:
        try:
            over = yaml.safe_load(chosen.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise PeelError(f"resolve settings {chosen}: cannot read ({exc})") from exc
        if not isinstance(over, dict):
            raise PeelError(f"resolve settings {chosen}: expected a mapping of settings")
        data = _merge(data, over)
    try:
        return ResolveConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PeelError(
            f"resolve settings {chosen or 'defaults'}: {where}: {first['msg']}"
        ) from exc


__all__ = ["Comparison", "ResolveConfig", "load_config"]
