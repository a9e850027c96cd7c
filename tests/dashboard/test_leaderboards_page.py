"""AppTest of the Leaderboards page on two versions trained by real jobs: side by side,
the charts, one version in detail, marking the champion; no versions; a tampered version;
database down."""

import os

import pytest
import redis

from core import jobs
from core.db.engine import make_engine
from core.jobs.runner import train_job
from core.ml.experiment import Experiment
from core.ml.registry import default_version
from tests.conftest import IN_CI
from tests.dashboard.charts import chart, open_tab, texts
from tests.jobs_support import load_clients, rq_runner
from tests.queries import BY_VERSION, counting_queries
from tests.tampering import evil_artifact, tamper
from tests.trained import register

PAGE = "../pages/leaderboards.py"
VIEW = "lb_view"  # the key of the page's tabs, each drawn only while open
COMPARE, DETAIL, HISTORY = "Compare versions", "One version in detail", "History"


@pytest.fixture(scope="module")
def trained_db(tmp_path_factory):
    """1,500 real clients and versions 1.0 (lr, nb) and 1.1 (dt, lr, nb) from real jobs.

    The jobs are queued on the test Redis and run here, in this process, by the same
    function an RQ worker runs; the queue is flushed after.
    """
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        (pytest.fail if IN_CI else pytest.skip)("TEST_REDIS_URL is not set")
    queue = redis.Redis.from_url(url)
    db_url = f"sqlite:///{tmp_path_factory.mktemp('boards') / 'credit.db'}"
    engine = make_engine(db_url)
    load_clients(engine)
    for version, models in (("1.0", ["lr", "nb"]), ("1.1", ["dt", "lr", "nb"])):
        asked = {"folds": 2, "version": version, "models": models}
        job_id = jobs.submit(engine, asked, rq_runner(engine, queue))
        assert train_job(engine, job_id, Experiment) == "finished"
    queue.flushdb()
    engine.dispose()
    return db_url


def test_without_versions_the_page_points_to_train(dashboard, tmp_path):
    app = dashboard(PAGE, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")
    assert not app.exception
    assert "No model version yet" in texts(app.info)


def test_versions_side_by_side_with_their_charts(dashboard, trained_db):
    app = dashboard(PAGE, DATABASE_URL=trained_db)
    assert not app.exception
    assert app.multiselect(key="lb_versions").value == ["1.1"]  # the newest by default
    app.multiselect(key="lb_versions").set_value(["1.0", "1.1"]).run()
    table = app.dataframe[0].value
    assert sorted(zip(table["Version"], table["Model"], strict=True)) == [
        ("1.0", "Logistic Regression"),
        ("1.0", "Naive Bayes"),
        ("1.1", "Decision Tree Classifier"),
        ("1.1", "Logistic Regression"),
        ("1.1", "Naive Bayes"),
    ]
    assert list(table["AUC"]) == sorted(table["AUC"], reverse=True)
    assert {"Accuracy", "AUC", "Recall", "Prec.", "F1", "Kappa", "MCC", "TT (Sec)"} <= set(
        table.columns
    )
    assert (table["Kept"] == "★").sum() == 2

    models = chart(app, "lb_models")
    assert [t["name"] for t in models["traces"]] == ["version 1.0", "version 1.1"]
    assert len(chart(app, "lb_heatmap")["traces"][0]["y"]) == 5
    assert len(chart(app, "lb_time")["traces"]) == 2
    assert not [c for c in app.get("plotly_chart") if c.key in ("lb_history", "lb_roc")]

    app.selectbox(key="lb_metric").set_value("Accuracy").run()
    assert chart(app, "lb_models")["title"] == "Models by Accuracy"

    open_tab(app, VIEW, HISTORY)
    assert chart(app, "lb_history")["traces"][0]["x"] == ["1.0", "1.1"]
    assert "No champion has been chosen yet." in texts(app.caption)
    # The comparison's choices outlive its closed tab.
    open_tab(app, VIEW, COMPARE)
    assert app.multiselect(key="lb_versions").value == ["1.0", "1.1"]
    assert app.selectbox(key="lb_metric").value == "Accuracy"


def test_one_version_in_detail_and_marking_the_champion(dashboard, trained_db):
    app = open_tab(dashboard(PAGE, DATABASE_URL=trained_db), VIEW, DETAIL)
    assert app.selectbox(key="lb_detail").value == "1.1"  # the first version compared
    app.selectbox(key="lb_detail").set_value("1.0").run()
    shown = {m.label: m.value for m in app.metric}
    assert shown["Rows · folds"] == "1,500 · 2"
    assert len(chart(app, "lb_roc")["traces"]) == 2
    assert chart(app, "lb_pr")["traces"][0]["x"]
    assert sum(map(sum, chart(app, "lb_confusion")["traces"][0]["z"])) == 450
    assert len(chart(app, "lb_importance")["traces"][0]["y"]) == 15

    app.button(key="lb_champion").click().run()
    assert not app.exception
    assert "Version 1.0 is the champion" in texts(app.success)
    assert default_version(make_engine(trained_db)) == "1.0"
    open_tab(app, VIEW, HISTORY)
    history = app.dataframe[0].value
    assert list(history["Champion"]) == ["1.0"] and list(history["Replaced"]) == [""]
    open_tab(app, VIEW, COMPARE)
    assert any(
        o.startswith("1.0 · ") and "★ champion" in o  # a miscalibrated version's mark follows
        for o in app.multiselect(key="lb_versions").options
    )


def test_a_page_run_reads_one_evaluation_by_key_and_no_list_of_them(dashboard, trained_db):
    with counting_queries() as opening:
        app = dashboard(PAGE, DATABASE_URL=trained_db)
    with counting_queries() as comparing:
        app.multiselect(key="lb_versions").set_value(["1.0", "1.1"]).run()
    open_tab(app, VIEW, DETAIL)
    with counting_queries() as detailing:
        app.selectbox(key="lb_detail").set_value("1.0").run()
    assert not app.exception
    for run in (opening, comparing, detailing):
        keyed_reads = [s for s in run.evaluation_reads if BY_VERSION.search(s)]
        # the parts of the version shown in detail that the page draws, read by key; the
        # champion comparison may read its calibration and fairness once more; the
        # comparison's tab reads none (opening the shell first shows Home, whose champion
        # card reads the champion's calibration)
        least, most = {id(opening): (0, 1), id(comparing): (0, 0)}.get(id(run), (1, 2))
        assert least <= len(keyed_reads) <= most, [s[-200:] for s in keyed_reads]
        # every version's calibration verdict, for the marks: that one value, no evaluation
        [verdicts] = [s for s in run.evaluation_reads if not BY_VERSION.search(s)]
        assert verdicts.count("model_versions.evaluation") == 1 and "AS verdict" in verdicts


def test_choosing_no_version_says_so(dashboard, trained_db):
    app = dashboard(PAGE, DATABASE_URL=trained_db)
    app.multiselect(key="lb_versions").set_value([]).run()
    assert not app.exception
    assert "Choose at least one version." in texts(app.info)


def test_a_tampered_version_is_named_and_cannot_be_the_champion(dashboard, tmp_path):
    url = f"sqlite:///{tmp_path / 'tampered.db'}"
    engine = make_engine(url)
    register(engine, "1.0", "lr")
    register(engine, "2.0", "lr")
    marker = tmp_path / "ran"
    tamper(engine, "1.0", evil_artifact(marker))  # a matching sha256, no valid signature
    app = open_tab(dashboard(PAGE, DATABASE_URL=url), VIEW, DETAIL)
    assert not app.exception and not app.error  # 2.0, the newest, is shown: it is genuine
    assert [b.key for b in app.button if b.key != "lb_trust_compute"] == ["lb_champion"]
    app.selectbox(key="lb_detail").set_value("1.0").run()
    assert not app.exception and not [b for b in app.button if b.key == "lb_champion"]
    assert texts(app.error).startswith(
        "Version 1.0 cannot be used for scoring: model version 1.0 is not signed with this "
        "deployment's MODEL_SIGNING_KEY: refused, not loaded"
    )
    assert not marker.exists() and default_version(engine) == "2.0"
    engine.dispose()


def test_database_down_is_said_not_a_traceback(dashboard):
    app = dashboard(PAGE, DATABASE_URL="postgresql://root@127.0.0.1:1/nothing")
    assert not app.exception
    assert "is not available right now" in texts(app.error)
