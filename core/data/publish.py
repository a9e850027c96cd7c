"""Publish new data: load it, publish its data version to the query cache and clear the
cached results, rebuild the summaries.

The one sequence that Home's upload and `python -m core load` both run. A load that does
not go through here (core.data.loader alone) is seen by a Redis query cache only when it
next checks the database's version (QueryCache's `verify_every`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from core.auth import audit
from core.auth.access import SYSTEM, Actor, require
from core.cache import REDIS_ERRORS, invalidate, raise_version, reset_version
from core.data.dataset import parse_csv
from core.data.loader import LoadResult, Progress, load_frame
from core.data.status import data_version
from core.db.engine import DatabaseError, connect
from core.explore.cached import dataset_name
from core.explore.summaries import refresh_summaries

log = logging.getLogger(__name__)

SUMMARIES_STAGE = "Building the summaries the explore pages read"

Stage = Callable[[str], None]


@dataclass(frozen=True)
class Published:
    """The load's result; `summaries_error` says why the summaries were not rebuilt (the
    explore pages then build them on first use), None when they were."""

    load: LoadResult
    summaries_error: str | None = None


def publish_file(
    engine: Engine,
    store,
    data: bytes,
    source: str,
    *,
    replace: bool = False,
    progress: Progress | None = None,
    stage: Stage | None = None,
    actor: Actor = SYSTEM,
) -> Published:
    """Validate a data file's bytes and publish them (see `publish`); its sha256 is kept in
    the load history. A bad file raises DataError and writes nothing."""
    frame = parse_csv(data)
    digest = hashlib.sha256(data).hexdigest()
    return publish(
        engine,
        store,
        frame,
        source,
        sha256=digest,
        replace=replace,
        progress=progress,
        stage=stage,
        actor=actor,
    )


def publish(
    engine: Engine,
    store,
    frame: pd.DataFrame,
    source: str,
    *,
    sha256: str | None = None,
    replace: bool = False,
    progress: Progress | None = None,
    stage: Stage | None = None,
    actor: Actor = SYSTEM,
) -> Published:
    """Load a validated frame (core.data.loader.load_frame), publish its data version in
    `store` and drop the query results cached there, then rebuild the explore summaries.

    `progress(done, total)` follows the rows written; `stage(text)` is called when the
    summaries start. The load is one transaction: when it fails (DataError, DatabaseError)
    nothing is written and nothing after it runs. A failure while rebuilding the summaries
    leaves the load in place and is returned as `summaries_error`. `actor` must be allowed
    to load data (core.auth); the load is written to the audit log in its name.
    """
    require(actor, "load_data")
    result = load_frame(engine, frame, source, sha256=sha256, replace=replace, progress=progress)
    _audit_load(engine, actor, source, replace, result)
    publish_version(engine, store, result.version)
    invalidate(store)
    if stage:
        stage(SUMMARIES_STAGE)
    try:
        refresh_summaries(engine)
    except DatabaseError as exc:
        log.warning("summaries not rebuilt after loading %s: %s", source, exc)
        return Published(result, str(exc))
    return Published(result)


def publish_version(engine: Engine, store, version: int) -> None:
    """Tell every process's query cache on `store` that the data is now at `version` (or
    newer, when another load finished first). Quiet when Redis is down: the caches then
    find the new version when they next check the database."""
    dataset = dataset_name(engine)
    try:
        published = raise_version(store, dataset, version)
        if published > version:
            current = data_version(engine)
            if current < published:  # a database emptied and loaded again: versions restart
                reset_version(store, dataset, current)
    except REDIS_ERRORS as exc:
        log.warning("could not publish data version %s to the query cache: %s", version, exc)


def _audit_load(engine: Engine, actor: Actor, source: str, replace: bool, result) -> None:
    how = "replaced the data set with" if replace else "loaded"
    with connect(engine, write=True) as connection:
        detail = f"{how} {source} ({result.clients:,} clients after)"
        audit.record(connection, actor, "data_loaded", detail)
