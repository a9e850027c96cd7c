"""Two versions trained by real jobs on the same 1,500 real clients (the same sample and
seed, so the same holdout clients): 1.0 (logistic regression, the champion) and 1.1
(decision tree, naive Bayes), built once per test process and shared by the challenger,
model card, API and page tests, which only read it or copy it."""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest
import redis

from core import jobs
from core.db.engine import make_engine
from core.jobs.runner import train_job
from core.ml.experiment import Experiment
from core.ml.registry import set_champion
from tests.conftest import IN_CI
from tests.jobs_support import load_clients, rq_runner

CHAMPION, CHALLENGER = "1.0", "1.1"


@lru_cache(maxsize=1)
def _trained() -> Path:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        (pytest.fail if IN_CI else pytest.skip)("TEST_REDIS_URL is not set")
    queue = redis.Redis.from_url(url)
    path = Path(tempfile.mkdtemp(prefix="champion-")) / "credit.db"
    engine = make_engine(f"sqlite:///{path}")
    load_clients(engine)
    for version, models in ((CHAMPION, ["lr"]), (CHALLENGER, ["dt", "nb"])):
        asked = {"folds": 2, "version": version, "models": models}
        job_id = jobs.submit(engine, asked, rq_runner(engine, queue))
        assert train_job(engine, job_id, Experiment) == "finished"
    set_champion(engine, CHAMPION)
    queue.flushdb()
    engine.dispose()
    return path


def trained_copy(directory: Path) -> str:
    """A SQLite URL on a fresh copy of the two trained versions, in `directory`."""
    target = directory / "credit.db"
    shutil.copy(_trained(), target)
    return f"sqlite:///{target}"
