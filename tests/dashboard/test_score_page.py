"""AppTest of the Score page: the form and its result, prefill, batch files, monitoring,
no model yet, a damaged or tampered model and a database that is down."""

import base64
import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update

from core.data.loader import load_frame
from core.db.engine import make_engine
from core.db.schema import ModelVersion
from core.serving.policy import expected_loss
from core.serving.predictions import recent_scores
from core.serving.scoring import score
from core.vocabulary import FEATURES, ID, TARGET
from tests.dashboard.charts import metrics
from tests.queries import counting_queries
from tests.tampering import evil_artifact, tamper
from tests.trained import real_frame, register

PAGE = "../pages/score.py"


@pytest.fixture(scope="module")
def scoring_sqlite(tmp_path_factory) -> str:
    """A SQLite database with 3,000 real clients and two models: 1.0 (lr) and 1.1 (dt)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('score') / 'credit.db'}"
    engine = make_engine(url)
    load_frame(engine, real_frame().iloc[:3000], "credit.csv")
    register(engine, "1.0", "lr")
    register(engine, "1.1", "dt")
    engine.dispose()
    return url


@pytest.fixture
def engine_of():
    engines = []

    def make(url: str):
        engines.append(make_engine(url))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


def charts(app) -> dict[str, dict]:
    return {c.key: json.loads(c.proto.spec) for c in app.get("plotly_chart")}


def edit_months(app, edits: dict) -> None:
    key = f"score_months_{app.session_state['score_months_rev']}"
    app.session_state[key] = {"edited_rows": edits, "added_rows": [], "deleted_rows": []}


def form_client(**changes) -> dict:
    """What the form sends when it starts from client id 5 and `changes` are made."""
    values = real_frame().set_index(ID).loc[5, FEATURES]
    return {name: int(values[name]) for name in FEATURES} | changes


def test_no_model_yet_says_so_and_points_to_training(dashboard, tmp_path):
    app = dashboard(PAGE, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")
    assert not app.exception
    assert "No model has been trained yet" in app.info[0].value
    pointer = [link.label for link in app.get("page_link")] or [c.value for c in app.caption]
    assert any("Train" in text for text in pointer)
    assert not app.get("tabs")


def test_the_form_scores_a_client_and_shows_why(dashboard, scoring_sqlite, engine_of):
    engine = engine_of(scoring_sqlite)
    before = len(recent_scores(engine))
    app = dashboard(PAGE, DATABASE_URL=scoring_sqlite)
    assert not app.exception
    assert app.selectbox(key="score_version").value == "1.1"  # no champion: the latest
    app.selectbox(key="score_version").set_value("1.0")
    app.number_input(key="score_client_id").set_value(5)
    app.button(key="score_fill_client").click().run()
    assert "Filled in client 5." in app.info[0].value
    assert app.number_input(key="score_AGE").value == form_client()["AGE"]
    app.number_input(key="score_AGE").set_value(45)
    app.selectbox(key="score_EDUCATION").set_value(0)
    edit_months(app, {0: {"Status": 3}, 2: {"Paid": 0}})
    app.button(key="score_submit").click().run()
    assert not app.exception and not app.error

    client = form_client(AGE=45, EDUCATION=0, PAY_1=3, PAY_AMT3=0)
    expected = score(engine, client, version="1.0")
    shown = metrics(app)
    assert shown["Probability of default"] == f"{expected.probability:.1%}"
    assert shown["Prediction at threshold 0.50"] == expected.label_text
    assert shown["Model version"] == "1.0"
    figures = charts(app)
    assert figures["score_gauge"]["data"][0]["value"] == round(expected.probability * 100, 1)
    bars = figures["score_explanation"]["data"][0]
    assert len(bars["y"]) == 12 and any(y.startswith("Status Sep 2005") for y in bars["y"])
    assert any("occlusion" in c.value for c in app.caption)

    log = recent_scores(engine)
    assert len(log) == before + 1
    assert log.iloc[-1]["source"] == "form"
    assert {name: log.iloc[-1][name] for name in FEATURES} == client

    app.slider(key="score_threshold").set_value(0.0).run()  # relabels, does not rescore
    assert metrics(app)["Prediction at threshold 0.00"] == "Default"
    assert len(recent_scores(engine)) == before + 1


def test_a_page_run_reads_at_most_one_evaluation_and_never_all(dashboard, scoring_sqlite):
    with counting_queries() as opening:
        app = dashboard(PAGE, DATABASE_URL=scoring_sqlite)
    with counting_queries() as scoring:
        app.selectbox(key="score_version").set_value("1.0")
        app.button(key="score_submit").click().run()
    with counting_queries() as relabelling:
        app.slider(key="score_threshold").set_value(0.3).run()
    assert not app.exception and metrics(app)["Model version"] == "1.0"
    for run in (opening, scoring):
        assert run.listed == 0 and run.keyed <= 1
    assert relabelling.evaluation_reads == []


def test_a_tree_model_is_explained_with_shap(dashboard, scoring_sqlite):
    app = dashboard(PAGE, DATABASE_URL=scoring_sqlite)
    app.button(key="score_fill_typical").click().run()
    app.button(key="score_submit").click().run()
    assert not app.exception and metrics(app)["Model version"] == "1.1"
    assert any("SHAP" in c.value for c in app.caption)


def test_invalid_fields_are_named_and_nothing_is_scored(dashboard, scoring_sqlite, engine_of):
    engine = engine_of(scoring_sqlite)
    before = len(recent_scores(engine))
    app = dashboard(PAGE, DATABASE_URL=scoring_sqlite)
    edit_months(app, {1: {"Bill": None}, 4: {"Paid": None}})
    app.button(key="score_submit").click().run()
    assert not app.exception
    error = app.error[0].value
    assert "The client cannot be scored" in error
    assert "BILL_AMT2 (bill in Aug 2005): missing value" in error
    assert "PAY_AMT5 (amount paid in May 2005): missing value" in error
    assert "Probability of default" not in metrics(app)
    assert len(recent_scores(engine)) == before


def test_an_unknown_client_id_is_a_warning(dashboard, scoring_sqlite):
    app = dashboard(PAGE, DATABASE_URL=scoring_sqlite)
    app.number_input(key="score_client_id").set_value(99_999)
    app.button(key="score_fill_client").click().run()
    assert "No client has id 99999." in app.warning[0].value


def test_a_file_is_scored_shown_and_offered_for_download(dashboard, scoring_sqlite, engine_of):
    engine = engine_of(scoring_sqlite)
    before = len(recent_scores(engine))
    rows = real_frame().iloc[3000:3200]
    data = rows.rename(columns={"PAY_1": "PAY_0"}).to_csv(index=False).encode()
    app = dashboard(PAGE, DATABASE_URL=scoring_sqlite)
    app.selectbox(key="score_version").set_value("1.0").run()
    app.file_uploader(key="score_upload").upload("new.csv", data, "text/csv").run()
    app.button(key="score_batch_run").click().run()
    assert not app.exception and not app.error
    assert metrics(app)["Clients scored"] == "200"
    expected = score(engine, rows, version="1.0")
    assert metrics(app)["Predicted to default at 0.50"] == f"{int(expected['label'].sum()):,}"
    bars = charts(app)["score_histogram"]["data"][0]
    shown = np.frombuffer(base64.b64decode(bars["y"]["bdata"]), dtype=bars["y"]["dtype"])
    bins = np.minimum(np.floor(expected["probability"].to_numpy() * 100), 100).astype(int)
    np.testing.assert_array_equal(shown, np.bincount(bins, minlength=101))
    download = app.download_button(key="score_download")
    assert download.proto.label == "Download the results (CSV)"
    results = app.session_state["score_batch"][1]
    written = pd.read_csv(results.path, float_precision="round_trip")
    assert list(written[ID]) == list(expected[ID]) and len(written) == 200
    np.testing.assert_array_max_ulp(written["probability"], expected["probability"], maxulp=4)
    reasons = [f"reason_{n}" for n in range(1, 5)]
    assert list(written.columns) == [ID, *FEATURES, TARGET, "probability", "label", *reasons]
    table = app.dataframe[-1].value  # the view, not the CSV: key columns first, in words
    assert list(table.columns[:5]) == [
        "Client", "Probability of default", "Decision", "Expected loss (NT$)", "Main reason"
    ]  # fmt: skip
    assert len(table) == 200 and not any("_" in column for column in table.columns)
    assert list(table["Client"]) == list(written[ID])
    np.testing.assert_allclose(table["Probability of default"], written["probability"] * 100)
    assert list(table["Decision"]) == list(written["label"].map({0: "Approve", 1: "Decline"}))
    first = written.iloc[0]
    loss = expected_loss(engine, "1.0", first["probability"], first[FEATURES].to_dict())
    assert table["Expected loss (NT$)"].iloc[0] == pytest.approx(loss)
    formats = {
        name: column.get("type_config", {}).get("format")
        for name, column in json.loads(app.dataframe[-1].proto.columns).items()
    }
    assert formats["Probability of default"] == "%.1f%%"
    assert formats["Expected loss (NT$)"] == "%,d" and formats["Credit limit"] == "NT$ %,d"
    log = recent_scores(engine)
    assert len(log) == before + 200 and set(log["source"].iloc[-200:]) == {"batch"}

    app.slider(key="score_threshold").set_value(0.2).run()  # relabels the shown results
    relabelled = int((expected["probability"] >= 0.2).sum())
    assert metrics(app)["Predicted to default at 0.20"] == f"{relabelled:,}"
    assert len(recent_scores(engine)) == before + 200


def test_a_bad_file_lists_its_problems_and_nothing_is_scored(dashboard, scoring_sqlite, engine_of):
    engine = engine_of(scoring_sqlite)
    before = len(recent_scores(engine))
    rows = real_frame().iloc[:5].drop(columns=[TARGET]).astype(object)
    rows.loc[1, "SEX"] = 7
    rows.loc[3, "AGE"] = "old"
    app = dashboard(PAGE, DATABASE_URL=scoring_sqlite)
    data = rows.to_csv(index=False).encode()
    app.file_uploader(key="score_upload").upload("bad.csv", data, "text/csv").run()
    app.button(key="score_batch_run").click().run()
    assert not app.exception
    error = app.error[0].value
    assert "Nothing was scored: the file has problems." in error
    assert "line 3, column SEX: 7 is outside 1..2" in error
    assert "line 5, column AGE: 'old' is not a number" in error
    assert "Clients scored" not in metrics(app)
    assert len(recent_scores(engine)) == before


def test_monitoring_compares_recent_scores_with_training(dashboard, tmp_path):
    url = f"sqlite:///{tmp_path / 'watch.db'}"
    engine = make_engine(url)
    load_frame(engine, real_frame().iloc[:2500], "credit.csv")
    register(engine, "1.0", "lr")
    app = dashboard(PAGE, DATABASE_URL=url)
    assert any("No scores of model version 1.0 are logged yet" in i.value for i in app.info)
    score(engine, real_frame().iloc[2500:2800], version="1.0", source="api")
    app.selectbox(key="score_monitor_limit").set_value(1_000).run()
    assert not app.exception
    assert any("The newest 300 scores of version 1.0" in c.value for c in app.caption)
    figures = charts(app)
    probability = figures["score_monitor_probability"]
    assert probability["layout"]["title"]["text"].startswith("Probability of default (KS")
    assert [t["name"] for t in probability["data"]] == ["Training (2,000)", "Recent scores (300)"]
    assert {"score_monitor_AGE", "score_monitor_PAY_1"} <= set(figures)
    engine.dispose()


def test_a_damaged_model_is_refused_with_a_message(dashboard, tmp_path):
    url = f"sqlite:///{tmp_path / 'damaged.db'}"
    engine = make_engine(url)
    register(engine, "2.0", "lr")
    with engine.begin() as connection:
        connection.execute(update(ModelVersion).values(artifact=b"\x80not a model"))
    app = dashboard(PAGE, DATABASE_URL=url)
    assert not app.exception
    assert "Model version 2.0 cannot be used" in app.error[0].value
    assert "damaged" in app.error[0].value
    engine.dispose()


def test_a_tampered_model_is_refused_with_a_message_and_never_unpickled(dashboard, tmp_path):
    url = f"sqlite:///{tmp_path / 'tampered.db'}"
    engine = make_engine(url)
    load_frame(engine, real_frame().iloc[:500], "credit.csv")
    register(engine, "1.0", "lr")
    register(engine, "2.0", "lr")
    marker = tmp_path / "ran"
    tamper(engine, "2.0", evil_artifact(marker))  # a matching sha256, no valid signature
    app = dashboard(PAGE, DATABASE_URL=url)
    assert not app.exception and not app.tabs
    assert app.error[0].value.startswith(
        "Model version 2.0 cannot be used: model version 2.0 is not signed with this "
        "deployment's MODEL_SIGNING_KEY: refused, not loaded"
    )
    app.selectbox(key="score_version").set_value("1.0").run()
    assert not app.exception and not app.error and app.tabs
    assert not marker.exists()
    engine.dispose()


def test_database_down_gives_a_readable_error(dashboard):
    app = dashboard(PAGE, DATABASE_URL="postgresql://root@127.0.0.1:1/credit")
    assert not app.exception
    assert "The database is not available right now" in app.error[0].value


def test_a_file_above_the_upload_limit_is_refused_naming_it(dashboard, scoring_sqlite, engine_of):
    from core.data.synthetic import synthetic

    engine = engine_of(scoring_sqlite)
    before = len(recent_scores(engine))
    data = synthetic(12_000).drop(columns=[TARGET]).to_csv(index=False).encode()
    size = f"{len(data) / 2**20:.1f}"
    assert size != "1.0"
    app = dashboard(PAGE, DATABASE_URL=scoring_sqlite, SCORING_UPLOAD_MB="1")
    assert app.get("file_uploader")[0].proto.max_upload_size_mb == 1
    app.file_uploader(key="score_upload").upload("big.csv", data, "text/csv").run()
    app.button(key="score_batch_run").click().run()
    assert not app.exception
    assert app.error[0].value == (
        f"Nothing was scored: the file is {size} MB, more than the limit of 1 MB "
        "(setting SCORING_UPLOAD_MB)."
    )
    assert "Clients scored" not in metrics(app)
    assert len(recent_scores(engine)) == before
