"""Explore queries on SQLite and Postgres, checked against the same computation in pandas.

Each filter combination runs every query of the Clients and Payments pages on a sample of
the real data and compares with core.frames (pandas on the whole tables) on the same rows.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

import frames
from core import explore
from core.cache import MemoryStore, QueryCache, connect
from core.data.dataset import parse_csv
from core.data.loader import load_frame
from core.data.publish import publish
from core.data.synthetic import synthetic
from core.db.engine import DatabaseError, make_engine
from core.db.schema import (
    ClientSummary,
    SummaryState,
    client_months,
    median_sample,
    overall_medians,
    payment_summary,
    status_moves,
)
from core.encoding import decode
from core.explore.filters import Filters
from core.explore.sql import PAIRS
from core.vocabulary import ID
from tests.migrations_support import downgrade_to
from tests.tcp_proxy import TcpProxy

SAMPLE_ROWS = 3_000
SUMMARY_TABLES = (client_months, overall_medians, payment_summary, status_moves)

FILTERS = [
    Filters(),
    Filters(sex=(1,)),
    Filters(sex=(2,), education=(1, 2)),
    Filters(education=(0, 4, 5, 6)),  # the codes the documentation does not know
    Filters(marriage=(0, 3)),
    Filters(age=(30, 40)),
    Filters(limit_bal=(50_000, 200_000)),
    Filters(defaulted=True),
    Filters(marriage=(2,), defaulted=False),
    Filters(
        sex=(2,),
        education=(2,),
        marriage=(1,),
        age=(25, 45),
        limit_bal=(20_000, 300_000),
        defaulted=False,
    ),
    Filters(age=(18, 20)),  # nobody in the data is under 21: no clients match
]


@pytest.fixture(scope="module")
def sample(real_data_module) -> pd.DataFrame:
    """The first SAMPLE_ROWS clients of the real data set, validated."""
    lines = real_data_module.split(b"\n")
    return parse_csv(b"\n".join(lines[: SAMPLE_ROWS + 1]))


@pytest.fixture(scope="module")
def real_data_module() -> bytes:
    from tests.conftest import REAL_DATA

    if not REAL_DATA.is_file():
        pytest.fail(f"the real data set is not at {REAL_DATA}; set CREDIT_DATA")
    return REAL_DATA.read_bytes()


@pytest.fixture
def loaded(engine, sample):
    """The sample loaded into the engine; returns (engine, clients frame, payments frame)."""
    load_frame(engine, sample, "sample")
    return (engine, *frames.read_tables(engine))


def same(sql: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        sql.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )


def exactly(sql: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal to the last bit: the summaries must not round what they add up."""
    pd.testing.assert_frame_equal(
        sql.reset_index(drop=True), expected.reset_index(drop=True), check_exact=True
    )


def same_figures(actual: explore.Figures, expected: explore.Figures) -> None:
    assert actual.clients == expected.clients
    for name in ("average_age", "default_rate", "average_limit"):
        value = getattr(expected, name)
        assert getattr(actual, name) == (None if value is None else pytest.approx(value))


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: f.describe())
def test_every_query_equals_pandas_on_the_same_data(loaded, filters):
    engine, clients, payments = loaded
    expected = frames.figures(clients, filters)
    same_figures(explore.figures(engine, filters), expected)
    same(explore.age_distribution(engine, filters), frames.age_distribution(clients, filters))
    for by in explore.BREAKDOWNS:
        same(explore.default_rates(engine, filters, by), frames.default_rates(clients, filters, by))
    same(explore.limit_distribution(engine, filters), frames.limit_distribution(clients, filters))
    for sort, descending, page in [("id", False, 1), ("age", True, 2), ("limit_bal", False, 3)]:
        same(
            explore.client_table(engine, filters, sort=sort, descending=descending, page=page),
            frames.client_table(clients, filters, sort=sort, descending=descending, page=page),
        )
    same(explore.payment_months(engine, filters), frames.payment_months(clients, payments, filters))
    exactly(
        explore.payment_totals(engine, filters), frames.payment_totals(clients, payments, filters)
    )
    exactly(
        explore.payment_medians(engine, filters),
        frames.payment_medians(clients, payments, filters),
    )
    for month in (None, 1, 5):
        same(
            explore.status_transitions(engine, filters, month=month),
            frames.status_transitions(clients, payments, filters, month=month),
        )


@pytest.mark.parametrize("filters", FILTERS[::3], ids=lambda f: f.describe())
def test_export_is_the_matching_clients_in_the_data_sets_format(loaded, sample, filters):
    engine, clients, _ = loaded
    ids = frames.matching(clients, filters)["id"]
    exported = b"".join(explore.export_csv(engine, filters, chunk_size=500))
    expected = sample[sample[ID].isin(ids)].reset_index(drop=True)
    if expected.empty:
        assert exported.decode().splitlines() == [",".join(explore.EXPORT_COLUMNS)]
    else:
        pd.testing.assert_frame_equal(parse_csv(exported), expected)


def test_export_comes_in_chunks(loaded):
    engine, clients, _ = loaded
    chunks = list(explore.export_csv(engine, Filters(), chunk_size=1_000))
    assert len(chunks) == 1 + 3  # the header, then 3,000 clients 1,000 at a time
    assert sum(chunk.count(b"\n") for chunk in chunks) == 1 + len(clients)


def test_nothing_matches_gives_zero_and_empty_results(loaded):
    engine, _, _ = loaded
    nobody = Filters(age=(18, 20))
    assert explore.figures(engine, nobody) == explore.Figures(0, None, None, None)
    assert explore.age_distribution(engine, nobody).empty
    assert explore.default_rates(engine, nobody, "sex").empty
    assert explore.client_table(engine, nobody).empty
    assert explore.payment_months(engine, nobody).empty
    assert explore.status_transitions(engine, nobody).empty


def test_average_age_of_all_real_clients(engine, real_data_module):
    """The seed's /query/clients/age/ with no filter: the average over all 24,000 clients."""
    load_frame(engine, parse_csv(real_data_module), "credit.csv")
    expected = parse_csv(real_data_module)["AGE"].mean()
    assert explore.figures(engine, Filters()).average_age == pytest.approx(expected)
    assert explore.figures(engine, Filters()).clients == 24_000
    assert explore.bounds(engine) == explore.Bounds((21, 79), (10_000, 1_000_000))


def test_client_lookup_profile_and_six_months(loaded, sample):
    engine, _, _ = loaded
    record = explore.client_lookup(engine, 7)
    row = sample[sample[ID] == 7].iloc[0]
    assert record.profile["id"] == 7 and record.profile["age"] == row["AGE"]
    assert record.profile["sex_label"] == {1: "male", 2: "female"}[row["SEX"]]
    assert record.profile["defaulted"] == bool(row["default"])
    history = record.history
    assert list(history["label"]) == ["Apr 2005", "May 2005", "Jun 2005", "Jul 2005",
                                      "Aug 2005", "Sep 2005"]  # fmt: skip
    assert list(history["status"]) == [row[f"PAY_{m}"] for m in range(6, 0, -1)]
    assert list(history["bill_amt"]) == [row[f"BILL_AMT{m}"] for m in range(6, 0, -1)]
    assert list(history["pay_amt"]) == [row[f"PAY_AMT{m}"] for m in range(6, 0, -1)]


@pytest.mark.parametrize("client_id", [SAMPLE_ROWS + 1, 0, -5, 2**63])
def test_unknown_client_is_none(loaded, client_id):
    engine, _, _ = loaded
    assert explore.client_lookup(engine, client_id) is None


def test_cache_serves_repeats_and_a_load_invalidates(engine, store, sample):
    publish(engine, store, sample, "sample")
    cache = QueryCache(store, ttl=60, verify_every=3600)
    first = explore.figures(engine, Filters(sex=(2,)), cache=cache)
    # Change the summary behind the cache's back: a cached answer does not see it.
    with engine.begin() as connection:
        connection.execute(ClientSummary.__table__.delete())
    assert explore.figures(engine, Filters(sex=(2,)), cache=cache) == first
    assert explore.figures(engine, Filters(sex=(2,))).clients == 0  # uncached does
    (key,) = [k for k in store.scan_iter(match="credit:cache:*")]
    before = store.get(key)
    # A load moves the data version on: cached answers are not used, the summary is rebuilt.
    more = synthetic(500).assign(ID=lambda f: f[ID] + 10_000)
    publish(engine, store, more, "more clients")
    # Even the result of a query that started before the load and was stored after it.
    store.set(key, before)
    after = explore.figures(engine, Filters(sex=(2,)), cache=cache)
    clients, _ = frames.read_tables(engine)
    same_figures(after, frames.figures(clients, Filters(sex=(2,))))
    assert after.clients > first.clients
    assert explore.figures(engine, Filters(sex=(2,)), cache=cache) == after


def test_a_load_by_another_process_is_seen_at_once(engine, real_redis, redis_url, sample, tmp_path):
    publish(engine, connect(redis_url), sample, "sample")
    # Two processes' caches (the dashboard's and the API's), neither asking the database.
    dashboard, api = (QueryCache(connect(redis_url), verify_every=3600) for _ in range(2))
    first = explore.figures(engine, Filters(), cache=dashboard)
    assert explore.figures(engine, Filters(), cache=api) == first
    more = tmp_path / "more.csv"
    synthetic(200).assign(ID=lambda f: f[ID] + 10_000).to_csv(more, index=False)
    environment = {**os.environ, "REDIS_URL": redis_url}
    environment["DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    done = subprocess.run(
        [sys.executable, "-m", "core", "load", "--csv", str(more)],
        cwd=Path(__file__).resolve().parents[2],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for cache in (dashboard, api):
        assert explore.figures(engine, Filters(), cache=cache).clients == first.clients + 200


def test_the_published_version_is_per_database(engine, tmp_path, sample, real_redis, redis_url):
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    store = connect(redis_url)
    publish(engine, store, sample, "sample")
    publish(other, store, sample.iloc[:100], "fewer")
    publish(other, store, sample.iloc[100:200], "more")  # other is at version 2, engine at 1
    cache = QueryCache(store, verify_every=3600)
    assert explore.figures(engine, Filters(), cache=cache).clients == SAMPLE_ROWS
    assert explore.figures(other, Filters(), cache=cache).clients == 200
    publish(engine, store, synthetic(10).assign(ID=lambda f: f[ID] + 10_000), "ten")
    assert explore.figures(engine, Filters(), cache=cache).clients == SAMPLE_ROWS + 10
    other.dispose()


# Every kind of value the explore queries put in the cache: frames, dataclasses, None.
CACHED_CALLS = {
    "figures": lambda e, c: explore.figures(e, Filters(sex=(2,)), cache=c),
    "figures, nobody": lambda e, c: explore.figures(e, Filters(age=(18, 20)), cache=c),
    "bounds": lambda e, c: explore.bounds(e, cache=c),
    "age chart": lambda e, c: explore.age_distribution(e, Filters(), cache=c),
    "default rates": lambda e, c: [
        explore.default_rates(e, Filters(defaulted=True), by, cache=c) for by in explore.BREAKDOWNS
    ],
    "limit chart": lambda e, c: explore.limit_distribution(e, Filters(marriage=(1,)), cache=c),
    "client table": lambda e, c: explore.client_table(e, Filters(), sort="age", cache=c),
    "client table, nobody": lambda e, c: explore.client_table(e, Filters(age=(18, 20)), cache=c),
    "payment months": lambda e, c: explore.payment_months(e, Filters(sex=(1,)), cache=c),
    "medians, no filter": lambda e, c: explore.payment_medians(e, Filters(), cache=c),
    "exact medians": lambda e, c: explore.payment_medians(e, Filters(), exact=True, cache=c),
    "transitions": lambda e, c: explore.status_transitions(e, Filters(), month=1, cache=c),
    "client": lambda e, c: explore.client_lookup(e, 7, cache=c),
    "no such client": lambda e, c: explore.client_lookup(e, SAMPLE_ROWS + 1, cache=c),
}


def identical(actual, expected) -> None:
    """Equal values of the same types; frames to the last bit, dtypes, index and None/NaN."""
    assert type(actual) is type(expected)
    if isinstance(expected, list):
        assert len(actual) == len(expected)
        for a, b in zip(actual, expected, strict=True):
            identical(a, b)
    elif isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(actual, expected, check_exact=True, check_column_type=True)
        assert type(actual.index) is type(expected.index)
        for name in expected.columns[expected.dtypes.map(pd.api.types.is_object_dtype)]:
            assert [type(v) for v in actual[name]] == [type(v) for v in expected[name]], name
    elif isinstance(expected, explore.ClientRecord):
        assert actual.profile == expected.profile
        assert [type(v) for v in actual.profile.values()] == [
            type(v) for v in expected.profile.values()
        ]
        identical(actual.history, expected.history)
    else:
        assert actual == expected


def empty_every_table(engine) -> None:
    """Delete the clients and every summary, leaving the data version: only hits answer."""
    with engine.begin() as connection:
        for table in (*SUMMARY_TABLES, median_sample, ClientSummary.__table__):
            connection.execute(table.delete())
        connection.execute(text("DELETE FROM payments"))
        connection.execute(text("DELETE FROM clients"))


def test_every_cached_kind_comes_back_exactly_from_the_cache(loaded, store):
    engine = loaded[0]
    expected = {name: call(engine, None) for name, call in CACHED_CALLS.items()}
    cache = QueryCache(store, ttl=60)
    for name, call in CACHED_CALLS.items():
        identical(call(engine, cache), expected[name])  # a miss: computed and stored
    empty_every_table(engine)
    assert explore.figures(engine, Filters(sex=(2,))).clients == 0  # uncached sees it
    for name, call in CACHED_CALLS.items():
        identical(call(engine, cache), expected[name])  # a hit: decoded from the store
    assert cache.error is None


class Planted:
    """Unpickling this creates the marker file: proof that pickle ran code from Redis."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_planted_in_redis_is_never_loaded(loaded, real_redis, redis_url, tmp_path, caplog):
    engine, clients, _ = loaded
    cache = QueryCache(connect(redis_url), ttl=60)
    right = explore.figures(engine, Filters(sex=(1,)), cache=cache)
    (key,) = real_redis.scan_iter(match="credit:cache:*")
    marker = tmp_path / "pickle-ran"
    planted = pickle.dumps(Planted(marker))
    real_redis.set(key, planted)

    with caplog.at_level(logging.WARNING, logger="core.cache"):
        again = explore.figures(engine, Filters(sex=(1,)), cache=cache)
    assert not marker.exists()
    assert again == right
    same_figures(again, frames.figures(clients, Filters(sex=(1,))))
    assert real_redis.get(key) != planted  # overwritten with the value, as data
    version, _, value = real_redis.get(key).partition(b"\n")
    assert version == b"1" and decode(value) == right  # the data version, then the value
    assert "does not hold a cached value" in caplog.text
    # The planted bytes are a working exploit: pickle would have run them.
    pickle.loads(planted).close()
    assert marker.exists()


def test_two_databases_sharing_a_cache_do_not_mix(engine, tmp_path, sample):
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    load_frame(engine, sample, "sample")
    load_frame(other, sample.iloc[:100], "fewer")  # the same data version, 1
    cache = QueryCache(MemoryStore())
    assert explore.figures(engine, Filters(), cache=cache).clients == SAMPLE_ROWS
    assert explore.figures(other, Filters(), cache=cache).clients == 100
    other.dispose()


def test_summary_is_rebuilt_once_per_data_version(engine, sample):
    load_frame(engine, sample, "sample")
    assert explore.summary_version(engine) == 0
    assert explore.refresh_summary(engine, 1) is True
    assert explore.refresh_summary(engine, 1) is False
    assert explore.summary_version(engine) == 1
    with engine.connect() as connection:
        rows = connection.scalar(select(func.sum(ClientSummary.clients)))
    assert rows == SAMPLE_ROWS


def test_concurrent_refreshes_build_the_summary_once(engine, sample):
    load_frame(engine, sample, "sample")
    results, barrier = [], threading.Barrier(4)

    def refresh():
        barrier.wait()
        results.append(explore.refresh_summary(engine, 1))

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert explore.figures(engine, Filters()).clients == SAMPLE_ROWS


# One filter set per grain of payment_summary and status_moves: neither range (0), age (1),
# credit limit (2), both (3); each with a choice filter too, so the cells are really summed.
GRAIN_FILTERS = {
    0: Filters(sex=(2,), marriage=(1, 2)),
    1: Filters(age=(25, 35), education=(1, 2)),
    2: Filters(limit_bal=(30_000, 150_000), defaulted=True),
    3: Filters(age=(22, 60), limit_bal=(10_000, 500_000), sex=(1,)),
}


@pytest.mark.parametrize("grain", GRAIN_FILTERS)
def test_payments_summaries_equal_pandas_at_every_grain(loaded, grain):
    engine, clients, payments = loaded
    filters = GRAIN_FILTERS[grain]
    exactly(
        explore.payment_totals(engine, filters), frames.payment_totals(clients, payments, filters)
    )
    exactly(
        explore.payment_medians(engine, filters),
        frames.payment_medians(clients, payments, filters),
    )
    for month in (None, *PAIRS):
        exactly(
            explore.status_transitions(engine, filters, month=month),
            frames.status_transitions(clients, payments, filters, month=month),
        )


@pytest.mark.parametrize("table", [payment_summary, status_moves], ids=lambda t: t.name)
def test_every_grain_of_a_payments_summary_adds_up_to_the_same(loaded, table):
    engine = loaded[0]
    explore.refresh_summary(engine, 1, explore.PAYMENT_SUMMARIES)
    counted = [column for column in table.c if column.name.startswith(("clients", "into_"))]
    counted += [column for column in table.c if column.name.startswith(("bill_", "paid_"))]
    totals = select(table.c.grain, *(func.sum(column) for column in counted))
    with engine.connect() as connection:
        rows = connection.execute(totals.group_by(table.c.grain).order_by(table.c.grain)).all()
    assert [row[0] for row in rows] == [0, 1, 2, 3]
    assert len({tuple(row[1:]) for row in rows}) == 1


def test_payments_summaries_are_rebuilt_for_a_new_data_version(engine, sample):
    load_frame(engine, sample, "sample")
    before = explore.payment_totals(engine, Filters(age=(30, 40)))
    assert explore.summary_version(engine, explore.PAYMENT_SUMMARIES) == 1
    # Upsert: some clients change their payments, others are new.
    more = synthetic(400, seed=3).assign(ID=lambda f: f[ID] + SAMPLE_ROWS - 200)
    load_frame(engine, more, "more clients")
    clients, payments = frames.read_tables(engine)
    filters = Filters(age=(30, 40), limit_bal=(10_000, 400_000))
    for check in (Filters(), Filters(age=(30, 40)), filters):
        exactly(
            explore.payment_totals(engine, check), frames.payment_totals(clients, payments, check)
        )
        exactly(
            explore.payment_medians(engine, check),
            frames.payment_medians(clients, payments, check),
        )
        exactly(
            explore.status_transitions(engine, check),
            frames.status_transitions(clients, payments, check),
        )
    assert explore.summary_version(engine, explore.PAYMENT_SUMMARIES) == 2
    assert not explore.payment_totals(engine, Filters(age=(30, 40))).equals(before)


def test_unfiltered_medians_are_read_from_their_summary(loaded):
    """Every client's medians are computed once per data version, not sorted per view."""
    engine, clients, payments = loaded
    explore.refresh_summary(engine, 1, explore.PAYMENT_SUMMARIES)
    with engine.begin() as connection:
        stored = connection.scalar(select(func.count()).select_from(overall_medians))
        connection.execute(client_months.delete())  # what a filtered view sorts
    assert stored == 6
    exactly(
        explore.payment_medians(engine, Filters()),
        frames.payment_medians(clients, payments, Filters()),
    )
    assert explore.payment_medians(engine, Filters(sex=(1,))).empty


def test_a_database_summarised_before_overall_medians_existed_gets_them(loaded):
    """Migration 0006 marks the payments summaries stale, so the next query fills the table."""
    engine, clients, payments = loaded
    explore.refresh_summary(engine, 1, explore.PAYMENT_SUMMARIES)
    downgrade_to(engine, "0005")
    upgraded = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        exactly(
            explore.payment_medians(upgraded, Filters()),
            frames.payment_medians(clients, payments, Filters()),
        )
        assert explore.summary_version(upgraded, explore.PAYMENT_SUMMARIES) == 1
    finally:
        upgraded.dispose()


def test_each_summary_set_is_built_when_a_query_first_needs_it(engine, sample):
    load_frame(engine, sample, "sample")
    explore.figures(engine, Filters())
    assert explore.summary_version(engine, explore.CLIENT_SUMMARY) == 1
    assert explore.summary_version(engine, explore.PAYMENT_SUMMARIES) == 0
    explore.status_transitions(engine, Filters())
    assert explore.summary_version(engine, explore.PAYMENT_SUMMARIES) == 1


def test_concurrent_refreshes_build_the_payments_summaries_once(engine, sample):
    load_frame(engine, sample, "sample")
    results, barrier = [], threading.Barrier(3)

    def refresh():
        barrier.wait()
        results.append(explore.refresh_summary(engine, 1, explore.PAYMENT_SUMMARIES))

    threads = [threading.Thread(target=refresh) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, True]
    assert explore.payment_totals(engine, Filters())["clients"].tolist() == [SAMPLE_ROWS] * 6


def test_summaries_lost_with_their_state_are_rebuilt(loaded):
    """Postgres empties UNLOGGED tables after a crash: summaries and state rows together."""
    engine, clients, payments = loaded
    explore.figures(engine, Filters())
    explore.payment_totals(engine, Filters())
    with engine.begin() as connection:
        for table in (ClientSummary.__table__, *SUMMARY_TABLES):
            connection.execute(table.delete())
        connection.execute(SummaryState.__table__.delete())
    assert explore.figures(engine, Filters()).clients == SAMPLE_ROWS
    for filters in (Filters(), Filters(sex=(1,))):
        exactly(
            explore.payment_months(engine, filters),
            frames.payment_months(clients, payments, filters),
        )
    assert explore.summary_version(engine, explore.PAYMENT_SUMMARIES) == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: explore.client_table(e, Filters(), sort="password"), "sorts by id, limit_bal"),
        (lambda e: explore.client_table(e, Filters(), page=0), "page starts at 1"),
        (lambda e: explore.default_rates(e, Filters(), "age"), "broken down by sex"),
        (lambda e: explore.status_transitions(e, Filters(), month=6), "month is 1"),
    ],
)
def test_bad_arguments_are_refused(loaded, call, message):
    with pytest.raises(ValueError, match=message):
        call(loaded[0])


def test_redis_down_results_are_computed_and_the_cache_says_off(loaded):
    engine, clients, _ = loaded
    cache = QueryCache(connect("redis://127.0.0.1:1/0"))
    same_figures(
        explore.figures(engine, Filters(sex=(1,)), cache=cache),
        frames.figures(clients, Filters(sex=(1,))),
    )
    assert cache.error.startswith("cache off: Redis at 127.0.0.1:1 (database 0) is unavailable")


def test_a_failed_redis_is_left_alone_for_a_while_then_tried_again(real_redis, redis_url):
    parts = urlsplit(redis_url)
    with TcpProxy(parts.hostname, parts.port or 6379) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}{parts.path}"
        resting = QueryCache(connect(url), retry_after=3600)
        eager = QueryCache(connect(url), retry_after=0)

        def get(cache, name, value):
            return cache.get_or_compute("db", name, {}, lambda _version: value, lambda: 1)

        assert get(resting, "q", 1) == 1 and resting.error is None
        proxy.stop()
        for cache in (resting, eager):
            assert get(cache, "down", 2) == 2
            assert cache.error.startswith("cache off")
        proxy.start()
        # Redis is back. The resting cache does not ask it yet; the eager one does at once.
        assert get(resting, "back", 3) == 3
        assert resting.error is not None and real_redis.get(resting.key("db", "back", {})) is None
        assert get(eager, "back", 4) == 4
        assert eager.error is None and real_redis.get(eager.key("db", "back", {})) is not None


def test_database_down_raises_a_readable_error():
    engine = make_engine("postgresql://root@127.0.0.1:1/credit")
    with pytest.raises(DatabaseError, match="127.0.0.1:1/credit is unavailable"):
        explore.figures(engine, Filters())
    with pytest.raises(DatabaseError, match="is unavailable"):
        list(explore.export_csv(engine, Filters()))


def test_queries_work_again_when_the_database_returns(tmp_path, sample):
    """Postgres goes away behind a proxy and comes back: the same engine recovers."""
    from tests.conftest import fresh_postgres, postgres_url

    url = make_url(postgres_url())
    fresh_postgres(postgres_url()).dispose()
    with TcpProxy(url.host, url.port or 5432) as proxy:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port)
        engine = make_engine(through_proxy.render_as_string(hide_password=False))
        load_frame(engine, sample, "sample")
        assert explore.figures(engine, Filters()).clients == SAMPLE_ROWS
        proxy.stop()
        with pytest.raises(DatabaseError, match="is unavailable"):
            explore.figures(engine, Filters(sex=(1,)))
        proxy.start()
        assert explore.figures(engine, Filters(sex=(1,))).clients > 0
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
        engine.dispose()
