"""Monitoring: recent logged scores of a model version against its training data."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from sqlalchemy import Engine

from core.data.features import sample_features
from core.data.status import data_version
from core.ml.registry import format_version
from core.serving.predictions import recent_scores
from core.serving.scoring import get_model

KEY_FEATURES = ["LIMIT_BAL", "AGE", "PAY_1", "BILL_AMT1"]
REFERENCE_ROWS = 2_000


@dataclass(frozen=True)
class Reference:
    """What the model saw in training: probabilities and values of the key features."""

    probabilities: np.ndarray
    features: dict[str, np.ndarray]
    source: str


@dataclass(frozen=True)
class Monitoring:
    """Recent scores of one version, the training reference, and how far apart they are.

    `drift` has one row per compared quantity (probability, then KEY_FEATURES): name,
    recent and reference counts, and the Kolmogorov-Smirnov distance (0 same, 1 disjoint).
    """

    version: str
    recent: pd.DataFrame
    reference: Reference
    drift: pd.DataFrame


def monitoring(engine: Engine, version: str, limit: int = 5_000) -> Monitoring:
    """The newest `limit` logged scores of `version` against its training reference."""
    version = format_version(version)
    recent = recent_scores(engine, version=version, limit=limit)
    ref = reference(engine, version)
    return Monitoring(version, recent, ref, _drift(recent, ref))


def reference(engine: Engine, version: str) -> Reference:
    """The version's training reference, from its evaluation when the training job stored
    holdout probabilities and a training sample, else from a sample of the loaded clients
    scored by the model. Cached per data version."""
    return _reference(engine, format_version(version), data_version(engine))


@lru_cache(maxsize=16)
def _reference(engine: Engine, version: str, _data_version: int) -> Reference:
    model = get_model(engine, version)
    evaluation = model.evaluation
    probabilities = evaluation.get("probabilities") or []
    stored = evaluation.get("train_sample") or {}
    sources = []
    if all(stored.get(name) for name in KEY_FEATURES):
        features = {name: np.asarray(stored[name], dtype=float) for name in KEY_FEATURES}
        sources.append("features: the model's training sample")
        sample = None
    else:
        sample = sample_features(engine, rows=REFERENCE_ROWS)
        features = {name: sample[name].to_numpy(dtype=float) for name in KEY_FEATURES}
        sources.append(f"features: {len(sample):,} loaded clients")
    if probabilities:
        sources.insert(0, "scores: the model's holdout predictions")
    else:
        if sample is None:
            sample = sample_features(engine, rows=REFERENCE_ROWS)
        if len(sample):
            probabilities = model.probabilities(sample)
        sources.insert(0, f"scores: {len(sample):,} loaded clients scored by the model")
    return Reference(np.asarray(probabilities, dtype=float), features, "; ".join(sources))


def _drift(recent: pd.DataFrame, ref: Reference) -> pd.DataFrame:
    pairs = [("probability", ref.probabilities)]
    pairs += [(name, ref.features[name]) for name in KEY_FEATURES]
    rows = []
    for name, reference_values in pairs:
        values = recent[name].to_numpy(dtype=float)
        distance = (
            float(ks_2samp(values, reference_values).statistic)
            if len(values) and len(reference_values)
            else None
        )
        rows.append(
            {
                "name": name,
                "recent": len(values),
                "reference": len(reference_values),
                "ks_distance": distance,
            }
        )
    return pd.DataFrame(rows)
