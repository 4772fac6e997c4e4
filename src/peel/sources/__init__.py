"""Source mappings: one YAML file per source system, from its columns to the schema."""

from peel.sources.mapping import (
    FieldRule,
    Mapping,
    all_mappings,
    example_path,
    get_mapping,
    load_mapping_file,
)

__all__ = [
    "FieldRule",
    "Mapping",
    "all_mappings",
    "example_path",
    "get_mapping",
    "load_mapping_file",
]
