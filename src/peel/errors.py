"""The project's own errors. Messages name the step and the input (file, line, field),
never the contents of a record."""

from __future__ import annotations


class PeelError(Exception):
    """Base class for every error Peel raises on purpose."""


class SchemaError(PeelError):
    """A schema or code-list file is malformed or inconsistent."""


class MappingError(PeelError):
    """A source mapping names an unknown field, column rule or code list."""


class InputRefused(PeelError):
    """A whole input file is refused (wrong format, hostile, unreadable)."""


class LakeError(PeelError):
    """The lake is inconsistent or a commit failed."""


__all__ = ["InputRefused", "LakeError", "MappingError", "PeelError", "SchemaError"]
