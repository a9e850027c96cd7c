"""Shared fixtures: real storage chosen by URL, on SQLite and on TEST_DATABASE_URL."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import NoReturn

import pytest
import redis
from sqlalchemy import text

from core.auth.users import _forget as forget_users
from core.cache import MemoryStore
from core.db.engine import make_engine, migrate
from core.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = Path(os.environ.get("CREDIT_DATA", ROOT.parent / "shared" / "data" / "credit.csv"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Models are signed under a key made for this run (subprocesses inherit it), so no test writes
# a key file into the project's data/; tests of the key file unset it themselves.
os.environ["MODEL_SIGNING_KEY"] = secrets.token_hex(32)


def unavailable(message: str) -> NoReturn:
    """In CI a missing service or browser fails the run; on a laptop the test is skipped and
    says why."""
    if IN_CI:
        pytest.fail(f"CI must run this test, but {message}")
    pytest.skip(message)


def _missing(what: str) -> NoReturn:
    unavailable(f"{what} is not set")


def postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        _missing("TEST_DATABASE_URL")
    return url


def fresh_postgres(url: str):
    """An engine on an emptied `public` schema of the test database."""
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    # The process trusts what it read about users for a few seconds; the emptied schema
    # holds none, whatever the previous test on this URL added.
    forget_users(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    """A migrated, empty database: a new SQLite file, or the emptied test Postgres."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    else:
        engine = fresh_postgres(postgres_url())
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def database_url(engine) -> str:
    """The URL of `engine`, password included, for a subprocess."""
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        _missing("TEST_REDIS_URL")
    return url


@pytest.fixture
def real_redis(redis_url):
    """A real Redis database, flushed before and after the test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(params=["memory", "redis"])
def store(request):
    """The in-process stand-in, and a real Redis: tests of the cache run on both."""
    if request.param == "memory":
        yield MemoryStore()
    else:
        yield request.getfixturevalue("real_redis")


@pytest.fixture
def real_data() -> bytes:
    if not REAL_DATA.is_file():
        pytest.fail(f"the real data set is not at {REAL_DATA}; set CREDIT_DATA")
    return REAL_DATA.read_bytes()


@pytest.fixture
def settings_env(monkeypatch):
    """Set environment variables for get_settings(), re-read before and after the test."""

    def apply(**values: str | None) -> None:
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    monkeypatch.chdir(ROOT)
    for name in ("DATABASE_URL", "REDIS_URL", "CREDIT_DATA"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield apply
    get_settings.cache_clear()


@pytest.fixture
def small_sqlite(tmp_path) -> str:
    """A SQLite database with 1,500 real clients, for training; the local worker a test or
    the dashboard starts on it is stopped after."""
    from core import jobs
    from tests.jobs_support import load_clients

    url = f"sqlite:///{tmp_path / 'credit.db'}"
    engine = make_engine(url)
    load_clients(engine)
    yield url
    jobs.stop_local_worker(engine)
    engine.dispose()


# Settings that make the 24,000 real clients behave like a large portfolio for the medians:
# exact up to 2,000 matching clients, else estimated from a sample of 8,000 aiming at 3,000.
SCALED_MEDIANS = {
    "EXACT_MEDIAN_CLIENTS": "2000",
    "MEDIAN_SAMPLE_SIZE": "8000",
    "MEDIAN_SAMPLE_TARGET": "3000",
}


@pytest.fixture(scope="module")
def estimating_postgres():
    """The real data on the test Postgres, summarised under SCALED_MEDIANS (tests that
    query it set them too): yields the engine."""
    from core import explore
    from core.data.loader import load_file

    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in SCALED_MEDIANS.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        engine = fresh_postgres(postgres_url())
        load_file(engine, REAL_DATA.read_bytes(), "credit.csv")
        explore.refresh_summaries(engine)  # draws the sample at its scaled-down size
    get_settings.cache_clear()
    yield engine
    engine.dispose()
