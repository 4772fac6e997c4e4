"""The code of ethics as policy: validation names the problem; the model rules and the ANPR
access tiers bind; the server runs only the applied policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from peel.cli.main import app
from peel.errors import PolicyError, PolicyRefusal
from peel.governance import history
from peel.governance.policy import (
    Authorisation,
    check_features,
    check_special_category_use,
    decide_anpr_access,
    default_policy_text,
    load_policy,
)
from peel.schema import get_registry
from peel.serving import Store

runner = CliRunner()


def edited(change: callable) -> str:  # type: ignore[valid-type]
    data = yaml.safe_load(default_policy_text())
    change(data)
    return yaml.safe_dump(data, sort_keys=False)


def test_the_shipped_policy_is_valid() -> None:
    p = load_policy(default_policy_text()).policy
    assert set(p.roles) == {
        "patrol_officer",
        "investigator",
        "analyst",
        "specialist_team",
        "disclosure_officer",
        "manager",
        "oversight_panel",
        "data_protection_officer",
        "admin",
    }
    assert set(p.purposes) >= {
        "investigation",
        "safeguarding",
        "patrol_check",
        "disclosure",
        "performance",
        "oversight",
    }
    # Admins read no personal data and cannot touch the audit.
    admin = p.permissions_of(["admin"])
    assert not any(p.is_personal(x) for x in admin)
    assert "audit.read" not in admin


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["roles"]["analyst"]["permissions"].append("lake.drop"),
            "roles.analyst.permissions[11]: unknown permission 'lake.drop'",
        ),
        (
            lambda d: d["roles"]["manager"]["purposes"].append("curiosity"),
            "roles.manager.purposes[2]: unknown purpose 'curiosity'",
        ),
        (lambda d: d["sessions"].update(idle_minutes=0), "sessions.idle_minutes"),
        (lambda d: d["sessions"].update(idle_minuets=3), "sessions.idle_minuets: Extra inputs"),
        (lambda d: d.pop("model_rules"), "model_rules: Field required"),
        (lambda d: d["two_person_grant"].append("root"), "two_person_grant[2]: unknown role"),
        (lambda d: d["anpr"].update(permission="anpr.everything"), "anpr.permission"),
        (lambda d: d["model_rules"]["fairness"].update(max_ratio=0.5), "max_ratio"),
    ],
)
def test_an_invalid_policy_names_the_problem(change: object, message: str) -> None:
    with pytest.raises(PolicyError) as e:
        load_policy(edited(change), source="force.yaml")  # type: ignore[arg-type]
    assert str(e.value).startswith("force.yaml: ")
    assert message in str(e.value)


def test_not_yaml_names_the_line() -> None:
    with pytest.raises(
        PolicyError, match=r"force.yaml: line 4 not valid YAML \(expected the node content"
    ):
        load_policy("version: '1'\ntitle: x\nroles: [\n", source="force.yaml")


def test_special_category_fields_are_refused_unless_the_policy_allows_them() -> None:
    policy = load_policy(default_policy_text()).policy
    registry = get_registry()
    # Ordinary fields pass.
    check_special_category_use(
        policy, registry, use="record_linkage", entity="Person", fields=["surname", "date_of_birth"]
    )
    with pytest.raises(PolicyRefusal) as e:
        check_special_category_use(
            policy,
            registry,
            use="record_linkage",
            entity="Person",
            fields=["surname", "self_defined_ethnicity"],
        )
    assert e.value.rule == "model_rules.special_category_uses.record_linkage"
    assert (
        "Person.self_defined_ethnicity is special-category data (racial_or_ethnic_origin)"
        in str(e.value)
    )
    with pytest.raises(PolicyRefusal, match="forecast features"):
        check_special_category_use(
            policy,
            registry,
            use="forecast_features",
            entity="WarningMarker",
            fields=[f.name for f in registry.entity("WarningMarker").special_category_fields],
        )
    allowing = load_policy(
        edited(
            lambda d: d["model_rules"]["special_category_uses"]["record_linkage"].append(
                "Person.self_defined_ethnicity"
            )
        )
    ).policy
    check_special_category_use(
        allowing,
        registry,
        use="record_linkage",
        entity="Person",
        fields=["self_defined_ethnicity"],
    )


def test_forbidden_features_are_refused_with_the_reason() -> None:
    policy = load_policy(default_policy_text()).policy
    check_features(policy, ["age", "prior_arrests"])
    with pytest.raises(
        PolicyRefusal, match="'religion' is forbidden \\(protected characteristic\\)"
    ):
        check_features(policy, ["age", "religion"])


NOW = datetime(2024, 12, 31, 23, 0, tzinfo=UTC)


def auth(**kw: object) -> Authorisation:
    base = dict(
        id=7,
        requester="ivy",
        authoriser="sam",
        authoriser_rank="superintendent",
        investigation_reference="OP-1",
        offence_category="burglary",
        expires_at=NOW + timedelta(days=3),
        revoked_at=None,
    )
    base.update(kw)
    return Authorisation(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("roles", "age_days", "authorisation", "case", "allowed", "tier", "reason"),
    [
        (["investigator"], 10, None, "OP-1", True, "recent", "within 90 days"),
        (["investigator"], 90, None, "OP-1", True, "recent", "within 90 days"),
        (["investigator"], 91, None, "OP-1", False, "denied", "no authorisation"),
        (["investigator"], 200, auth(), "OP-1", True, "authorised", "authorisation 7"),
        (["investigator"], 365, auth(), "OP-1", True, "authorised", "authorisation 7"),
        (["investigator"], 366, auth(), "OP-1", False, "denied", "past the retention period"),
        (["investigator"], 366, None, "OP-1", False, "denied", "past the retention period"),
        (["investigator"], 200, auth(), "OP-2", False, "denied", "another investigation"),
        (["investigator"], 200, auth(requester="bob"), "OP-1", False, "denied", "another officer"),
        (["investigator"], 200, auth(authoriser="ivy"), "OP-1", False, "denied", "self-authorised"),
        (["investigator"], 200, auth(authoriser_rank="sergeant"), "OP-1", False, "denied", "rank"),
        (["investigator"], 200, auth(expires_at=NOW), "OP-1", False, "denied", "expired"),
        (
            ["investigator"],
            200,
            auth(revoked_at=NOW - timedelta(hours=1)),
            "OP-1",
            False,
            "denied",
            "revoked",
        ),
        (["disclosure_officer"], 1, None, "OP-1", False, "denied", "anpr.read"),
        (["investigator"], -1, None, "OP-1", False, "denied", "later than the data clock"),
    ],
)
def test_anpr_access_tiers(
    roles: list[str],
    age_days: int,
    authorisation: Authorisation | None,
    case: str,
    allowed: bool,
    tier: str,
    reason: str,
) -> None:
    policy = load_policy(default_policy_text()).policy
    d = decide_anpr_access(
        policy,
        username="ivy",
        roles=roles,
        read_time=NOW - timedelta(days=age_days),
        now=NOW,
        authorisation=authorisation,
        case_reference=case,
    )
    assert (d.allowed, d.tier) == (allowed, tier)
    assert reason in d.reason


def test_the_server_runs_only_the_applied_policy(store: Store, tmp_path: Path) -> None:
    with store.begin() as conn:
        applied = history.running_policy(conn, None)
        assert applied.version == 1 and applied.approved_by == history.INSTALLER
    other = tmp_path / "force.yaml"
    other.write_text(edited(lambda d: d.update(version="force-1")), encoding="utf-8")
    with pytest.raises(PolicyError, match="is not the applied policy"), store.begin() as conn:
        history.running_policy(conn, other)
    broken = tmp_path / "broken.yaml"
    broken.write_text(edited(lambda d: d["lockout"].update(failures=-1)), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"lockout\.failures"), store.begin() as conn:
        history.running_policy(conn, broken)
    with store.begin() as conn:
        v = history.record(conn, history.load_policy_file(other), approved_by="olive")
    with store.begin() as conn:
        running = history.running_policy(conn, other)
    assert running.version == v == 2
    with store.connect() as conn:
        rows = history.history(conn)
    assert rows[0]["approved_by"] == "olive"
    assert "-version: '2026.1'" in rows[0]["diff"] or '-version: "2026.1"' in rows[0]["diff"]
    assert "+version: force-1" in rows[0]["diff"]


def test_policy_check_command(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(default_policy_text(), encoding="utf-8")
    r = runner.invoke(app, ["policy", "check", str(good), "--json"])
    assert r.exit_code == 0, r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(edited(lambda d: d["roles"]["admin"]["permissions"].append("x")), "utf-8")
    r = runner.invoke(app, ["policy", "check", str(bad)])
    assert r.exit_code == 1
    assert "roles.admin.permissions[3]: unknown permission 'x'" in r.output


def test_policy_doc_is_current() -> None:
    from helpers.env import ROOT
    from peel.governance.docs import render_policy_md

    doc = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
    assert doc == render_policy_md(), "run `make docs` and commit docs/policy.md"


def test_policy_apply_needs_an_oversight_account_with_its_second_factor(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyotp

    from peel.governance.accounts import Accounts
    from peel.serving.tables import audit_log

    with store.begin() as conn:
        policy = history.ensure_installed(conn).loaded.policy
    accounts = Accounts(store, policy)
    password = "correct horse battery staple"
    secret = accounts.seed_user(
        username="olive",
        display_name="Olive",
        roles=["oversight_panel"],
        password=password,
        totp=True,
    )
    accounts.seed_user(
        username="ivy", display_name="Ivy", roles=["investigator"], password=password, totp=False
    )
    assert secret
    new = tmp_path / "force.yaml"
    new.write_text(edited(lambda d: d["lockout"].update(failures=3)), encoding="utf-8")
    monkeypatch.setenv("PEEL_AS_PASSWORD", password)

    def apply(user: str, code: str) -> object:
        return runner.invoke(
            app, ["policy", "apply", str(new), "--as", user, "--totp", code, "--json"]
        )

    r = apply("olive", "000000")
    assert r.exit_code == 2 and "invalid username, password or code" in r.output
    r = apply("ivy", "123456")
    assert r.exit_code == 2
    with store.connect() as conn:
        assert len(history.history(conn)) == 1
    r = apply("olive", pyotp.TOTP(secret).now())
    assert r.exit_code == 0, r.output
    with store.connect() as conn:
        rows = history.history(conn)
        entry = (
            conn.execute(select(audit_log).where(audit_log.c.object_type == "policy"))
            .mappings()
            .one()
        )
    assert rows[0]["version"] == 2 and rows[0]["approved_by"] == "olive"
    assert "-  failures: 5" in rows[0]["diff"] and "+  failures: 3" in rows[0]["diff"]
    assert entry["actor"] == "olive" and entry["operation"] == "admin"
    assert rows[0]["sha256"] in entry["query"]
    # The running policy is now the applied file; the old default is refused.
    with store.begin() as conn:
        assert history.running_policy(conn, new).version == 2
