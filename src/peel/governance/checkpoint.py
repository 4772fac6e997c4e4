"""Signed checkpoints of the audit chain.

The hash chain shows that entries were changed, removed, inserted or reordered, unless
someone with write access to the database recomputes every hash after the change (a
consistent rewrite) or cuts entries off the end (truncation). A checkpoint closes both gaps:
every `audit_checkpoint_every` entries the app signs `(count, head_hash, ts)` with an Ed25519
key that lives outside the database, and writes it as one small JSON file:

    DATA_DIR/audit-checkpoints/checkpoint-000000000500.json
    {"count": 500, "format": "peel-audit-checkpoint/1", "head_hash": "...",
     "key_id": "...", "signature": "...", "ts": "2026-11-27T15:04:05.123Z"}

`peel.governance.verify` checks each checkpoint against the log: the signature must verify
with the public key, and entry `count` must still exist and still have hash `head_hash`.

The key is PEM (PKCS#8) at `settings.signing_key_file`; its public half is written next to it
with the suffix `.pub`, so that an oversight panel can verify holding the public key only. In
development and test the key is created on first use (mode 0600); in production a missing key
is an error. A checkpoint is signed only after the entries since the previous checkpoint
verify, so a tampered log is never signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, select

from peel.errors import PeelError
from peel.governance import audit
from peel.serving.tables import audit_log
from peel.serving.types import canonical_json
from peel.settings import Settings

logger = logging.getLogger(__name__)

FORMAT = "peel-audit-checkpoint/1"
NAME = re.compile(r"^checkpoint-(\d{12})\.json$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FIELDS = {"count", "format", "head_hash", "key_id", "signature", "ts"}

# Highest checkpoint count seen per folder, so that `maybe_checkpoint` lists the folder only
# when a checkpoint may be due (the folder can sit on a slow network mount).
_known: dict[Path, int] = {}
# Per checkpoint folder: the log's length when signing last failed (a broken chain).
_failed: dict[Path, int] = {}


class CheckpointError(PeelError):
    """A checkpoint cannot be written or read: no signing key, an unreadable file."""


class ChainBroken(CheckpointError):
    """The log no longer matches its newest checkpoint or does not verify since it, so no new
    checkpoint is signed (run `peel audit verify`)."""


class CheckpointAhead(ChainBroken):
    """A checkpoint covers more entries than this connection sees: entries were removed, or
    another process signed a later head after this snapshot was taken."""


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the audit log had `count` entries and the last one had `head_hash`."""

    count: int
    head_hash: str
    ts: str
    key_id: str
    signature: str
    path: Path | None = None

    def signed_bytes(self) -> bytes:
        body = {
            "format": FORMAT,
            "count": self.count,
            "head_hash": self.head_hash,
            "ts": self.ts,
            "key_id": self.key_id,
        }
        return canonical_json(body).encode("utf-8")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "count": self.count,
            "head_hash": self.head_hash,
            "ts": self.ts,
            "key_id": self.key_id,
            "signature": self.signature,
        }


# -- keys -------------------------------------------------------------------------------------


def key_id(public_key: Ed25519PublicKey) -> str:
    """The fingerprint of a public key: SHA-256 of its 32 raw bytes, in hex."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_key_file(settings: Settings) -> Path:
    """Where the public half of the signing key is kept: next to it, suffix `.pub`."""
    return settings.signing_key_file.with_suffix(".pub")


def _public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The Ed25519 key that signs checkpoints. Created on first use only in development and
    test; in production a missing key is an error naming the setting."""
    path = settings.signing_key_file
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not settings.development:
            raise CheckpointError(
                f"no audit signing key at {path}: set PEEL_AUDIT_KEY_FILE to an Ed25519 PEM key "
                f"(for example `openssl genpkey -algorithm ed25519 -out {path}`, mode 0600)"
            ) from None
        key = _create_key(path, fsync=settings.fsync)
    except OSError as e:
        raise CheckpointError(f"the audit signing key {path} cannot be read") from e
    else:
        key = _load_private(data, path)
        if path.stat().st_mode & 0o077:
            logger.warning("the audit signing key %s is readable by other users", path)
    _publish(key.public_key(), public_key_file(settings), fsync=settings.fsync)
    return key


def _publish(public_key: Ed25519PublicKey, pub: Path, *, fsync: bool) -> None:
    """Make sure the `.pub` file lists `public_key`. After a key rotation the new key is added
    below the old ones, so that older checkpoints still verify."""
    try:
        old = pub.read_bytes() if pub.exists() else b""
        if old and key_id(public_key) in {key_id(k) for k in read_public_keys(pub)}:
            return
        _atomic_write(pub, old + _public_pem(public_key), fsync=fsync, mode=0o644)
    except (OSError, CheckpointError):
        logger.warning("could not add the public key to %s", pub)


def _load_private(data: bytes, path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path} is not an unencrypted PEM private key") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path} is not an Ed25519 key")
    return key


def _create_key(path: Path, *, fsync: bool) -> Ed25519PrivateKey:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _load_private(path.read_bytes(), path)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    logger.info("created the audit signing key %s", path)
    return key


def read_public_keys(path: Path) -> list[Ed25519PublicKey]:
    """The Ed25519 public keys in a PEM file (one, or several after a key rotation)."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"the public key file {path} cannot be read") from e
    blocks = re.findall(
        r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", text, flags=re.DOTALL
    )
    keys: list[Ed25519PublicKey] = []
    for block in blocks:
        try:
            key = serialization.load_pem_public_key(block.encode("ascii"))
        except ValueError as e:
            raise CheckpointError(f"{path} holds a malformed public key") from e
        if not isinstance(key, Ed25519PublicKey):
            raise CheckpointError(f"{path} holds a key that is not Ed25519")
        keys.append(key)
    if not keys:
        raise CheckpointError(f"{path} holds no PEM public key")
    return keys


def trusted_keys(settings: Settings, files: Sequence[Path] = ()) -> dict[str, Ed25519PublicKey]:
    """The public keys checkpoints are checked with, by key id: those in `files` if any are
    given (an oversight panel's own copy), else the `.pub` file next to the signing key, else
    the public half of the signing key itself. Empty if there is none."""
    keys: list[Ed25519PublicKey] = []
    if files:
        for f in files:
            keys.extend(read_public_keys(f))
    elif public_key_file(settings).exists():
        keys = read_public_keys(public_key_file(settings))
    elif settings.signing_key_file.exists():
        path = settings.signing_key_file
        try:
            keys = [_load_private(path.read_bytes(), path).public_key()]
        except OSError as e:
            raise CheckpointError(f"the audit signing key {path} cannot be read") from e
    return {key_id(k): k for k in keys}


# -- reading and checking ---------------------------------------------------------------------


def checkpoint_paths(directory: Path) -> list[tuple[int, Path]]:
    """(count, path) of the checkpoint files in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    out = []
    for p in directory.iterdir():
        m = NAME.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def last_checkpoint_count(directory: Path) -> int:
    paths = checkpoint_paths(directory)
    return paths[-1][0] if paths else 0


def read_checkpoint(path: Path) -> Checkpoint:
    """Parse one checkpoint file; CheckpointError names the file and what is wrong."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path.name} cannot be read as JSON") from e
    if not isinstance(doc, dict) or set(doc) != _FIELDS:
        raise CheckpointError(f"{path.name} does not have the fields of a checkpoint")
    count = doc["count"]
    if doc["format"] != FORMAT:
        raise CheckpointError(f"{path.name} is not in the format {FORMAT}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise CheckpointError(f"{path.name}: count is not a positive integer")
    if not all(isinstance(doc[k], str) for k in ("head_hash", "ts", "key_id", "signature")):
        raise CheckpointError(f"{path.name}: a field has the wrong type")
    if not _HEX64.match(doc["head_hash"]):
        raise CheckpointError(f"{path.name}: head_hash is not a SHA-256 in hex")
    m = NAME.match(path.name)
    if m and int(m.group(1)) != count:
        raise CheckpointError(f"{path.name}: its name and its count ({count}) differ")
    return Checkpoint(
        count=count,
        head_hash=doc["head_hash"],
        ts=doc["ts"],
        key_id=doc["key_id"],
        signature=doc["signature"],
        path=path,
    )


def check_signature(cp: Checkpoint, keys: Mapping[str, Ed25519PublicKey]) -> None:
    """Raise CheckpointError unless a trusted key signed `cp`."""
    name = cp.path.name if cp.path else f"checkpoint {cp.count}"
    key = keys.get(cp.key_id)
    if key is None:
        raise CheckpointError(f"{name} is signed by a key that is not trusted ({cp.key_id[:16]})")
    try:
        signature = base64.b64decode(cp.signature, validate=True)
        key.verify(signature, cp.signed_bytes())
    except (InvalidSignature, binascii.Error, ValueError) as e:
        raise CheckpointError(f"{name}: the signature does not verify") from e


def sign(key: Ed25519PrivateKey, *, count: int, head_hash: str, ts: str) -> Checkpoint:
    unsigned = Checkpoint(
        count=count, head_hash=head_hash, ts=ts, key_id=key_id(key.public_key()), signature=""
    )
    signature = base64.b64encode(key.sign(unsigned.signed_bytes())).decode("ascii")
    return Checkpoint(count, head_hash, ts, unsigned.key_id, signature)


# -- writing ----------------------------------------------------------------------------------


def _atomic_write(path: Path, data: bytes, *, fsync: bool, mode: int = 0o644) -> None:
    """Write to a temporary file in the same folder, fsync, rename over `path`, fsync the
    folder: a reader sees the old file or the whole new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _stored_hash(conn: Connection, seq: int) -> str | None:
    row = conn.execute(select(audit_log.c.hash).where(audit_log.c.seq == seq)).first()
    return None if row is None else str(row.hash)


def _anchor(
    conn: Connection, directory: Path, keys: Mapping[str, Ed25519PublicKey], count: int
) -> tuple[int, str]:
    """(seq, hash) of the newest valid checkpoint, checked against the log, or the genesis."""
    for n, path in reversed(checkpoint_paths(directory)):
        try:
            cp = read_checkpoint(path)
            check_signature(cp, keys)
        except CheckpointError as e:
            logger.warning("ignoring checkpoint %s: %s", path.name, e)
            continue
        if n > count:
            raise CheckpointAhead(
                f"the log has {count} entries but {path.name} covers {n}: "
                "entries were removed; run `peel audit verify`"
            )
        if _stored_hash(conn, n) != cp.head_hash:
            raise ChainBroken(f"entry {n} no longer matches {path.name}; run `peel audit verify`")
        return n, cp.head_hash
    return 0, audit.GENESIS


def write_checkpoint(
    conn: Connection,
    settings: Settings,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Path:
    """Sign the current head of the log and write it to `settings.checkpoint_dir`; returns the
    file. Call it on committed data (not inside the transaction that appended the entries).
    Raises ChainBroken, writing nothing, if the log does not verify since the previous
    checkpoint."""
    count, head_hash = audit.head(conn)
    if count == 0:
        raise CheckpointError("the audit log is empty: there is nothing to checkpoint")
    key = signing_key(settings)
    try:
        published = trusted_keys(settings)
    except CheckpointError as e:  # a damaged .pub file: verify reports it; still sign
        logger.warning("%s", e)
        published = {}
    keys = {**published, key_id(key.public_key()): key.public_key()}
    directory = settings.checkpoint_dir
    after_seq, after_hash = _anchor(conn, directory, keys, count)
    last, brk = audit.check_chain(conn, after_seq=after_seq, after_hash=after_hash, upto=count)
    if brk is not None:
        raise ChainBroken(f"not signing the audit log: {brk.reason}")
    if last != count:
        raise ChainBroken(f"not signing the audit log: entry {last + 1} is missing")
    path = directory / f"checkpoint-{count:012d}.json"
    if path.exists():
        existing = read_checkpoint(path)
        if existing.head_hash != head_hash:
            raise ChainBroken(f"{path.name} already signs a different entry {count}")
        return path
    cp = sign(key, count=count, head_hash=head_hash, ts=audit.utc_ms(clock()))
    data = (json.dumps(cp.to_json(), indent=2, sort_keys=True) + "\n").encode("utf-8")
    _atomic_write(path, data, fsync=settings.fsync)
    _known[directory] = max(_known.get(directory, 0), count)
    logger.info("audit checkpoint %s written", path.name)
    return path


def might_be_due(settings: Settings, engine_url: str) -> bool:
    """Could a checkpoint be due, judging only by what this process knows? False when the
    last entry this process appended is fewer than `audit_checkpoint_every` past the last
    checkpoint it has seen: then `maybe_checkpoint` would find nothing to do, and the app
    skips it (a database read and a thread hop per request). Entries other processes append
    are checked at this process's next append, or by the process that appended them."""
    every = settings.audit_checkpoint_every
    if every <= 0:
        return False
    known = _known.get(settings.checkpoint_dir)
    seq = audit.last_appended(engine_url)
    failed = _failed.get(settings.checkpoint_dir)
    if failed is not None and seq - failed < every:
        return False
    return known is None or seq - known >= every


def maybe_checkpoint(
    conn: Connection,
    settings: Settings,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Path | None:
    """Write a checkpoint if `settings.audit_checkpoint_every` entries (or more) were appended
    since the last one; the app calls it after each request. Returns the file written, if any.
    A setting of 0 or less turns automatic checkpoints off."""
    every = settings.audit_checkpoint_every
    if every <= 0:
        return None
    count, _ = audit.head(conn)
    directory = settings.checkpoint_dir
    known = _known.get(directory)
    if count == 0 or (known is not None and count - known < every):
        return None
    last = last_checkpoint_count(directory)
    _known[directory] = last
    if count - last < every:
        return None
    failed = _failed.get(directory)
    if failed is not None and count - failed < every:
        # The last attempt found the chain broken: verifying it again costs a read of
        # everything since the last good checkpoint; try again after `every` more entries
        # (`peel audit verify` says what is wrong in the meantime).
        return None
    try:
        return write_checkpoint(conn, settings, clock=clock)
    except CheckpointAhead:
        # Another server process signed a later head after this connection's snapshot was
        # taken: nothing to do. (A log that really lost entries fails the hash check at
        # the next attempt, once it has grown past that checkpoint, and `audit verify`.)
        return None
    except ChainBroken:
        _failed[directory] = count
        raise


__all__ = [
    "FORMAT",
    "ChainBroken",
    "Checkpoint",
    "CheckpointAhead",
    "CheckpointError",
    "check_signature",
    "checkpoint_paths",
    "key_id",
    "last_checkpoint_count",
    "maybe_checkpoint",
    "might_be_due",
    "public_key_file",
    "read_checkpoint",
    "read_public_keys",
    "sign",
    "signing_key",
    "trusted_keys",
    "write_checkpoint",
]
