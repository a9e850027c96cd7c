"""Counter and query cache on the in-process stand-in and on a real Redis."""

import pytest

from core.cache import (
    HITS_KEY,
    MemoryStore,
    QueryCache,
    connect,
    count_visit,
    invalidate,
    raise_version,
    redis_status,
    version_key,
)
from tests.waiting import wait_for

DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1
DB = "sqlite:///credit.db"


def version(number: int):
    """A database whose data version is `number`."""
    return lambda: number


def test_counter_goes_up_by_one_per_visit(store):
    assert [count_visit(store).value for _ in range(3)] == [1, 2, 3]
    assert int(store.get(HITS_KEY)) == 3


def test_cache_computes_once_then_serves(store):
    cache, calls = QueryCache(store, ttl=60), []

    def compute(_version):
        calls.append(1)
        return {"average_age": 35.5}

    def get():
        return cache.get_or_compute(DB, "age", {"sex": [1]}, compute, version(1))

    assert get() == {"average_age": 35.5}
    assert get() == {"average_age": 35.5}
    assert len(calls) == 1 and cache.error is None


def test_cache_keys_carry_parameters_and_database(store):
    cache, calls = QueryCache(store, ttl=60), []
    compute = lambda _version: calls.append(1) or len(calls)  # noqa: E731
    cache.get_or_compute(DB, "age", {"sex": [1]}, compute, version(1))
    cache.get_or_compute(DB, "age", {"sex": [2]}, compute, version(1))
    cache.get_or_compute("sqlite:///other.db", "age", {"sex": [1]}, compute, version(1))
    assert cache.get_or_compute(DB, "age", {"sex": [1]}, compute, version(1)) == 1
    assert len(calls) == 3


def test_a_value_computed_for_another_data_version_is_a_miss(store):
    cache, calls = QueryCache(store, ttl=60, verify_every=3600), []
    compute = lambda number: calls.append(number) or f"at {number}"  # noqa: E731
    assert cache.get_or_compute(DB, "q", {}, compute, version(1)) == "at 1"
    # A load: the database's version moves on and is published (the stand-in asks the
    # database every time; Redis holds the published version).
    raise_version(store, DB, 2)
    assert cache.get_or_compute(DB, "q", {}, compute, version(2)) == "at 2"
    assert cache.get_or_compute(DB, "q", {}, compute, version(2)) == "at 2"
    assert calls == [1, 2]


def test_on_redis_a_hit_reads_the_published_version_not_the_database(real_redis, redis_url):
    cache, asked = QueryCache(connect(redis_url), verify_every=3600), []

    def database_version() -> int:
        asked.append(1)
        return 3

    for _ in range(5):
        assert cache.get_or_compute(DB, "q", {}, lambda n: n * 10, database_version) == 30
    assert len(asked) == 1  # the first time: nothing published yet
    assert real_redis.get(version_key(DB)) == b"3"  # ... so it was published


def test_a_missing_version_is_read_from_the_database_and_republished(real_redis, redis_url):
    cache = QueryCache(connect(redis_url), verify_every=3600)
    compute = lambda number: f"at {number}"  # noqa: E731
    assert cache.get_or_compute(DB, "q", {}, compute, version(4)) == "at 4"
    real_redis.delete(version_key(DB))  # Redis restarted without its keys, or evicted it
    assert cache.get_or_compute(DB, "q", {}, compute, version(5)) == "at 5"
    assert real_redis.get(version_key(DB)) == b"5"


def test_publishing_never_lowers_the_version(store):
    assert raise_version(store, DB, 7) == 7
    assert raise_version(store, DB, 6) == 7  # a load that finished after a newer one
    assert raise_version(store, DB, 8) == 8
    assert int(store.get(version_key(DB))) == 8


def test_a_version_left_behind_is_mended_when_the_database_is_next_asked(real_redis, redis_url):
    cache = QueryCache(connect(redis_url), verify_every=0)
    compute = lambda number: f"at {number}"  # noqa: E731
    assert cache.get_or_compute(DB, "q", {}, compute, version(1)) == "at 1"
    # A load whose publish did not reach Redis: the database is at 2, Redis still says 1.
    assert cache.get_or_compute(DB, "q", {}, compute, version(2)) == "at 2"
    assert real_redis.get(version_key(DB)) == b"2"
    # The database emptied and loaded once: a version below the published one wins.
    assert cache.get_or_compute(DB, "q", {}, compute, version(1)) == "at 1"
    assert real_redis.get(version_key(DB)) == b"1"


def test_a_hit_returns_a_copy_that_callers_may_change(store):
    cache = QueryCache(store)
    compute = lambda _version: {"rows": [1, 2]}  # noqa: E731
    cache.get_or_compute(DB, "q", {}, compute, version(1))
    cache.get_or_compute(DB, "q", {}, compute, version(1))["rows"].append(3)
    assert cache.get_or_compute(DB, "q", {}, compute, version(1)) == {"rows": [1, 2]}


def test_parameter_order_does_not_matter():
    assert QueryCache.key(DB, "q", {"a": 1, "b": 2}) == QueryCache.key(DB, "q", {"b": 2, "a": 1})


def test_entries_expire_after_their_ttl(store):
    cache, calls = QueryCache(store, ttl=1), []
    compute = lambda _version: calls.append(1) or "value"  # noqa: E731
    cache.get_or_compute(DB, "q", {}, compute, version(1))
    # Served from the cache until the entry expires, then computed again.
    wait_for(
        lambda: cache.get_or_compute(DB, "q", {}, compute, version(1)) and len(calls) == 2,
        timeout=30,
        message="a result cached with a 1 s TTL was still served",
    )
    assert cache.error is None


def test_invalidate_drops_cached_results_but_not_the_counter(store):
    count_visit(store)
    QueryCache(store).get_or_compute(DB, "q", {}, lambda _version: "x", version(1))
    assert invalidate(store) == 1
    assert int(store.get(HITS_KEY)) == 1


def test_redis_down_counter_says_unavailable_and_why():
    count = count_visit(connect(DOWN))
    assert count.value is None and "unavailable" in count.error and "127.0.0.1:1" in count.error


def test_redis_down_cache_computes_uncached_and_says_the_cache_is_off():
    cache = QueryCache(connect(DOWN))
    assert cache.get_or_compute(DB, "q", {}, lambda _version: 42, version(1)) == 42
    assert cache.error == (
        "cache off: Redis at 127.0.0.1:1 (database 0) is unavailable: connection refused: is "
        "Redis running?"
    )
    assert invalidate(connect(DOWN)) == 0


def test_status_lines(real_redis, redis_url):
    assert redis_status(connect(redis_url))[0] is True
    assert redis_status(MemoryStore()) == (True, "in-process cache (REDIS_URL not set) answers")
    ok, text = redis_status(connect(DOWN))
    assert not ok and "unavailable" in text


@pytest.mark.parametrize("url", [None])
def test_without_redis_url_the_stand_in_is_used(url):
    assert isinstance(connect(url), MemoryStore)
