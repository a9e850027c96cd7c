"""Model training with PyCaret: the training frame, input checks, one experiment per job.

PyCaret is imported only when an experiment starts, so pages that list the models or
check inputs stay light.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Integer, case, cast, func, select

from core.dataset import BILLS, DEMOGRAPHICS, FEATURES, ID, PAID, STATUS, TARGET
from core.db import connect
from core.models import Client, Payment
from core.registry import VersionError, format_version

log = logging.getLogger(__name__)

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
# PyCaret's leaderboard columns and the leaderboard_rows columns that hold them.
COLUMNS = {
    "Accuracy": "accuracy",
    "AUC": "auc",
    "Recall": "recall",
    "Prec.": "precision",
    "F1": "f1",
    "Kappa": "kappa",
    "MCC": "mcc",
    "TT (Sec)": "tt_sec",
}
METRICS = ["AUC", "Accuracy", "Recall", "Prec.", "F1", "Kappa", "MCC"]
METRIC_ALIASES = {**{m.lower(): m for m in METRICS}, "precision": "Prec.", "prec": "Prec."}
MIN_FOLDS, MAX_FOLDS, DEFAULT_FOLDS = 2, 10, 5
MIN_SAMPLE = 200
SEED = 123
CURVE_POINTS = 200
TRAIN_SAMPLE_VALUES = 300


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
) -> TrainingParams:
    """Checked parameters; raises TrainingError naming every bad field.

    `models` is a list of PyCaret ids (or a comma-separated string); None means the turbo
    set. `sample_size` None or 0 means every row. `metric` picks the best model.
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
    )


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


def training_query(limit: int | None = None):
    """Clients joined with their six months, pivoted back to the 23 features and `default`."""
    client, payment = Client.__table__.c, Payment.__table__.c
    demographic = [client[name.lower()].label(name) for name in DEMOGRAPHICS]
    monthly = []
    for names, source in (
        (STATUS, payment.status),
        (BILLS, payment.bill_amt),
        (PAID, payment.pay_amt),
    ):
        for month, name in enumerate(names, start=1):
            monthly.append(func.max(case((payment.month == month, source))).label(name))
    query = (
        select(
            client.id.label(ID),
            *demographic,
            *monthly,
            cast(client.defaulted, Integer).label(TARGET),
        )
        .select_from(Client.__table__.join(Payment.__table__, payment.client_id == client.id))
        .group_by(client.id)
        .having(func.count() == len(STATUS))
        .order_by(client.id)
    )
    return query.limit(limit) if limit else query


def training_frame(engine: Engine, limit: int | None = None) -> pd.DataFrame:
    """The frame the models learn from: `ID`, the 23 features and `default` (first `limit`)."""
    query = training_query(limit)
    with connect(engine) as connection:
        rows = connection.execute(query).all()
    columns = [ID, *FEATURES, TARGET]
    return pd.DataFrame.from_records(rows, columns=columns).astype(np.int64)


def training_csv(engine: Engine) -> bytes:
    """The whole training frame as CSV (what the seed served at /train/data/)."""
    buffer = io.StringIO()
    training_frame(engine).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def sample_frame(frame: pd.DataFrame, size: int | None, seed: int = SEED) -> pd.DataFrame:
    """`size` rows drawn with `seed` (kept in id order), or the whole frame."""
    if not size or size >= len(frame):
        return frame
    return frame.sample(n=size, random_state=seed).sort_values(ID).reset_index(drop=True)


@dataclass(frozen=True)
class CvResult:
    """One model's cross-validated leaderboard row (means over folds) and its spread."""

    model_id: str
    model_name: str
    means: dict[str, float]
    sd: dict[str, float]


@dataclass
class Finalized:
    """The best model finalized on every row, and its evaluation on the holdout."""

    pipeline: Any
    params: dict
    evaluation: dict = field(default_factory=dict)


def _quiet_pycaret() -> None:
    """PyCaret logs to ./logs.log from the moment it is imported unless told otherwise; set
    this before it is imported here or in a joblib worker process (which copies it)."""
    os.environ.setdefault("PYCARET_CUSTOM_LOGGING_PATH", os.devnull)
    os.environ.setdefault("PYCARET_CUSTOM_LOGGING_LEVEL", "WARNING")


def _pycaret():
    _quiet_pycaret()
    from pycaret.classification import ClassificationExperiment

    return ClassificationExperiment


def preload() -> None:
    """Import PyCaret now (workers do it once, before their first job)."""
    _pycaret()


def start_worker_processes() -> threading.Thread:
    """Start joblib's cross-validation processes in the background; join before training.

    They take seconds to start and import PyCaret. Started while the data loads and setup
    runs, they are ready for the first model, whose training time is then its own.
    """
    _quiet_pycaret()
    thread = threading.Thread(target=_warm_up, name="joblib-warm-up", daemon=True)
    thread.start()
    return thread


def _warm_up() -> None:
    from joblib import Parallel, delayed

    Parallel(n_jobs=-1)(delayed(_import_pycaret)() for _ in range(os.cpu_count() or 1))


def _import_pycaret() -> None:
    import pycaret.internal.pipeline  # noqa: F401 - what each cross-validation task unpickles


def stop_worker_processes() -> None:
    """Stop the processes joblib keeps for cross-validation, if any.

    A work horse that RQ forked for one job would otherwise leave them behind (idle, and
    holding memory) for five minutes after it exits.
    """
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


class Experiment:
    """A PyCaret classification experiment set up on one job's data: fixed seed and folds."""

    def __init__(
        self,
        frame: pd.DataFrame,
        params: TrainingParams,
        warm_up: threading.Thread | None = None,
    ):
        if frame.empty:
            raise TrainingError(["the data set is empty: load clients before training"])
        self.params = params
        self.rows = len(frame)
        self.warm_up = warm_up
        started = time.perf_counter()
        self.exp = _pycaret()()
        self.exp.setup(
            data=frame.drop(columns=[ID]),
            target=TARGET,
            fold=params.folds,
            session_id=params.seed,
            fix_imbalance=params.fix_imbalance,
            html=False,
            verbose=False,
            system_log=False,
            log_experiment=False,
        )
        log.info("PyCaret setup on %s rows in %.1f s", self.rows, time.perf_counter() - started)

    def cross_validate(self, model_id: str) -> CvResult:
        """Cross-validate one model the way compare_models does.

        compare_models calls `_create_model(refit=False)`: the public create_model would
        also refit every model on the whole training split, about 1/folds more work for
        a model nobody keeps. Only the best model is refitted, in `finalize`.
        """
        if self.warm_up is not None:
            self.warm_up.join()
        _, seconds = self.exp._create_model(
            estimator=model_id,
            fold=self.params.folds,
            refit=False,
            verbose=False,
            system=False,
            error_score=0.0,
        )
        results = self.exp.pull(pop=True)
        means = {name: float(results.loc["Mean", name]) for name in COLUMNS if name in results}
        sd = {name: float(results.loc["Std", name]) for name in COLUMNS if name in results}
        means["TT (Sec)"] = round(float(seconds), 3)
        if not any(means[m] for m in METRICS if m in means):
            raise RuntimeError("every fold failed (all metrics are 0)")
        return CvResult(model_id, MODELS.get(model_id, model_id), means, sd)

    def finalize(self, model_id: str) -> Finalized:
        """The best model fitted on the training split (evaluated on the holdout) and on
        every row (the pipeline that is stored), both fits at once.

        Each fit is what PyCaret does: `create_model(id, cross_validation=False)` fits the
        setup's pipeline plus the estimator on the training split, `finalize_model` the
        same on every row. They are independent, so they run side by side in two worker
        processes (most estimators fit on one core) instead of one after the other.
        """
        from joblib import Parallel, delayed
        from pycaret.internal.pipeline import estimator_pipeline
        from sklearn.base import clone

        exp = self.exp
        definition = exp._all_models_internal[model_id]
        estimator = definition.class_def(**definition.args)
        fits = []
        for x, y in ((exp.X_train, exp.y_train), (exp.X, exp.y)):
            with estimator_pipeline(exp.pipeline, clone(estimator)) as pipeline:
                fits.append(delayed(_fit)(pipeline, x, y))
        fitted = Parallel(n_jobs=2, return_as="generator")(fits)
        model = next(fitted).steps[-1][1]  # the smaller fit: evaluate while the other runs
        evaluation = evaluate(
            model, exp.X_test_transformed, exp.y_test_transformed, exp.X_train, self.params.seed
        )
        return Finalized(pipeline=next(fitted), params=model.get_params(), evaluation=evaluation)


def _fit(pipeline, x: pd.DataFrame, y: pd.Series):
    return pipeline.fit(x, y)


def evaluate(model, x_test: pd.DataFrame, y_test: pd.Series, x_train: pd.DataFrame, seed: int):
    """Holdout evaluation for the charts: ROC and PR points, confusion at 0.5, importance."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_curve,
        precision_score,
        recall_score,
        roc_auc_score,
        roc_curve,
    )

    y = np.asarray(y_test).astype(int)
    probability = model.predict_proba(x_test)[:, 1]
    predicted = (probability >= 0.5).astype(int)
    fpr, tpr, _ = roc_curve(y, probability)
    precision, recall, _ = precision_recall_curve(y, probability)
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    importance, kind = feature_importance(model, x_test, y, seed)
    fpr, tpr = _thin(fpr, tpr)
    recall, precision = _thin(recall[::-1], precision[::-1])
    return {
        "roc": {"fpr": fpr, "tpr": tpr, "auc": float(roc_auc_score(y, probability))},
        "pr": {"recall": recall, "precision": precision},
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "threshold": 0.5,
        "holdout": {
            "Accuracy": float(accuracy_score(y, predicted)),
            "AUC": float(roc_auc_score(y, probability)),
            "Recall": float(recall_score(y, predicted, zero_division=0)),
            "Prec.": float(precision_score(y, predicted, zero_division=0)),
            "F1": float(f1_score(y, predicted, zero_division=0)),
        },
        "importance": importance,
        "importance_kind": kind,
        "holdout_rows": int(len(y)),
        "probabilities": [round(float(p), 5) for p in probability],
        "train_sample": _train_sample(x_train, seed),
    }


def feature_importance(model, x: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[dict, str]:
    """{feature: importance} and what kind: the model's own, else permutation on the holdout."""
    names = list(x.columns)
    values, kind = None, ""
    if hasattr(model, "feature_importances_"):
        values, kind = np.asarray(model.feature_importances_, dtype=float), "impurity decrease"
    elif getattr(model, "coef_", None) is not None:
        # Coefficients on unscaled features are not comparable; scale each by its spread.
        coef = np.abs(np.asarray(model.coef_, dtype=float)).reshape(-1)
        if len(coef) == len(names):
            values, kind = coef * x.std().to_numpy(), "standardised coefficient"
    if values is None or len(values) != len(names):
        from sklearn.inspection import permutation_importance

        rows = min(len(x), 1_000)
        result = permutation_importance(
            model, x.iloc[:rows], y[:rows], n_repeats=3, random_state=seed, scoring="roc_auc"
        )
        values, kind = result.importances_mean, "permutation (drop in AUC)"
    return {name: float(v) for name, v in zip(names, values, strict=True)}, kind


def _thin(xs: np.ndarray, ys: np.ndarray, points: int = CURVE_POINTS) -> tuple[list, list]:
    """At most `points` points of a curve, its ends kept."""
    if len(xs) > points:
        keep = np.unique(np.linspace(0, len(xs) - 1, points).round().astype(int))
        xs, ys = xs[keep], ys[keep]
    return [round(float(v), 5) for v in xs], [round(float(v), 5) for v in ys]


def _train_sample(x_train: pd.DataFrame, seed: int) -> dict[str, list]:
    rows = x_train.sample(n=min(TRAIN_SAMPLE_VALUES, len(x_train)), random_state=seed)
    return {name: rows[name].tolist() for name in FEATURES if name in rows}
