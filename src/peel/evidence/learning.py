"""The model behind the review queue: each case's item scores, retrained on every decision
with BMI's features and model (`peel.evidence.bmi`), in this process or in a trainer process
of the case's own (so a training never holds a server's interpreter lock while a reviewer
waits for the next item). Used by `peel.evidence.review`."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from peel.errors import PeelError
from peel.evidence.bmi import features
from peel.evidence.store import CaseStore
from peel.serving import Store
from peel.serving.tables import evidence_codes


@dataclass
class Model:
    """The latest scores of one case's items (in memory, per process). Features live where
    the training runs: in this process for `train="sync"`, in the case's trainer process for
    `train="background"` (so a training never holds this process's interpreter lock while a
    reviewer waits for the next item)."""

    items: int
    scores: np.ndarray  # by item index (id - 1); before a model, a fixed random order
    x: Any = None  # features, computed on the first in-process training
    trained_on: int = 0  # decisions the scores were trained on
    batch: int = 1  # BMI's next batch size
    lock: threading.Lock = field(default_factory=threading.Lock)
    training: bool = False
    blocked: set[int] = field(default_factory=set)  # items found changed: never served
    trainings: int = 0  # trainings finished in this process's lifetime


_models: dict[Path, Model] = {}
_models_lock = threading.Lock()


def model_of(cs: CaseStore) -> Model:
    n = cs.count()
    with _models_lock:
        m = _models.get(cs.root)
        if m is not None and m.items == n:
            return m
        rng = np.random.default_rng(int(hashlib.sha256(str(cs.root).encode()).hexdigest()[:8], 16))
        m = Model(items=n, scores=rng.random(n) * 1e-6 - 1.0)
        _models[cs.root] = m
        return m


def forget_models() -> None:
    with _models_lock:
        for t in _trainers.values():
            t.close()
        _trainers.clear()
        _models.clear()


def texts_of(cs: CaseStore) -> list[str]:
    """Every item's text (subject first for an e-mail), by index, each read checked."""
    n = cs.count()
    texts: list[str] = [""] * n
    ids = list(range(1, n + 1))
    for start in range(0, n, 2_000):
        for s in cs.items(ids[start : start + 2_000]):
            it = s.item
            texts[s.id - 1] = f"{it.subject}\n{it.text}" if it.subject else it.text
    return texts


def fit_scores(x: Any, idx: np.ndarray, y: np.ndarray) -> np.ndarray:
    """BMI's model (logistic regression, C = 1, balanced) on the coded items, scoring all."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
    model.fit(x[idx], y)
    return np.asarray(model.decision_function(x), dtype=float)


def labels_of(conn: Connection, reference: str) -> dict[int, int]:
    """Each item's current label (1 relevant or sensitive, 0 not relevant): its latest
    decision, a second review overriding the first."""
    out: dict[int, int] = {}
    for iid, rel in conn.execute(
        select(evidence_codes.c.item_id, evidence_codes.c.relevance)
        .where(evidence_codes.c.case_reference == reference)
        .order_by(evidence_codes.c.id)
    ):
        out[int(iid)] = 0 if rel == "not_relevant" else 1
    return out


def retrain(store: Store, cs: CaseStore, reference: str, *, in_process: bool = True) -> bool:
    """Train on every decision so far and rescore every item. False when there is nothing
    to learn from yet (decisions of one kind only, or no features)."""
    m = model_of(cs)
    with store.read() as conn:
        labels = labels_of(conn, reference)
    if len(set(labels.values())) < 2:
        return False
    idx = np.array([i - 1 for i in labels if 0 < i <= m.items], dtype=np.int64)
    y = np.array([labels[i + 1] for i in idx], dtype=np.int64)
    if in_process:
        if m.x is None:
            m.x = features(texts_of(cs)) if m.items > 1 else None
        if m.x is None:
            return False
        scores: np.ndarray | None = fit_scores(m.x, idx, y)
    else:
        scores = _trainer(cs).scores(idx, y)
    if scores is None or len(scores) != m.items:
        return False
    with m.lock:
        m.scores = scores
        m.trained_on = len(labels)
        m.batch += max(1, m.batch // 10)
        m.trainings += 1
    return True


class _Trainer:
    """A process that holds one case's features and trains on request (spawned, so it
    shares nothing with the server but the case's files)."""

    def __init__(self, cs: CaseStore) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.items = cs.count()
        self.conn, child = ctx.Pipe()
        recorded = cs.recorded
        self.proc = ctx.Process(
            target=_trainer_main,
            args=(child, str(cs.root), recorded),
            daemon=True,
            name="peel-review-trainer",
        )
        self.proc.start()
        child.close()
        self.lock = threading.Lock()

    def scores(self, idx: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        with self.lock:
            try:
                self.conn.send((idx, y))
                got = self.conn.recv()
            except (EOFError, OSError):
                return None
        return None if got is None else np.asarray(got, dtype=float)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()


_trainers: dict[Path, _Trainer] = {}


def _trainer(cs: CaseStore) -> _Trainer:
    with _models_lock:
        t = _trainers.get(cs.root)
        if t is not None and (t.items != cs.count() or not t.proc.is_alive()):
            t.close()
            t = None
        if t is None:
            t = _Trainer(cs)
            _trainers[cs.root] = t
        return t


def _trainer_main(conn: Any, root: str, recorded: dict[int, str]) -> None:
    """The trainer process: features once, then a model per request until told to stop.
    A changed item (EvidenceTampered) ends it: the server then trains nothing for the case
    and its reads report the change."""
    cs = CaseStore(Path(root))
    cs.set_recorded(recorded)
    try:
        x = features(texts_of(cs))
    except PeelError:  # a changed item: no scores (the parent then keeps its order)
        x = None
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        idx, y = msg
        conn.send(None if x is None else fit_scores(x, idx, y))


__all__ = [
    "Model",
    "fit_scores",
    "forget_models",
    "labels_of",
    "model_of",
    "retrain",
    "texts_of",
]
