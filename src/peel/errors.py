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


class StoreError(PeelError):
    """The serving store is unreachable, unmigrated or refused a write."""


class PolicyError(PeelError):
    """A policy file is invalid, or the running policy is not the applied one."""


class PolicyRefusal(PeelError):
    """The code of ethics forbids what was asked; the message names the rule."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{message} (policy rule: {rule})")
        self.rule = rule


class AccessDenied(PeelError):
    """The caller may not do this: no permission, no purpose, not a member of the case."""


class AuthError(PeelError):
    """Login failed; the message never says whether the account exists or is locked."""


class NotFound(PeelError):
    """No such object, or none the caller may see under this purpose."""


class AuditError(PeelError):
    """The audit entry could not be written, so the operation it records did not happen."""


__all__ = [
    "AccessDenied",
    "AuditError",
    "AuthError",
    "InputRefused",
    "LakeError",
    "MappingError",
    "NotFound",
    "PeelError",
    "PolicyError",
    "PolicyRefusal",
    "SchemaError",
    "StoreError",
]
