"""Training parameters: the models PyCaret offers, the leaderboard's metrics, and the checked
parameters of one training job (folds, version, models, metric, sample, imbalance fix,
probability calibration, protected attributes left out).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from core.ml.registry import VersionError, format_version
from core.vocabulary import METRIC_ALIASES, METRICS

# PyCaret's classification models (`pycaret.classification.models()` after setup, without
# the optional xgboost and catboost), in PyCaret's order.
MODELS: dict[str, str] = {
    "lr": "Logistic Regression",
    "knn": "K Neighbors Classifier",
    "nb": "Naive Bayes",
    "dt": "Decision Tree Classifier",
    "svm": "SVM - Linear Kernel",
    "rbfsvm": "SVM - Radial Kernel",
    "gpc": "Gaussian Process Classifier",
    "mlp": "MLP Classifier",
    "ridge": "Ridge Classifier",
    "rf": "Random Forest Classifier",
    "qda": "Quadratic Discriminant Analysis",
    "ada": "Ada Boost Classifier",
    "gbc": "Gradient Boosting Classifier",
    "lda": "Linear Discriminant Analysis",
    "et": "Extra Trees Classifier",
    "lightgbm": "Light Gradient Boosting Machine",
    "dummy": "Dummy Classifier",
}


# compare_models' default set: every model but the slow rbfsvm, gpc and mlp.
TURBO = [m for m in MODELS if m not in ("rbfsvm", "gpc", "mlp")]


# These give classes but no probabilities: they are compared, never picked for scoring.
NO_PROBABILITIES = frozenset({"svm", "ridge"})


# Cheap models first, so the leaderboard starts filling within seconds.
TRAINING_ORDER = [
    "nb", "dummy", "qda", "lda", "ridge", "svm", "dt", "lr", "knn", "ada",
    "lightgbm", "et", "rf", "gbc", "mlp", "rbfsvm", "gpc",
]  # fmt: skip


# How a job may calibrate its kept model's probabilities ("none": not at all). Resampling
# (fix_imbalance) inflates probabilities, so calibration is on by default with it.
CALIBRATION_METHODS = ("isotonic", "sigmoid")
NO_CALIBRATION = "none"
DEFAULT_CALIBRATION_WITH_IMBALANCE_FIX = "isotonic"

MIN_FOLDS, MAX_FOLDS, DEFAULT_FOLDS = 2, 10, 5
MIN_SAMPLE = 200
SEED = 123


class TrainingError(ValueError):
    """Training inputs that cannot be used; `problems` lists each one and where."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class TrainingParams:
    """What a training job is asked to do, checked."""

    folds: int
    version: str
    models: tuple[str, ...]
    metric: str = "AUC"
    sample_size: int | None = None
    fix_imbalance: bool = False
    seed: int = SEED
    calibrate: str = NO_CALIBRATION
    leave_out_protected: bool = False

    def as_row(self) -> dict[str, Any]:
        """The columns of a training_jobs row that hold these parameters."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"models": list(self.models)}

    @classmethod
    def from_row(cls, job: Any) -> TrainingParams:
        """The parameters that a training_jobs row (or a TrainingJob) holds."""
        values = {f.name: getattr(job, f.name) for f in fields(cls)}
        return cls(**values | {"models": tuple(job.models)})


def check_params(
    *,
    folds: Any = DEFAULT_FOLDS,
    version: Any,
    models: Any = None,
    metric: Any = "AUC",
    sample_size: Any = None,
    fix_imbalance: bool = False,
    seed: int = SEED,
    calibrate: Any = None,
    leave_out_protected: bool = False,
) -> TrainingParams:
    """Checked parameters; raises TrainingError naming every bad field.

    `models` is a list of PyCaret ids (or a comma-separated string); None means the turbo
    set. `sample_size` None or 0 means every row. `metric` picks the best model (highest,
    or lowest for Brier and Log Loss). `calibrate` is "isotonic", "sigmoid" or "none"
    (also False); None means isotonic when `fix_imbalance` is on, else none.
    `leave_out_protected` trains without SEX, AGE and MARRIAGE.
    """
    problems: list[str] = []
    checked_folds = _check_folds(folds, problems)
    try:
        checked_version = format_version(version)
    except VersionError as exc:
        problems.append(str(exc))
        checked_version = ""
    chosen = _check_models(models, problems)
    checked_metric = METRIC_ALIASES.get(str(metric).strip().lower())
    if checked_metric is None:
        problems.append(f"metric {metric!r} is not one of {', '.join(METRICS)}")
    checked_sample = _check_sample(sample_size, problems)
    checked_calibration = _check_calibration(calibrate, bool(fix_imbalance), problems)
    if problems:
        raise TrainingError(problems)
    return TrainingParams(
        folds=checked_folds,
        version=checked_version,
        models=chosen,
        metric=checked_metric,
        sample_size=checked_sample,
        fix_imbalance=bool(fix_imbalance),
        seed=int(seed),
        calibrate=checked_calibration,
        leave_out_protected=bool(leave_out_protected),
    )


def _check_calibration(calibrate: Any, fix_imbalance: bool, problems: list[str]) -> str:
    if calibrate is None or (isinstance(calibrate, str) and not calibrate.strip()):
        return DEFAULT_CALIBRATION_WITH_IMBALANCE_FIX if fix_imbalance else NO_CALIBRATION
    if calibrate is False:
        return NO_CALIBRATION
    method = str(calibrate).strip().lower()
    if method in (NO_CALIBRATION, "off", "false"):
        return NO_CALIBRATION
    if method not in CALIBRATION_METHODS:
        problems.append(
            f"calibrate must be one of {', '.join((*CALIBRATION_METHODS, NO_CALIBRATION))}, "
            f"not {calibrate!r}"
        )
        return NO_CALIBRATION
    return method


def _check_folds(folds: Any, problems: list[str]) -> int:
    try:
        number = int(str(folds).strip())
    except ValueError:
        number = None
    if number is None or not MIN_FOLDS <= number <= MAX_FOLDS:
        problems.append(
            f"folds must be a whole number from {MIN_FOLDS} to {MAX_FOLDS}, not {folds!r}"
        )
        return 0
    return number


def _check_models(models: Any, problems: list[str]) -> tuple[str, ...]:
    if models is None:
        models = TURBO
    if isinstance(models, str):
        models = [m for m in models.split(",")]
    chosen = list(dict.fromkeys(str(m).strip().lower() for m in models if str(m).strip()))
    if not chosen:
        problems.append("models: choose at least one model")
        return ()
    unknown = [m for m in chosen if m not in MODELS]
    if unknown:
        problems.append(
            f"models: unknown model id {', '.join(unknown)}; known ids are {', '.join(MODELS)}"
        )
        return ()
    if all(m in NO_PROBABILITIES for m in chosen):
        problems.append(
            f"models: {', '.join(chosen)} give no probabilities, so none of them can score "
            "clients; add a model such as lr"
        )
    return tuple(sorted(chosen, key=TRAINING_ORDER.index))


def _check_sample(sample_size: Any, problems: list[str]) -> int | None:
    if sample_size in (None, "", 0, "0"):
        return None
    try:
        number = int(str(sample_size).strip())
    except ValueError:
        number = None
    if number is None or number < MIN_SAMPLE:
        problems.append(
            f"sample size must be a whole number of at least {MIN_SAMPLE} rows "
            f"(or empty for every row), not {sample_size!r}"
        )
        return None
    return number
