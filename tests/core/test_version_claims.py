"""A version can be claimed once: simultaneous submissions from several processes, what
frees a claim, and the migration that adds the constraint, on SQLite and Postgres."""

from __future__ import annotations

import multiprocessing
import queue as queues
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression

from core import jobs
from core.db.engine import make_engine, migrate
from core.db.schema import TrainingJob
from core.jobs.runner import train_job
from core.jobs.store import mark_failed, reap_stale
from core.ml.params import TrainingError
from core.ml.registry import save_version
from tests.jobs_support import load_clients, stand_in, url_of
from tests.migrations_support import database_at

PROCESSES = 3
TRIES = 20
TAKEN = "is already being trained by job"


class IdleRunner:
    """Takes jobs and runs nothing: the claim is all these tests look at."""

    kind = "local"

    def hand_over(self, engine, job_id: str, models: int) -> None:
        pass

    def wake(self, engine) -> None:
        pass


class RefusingRunner(IdleRunner):
    def hand_over(self, engine, job_id: str, models: int) -> None:
        raise jobs.JobError("the queue is unreachable")


def params(version: str) -> dict:
    return {"folds": 2, "version": version, "models": ["nb"]}


def submit_each_try(url: str, versions: list[str], barrier, results) -> None:
    """In a process of its own: submit each version the moment every process is ready."""
    engine = make_engine(url)
    migrate(engine)
    for version in versions:
        barrier.wait(timeout=60)
        try:
            outcome = ("accepted", jobs.submit(engine, params(version), IdleRunner()))
        except TrainingError as exc:
            outcome = ("refused", "; ".join(exc.problems))
        except Exception as exc:  # reported to the test, which names it
            outcome = ("error", f"{type(exc).__name__}: {exc}")
        results.put((version, *outcome))
    engine.dispose()


def test_of_simultaneous_submissions_of_a_version_exactly_one_is_accepted(engine):
    load_clients(engine, 300)
    versions = [f"{n}.0" for n in range(1, TRIES + 1)]
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    workers = [
        context.Process(target=submit_each_try, args=(url_of(engine), versions, barrier, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    try:
        outcomes = [results.get(timeout=120) for _ in range(PROCESSES * TRIES)]
    except queues.Empty:
        pytest.fail("the submitting processes did not report every try within 120 s")
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()

    errors = [o for o in outcomes if o[1] == "error"]
    assert not errors, errors
    for version in versions:
        tried = [o for o in outcomes if o[0] == version]
        accepted = [job_id for _, outcome, job_id in tried if outcome == "accepted"]
        refused = [text for _, outcome, text in tried if outcome == "refused"]
        assert len(accepted) == 1, f"version {version}: {tried}"
        assert refused == [f"version {version} {TAKEN} {accepted[0][:8]}; pick another"] * (
            PROCESSES - 1
        )
    stored = {(job.version, job.id) for job in jobs.list_jobs(engine, limit=1000)}
    assert stored == {
        (version, job_id) for version, outcome, job_id in outcomes if outcome == "accepted"
    }


def test_a_cancelled_failed_or_reaped_job_frees_its_version(engine):
    load_clients(engine, 300)
    runner = IdleRunner()

    first = jobs.submit(engine, params("1.0"), runner)
    with pytest.raises(TrainingError, match=f"version 1.0 {TAKEN} {first[:8]}"):
        jobs.submit(engine, params("1.0"), runner)
    assert jobs.cancel(engine, first).state == "cancelled"

    second = jobs.submit(engine, params("1.0"), runner)
    assert mark_failed(engine, second, "the worker gave up")

    third = jobs.submit(engine, params("1.0"), runner)
    with engine.begin() as connection:  # running, its worker silent for a minute
        connection.execute(
            sa.update(TrainingJob)
            .where(TrainingJob.id == third)
            .values(state="running", heartbeat_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    assert reap_stale(engine) == [third]

    with pytest.raises(jobs.JobError, match="the queue is unreachable"):
        jobs.submit(engine, params("1.0"), RefusingRunner())

    fourth = jobs.submit(engine, params("1.0"), runner)
    states = {job.id: job.state for job in jobs.list_jobs(engine)}
    assert [states[j] for j in (first, second, third, fourth)] == [
        "cancelled",
        "failed",
        "failed",
        "queued",
    ]


def test_a_saved_version_stays_taken_after_its_job_finished(engine, real_redis):
    load_clients(engine, 300)
    job_id = jobs.submit(engine, params("1.0"), IdleRunner())
    assert train_job(engine, job_id, stand_in()) == "finished"
    with pytest.raises(TrainingError, match="version 1.0 is already used; versions are immutable"):
        jobs.submit(engine, params("1.0"), IdleRunner())
    assert [job.id for job in jobs.list_jobs(engine)] == [job_id]


@pytest.fixture(params=["sqlite", "postgres"])
def at_0009(request, tmp_path):
    """An engine whose schema stops at revision 0009, before the claim constraint."""
    engine = database_at(request.param, tmp_path, "0009")
    yield engine
    engine.dispose()


def test_the_migration_keeps_the_first_of_two_active_jobs_of_one_version(at_0009):
    table = sa.table(
        "training_jobs",
        *(sa.column(name) for name in ("id", "state", "version", "folds", "metric")),
        sa.column("models", sa.JSON),
        *(sa.column(name) for name in ("seed", "models_total", "runner", "fix_imbalance")),
        *(sa.column(name) for name in ("models_done", "cancel_requested")),
        sa.column("submitted_at", sa.DateTime(timezone=True)),
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    common = dict(folds=2, models=["nb"], metric="AUC", seed=1, models_total=1)
    common |= dict(runner="local", fix_imbalance=False, models_done=0, cancel_requested=False)
    rows = [
        ("first", "running", "1.0", 0),
        ("second", "queued", "1.0", 1),
        ("other", "queued", "2.0", 2),
        ("ended", "failed", "2.0", 3),
    ]
    with at_0009.begin() as connection:
        connection.execute(
            table.insert(),
            [
                dict(id=i, state=s, version=v, submitted_at=start + timedelta(seconds=t), **common)
                for i, s, v, t in rows
            ],
        )

    migrate(at_0009)

    found = {job.id: job for job in jobs.list_jobs(at_0009)}
    assert {i: found[i].state for i in found} == {
        "first": "running",
        "second": "failed",
        "other": "queued",
        "ended": "failed",
    }
    assert "another job of the same version was submitted first" in found["second"].error
    with pytest.raises(sa.exc.IntegrityError):
        with at_0009.begin() as connection:
            connection.execute(
                table.insert().values(
                    id="third", state="queued", version="2.0", submitted_at=start, **common
                )
            )


def test_a_version_saved_while_the_insert_waits_is_refused(engine):
    """The check passes, the insert waits for a writer that saves the version meanwhile:
    the registry is read again after the insert, so the job is refused, not queued."""
    load_clients(engine, 300)
    outcome: list = []

    def submit() -> None:
        try:
            outcome.append(jobs.submit(engine, params("1.0"), IdleRunner()))
        except TrainingError as exc:
            outcome.append(exc)

    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("LOCK TABLE training_jobs IN EXCLUSIVE MODE"))
        else:  # a write takes SQLite's one write lock; readers go on
            connection.execute(sa.text("UPDATE deployment SET id = id"))
        waiting = threading.Thread(target=submit)
        waiting.start()
        time.sleep(1)  # the submission checks, then waits to insert
        save_dummy(connection, "1.0")
    waiting.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], TrainingError), outcome
    assert outcome[0].problems[0].startswith("version 1.0 is already used")
    assert jobs.list_jobs(engine) == []


def save_dummy(connection, version: str) -> None:
    x = np.random.default_rng(0).normal(size=(40, 2))
    save_version(
        connection, version=version, pipeline=LogisticRegression().fit(x, x[:, 0] > 0),
        model_id="lr", model_name="Logistic Regression", metric="AUC", params={},
        metrics={"AUC": 0.5}, folds=2, rows=40, evaluation={},
    )  # fmt: skip
