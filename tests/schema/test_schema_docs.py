"""docs/schema.md is generated from the registry and must match it."""

from __future__ import annotations

from pathlib import Path

from peel.schema.docs import render_schema_md

ROOT = Path(__file__).resolve().parents[2]


def test_schema_doc_is_current() -> None:
    doc = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    assert doc == render_schema_md(), "run `make docs` and commit docs/schema.md"


def test_schema_doc_names_every_type_and_special_field() -> None:
    doc = render_schema_md()
    for name in ("Person", "AnprRead", "WarningMarker", "IntelligenceReport", "PersonCrime"):
        assert f"## {name}" in doc
    assert "racial_or_ethnic_origin" in doc and "health" in doc
