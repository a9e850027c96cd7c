"""Redis, or an in-process stand-in with the same interface: hit counter and TTL cache.

Cached values are stored by core.encoding (JSON and Arrow), never pickled: bytes in Redis
are data that anyone who can write to Redis may have put there.

Each cached value records the data version it was computed for. On Redis the current
version is published next to the values (core.data.publish raises it after every load), so
a hit is one round trip that reads both; the in-process stand-in cannot hear another
process's load, so with it the version is read from the database every time.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis

from core.encoding import DecodeError, EncodeError, decode, encode

log = logging.getLogger(__name__)

HITS_KEY = "credit:hits"
CACHE_PREFIX = "credit:cache:"
VERSION_PREFIX = "credit:data-version:"
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

    def mget(self, keys, *args) -> list[bytes | None]:
        names = [keys, *args] if isinstance(keys, str) else [*keys, *args]
        with self._lock:
            return [self._live(key) for key in names]

    def raise_to(self, key: str, value: int) -> int:
        """RAISE_VERSION's work: store `value` unless the key holds a larger number."""
        with self._lock:
            current = self._live(key)
            if current is not None and int(current) >= value:
                return int(current)
            self._data[key] = (str(value).encode(), None)
            return value

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


# Set the version key to ARGV[1] unless it holds a larger number; answer what it holds.
RAISE_VERSION = """
local current = tonumber(redis.call('GET', KEYS[1]))
local wanted = tonumber(ARGV[1])
if current ~= nil and current >= wanted then
  return current
end
redis.call('SET', KEYS[1], ARGV[1])
return wanted
"""


def version_key(dataset: str) -> str:
    """The key under which `dataset`'s data version is published."""
    return VERSION_PREFIX + hashlib.sha1(dataset.encode()).hexdigest()[:16]


def raise_version(store, dataset: str, version: int) -> int:
    """Publish `version` as `dataset`'s data version unless a newer one already is (two
    loads finishing out of order); returns the version published. Raises REDIS_ERRORS."""
    if isinstance(store, MemoryStore):
        return store.raise_to(version_key(dataset), version)
    return int(store.eval(RAISE_VERSION, 1, version_key(dataset), version))


def reset_version(store, dataset: str, version: int) -> None:
    """Publish `version` even if it is older: the database was emptied and started again."""
    store.set(version_key(dataset), version)


class QueryCache:
    """Results cached for `ttl` seconds, each with the data version it was computed for, so
    a new load misses.

    `read_version` (the database's own count) is asked when Redis has no published version
    (restarted, flushed) and republished; and at most every `verify_every` seconds per
    dataset, to mend a version a failed publish left behind. With the in-process stand-in
    it is asked every time.

    When the store fails, results are computed uncached and `error` says why; the store is
    then left alone for `retry_after` seconds, so a Redis that hangs costs one timeout per
    pause rather than one per query. Decoded values are kept in process by key and bytes, so
    a hit whose bytes have not changed is not decoded again (a copy is returned).
    """

    def __init__(
        self,
        store,
        ttl: int = 300,
        retry_after: float = 5.0,
        verify_every: float = 5.0,
        keep_decoded: int = 512,
    ):
        self.store, self.ttl, self.retry_after = store, ttl, retry_after
        self.verify_every, self.keep_decoded = verify_every, keep_decoded
        self.error: str | None = None
        self._down_until = 0.0
        self._verified: dict[str, float] = {}
        self._decoded: OrderedDict[str, tuple[bytes, Any]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(dataset: str, name: str, params: dict[str, Any]) -> str:
        blob = json.dumps(params, sort_keys=True, default=str).encode()
        digest = hashlib.sha1(dataset.encode() + b"\0" + blob).hexdigest()[:16]
        return f"{CACHE_PREFIX}{name}:{digest}"

    def get_or_compute(
        self,
        dataset: str,
        name: str,
        params: dict[str, Any],
        compute: Callable[[int], Any],
        read_version: Callable[[], int],
    ) -> Any:
        """The value cached for (dataset, name, params) at the current data version, else
        `compute(version)`, stored.

        Bytes under the key that are not a value this class wrote (someone else wrote them,
        or an older release) count as a miss: the value is computed again and overwrites
        them. A value core.encoding cannot store exactly is returned uncached.
        """
        key = self.key(dataset, name, params)
        version, cached = self._read(dataset, key, read_version)
        if cached is not None:
            try:
                found = self._value(key, cached, version)
            except DecodeError as exc:
                log.warning(
                    "query cache: %s does not hold a cached value (%s); recomputing", key, exc
                )
            else:
                if found is not _STALE:
                    return found
        value = compute(version)
        try:
            data = b"%d\n" % version + encode(value)
        except EncodeError as exc:
            log.warning("query cache: %s left uncached: %s", key, exc)
            return value
        self._set(key, data)
        return value

    def _read(self, dataset: str, key: str, read_version) -> tuple[int, bytes | None]:
        """(the current data version, the bytes under `key`): one round trip on Redis."""
        if isinstance(self.store, MemoryStore):
            return read_version(), self._get(key)
        published, cached = self._get_many(version_key(dataset), key)
        published = _number(published)
        if published is None or self._due(dataset):
            return self._republish(dataset, published, read_version), cached
        return published, cached

    def _due(self, dataset: str) -> bool:
        return time.monotonic() >= self._verified.get(dataset, 0.0)

    def _republish(self, dataset: str, published: int | None, read_version) -> int:
        """The database's version, published when Redis holds none or an older one; reset
        when Redis holds a newer one than the database (the database started again: a
        version published after a load is never above the database's own)."""
        version = read_version()
        self._verified[dataset] = time.monotonic() + self.verify_every
        if self._resting() or (published is not None and published == version):
            return version
        try:
            if published is not None and published > version:
                reset_version(self.store, dataset, version)
                return version
            return raise_version(self.store, dataset, version)
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return version

    def _value(self, key: str, cached: bytes, version: int) -> Any:
        """The value in `cached` if it was computed for `version`, else _STALE."""
        tag, _, data = cached.partition(b"\n")
        if not tag.isdigit():
            raise DecodeError("no data version in front of the value")
        if int(tag) != version:
            return _STALE
        with self._lock:
            kept = self._decoded.get(key)
            if kept is not None and kept[0] == cached:
                self._decoded.move_to_end(key)
                return copy.deepcopy(kept[1])
        value = decode(data)
        with self._lock:
            self._decoded[key] = (cached, value)
            while len(self._decoded) > self.keep_decoded:
                self._decoded.popitem(last=False)
        return copy.deepcopy(value)

    def _get(self, key: str) -> bytes | None:
        return self._get_many(key)[0]

    def _get_many(self, *keys: str) -> list[bytes | None]:
        if self._resting():
            return [None] * len(keys)
        try:
            values = self.store.mget(keys)
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return [None] * len(keys)
        self.error = None
        return values

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


_STALE = object()  # a cached value of another data version


def _number(value: bytes | None) -> int | None:
    """A published version; None when missing or not a number (not written by us)."""
    return int(value) if value is not None and value.isdigit() else None


def invalidate(store) -> int:
    """Drop every cached query result; returns how many keys went. Quiet when Redis is down."""
    try:
        keys = list(store.scan_iter(match=CACHE_PREFIX + "*"))
        return store.delete(*keys) if keys else 0
    except REDIS_ERRORS as exc:
        log.warning("could not clear the query cache: %s", exc)
        return 0
