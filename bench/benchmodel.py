"""The benchmarks' models: trained on a few thousand real rows and registered with no
metrics, which is all that scoring needs.

Imported by the scripts beside it (`python bench/<script>.py` puts this folder on the path).
"""

from __future__ import annotations

import statistics

import pandas as pd

from core.ml.experiment import Experiment
from core.ml.params import TrainingParams
from core.ml.registry import save_version

TRAIN_ROWS = 5_000


def train(frame: pd.DataFrame, model_id: str):
    """Model `model_id` fitted by core.ml.experiment on TRAIN_ROWS rows of `frame`."""
    sample = frame.sample(TRAIN_ROWS, random_state=1).reset_index(drop=True)
    params = TrainingParams(folds=2, version="1.0", models=(model_id,))
    return Experiment(sample, params).fit(model_id)


def save(engine, version: str, model_id: str, pipeline, rows: int = TRAIN_ROWS) -> None:
    """Register `pipeline` as `version`, trained on `rows` rows, with no metrics."""
    with engine.begin() as connection:
        save_version(
            connection, version=version, pipeline=pipeline, model_id=model_id,
            model_name=model_id, metric="AUC", params={}, metrics={}, folds=0,
            rows=rows, evaluation={},
        )  # fmt: skip


def p50_ms(seconds: list[float]) -> float:
    """The median of `seconds`, in milliseconds."""
    return statistics.median(seconds) * 1e3
