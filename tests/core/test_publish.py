"""Publishing new data: load, clear the cached queries, rebuild the summaries, in order."""

import pytest
from sqlalchemy import text

from core.cache import CACHE_PREFIX, version_key
from core.data.dataset import DataError, validate_frame
from core.data.publish import SUMMARIES_STAGE, publish, publish_file
from core.data.status import data_status, load_history
from core.data.synthetic import synthetic
from core.explore.cached import dataset_name
from core.explore.summaries import CLIENT_SUMMARY, PAYMENT_SUMMARIES, summary_version
from tests.core.test_loader import THREE_CLIENTS

CACHED = CACHE_PREFIX + "v1:figures:0123"


def test_a_file_is_loaded_the_cache_cleared_and_the_summaries_built(engine, store):
    store.set(CACHED, b"old figures")
    stages = []
    published = publish_file(engine, store, THREE_CLIENTS, "three.csv", stage=stages.append)
    assert published.summaries_error is None
    assert (published.load.clients_added, published.load.payments_written) == (3, 18)
    assert store.get(CACHED) is None
    assert stages == [SUMMARIES_STAGE]
    version = data_status(engine).version
    assert (
        summary_version(engine, CLIENT_SUMMARY)
        == summary_version(engine, PAYMENT_SUMMARIES)
        == version
        == 1
    )
    assert [h.source for h in load_history(engine)] == ["three.csv"]
    # Every process's query cache on this store reads the new version from it.
    assert store.get(version_key(dataset_name(engine))) == b"1"


def test_a_database_loaded_again_from_empty_publishes_its_own_version(engine, store):
    store.set(version_key(dataset_name(engine)), b"9")  # left by an earlier life of the database
    publish(engine, store, validate_frame(synthetic(20)), "twenty")
    assert store.get(version_key(dataset_name(engine))) == b"1"


def test_a_bad_file_stops_before_the_cache_and_the_summaries(engine, store):
    store.set(CACHED, b"old figures")
    with pytest.raises(DataError, match="missing columns"):
        publish_file(engine, store, b"LIMIT_BAL,SEX\n1,2\n", "bad.csv")
    assert store.get(CACHED) == b"old figures"
    assert store.get(version_key(dataset_name(engine))) is None
    assert data_status(engine).empty and load_history(engine) == []


def test_summaries_that_fail_leave_the_load_in_place_and_say_why(engine, store):
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE client_summary"))  # a database that fails later
    published = publish(engine, store, validate_frame(synthetic(20)), "twenty")
    assert "is unavailable" in published.summaries_error
    assert "client_summary" in published.summaries_error
    assert data_status(engine).clients == 20
