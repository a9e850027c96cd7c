"""A TestClient on the API over a real database (SQLite file or the test Postgres) and a real
Redis, configured through the environment as a deployment is."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import app
from core.db.engine import forget_engines
from tests.jobs_support import url_of


def client_for(settings_env, **environment) -> TestClient:
    """A TestClient after setting the environment; engines are built anew, so a schema
    dropped by the previous test is migrated again."""
    settings_env(**environment)
    forget_engines()
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def api(engine, real_redis, redis_url, settings_env):
    """The API on `engine`'s database (sqlite and postgres) with the real test Redis."""
    with client_for(settings_env, DATABASE_URL=url_of(engine), REDIS_URL=redis_url) as client:
        yield client
    forget_engines()
