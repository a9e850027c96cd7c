"""Calibration and fairness (issue 13): the figures against scikit-learn and fairlearn
computed directly, the calibrate option on a model made miscalibrated by SMOTE, groups too
small to judge, and models trained without the protected attributes."""

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, recall_score, roc_auc_score

from core.jobs.runner import pick_best
from core.jobs.store import BoardRow
from core.ml.calibration import (
    CALIBRATED,
    MAX_ECE,
    MISCALIBRATED,
    apply_calibration_map,
    calibration_report,
    calibration_warning,
    fit_calibration_map,
    verdict,
)
from core.ml.evaluation import holdout_clients, read_holdout_clients
from core.ml.experiment import Experiment
from core.ml.fairness import TOO_FEW, age_band, fairness_report, flagged_groups
from core.ml.leaderboard import best_on
from core.ml.params import TrainingError, check_params
from core.serving.compiled import compile_pipeline
from core.vocabulary import FEATURES, ID, PROTECTED, TARGET
from tests.jobs_support import real_frame


def test_the_reliability_curve_brier_and_ece_equal_scikit_learns():
    random = np.random.default_rng(3)
    probability = random.beta(2, 5, 5_000)
    y = (random.uniform(size=5_000) < probability**0.8).astype(int)
    report = calibration_report(y, probability)

    observed, predicted = calibration_curve(y, probability, n_bins=10, strategy="uniform")
    kept = [b for b in report["curve"] if b["count"]]
    assert np.allclose([b["observed"] for b in kept], observed)
    assert np.allclose([b["predicted"] for b in kept], predicted)
    counts, _ = np.histogram(probability, bins=np.linspace(0, 1, 11))  # no value on an edge
    assert [b["count"] for b in report["curve"]] == counts.tolist()
    assert report["brier"] == pytest.approx(brier_score_loss(y, probability))
    weights = counts[counts > 0] / len(y)
    assert report["ece"] == pytest.approx(float(np.sum(weights * np.abs(observed - predicted))))
    assert report["mean_predicted"] == pytest.approx(probability.mean())
    assert report["observed_rate"] == pytest.approx(y.mean())
    assert report["binning"] == "uniform" and report["rows"] == 5_000


def test_empty_bins_are_kept_with_a_count_of_zero():
    report = calibration_report([0, 1, 0, 1], [0.05, 0.15, 0.12, 0.95])
    assert [b["count"] for b in report["curve"]] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]
    assert report["curve"][2] == {
        "low": 0.2,
        "high": 0.3,
        "predicted": None,
        "observed": None,
        "count": 0,
    }


@pytest.mark.parametrize(
    "ece, mean_predicted, observed_rate, expected",
    [
        (0.01, 0.22, 0.22, CALIBRATED),
        (MAX_ECE, 0.25, 0.22, CALIBRATED),  # both limits are allowed
        (0.031, 0.22, 0.22, MISCALIBRATED),
        (0.01, 0.26, 0.22, MISCALIBRATED),  # the mean is off by 4 points
        (0.01, 0.18, 0.22, MISCALIBRATED),
    ],
)
def test_the_verdict_and_its_warning(ece, mean_predicted, observed_rate, expected):
    result = verdict(ece, mean_predicted, observed_rate)
    assert result["verdict"] == expected
    if expected == CALIBRATED:
        assert result["warning"] is None
    else:
        assert f"{ece:.3f}" in result["warning"] and "miscalibrated" in result["warning"]
        assert calibration_warning({"calibration": result}) == result["warning"]
    assert calibration_warning({}) is None


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_a_calibration_map_gives_what_scikit_learn_predicts(method):
    random = np.random.default_rng(5)
    raw = random.uniform(size=2_000)
    y = (random.uniform(size=2_000) < raw**2).astype(int)
    mapping = fit_calibration_map(raw, y, method)
    probability = np.concatenate([random.uniform(size=500), [0.0, 1.0, 1e-9]])
    if method == "isotonic":
        expected = mapping.predict(probability)
    else:
        clipped = np.clip(probability, 1e-6, 1 - 1e-6)
        expected = mapping.predict_proba(np.log(clipped / (1 - clipped)).reshape(-1, 1))[:, 1]
    assert np.allclose(apply_calibration_map(mapping, probability), expected, atol=1e-12)
    assert np.mean(apply_calibration_map(mapping, raw)) == pytest.approx(y.mean(), abs=0.02)


@pytest.mark.parametrize(
    "age, band",
    [(18, "<25"), (24, "<25"), (25, "25-34"), (34, "25-34"), (35, "35-44"), (54, "45-54"),
     (55, "55+"), (90, "55+")],
)  # fmt: skip
def test_age_bands(age, band):
    assert age_band(pd.Series([age])).iloc[0] == band


def synthetic_groups() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """600 clients: women flagged far more often than men, a 10-client education group,
    and a marital-status group of 40 without defaulters."""
    random = np.random.default_rng(8)
    n = 600
    sex = np.where(np.arange(n) < 300, 1, 2)
    y = (random.uniform(size=n) < 0.25).astype(int)
    probability = np.clip(
        0.1 + 0.3 * y + np.where(sex == 2, 0.35, 0) + random.normal(0, 0.1, n), 0, 1
    )
    education = np.where(np.arange(n) < 10, 5, random.integers(1, 4, n))
    marriage = np.where(np.arange(n) >= n - 40, 3, random.integers(1, 3, n))
    y[marriage == 3] = 0
    groups = pd.DataFrame(
        {
            "SEX": sex,
            "AGE": random.integers(21, 70, n),
            "EDUCATION": education,
            "MARRIAGE": marriage,
        }
    )
    return y, probability, groups


def test_fairness_figures_equal_fairlearn_and_sklearn_computed_directly():
    y, probability, groups = synthetic_groups()
    report = fairness_report(y, probability, groups, threshold=0.5)
    flagged = (probability >= 0.5).astype(int)
    sex = report["attributes"]["SEX"]
    assert [g["group"] for g in sex["groups"]] == ["male", "female"]
    direct = MetricFrame(
        metrics={"selection_rate": selection_rate}, y_true=y, y_pred=flagged,
        sensitive_features=groups["SEX"],
    ).by_group["selection_rate"]  # fmt: skip
    for group in sex["groups"]:
        mine = (groups["SEX"] == group["code"]).to_numpy()
        assert group["clients"] == mine.sum() and group["defaulters"] == y[mine].sum()
        assert group["selection_rate"] == pytest.approx(direct[group["code"]])
        assert group["tpr"] == pytest.approx(recall_score(y[mine], flagged[mine]))
        negatives = mine & (y == 0)
        assert group["fpr"] == pytest.approx(flagged[negatives].mean())
        assert group["auc"] == pytest.approx(roc_auc_score(y[mine], probability[mine]))
        assert group["mean_predicted"] == pytest.approx(probability[mine].mean())
        assert group["default_rate"] == pytest.approx(y[mine].mean())
    approval = {g["group"]: 1 - g["selection_rate"] for g in sex["groups"]}
    assert sex["reference"] == "male"
    female = sex["groups"][1]
    assert female["ratio"] == pytest.approx(approval["female"] / approval["male"])
    assert female["ratio"] < 0.8 and female["flagged"] and sex["flagged"] == ["female"]
    assert sex["groups"][0]["ratio"] == pytest.approx(1.0) and not sex["groups"][0]["flagged"]
    assert flagged_groups({"fairness": report}) == ["sex: female"]
    assert list(report["attributes"]) == ["SEX", "AGE", "EDUCATION", "MARRIAGE"]


def test_small_groups_and_groups_without_defaulters_are_too_few_to_judge():
    y, probability, groups = synthetic_groups()
    report = fairness_report(y, probability, groups, threshold=0.5)
    small = report["attributes"]["EDUCATION"]["groups"][-1]
    assert small["group"] == "unknown (5)" and small["clients"] == 10
    no_defaulters = report["attributes"]["MARRIAGE"]["groups"][-1]
    assert no_defaulters["group"] == "others" and no_defaulters["defaulters"] == 0
    for group in (small, no_defaulters):
        assert not group["judged"] and group["note"] == TOO_FEW
        assert group["ratio"] is None and group["auc"] is None and not group["flagged"]
        assert group["selection_rate"] is not None  # counts and rates are still shown


def test_the_holdout_clients_are_stored_compactly_and_read_back():
    frame = real_frame().iloc[:50]
    stored = holdout_clients(frame[[ID, "SEX", "AGE", "EDUCATION", "MARRIAGE"]], frame[TARGET])
    assert isinstance(stored["SEX"], str) and len(stored[TARGET]) == 50
    back = read_holdout_clients(stored)
    expected = frame[[ID, TARGET, "SEX", "EDUCATION", "MARRIAGE", "AGE"]].reset_index(drop=True)
    assert back[expected.columns].equals(expected.astype(np.int64))


@pytest.mark.parametrize(
    "asked, expected",
    [
        ({}, "none"),
        ({"fix_imbalance": True}, "isotonic"),  # resampling inflates probabilities
        ({"fix_imbalance": True, "calibrate": "none"}, "none"),
        ({"fix_imbalance": True, "calibrate": False}, "none"),
        ({"calibrate": " Sigmoid "}, "sigmoid"),
        ({"calibrate": "isotonic"}, "isotonic"),
    ],
)
def test_calibration_is_on_by_default_with_the_imbalance_fix(asked, expected):
    assert check_params(version="1", models=["lr"], **asked).calibrate == expected


def test_an_unknown_calibration_is_refused_naming_the_choices():
    with pytest.raises(TrainingError, match="calibrate must be one of isotonic, sigmoid, none"):
        check_params(version="1", models=["lr"], calibrate="platt")


def row(model_id: str, brier: float, position: int) -> BoardRow:
    return BoardRow("j", model_id, model_id, position, "done", {"Brier": brier, "AUC": 0.7})


def test_lower_is_better_for_brier_and_log_loss():
    board = [row("nb", 0.20, 0), row("lr", 0.14, 1), row("dt", 0.16, 2)]
    assert pick_best(board, "Brier")[0].model_id == "lr"
    frame = pd.DataFrame(
        {"Model": ["nb", "lr", "dt"], "Brier": [0.2, 0.14, None], "AUC": [0.7, 0.8, 0.9]}
    )
    assert best_on(frame, "Brier")["Model"].tolist() == ["lr", "nb", "dt"]
    assert best_on(frame, "AUC")["Model"].tolist() == ["dt", "lr", "nb"]
    assert check_params(version="1", models=["lr"], metric="logloss").metric == "Log Loss"


# ----------------------------------------------------------------- trained models (PyCaret)
SAMPLE = 1_500


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return real_frame().sample(SAMPLE, random_state=11).sort_values(ID).reset_index(drop=True)


def trained(sample: pd.DataFrame, **options) -> tuple[Experiment, object]:
    params = check_params(version="1", models=["lr"], folds=3, **options)
    experiment = Experiment(sample, params)
    result = experiment.cross_validate("lr")
    assert result.means["Brier"] > 0 and result.means["Log Loss"] > 0
    return experiment, experiment.finalize("lr")


@pytest.fixture(scope="module")
def smote(sample):
    """Logistic regressions trained with SMOTE: uncalibrated and calibrated (isotonic)."""
    return {
        "none": trained(sample, fix_imbalance=True, calibrate="none"),
        "isotonic": trained(sample, fix_imbalance=True),
    }


def test_a_trained_models_calibration_equals_scikit_learns(smote, sample):
    experiment, finalized = smote["none"]
    evaluation = finalized.evaluation
    y = experiment.exp.y_test_transformed.to_numpy()
    stored = read_holdout_clients(evaluation["holdout_clients"])
    assert (stored[TARGET].to_numpy() == y).all()
    by_id = sample.set_index(ID).loc[stored[ID]]
    for column in ("SEX", "AGE", "EDUCATION", "MARRIAGE", TARGET):
        assert (by_id[column].to_numpy() == stored[column].to_numpy()).all()

    probability = np.asarray(evaluation["probabilities"])  # rounded to 5 decimals
    calibration = evaluation["calibration"]
    assert calibration["brier"] == pytest.approx(brier_score_loss(y, probability), abs=1e-5)
    observed, predicted = calibration_curve(y, probability, n_bins=10, strategy="uniform")
    kept = [b for b in calibration["curve"] if b["count"]]
    assert np.allclose([b["observed"] for b in kept], observed)
    assert np.allclose([b["predicted"] for b in kept], predicted, atol=1e-5)
    assert calibration["observed_rate"] == pytest.approx(y.mean())
    assert calibration["method"] is None and calibration["verdict"] == MISCALIBRATED

    sex = evaluation["fairness"]["attributes"]["SEX"]
    flagged = (probability >= 0.5).astype(int)
    for group in sex["groups"]:
        mine = (stored["SEX"] == group["code"]).to_numpy()
        assert group["clients"] == mine.sum()
        assert group["selection_rate"] == pytest.approx(selection_rate(y[mine], flagged[mine]))
        assert group["auc"] == pytest.approx(roc_auc_score(y[mine], probability[mine]), abs=1e-4)


def test_calibrating_brings_a_smote_models_probabilities_back_to_the_default_rate(smote):
    raw = smote["none"][1].evaluation["calibration"]
    calibrated = smote["isotonic"][1].evaluation["calibration"]
    assert raw["mean_predicted"] - raw["observed_rate"] > 0.1  # SMOTE inflates them
    assert calibrated["method"] == "isotonic"
    assert calibrated["ece"] < raw["ece"] / 2
    gap = abs(calibrated["mean_predicted"] - calibrated["observed_rate"])
    assert gap < raw["mean_predicted"] - raw["observed_rate"]
    # the uncalibrated figures kept beside it are the other run's: same seed, same model
    assert calibrated["uncalibrated"]["ece"] == pytest.approx(raw["ece"], abs=1e-4)
    assert calibrated["uncalibrated"]["auc"] == pytest.approx(
        smote["none"][1].evaluation["roc"]["auc"], abs=1e-4
    )
    assert smote["isotonic"][1].note is None


def test_a_calibrated_pipeline_gives_its_calibrated_probabilities_compiled_or_not(smote):
    experiment, finalized = smote["isotonic"]
    clients = experiment.holdout[FEATURES]
    probabilities = finalized.pipeline.predict_proba(clients)[:, 1]
    assert probabilities.mean() < 0.35  # calibrated, not SMOTE's inflated ones
    predictor, verification = compile_pipeline(
        finalized.pipeline, finalized.evaluation["train_sample"]
    )
    assert verification.compiled, verification.reason
    assert np.allclose(predictor(clients.to_numpy(dtype=float)), probabilities, atol=1e-9)


def test_a_model_without_the_protected_attributes_still_takes_all_23_features(sample):
    experiment, finalized = trained(sample, leave_out_protected=True)
    estimator = finalized.pipeline.steps[-1][1]
    assert not set(PROTECTED) & set(estimator.feature_names_in_)
    assert finalized.evaluation["left_out"] == list(PROTECTED)
    assert set(finalized.evaluation["importance"]) == set(FEATURES) - set(PROTECTED)
    assert set(finalized.evaluation["fairness"]["attributes"]) == {
        "SEX", "AGE", "EDUCATION", "MARRIAGE"
    }  # fmt: skip
    clients = sample[FEATURES].iloc[:50]
    probabilities = finalized.pipeline.predict_proba(clients)[:, 1]
    changed = clients.assign(SEX=3 - clients["SEX"], AGE=70, MARRIAGE=0)
    assert np.array_equal(finalized.pipeline.predict_proba(changed)[:, 1], probabilities)
    predictor, verification = compile_pipeline(
        finalized.pipeline, finalized.evaluation["train_sample"]
    )
    assert verification.compiled, verification.reason
    assert np.allclose(predictor(clients.to_numpy(dtype=float)), probabilities, atol=1e-9)
