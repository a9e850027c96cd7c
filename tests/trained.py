"""Small PyCaret models trained once per test process, and a way to register them.

Until the training job exists, scoring tests train their own: a logistic regression
(explained by occlusion) and a decision tree (explained by SHAP) on 1,000 real rows. The
same two are also trained as a job with `leave_out_protected` trains them (core.ml.experiment:
without SEX, AGE and MARRIAGE, two folds, uncalibrated).
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from core.data.dataset import parse_csv
from core.db.engine import migrate
from core.ml.registry import save_version
from core.vocabulary import ID
from tests.conftest import REAL_DATA

SAMPLE_ROWS = 1_000


@lru_cache(maxsize=1)
def real_frame() -> pd.DataFrame:
    """The real data set, validated: ID, the 23 features and `default`."""
    return parse_csv(REAL_DATA.read_bytes())


@lru_cache(maxsize=1)
def pipelines() -> dict:
    """{"lr": pipeline, "dt": pipeline}: PyCaret's finalized pipelines, trained once."""
    from pycaret.classification import create_model, finalize_model, setup

    sample = real_frame().drop(columns=[ID]).sample(SAMPLE_ROWS, random_state=5)
    setup(data=sample, target="default", session_id=5, html=False, verbose=False, n_jobs=1)
    return {
        model_id: finalize_model(create_model(model_id, cross_validation=False, verbose=False))
        for model_id in ("lr", "dt")
    }


@lru_cache(maxsize=1)
def left_out_pipelines() -> dict:
    """{"lr": Finalized, "dt": Finalized}: the same models on the same rows, trained by
    core.ml.experiment with the protected attributes left out."""
    from core.ml.experiment import Experiment
    from core.ml.params import check_params

    sample = real_frame().sample(SAMPLE_ROWS, random_state=5)
    params = check_params(
        version="1", models=["lr", "dt"], folds=2, calibrate="none", leave_out_protected=True
    )
    experiment = Experiment(sample, params)
    return {model_id: experiment.finalize(model_id) for model_id in ("lr", "dt")}


def register(
    engine,
    version: str = "1.0",
    model_id: str = "lr",
    evaluation=None,
    *,
    leave_out_protected: bool = False,
) -> str:
    """Save a trained pipeline under `version` (with `leave_out_protected`, one trained
    without SEX, AGE and MARRIAGE, with its evaluation); returns the version."""
    names = {"lr": "Logistic Regression", "dt": "Decision Tree Classifier"}
    pipeline = pipelines()[model_id]
    if leave_out_protected:
        finalized = left_out_pipelines()[model_id]
        pipeline, evaluation = finalized.pipeline, evaluation or finalized.evaluation
    migrate(engine)
    with engine.begin() as connection:
        save_version(
            connection,
            version=version,
            pipeline=pipeline,
            model_id=model_id,
            model_name=names[model_id],
            metric="AUC",
            params={},
            metrics={"AUC": 0.7},
            folds=0,
            rows=SAMPLE_ROWS,
            evaluation=evaluation or {},
        )
    return version
