"""The prediction log written off the request path: scores wait in memory and a background
thread writes them in batches (core.serving.predictions.log_scores) within a second.

One buffer per process (`prediction_log()`). It is flushed on a clean shutdown: at exit,
and by the API's lifespan. A write that fails keeps the rows for the next attempt and is
reported by `status()` (the API's /ready shows it); rows that cannot be kept are never
dropped without an error in the log saying how many.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert

from core.db.engine import migrate
from core.db.schema import Prediction
from core.serving.predictions import SOURCES, log_scores
from core.vocabulary import FEATURES

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
# A batch this large is written at once, without waiting for the next tick.
BATCH_ROWS = 5_000
# Rows kept while the database refuses them; beyond this the oldest are dropped, loudly.
MAX_ROWS = 1_000_000
SHUTDOWN_ATTEMPTS = 3
SHUTDOWN_RETRY_SECONDS = 0.5  # times the attempt's number


@dataclass(frozen=True)
class LogStatus:
    """The buffer's state: rows waiting, rows written, rows dropped, the last write error."""

    pending: int
    written: int
    dropped: int
    error: str | None

    @property
    def healthy(self) -> bool:
        """No failing write and nothing dropped."""
        return self.error is None and self.dropped == 0


@dataclass
class _Batch:
    engine: Engine
    version: str
    threshold: float
    source: str
    features: np.ndarray  # int64, one row per client, FEATURES columns
    probabilities: np.ndarray


class PredictionBuffer:
    """Scores waiting for the prediction log, written by one background thread."""

    def __init__(self, flush_seconds: float = FLUSH_SECONDS):
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: list[_Batch] = []
        self._rows = 0
        self._written = 0
        self._dropped = 0
        self._error: str | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def add(
        self,
        engine: Engine,
        *,
        version: str,
        features: np.ndarray,
        probabilities: np.ndarray,
        threshold: float,
        source: str,
    ) -> None:
        """Queue scored clients (int features by FEATURES, one probability each)."""
        if source not in SOURCES:
            raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
        features = np.asarray(features, dtype=np.int64).reshape(-1, len(FEATURES))
        probabilities = np.asarray(probabilities, dtype=float).reshape(-1)
        if len(features) != len(probabilities):
            raise ValueError(f"{len(features)} clients but {len(probabilities)} probabilities")
        batch = _Batch(engine, version, float(threshold), source, features, probabilities)
        with self._lock:
            self._pending.append(batch)
            self._rows += len(probabilities)
            self._trim()
            if self._thread is None or not self._thread.is_alive():
                self._start()
            if self._rows >= BATCH_ROWS:
                self._wake.notify()

    def status(self) -> LogStatus:
        """Rows waiting, written and dropped so far, and the last write's error if it failed."""
        with self._lock:
            return LogStatus(self._rows, self._written, self._dropped, self._error)

    def flush(self) -> int:
        """Write every waiting row now; return how many are still waiting (0 unless a write
        failed)."""
        with self._lock:
            batches, self._pending, self._rows = self._pending, [], 0
        failed = self._write(batches)
        with self._lock:
            self._pending[:0] = failed
            self._rows += sum(len(b.probabilities) for b in failed)
            return self._rows

    def close(self) -> None:
        """Stop the thread and write what waits, retrying a failing write a few times; rows
        that still cannot be written are reported as an error with their count."""
        with self._lock:
            self._stopping = True
            self._wake.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        left = self.flush()
        for attempt in range(1, SHUTDOWN_ATTEMPTS):
            if not left:
                break
            time.sleep(SHUTDOWN_RETRY_SECONDS * attempt)
            left = self.flush()
        if left:
            log.error("prediction log: %d scored rows were not written: %s", left, self._error)
        with self._lock:
            self._stopping = False
            self._thread = None

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._stopping and self._rows < BATCH_ROWS:
                    self._wake.wait(self.flush_seconds)
                if self._stopping:
                    return
            self.flush()

    def _write(self, batches: list[_Batch]) -> list[_Batch]:
        """Write batches grouped by what a log_scores call shares; return those that failed."""
        groups: dict[tuple, list[_Batch]] = defaultdict(list)
        for batch in batches:
            groups[(batch.engine, batch.version, batch.threshold, batch.source)].append(batch)
        failed = []
        for (engine, version, threshold, source), group in groups.items():
            features = np.vstack([b.features for b in group])
            try:
                written = log_scores(
                    engine,
                    version=version,
                    features=pd.DataFrame(features, columns=FEATURES),
                    probabilities=np.concatenate([b.probabilities for b in group]),
                    threshold=threshold,
                    source=source,
                )
            except Exception as exc:  # kept for the next attempt, and reported
                failed.extend(group)
                self._failed(exc, len(features))
                continue
            with self._lock:
                self._written += written
                self._error = None
        return failed

    def _failed(self, exc: Exception, rows: int) -> None:
        message = reason(exc)
        with self._lock:
            first = self._error is None
            self._error = message
        if first:
            log.error("prediction log: %d rows could not be written, kept: %s", rows, message)

    def _trim(self) -> None:
        """Drop the oldest batches while more than MAX_ROWS wait (the lock is held)."""
        while self._rows > MAX_ROWS and len(self._pending) > 1:
            oldest = self._pending.pop(0)
            self._rows -= len(oldest.probabilities)
            self._dropped += len(oldest.probabilities)
            log.error(
                "prediction log: %d scored rows dropped, %d wait and writing fails: %s",
                len(oldest.probabilities),
                self._rows,
                self._error,
            )


_buffer: PredictionBuffer | None = None
_owner: int | None = None
_create = threading.Lock()


def prediction_log() -> PredictionBuffer:
    """This process's buffer, made on first use and flushed at exit (a forked child gets
    its own, empty one)."""
    global _buffer, _owner
    if _buffer is None or _owner != os.getpid():
        with _create:
            if _buffer is None or _owner != os.getpid():
                _buffer, _owner = PredictionBuffer(), os.getpid()
                atexit.register(_buffer.close)
    return _buffer


def check_writable(engine: Engine) -> str | None:
    """None when a prediction row can be written to `engine`'s log (tried in a transaction
    that is rolled back), else why not in one line."""
    row = dict(
        created_at=datetime.now(UTC),
        version="0.0",
        inputs={},
        probability=0.0,
        label=0,
        threshold=0.5,
        source="api",
    )
    try:
        migrate(engine)  # as every connect() does first
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                connection.execute(insert(Prediction.__table__).values(**row))
            finally:
                transaction.rollback()
    except Exception as exc:
        return f"the prediction log cannot be written: {reason(exc)}"
    return None


def reason(exc: BaseException) -> str:
    """A failed write in one line: the driver's message, without SQL or parameters."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
