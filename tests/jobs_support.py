"""Helpers for tests that run training jobs: small real data, fast models, waiting."""

from __future__ import annotations

import time
from functools import lru_cache

import pandas as pd

from core import jobs
from core.data.dataset import parse_csv
from core.data.loader import load_frame
from tests.conftest import REAL_DATA

SMALL = 1_500
# Fast models and few folds: a job takes seconds, not minutes.
FAST = dict(folds=2, models=["lr", "dt", "nb"], metric="AUC")
# Enough models that a job is still running a while after its first row.
MANY = ["nb", "dt", "lr", "ada", "et", "rf", "lightgbm", "gbc", "knn"]


@lru_cache(maxsize=1)
def real_frame() -> pd.DataFrame:
    return parse_csv(REAL_DATA.read_bytes())


def load_clients(engine, rows: int = SMALL) -> None:
    """The first `rows` clients of the real data set."""
    load_frame(engine, real_frame().iloc[:rows], "credit.csv")


def url_of(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def wait_for(engine, job_id: str, until=lambda job: not job.active, timeout: float = 120):
    """Poll the job (as the page does, reaping stale jobs) until `until(job)`; return it."""
    deadline = time.monotonic() + timeout
    while True:
        job = jobs.get_job(engine, job_id)
        if until(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job.state} after {timeout} s: {job}")
        time.sleep(0.1)


def first_row_done(job) -> bool:
    return any(row.state == "done" for row in job.leaderboard) or not job.active


def scores(job) -> dict[str, dict]:
    """Each trained model's metrics without the training time, which always varies."""
    return {
        row.model_id: {k: v for k, v in row.metrics.items() if k != "TT (Sec)"}
        for row in job.leaderboard
        if row.state == "done"
    }
