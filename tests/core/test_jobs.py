"""Training jobs through real runners: an RQ worker on a real Redis and the local worker
process, on SQLite and on Postgres. Small real samples and fast models keep each job to
seconds; the full-data run is marked slow. Every test here runs real processes and
PyCaret: they are marked `integration` (tests/core/test_job_states.py has the fast ones)."""

import json
import os
import signal
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
import redis
from rq import Queue, SimpleWorker, Worker
from rq.serializers import PickleSerializer
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select

from core import jobs
from core.data.features import training_frame
from core.db.engine import make_engine, migrate
from core.db.schema import TrainingJob
from core.jobs.local import _lock_path
from core.ml.params import TrainingError, TrainingParams, check_params
from core.ml.registry import get_version, list_versions, load_pipeline, save_version
from core.vocabulary import FEATURES
from tests.conftest import fresh_postgres, postgres_url
from tests.jobs_support import (
    FAST,
    LOCAL,
    MANY,
    first_row_done,
    load_clients,
    poll,
    rq_runner,
    scores,
    url_of,
    wait_for,
)

pytestmark = pytest.mark.integration

EVALUATION_KEYS = {"roc", "pr", "confusion", "importance", "holdout_rows", "train_sample"}


@pytest.fixture
def local_worker(engine):
    """Stops the local worker that a test's jobs started (one per database)."""
    yield
    jobs.stop_local_worker(engine)


def run_rq_burst(runner: jobs.RqRunner) -> None:
    """A real RQ worker, in this process, until the runner's queue is empty."""
    connection = runner.connection
    queue = jobs.training_queue(runner.queue, connection)
    worker = jobs.training_worker([queue], connection, SimpleWorker)
    worker.work(burst=True)


def rq_payload(client: redis.Redis, rq_job_id: str):
    """What RQ stored for a queued job: the raw `data` field, which must be JSON (zlib
    compressed by RQ), never a pickle."""
    raw = zlib.decompress(client.hget(f"rq:job:{rq_job_id}", "data"))
    assert not raw.startswith(b"\x80"), "a pickle (protocol 2+) in the job payload"
    return json.loads(raw)


class Planted:
    """Unpickling this creates the marker file: proof that a worker ran a pickled payload."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_our_rq_workers_never_load_a_pickled_payload(real_redis, tmp_path):
    marker = tmp_path / "pickle-ran"
    # Someone with access to Redis enqueues a pickled job on a training queue.
    planted = Queue("training-planted", connection=real_redis, serializer=PickleSerializer)
    rq_job = planted.enqueue("builtins.print", Planted(marker))
    queue = jobs.training_queue("training-planted", real_redis)
    jobs.training_worker([queue], real_redis, SimpleWorker).work(burst=True)
    assert not marker.exists()
    assert queue.count == 0 and rq_job.id in queue.failed_job_registry
    # The control: RQ's default (pickle) serializer would have run it.
    PickleSerializer.loads(zlib.decompress(real_redis.hget(rq_job.key, "data")))
    assert marker.exists()


def test_rq_worker_and_local_worker_train_the_same_leaderboard(
    engine, real_redis, settings_env, local_worker
):
    load_clients(engine)
    settings_env(DATABASE_URL=url_of(engine))

    on_rq = jobs.submit(engine, {**FAST, "version": "1.0"}, rq_runner(engine, real_redis))
    assert jobs.get_job(engine, on_rq).state == "queued"
    assert rq_payload(real_redis, f"{on_rq}-0") == [jobs.rq.TASK, None, [on_rq], {}]
    run_rq_burst(rq_runner(engine, real_redis))
    first = jobs.get_job(engine, on_rq)
    assert first.state == "finished", first.error
    assert first.runner == "rq" and first.models_done == first.models_total == 3
    assert first.rows == 1_500 and first.best_model_id in ("lr", "dt", "nb")
    assert [r.state for r in first.leaderboard] == ["done"] * 3
    assert all(r.finished_at <= first.finished_at for r in first.leaderboard)

    on_local = jobs.submit(engine, {**FAST, "version": "1.1"}, LOCAL)
    second = wait_for(engine, on_local)
    assert second.state == "finished", second.error
    assert second.runner == "local" and second.worker != first.worker

    # Same inputs and seed, another runner: the same leaderboard and the same model.
    assert scores(second) == scores(first)
    assert second.best_model_id == first.best_model_id
    one, other = get_version(engine, "1.0"), get_version(engine, "1.1")
    assert one.metrics == {**other.metrics, "TT (Sec)": one.metrics["TT (Sec)"]}
    assert one.evaluation["roc"] == other.evaluation["roc"]


def test_a_version_holds_the_finalized_pipeline_and_its_evaluation(
    engine, real_redis, settings_env
):
    load_clients(engine)
    settings_env(DATABASE_URL=url_of(engine))
    job_id = jobs.submit(
        engine, {**FAST, "version": "3.0", "models": ["dt", "lr"]}, rq_runner(engine, real_redis)
    )
    run_rq_burst(rq_runner(engine, real_redis))
    job = jobs.get_job(engine, job_id)
    info = get_version(engine, "3.0")
    assert info.job_id == job_id and info.model_id == job.best_model_id
    assert info.folds == 2 and info.rows == 1_500 and info.metric == "AUC"
    assert set(info.metrics) == {
        "Accuracy",
        "AUC",
        "Recall",
        "Prec.",
        "F1",
        "Kappa",
        "MCC",
        "Brier",
        "Log Loss",
        "TT (Sec)",
    }
    assert {"pycaret", "scikit-learn"} <= set(info.library_versions)
    evaluation = info.evaluation
    assert EVALUATION_KEYS <= set(evaluation)
    assert evaluation["holdout_rows"] == 450  # PyCaret keeps 30% out of training
    assert sum(evaluation["confusion"].values()) == 450
    assert len(evaluation["probabilities"]) == 450
    assert set(evaluation["importance"]) == set(FEATURES)
    assert all(len(values) == 300 for values in evaluation["train_sample"].values())
    assert 0.5 < evaluation["roc"]["auc"] <= 1 and len(evaluation["roc"]["fpr"]) <= 200

    pipeline = load_pipeline(engine, "3.0")
    clients = training_frame(engine, limit=20)[FEATURES]
    probabilities = pipeline.predict_proba(clients)
    assert probabilities.shape == (20, 2)
    assert (
        np.allclose(probabilities.sum(axis=1), 1)
        and ((0 <= probabilities) & (probabilities <= 1)).all()
    )


def test_rows_appear_as_models_finish_and_cancel_stops_after_the_current_model(
    engine, local_worker
):
    load_clients(engine)
    job_id = jobs.submit(engine, {"folds": 3, "version": "1.0", "models": MANY}, LOCAL)
    running = wait_for(engine, job_id, first_row_done)
    assert running.active, "the job ended before its first row could be seen"
    done = [r for r in running.leaderboard if r.state == "done"]
    assert done and running.models_done >= len(done) and running.finished_at is None

    assert jobs.cancel(engine, job_id).cancel_requested
    job = wait_for(engine, job_id)
    assert job.state == "cancelled" and job.error is None
    states = [r.state for r in job.leaderboard]
    assert 1 <= states.count("done") < len(MANY)
    assert set(states) <= {"done", "skipped"} and "skipped" in states
    assert list_versions(engine) == []


def test_a_queued_job_is_cancelled_at_once_and_its_task_does_nothing(
    engine, real_redis, settings_env
):
    load_clients(engine, 300)
    settings_env(DATABASE_URL=url_of(engine))
    job_id = jobs.submit(engine, {**FAST, "version": "1.0"}, rq_runner(engine, real_redis))
    job = jobs.cancel(engine, job_id)
    assert job.state == "cancelled" and job.finished_at is not None
    run_rq_burst(rq_runner(engine, real_redis))
    job = jobs.get_job(engine, job_id)
    assert job.state == "cancelled" and job.started_at is None
    assert {r.state for r in job.leaderboard} == {"skipped"}
    assert list_versions(engine) == []


def start_rq_worker(engine, redis_url: str) -> subprocess.Popen:
    """`python -m core worker` on the test Redis: an RQ worker that forks a work horse."""
    env = {**os.environ, "DATABASE_URL": url_of(engine), "REDIS_URL": redis_url}
    return subprocess.Popen(
        [sys.executable, "-m", "core", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the worker and its work horse
    )


def test_two_rq_workers_share_one_job(tmp_path, real_redis, redis_url):
    """Submit sends one task per listening worker; each claims models until none is left,
    and the last to finish saves the version."""
    engine = make_engine(f"sqlite:///{tmp_path / 'credit.db'}")
    load_clients(engine)
    workers = [start_rq_worker(engine, redis_url) for _ in range(2)]
    try:
        runner = rq_runner(engine, real_redis)
        wait_for_workers(runner, 2)
        job_id = jobs.submit(engine, {"folds": 2, "version": "1.0", "models": MANY}, runner)
        job = wait_for(engine, job_id)
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
    assert job.state == "finished", job.error
    assert len({row.worker for row in job.leaderboard}) == 2
    assert [v.version for v in list_versions(engine)] == ["1.0"]
    engine.dispose()


def wait_for_workers(runner: jobs.RqRunner, count: int) -> None:
    queue = jobs.training_queue(runner.queue, runner.connection)
    poll(lambda: Worker.count(queue=queue) >= count, 60, f"{count} RQ workers listening")


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def test_a_killed_worker_fails_the_job_within_30_s_and_saves_nothing(
    engine, real_redis, redis_url, local_worker
):
    """Nobody reads with a reap while waiting. SQLite: the local worker, the only worker, is
    killed; the next explicit reap (a page run or a CLI call) fails the job. Postgres: two
    RQ workers share the job, one is killed with its work horse; the other reaps it."""
    load_clients(engine)
    params = {"folds": 3, "version": "1.0", "models": MANY}
    others = []
    try:
        if engine.dialect.name == "sqlite":
            job_id = jobs.submit(engine, params, LOCAL)
            wait_for(engine, job_id, first_row_done)
            os.killpg(jobs.local_worker_pid(engine), signal.SIGKILL)  # with its children
        else:
            runner = rq_runner(engine, real_redis)
            others = [start_rq_worker(engine, redis_url) for _ in range(2)]
            wait_for_workers(runner, 2)
            job_id = jobs.submit(engine, params, runner)
            job = wait_for(engine, job_id, first_row_done)
            running = [r.worker for r in job.leaderboard if r.state == "running"]
            horse = int(running[0].rsplit(":", 1)[1])
            worker = parent_of(horse)
            os.killpg(horse, signal.SIGKILL)  # RQ's setpgrp: the horse and its CV workers
            os.kill(worker, signal.SIGKILL)
        killed_at = time.monotonic()
        assert jobs.get_job(engine, job_id).state == "running", "it ended before the kill"
        if engine.dialect.name == "sqlite":
            poll(lambda: job_id in jobs.reap_stale(engine), 30, "the next reap fails the job")
        else:
            poll(lambda: not jobs.get_job(engine, job_id).active, 30, "another worker reaps")
        assert time.monotonic() - killed_at < 30
    finally:
        for process in others:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
    job = jobs.get_job(engine, job_id)
    assert job.state == "failed"
    assert "stopped sending heartbeats" in job.error and "nothing was saved" in job.error
    assert "running" not in {r.state for r in job.leaderboard}
    assert list_versions(engine) == []


def test_two_deployments_on_one_redis_never_take_each_others_jobs(tmp_path, real_redis, redis_url):
    """Databases A and B share the test Redis: B's worker trains B's job and leaves A's."""
    from tests.cli_support import run_cli

    engines = {name: make_engine(f"sqlite:///{tmp_path / name}.db") for name in "AB"}
    ids = {}
    for name, engine in engines.items():
        load_clients(engine, 300)
        asked = {"folds": 2, "version": "1.0", "models": ["nb"]}
        ids[name] = jobs.submit(engine, asked, rq_runner(engine, real_redis))
    env = dict(REDIS_URL=redis_url)
    worked = run_cli("worker", "--burst", DATABASE_URL=url_of(engines["B"]), **env)
    assert worked.returncode == 0, worked.stderr
    assert f"on queue '{rq_runner(engines['B'], real_redis).queue}'" in worked.stdout
    assert jobs.get_job(engines["B"], ids["B"]).state == "finished"
    assert jobs.get_job(engines["A"], ids["A"]).state == "queued"

    worked = run_cli("worker", "--burst", DATABASE_URL=url_of(engines["A"]), **env)
    assert worked.returncode == 0, worked.stderr
    assert jobs.get_job(engines["A"], ids["A"]).state == "finished"
    for engine in engines.values():
        engine.dispose()


def save_dummy(engine, version: str) -> str:
    x = np.random.default_rng(0).normal(size=(40, 2))
    with engine.begin() as connection:
        return save_version(
            connection, version=version, pipeline=LogisticRegression().fit(x, x[:, 0] > 0),
            model_id="lr", model_name="Logistic Regression", metric="AUC", params={},
            metrics={"AUC": 0.5}, folds=2, rows=40, evaluation={},
        )  # fmt: skip


def test_used_versions_are_refused_and_a_late_clash_saves_nothing(engine, real_redis, settings_env):
    load_clients(engine)
    settings_env(DATABASE_URL=url_of(engine))
    save_dummy(engine, "1.0")
    with pytest.raises(TrainingError, match=r"version 1.0 is already used.*next unused: 1.1"):
        jobs.submit(engine, {**FAST, "version": "1.0"}, rq_runner(engine, real_redis))

    job_id = jobs.submit(engine, {**FAST, "version": "2.0"}, rq_runner(engine, real_redis))
    with pytest.raises(TrainingError, match="version 2.0 is already being trained by job"):
        jobs.submit(engine, {**FAST, "version": "2.0"}, rq_runner(engine, real_redis))
    assert jobs.suggest_version(engine) == "2.1"

    # Another process saves 2.0 while the job is queued: the job fails, 2.0 is untouched.
    digest = save_dummy(engine, "2.0")
    run_rq_burst(rq_runner(engine, real_redis))
    job = jobs.get_job(engine, job_id)
    assert job.state == "failed"
    assert "version 2.0 was saved by another job while this one ran; nothing was saved" in (
        job.error
    )
    assert get_version(engine, "2.0").sha256 == digest
    assert [v.version for v in list_versions(engine)] == ["2.0", "1.0"]


def test_an_empty_data_set_and_an_oversized_sample_are_refused(engine):
    with pytest.raises(TrainingError, match="the data set is empty: load clients first"):
        jobs.submit(engine, {**FAST, "version": "1.0"}, LOCAL)
    load_clients(engine, 300)
    with pytest.raises(TrainingError, match="sample size 1,000 is larger than the 300 clients"):
        jobs.submit(engine, {**FAST, "version": "1.0", "sample_size": 1000}, LOCAL)
    assert jobs.list_jobs(engine) == []


def test_a_job_row_gives_back_the_parameters_it_was_submitted_with(engine, real_redis):
    """The queued row is all a worker sees: every parameter must survive the round trip."""
    load_clients(engine, 300)
    asked = check_params(
        folds=3,
        version="2.5",
        models=["nb", "lr"],
        metric="F1",
        sample_size=250,
        fix_imbalance=True,
        seed=7,
        calibrate="sigmoid",
        leave_out_protected=True,
    )
    job_id = jobs.submit(engine, asked, rq_runner(engine, real_redis))
    with engine.connect() as connection:
        row = connection.execute(select(TrainingJob).where(TrainingJob.id == job_id)).one()
    assert TrainingParams.from_row(row) == asked


def test_redis_down_fails_the_job_cleanly_and_says_why(engine):
    load_clients(engine, 300)
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    status = jobs.RqRunner(down, jobs.queue_name(engine)).status(engine)
    assert not status.ok and "Redis at 127.0.0.1:1 (database 0) does not answer" in status.text
    assert "redis://" not in status.text  # a URL may carry a password: never shown
    queued = r"the job could not be queued: Redis at 127.0.0.1:1 \(database 0\) is unavailable"
    with pytest.raises(jobs.JobError, match=queued):
        jobs.submit(engine, {**FAST, "version": "1.0"}, jobs.RqRunner(down, "training-x"))
    [job] = jobs.list_jobs(engine)
    assert job.state == "failed" and "could not be queued" in job.error
    assert list_versions(engine) == []


def test_runner_status_counts_rq_workers(engine, real_redis):
    runner = rq_runner(engine, real_redis)
    assert "no training worker is running" in runner.status(engine).text
    worker = jobs.training_worker([jobs.training_queue(runner.queue, real_redis)], real_redis)
    worker.register_birth()
    try:
        assert runner.status(engine).text.startswith("1 training worker is ready")
    finally:
        worker.register_death()
    assert "local background worker" in LOCAL.status(engine).text


def test_the_runner_comes_from_the_settings(settings_env, engine, redis_url):
    from core.settings import get_settings

    settings_env(DATABASE_URL=url_of(engine))
    assert isinstance(jobs.runner_for(get_settings()), jobs.LocalRunner)
    settings_env(REDIS_URL=redis_url)
    runner = jobs.runner_for(get_settings())
    assert runner.kind == "rq" and runner.queue == jobs.queue_name(engine)


@pytest.fixture
def postgres_engine():
    """The test Postgres alone: this test takes its database down for a few seconds."""
    engine = fresh_postgres(postgres_url())
    migrate(engine)
    yield engine
    jobs.stop_local_worker(engine)
    engine.dispose()


def set_connections(engine, allowed: bool) -> None:
    """Let clients connect to the test database, or refuse them and cut those connected."""
    name = engine.url.database
    admin = make_engine(engine.url.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {allowed}')
        if not allowed:
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
    admin.dispose()


def test_the_database_going_down_fails_the_job_and_says_why(postgres_engine):
    engine = postgres_engine
    load_clients(engine)
    job_id = jobs.submit(engine, {"folds": 3, "version": "1.0", "models": MANY}, LOCAL)
    assert wait_for(engine, job_id, first_row_done).active
    log_file = _lock_path(engine).with_suffix(".log")
    written = log_file.stat().st_size
    set_connections(engine, False)
    try:  # until the worker's next write fails (it keeps trying to record why)
        poll(
            lambda: "recording it when the database answers" in log_file.read_text()[written:],
            60,
            "the job's failed write",
        )
    finally:
        set_connections(engine, True)
    job = wait_for(engine, job_id, timeout=30)
    assert job.state == "failed"
    assert job.error.startswith("the database became unavailable during training: database ")
    assert "not currently accepting connections" in job.error or "terminat" in job.error
    assert list_versions(engine) == []
