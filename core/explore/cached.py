"""Running an explore query: rebuild the summary set it needs, run it on a connection,
and go through the QueryCache keyed by database, query and parameters, each value tagged
with its data version (so a load invalidates it); `cache=None` computes uncached.

On a hit nothing is built: statements are made by a function called on a miss.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import cache as once
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError

from core.cache import QueryCache
from core.data.status import data_version
from core.db.engine import DatabaseError, describe_error, migrate
from core.explore.sql import read_frame
from core.explore.summaries import SUMMARY_SETS, refresh_summary

_NAMES: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def frame_query(
    engine: Engine,
    cache: QueryCache | None,
    name: str,
    params: dict[str, Any],
    build: Callable[[], Select],
    finish: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    *,
    heavy: bool = False,
) -> pd.DataFrame:
    """The frame `build()`'s statement reads (then `finish`ed), through the cache; the
    summary set it reads from is rebuilt first when the data has moved on."""
    statement = once(build)

    def compute(connection: Connection) -> pd.DataFrame:
        frame = read_frame(connection, statement())
        return finish(frame) if finish else frame

    def needs() -> str | None:
        return next(filter(None, map(SUMMARY_SETS.get, statement().get_final_froms())), None)

    return run_cached(engine, cache, name, params, compute, needs=needs, heavy=heavy)


def dataset_name(engine: Engine) -> str:
    """The database as cache keys and the published data version name it (no password)."""
    name = _NAMES.get(engine)
    if name is None:
        name = _NAMES[engine] = engine.url.render_as_string(hide_password=True)
    return name


def run_cached(
    engine: Engine,
    cache: QueryCache | None,
    name: str,
    params: dict[str, Any],
    compute: Callable[[Connection], Any],
    *,
    needs: str | Callable[[], str | None] | None = None,
    heavy: bool = False,
) -> Any:
    """Run `compute` on a connection, through the cache when there is one; first rebuild
    the summary set it `needs` (a name, or a function that gives it) if the data has moved
    on."""
    migrate(engine)

    def run(version: int) -> Any:
        summary_set = needs() if callable(needs) else needs
        if summary_set:
            refresh_summary(engine, version, summary_set)
        try:
            with engine.connect() as connection:
                if heavy and connection.dialect.name == "postgresql":
                    # JIT compiling costs more than it saves on these few-column scans.
                    connection.execute(text("SET LOCAL jit = off"))
                return compute(connection)
        except SQLAlchemyError as exc:
            raise DatabaseError(describe_error(engine, exc)) from exc

    if cache is None:
        return run(data_version(engine))
    # Two databases may share one Redis (or one process's stand-in): key by database too.
    return cache.get_or_compute(
        dataset_name(engine), name, params, run, lambda: data_version(engine)
    )
