"""Score clients with a registered model version, explain a score, score files.

The fast path: a version's pipeline is loaded once per process (sha256-checked before
unpickling, see core.registry) and its `predict_proba` is called directly, which gives the
same probabilities as PyCaret's `predict_model` in a fraction of the time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sqlalchemy import Engine

from core.data.dataset import parse_csv
from core.data.features import typical_of, typical_values
from core.ml.registry import default_version, format_version, get_version, load_pipeline
from core.serving.predictions import log_scores
from core.serving.schemas import DESCRIPTIONS, features_frame, validate_client
from core.vocabulary import FEATURES, ID, PREDICTIONS, TARGET

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5


class NoModelError(LookupError):
    """No model version has been trained yet."""


def labels(probabilities: np.ndarray | float, threshold: float) -> np.ndarray:
    """The threshold rule: 1 (default) where a probability reaches `threshold`, else 0."""
    return (np.asarray(probabilities, dtype=float) >= threshold).astype(np.int64)


@dataclass(frozen=True)
class Score:
    """One client's score: probability of default and the label at `threshold`."""

    version: str
    probability: float
    threshold: float

    @property
    def label(self) -> int:
        """1 (default) when the probability reaches the threshold, else 0."""
        return int(labels(self.probability, self.threshold))

    @property
    def label_text(self) -> str:
        """The label in words: "Default" or "Not default"."""
        return PREDICTIONS[self.label]

    def relabel(self, threshold: float) -> Score:
        """The same score labelled at another threshold (nothing is scored again)."""
        return replace(self, threshold=_checked(threshold))


def relabel(results: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Scored clients (with `probability`) labelled at another threshold, not rescored."""
    labelled = results.assign(label=labels(results["probability"], _checked(threshold)))
    labelled.attrs = dict(results.attrs)
    return labelled


def _checked(threshold: float) -> float:
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold {threshold} is outside 0..1")
    return threshold


class ExplanationMethod(Enum):
    """How an explanation was computed; the value is the method in words."""

    SHAP = "SHAP (tree explainer)"
    OCCLUSION = "occlusion: each feature set to its typical value"


@dataclass(frozen=True)
class Explanation:
    """Why a client got their score: each feature's push on the probability.

    `effects` has columns feature, description, value, effect (in probability points,
    positive pushes towards default), ordered by the size of the effect. `baseline` is
    the probability the explanation starts from (SHAP's expected value, or the score of a
    typical client for the fallback).
    """

    version: str
    method: ExplanationMethod
    probability: float
    baseline: float
    effects: pd.DataFrame


class Model:
    """A loaded model version, ready to score and explain; one per version per process."""

    def __init__(self, engine: Engine, version: str, pipeline: Any):
        self.engine, self.version, self.pipeline = engine, version, pipeline

    def probabilities(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of default for each row of a frame of canonical FEATURES."""
        return self.pipeline.predict_proba(features[FEATURES])[:, 1]

    @cached_property
    def evaluation(self) -> dict:
        """The version's stored evaluation, read once: versions never change."""
        return get_version(self.engine, self.version).evaluation

    @cached_property
    def typical(self) -> dict[str, int]:
        """Typical feature values: of the training sample when the registry has one."""
        sample = self.evaluation.get("train_sample") or {}
        if set(FEATURES) <= set(sample) and all(len(sample[name]) for name in FEATURES):
            columns = {name: pd.Series(sample[name], dtype=float) for name in FEATURES}
            return typical_of(pd.DataFrame(columns))
        return typical_values(self.engine)

    @cached_property
    def tree_explainer(self):
        """A SHAP TreeExplainer for the pipeline's estimator, or None for other models."""
        estimator = self.pipeline.steps[-1][1]
        try:
            import shap

            return shap.TreeExplainer(estimator)
        except Exception as exc:  # shap refuses models it cannot walk as trees
            log.info("no SHAP tree explainer for %s: %s", type(estimator).__name__, exc)
            return None

    def explain(self, client: pd.DataFrame) -> Explanation:
        """Each feature's push on this one client's probability (a one-row frame)."""
        probability = float(self.probabilities(client)[0])
        shap_result = self._shap(client, probability) if self.tree_explainer else None
        if shap_result is not None:
            effects, baseline = shap_result
            method = ExplanationMethod.SHAP
        else:
            effects, baseline = self._occlusion(client, probability)
            method = ExplanationMethod.OCCLUSION
        table = pd.DataFrame(
            {
                "feature": FEATURES,
                "description": [DESCRIPTIONS[name] for name in FEATURES],
                "value": client[FEATURES].iloc[0].to_numpy(),
                "effect": effects,
            }
        )
        table = table.reindex(table["effect"].abs().sort_values(ascending=False).index)
        return Explanation(
            self.version, method, probability, baseline, table.reset_index(drop=True)
        )

    def _shap(self, client: pd.DataFrame, probability: float):
        transformed = self.pipeline[:-1].transform(client[FEATURES])
        if list(transformed.columns) != FEATURES:
            return None  # encoded or engineered columns: no one-to-one feature effects
        result = self.tree_explainer(transformed)
        values = np.asarray(result.values)[0]
        base = np.ravel(result.base_values)
        if values.ndim == 2:  # one column per class: take "default"
            values, base = values[:, 1], base[1:]
        base = float(base[0])
        if abs(base + values.sum() - probability) < 1e-6:
            return values, base
        # Boosted trees explain log-odds: share the probability change in the same shares.
        start = 1 / (1 + np.exp(-base))
        total = values.sum()
        scale = (probability - start) / total if abs(total) > 1e-12 else 0.0
        return values * scale, float(start)

    def _occlusion(self, client: pd.DataFrame, probability: float):
        """p(client) - p(client with one feature typical), all features in one call."""
        typical = self.typical
        row = client[FEATURES].iloc[0].to_numpy()
        grid = np.tile(row, (len(FEATURES) + 1, 1))
        for i, name in enumerate(FEATURES):
            grid[i, i] = typical[name]
        grid[-1] = [typical[name] for name in FEATURES]
        scores = self.probabilities(pd.DataFrame(grid, columns=FEATURES))
        return probability - scores[:-1], float(scores[-1])


def get_model(engine: Engine, version: str | None = None) -> Model:
    """The model of `version` (default: the champion, else the latest), cached in process.

    Raises NoModelError when nothing is trained, VersionError for an unknown version and
    ArtifactError (never unpickling) when the stored bytes fail their sha256 check.
    """
    if version is None:
        version = default_version(engine)
        if version is None:
            raise NoModelError("no model has been trained yet; train one on the Train page")
    version = format_version(version)
    return _model(engine, version, load_pipeline(engine, version))


@lru_cache(maxsize=16)
def _model(engine: Engine, version: str, pipeline: Any) -> Model:
    return Model(engine, version, pipeline)


def client_frame(client: Mapping[str, Any] | BaseModel) -> pd.DataFrame:
    """A validated one-row frame of FEATURES; InputError names every bad field."""
    values = validate_client(client).as_dict()
    return pd.DataFrame([list(values.values())], columns=FEATURES)


def score(
    engine: Engine,
    clients: Mapping[str, Any] | BaseModel | pd.DataFrame,
    *,
    version: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    source: str | None = None,
) -> Score | pd.DataFrame:
    """Score one client (a mapping or ClientFeatures: returns a Score) or a frame of them.

    A frame returns the validated clients (ID and FEATURES) with `probability` and `label`
    (1 = default at `threshold`) added. With `source` (form, batch, cli, api) every score
    is written to the prediction log, a frame in one transaction; without it nothing is
    logged. Bad input raises InputError (one client) or DataError (a frame).
    """
    _checked(threshold)
    if isinstance(clients, pd.DataFrame):
        return score_frame(engine, features_frame(clients), version, threshold, source)
    frame = client_frame(clients)
    model = get_model(engine, version)
    probability = float(model.probabilities(frame)[0])
    if source is not None:
        log_scores(
            engine,
            version=model.version,
            features=frame,
            probabilities=np.array([probability]),
            threshold=threshold,
            source=source,
        )
    return Score(model.version, probability, threshold)


def score_frame(
    engine: Engine,
    frame: pd.DataFrame,
    version: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    source: str | None = None,
) -> pd.DataFrame:
    """Score an already validated frame (as from parse_csv or features_frame)."""
    model = get_model(engine, version)
    probabilities = model.probabilities(frame) if len(frame) else np.array([])
    if source is not None:
        log_scores(
            engine,
            version=model.version,
            features=frame,
            probabilities=probabilities,
            threshold=threshold,
            source=source,
        )
    results = frame.copy()
    results["probability"] = probabilities
    results["label"] = labels(probabilities, threshold)
    results.attrs["version"] = model.version
    return results


def score_file(
    engine: Engine,
    data: bytes,
    *,
    version: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    source: str | None = "batch",
) -> pd.DataFrame:
    """Validate a CSV of clients (any of the loader's headers, target optional) and score it.

    Raises core.dataset.DataError listing line and column of every problem; nothing is
    scored or logged from an unusable file. The results keep the file's `ID` (else 1..N)
    and its target when it has one.
    """
    frame = parse_csv(data, require_target=False)
    results = score_frame(engine, frame, version, threshold, source)
    order = [ID, *FEATURES] + ([TARGET] if TARGET in frame.columns else [])
    return results[[*order, "probability", "label"]]


def explain(
    engine: Engine, client: Mapping[str, Any] | BaseModel, version: str | None = None
) -> Explanation:
    """Which features push this client's probability up or down, and by how much.

    Tree models (decision trees, forests, boosted trees) get SHAP values; other models an
    occlusion: the change in probability when one feature is set to its typical value,
    all 23 variants scored in one `predict_proba` call.
    """
    return get_model(engine, version).explain(client_frame(client))
