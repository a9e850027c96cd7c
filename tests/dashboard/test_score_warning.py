"""AppTest of the Score page's calibration warning: shown with the form's result and the
batch summary for a miscalibrated version, absent for a calibrated one."""

import pytest

from core.data.loader import load_frame
from core.db.engine import make_engine
from core.ml.calibration import calibration_warning
from tests.dashboard.charts import metrics, texts
from tests.trained import real_frame, register
from tests.trust_support import trust_evaluation

PAGE = "../pages/score.py"
MISCALIBRATED, CALIBRATED = "2.0", "2.1"


@pytest.fixture(scope="module")
def warned_sqlite(tmp_path_factory) -> str:
    """Real clients and two lr versions: one whose stored holdout calibration is off (its
    probabilities inflated, as SMOTE does), one calibrated."""
    url = f"sqlite:///{tmp_path_factory.mktemp('warned') / 'credit.db'}"
    engine = make_engine(url)
    load_frame(engine, real_frame().iloc[:3000], "credit.csv")
    register(engine, MISCALIBRATED, "lr", evaluation=trust_evaluation("lr", calibrated=False))
    register(engine, CALIBRATED, "lr", evaluation=trust_evaluation("lr", calibrated=True))
    engine.dispose()
    return url


def scored_form(dashboard, url: str, version: str):
    app = dashboard(PAGE, DATABASE_URL=url)
    app.selectbox(key="score_version").set_value(version).run()
    app.button(key="score_fill_typical").click().run()
    app.button(key="score_submit").click().run()
    assert not app.exception and metrics(app)["Model version"] == version
    return app


def test_the_form_result_of_a_miscalibrated_version_is_warned(dashboard, warned_sqlite):
    expected = calibration_warning(trust_evaluation("lr", calibrated=False))
    app = scored_form(dashboard, warned_sqlite, MISCALIBRATED)
    assert f"Model version {MISCALIBRATED}: {expected}" in texts(app.warning)
    app.slider(key="score_threshold").set_value(0.3).run()  # still shown on a relabel
    assert expected in texts(app.warning)


def test_the_form_result_of_a_calibrated_version_is_not_warned(dashboard, warned_sqlite):
    app = scored_form(dashboard, warned_sqlite, CALIBRATED)
    assert "miscalibrated" not in texts(app.warning)


@pytest.mark.parametrize("version", [MISCALIBRATED, CALIBRATED])
def test_the_batch_summary_carries_the_warning_of_a_miscalibrated_version(
    dashboard, warned_sqlite, version
):
    data = real_frame().iloc[3000:3100].to_csv(index=False).encode()
    app = dashboard(PAGE, DATABASE_URL=warned_sqlite)
    app.selectbox(key="score_version").set_value(version).run()
    app.file_uploader(key="score_upload").upload("new.csv", data, "text/csv").run()
    app.button(key="score_batch_run").click().run()
    assert not app.exception and metrics(app)["Clients scored"] == "100"
    warned = "miscalibrated" in texts(app.warning)
    assert warned == (version == MISCALIBRATED)
