"""The job state machine without PyCaret: claim, heartbeat, cancel, finalize, stale jobs
and reaping, on SQLite and Postgres, with a deterministic stand-in experiment. Jobs are
queued on a real Redis (no worker listens) and trained here by core.jobs.runner.train_job."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from core import jobs
from core.clock import now
from core.db.engine import SQLITE_LOCK_SECONDS, make_engine
from core.db.schema import LeaderboardRow, TrainingJob
from core.jobs.runner import stamp_job, train_job
from core.jobs.store import HEARTBEAT_SECONDS, REAP_SECONDS, STALE_SECONDS
from core.ml.params import TrainingError
from core.ml.registry import get_version, list_versions
from tests.jobs_support import load_clients, rq_runner, stand_in

MODELS = ["nb", "dt", "lr"]


@pytest.fixture
def queued(engine, real_redis):
    """Returns `queue(version, models=MODELS)`: a job queued in `engine`, its id."""
    load_clients(engine, 300)
    runner = rq_runner(engine, real_redis)

    def queue(version: str = "1.0", models=MODELS, **params) -> str:
        asked = {"folds": 2, "version": version, "models": models, **params}
        return jobs.submit(engine, asked, runner)

    return queue


def test_a_job_is_claimed_trained_and_finalized_into_its_version(engine, queued):
    experiment = stand_in()
    job_id = queued()
    assert train_job(engine, job_id, experiment) == "finished"
    job = jobs.get_job(engine, job_id)
    assert job.state == "finished" and job.stage is None and job.current_model is None
    assert job.models_done == job.models_total == 3 and job.rows == 300
    assert [r.state for r in job.leaderboard] == ["done"] * 3
    assert job.best_model_id == "lr" and job.best_score == 0.75
    info = get_version(engine, "1.0")
    assert info.job_id == job_id and info.model_id == "lr" and info.params == {"model": "lr"}
    assert experiment.started == 1 and experiment.stopped == 1


def test_a_model_without_probabilities_is_compared_but_not_kept(engine, queued):
    job_id = queued(models=["ridge", "nb"])
    train_job(engine, job_id, stand_in())
    job = jobs.get_job(engine, job_id)
    assert job.best_model_id == "nb"
    assert "Ridge Classifier scored highest on AUC but gives no probabilities" in job.note


def test_a_failing_model_is_left_out_and_all_failing_fails_the_job(engine, queued):
    one = queued("1.0")
    assert train_job(engine, one, stand_in(fail={"lr"})) == "finished"
    job = jobs.get_job(engine, one)
    assert {r.model_id: r.state for r in job.leaderboard} == {
        "nb": "done",
        "dt": "done",
        "lr": "failed",
    }
    assert job.best_model_id == "nb"

    every = queued("2.0", models=["nb", "dt"])
    with pytest.raises(TrainingError, match="every model failed"):
        train_job(engine, every, stand_in(fail={"nb", "dt"}))
    job = jobs.get_job(engine, every)
    assert job.state == "failed" and "every model failed" in job.error
    assert [v.version for v in list_versions(engine)] == ["1.0"]


def test_a_queued_job_cancelled_is_never_claimed(engine, queued):
    job_id = queued()
    assert jobs.cancel(engine, job_id).state == "cancelled"
    experiment = stand_in()
    assert train_job(engine, job_id, experiment) == "cancelled"
    job = jobs.get_job(engine, job_id)
    assert job.started_at is None and {r.state for r in job.leaderboard} == {"skipped"}
    assert experiment.started == 0 and experiment.stopped == 1


def test_a_running_job_cancelled_stops_after_its_current_model(engine, queued):
    job_id = queued()

    def cancel_at_second(model_id: str) -> None:
        if model_id == "dt":
            assert jobs.cancel(engine, job_id).cancel_requested

    assert train_job(engine, job_id, stand_in(on_model=cancel_at_second)) == "cancelled"
    job = jobs.get_job(engine, job_id)
    assert [r.state for r in job.leaderboard] == ["done", "done", "skipped"]
    assert job.error is None and job.finished_at is not None
    assert list_versions(engine) == []


def test_a_job_that_ends_elsewhere_while_training_saves_nothing(engine, queued):
    """A reaper failed the job while its worker still trained: the worker stops quietly."""
    job_id = queued()

    def fail_elsewhere(model_id: str) -> None:
        if model_id == "dt":
            jobs.store.mark_failed(engine, job_id, "failed by a reaper")

    assert train_job(engine, job_id, stand_in(on_model=fail_elsewhere)) == "failed"
    job = jobs.get_job(engine, job_id)
    assert job.error == "failed by a reaper" and list_versions(engine) == []


def set_running(engine, job_id: str, worker: str, quiet_for: float) -> None:
    """Leave the job as a worker that claimed its first model `quiet_for` seconds ago left
    it; the heartbeat stamps of the job and of the row are that old."""
    stamp = now() - timedelta(seconds=quiet_for)
    with engine.begin() as connection:
        connection.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id)
            .values(state="running", stage="training", started_at=stamp, heartbeat_at=stamp,
                    worker=worker)
        )  # fmt: skip
        connection.execute(
            update(LeaderboardRow)
            .where(LeaderboardRow.job_id == job_id, LeaderboardRow.model_id == "nb")
            .values(state="running", worker=worker, started_at=stamp, heartbeat_at=stamp)
        )


def test_reading_never_reaps_and_reaping_fails_only_quiet_jobs(engine, queued):
    quiet, live = queued("1.0"), queued("2.0")
    set_running(engine, quiet, "host:1", STALE_SECONDS + 5)
    set_running(engine, live, "host:2", 1)

    assert jobs.get_job(engine, quiet).state == "running"
    assert {j.state for j in jobs.list_jobs(engine)} == {"running"}
    assert jobs.latest_active(engine).id == live
    assert jobs.get_job(engine, quiet).state == "running"  # still: reads only read

    assert jobs.reap_stale(engine) == [quiet]
    job = jobs.get_job(engine, quiet)
    assert job.state == "failed" and job.finished_at is not None
    assert "worker host:1 stopped sending heartbeats" in job.error
    assert "nothing was saved" in job.error
    assert [r.state for r in job.leaderboard] == ["failed", "skipped", "skipped"]
    assert jobs.get_job(engine, live).state == "running"
    assert jobs.reap_stale(engine) == []


def test_a_quiet_model_row_fails_its_job_even_when_the_job_beats(engine, queued):
    """Two workers share a job: one died (its row went quiet), the other beats the job."""
    job_id = queued()
    set_running(engine, job_id, "host:1", STALE_SECONDS + 5)
    with engine.begin() as connection:
        connection.execute(
            update(TrainingJob).where(TrainingJob.id == job_id).values(heartbeat_at=now())
        )
    assert jobs.reap_stale(engine) == [job_id]


def test_a_heartbeat_stamps_the_job_and_the_row_of_its_worker(engine, queued):
    job_id = queued()
    set_running(engine, job_id, "host:1", STALE_SECONDS + 5)
    stamp_job(engine, job_id, "host:1")
    job = jobs.get_job(engine, job_id)
    assert now() - job.heartbeat_at < timedelta(seconds=STALE_SECONDS)
    assert now() - job.leaderboard[0].started_at > timedelta(seconds=STALE_SECONDS)
    assert jobs.reap_stale(engine) == []


def test_the_stale_timeout_outlasts_a_sqlite_lock_wait_and_reaping_takes_under_30_s():
    assert STALE_SECONDS > SQLITE_LOCK_SECONDS + HEARTBEAT_SECONDS
    assert HEARTBEAT_SECONDS + STALE_SECONDS + REAP_SECONDS < 30


def test_tend_reaps_and_wakes_the_runner(engine, queued):
    job_id = queued()
    set_running(engine, job_id, "host:1", STALE_SECONDS + 5)

    class Woken:
        kind = "rq"
        woken = 0

        def wake(self, engine) -> None:
            self.woken += 1

    runner = Woken()
    assert jobs.tend(engine, runner) == [job_id] and runner.woken == 1


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"version": "1.0", "models": ["lr"]}, []),
        ({"version": "1.0", "models": []}, ["models: choose at least one model"]),
        ({"version": "1.0", "models": ["ridge"]}, ["models: ridge give no probabilities"]),
        ({"version": "1.0", "models": ["lr"], "sample_size": 100}, ["sample size must be"]),
        ({"version": "1.0", "models": ["lr"], "sample_size": 500}, ["sample size 500 is larger"]),
        ({"version": "1.25", "models": ["lr"]}, ["version '1.25' has more than one decimal"]),
        (
            {"version": "3.0", "models": ["lr"]},
            ["version 3.0 is already used; versions are immutable (next unused: 4.1)"],
        ),
        ({"version": "3.0", "models": []}, ["models: choose", "version 3.0 is already used"]),
        ({"version": "4.0", "models": ["lr"]}, ["version 4.0 is already being trained by job"]),
    ],
)
def test_problems_are_what_submit_refuses(engine, queued, params, expected):
    train_job(engine, queued("3.0", models=["nb"]), stand_in())
    queued("4.0")
    found = jobs.problems(engine, {"folds": 2, **params})
    assert len(found) == len(expected)
    assert all(text.startswith(start) for text, start in zip(found, expected, strict=True))
    if found:
        with pytest.raises(TrainingError) as refused:
            jobs.submit(engine, {"folds": 2, **params}, None)
        assert set(refused.value.problems) <= set(found)  # submit stops at bad input


def test_the_suggestion_skips_saved_and_training_versions(engine, queued):
    assert jobs.suggest_version(engine) == "1.0"
    train_job(engine, queued("1.0"), stand_in())
    assert jobs.suggest_version(engine) == "1.1"
    queued("1.5")
    assert jobs.suggest_version(engine) == "1.6"


def test_follow_reads_the_asked_job_else_the_active_one_else_the_newest(engine, queued):
    assert jobs.follow(engine) == jobs.Following(None, [])
    first = queued("1.0")
    train_job(engine, first, stand_in())
    waiting = queued("2.0")
    newest = queued("3.0")
    jobs.cancel(engine, newest)

    following = jobs.follow(engine)  # the newest queued or running job, with its board
    assert following.job.id == waiting and following.job.active
    assert [row.model_id for row in following.job.leaderboard] == MODELS
    assert [job.id for job in following.history] == [newest, waiting, first]
    assert following.history == jobs.list_jobs(engine)
    assert jobs.follow(engine, first).job == jobs.get_job(engine, first)
    assert jobs.follow(engine, "no-such-job").job is None

    jobs.cancel(engine, waiting)  # none active: the newest
    assert jobs.follow(engine).job.id == newest
    # Beyond the history's limit the active job is still found.
    reopened = queued("4.0")
    for version in ("5.0", "6.0"):
        jobs.cancel(engine, queued(version))
    assert jobs.follow(engine, limit=2).job.id == reopened


def test_each_deployment_has_a_queue_of_its_own(tmp_path, monkeypatch):
    """The queue follows the database, not the URL it is reached by."""
    monkeypatch.chdir(tmp_path)
    here = jobs.queue_name(make_engine("sqlite:///credit.db"))
    assert here == jobs.queue_name(make_engine(f"sqlite:///{tmp_path / 'credit.db'}"))
    assert here != jobs.queue_name(make_engine(f"sqlite:///{tmp_path / 'other.db'}"))
    assert here.startswith("training-")


def test_a_postgres_deployment_keeps_its_queue_under_any_host_name(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("host names and drivers are a server database's")
    url = engine.url
    by_name = make_engine(url.set(host="localhost").render_as_string(hide_password=False))
    by_driver = make_engine(
        url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    )
    assert jobs.queue_name(engine) == jobs.queue_name(by_name) == jobs.queue_name(by_driver)
