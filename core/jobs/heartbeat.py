"""Heartbeats: a daemon thread that stamps a job's row every few seconds while it works, and
the failing of the jobs whose stamps grew old."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from core.clock import aware
from core.db.engine import DatabaseError

log = logging.getLogger(__name__)


@contextmanager
def heartbeat(beat: Callable[[], None], every: float, what: str) -> Iterator[None]:
    """Call `beat()` every `every` seconds in a daemon thread while the block runs.

    A beat that raises DatabaseError is logged as a warning naming `what` (the next beat
    tries again); the thread is stopped when the block ends, however it ends.
    """
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            try:
                beat()
            except DatabaseError as exc:
                log.warning("heartbeat of %s failed: %s", what, exc)

    thread = threading.Thread(target=run, name=f"heartbeat of {what}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def fail_quiet(engine: Engine, quiet, mark_failed, *, what: str, lost: str) -> list:
    """Fail each (id, worker, last beat) of `quiet` with `mark_failed(engine, id, message)`,
    the message saying when its worker stopped beating and `lost`; returns the ids failed
    here (not those that had ended meanwhile). `what` names the thing in the log."""
    failed = []
    for item_id, worker, beat in quiet:
        message = (
            f"worker {worker} stopped sending heartbeats at {aware(beat):%H:%M:%S} UTC: "
            f"it was killed, crashed or lost the database; {lost}"
        )
        if mark_failed(engine, item_id, message):
            log.warning("%s %s failed: %s", what, item_id, message)
            failed.append(item_id)
    return failed
