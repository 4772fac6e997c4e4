"""`peel audit verify|checkpoint|report`: exit codes 0/1/2 and one JSON document with --json,
including a byte flipped in the SQLite file itself."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from helpers.audit_chain import add_user, build_chain, count, last_entry, read_rows, rehash, rewrite
from peel.cli.main import app
from peel.serving import Store

runner = CliRunner()


def invoke(args: list[str]) -> tuple[int, str, str]:
    result = runner.invoke(app, ["audit", *args])
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def test_verify_exits_0_when_intact_and_1_naming_the_first_bad_entry(store: Store) -> None:
    build_chain(store, 15)
    code, out, err = invoke(["verify"])
    assert (code, out) == (0, "")
    assert "intact: 15 entries" in err and "no signed checkpoint yet" in err
    code, out, _ = invoke(["checkpoint", "--json"])
    assert code == 0 and json.loads(out)["count"] == 15
    code, out, _ = invoke(["verify", "--json"])
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["entries"] == 15 and doc["checkpoints_checked"] == 1

    rows = read_rows(store)
    rows[12]["justification"] = "made up later"
    rewrite(store, rows)
    code, out, err = invoke(["verify"])
    assert code == 1 and out == ""
    assert "NOT intact (first bad entry: 13)" in err and "made up" not in err
    code, out, _ = invoke(["verify", "--json"])
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False and doc["first_bad_seq"] == 13
    assert doc["entries"] == 12


def test_verify_with_a_foreign_public_key_fails(store: Store, tmp_path: Path) -> None:
    build_chain(store, 3)
    assert invoke(["checkpoint"])[0] == 0
    foreign = tmp_path / "foreign.pub"
    foreign.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    code, out, _ = invoke(["verify", "--json", "--public-key", str(foreign)])
    assert code == 1 and "not trusted" in json.loads(out)["reason"]


def test_checkpoint_on_an_empty_and_on_a_tampered_log(store: Store) -> None:
    code, out, _ = invoke(["checkpoint", "--json"])
    assert code == 0 and json.loads(out) == {"written": False, "count": 0, "path": None}
    build_chain(store, 4)
    code, out, _ = invoke(["checkpoint", "--json"])
    doc = json.loads(out)
    assert code == 0 and doc["written"] and Path(doc["path"]).exists()
    build_chain(store, 2, start=5)
    rows = read_rows(store)
    rows[1]["actor"] = "mallory"
    rewrite(store, rehash(rows, start=2))  # a consistent rewrite from entry 2
    code, out, err = invoke(["checkpoint", "--json"])
    assert code == 1 and out == "" and "not signed" in err and "entry 4 no longer matches" in err


def test_report_as_an_oversight_member(store: Store) -> None:
    build_chain(store, 6)  # actors user0, user1, user2 in turn
    add_user(store, "olive", ("oversight_panel",))
    add_user(store, "root", ("admin",))
    code, out, _ = invoke(["report", "--user", "user1", "--as", "olive", "--json"])
    assert code == 0
    doc = json.loads(out)
    assert [e["seq"] for e in doc["entries"]] == [1, 4]
    assert doc["filters"]["user"] == "user1" and doc["truncated"] is False
    reading = last_entry(store)
    assert (reading["actor"], reading["object_type"]) == ("olive", "audit_entry")
    assert reading["object_ids"] == ["audit:1", "audit:4"]

    code, out, _ = invoke(
        ["report", "--subject", "p1", "--from", "2026-03-01T09:02", "--as", "olive", "--json"]
    )
    assert code == 0 and [e["seq"] for e in json.loads(out)["entries"]] == [6]
    code, _, err = invoke(["report", "--subject", "p1", "--as", "olive"])
    assert code == 0 and "audit: 2 entries" in err


def test_report_refusals_exit_2(store: Store) -> None:
    build_chain(store, 2)
    add_user(store, "olive", ("oversight_panel",))
    add_user(store, "root", ("admin",))
    before = count(store)
    code, out, err = invoke(["report", "--as", "olive"])
    assert (code, out) == (2, "") and "--user or --subject" in err
    code, _, err = invoke(["report", "--user", "x", "--from", "yesterday", "--as", "olive"])
    assert code == 2 and "not an ISO date" in err
    assert count(store) == before
    code, out, err = invoke(["report", "--user", "user1", "--as", "root", "--json"])
    assert (code, out) == (2, "") and "audit.read" in err
    assert last_entry(store)["outcome"] == "denied"
    code, _, err = invoke(["report", "--user", "user1", "--as", "nobody"])
    assert code == 2 and "no enabled account" in err


def test_a_byte_flipped_in_the_sqlite_file_fails_verify(data_dir: Path) -> None:
    store = Store()
    store.migrate()
    build_chain(store, 30)
    path = Path(str(make_url(store.url).database))
    store.dispose()  # the last connection closes: the WAL is folded into the file
    assert invoke(["verify"])[0] == 0
    data = bytearray(path.read_bytes())
    needle = b"needle-0000000017"  # entry 17's request_id, a column with no index
    at = data.find(needle)
    assert at > 0 and data.find(needle, at + 1) == -1
    data[at + 10] ^= 0x01
    path.write_bytes(bytes(data))
    code, out, _ = invoke(["verify", "--json"])
    assert code == 1
    doc = json.loads(out)
    assert doc["first_bad_seq"] == 17 and "hash does not match" in doc["reason"]
