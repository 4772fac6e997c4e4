"""The schema registry: every entity, link and code list, loaded once from the package's YAML."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from peel.errors import SchemaError
from peel.schema.model import CodeList, EntitySpec, parse_code_list, parse_entity


@dataclass(frozen=True)
class Registry:
    entities: dict[str, EntitySpec]
    code_lists: dict[str, CodeList]

    def entity(self, name: str) -> EntitySpec:
        try:
            return self.entities[name]
        except KeyError:
            raise SchemaError(
                f"unknown entity type {name!r}; known: {', '.join(sorted(self.entities))}"
            ) from None

    def by_table(self, table: str) -> EntitySpec:
        for e in self.entities.values():
            if e.table == table:
                return e
        raise SchemaError(f"no entity type is stored in table {table!r}")

    def codes(self, name: str) -> CodeList:
        try:
            return self.code_lists[name]
        except KeyError:
            raise SchemaError(f"unknown code list {name!r}") from None


def _load_yaml(path: Path) -> object:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as e:
        raise SchemaError(f"{path.name}: not valid YAML: {e}") from e


def load_registry_from(entities_dir: Path, codes_dir: Path) -> Registry:
    code_lists: dict[str, CodeList] = {}
    for path in sorted(codes_dir.glob("*.yaml")):
        cl = parse_code_list(_load_yaml(path), f"schema/codes/{path.name}")
        if cl.name != path.stem:
            raise SchemaError(f"schema/codes/{path.name}: name {cl.name!r} differs from file")
        code_lists[cl.name] = cl
    entities: dict[str, EntitySpec] = {}
    tables: dict[str, str] = {}
    for path in sorted(entities_dir.glob("*.yaml")):
        where = f"schema/entities/{path.name}"
        e = parse_entity(_load_yaml(path), where)
        if e.name in entities:
            raise SchemaError(f"{where}: entity {e.name} defined twice")
        if e.table in tables:
            raise SchemaError(f"{where}: table {e.table} already used by {tables[e.table]}")
        entities[e.name] = e
        tables[e.table] = e.name
        for f in e.fields:
            if f.codes and f.codes not in code_lists:
                raise SchemaError(f"{where} field {f.name}: unknown code list {f.codes!r}")
    for e in entities.values():
        for end in (e.source_entity, e.target_entity):
            if end is not None and end not in entities:
                raise SchemaError(f"schema/entities: link {e.name} names unknown type {end!r}")
    return Registry(entities=entities, code_lists=code_lists)


@lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The package's schema, loaded on first use and cached."""
    root = resources.files("peel.schema")
    with resources.as_file(root) as base:
        return load_registry_from(Path(base) / "entities", Path(base) / "codes")


__all__ = ["Registry", "get_registry", "load_registry_from"]
