"""What the routes need, built once per process from the settings: the engine, the Redis
store and query cache, the training runner, and the caller. Routes take them as FastAPI
dependencies; each route declares the action it needs with `Depends(allowed("score"))`."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from api.errors import Problem
from api.schemas import ErrorOut
from core.auth import ACTIONS, OPEN, Actor, access_control_on, key_actor, require
from core.auth.users import UNKNOWN, cached_access_control, cached_key_actor
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


# --- The caller ---------------------------------------------------------------------------

# Both read the header only (no error of their own); they also put the Authorize button and
# the two ways to send a key into /docs.
bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer KEY`")
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="an API key: `X-API-Key: KEY`"
)
NO_KEY = (
    "an API key is needed: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY' "
    "(an admin makes one with `python -m core users key NAME`)"
)
BAD_KEY = "the API key is unknown or has been revoked"
CHALLENGE = {"WWW-Authenticate": "Bearer"}
AUTH_ERRORS = {
    401: {"model": ErrorOut, "description": "no API key, or one that is unknown or revoked"},
    403: {"model": ErrorOut, "description": "the key's role may not do this; says which may"},
}


async def caller(
    engine: EngineDep,
    bearer_key: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    header_key: Annotated[str | None, Depends(api_key_header)],
) -> Actor:
    """Who is calling: OPEN while access control is off (no user exists), else the owner of
    the key sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`; 401 without a live key.

    Async: both answers are cached by core for a few seconds per process, so most requests
    cost a dictionary lookup and a sha256; only a miss asks the database, in a thread, so the
    event loop never waits on it."""
    control = cached_access_control(engine)
    if control is None:
        control = await run_in_threadpool(access_control_on, engine)
    if not control:
        return OPEN
    key = bearer_key.credentials if bearer_key is not None else header_key
    if not key:
        raise Problem(401, NO_KEY, headers=CHALLENGE)
    actor = cached_key_actor(key)
    if actor is UNKNOWN:
        actor = await run_in_threadpool(key_actor, engine, key)
    if actor is None:
        raise Problem(401, BAD_KEY, headers=CHALLENGE)
    return actor


def allowed(action: str):
    """A dependency that gives the caller when they may do `action` (one of
    core.auth.ACTIONS): 401 without a live key, 403 naming the role needed otherwise."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")

    async def permitted(actor: Annotated[Actor, Depends(caller)]) -> Actor:
        require(actor, action)  # AccessDenied: 403 (api.errors)
        return actor

    permitted.__name__ = f"allowed_{action}"
    return permitted


StoreDep = Annotated[object, Depends(store)]
CacheDep = Annotated[QueryCache, Depends(query_cache)]
RunnerDep = Annotated[object, Depends(runner)]
