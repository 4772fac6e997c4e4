"""Signed checkpoints: the key, when they are written, what they refuse to sign, and how a
tampered or foreign checkpoint file shows in `verify`."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from helpers.audit_chain import build_chain, read_rows, rewrite
from peel.governance import checkpoint as ck
from peel.governance.verify import verify
from peel.serving import Store
from peel.settings import Settings


def settings_for(data_dir: Path, **update: object) -> Settings:
    return Settings(data_dir=data_dir, env="test", fsync=False).model_copy(update=update)


def test_the_key_is_created_once_with_mode_0600_and_its_public_half_next_to_it(
    data_dir: Path,
) -> None:
    s = settings_for(data_dir)
    key = ck.signing_key(s)
    assert stat.S_IMODE(s.signing_key_file.stat().st_mode) == 0o600
    pub = ck.public_key_file(s)
    assert pub.name == "audit-signing.pub" and pub.parent == s.signing_key_file.parent
    assert b"PRIVATE" not in pub.read_bytes()
    assert [ck.key_id(k) for k in ck.read_public_keys(pub)] == [ck.key_id(key.public_key())]
    again = ck.signing_key(s)
    assert ck.key_id(again.public_key()) == ck.key_id(key.public_key())


def test_in_production_a_missing_key_is_an_error_naming_the_setting(data_dir: Path) -> None:
    s = settings_for(data_dir, env="production")
    with pytest.raises(ck.CheckpointError, match="PEEL_AUDIT_KEY_FILE"):
        ck.signing_key(s)
    assert not s.signing_key_file.exists()


def test_a_key_that_is_not_ed25519_pem_is_refused(data_dir: Path) -> None:
    s = settings_for(data_dir)
    s.signing_key_file.parent.mkdir(parents=True)
    s.signing_key_file.write_text("not a key\n", encoding="utf-8")
    with pytest.raises(ck.CheckpointError, match="not an unencrypted PEM private key"):
        ck.signing_key(s)


def test_a_checkpoint_is_signed_json_written_atomically(store: Store) -> None:
    build_chain(store, 5)
    moment = datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
    with store.connect() as conn:
        path = ck.write_checkpoint(conn, store.settings, clock=lambda: moment)
    assert path == store.settings.checkpoint_dir / "checkpoint-000000000005.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert set(doc) == {"count", "format", "head_hash", "key_id", "signature", "ts"}
    assert doc["count"] == 5 and doc["ts"] == "2026-05-01T12:00:00.250Z"
    assert doc["head_hash"] == read_rows(store)[-1]["hash"]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    keys = ck.trusted_keys(store.settings)
    ck.check_signature(ck.read_checkpoint(path), keys)
    # Writing again with no new entry keeps the file as it is.
    before = path.read_bytes()
    with store.connect() as conn:
        assert ck.write_checkpoint(conn, store.settings) == path
    assert path.read_bytes() == before


def test_an_empty_log_has_nothing_to_checkpoint(store: Store) -> None:
    with store.connect() as conn, pytest.raises(ck.CheckpointError, match="empty"):
        ck.write_checkpoint(conn, store.settings)


def test_maybe_checkpoint_writes_every_n_entries(store: Store) -> None:
    s = store.settings.model_copy(update={"audit_checkpoint_every": 10})
    written = []
    for i in range(1, 26):
        build_chain(store, 1, start=i)
        with store.connect() as conn:
            path = ck.maybe_checkpoint(conn, s)
        if path is not None:
            written.append((i, path.name))
    assert written == [(10, "checkpoint-000000000010.json"), (20, "checkpoint-000000000020.json")]
    off = s.model_copy(update={"audit_checkpoint_every": 0})
    build_chain(store, 10, start=26)
    with store.connect() as conn:
        assert ck.maybe_checkpoint(conn, off) is None
        assert ck.maybe_checkpoint(conn, s) is not None


def test_a_broken_chain_is_tried_again_only_after_every_more_entries(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = store.settings.model_copy(update={"audit_checkpoint_every": 5})
    build_chain(store, 5)
    tries: list[int] = []
    real = ck.write_checkpoint

    def broken(conn: object, settings: object, **kw: object) -> object:
        tries.append(1)
        raise ck.ChainBroken("not signing the audit log: test")

    monkeypatch.setattr(ck, "write_checkpoint", broken)
    url = str(store.engine.url)
    with store.connect() as conn, pytest.raises(ck.ChainBroken):
        ck.maybe_checkpoint(conn, s)
    build_chain(store, 4, start=6)  # fewer than `every` since the failure
    with store.connect() as conn:
        assert ck.maybe_checkpoint(conn, s) is None
    assert not ck.might_be_due(s, url)
    assert len(tries) == 1
    build_chain(store, 1, start=10)
    assert ck.might_be_due(s, url)
    monkeypatch.setattr(ck, "write_checkpoint", real)
    with store.connect() as conn:
        path = ck.maybe_checkpoint(conn, s)
    assert path is not None and path.name == "checkpoint-000000000010.json"


def test_a_checkpoint_signed_by_another_process_after_this_snapshot_is_not_an_error(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = store.settings.model_copy(update={"audit_checkpoint_every": 5})
    build_chain(store, 10)
    with store.connect() as conn:
        seen = ck.audit.head(conn)  # this process's snapshot: 10 entries
    build_chain(store, 5, start=11)  # another process appends and signs entry 15
    with store.connect() as conn:
        ck.write_checkpoint(conn, s)
    # This process still sees its snapshot, and listed the folder before that file appeared
    # (the race between two server processes).
    monkeypatch.setattr(ck.audit, "head", lambda conn: seen)
    monkeypatch.setattr(ck, "last_checkpoint_count", lambda directory: 0)
    ck._known.pop(s.checkpoint_dir, None)
    with store.connect() as conn:
        with pytest.raises(ck.CheckpointAhead):
            ck.write_checkpoint(conn, s)
        assert ck.maybe_checkpoint(conn, s) is None
    assert s.checkpoint_dir not in ck._failed


def test_a_tampered_log_is_never_signed(store: Store) -> None:
    build_chain(store, 10)
    with store.connect() as conn:
        ck.write_checkpoint(conn, store.settings)
    build_chain(store, 5, start=11)
    rows = read_rows(store)
    rows[12]["actor"] = "mallory"  # entry 13, after the checkpoint
    rewrite(store, rows)
    with store.connect() as conn, pytest.raises(ck.ChainBroken, match="entry 13"):
        ck.write_checkpoint(conn, store.settings)
    rows = read_rows(store)
    rewrite(store, rows[:8])  # cut below the checkpoint
    with store.connect() as conn, pytest.raises(ck.ChainBroken, match="entries were removed"):
        ck.write_checkpoint(conn, store.settings)
    assert ck.last_checkpoint_count(store.settings.checkpoint_dir) == 10


def test_a_checkpoint_file_edited_or_signed_by_another_key_fails_verify(store: Store) -> None:
    build_chain(store, 6)
    with store.connect() as conn:
        path = ck.write_checkpoint(conn, store.settings)
        assert verify(conn, store.settings).ok
    original = path.read_text(encoding="utf-8")

    doc = json.loads(original)
    doc["head_hash"] = read_rows(store)[2]["hash"]  # a real hash, of the wrong entry
    path.write_text(json.dumps(doc), encoding="utf-8")
    with store.connect() as conn:
        report = verify(conn, store.settings)
    assert not report.ok and report.first_bad_seq is None
    assert report.reason == f"{path.name}: the signature does not verify"

    other = Ed25519PrivateKey.generate()
    forged = ck.sign(other, count=6, head_hash=json.loads(original)["head_hash"], ts="x")
    path.write_text(json.dumps(forged.to_json()), encoding="utf-8")
    with store.connect() as conn:
        report = verify(conn, store.settings)
    assert not report.ok and "not trusted" in (report.reason or "")

    path.write_text("{", encoding="utf-8")
    with store.connect() as conn:
        assert "cannot be read as JSON" in (verify(conn, store.settings).reason or "")

    path.write_text(original, encoding="utf-8")
    with store.connect() as conn:
        assert verify(conn, store.settings).ok


def test_the_oversight_panel_verifies_with_the_public_key_alone(
    store: Store, tmp_path: Path
) -> None:
    build_chain(store, 4)
    with store.connect() as conn:
        ck.write_checkpoint(conn, store.settings)
    panel_copy = tmp_path / "panel.pub"
    panel_copy.write_bytes(ck.public_key_file(store.settings).read_bytes())
    store.settings.signing_key_file.unlink()
    ck.public_key_file(store.settings).unlink()
    with store.connect() as conn:
        without = verify(conn, store.settings)
        with_key = verify(conn, store.settings, public_keys=[panel_copy])
    assert not without.ok and "not trusted" in (without.reason or "")
    assert with_key.ok and with_key.checkpoints_checked == 1


def test_after_a_key_rotation_older_checkpoints_still_verify(store: Store) -> None:
    build_chain(store, 3)
    with store.connect() as conn:
        ck.write_checkpoint(conn, store.settings)
    new = Ed25519PrivateKey.generate()
    store.settings.signing_key_file.write_bytes(
        new.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    build_chain(store, 3, start=4)
    with store.connect() as conn:
        path = ck.write_checkpoint(conn, store.settings)
        report = verify(conn, store.settings)
    assert ck.read_checkpoint(path).key_id == ck.key_id(new.public_key())
    assert len(ck.read_public_keys(ck.public_key_file(store.settings))) == 2
    assert report.ok and report.checkpoints_checked == 2
