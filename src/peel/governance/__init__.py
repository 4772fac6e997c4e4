"""Governance: the code of ethics as policy, lawful purpose, accounts and the tamper-evident
audit. Every feature that touches personal data goes through `access.operation`."""

from peel.governance.access import Caller, check, operation
from peel.governance.audit import AuditEvent
from peel.governance.policy import LoadedPolicy, Policy, load_policy

__all__ = ["AuditEvent", "Caller", "LoadedPolicy", "Policy", "check", "load_policy", "operation"]
