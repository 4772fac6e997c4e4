"""The app signs audit checkpoints after requests, and asks the database whether one is due
only when this process's own appends could have made one due."""

from __future__ import annotations

import itertools

import pytest

from helpers.appenv import AppEnv
from peel.app import main
from peel.governance import audit, checkpoint


def test_checkpoints_follow_appends_and_quiet_requests_skip_the_test(
    app_env: AppEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = app_env.app.state.peel
    settings = state.settings.model_copy(update={"audit_checkpoint_every": 4})
    monkeypatch.setattr(state, "settings", settings)
    calls: list[int] = []
    real = main._maybe_checkpoint

    def counted(s: object) -> None:
        calls.append(1)
        real(s)

    monkeypatch.setattr(main, "_maybe_checkpoint", counted)
    url = str(state.store.engine.url)
    headers = app_env.headers("investigator")  # signs in: audited
    for _ in range(12):
        r = app_env.client.get("/api/audit", headers=app_env.headers("oversight_panel"))
        assert r.status_code == 200, r.text
    with state.store.connect() as conn:
        count, _ = audit.head(conn)
    assert audit.last_appended(url) == count
    written = [c for c, _ in checkpoint.checkpoint_paths(settings.checkpoint_dir)]
    assert written, "no checkpoint after a dozen audited requests"
    assert count - written[-1] < 4
    assert all(b - a >= 4 for a, b in itertools.pairwise(written))

    # Requests that append nothing, with no checkpoint due: no database test at all.
    before = len(calls)
    if checkpoint.might_be_due(settings, url):
        app_env.client.get("/api/health")  # one test brings this process up to date
        before = len(calls)
    for _ in range(5):
        assert app_env.client.get("/api/health", headers=headers).status_code == 200
    assert len(calls) == before
