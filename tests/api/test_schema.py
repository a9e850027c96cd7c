"""Property-based run against the OpenAPI schema (schemathesis): whatever the input, no
response is a 5xx. A loaded SQLite database with a trained version and a real Redis; jobs go
to an RQ queue no worker listens on, so nothing is trained. Bounded: 20 examples per
operation with a fixed seed."""

from __future__ import annotations

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import app
from core.db.engine import forget_engines, make_engine
from core.settings import get_settings
from tests.conftest import unavailable
from tests.jobs_support import load_clients, url_of
from tests.trained import register

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The environment of a deployment with 1,500 clients and model version 1.0."""
    import os

    redis_url = os.environ.get("TEST_REDIS_URL") or unavailable("TEST_REDIS_URL is not set")
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('schema') / 'credit.db'}")
    load_clients(engine)
    register(engine, "1.0", "lr")
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("DATABASE_URL", url_of(engine))
        monkeypatch.setenv("REDIS_URL", redis_url)
        get_settings.cache_clear()
        forget_engines()
        yield
    get_settings.cache_clear()
    forget_engines()
    client.flushdb()
    client.close()
    engine.dispose()


@schema.parametrize()
@settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_no_input_gives_a_server_error(case, loaded):
    response = case.call()
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} gave {response.status_code}: {response.text[:500]}"
    )
    assert "Traceback" not in response.text
