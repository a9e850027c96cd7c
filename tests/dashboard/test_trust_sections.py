"""AppTest of the Leaderboards page's Calibration and Fairness sections: a miscalibrated
version (warning, metrics, curve, a flagged group, groups too few to judge), a calibrated
one, and versions without the figures (not computed; computing them from the holdout
works, or says why it cannot)."""

import os

import pytest
import redis
from sqlalchemy import select, update

from core import jobs
from core.db.engine import make_engine
from core.db.schema import ModelVersion
from core.jobs.runner import train_job
from core.ml.calibration import calibration_warning
from core.ml.experiment import Experiment
from core.ml.fairness import ATTRIBUTES
from core.ml.trust import FROM_HOLDOUT, trust_from_holdout
from tests.conftest import IN_CI
from tests.dashboard.charts import chart, metrics, open_tab, texts
from tests.jobs_support import load_clients, rq_runner
from tests.trained import register
from tests.trust_support import trust_evaluation

PAGE = "../pages/leaderboards.py"
MISCALIBRATED, CALIBRATED, BARE, OLDER = "1.0", "1.1", "0.9", "2.0"


@pytest.fixture(scope="module")
def trust_db(tmp_path_factory):
    """Real clients; 1.0 and 1.1 registered with the calibration and fairness core computes
    on real holdout clients (inflated probabilities, calibrated ones), 0.9 with none, and
    2.0 trained by a real job then stripped of its figures, as a version saved before them."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        (pytest.fail if IN_CI else pytest.skip)("TEST_REDIS_URL is not set")
    db_url = f"sqlite:///{tmp_path_factory.mktemp('trust') / 'credit.db'}"
    engine = make_engine(db_url)
    load_clients(engine)
    register(engine, MISCALIBRATED, "lr", evaluation=trust_evaluation("lr", calibrated=False))
    register(engine, CALIBRATED, "lr", evaluation=trust_evaluation("lr", calibrated=True))
    register(engine, BARE, "dt")
    queue = redis.Redis.from_url(url)
    job_id = jobs.submit(
        engine, {"folds": 2, "version": OLDER, "models": ["lr"]}, rq_runner(engine, queue)
    )
    assert train_job(engine, job_id, Experiment) == "finished"
    queue.flushdb()
    with engine.begin() as connection:
        evaluation = connection.execute(
            select(ModelVersion.evaluation).where(ModelVersion.version == OLDER)
        ).scalar_one()
        assert evaluation["calibration"] and evaluation["fairness"]
        stripped = {k: v for k, v in evaluation.items() if k not in ("calibration", "fairness")}
        connection.execute(
            update(ModelVersion).where(ModelVersion.version == OLDER).values(evaluation=stripped)
        )
    engine.dispose()
    return db_url


def detail(dashboard, url: str, version: str):
    app = open_tab(dashboard(PAGE, DATABASE_URL=url), "lb_view", "One version in detail")
    app.selectbox(key="lb_detail").set_value(version).run()
    assert not app.exception
    return app


def tables(app) -> dict:
    """The fairness tables shown, by attribute (in core.ml.fairness's order)."""
    shown = [frame.value for frame in app.dataframe if "Group" in frame.value.columns]
    assert len(shown) == len(ATTRIBUTES)
    return dict(zip(ATTRIBUTES, shown, strict=True))


def test_a_miscalibrated_version_is_marked_warned_and_its_figures_shown(dashboard, trust_db):
    stored = trust_evaluation("lr", calibrated=False)
    app = detail(dashboard, trust_db, MISCALIBRATED)
    assert calibration_warning(stored) in texts(app.warning)
    shown = metrics(app)
    calibration = stored["calibration"]
    assert shown["Brier score"] == f"{calibration['brier']:.4f}"
    assert shown["ECE"] == f"{calibration['ece']:.3f}"
    assert shown["Mean predicted"] == f"{calibration['mean_predicted']:.1%}"
    assert shown["Observed default rate"] == f"{calibration['observed_rate']:.1%}"
    assert "Not calibrated: the training job did not ask for it." in texts(app.caption)
    curve = chart(app, "lb_reliability")
    bars, diagonal, points = curve["traces"]
    assert list(bars["y"]) == [b["count"] for b in calibration["curve"]]
    assert list(diagonal["x"]) == [0, 1]
    assert list(points["y"]) == [b["observed"] for b in calibration["curve"] if b["count"]]

    options = app.selectbox(key="lb_detail").options
    assert any(o.startswith(f"{MISCALIBRATED} · ") and "miscalibrated" in o for o in options)
    assert not any(o.startswith(f"{CALIBRATED} · ") and "miscalibrated" in o for o in options)


def test_the_fairness_tables_flag_groups_and_leave_small_ones_unjudged(dashboard, trust_db):
    stored = trust_evaluation("lr", calibrated=False)["fairness"]["attributes"]["EDUCATION"]
    app = detail(dashboard, trust_db, MISCALIBRATED)
    education = tables(app)["EDUCATION"]
    assert list(education["Group"]) == [g["group"] for g in stored["groups"]]
    by_group = education.set_index("Group")
    for group in stored["groups"]:
        row = by_group.loc[group["group"]]
        assert row["Clients"] == f"{group['clients']:,}"
        assert row["Observed default rate"] == f"{100 * group['default_rate']:.1f}%"
        if group["judged"]:
            assert row["Ratio to most favoured"] == f"{group['ratio']:.2f}"
        else:
            assert row["Verdict"] == "too few to judge"
            assert row["Ratio to most favoured"] == "—"  # no figure, and not "None"
    flagged = stored["flagged"]
    assert flagged and all(by_group.loc[g, "Verdict"].startswith("⚠") for g in flagged)
    assert f"education: {flagged[0]}" in texts(app.warning)
    assert list(tables(app)["AGE"]["Group"])[0] == "<25"


def test_a_calibrated_version_shows_no_warning(dashboard, trust_db):
    app = detail(dashboard, trust_db, CALIBRATED)
    assert "miscalibrated" not in texts(app.warning)
    assert "Calibrated: read its scores as probabilities" in texts(app.success)


def test_a_version_without_figures_says_why_computing_them_cannot(dashboard, trust_db):
    app = detail(dashboard, trust_db, BARE)
    assert "not computed" in texts(app.info)
    app.button(key="lb_trust_compute").click().run()
    assert not app.exception
    assert "cannot be rebuilt: it stored no holdout probabilities" in texts(app.info)
    assert "lb_reliability" not in {c.key for c in app.get("plotly_chart")}


def test_an_older_version_is_computed_from_its_stored_holdout(dashboard, trust_db):
    expected = trust_from_holdout(make_engine(trust_db), OLDER)
    assert expected.status == FROM_HOLDOUT
    app = detail(dashboard, trust_db, OLDER)
    assert "not computed" in texts(app.info)
    assert "lb_reliability" not in {c.key for c in app.get("plotly_chart")}
    app.button(key="lb_trust_compute").click().run()
    assert not app.exception
    assert f"Calibration and fairness {FROM_HOLDOUT}." in texts(app.caption)
    assert metrics(app)["ECE"] == f"{expected.calibration['ece']:.3f}"
    assert chart(app, "lb_reliability")["traces"]
    sex = tables(app)["SEX"]
    assert list(sex["Group"]) == ["male", "female"]
    assert list(sex["Clients"]) == [
        f"{g['clients']:,}" for g in expected.fairness["attributes"]["SEX"]["groups"]
    ]
