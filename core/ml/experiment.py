"""The one adapter over PyCaret: every PyCaret call and private attribute lives here, so a
future PyCaret is swapped in this file alone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from core.ml.calibration import CalibratedEstimator, fit_calibration_map, summary
from core.ml.evaluation import evaluate
from core.ml.fairness import ATTRIBUTES
from core.ml.params import MODELS, NO_CALIBRATION, TrainingError, TrainingParams
from core.vocabulary import COLUMNS, FEATURES, ID, METRICS, PROTECTED, TARGET

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CvResult:
    """One model's cross-validated leaderboard row (means over folds) and its spread."""

    model_id: str
    model_name: str
    means: dict[str, float]
    sd: dict[str, float]


@dataclass
class Finalized:
    """The best model finalized on every row, and its evaluation on the holdout; `note`
    says why an option (calibration) was not applied, if it was not."""

    pipeline: Any
    params: dict
    evaluation: dict = field(default_factory=dict)
    note: str | None = None


class LeaveOutColumns(TransformerMixin, BaseEstimator):
    """The first step of a pipeline trained without some columns: it drops them, so the
    pipeline still takes every feature a client sends."""

    def __init__(self, columns: tuple[str, ...] = PROTECTED):
        self.columns = columns

    # PyCaret's pipeline passes arguments by these names: X and y.
    def fit(self, X, y=None):  # noqa: N803
        return self

    def transform(self, X):  # noqa: N803
        return X.drop(columns=[c for c in self.columns if c in X.columns])


def _probability_metrics() -> list[tuple[str, str, Any]]:
    """(id, leaderboard name, scorer) of the probability errors cross-validated beside
    PyCaret's own metrics; lower is better for both."""
    from sklearn.metrics import brier_score_loss, log_loss

    return [("brier", "Brier", brier_score_loss), ("logloss", "Log Loss", log_loss)]


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
    """Import PyCaret and fairlearn now (workers do it once, before their first job)."""
    _pycaret()
    import fairlearn.metrics  # noqa: F401 - every job's fairness report uses it


# Folds run in parallel processes, and joblib holds each to cpu_count // n_jobs threads,
# but LightGBM asks OpenMP for every core itself: two folds' spinning threads on two cores
# made its cross-validation 0.3-12 s a fold from run to run (plain compare_models too).
CV_ESTIMATOR_ARGS = {"lightgbm": {"n_jobs": 1}}


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


def thread_pools() -> dict[str, int]:
    """Threads of each native thread pool loaded in this process ("openmp", "openblas"...),
    as threadpoolctl sees them: what the process trains with outside joblib's workers."""
    from threadpoolctl import threadpool_info

    pools: dict[str, int] = {}
    for pool in threadpool_info():
        api = pool["internal_api"]
        pools[api] = max(pools.get(api, 0), pool["num_threads"])
    return pools


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
        self.frame = frame
        self.warm_up = warm_up
        started = time.perf_counter()
        self.exp = _pycaret()()
        self.exp.setup(
            data=frame.drop(columns=[ID]),
            target=TARGET,
            fold=params.folds,
            session_id=params.seed,
            fix_imbalance=params.fix_imbalance,
            ignore_features=list(PROTECTED) if params.leave_out_protected else None,
            html=False,
            verbose=False,
            system_log=False,
            log_experiment=False,
        )
        for metric_id, name, scorer in _probability_metrics():
            self.exp.add_metric(
                metric_id, name, scorer, target="pred_proba", greater_is_better=False
            )
        log.info(
            "PyCaret setup on %s rows in %.1f s; thread pools %s",
            self.rows,
            time.perf_counter() - started,
            thread_pools(),
        )

    @staticmethod
    def start_workers() -> threading.Thread:
        """Start the cross-validation processes while the data loads (see
        start_worker_processes); the result is passed back as `warm_up`."""
        return start_worker_processes()

    @staticmethod
    def stop_workers() -> None:
        """Stop the cross-validation processes (see stop_worker_processes)."""
        stop_worker_processes()

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
            **CV_ESTIMATOR_ARGS.get(model_id, {}),
        )
        results = self.exp.pull(pop=True)
        means = {name: float(results.loc["Mean", name]) for name in COLUMNS if name in results}
        sd = {name: float(results.loc["Std", name]) for name in COLUMNS if name in results}
        means["TT (Sec)"] = round(float(seconds), 3)
        if not any(means[m] for m in METRICS if m in means):
            raise RuntimeError("every fold failed (all metrics are 0)")
        return CvResult(model_id, MODELS.get(model_id, model_id), means, sd)

    def fit(self, model_id: str) -> Any:
        """`model_id` in the setup's pipeline fitted on the training split, in this process
        and without cross-validation: the pipeline `create_model(cross_validation=False)`
        gives, as finalize builds it."""
        from pycaret.internal.pipeline import estimator_pipeline

        with estimator_pipeline(self.exp.pipeline, self._estimator(model_id)) as pipeline:
            return pipeline.fit(self.exp.X_train, self.exp.y_train)

    @property
    def holdout(self) -> pd.DataFrame:
        """The setup's holdout rows, untransformed (the features a client would send)."""
        return self.exp.X_test

    def finalize(self, model_id: str) -> Finalized:
        """The best model fitted on the training split (evaluated on the holdout) and on
        every row (the pipeline that is stored), calibrated when the job asks for it.

        Each fit is what PyCaret does: `create_model(id, cross_validation=False)` fits the
        setup's pipeline plus the estimator on the training split, `finalize_model` the
        same on every row. They are independent, so they run side by side in the worker
        processes (most estimators fit on one core) instead of one after the other.

        Calibration learns its map on held-out folds of each fit's rows: the pipeline,
        resampling included, is fitted on the other folds and predicts the held-out one,
        whose clients keep their real default rate (PyCaret's calibrate_model would
        calibrate after the resampling step, on the resampled rate). If it fails (a fold
        with one class), the model is kept uncalibrated and `note` says why.
        """
        from joblib import Parallel

        exp = self.exp
        method = None if self.params.calibrate == NO_CALIBRATION else self.params.calibrate
        tasks, fold_count = [], 0
        for x, y in ((exp.X_train, exp.y_train), (exp.X, exp.y)):
            tasks.append(self._fit_task(model_id, x, y))
            if method:
                fold_tasks = self._fold_tasks(model_id, x, y)
                fold_count = len(fold_tasks)
                tasks += fold_tasks
        fitted = Parallel(n_jobs=-1 if method else 2, return_as="generator")(tasks)
        model = next(fitted).steps[-1][1]  # the smaller fit: evaluate while the others run
        train_map, problem = _calibration_map(fitted, fold_count, method)
        evaluation = self._evaluate(_calibrated(model, train_map, method))
        pipeline = next(fitted)
        every_map, every_problem = _calibration_map(fitted, fold_count, method)
        problem = problem or every_problem
        note = None
        if method and problem is None:
            name, estimator = pipeline.steps[-1]
            pipeline.steps[-1] = (name, _calibrated(estimator, every_map, method))
            raw = model.predict_proba(exp.X_test_transformed)[:, 1]
            uncalibrated = summary(exp.y_test_transformed, raw)
            evaluation["calibration"] |= {"method": method, "uncalibrated": uncalibrated}
        elif method:
            note = f"calibration ({method}) was not applied: {problem}; the model is uncalibrated"
            if train_map is not None:
                evaluation = self._evaluate(model)
            evaluation["calibration"] |= {"method": None, "note": note}
        else:
            evaluation["calibration"]["method"] = None
        if self.params.leave_out_protected:
            pipeline.steps.insert(0, ("leave_out_protected", LeaveOutColumns(PROTECTED)))
        evaluation["left_out"] = list(PROTECTED) if self.params.leave_out_protected else []
        return Finalized(
            pipeline=pipeline, params=model.get_params(), evaluation=evaluation, note=note
        )

    def _evaluate(self, model) -> dict:
        """The holdout evaluation of `model` fitted on the training split, with the holdout
        clients' IDs and groups and a training sample of all 23 features (also when the
        model leaves some out)."""
        exp = self.exp
        return evaluate(
            model,
            exp.X_test_transformed,
            exp.y_test_transformed,
            self.frame.loc[exp.X_train.index, FEATURES],
            self.params.seed,
            clients=self.frame.loc[exp.X_test.index, [ID, *ATTRIBUTES]],
        )

    def _estimator(self, model_id: str, **args):
        definition = self.exp._all_models_internal[model_id]
        return definition.class_def(**(definition.args | args))

    def _fit_task(self, model_id: str, x: pd.DataFrame, y: pd.Series):
        from joblib import delayed
        from pycaret.internal.pipeline import estimator_pipeline

        with estimator_pipeline(self.exp.pipeline, self._estimator(model_id)) as pipeline:
            return delayed(_fit)(pipeline, x, y)

    def _fold_tasks(self, model_id: str, x: pd.DataFrame, y: pd.Series) -> list:
        """One task per fold of the setup's fold strategy: fit on the other folds, give
        the held-out fold's probabilities (or the error, as text)."""
        from joblib import delayed
        from pycaret.internal.pipeline import estimator_pipeline

        tasks = []
        for fold, (fit_rows, held_out) in enumerate(self.exp.fold_generator.split(x, y)):
            estimator = self._estimator(model_id, **CV_ESTIMATOR_ARGS.get(model_id, {}))
            with estimator_pipeline(self.exp.pipeline, estimator) as pipeline:
                tasks.append(
                    delayed(_held_out_probabilities)(
                        pipeline,
                        x.iloc[fit_rows],
                        y.iloc[fit_rows],
                        x.iloc[held_out],
                        y.iloc[held_out],
                        held_out,
                        fold,
                    )  # fmt: skip
                )
        return tasks


def _calibrated(model, mapping, method: str | None):
    return model if mapping is None else CalibratedEstimator(model, mapping, method)


def _calibration_map(fitted, folds: int, method: str | None):
    """(map, None) learnt from the next `folds` held-out folds that `fitted` gives, or
    (None, why not); (None, None) without a method."""
    if not method:
        return None, None
    results = [next(fitted) for _ in range(folds)]
    problems = [problem for _, _, problem in results if problem]
    if problems:
        return None, problems[0]
    size = sum(len(rows) for rows, _, _ in results)
    probability, labels = np.empty(size), np.empty(size, dtype=int)
    for rows, (p, y), _ in results:
        probability[rows], labels[rows] = p, y
    try:
        return fit_calibration_map(probability, labels, method), None
    except ValueError as exc:
        return None, str(exc)


def _held_out_probabilities(pipeline, x_fit, y_fit, x_held_out, y_held_out, rows, fold: int):
    """(rows, (probabilities, labels), None) of one fold, or (rows, None, why it failed)."""
    try:
        probability = pipeline.fit(x_fit, y_fit).predict_proba(x_held_out)[:, 1]
    except Exception as exc:  # the option fails, not the job: the caller says why
        return rows, None, f"fold {fold + 1}: {type(exc).__name__}: {exc}"
    if not np.isfinite(probability).all():
        return rows, None, f"fold {fold + 1}: the model gave probabilities that are not numbers"
    return rows, (probability, np.asarray(y_held_out).astype(int)), None


def _fit(pipeline, x: pd.DataFrame, y: pd.Series):
    return pipeline.fit(x, y)


class UnsupportedStep(ValueError):
    """A pipeline step that core.serving.compiled has no numpy form for; says which."""


def serving_steps(pipeline: Any) -> list[tuple[str, Any]]:
    """The steps a fitted PyCaret pipeline runs at prediction time, in plain terms.

    `("drop", [column, ...])` for the columns a model trained without them leaves out,
    `("fill", {column: value})` for a SimpleImputer on some columns (no-op steps are left
    out), then `("estimator", estimator)` for the fitted estimator and, for a calibrated
    model, `("calibrate", function)` mapping its probabilities of default to calibrated
    ones. Steps PyCaret skips when predicting (resampling such as fix_imbalance) are left
    out as it leaves them out. Raises UnsupportedStep naming the first step that is
    anything else, so the caller keeps the pipeline.
    """
    from sklearn.impute import SimpleImputer

    if not hasattr(pipeline, "_iter") or not hasattr(pipeline, "steps"):
        raise UnsupportedStep(f"{type(pipeline).__name__} is not a PyCaret pipeline")
    steps: list[tuple[str, Any]] = []
    for _, name, step in pipeline._iter(with_final=False):
        if isinstance(step, LeaveOutColumns):
            steps.append(("drop", list(step.columns)))
            continue
        transformer = getattr(step, "transformer", None)
        if not isinstance(transformer, SimpleImputer):
            raise UnsupportedStep(f"step {name!r} ({type(transformer or step).__name__})")
        columns = step._include
        if columns is not None and not len(columns):
            continue  # PyCaret's transform returns its input unchanged
        if transformer.add_indicator or not _is_nan(transformer.missing_values):
            raise UnsupportedStep(f"step {name!r}: an imputer with indicators or a marker")
        if columns is None:
            columns = list(transformer.feature_names_in_)
        fills = dict(zip(columns, transformer.statistics_.tolist(), strict=True))
        if any(not isinstance(v, float | int) or v != v for v in fills.values()):
            raise UnsupportedStep(f"step {name!r}: a column without a numeric fill value")
        steps.append(("fill", fills))
    final = pipeline.steps[-1][1]
    if isinstance(final, CalibratedEstimator):
        return [*steps, ("estimator", final.estimator), ("calibrate", final.calibrate)]
    return [*steps, ("estimator", final)]


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def predict_model_probabilities(pipeline: Any, frame: pd.DataFrame) -> pd.Series:
    """PyCaret's own `predict_model` probability of the positive class, unrounded (tests and
    benchmarks compare the compiled predictor with it)."""
    from pycaret.classification import predict_model

    scored = predict_model(pipeline, data=frame, raw_score=True, round=15, verbose=False)
    return scored["prediction_score_1"]
