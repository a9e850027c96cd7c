"""One training job end to end through the API: submitted over HTTP, trained by a real RQ
worker (SimpleWorker, in this process), then followed, listed as a model and scored."""

from __future__ import annotations

import pytest
from rq import SimpleWorker

from core import jobs
from core.db.engine import forget_engines, make_engine
from core.vocabulary import FEATURES
from tests.api.conftest import client_for
from tests.jobs_support import load_clients, real_frame, url_of

pytestmark = pytest.mark.integration


def test_a_job_submitted_over_http_trains_a_version_that_scores(
    tmp_path, real_redis, redis_url, settings_env
):
    engine = make_engine(f"sqlite:///{tmp_path / 'credit.db'}")
    load_clients(engine)
    with client_for(settings_env, DATABASE_URL=url_of(engine), REDIS_URL=redis_url) as api:
        queued = api.post("/train/model/", json={"folds": 2, "version": "1.0", "models": ["lr"]})
        assert queued.status_code == 202
        queue = jobs.training_queue(jobs.queue_name(engine), real_redis)
        jobs.training_worker([queue], real_redis, SimpleWorker).work(burst=True)
        job = api.get(queued.headers["location"]).json()
        assert job["state"] == "finished", job["error"]
        assert job["best_model_id"] == "lr" and job["leaderboard"][0]["metrics"]["AUC"] > 0.5
        assert api.get("/models").json()["default"] == "1.0"
        client = {name: int(real_frame().at[0, name]) for name in FEATURES}
        scored = api.post("/predict/realtime/", json=client).json()
        assert scored["version"] == "1.0" and 0 < scored["probability"] < 1
    forget_engines()
    engine.dispose()
