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

import pandas as pd

from core.ml.evaluation import evaluate
from core.ml.params import MODELS, TrainingError, TrainingParams
from core.vocabulary import COLUMNS, ID, METRICS, TARGET

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

        definition = self.exp._all_models_internal[model_id]
        estimator = definition.class_def(**definition.args)
        with estimator_pipeline(self.exp.pipeline, estimator) as pipeline:
            return pipeline.fit(self.exp.X_train, self.exp.y_train)

    @property
    def holdout(self) -> pd.DataFrame:
        """The setup's holdout rows, untransformed (the features a client would send)."""
        return self.exp.X_test

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


class UnsupportedStep(ValueError):
    """A pipeline step that core.serving.compiled has no numpy form for; says which."""


def serving_steps(pipeline: Any) -> list[tuple[str, Any]]:
    """The steps a fitted PyCaret pipeline runs at prediction time, in plain terms.

    `("fill", {column: value})` for a SimpleImputer on some columns (no-op steps are left
    out), then `("estimator", estimator)` for the fitted estimator. Steps PyCaret skips when
    predicting (resampling such as fix_imbalance) are left out as it leaves them out. Raises
    UnsupportedStep naming the first step that is anything else, so the caller keeps the
    pipeline.
    """
    from sklearn.impute import SimpleImputer

    if not hasattr(pipeline, "_iter") or not hasattr(pipeline, "steps"):
        raise UnsupportedStep(f"{type(pipeline).__name__} is not a PyCaret pipeline")
    steps: list[tuple[str, Any]] = []
    for _, name, step in pipeline._iter(with_final=False):
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
    steps.append(("estimator", pipeline.steps[-1][1]))
    return steps


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def predict_model_probabilities(pipeline: Any, frame: pd.DataFrame) -> pd.Series:
    """PyCaret's own `predict_model` probability of the positive class, unrounded (tests and
    benchmarks compare the compiled predictor with it)."""
    from pycaret.classification import predict_model

    scored = predict_model(pipeline, data=frame, raw_score=True, round=15, verbose=False)
    return scored["prediction_score_1"]
