"""AppTest of the Train page: queue a job, follow it (also from a second session), cancel,
bad choices, used versions, and Redis or the database being down."""

import threading
import time

import pandas as pd
import pytest

from core import jobs
from core.data.features import training_frame
from core.db.engine import make_engine
from core.jobs.runner import train_job
from core.ml.params import TURBO
from tests.dashboard.charts import chart, metrics, open_expander, texts
from tests.jobs_support import LOCAL, MANY, StandInExperiment, rq_runner, wait_for

PAGE = "../pages/train.py"


def follow(app, until: set[str], timeout: float = 120):
    """Rerun the page (as its poll does) until the job's State is one of `until`."""
    deadline = time.monotonic() + timeout
    while metrics(app).get("State") not in until:
        assert time.monotonic() < deadline, f"the job is still {metrics(app).get('State')}"
        time.sleep(0.5)
        app.run()
    return app


def job_history(app):
    """The job history table (the one with a Job column)."""
    return next(d.value for d in app.dataframe if "Job" in d.value.columns)


def progress_text(app) -> str:
    """The text of the job's progress bar."""
    return app.get("progress")[0].proto.text


def test_without_data_the_page_says_to_load_it(dashboard, tmp_path):
    app = dashboard(PAGE, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")
    assert not app.exception
    assert "no clients yet" in texts(app.info)


def test_the_training_data_is_read_only_once_its_expander_is_opened(dashboard, small_sqlite):
    app = dashboard(PAGE, DATABASE_URL=small_sqlite)
    assert not app.exception
    [data] = [e for e in app.expander if e.label.startswith("Training data: ")]
    assert data.label == "Training data: 1,500 clients, 23 features and `default`"
    frame = training_frame(make_engine(small_sqlite), limit=100)
    columns = list(frame.columns)
    assert not [d for d in app.dataframe if list(d.value.columns) == columns]  # closed
    assert not app.get("download_button")
    app = open_expander(app, "train_data_open")
    assert not app.exception
    [preview] = [d.value for d in app.dataframe if list(d.value.columns) == columns]
    assert len(preview) == 100 and list(preview.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(preview, frame, check_dtype=False)
    assert app.download_button(key="train_download").label == "Download all rows (CSV)"


def test_train_two_models_and_watch_the_leaderboard_fill(dashboard, small_sqlite):
    app = dashboard(PAGE, DATABASE_URL=small_sqlite)
    assert not app.exception
    assert app.slider(key="train_folds").value == 5
    assert app.slider(key="train_version").value == pytest.approx(1.0)
    assert app.multiselect(key="train_models").value == TURBO
    assert app.selectbox(key="train_metric").value == "AUC"
    assert "local background worker" in texts(app.caption)
    assert not app.get("download_button")  # the training data's expander is closed

    app.slider(key="train_folds").set_value(2)
    app.multiselect(key="train_models").set_value(["lr", "nb"])
    app.button(key="train_submit").click().run()
    assert not app.exception and not app.error
    assert metrics(app)["State"] in ("queued", "running")
    assert app.slider(key="train_version").value == pytest.approx(1.1)  # 1.0 is being trained

    other = dashboard(PAGE, DATABASE_URL=small_sqlite)  # a reload, or a second browser
    assert "Job for version 1.0" in texts(other.subheader)

    follow(app, {"finished", "failed", "cancelled"})
    assert metrics(app)["State"] == "finished", texts(app.error)
    assert metrics(app)["Models done"] == "2 of 2"
    assert "Version 1.0 saved" in texts(app.success)
    board = chart(app, "train_board_chart")
    assert sorted(board["traces"][0]["y"]) == ["Logistic Regression", "Naive Bayes"]
    history = job_history(app)
    assert list(history["State"]) == ["finished"] and list(history["Version"]) == ["1.0"]

    follow(other, {"finished"})  # the other session sees the same end
    assert "Version 1.0 saved" in texts(other.success)

    app.slider(key="train_version").set_value(1.0).run()
    assert "Cannot train: version 1.0 is already used; versions are immutable" in texts(app.error)
    assert app.button(key="train_submit").disabled


def test_bad_choices_are_refused_before_and_by_core(dashboard, small_sqlite):
    app = dashboard(PAGE, DATABASE_URL=small_sqlite)
    app.multiselect(key="train_models").set_value([]).run()
    assert "Cannot train: models: choose at least one model" in texts(app.error)
    assert app.button(key="train_submit").disabled
    app.multiselect(key="train_models").set_value(["ridge"]).run()
    assert "give no probabilities" in texts(app.error)

    app.multiselect(key="train_models").set_value(["lr"])
    app.number_input(key="train_sample").set_value(100).run()
    assert "Cannot train: sample size must be a whole number of at least 200" in (texts(app.error))
    assert app.button(key="train_submit").disabled
    app.number_input(key="train_sample").set_value(0).run()
    assert not app.error and not app.button(key="train_submit").disabled
    assert jobs.list_jobs(make_engine(small_sqlite)) == []


def test_the_version_moves_on_when_a_job_elsewhere_takes_it(dashboard, small_sqlite):
    """The page offers 1.0; a job started elsewhere (another browser, the CLI) saves 1.0:
    the slider moves on to 1.1 instead of showing 1.0 as used."""
    app = dashboard(PAGE, DATABASE_URL=small_sqlite)
    assert app.slider(key="train_version").value == pytest.approx(1.0)
    asked = {"folds": 2, "version": "1.0", "models": ["nb"]}
    jobs.submit(make_engine(small_sqlite), asked, LOCAL)
    app.run()
    assert app.slider(key="train_version").value == pytest.approx(1.1)
    follow(app, {"finished", "failed", "cancelled"})
    assert metrics(app)["State"] == "finished", texts(app.error)
    assert app.slider(key="train_version").value == pytest.approx(1.1)
    assert not app.error and not app.button(key="train_submit").disabled


def test_a_refusal_after_a_double_click_goes_once_shown(dashboard, small_sqlite):
    """The second click of a double click still carries version 1.0: it is refused, and the
    refusal is gone from the page when the job it refers to has ended."""
    app = dashboard(PAGE, DATABASE_URL=small_sqlite)
    app.slider(key="train_folds").set_value(2)
    app.multiselect(key="train_models").set_value(["nb"])
    app.button(key="train_submit").click().run()
    app.slider(key="train_version").set_value(1.0)
    app.button(key="train_submit").click().run()
    assert "The job was not started: version 1.0 is already being trained" in texts(app.error)
    follow(app, {"finished", "failed", "cancelled"})
    assert metrics(app)["State"] == "finished"
    assert "The job was not started" not in texts(app.error)
    assert len(jobs.list_jobs(make_engine(small_sqlite))) == 1


def test_cancel_from_the_page(dashboard, small_sqlite):
    app = dashboard(PAGE, DATABASE_URL=small_sqlite)
    app.slider(key="train_folds").set_value(3)
    app.multiselect(key="train_models").set_value(MANY)
    app.button(key="train_submit").click().run()
    app.button(key="train_cancel").click().run()
    assert not app.exception
    follow(app, {"cancelled", "finished", "failed"})
    assert metrics(app)["State"] == "cancelled"
    assert "no version was saved" in texts(app.warning)


def test_redis_down_is_said_and_the_job_fails_cleanly(dashboard, small_sqlite):
    app = dashboard(PAGE, DATABASE_URL=small_sqlite, REDIS_URL="redis://127.0.0.1:1/0")
    assert not app.exception
    warned = texts(app.warning)
    assert "Redis at 127.0.0.1:1 (database 0) does not answer (connection refused" in warned
    assert "so jobs cannot be queued. Start Redis" in warned and "redis://" not in warned
    app.multiselect(key="train_models").set_value(["lr"])
    app.button(key="train_submit").click().run()
    assert not app.exception
    assert "The job was not started: the job could not be queued" in texts(app.error)
    assert metrics(app)["State"] == "failed"


def test_database_down_is_said_not_a_traceback(dashboard):
    app = dashboard(PAGE, DATABASE_URL="postgresql://root@127.0.0.1:1/nothing")
    assert not app.exception
    assert "is not available right now" in texts(app.error)


def test_calibration_follows_the_imbalance_fix_and_the_options_reach_the_job(
    dashboard, small_sqlite
):
    app = dashboard(PAGE, DATABASE_URL=small_sqlite)
    assert app.selectbox(key="train_calibrate").value == "none"
    assert not app.checkbox(key="train_protected").value
    app.checkbox(key="train_imbalance").check().run()
    assert app.selectbox(key="train_calibrate").value == "isotonic"
    app.checkbox(key="train_imbalance").uncheck().run()
    assert app.selectbox(key="train_calibrate").value == "none"

    app.checkbox(key="train_imbalance").check().run()
    app.selectbox(key="train_calibrate").set_value("sigmoid")
    app.checkbox(key="train_protected").check()
    app.slider(key="train_folds").set_value(2)
    app.multiselect(key="train_models").set_value(["lr", "nb"])
    app.selectbox(key="train_metric").set_value("Brier")
    app.button(key="train_submit").click().run()
    assert not app.exception and not app.error
    job = jobs.list_jobs(make_engine(small_sqlite))[0]
    assert (job.fix_imbalance, job.calibrate, job.leave_out_protected) == (True, "sigmoid", True)

    follow(app, {"finished", "failed", "cancelled"})
    assert metrics(app)["State"] == "finished", texts(app.error)
    assert "probabilities sigmoid calibration; protected attributes left out" in texts(app.caption)
    board = next(d.value for d in app.dataframe if "Brier" in d.value.columns)
    assert list(board["Brier"]) == sorted(board["Brier"])  # lower is better: best first
    bars = chart(app, "train_board_chart")
    assert bars["title"] == "Models by Brier"


class SlowSetup(StandInExperiment):
    """Stays in the preparing stage (PyCaret's setup) until `ready` is set."""

    ready = threading.Event()

    def __init__(self, *args):
        assert self.ready.wait(60), "the test never let the preparation end"
        super().__init__(*args)


def test_the_history_agrees_with_the_panel_and_no_model_is_named_while_preparing(
    dashboard, small_sqlite, real_redis, redis_url
):
    """A worker claims its first model before preparing the data: the page says it is
    preparing, and the history below shows the state the panel shows, in words."""
    engine = make_engine(small_sqlite)
    job_id = jobs.submit(engine, {"folds": 2, "version": "1.0", "models": ["nb"]},
                         rq_runner(engine, real_redis))  # fmt: skip
    SlowSetup.ready.clear()
    worker = threading.Thread(target=train_job, args=(engine, job_id, SlowSetup))
    worker.start()
    try:
        wait_for(engine, job_id, lambda job: job.stage == "preparing")
        app = dashboard(PAGE, DATABASE_URL=small_sqlite, REDIS_URL=redis_url)
        assert not app.exception
        assert metrics(app)["State"] == "running"
        assert progress_text(app) == "Preparing the data: 0 of 1 models done"
        assert "Naive Bayes" not in texts(app.metric) + progress_text(app)
        history = job_history(app)
        assert list(history["State"]) == ["running: preparing the data"]
    finally:
        SlowSetup.ready.set()
        worker.join()
    app.run()
    history = job_history(app)
    assert metrics(app)["State"] == "finished" and list(history["State"]) == ["finished"]
    cells = history.astype(str).to_numpy().ravel()
    assert not any(cell in ("None", "nan") or "+00:00" in cell for cell in cells)
    assert history.iloc[0]["Submitted"].endswith(" UTC")
    assert history.iloc[0]["Clients"] == "1,500" and history.iloc[0]["Why"] == "—"
