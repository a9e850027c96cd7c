"""Scoring on SQLite and Postgres with models trained in the test: the same probabilities as
PyCaret's predict_model, labels, explanations, files, the prediction log and monitoring."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, update

from core.data.dataset import DataError
from core.data.loader import load_frame
from core.db.schema import ModelVersion, Prediction
from core.ml.registry import ArtifactError, VersionError, set_champion
from core.serving.log_buffer import LogStatus, PredictionBuffer, check_writable, prediction_log
from core.serving.monitoring import KEY_FEATURES, monitoring
from core.serving.predictions import log_scores, recent_scores
from core.serving.schemas import InputError
from core.serving.scoring import (
    ExplanationMethod,
    NoModelError,
    Score,
    explain,
    get_model,
    is_loaded,
    relabel,
    score,
    score_file,
)
from core.vocabulary import FEATURES, ID, TARGET
from tests.conftest import ROOT
from tests.jobs_support import poll
from tests.trained import pipelines, real_frame, register


@pytest.fixture(scope="module")
def clients() -> pd.DataFrame:
    """400 real clients (ID, features, default), most of them not in the training sample."""
    return real_frame().iloc[:400].reset_index(drop=True)


def one(clients, row: int = 7) -> dict:
    return {name: int(clients.at[row, name]) for name in FEATURES}


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


@pytest.mark.parametrize("model_id", ["lr", "dt"])
def test_probabilities_equal_predict_model(engine, clients, model_id):
    from pycaret.classification import predict_model

    register(engine, "1.0", model_id)
    expected = predict_model(
        pipelines()[model_id], data=clients[FEATURES], raw_score=True, round=15, verbose=False
    )["prediction_score_1"].to_numpy()
    results = score(engine, clients, version="1.0")
    np.testing.assert_allclose(results["probability"], expected, rtol=0, atol=1e-9)
    single = score(engine, one(clients), version="1.0")
    assert isinstance(single, Score) and abs(single.probability - expected[7]) < 1e-9


def test_labels_follow_the_threshold(engine, clients):
    register(engine)
    results = score(engine, clients, version="1.0", threshold=0.3)
    assert results["label"].tolist() == (results["probability"] >= 0.3).astype(int).tolist()
    assert 0 < results["label"].sum() < len(results)
    assert score(engine, clients, threshold=0.0)["label"].eq(1).all()
    single = score(engine, one(clients), version="1.0")
    assert Score("1.0", single.probability, 0.0).label_text == "Default"
    assert Score("1.0", single.probability, 1.0).label_text == "Not default"
    with pytest.raises(ValueError, match="threshold 1.5 is outside 0..1"):
        score(engine, one(clients), threshold=1.5)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 1.0])
def test_relabelling_applies_the_same_rule_without_scoring_again(engine, clients, threshold):
    register(engine)
    results = score(engine, clients, version="1.0")
    single = score(engine, one(clients), version="1.0")
    before = len(recent_scores(engine))
    expected = score(engine, clients, version="1.0", threshold=threshold)["label"]
    original = results["label"].copy()
    relabelled = relabel(results, threshold)
    assert relabelled["label"].tolist() == expected.tolist()
    assert relabelled["probability"].equals(results["probability"])
    assert relabelled.attrs["version"] == "1.0" and results["label"].equals(original)
    moved = single.relabel(threshold)
    assert moved == Score("1.0", single.probability, threshold)
    assert moved.label == int(expected.iloc[7])
    assert len(recent_scores(engine)) == before
    with pytest.raises(ValueError, match="threshold -0.1 is outside 0..1"):
        single.relabel(-0.1)


def test_the_default_version_is_the_champion_else_the_latest(engine, clients):
    with pytest.raises(NoModelError, match="no model has been trained yet"):
        score(engine, one(clients))
    register(engine, "1.0", "lr")
    register(engine, "1.1", "dt")
    assert score(engine, one(clients)).version == "1.1"
    set_champion(engine, "1.0")
    assert score(engine, one(clients)).version == "1.0"
    with pytest.raises(VersionError, match="no model version 7.0"):
        score(engine, one(clients), version="7")


def test_a_damaged_artifact_is_refused_and_nothing_is_logged(engine, clients):
    register(engine, "3.0")
    with engine.begin() as connection:
        connection.execute(
            update(ModelVersion).where(ModelVersion.version == "3.0").values(artifact=b"\x80evil")
        )
    with pytest.raises(ArtifactError, match="model version 3.0 is damaged"):
        score(engine, one(clients), version="3.0", source="form")
    assert recent_scores(engine).empty


def test_a_bad_client_is_refused_by_field_and_not_logged(engine, clients):
    register(engine)
    with pytest.raises(InputError, match=r"AGE \(age in years\): 7 is outside 18..120"):
        score(engine, {**one(clients), "AGE": 7}, source="form")
    assert recent_scores(engine).empty


def test_tree_models_are_explained_by_shap_values_that_add_up(engine, clients):
    register(engine, "1.0", "dt")
    client = one(clients)
    why = explain(engine, client, version="1.0")
    assert why.method is ExplanationMethod.SHAP
    assert abs(why.baseline + why.effects["effect"].sum() - why.probability) < 1e-6
    assert abs(why.probability - score(engine, client, version="1.0").probability) < 1e-12
    assert set(why.effects["feature"]) == set(FEATURES)


def test_other_models_are_explained_by_occlusion_against_typical_values(engine, clients):
    sample = {name: [int(v) for v in real_frame()[name].iloc[:300]] for name in FEATURES}
    register(engine, "1.0", "lr", evaluation={"train_sample": sample})
    client = one(clients)
    why = explain(engine, client, version="1.0")
    assert why.method is ExplanationMethod.OCCLUSION
    effects = why.effects.set_index("feature")["effect"]
    typical_status = int(pd.Series(sample["PAY_1"]).mode().iloc[0])
    changed = score(engine, {**client, "PAY_1": typical_status}, version="1.0").probability
    assert abs(effects["PAY_1"] - (why.probability - changed)) < 1e-12
    sizes = why.effects["effect"].abs().to_numpy()
    assert (sizes[:-1] >= sizes[1:]).all()  # largest first


def uci_file(frame: pd.DataFrame) -> bytes:
    renamed = frame.rename(columns={"PAY_1": "PAY_0", TARGET: "default payment next month"})
    return csv_bytes(renamed)


def test_a_good_file_is_scored_and_logged_as_one_batch(engine, clients):
    register(engine)
    clients = clients.assign(ID=clients[ID] + 1000)
    results = score_file(engine, uci_file(clients), version="1.0", threshold=0.4)
    assert list(results.columns) == [ID, *FEATURES, TARGET, "probability", "label"]
    assert results[ID].tolist() == clients[ID].tolist()
    expected = score(engine, clients, version="1.0")["probability"]
    np.testing.assert_allclose(results["probability"], expected, rtol=0, atol=1e-12)
    log = recent_scores(engine)
    assert len(log) == len(clients) and set(log["source"]) == {"batch"}
    assert log["created_at"].nunique() == 1 and set(log["threshold"]) == {0.4}
    assert log["label"].tolist() == results["label"].tolist()
    assert log[FEATURES].equals(clients[FEATURES].reset_index(drop=True))


def test_a_file_without_target_or_ids_in_x_columns_is_scored(engine, clients):
    register(engine)
    features = clients[FEATURES].rename(columns={n: f"X{i}" for i, n in enumerate(FEATURES, 1)})
    results = score_file(engine, csv_bytes(features), version="1.0", source=None)
    assert results[ID].tolist() == list(range(1, len(clients) + 1))
    assert TARGET not in results.columns and recent_scores(engine).empty


BAD_FILES = {
    "unknown header": (b"LIMIT_BAL,SEX,colour\n1,2,3\n", "line 1: header not recognised"),
    "empty": (b"", "the file is empty"),
    "not UTF-8": (b"LIMIT_BAL\n\xff\n", "line 2: byte 0xFF is not UTF-8"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_an_unusable_file_is_refused_and_nothing_is_scored(engine, case):
    register(engine)
    data, message = BAD_FILES[case]
    with pytest.raises(DataError, match=message):
        score_file(engine, data, version="1.0")
    assert recent_scores(engine).empty


def test_a_mixed_file_names_every_bad_row_and_scores_none(engine, clients):
    register(engine)
    mixed = clients[FEATURES].astype(object)
    mixed.loc[148, "AGE"] = 7  # file line 150
    mixed.loc[200, "SEX"] = "woman"  # line 202
    mixed.loc[300, "PAY_AMT3"] = ""  # line 302
    with pytest.raises(DataError) as caught:
        score_file(engine, csv_bytes(mixed), version="1.0")
    assert [str(p) for p in caught.value.problems] == [
        "line 150, column AGE: 7 is outside 18..120",
        "line 202, column SEX: 'woman' is not a number",
        "line 302, column PAY_AMT3: missing value",
    ]
    assert recent_scores(engine).empty


def test_the_log_records_each_scoring_with_its_inputs(engine, clients):
    register(engine, "1.0", "lr")
    register(engine, "1.1", "dt")
    first = score(engine, one(clients, 1), version="1.0", threshold=0.2, source="form")
    score(engine, one(clients, 2), version="1.1", source="cli")
    score(engine, one(clients, 3), version="1.1")  # no source: not logged
    score_file(engine, csv_bytes(clients.iloc[:5]), version="1.1", source="batch")
    log = recent_scores(engine)
    assert log["source"].tolist() == ["form", "cli", *["batch"] * 5]
    assert log["version"].tolist() == ["1.0", "1.1", *["1.1"] * 5]
    row = log.iloc[0]
    assert {name: row[name] for name in FEATURES} == one(clients, 1)
    assert row["probability"] == pytest.approx(first.probability, abs=1e-12)
    assert (row["threshold"], row["label"]) == (0.2, first.label)
    assert recent_scores(engine, version="1.0", limit=10)["source"].tolist() == ["form"]
    assert recent_scores(engine, limit=2)["source"].tolist() == ["batch", "batch"]


def test_the_log_refuses_unknown_sources_and_mismatched_rows(engine, clients):
    frame = clients[FEATURES].iloc[:2]
    with pytest.raises(ValueError, match="source 'web' is not one of form, batch, cli, api"):
        log_scores(
            engine,
            version="1.0",
            features=frame,
            probabilities=np.ones(2),
            threshold=0.5,
            source="web",
        )
    with pytest.raises(ValueError, match="2 clients but 1 probabilities"):
        log_scores(
            engine,
            version="1.0",
            features=frame,
            probabilities=np.ones(1),
            threshold=0.5,
            source="api",
        )
    assert recent_scores(engine).empty


def test_monitoring_compares_recent_scores_with_loaded_clients(engine, clients):
    load_frame(engine, real_frame().iloc[:3000], "credit.csv")
    register(engine)
    assert monitoring(engine, "1.0").recent.empty
    score_file(engine, csv_bytes(clients), version="1.0")
    watched = monitoring(engine, "1.0", limit=300)
    assert len(watched.recent) == 300
    assert "2,000 loaded clients scored by the model" in watched.reference.source
    assert len(watched.reference.probabilities) == 2000
    expected = get_model(engine, "1.0").probabilities(real_frame().iloc[:3000])
    assert set(np.round(watched.reference.probabilities, 12)) <= set(np.round(expected, 12))
    assert watched.drift["name"].tolist() == ["probability", *KEY_FEATURES]
    assert watched.drift["ks_distance"].between(0, 1).all()


def test_monitoring_uses_the_models_own_reference_when_stored(engine, clients):
    sample = {name: [int(v) for v in real_frame()[name].iloc[:300]] for name in FEATURES}
    register(engine, evaluation={"probabilities": [0.1, 0.2, 0.9], "train_sample": sample})
    score(engine, one(clients), version="1.0", source="api")
    watched = monitoring(engine, "1.0")
    assert watched.reference.source.startswith("scores: the model's holdout predictions")
    assert watched.reference.probabilities.tolist() == [0.1, 0.2, 0.9]
    assert watched.reference.features["AGE"].tolist() == sample["AGE"]
    assert watched.recent["source"].tolist() == ["api"]


def count_logged(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Prediction))


def test_buffered_scores_are_written_by_the_background_thread(engine, clients):
    register(engine)
    buffer = prediction_log()
    for row in range(5):
        score(engine, one(clients, row), source="api", buffered=True)
    poll(lambda: count_logged(engine) == 5, 30, "5 buffered scores in the log")
    assert buffer.status().pending == 0 and buffer.status().error is None
    logged = recent_scores(engine)
    assert logged["source"].tolist() == ["api"] * 5
    assert logged["AGE"].tolist() == [int(clients.at[row, "AGE"]) for row in range(5)]


def test_a_failing_write_keeps_the_rows_says_why_and_writes_them_later(engine, clients):
    register(engine)
    buffer = PredictionBuffer(flush_seconds=3600)  # only the explicit flushes write
    results = score(engine, clients.iloc[:30], version="1.0")
    Prediction.__table__.drop(engine)
    buffer.add(
        engine, version="1.0", features=results[FEATURES].to_numpy(),
        probabilities=results["probability"].to_numpy(), threshold=0.5, source="batch",
    )  # fmt: skip
    assert buffer.flush() == 30
    assert "predictions" in buffer.status().error and buffer.status().pending == 30
    assert "cannot be written" in check_writable(engine)
    Prediction.__table__.create(engine)
    assert check_writable(engine) is None
    buffer.close()
    assert buffer.status() == LogStatus(pending=0, written=30, dropped=0, error=None)
    logged = recent_scores(engine)
    assert logged["probability"].tolist() == pytest.approx(results["probability"].tolist())


SCORE_AND_EXIT = """
import json, sys
from core.db.engine import make_engine
from core.serving.log_buffer import prediction_log
from core.serving.scoring import score

prediction_log().flush_seconds = 3600  # nothing is written before the exit
engine = make_engine(sys.argv[1])
for client in json.load(open(sys.argv[2])):
    score(engine, client, source="api", buffered=True)
print(prediction_log().status().pending)
"""


def test_a_clean_exit_writes_every_buffered_row(engine, clients, tmp_path):
    register(engine)
    requests = [one(clients, row % len(clients)) for row in range(250)]
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(requests))
    url = engine.url.render_as_string(hide_password=False)
    done = subprocess.run(
        [sys.executable, "-c", SCORE_AND_EXIT, url, str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "250"  # all still waiting when the script ended
    assert count_logged(engine) == 250


def test_a_loaded_model_is_known_to_need_no_database_read(engine, clients):
    register(engine, "1.0")
    assert not is_loaded(engine) and not is_loaded(engine, "1.0")
    score(engine, one(clients))
    assert is_loaded(engine) and is_loaded(engine, "1") and not is_loaded(engine, "x")
    register(engine, "2.0", "dt")
    assert not is_loaded(engine)  # a new version: which is the default is asked again
    assert score(engine, one(clients)).version == "2.0" and is_loaded(engine)
    set_champion(engine, "1.0")
    assert not is_loaded(engine) and score(engine, one(clients)).version == "1.0"
