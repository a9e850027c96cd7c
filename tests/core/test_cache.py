"""Counter and query cache on the in-process stand-in and on a real Redis."""

import pytest

from core.cache import (
    HITS_KEY,
    MemoryStore,
    QueryCache,
    connect,
    count_visit,
    invalidate,
    redis_status,
)
from tests.waiting import wait_for

DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_counter_goes_up_by_one_per_visit(store):
    assert [count_visit(store).value for _ in range(3)] == [1, 2, 3]
    assert int(store.get(HITS_KEY)) == 3


def test_cache_computes_once_then_serves(store):
    cache, calls = QueryCache(store, ttl=60), []

    def compute():
        calls.append(1)
        return {"average_age": 35.5}

    assert cache.get_or_compute(1, "age", {"sex": [1]}, compute) == {"average_age": 35.5}
    assert cache.get_or_compute(1, "age", {"sex": [1]}, compute) == {"average_age": 35.5}
    assert len(calls) == 1 and cache.error is None


def test_cache_keys_carry_parameters_and_data_version(store):
    cache, calls = QueryCache(store, ttl=60), []
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    cache.get_or_compute(1, "age", {"sex": [1]}, compute)
    cache.get_or_compute(1, "age", {"sex": [2]}, compute)
    cache.get_or_compute(2, "age", {"sex": [1]}, compute)  # a load changed the data version
    assert len(calls) == 3


def test_parameter_order_does_not_matter():
    assert QueryCache.key(1, "q", {"a": 1, "b": 2}) == QueryCache.key(1, "q", {"b": 2, "a": 1})


def test_entries_expire_after_their_ttl(store):
    cache, calls = QueryCache(store, ttl=1), []
    compute = lambda: calls.append(1) or "value"  # noqa: E731
    cache.get_or_compute(1, "q", {}, compute)
    # Served from the cache until the entry expires, then computed again.
    wait_for(
        lambda: cache.get_or_compute(1, "q", {}, compute) and len(calls) == 2,
        timeout=30,
        message="a result cached with a 1 s TTL was still served",
    )
    assert cache.error is None


def test_invalidate_drops_cached_results_but_not_the_counter(store):
    count_visit(store)
    QueryCache(store).get_or_compute(1, "q", {}, lambda: "x")
    assert invalidate(store) == 1
    assert int(store.get(HITS_KEY)) == 1


def test_redis_down_counter_says_unavailable_and_why():
    count = count_visit(connect(DOWN))
    assert count.value is None and "unavailable" in count.error and "127.0.0.1:1" in count.error


def test_redis_down_cache_computes_uncached_and_says_the_cache_is_off():
    cache = QueryCache(connect(DOWN))
    assert cache.get_or_compute(1, "q", {}, lambda: 42) == 42
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
