"""Are a model's probabilities true? Calibration on the holdout, and calibrating a model.

`calibration_report(y, probability)` gives what a version stores under
evaluation["calibration"] (computed at training time, on the holdout):

    {
      "binning": "uniform",        # 10 equal-width bins on [0, 1], as scikit-learn's
      "bins": 10,                  # calibration_curve(strategy="uniform") makes them
      "curve": [                   # every bin, lowest first; an empty bin has count 0 and
        {"low": 0.0, "high": 0.1,  # predicted/observed None (calibration_curve drops it)
         "predicted": 0.06,        # mean predicted probability of the bin's clients
         "observed": 0.07,         # their observed default rate
         "count": 2100},
        ...],
      "brier": 0.135,              # mean squared error of the probabilities
      "ece": 0.012,                # expected calibration error: the count-weighted mean
                                   # of |observed - predicted| over the bins
      "mean_predicted": 0.22, "observed_rate": 0.221, "rows": 7200,
      "verdict": "calibrated" | "miscalibrated",
      "warning": None | MISCALIBRATED_WARNING filled in,
    }

A training job that calibrates adds "method" ("isotonic" or "sigmoid") and "uncalibrated"
(the same model's holdout auc, ece, brier and mean_predicted before calibration), or
"method": None and a "note" saying why calibration was not applied.

Calibrating (`fit_calibration_map`) learns a monotone map from a model's probabilities to
observed default rates, on probabilities the model gave to clients it was not trained on
(held-out folds); `CalibratedEstimator` is a fitted estimator followed by that map.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

BINS = 10
BINNING = "uniform"
# A version is "miscalibrated" past either limit; pages and the API show WARNING then.
MAX_ECE = 0.03
MAX_MEAN_GAP = 0.03
CALIBRATED, MISCALIBRATED = "calibrated", "miscalibrated"
MISCALIBRATED_WARNING = (
    "Probabilities of this version are miscalibrated: on its holdout clients the expected "
    "calibration error is {ece:.3f} (limit {max_ece:.2f}) and the mean predicted "
    "probability is {mean_predicted:.1%} against an observed default rate of "
    "{observed_rate:.1%} (limit {max_gap:.0%} apart). Read its scores as a ranking, not as "
    "probabilities of default."
)
METHODS = ("isotonic", "sigmoid")
# Probabilities are clipped this far from 0 and 1 before taking their log-odds (sigmoid).
EPSILON = 1e-6


def reliability_curve(y: np.ndarray, probability: np.ndarray, bins: int = BINS) -> list[dict]:
    """Each of `bins` equal-width bins: its edges, mean predicted, observed rate, count.

    The bins are scikit-learn's calibration_curve(strategy="uniform") bins: a probability
    on an edge belongs to the lower bin, 0 to the first and 1 to the last.
    """
    y = np.asarray(y, dtype=float)
    probability = np.asarray(probability, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.searchsorted(edges[1:-1], probability)
    count = np.bincount(index, minlength=bins)
    predicted = np.bincount(index, weights=probability, minlength=bins)
    observed = np.bincount(index, weights=y, minlength=bins)
    curve = []
    for i in range(bins):
        n = int(count[i])
        curve.append(
            {
                "low": round(float(edges[i]), 10),
                "high": round(float(edges[i + 1]), 10),
                "predicted": float(predicted[i] / n) if n else None,
                "observed": float(observed[i] / n) if n else None,
                "count": n,
            }
        )
    return curve


def expected_calibration_error(curve: list[dict]) -> float:
    """The count-weighted mean of |observed - predicted| over a reliability curve's bins."""
    total = sum(b["count"] for b in curve)
    if not total:
        return 0.0
    gaps = sum(b["count"] * abs(b["observed"] - b["predicted"]) for b in curve if b["count"])
    return float(gaps / total)


def calibration_report(y: Any, probability: Any) -> dict:
    """How true the probabilities are on labelled clients (see the module docstring)."""
    from sklearn.metrics import brier_score_loss

    y = np.asarray(y).astype(int)
    probability = np.asarray(probability, dtype=float)
    curve = reliability_curve(y, probability)
    ece = expected_calibration_error(curve)
    mean_predicted, observed_rate = float(probability.mean()), float(y.mean())
    report = {
        "binning": BINNING,
        "bins": BINS,
        "curve": curve,
        "brier": float(brier_score_loss(y, probability)),
        "ece": ece,
        "mean_predicted": mean_predicted,
        "observed_rate": observed_rate,
        "rows": int(len(y)),
    }
    return report | verdict(ece, mean_predicted, observed_rate)


def verdict(ece: float, mean_predicted: float, observed_rate: float) -> dict:
    """{"verdict": "calibrated" | "miscalibrated", "warning": text or None}."""
    if ece <= MAX_ECE and abs(mean_predicted - observed_rate) <= MAX_MEAN_GAP:
        return {"verdict": CALIBRATED, "warning": None}
    return {"verdict": MISCALIBRATED, "warning": warning_text(ece, mean_predicted, observed_rate)}


def warning_text(ece: float, mean_predicted: float, observed_rate: float) -> str:
    """The words pages and the API show for a miscalibrated version."""
    return MISCALIBRATED_WARNING.format(
        ece=ece,
        max_ece=MAX_ECE,
        mean_predicted=mean_predicted,
        observed_rate=observed_rate,
        max_gap=MAX_MEAN_GAP,
    )


def calibration_warning(evaluation: dict) -> str | None:
    """The warning to show beside a version's probabilities, from its stored evaluation;
    None when it is calibrated or its calibration was never computed."""
    report = evaluation.get("calibration") or {}
    return report.get("warning")


def summary(y: Any, probability: Any) -> dict:
    """AUC, ECE, Brier and mean prediction: how a model did before it was calibrated."""
    from sklearn.metrics import roc_auc_score

    report = calibration_report(y, probability)
    return {
        "auc": float(roc_auc_score(np.asarray(y).astype(int), probability)),
        "ece": report["ece"],
        "brier": report["brier"],
        "mean_predicted": report["mean_predicted"],
    }


def fit_calibration_map(probability: Any, y: Any, method: str) -> Any:
    """A fitted map from probabilities to calibrated ones, learnt on held-out predictions.

    "isotonic": scikit-learn's IsotonicRegression (monotone steps, clipped to [0, 1]);
    "sigmoid": Platt scaling, a logistic regression on the probabilities' log-odds. Raises
    ValueError when the labels hold one class only.
    """
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    if method not in METHODS:
        raise ValueError(f"calibration method {method!r} is not one of {', '.join(METHODS)}")
    probability = np.asarray(probability, dtype=float)
    y = np.asarray(y).astype(int)
    if len(np.unique(y)) < 2:
        raise ValueError("the held-out predictions have one class only")
    if method == "isotonic":
        return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(probability, y)
    return LogisticRegression(C=1e6).fit(_log_odds(probability), y)


def apply_calibration_map(mapping: Any, probability: np.ndarray) -> np.ndarray:
    """Calibrated probabilities: `mapping` (from fit_calibration_map) applied.

    The same numbers as the map's own predict, in plain numpy: it runs on every scored
    client, where scikit-learn's input checks would cost more than the arithmetic.
    """
    probability = np.asarray(probability, dtype=float)
    if hasattr(mapping, "coef_"):  # Platt: a logistic regression on the log-odds
        z = mapping.coef_[0, 0] * _log_odds(probability)[:, 0] + mapping.intercept_[0]
        return 1.0 / (1.0 + np.exp(-z))
    # IsotonicRegression(out_of_bounds="clip") predicts by linear interpolation between
    # its thresholds, holding the end values outside them: np.interp does the same.
    return np.interp(probability, mapping.X_thresholds_, mapping.y_thresholds_)


def _log_odds(probability: np.ndarray) -> np.ndarray:
    clipped = np.clip(probability, EPSILON, 1 - EPSILON)
    return np.log(clipped / (1 - clipped)).reshape(-1, 1)


class CalibratedEstimator(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose probability of default passes through a calibration map.

    It is the last step of a calibrated version's pipeline: the pipeline still takes the
    23 features and its probabilities are the calibrated ones. `estimator` is the fitted
    model, `mapping` what fit_calibration_map returned, `method` its name. It is built
    fitted; it is never fitted itself.
    """

    def __init__(self, estimator: Any = None, mapping: Any = None, method: str = "isotonic"):
        self.estimator = estimator
        self.mapping = mapping
        self.method = method

    @property
    def classes_(self) -> np.ndarray:
        return self.estimator.classes_

    @property
    def feature_names_in_(self) -> np.ndarray:
        return self.estimator.feature_names_in_

    def calibrate(self, probability: np.ndarray) -> np.ndarray:
        """The calibrated probabilities of the estimator's probabilities of default."""
        return apply_calibration_map(self.mapping, probability)

    def predict_proba(self, x: Any) -> np.ndarray:
        calibrated = self.calibrate(self.estimator.predict_proba(x)[:, 1])
        return np.column_stack([1 - calibrated, calibrated])

    def predict(self, x: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(x)[:, 1] >= 0.5).astype(int)]


def uncalibrated(model: Any) -> Any:
    """The model inside a CalibratedEstimator, or the model itself."""
    return model.estimator if isinstance(model, CalibratedEstimator) else model
