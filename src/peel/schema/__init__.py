"""The data model: entity and link types and code lists, defined in YAML and loaded once."""

from peel.schema.model import (
    FIELD_TYPES,
    SPECIAL_CATEGORIES,
    CodeList,
    EntitySpec,
    FieldSpec,
    normalise_code_text,
)
from peel.schema.registry import Registry, get_registry, load_registry_from

__all__ = [
    "FIELD_TYPES",
    "SPECIAL_CATEGORIES",
    "CodeList",
    "EntitySpec",
    "FieldSpec",
    "Registry",
    "get_registry",
    "load_registry_from",
    "normalise_code_text",
]
