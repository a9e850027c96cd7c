"""What the routes need, built once per process from the settings: the engine, the Redis
store and query cache, and the training runner. Routes take them as FastAPI dependencies."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import Depends
from sqlalchemy import Engine

from core.cache import QueryCache, get_store
from core.db.engine import get_engine
from core.jobs import runner_for
from core.settings import get_settings


def current_engine() -> Engine:
    """The engine of DATABASE_URL (one per process)."""
    return get_engine(get_settings().database_url)


async def engine() -> Engine:
    """current_engine() as a dependency: async, as it never waits (an engine connects on
    first use), so a request does not hop to a thread for it."""
    return current_engine()


def store():
    """The Redis client of REDIS_URL, or the in-process stand-in when it is not set."""
    return get_store(get_settings().redis_url)


@lru_cache(maxsize=8)
def _query_cache(url: str | None, ttl: int) -> QueryCache:
    return QueryCache(get_store(url), ttl)


def query_cache() -> QueryCache:
    """The query cache on REDIS_URL, one per process, so a Redis found down stays skipped
    for a few seconds across requests."""
    settings = get_settings()
    return _query_cache(settings.redis_url, settings.cache_ttl)


def runner():
    """Where training jobs go: RQ when REDIS_URL is set, else the local worker."""
    return runner_for(get_settings())


EngineDep = Annotated[Engine, Depends(engine)]
StoreDep = Annotated[object, Depends(store)]
CacheDep = Annotated[QueryCache, Depends(query_cache)]
RunnerDep = Annotated[object, Depends(runner)]
