"""Running an explore query: rebuild the summary set it needs, run it on a connection,
and go through the QueryCache keyed by database, query, parameters and data version (so
a load invalidates it); `cache=None` computes uncached.
"""

from __future__ import annotations

from collections.abc import Callable
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


def frame_query(
    engine: Engine,
    cache: QueryCache | None,
    name: str,
    params: dict[str, Any],
    statement: Select,
    finish: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    *,
    heavy: bool = False,
) -> pd.DataFrame:
    def compute(connection: Connection) -> pd.DataFrame:
        frame = read_frame(connection, statement)
        return finish(frame) if finish else frame

    needs = next(filter(None, map(SUMMARY_SETS.get, statement.get_final_froms())), None)
    return run_cached(engine, cache, name, params, compute, needs=needs, heavy=heavy)


def run_cached(
    engine: Engine,
    cache: QueryCache | None,
    name: str,
    params: dict[str, Any],
    compute: Callable[[Connection], Any],
    *,
    needs: str | None = None,
    heavy: bool = False,
) -> Any:
    """Run `compute` on a connection, through the cache when there is one; first rebuild
    the summary set it `needs` if the data has moved on."""
    migrate(engine)
    version = data_version(engine)

    def run() -> Any:
        if needs:
            refresh_summary(engine, version, needs)
        try:
            with engine.connect() as connection:
                if heavy and connection.dialect.name == "postgresql":
                    # JIT compiling costs more than it saves on these few-column scans.
                    connection.execute(text("SET LOCAL jit = off"))
                return compute(connection)
        except SQLAlchemyError as exc:
            raise DatabaseError(describe_error(engine, exc)) from exc

    if cache is None:
        return run()
    # Two databases may share one Redis (or one process's stand-in): key by database too.
    keyed = {"database": engine.url.render_as_string(hide_password=True), **params}
    return cache.get_or_compute(version, name, keyed, run)
