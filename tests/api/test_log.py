"""The API's serving path: the default model loaded at start; the prediction log buffered
off the request path, written when the API shuts down, and reported by /ready when it
cannot be written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.db.engine import get_engine
from core.db.schema import Prediction
from core.serving.log_buffer import prediction_log
from core.serving.scoring import get_model
from core.vocabulary import FEATURES
from tests.api.conftest import client_for
from tests.jobs_support import real_frame, url_of
from tests.queries import counting_queries
from tests.trained import register


def count_logged(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Prediction))


@pytest.fixture
def slow_ticks():
    """The process's buffer writes only when flushed (or on shutdown) during the test."""
    buffer = prediction_log()
    buffer.close()
    saved, buffer.flush_seconds = buffer.flush_seconds, 3600
    yield buffer
    buffer.close()
    buffer.flush_seconds = saved


def test_the_shutdown_writes_every_prediction(engine, redis_url, settings_env, slow_ticks):
    register(engine, "1.0", "lr")
    clients = real_frame().iloc[:12]
    with client_for(settings_env, DATABASE_URL=url_of(engine), REDIS_URL=redis_url) as api:
        for _, row in clients.iterrows():
            one = {name: int(row[name]) for name in FEATURES}
            assert api.post("/predict/realtime/", json=one).status_code == 200
        records = clients[FEATURES].to_dict("records")
        assert api.post("/predict/batch/", json=records).json()["count"] == 12
        assert slow_ticks.status().pending == 24 and count_logged(engine) == 0
        assert "24 rows waiting" in api.get("/ready").json()["prediction_log"]
    assert count_logged(engine) == 24  # the lifespan's shutdown flushed them


def test_ready_reports_a_log_that_cannot_be_written(engine, redis_url, settings_env):
    with client_for(settings_env, DATABASE_URL=url_of(engine), REDIS_URL=redis_url) as api:
        ready = api.get("/ready")
        assert ready.status_code == 200 and "can be written" in ready.json()["prediction_log"]
        Prediction.__table__.drop(engine)
        refused = api.get("/ready")
        body = refused.json()
        assert refused.status_code == 503 and body["ready"] is False
        assert "answers" in body["database"] and "answers" in body["redis"]
        assert "prediction log cannot be written" in body["prediction_log"]
        assert "predictions" in body["prediction_log"] and "Traceback" not in refused.text


def test_the_default_model_is_loaded_before_the_first_request(engine, redis_url, settings_env):
    register(engine, "1.0", "lr")
    with client_for(settings_env, DATABASE_URL=url_of(engine), REDIS_URL=redis_url):
        served = get_engine(url_of(engine))
        with counting_queries() as queries:
            assert get_model(served).version == "1.0"
        # Loaded at start: asking for the model reads no artifact (its policy threshold,
        # re-read once a second, may be).
        assert not [s for s in queries.statements if "artifact" in s]
