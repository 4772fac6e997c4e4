"""Passwords and second factors: argon2id hashes, the minimum length, and TOTP codes.

Hashes use argon2-cffi's `PasswordHasher` with the library's default parameters (argon2id,
RFC 9106 low-memory profile). Only when `PEEL_ENV=test` does Peel use cheap parameters, so
that the test suite can hash hundreds of passwords; a hash made with other parameters is
rehashed at the next successful login (`needs_rehash`).

A login for an account that does not exist is checked against a dummy hash made with the
same parameters, so it takes as long as a wrong password for a real account.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from peel.errors import PeelError
from peel.settings import Settings

MIN_LENGTH = 12
MAX_LENGTH = 1024  # far more than any passphrase; stops a megabyte "password" costing CPU
TOTP_ISSUER = "Peel"
TOTP_DIGITS = 6
# Codes from the step before or after the current one are accepted: clocks drift.
TOTP_WINDOW = 1

# Cheap parameters for the test suite only (INTERFACES: Tests and CI).
TEST_TIME_COST, TEST_MEMORY_KIB, TEST_PARALLELISM = 1, 1024, 1


class PasswordRefused(PeelError):
    """A new password does not meet the rules; the message says which, never the password."""


def check_password(password: str) -> None:
    """Refuse a password shorter than MIN_LENGTH characters (or absurdly long)."""
    if len(password) < MIN_LENGTH:
        raise PasswordRefused(
            f"a password needs at least {MIN_LENGTH} characters; "
            "a passphrase of several words is easiest to remember"
        )
    if len(password) > MAX_LENGTH:
        raise PasswordRefused(f"a password may have at most {MAX_LENGTH} characters")
    if not password.strip():
        raise PasswordRefused("a password cannot be only spaces")


class Passwords:
    """Hashing and checking passwords with the parameters the settings call for."""

    def __init__(self, settings: Settings) -> None:
        self.cheap = settings.env == "test"
        self.hasher = (
            PasswordHasher(
                time_cost=TEST_TIME_COST, memory_cost=TEST_MEMORY_KIB, parallelism=TEST_PARALLELISM
            )
            if self.cheap
            else PasswordHasher()
        )
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        """The argon2id hash of a password that passed `check_password`."""
        check_password(password)
        return self.hasher.hash(password)

    @property
    def dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(24))
        return self._dummy

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True if `password` matches `password_hash`. With no hash (no account, a service
        identity, an account without a password) the dummy hash is checked instead and the
        answer is False, in the same time."""
        usable = password_hash is not None and len(password) <= MAX_LENGTH
        try:
            ok: bool = self.hasher.verify(
                password_hash if usable and password_hash else self.dummy_hash,
                password[:MAX_LENGTH],
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        return ok and usable

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


# -- TOTP (RFC 6238) ----------------------------------------------------------------------------
def new_totp_secret() -> str:
    """A fresh base32 secret (160 bits, as RFC 4226 recommends)."""
    return pyotp.random_base32(length=32)


def totp_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app scans."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS).provisioning_uri(
        name=username, issuer_name=TOTP_ISSUER
    )


def totp_step(secret: str | None, code: str | None, at: datetime) -> int | None:
    """The 30-second time step whose TOTP code for `secret` is `code`, looking one step either
    side of `at`; None when it matches none. Callers refuse a step already used, so a code
    works once (RFC 6238 section 5.2)."""
    if not secret or not code:
        return None
    code = code.strip().replace(" ", "")
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS)
    now_step = totp.timecode(at)
    for offset in range(-TOTP_WINDOW, TOTP_WINDOW + 1):
        if secrets.compare_digest(totp.generate_otp(now_step + offset), code):
            return now_step + offset
    return None


def totp_ok(secret: str | None, code: str | None, at: datetime) -> bool:
    """Is `code` the TOTP code for `secret` at `at` (give or take one 30-second step)?"""
    return totp_step(secret, code, at) is not None


__all__ = [
    "MIN_LENGTH",
    "PasswordRefused",
    "Passwords",
    "check_password",
    "new_totp_secret",
    "totp_ok",
    "totp_step",
    "totp_uri",
]
