"""The compiled predictor against PyCaret's own predict_model, for every model kind the
turbo set keeps that gives probabilities, and the fallback to the pipeline with its reason.

One experiment is set up on 1,000 real rows; each model is fitted once on its training
split without cross-validation (core.ml.experiment), then both ways score the holdout.
"""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest

from core.ml.experiment import Experiment, predict_model_probabilities
from core.ml.params import NO_PROBABILITIES, TURBO, TrainingParams
from core.ml.registry import get_version, save_version
from core.serving.compiled import TOLERANCE, compile_pipeline, verification_rows
from core.serving.scoring import get_model, score
from core.vocabulary import FEATURES, ID
from tests.trained import real_frame

KINDS = [m for m in TURBO if m not in NO_PROBABILITIES]


def test_the_kinds_are_the_turbo_set_that_gives_probabilities():
    assert sorted(KINDS) == sorted(
        ["lr", "knn", "nb", "dt", "rf", "qda", "ada", "gbc", "lda", "et", "lightgbm", "dummy"]
    )


@pytest.fixture(scope="module")
def experiment() -> Experiment:
    sample = real_frame().sample(1_000, random_state=11).reset_index(drop=True)
    params = TrainingParams(folds=2, version="1.0", models=tuple(KINDS))
    return Experiment(sample, params)


@pytest.fixture(scope="module")
def fitted(experiment) -> dict:
    return {}


def pipeline_of(experiment, fitted: dict, model_id: str):
    if model_id not in fitted:
        fitted[model_id] = experiment.fit(model_id)
    return fitted[model_id]


@pytest.mark.parametrize("model_id", KINDS)
def test_compiled_equals_predict_model(experiment, fitted, model_id):
    pipeline = pipeline_of(experiment, fitted, model_id)
    holdout = experiment.holdout[FEATURES]
    predictor, verification = compile_pipeline(pipeline)
    assert verification.compiled, verification.reason
    assert verification.max_difference <= TOLERANCE
    expected = predict_model_probabilities(pipeline, holdout).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "fitted with feature names" warning per row
        actual = predictor(holdout.to_numpy(dtype=float))
        one = predictor(holdout.iloc[:1].to_numpy(dtype=float))
    assert len(actual) == len(holdout) > 100
    assert np.max(np.abs(actual - expected)) <= 1e-9
    assert abs(one[0] - expected[0]) <= 1e-9


def test_gaps_are_filled_as_the_pipeline_fills_them(experiment, fitted):
    pipeline = pipeline_of(experiment, fitted, "lr")
    rows = verification_rows()
    assert np.isnan(rows).any()
    predictor, _ = compile_pipeline(pipeline)
    expected = pipeline.predict_proba(pd.DataFrame(rows, columns=FEATURES))[:, 1]
    assert np.max(np.abs(predictor(rows) - expected)) <= 1e-9


def scaled(pipeline, experiment):
    """The pipeline with its imputer step replaced by a standard scaler: a real, working
    PyCaret pipeline with a step the compiler has no numpy form for."""
    from pycaret.internal.preprocess.transformers import TransformerWrapper
    from sklearn.preprocessing import StandardScaler

    changed = copy.deepcopy(pipeline)
    name = changed.steps[0][0]
    scaler = TransformerWrapper(StandardScaler(), include=FEATURES)
    scaler.fit(experiment.holdout[FEATURES])
    changed.steps[0] = (name, scaler)
    return changed, name


def test_an_unknown_step_keeps_the_pipeline_and_records_why(engine, experiment, fitted):
    pipeline, step = scaled(pipeline_of(experiment, fitted, "lr"), experiment)
    predictor, verification = compile_pipeline(pipeline)
    assert predictor is None and not verification.compiled
    assert step in verification.reason and "StandardScaler" in verification.reason

    with engine.begin() as connection:
        save_version(
            connection, version="2.0", pipeline=pipeline, model_id="lr", model_name="lr",
            metric="AUC", params={}, metrics={}, folds=2, rows=1_000, evaluation={},
        )  # fmt: skip
    stored = get_version(engine, "2.0", parts=["serving"]).evaluation["serving"]
    assert stored["predictor"] == "pipeline" and "StandardScaler" in stored["reason"]
    model = get_model(engine, "2.0")
    assert not model.serving.compiled and "StandardScaler" in model.serving.reason
    client = real_frame().iloc[0]
    scored = score(engine, {name: int(client[name]) for name in FEATURES}, version="2.0")
    expected = predict_model_probabilities(pipeline, real_frame().iloc[:1][FEATURES])
    assert abs(scored.probability - float(expected.iloc[0])) <= 1e-9


def test_a_saved_version_records_that_its_compiled_form_serves_it(engine, experiment, fitted):
    pipeline = pipeline_of(experiment, fitted, "gbc")
    sample = real_frame().iloc[:50]
    train_sample = {name: sample[name].tolist() for name in FEATURES}
    with engine.begin() as connection:
        save_version(
            connection, version="1.0", pipeline=pipeline, model_id="gbc", model_name="gbc",
            metric="AUC", params={}, metrics={}, folds=2, rows=1_000,
            evaluation={"train_sample": train_sample},
        )  # fmt: skip
    stored = get_version(engine, "1.0", parts=["serving"]).evaluation["serving"]
    assert stored["predictor"] == "compiled" and stored["reason"] is None
    assert stored["rows"] == len(verification_rows(train_sample)) > 50
    assert stored["max_difference"] <= TOLERANCE
    model = get_model(engine, "1.0")
    assert model.serving.compiled and model.predictor is not None
    expected = predict_model_probabilities(pipeline, sample[FEATURES]).to_numpy()
    assert np.max(np.abs(model.probabilities(sample.drop(columns=[ID])) - expected)) <= 1e-9


def test_a_pipeline_with_the_imbalance_fix_compiles(experiment):
    """SMOTE runs only when fitting: PyCaret skips it when predicting, and so does the
    compiled form."""
    sample = real_frame().sample(1_000, random_state=12).reset_index(drop=True)
    params = TrainingParams(folds=2, version="1.0", models=("lr",), fix_imbalance=True)
    pipeline = Experiment(sample, params).fit("lr")
    assert len(pipeline.steps) > len(experiment.fit("dummy").steps)  # the resampler is there
    predictor, verification = compile_pipeline(pipeline)
    assert verification.compiled, verification.reason
    holdout = experiment.holdout[FEATURES]
    expected = predict_model_probabilities(pipeline, holdout).to_numpy()
    assert np.max(np.abs(predictor(holdout.to_numpy(dtype=float)) - expected)) <= 1e-9
