"""Lint the data model: the entity and code-list YAML under src/peel/schema/ must agree with
itself, and a malformed file must fail at load with a message naming the file and field."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from peel.errors import SchemaError
from peel.schema import Registry, get_registry, load_registry_from

REQUIRED_ENTITIES = {
    "Person",
    "Vehicle",
    "Address",
    "Crime",
    "CrimeOutcome",
    "Conviction",
    "WarningMarker",
    "VehicleOfInterest",
    "AnprCamera",
    "AnprRead",
    "CustodyRecord",
    "Warrant",
    "IntelligenceReport",
    "Officer",
    "Team",
    "EvidenceItem",
    "StopSearch",
}
REQUIRED_LINKS = {
    "PersonVehicle": ("Person", "Vehicle"),
    "PersonCrime": ("Person", "Crime"),
    "PersonAddress": ("Person", "Address"),
    "PersonPerson": ("Person", "Person"),
}
# Fields entity resolution will block and compare on.
IDENTITY_FIELDS = {"forenames", "surname", "date_of_birth"}
HEALTH_MARKERS = {"suicidal", "self-harm", "mental-health", "contagious", "ailment"}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return get_registry()


def test_every_required_type_is_defined(registry: Registry) -> None:
    assert set(registry.entities) >= REQUIRED_ENTITIES
    for name in REQUIRED_ENTITIES:
        assert registry.entity(name).kind == "entity", name
    for name, (src, dst) in REQUIRED_LINKS.items():
        link = registry.entity(name)
        assert link.kind == "link", name
        assert (link.source_entity, link.target_entity) == (src, dst), name


def test_same_field_name_means_same_type_everywhere(registry: Registry) -> None:
    seen: dict[str, set[tuple[str, str | None]]] = defaultdict(set)
    where: dict[str, list[str]] = defaultdict(list)
    for entity in registry.entities.values():
        for f in entity.fields:
            seen[f.name].add((f.type, f.codes))
            where[f.name].append(entity.name)
    clashes = {name: sorted(kinds, key=str) for name, kinds in seen.items() if len(kinds) > 1}
    assert not clashes, {n: (k, where[n]) for n, k in clashes.items()}


def test_same_field_name_means_same_sensitivity(registry: Registry) -> None:
    seen: dict[str, set[str | None]] = defaultdict(set)
    for entity in registry.entities.values():
        for f in entity.fields:
            seen[f.name].add(f.special_category)
    assert {n: s for n, s in seen.items() if len(s) > 1} == {}


def test_every_code_list_is_used(registry: Registry) -> None:
    used = {f.codes for e in registry.entities.values() for f in e.fields if f.codes}
    assert set(registry.code_lists) - used == set()
    assert used - set(registry.code_lists) == set()


def test_every_description_and_label_is_written(registry: Registry) -> None:
    for entity in registry.entities.values():
        assert len(entity.description.strip()) > 20, entity.name
        for f in entity.fields:
            assert len(f.description.strip()) > 10, (entity.name, f.name)
    for cl in registry.code_lists.values():
        assert cl.description.strip(), cl.name
        assert cl.codes, cl.name
        for c in cl.codes:
            assert c.label.strip(), (cl.name, c.code)


def test_code_ids_are_official_or_lowercase_hyphenated(registry: Registry) -> None:
    import re

    ok = re.compile(r"^([a-z0-9]+(-[a-z0-9]+)*|[A-Z0-9]{1,5}|3x5x2|5x5x5)$")
    bad = [(cl.name, c.code) for cl in registry.code_lists.values() for c in cl.codes]
    assert [b for b in bad if not ok.match(b[1])] == []


def test_every_table_has_a_required_reference(registry: Registry) -> None:
    for entity in registry.entities.values():
        # police.uk publishes no reference for a search, nor for anti-social behaviour.
        if entity.name in ("StopSearch", "Crime"):
            continue
        required = [f.name for f in entity.fields if f.required]
        assert any(n.endswith(("_ref", "_id")) or n == "vrm" for n in required), entity.name


def test_links_reference_both_ends(registry: Registry) -> None:
    for entity in registry.entities.values():
        if entity.kind != "link":
            assert entity.source_entity is None and entity.target_entity is None
            continue
        assert entity.source_entity in registry.entities
        assert entity.target_entity in registry.entities
        required = {f.name for f in entity.fields if f.required}
        assert "person_ref" in required, entity.name
        assert len(required - {"person_ref"}) >= 1, entity.name


def test_person_crime_role_is_mandatory_and_the_s38_categories(registry: Registry) -> None:
    role = registry.entity("PersonCrime").field("role")
    assert role.required and role.type == "code"
    assert role.codes is not None
    codes = {c.code for c in registry.codes(role.codes).codes}
    assert codes == {"suspect", "convicted", "victim", "witness", "other"}


def test_ethnicity_and_health_fields_are_special_category(registry: Registry) -> None:
    found_ethnicity = found_health = 0
    for entity in registry.entities.values():
        for f in entity.fields:
            if "ethnicity" in f.name:
                found_ethnicity += 1
                assert f.special_category == "racial_or_ethnic_origin", (entity.name, f.name)
                assert f.personal
            if "health" in f.name:
                found_health += 1
                assert f.special_category == "health", (entity.name, f.name)
    assert found_ethnicity >= 6 and found_health >= 2


def test_health_marker_codes_are_flagged(registry: Registry) -> None:
    markers = {c.code: c for c in registry.codes("warning_marker").codes}
    assert set(markers) >= HEALTH_MARKERS
    for code, c in markers.items():
        expected = "health" if code in HEALTH_MARKERS else None
        assert c.special_category == expected, code


def test_ethnicity_code_lists(registry: Registry) -> None:
    sde = {c.code for c in registry.codes("ethnicity_self_defined").codes}
    assert len(sde) == 19 and "NS" in sde and {"W1", "A4", "B9", "O2", "O9"} <= sde
    ic = {c.code for c in registry.codes("ethnicity_officer_observed").codes}
    assert {f"IC{i}" for i in (1, 2, 3, 4, 5, 6, 9)} <= ic
    lookup = dict(registry.codes("ethnicity_self_defined").lookup_table())
    assert lookup["whitewhitebritishw1"] == "W1"
    assert lookup["chineseorotherethnicgroupchineseo1"] == "A4"


def test_person_bearing_types_carry_matchable_identity(registry: Registry) -> None:
    for entity in registry.entities.values():
        names = {f.name for f in entity.fields}
        if not ({"forenames", "surname"} <= names) or entity.name == "Officer":
            continue
        assert names >= IDENTITY_FIELDS, entity.name
        for n in IDENTITY_FIELDS | ({"pnc_id", "postcode", "address_text", "phone"} & names):
            f = entity.field(n)
            assert f.matchable and f.personal, (entity.name, n)


def test_anpr_reads_are_partitioned_by_day_and_sorted_by_time(registry: Registry) -> None:
    read = registry.entity("AnprRead")
    assert read.layout.partition_field == "read_at"
    assert read.layout.sort[:1] == ("read_at",)
    for name in ("vrm", "camera_id", "read_at", "confidence", "image_ref"):
        assert read.has_field(name)


def test_intelligence_keeps_fact_and_assessment_apart(registry: Registry) -> None:
    intel = registry.entity("IntelligenceReport")
    flag = intel.field("fact_or_assessment")
    assert flag.required
    assert flag.codes is not None
    assert {c.code for c in registry.codes(flag.codes).codes} == {"fact", "assessment"}
    for name in ("source_evaluation", "intelligence_assessment", "handling_code"):
        assert intel.field(name).type == "code"


# -- malformed files fail with the file and the field named --------------------------------

_GOOD_FIELD = {"name": "ok_ref", "type": "string", "description": "A reference."}
_GOOD_CODES = {
    "name": "colours",
    "description": "Colours.",
    "codes": [{"code": "red", "label": "Red"}],
}


def _entity(*fields: dict[str, object], **top: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "name": "Thing",
        "table": "thing",
        "description": "A thing.",
        "fields": [_GOOD_FIELD, *fields],
    }
    doc.update(top)
    return doc


BAD_SCHEMAS = [
    pytest.param(
        _entity({"name": "height", "type": "number", "description": "How tall."}),
        _GOOD_CODES,
        ["thing.yaml", "height", "unknown type"],
        id="unknown-type",
    ),
    pytest.param(
        _entity({"name": "colour", "type": "code", "description": "Colour."}),
        _GOOD_CODES,
        ["thing.yaml", "colour", "codes"],
        id="code-without-list",
    ),
    pytest.param(
        _entity({"name": "colour", "type": "code", "codes": "hues", "description": "Colour."}),
        _GOOD_CODES,
        ["thing.yaml", "colour", "hues"],
        id="unknown-code-list",
    ),
    pytest.param(
        _entity(
            {"name": "faith", "type": "string", "special_category": "religion", "description": "x"}
        ),
        _GOOD_CODES,
        ["thing.yaml", "faith", "special_category"],
        id="bad-special-category",
    ),
    pytest.param(
        _entity({"name": "notes", "type": "text"}),
        _GOOD_CODES,
        ["thing.yaml", "notes", "description"],
        id="missing-description",
    ),
    pytest.param(
        _entity(
            {"name": "seen_on", "type": "date", "description": "Day."},
            layout={"partition_by_day": "seen_on"},
        ),
        _GOOD_CODES,
        ["thing.yaml", "datetime"],
        id="partition-by-date",
    ),
    pytest.param(
        _entity({"name": "Bad Name", "type": "string", "description": "Spaces."}),
        _GOOD_CODES,
        ["thing.yaml", "Bad Name", "snake_case"],
        id="field-name-not-snake-case",
    ),
    pytest.param(
        _entity(kind="link"),
        _GOOD_CODES,
        ["thing.yaml", "'from'"],
        id="link-without-ends",
    ),
    pytest.param(
        _entity(**{"kind": "link", "from": "Thing", "to": "Ghost"}),
        _GOOD_CODES,
        ["Thing", "Ghost"],
        id="link-to-unknown-type",
    ),
    pytest.param(
        _entity(),
        {
            **_GOOD_CODES,
            "codes": [{"code": "red", "label": "Red"}, {"code": "rouge", "label": "RED"}],
        },
        ["colours", "rouge"],
        id="two-codes-one-spelling",
    ),
    pytest.param(
        _entity(),
        {**_GOOD_CODES, "codes": [{"code": "red"}]},
        ["colours.yaml", "label"],
        id="code-without-label",
    ),
]


@pytest.mark.parametrize(("entity_doc", "codes_doc", "expected"), BAD_SCHEMAS)
def test_malformed_schema_fails_naming_file_and_field(
    tmp_path: Path, entity_doc: object, codes_doc: object, expected: list[str]
) -> None:
    entities, codes = tmp_path / "entities", tmp_path / "codes"
    entities.mkdir()
    codes.mkdir()
    (entities / "thing.yaml").write_text(yaml.safe_dump(entity_doc), encoding="utf-8")
    (codes / "colours.yaml").write_text(yaml.safe_dump(codes_doc), encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        load_registry_from(entities, codes)
    for text in expected:
        assert text in str(info.value)


def test_well_formed_schema_loads(tmp_path: Path) -> None:
    """The fixture the malformed cases start from is itself valid, so each case tests one fault."""
    entities, codes = tmp_path / "entities", tmp_path / "codes"
    entities.mkdir()
    codes.mkdir()
    doc = _entity({"name": "colour", "type": "code", "codes": "colours", "description": "Hue."})
    (entities / "thing.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    (codes / "colours.yaml").write_text(yaml.safe_dump(_GOOD_CODES), encoding="utf-8")
    reg = load_registry_from(entities, codes)
    assert reg.entity("Thing").field("colour").codes == "colours"


def test_package_yaml_is_plain_safe_yaml() -> None:
    root = Path(__file__).resolve().parents[2] / "src" / "peel" / "schema"
    files = sorted(root.glob("entities/*.yaml")) + sorted(root.glob("codes/*.yaml"))
    assert len(files) >= 30
    for path in files:
        assert isinstance(yaml.safe_load(path.read_text(encoding="utf-8")), dict), path.name
