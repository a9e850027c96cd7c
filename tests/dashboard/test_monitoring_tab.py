"""AppTest of the Score page's Monitoring tab: the score's PSI, its verdict, the chart over
time and the CSI table, equal to what core computes; versions without a holdout say so."""

import json

import numpy as np

from core.data.loader import load_frame
from core.db.engine import make_engine
from core.serving.scoring import score
from core.serving.stability import stability
from tests.core.test_stability import development_evaluation
from tests.dashboard.charts import metrics
from tests.trained import real_frame, register

PAGE = "../pages/score.py"


def test_monitoring_tab_shows_psi_verdict_chart_and_csi(dashboard, tmp_path):
    url = f"sqlite:///{tmp_path / 'stable.db'}"
    engine = make_engine(url)
    load_frame(engine, real_frame().iloc[:1500], "credit.csv")
    register(engine, "1.0", "lr", evaluation=development_evaluation())
    score(engine, real_frame().iloc[1500:1900], version="1.0", source="api")
    app = dashboard(PAGE, DATABASE_URL=url)
    app.selectbox(key="score_monitor_limit").set_value(1_000).run()
    assert not app.exception
    expected = stability(engine, "1.0", window=1_000)
    shown = metrics(app)
    assert shown["Score PSI"] == f"{expected.score.value:.3f}"
    assert shown["Recent scores"] == "400"
    assert expected.score.verdict in shown["Verdict"]
    charts = {c.key: json.loads(c.proto.spec) for c in app.get("plotly_chart")}
    over_time = charts["score_stability_over_time"]
    assert over_time["layout"]["title"]["text"] == "Score PSI per day"
    table = next(d.value for d in app.dataframe if "CSI" in d.value.columns)
    assert table["Feature"].tolist() == [f.name for f in expected.features]
    assert np.allclose(table["CSI"].to_numpy(float), [f.value for f in expected.features])
    assert any("under 0.10 stable" in c.value for c in app.caption)
    app.radio(key="score_stability_period").set_value("week").run()
    assert not app.exception
    charts = {c.key: json.loads(c.proto.spec) for c in app.get("plotly_chart")}
    assert charts["score_stability_over_time"]["layout"]["title"]["text"] == "Score PSI per week"
    engine.dispose()


def test_a_version_without_holdout_says_what_cannot_be_computed(dashboard, tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    load_frame(engine, real_frame().iloc[:1000], "credit.csv")
    register(engine, "1.0", "lr")
    score(engine, real_frame().iloc[:50], version="1.0", source="api")
    app = dashboard(PAGE, DATABASE_URL=url)
    assert not app.exception
    infos = " ".join(i.value for i in app.info)
    assert "stored no holdout probabilities" in infos and "Only 50 scores" in infos
    assert "Score PSI" not in metrics(app)
    engine.dispose()
