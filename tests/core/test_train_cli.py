"""`python -m core train` and `python -m core worker` as a user runs them, in subprocesses."""

import pytest

from core import jobs
from core.db.engine import make_engine
from core.ml.registry import list_versions
from tests.cli_support import run_cli
from tests.jobs_support import load_clients


@pytest.fixture
def small_db(tmp_path):
    url = f"sqlite:///{tmp_path / 'credit.db'}"
    engine = make_engine(url)
    load_clients(engine)
    yield url, engine
    jobs.stop_local_worker(engine)
    engine.dispose()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--folds", "11"], "error: folds must be a whole number from 2 to 10, not 11"),
        (["--models", "lr,zz"], "error: models: unknown model id zz"),
        (["--version", "1.25"], "error: version '1.25' has more than one decimal"),
        (["--metric", "speed"], "error: metric 'speed' is not one of AUC"),
    ],
)
def test_bad_arguments_end_with_a_message_and_no_job(small_db, args, message):
    url, engine = small_db
    done = run_cli("train", *args, DATABASE_URL=url)
    assert done.returncode == 1 and message in done.stderr
    assert "Traceback" not in done.stderr
    assert jobs.list_jobs(engine) == []


def test_train_follows_the_job_on_the_local_worker(small_db):
    url, engine = small_db
    done = run_cli("train", "--folds", "2", "--models", "nb,dt", DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("job ") and lines[0].endswith("queued: version 1.0, 2 folds")
    assert any(line.startswith("Naive Bayes") and "AUC 0." in line for line in lines)
    assert any(line.startswith("Decision Tree Classifier") for line in lines)
    assert lines[-1].startswith("finished in ") and "version 1.0 is " in lines[-1]
    assert [v.version for v in list_versions(engine)] == ["1.0"]


def test_train_queues_on_redis_and_an_rq_worker_runs_it(small_db, real_redis, redis_url):
    url, engine = small_db
    env = dict(DATABASE_URL=url, REDIS_URL=redis_url)
    queued = run_cli(
        "train", "--folds", "2", "--models", "lr", "--version", "2.0", "--no-follow", **env
    )
    assert queued.returncode == 0, queued.stderr
    [job] = jobs.list_jobs(engine)
    assert job.state == "queued" and job.runner == "rq"

    worked = run_cli("worker", "--burst", **env)
    assert worked.returncode == 0, worked.stderr
    assert f"RQ worker on queue '{jobs.queue_name(engine)}' of Redis at " in worked.stdout
    job = jobs.get_job(engine, job.id)
    assert job.state == "finished" and job.best_model_id == "lr"
    assert [v.version for v in list_versions(engine)] == ["2.0"]


def test_train_passes_the_calibration_and_protected_attribute_options_on(
    small_db, real_redis, redis_url
):
    url, engine = small_db
    env = dict(DATABASE_URL=url, REDIS_URL=redis_url)
    for options in (["--fix-imbalance"], ["--calibrate", "sigmoid", "--leave-out-protected"]):
        done = run_cli("train", "--models", "lr", "--no-follow", *options, **env)
        assert done.returncode == 0, done.stderr
    first, second = sorted(jobs.list_jobs(engine), key=lambda job: job.version)
    assert (first.fix_imbalance, first.calibrate, first.leave_out_protected) == (
        True, "isotonic", False,  # calibration is on by default with the imbalance fix
    )  # fmt: skip
    assert (second.calibrate, second.leave_out_protected) == ("sigmoid", True)
