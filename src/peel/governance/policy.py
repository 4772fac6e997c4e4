"""The code of ethics as policy: a versioned YAML file the software consults.

`load_policy(text)` validates a policy and names the first error by its path in the file
("roles.analyst.permissions[2]: unknown permission 'x'"). The checks here are the ones every
feature calls: may these roles do this, for this purpose; may this special-category field be
used this way; may this user see an ANPR read of this age.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from peel.errors import PolicyError, PolicyRefusal
from peel.schema import Registry
from peel.schema.model import normalise_code_text

SpecialUse = Literal["record_linkage", "forecast_features"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PermissionSpec(_Strict):
    description: str
    personal_data: bool


class RoleSpec(_Strict):
    label: str
    permissions: list[str]
    purposes: list[str]


class PurposeSpec(_Strict):
    label: str
    requires_case_reference: bool = False


class ServiceSpec(_Strict):
    permissions: list[str]
    purposes: list[str]


class SessionRules(_Strict):
    idle_minutes: int = Field(gt=0, le=24 * 60)
    absolute_hours: int = Field(gt=0, le=72)


class LockoutRules(_Strict):
    failures: int = Field(gt=0, le=100)
    minutes: int = Field(gt=0, le=24 * 60)


class Limits(_Strict):
    page_size: int = Field(gt=0, le=10_000)
    search_count_only_over: int = Field(gt=0)


class ForbiddenFeature(_Strict):
    field: str
    reason: str


class FairnessBound(_Strict):
    metric: str
    max_difference: float = Field(ge=0, le=1)
    max_ratio: float = Field(ge=1)


class ProxyRules(_Strict):
    max_auc: float = Field(ge=0.5, le=1)
    max_nmi: float = Field(ge=0, le=1)
    approved_exceptions: list[str] = []


class SpecialCategoryUses(_Strict):
    record_linkage: list[str] = []  # "Entity.field"
    forecast_features: list[str] = []


class ModelRules(_Strict):
    forbidden_features: list[ForbiddenFeature]
    protected_groups: list[str]
    fairness: FairnessBound
    proxy: ProxyRules
    human_review_required: bool
    special_category_uses: SpecialCategoryUses


class AnprRules(_Strict):
    permission: str
    recent_days: int = Field(gt=0, le=3650)
    authoriser_ranks: list[str]
    max_authorisation_days: int = Field(gt=0, le=366)


class LeadRules(_Strict):
    """How ANPR leads are ranked (`peel leads find`, the workbench, `peel leads evaluate`).

    `history_odds_ratio`: when the keeper at the time of the reads is a person (not a hire or
    company keeper, not behind a possibly cloned plate) with a recorded history of the crime
    type (a conviction, a crime naming them as suspect, arrested or convicted, or intelligence
    linked to a crime of the type; never the crimes searched about), the lead is ranked as if
    its chance figure were this many times smaller. It is a prior on who drove, for ordering
    only: whether a lead is reported still depends on the chance figure alone, and every lead
    says when the history counted; reported leads always come before the rest. 1 ranks by the
    ANPR evidence alone."""

    history_odds_ratio: float = Field(default=30.0, ge=1.0, le=1000.0)


class Webhooks(_Strict):
    allowed_destinations: list[str] = []


class Retention(_Strict):
    anpr_reads_days: int = Field(gt=0)
    quarantine_days: int = Field(gt=0)
    sessions_days: int = Field(gt=0)
    audit_years: int = Field(gt=0)


class Policy(_Strict):
    version: str = Field(min_length=1, max_length=64)
    title: str
    permissions: dict[str, PermissionSpec]
    roles: dict[str, RoleSpec]
    two_person_grant: list[str]
    totp_required: list[str]
    purposes: dict[str, PurposeSpec]
    services: dict[str, ServiceSpec] = {}
    sessions: SessionRules
    lockout: LockoutRules
    limits: Limits
    model_rules: ModelRules
    anpr: AnprRules
    leads: LeadRules = LeadRules()
    webhooks: Webhooks
    retention: Retention

    @model_validator(mode="after")
    def _references(self) -> Policy:
        def known(kind: str, names: dict[str, Any], value: str, where: str) -> None:
            if value not in names:
                raise ValueError(f"{where}: unknown {kind} {value!r}")

        for role, spec in self.roles.items():
            for i, p in enumerate(spec.permissions):
                known("permission", self.permissions, p, f"roles.{role}.permissions[{i}]")
            for i, p in enumerate(spec.purposes):
                known("purpose", self.purposes, p, f"roles.{role}.purposes[{i}]")
        for name, svc in self.services.items():
            for i, p in enumerate(svc.permissions):
                known("permission", self.permissions, p, f"services.{name}.permissions[{i}]")
            for i, p in enumerate(svc.purposes):
                known("purpose", self.purposes, p, f"services.{name}.purposes[{i}]")
        for key in ("two_person_grant", "totp_required"):
            for i, r in enumerate(getattr(self, key)):
                known("role", self.roles, r, f"{key}[{i}]")
        known("permission", self.permissions, self.anpr.permission, "anpr.permission")
        return self

    # -- questions every feature asks --------------------------------------------------------
    def permissions_of(self, roles: list[str] | tuple[str, ...]) -> set[str]:
        out: set[str] = set()
        for r in roles:
            spec = self.roles.get(r) or self.services.get(r)
            if spec is not None:
                out.update(spec.permissions)
        return out

    def purposes_of(self, roles: list[str] | tuple[str, ...]) -> set[str]:
        out: set[str] = set()
        for r in roles:
            spec = self.roles.get(r) or self.services.get(r)
            if spec is not None:
                out.update(spec.purposes)
        return out

    def is_personal(self, permission: str) -> bool:
        return self.permissions[permission].personal_data

    def needs_totp(self, roles: list[str] | tuple[str, ...]) -> bool:
        return any(r in self.totp_required for r in roles)


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy with the exact text it came from and that text's SHA-256."""

    policy: Policy
    text: str
    sha256: str
    source: str


def load_policy(text: str, source: str = "policy") -> LoadedPolicy:
    """Parse and validate a policy; the error names the file and the path of the bad key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None)
        why = f" ({problem})" if problem else ""
        raise PolicyError(f"{source}:{where} not valid YAML{why}") from e
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: a policy is a mapping of sections")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors()[:5]:
            path = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{path}: {msg}" if path else msg)
        more = f" (and {e.error_count() - 5} more)" if e.error_count() > 5 else ""
        raise PolicyError(f"{source}: " + "; ".join(problems) + more) from e
    _check_ranks(policy, source)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedPolicy(policy=policy, text=text, sha256=digest, source=source)


def rank_code(text: str | None, registry: Registry | None = None) -> str | None:
    """The police_rank code for a rank as written ("Supt", "DCI", "chief superintendent"),
    or None when it is not a known rank."""
    if not text:
        return None
    from peel.schema import get_registry

    table = dict((registry or get_registry()).codes("police_rank").lookup_table())
    return table.get(normalise_code_text(text))


def _check_ranks(policy: Policy, source: str) -> None:
    for i, rank in enumerate(policy.anpr.authoriser_ranks):
        if rank_code(rank) != rank:
            raise PolicyError(
                f"{source}: anpr.authoriser_ranks[{i}]: {rank!r} is not a police_rank code "
                "(see docs/schema.md)"
            )


def default_policy_text() -> str:
    return resources.files("peel.governance").joinpath("policies/default.yaml").read_text("utf-8")


def load_policy_file(path: Path) -> LoadedPolicy:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError(f"{path}: cannot be read as UTF-8 text ({type(e).__name__})") from e
    return load_policy(text, source=str(path))


# -- the model rules bind ---------------------------------------------------------------------
def check_special_category_use(
    policy: Policy, registry: Registry, *, use: SpecialUse, entity: str, fields: list[str]
) -> None:
    """Refuse a special-category field (DPA 2018 s.35(8)) as a record-linkage comparison or a
    forecast feature unless the policy lists it for that use."""
    spec = registry.entity(entity)
    allowed = set(getattr(policy.model_rules.special_category_uses, use))
    for name in fields:
        if not spec.has_field(name):
            continue
        f = spec.field(name)
        if f.special_category and f"{spec.name}.{name}" not in allowed:
            raise PolicyRefusal(
                f"model_rules.special_category_uses.{use}",
                f"{spec.name}.{name} is special-category data ({f.special_category}) and the "
                f"policy does not allow it for {use.replace('_', ' ')}",
            )


def check_features(policy: Policy, features: list[str]) -> None:
    """Refuse a feature the policy forbids, naming the rule and its reason."""
    forbidden = {f.field: f.reason for f in policy.model_rules.forbidden_features}
    for name in features:
        if name in forbidden:
            raise PolicyRefusal(
                "model_rules.forbidden_features",
                f"feature {name!r} is forbidden ({forbidden[name]})",
            )


# -- ANPR access tiers ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Authorisation:
    """A senior officer's authorisation to see reads older than the recent tier."""

    id: int
    requester: str
    authoriser: str
    authoriser_rank: str
    investigation_reference: str
    offence_category: str
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class AnprDecision:
    allowed: bool
    tier: Literal["recent", "authorised", "denied"]
    reason: str


def decide_anpr_access(
    policy: Policy,
    *,
    username: str,
    roles: list[str] | tuple[str, ...],
    read_time: datetime,
    now: datetime,
    authorisation: Authorisation | None = None,
    case_reference: str | None = None,
) -> AnprDecision:
    """May this user see an ANPR read taken at `read_time`, with `now` the data clock?

    Reads up to `recent_days` old: any role with the ANPR permission. Older reads: only with
    an unexpired, unrevoked authorisation for this requester, from a configured rank who is not
    the requester, for the investigation the request is made under. Reads older than
    `retention.anpr_reads_days`: never, whatever the authorisation (`peel anpr retention`
    deletes them).
    """
    rules = policy.anpr
    if rules.permission not in policy.permissions_of(roles):
        return AnprDecision(False, "denied", f"no role of {username} has {rules.permission}")
    if read_time > now:
        return AnprDecision(False, "denied", "the read is later than the data clock")
    kept = policy.retention.anpr_reads_days
    if now - read_time > timedelta(days=kept):
        return AnprDecision(
            False,
            "denied",
            f"read older than {kept} days: past the retention period (retention.anpr_reads_days),"
            " so no authorisation opens it; such reads are deleted by `peel anpr retention`",
        )
    if now - read_time <= timedelta(days=rules.recent_days):
        return AnprDecision(True, "recent", f"read within {rules.recent_days} days")
    old = f"read older than {rules.recent_days} days"
    if authorisation is None:
        return AnprDecision(False, "denied", f"{old} and no authorisation given")
    a = authorisation
    if a.requester != username:
        return AnprDecision(False, "denied", f"{old}: authorisation {a.id} is for another officer")
    if a.authoriser == username:
        return AnprDecision(False, "denied", f"{old}: authorisation {a.id} is self-authorised")
    if rank_code(a.authoriser_rank) not in rules.authoriser_ranks:
        return AnprDecision(False, "denied", f"{old}: rank {a.authoriser_rank!r} may not authorise")
    if a.revoked_at is not None and a.revoked_at <= now:
        return AnprDecision(False, "denied", f"{old}: authorisation {a.id} was revoked")
    if a.expires_at <= now:
        return AnprDecision(False, "denied", f"{old}: authorisation {a.id} expired")
    if case_reference is not None and case_reference != a.investigation_reference:
        return AnprDecision(
            False, "denied", f"{old}: authorisation {a.id} is for another investigation"
        )
    return AnprDecision(True, "authorised", f"{old}, authorised by authorisation {a.id}")


__all__ = [
    "AnprDecision",
    "Authorisation",
    "LoadedPolicy",
    "Policy",
    "check_features",
    "check_special_category_use",
    "decide_anpr_access",
    "default_policy_text",
    "load_policy",
    "load_policy_file",
    "rank_code",
]
