"""Redis, or an in-process stand-in with the same interface: hit counter and TTL cache.

Cached values are stored by core.encoding (JSON and Arrow), never pickled: bytes in Redis
are data that anyone who can write to Redis may have put there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis

from core.encoding import DecodeError, EncodeError, decode, encode

log = logging.getLogger(__name__)

HITS_KEY = "credit:hits"
CACHE_PREFIX = "credit:cache:"
REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class MemoryStore:
    """The few Redis commands the product uses, in process memory, with expiry."""

    def __init__(self):
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._lock = threading.Lock()

    def ping(self) -> bool:
        return True

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key)

    def set(self, key: str, value: bytes | str | int, ex: int | None = None) -> bool:
        expires = time.monotonic() + ex if ex else None
        with self._lock:
            self._data[key] = (_as_bytes(value), expires)
        return True

    def incr(self, key: str, amount: int = 1) -> int:
        with self._lock:
            value = int(self._live(key) or 0) + amount
            self._data[key] = (str(value).encode(), None)
            return value

    def delete(self, *keys: str) -> int:
        with self._lock:
            return sum(self._data.pop(k, None) is not None for k in keys)

    def scan_iter(self, match: str = "*"):
        prefix = match.rstrip("*")
        with self._lock:
            keys = [k for k in self._data if k.startswith(prefix)]
        yield from keys

    def flushdb(self) -> bool:
        with self._lock:
            self._data.clear()
        return True

    def _live(self, key: str) -> bytes | None:
        value, expires = self._data.get(key, (None, None))
        if expires is not None and expires <= time.monotonic():
            del self._data[key]
            return None
        return value


def _as_bytes(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def connect(url: str | None):
    """A Redis client for `url`, or a new in-process MemoryStore when `url` is None."""
    if url is None:
        return MemoryStore()
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


@lru_cache(maxsize=8)
def get_store(url: str | None):
    """The process-wide store for `url` (one client, one stand-in, per process)."""
    return connect(url)


def describe(store) -> str:
    """The store in words, never with its password: "Redis at 10.0.0.5:6379 (database 2)"."""
    if isinstance(store, MemoryStore):
        return "in-process cache (REDIS_URL not set)"
    kwargs = store.connection_pool.connection_kwargs
    database = f"database {kwargs.get('db', 0)}"
    if "path" in kwargs:
        return f"Redis at socket {kwargs['path']} ({database})"
    return f"Redis at {kwargs.get('host')}:{kwargs.get('port')} ({database})"


def redis_reason(exc: BaseException) -> str:
    """Why Redis failed, in words: what a refused, timed-out or unauthorised connection
    means, else the first line of the error."""
    text = str(exc).strip()
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused: is Redis running?"
    if "timeout" in lowered or "timed out" in lowered:
        return "no answer in time"
    if "auth" in lowered or "wrongpass" in lowered or "password" in lowered:
        return "the password in REDIS_URL was refused"
    if "name or service not known" in lowered or "nodename" in lowered:
        return "unknown host name"
    return text.splitlines()[0] if text else type(exc).__name__


def unavailable(store, exc: BaseException) -> str:
    """ "Redis at host:port (database n) is unavailable: why", for a status line."""
    return f"{describe(store)} is unavailable: {redis_reason(exc)}"


def redis_status(store) -> tuple[bool, str]:
    """(answers, what and why) for a status line."""
    try:
        store.ping()
        return True, f"{describe(store)} answers"
    except REDIS_ERRORS as exc:
        return False, unavailable(store, exc)


@dataclass(frozen=True)
class Count:
    value: int | None
    error: str | None = None


def count_visit(store) -> Count:
    """Add one to the visit counter; when Redis is down, say why instead of failing."""
    try:
        return Count(int(store.incr(HITS_KEY)))
    except REDIS_ERRORS as exc:
        return Count(None, unavailable(store, exc))


class QueryCache:
    """Results cached for `ttl` seconds under the data version, so a new load misses.

    When the store fails, results are computed uncached and `error` says why; the store is
    then left alone for `retry_after` seconds, so a Redis that hangs costs one timeout per
    pause rather than one per query.
    """

    def __init__(self, store, ttl: int = 300, retry_after: float = 5.0):
        self.store, self.ttl, self.retry_after = store, ttl, retry_after
        self.error: str | None = None
        self._down_until = 0.0

    @staticmethod
    def key(data_version: int, name: str, params: dict[str, Any]) -> str:
        blob = json.dumps(params, sort_keys=True, default=str).encode()
        digest = hashlib.sha1(blob).hexdigest()[:16]
        return f"{CACHE_PREFIX}v{data_version}:{name}:{digest}"

    def get_or_compute(
        self, data_version: int, name: str, params: dict[str, Any], compute: Callable[[], Any]
    ) -> Any:
        """The value cached under (data_version, name, params), else `compute()`, stored.

        Bytes under the key that are not a value core.encoding wrote (someone else wrote
        them, or an older release) count as a miss: the value is computed again and
        overwrites them. A value core.encoding cannot store exactly is returned uncached.
        """
        key = self.key(data_version, name, params)
        cached = self._get(key)
        if cached is not None:
            try:
                return decode(cached)
            except DecodeError as exc:
                log.warning(
                    "query cache: %s does not hold a cached value (%s); recomputing", key, exc
                )
        value = compute()
        try:
            data = encode(value)
        except EncodeError as exc:
            log.warning("query cache: %s left uncached: %s", key, exc)
            return value
        self._set(key, data)
        return value

    def _get(self, key: str) -> bytes | None:
        if self._resting():
            return None
        try:
            value = self.store.get(key)
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return None
        self.error = None
        return value

    def _set(self, key: str, value: bytes) -> None:
        if self._resting():
            return
        try:
            self.store.set(key, value, ex=self.ttl)
        except REDIS_ERRORS as exc:
            self._failed(exc)

    def _resting(self) -> bool:
        return time.monotonic() < self._down_until

    def _failed(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self.retry_after
        self.error = f"cache off: {unavailable(self.store, exc)}"
        log.warning(self.error)


def invalidate(store) -> int:
    """Drop every cached query result; returns how many keys went. Quiet when Redis is down."""
    try:
        keys = list(store.scan_iter(match=CACHE_PREFIX + "*"))
        return store.delete(*keys) if keys else 0
    except REDIS_ERRORS as exc:
        log.warning("could not clear the query cache: %s", exc)
        return 0
