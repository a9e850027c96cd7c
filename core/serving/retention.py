"""Prediction log retention: rows older than PREDICTION_RETENTION_DAYS are deleted.

The log keeps each scored client's inputs, which are personal data. `purge_predictions`
deletes the rows older than a number of days, in batches of ids (each its own transaction,
so a large purge never holds a long lock); `python -m core purge` runs it. `purge_when_due` runs
it at most once an hour per engine (get_engine keeps one per URL and process): every
process that writes the log calls it after writing (core.serving.predictions.log_scores,
so the API's buffered writer too), and every worker's reaper thread calls it
(core.jobs.workers), so old rows go even when nothing is scored.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, func, select

from core.db.engine import connect
from core.db.schema import Prediction
from core.settings import get_settings

log = logging.getLogger(__name__)

BATCH_ROWS = 10_000
PURGE_EVERY_SECONDS = 3600
TABLE = Prediction.__table__

_last_purge: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()
_purging = threading.Lock()


def purge_predictions(
    engine: Engine, days: int, *, batch: int = BATCH_ROWS, now: datetime | None = None
) -> int:
    """Delete the logged predictions made more than `days` days before `now` (default: the
    current time); return how many rows went.

    The ids of the old rows are bounded once (by the created_at index), then rows go by
    ranges of `batch` ids, each range in a transaction of its own, so every delete walks
    only its part of the primary key and no lock is held long. Raises ValueError when
    `days` is below 1 (the log would be emptied) and DatabaseError when the database fails.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(
            f"PREDICTION_RETENTION_DAYS must be a whole number of days >= 1, not {days!r}"
        )
    old = TABLE.c.created_at < (now or datetime.now(UTC)) - timedelta(days=days)
    with connect(engine) as connection:
        first, last = connection.execute(
            select(func.min(TABLE.c.id), func.max(TABLE.c.id)).where(old)
        ).one()
    if first is None:
        return 0
    deleted = 0
    for start in range(first, last + 1, batch):
        with connect(engine, write=True) as connection:
            in_range = TABLE.c.id.between(start, min(start + batch - 1, last))
            deleted += connection.execute(delete(TABLE).where(in_range, old)).rowcount
    return deleted


def purge_when_due(engine: Engine, every: float = PURGE_EVERY_SECONDS) -> int | None:
    """Purge `engine`'s prediction log by the PREDICTION_RETENTION_DAYS setting unless this
    engine did so in the last `every` seconds; return the rows deleted, None when not due.

    An engine's first call is due. A failing purge is due again only after `every`
    seconds, so a database that is down is not asked again at every write.
    """
    with _purging:
        last = _last_purge.get(engine)
        if last is not None and time.monotonic() - last < every:
            return None
        _last_purge[engine] = time.monotonic()
    deleted = purge_predictions(engine, get_settings().prediction_retention_days)
    if deleted:
        log.info("prediction log: %d rows older than the retention deleted", deleted)
    return deleted
