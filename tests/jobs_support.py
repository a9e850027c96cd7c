"""Helpers for tests that run training jobs: small real data, fast models, runners,
waiting, and a deterministic stand-in for the PyCaret experiment."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache

import pandas as pd
from sklearn.dummy import DummyClassifier

from core import jobs
from core.data.dataset import parse_csv
from core.data.loader import load_frame
from core.ml.experiment import CvResult, Finalized
from core.ml.params import MODELS, TrainingParams
from core.vocabulary import FEATURES, METRICS, TARGET
from tests.conftest import REAL_DATA

LOCAL = jobs.LocalRunner()

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


def rq_runner(engine, client) -> jobs.RqRunner:
    """The RQ runner of `engine`'s database on the Redis of `client`."""
    return jobs.RqRunner(client, jobs.queue_name(engine))


def wait_for(engine, job_id: str, until=lambda job: not job.active, timeout: float = 120):
    """Read the job (reading never reaps) until `until(job)`; return it."""
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


def poll(condition: Callable[[], object], timeout: float, what: str):
    """Call `condition` until it returns something true (returned), for at most `timeout`."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)
    return found


# Made-up cross-validation scores: AUC by model, the other metrics derived from it.
STAND_IN_AUC = {"nb": 0.70, "dt": 0.65, "lr": 0.75, "ridge": 0.80, "svm": 0.60, "dummy": 0.5}


class StandInExperiment:
    """Trains nothing: the scores of STAND_IN_AUC, a DummyClassifier as the finalized
    pipeline. `fail` names models whose cross-validation raises; `on_model(model_id)` runs
    before each model (a test cancels or kills from there)."""

    fail: frozenset[str] = frozenset()
    on_model: Callable[[str], None] | None = None
    started = stopped = 0

    def __init__(self, frame: pd.DataFrame, params: TrainingParams, warm_up=None):
        self.frame, self.params, self.rows = frame, params, len(frame)
        assert warm_up == "warm", "start_workers' handle is passed on"

    @classmethod
    def start_workers(cls) -> str:
        cls.started += 1
        return "warm"

    @classmethod
    def stop_workers(cls) -> None:
        cls.stopped += 1

    def cross_validate(self, model_id: str) -> CvResult:
        if self.on_model is not None:
            self.on_model(model_id)
        if model_id in self.fail:
            raise RuntimeError(f"{model_id} cannot be fitted")
        auc = STAND_IN_AUC[model_id]
        means = {name: round(auc - 0.01 * i, 4) for i, name in enumerate(METRICS)}
        sd = {name: 0.01 for name in METRICS}
        return CvResult(model_id, MODELS[model_id], {**means, "TT (Sec)": 0.01}, sd)

    def finalize(self, model_id: str) -> Finalized:
        model = DummyClassifier(strategy="prior").fit(self.frame[FEATURES], self.frame[TARGET])
        return Finalized(pipeline=model, params={"model": model_id}, evaluation={})


def stand_in(**attributes) -> type[StandInExperiment]:
    """A StandInExperiment class of its own with `attributes` (fail=..., on_model=...)."""
    if "on_model" in attributes:
        attributes["on_model"] = staticmethod(attributes["on_model"])
    return type("StandIn", (StandInExperiment,), attributes)
