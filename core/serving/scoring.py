"""Score clients with a registered model version, explain a score, score files.

The fast path: a version is loaded once per process (sha256-checked before unpickling, see
core.ml.registry) and compiled to a numpy predictor (core.serving.compiled), verified then
against the pipeline's own probabilities; one client costs little more than the fitted
estimator's `predict_proba` on one row. A version whose pipeline cannot be compiled is
served by the pipeline, with the reason in `Model.serving`.

Scores are logged synchronously, or with `buffered=True` through this process's buffer
(core.serving.log_buffer), written off the request path within a second.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sqlalchemy import Engine

from core.auth.access import SYSTEM, Actor, require
from core.data.dataset import DOMAINS, parse_csv
from core.data.features import typical_of, typical_values
from core.ml.calibration import calibration_warning
from core.ml.registry import changes, default_version, format_version, get_version, load_pipeline
from core.serving.compiled import Verification, compile_pipeline
from core.serving.log_buffer import prediction_log
from core.serving.policy import DEFAULT_THRESHOLD, policy_known, threshold_for  # noqa: F401
from core.serving.predictions import log_scores
from core.serving.schemas import DESCRIPTIONS, features_frame, validate_client
from core.vocabulary import FEATURES, ID, PREDICTIONS, TARGET

log = logging.getLogger(__name__)

# How long a process trusts its answer to "which version is the default" before asking the
# database again; a champion picked in this process counts at once (registry.changes).
DEFAULT_VERSION_SECONDS = 1.0
BOUNDS = [DOMAINS[name] for name in FEATURES]


class NoModelError(LookupError):
    """No model version has been trained yet."""


def labels(probabilities: np.ndarray | float, threshold: float) -> np.ndarray:
    """The threshold rule: 1 (default) where a probability reaches `threshold`, else 0."""
    return (np.asarray(probabilities, dtype=float) >= threshold).astype(np.int64)


@dataclass(frozen=True)
class Score:
    """One client's score: probability of default and the label at `threshold`, and where
    the threshold came from (core.serving.policy.Threshold.described)."""

    version: str
    probability: float
    threshold: float
    threshold_source: str = "given"

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
        return replace(self, threshold=_checked(threshold), threshold_source="given")


def relabel(results: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Scored clients (with `probability`) labelled at another threshold, not rescored."""
    labelled = results.assign(label=labels(results["probability"], _checked(threshold)))
    labelled.attrs = dict(results.attrs) | {"threshold": threshold, "threshold_source": "given"}
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
    """A loaded model version, ready to score and explain; one per version per process.

    `serving` says whether its compiled predictor serves it (checked on loading against the
    pipeline on the version's training sample and random rows) or why the pipeline does.
    `warning` is the version's miscalibration warning (core.ml.calibration), or None.
    """

    def __init__(self, engine: Engine, version: str, pipeline: Any):
        self.engine, self.version, self.pipeline = engine, version, pipeline
        stored = get_version(engine, version, parts=["train_sample", "calibration"]).evaluation
        self.predictor, self.serving = compile_pipeline(pipeline, stored.get("train_sample"))
        # shown beside every probability of a miscalibrated version; None otherwise
        self.warning = calibration_warning(stored)
        if not self.serving.compiled:
            log.warning("model %s is served by its pipeline: %s", version, self.serving.reason)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Probability of default for each row of an array of FEATURES (float)."""
        if self.predictor is not None:
            return self.predictor(rows)
        return self.pipeline.predict_proba(pd.DataFrame(rows, columns=FEATURES))[:, 1]

    def probabilities(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of default for each row of a frame of canonical FEATURES."""
        return self.predict(features[FEATURES].to_numpy(dtype=float))

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
        if not _made_of_trees(estimator):
            return None  # importing shap alone costs some 60 MB
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


TREE_LIBRARIES = ("lightgbm", "xgboost", "catboost")


def _made_of_trees(estimator) -> bool:
    """Whether SHAP's tree explainer may walk the estimator: a scikit-learn tree or forest
    (fitted trees in `tree_` or `estimators_`) or a boosted-tree library's model."""
    if type(estimator).__module__.split(".")[0] in TREE_LIBRARIES:
        return True
    if hasattr(estimator, "tree_"):
        return True
    members = getattr(estimator, "estimators_", None)
    if members is None:
        return False
    first = members.ravel()[0] if hasattr(members, "ravel") else next(iter(members), None)
    return hasattr(first, "tree_")


def get_model(engine: Engine, version: str | None = None) -> Model:
    """The model of `version` (default: the champion, else the latest), cached in process.

    Raises NoModelError when nothing is trained, VersionError for an unknown version and
    ArtifactError (never unpickling) when the stored bytes fail their sha256 check. Which
    version is the default is asked of the database at most once a DEFAULT_VERSION_SECONDS.
    """
    version = _default(engine) if version is None else _formatted(version)
    return _model(engine, version)


_defaults: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _default(engine: Engine) -> str:
    version = _known_default(engine)
    if version is not None:
        return version
    version = default_version(engine)
    if version is None:
        raise NoModelError("no model has been trained yet; train one on the Train page")
    _defaults[engine] = (time.monotonic(), changes(), version)
    return version


def _known_default(engine: Engine) -> str | None:
    """The default version when this process learnt it recently enough, else None."""
    known = _defaults.get(engine)
    if known is None or known[1] != changes():
        return None
    return known[2] if time.monotonic() - known[0] < DEFAULT_VERSION_SECONDS else None


def is_loaded(engine: Engine, version: str | None = None) -> bool:
    """Whether scoring with `version` (default: the default version) reads nothing from the
    database now: the model is loaded and, for the default, which version that is is known.

    An event loop scores such requests inline and sends the others to a thread.
    """
    if version is None:
        version = _known_default(engine)
    else:
        try:
            version = _formatted(version)
        except ValueError:
            return False
    return version is not None and (engine, version) in _models and policy_known(engine, version)


@lru_cache(maxsize=256)
def _formatted(version: str) -> str:
    return format_version(version)


# Versions are immutable: once loaded and checked, a version's model stays valid.
_models: dict[tuple[Engine, str], Model] = {}
MODELS_KEPT = 16
_loading = threading.Lock()


def _model(engine: Engine, version: str) -> Model:
    model = _models.get((engine, version))
    if model is None:
        # One thread loads a version while the others wait for it, rather than every
        # request thread of a busy server unpickling and verifying the same model at once.
        with _loading:
            model = _models.get((engine, version))
            if model is None:
                model = Model(engine, version, load_pipeline(engine, version))
                _models[engine, version] = model
                while len(_models) > MODELS_KEPT:
                    _models.pop(next(iter(_models)))
    return model


def serving(engine: Engine, version: str | None = None) -> Verification:
    """How `version` (default: the champion, else the latest) is served in this process:
    by its compiled predictor, or by its pipeline and why."""
    return get_model(engine, version).serving


def client_values(client: Mapping[str, Any] | BaseModel) -> list[int]:
    """One client's 23 feature values, validated, in FEATURES order.

    A plain dict of exactly the 23 data set names holding whole numbers in their domains is
    taken as it is (the common case, checked in microseconds); anything else goes through
    ClientFeatures, and InputError names every bad field.
    """
    if type(client) is dict and len(client) == len(FEATURES):
        values = [client.get(name) for name in FEATURES]
        if all(
            type(value) is int and low <= value <= high
            for value, (low, high) in zip(values, BOUNDS, strict=True)
        ):
            return values
    return list(validate_client(client).as_dict().values())


def client_frame(client: Mapping[str, Any] | BaseModel) -> pd.DataFrame:
    """A validated one-row frame of FEATURES; InputError names every bad field."""
    return pd.DataFrame([client_values(client)], columns=FEATURES)


def score(
    engine: Engine,
    clients: Mapping[str, Any] | BaseModel | pd.DataFrame,
    *,
    version: str | None = None,
    threshold: float | None = None,
    source: str | None = None,
    buffered: bool = False,
    actor: Actor = SYSTEM,
) -> Score | pd.DataFrame:
    """Score one client (a mapping or ClientFeatures: returns a Score) or a frame of them.

    A frame returns the validated clients (ID and FEATURES) with `probability` and `label`
    (1 = default at `threshold`) added. Without `threshold`, the version's policy threshold
    (core.serving.policy), else DEFAULT_THRESHOLD; a Score and a frame's attrs
    ("threshold", "threshold_source") say which was used. With `source` (form, batch, cli,
    api) every score is written to the prediction log: at once (a frame in one transaction), or with
    `buffered` by this process's log buffer within a second. Without `source` nothing is
    logged. Bad input raises InputError (one client) or DataError (a frame); AccessDenied
    when `actor` may not score (core.auth).
    """
    require(actor, "score")
    if threshold is not None:
        _checked(threshold)
    if isinstance(clients, pd.DataFrame):
        frame = features_frame(clients)
        return score_frame(engine, frame, version, threshold, source, buffered=buffered)
    values = np.array([client_values(clients)], dtype=np.int64)
    model = get_model(engine, version)
    used = threshold_for(engine, model.version, threshold)
    probabilities = model.predict(values.astype(float))
    if source is not None:
        _log(engine, model.version, values, probabilities, used.value, source, buffered)
    return Score(model.version, float(probabilities[0]), used.value, used.described)


def score_frame(
    engine: Engine,
    frame: pd.DataFrame,
    version: str | None = None,
    threshold: float | None = None,
    source: str | None = None,
    *,
    buffered: bool = False,
    actor: Actor = SYSTEM,
) -> pd.DataFrame:
    """Score an already validated frame (as from parse_csv or features_frame); `threshold`,
    `source`, `buffered` and `actor` as for score."""
    require(actor, "score")
    model = get_model(engine, version)
    used = threshold_for(engine, model.version, threshold)
    threshold = used.value
    values = frame[FEATURES].to_numpy(dtype=np.int64)
    probabilities = model.predict(values.astype(float)) if len(frame) else np.array([])
    if source is not None and len(frame):
        _log(engine, model.version, values, probabilities, threshold, source, buffered)
    results = frame.copy()
    results["probability"] = probabilities
    results["label"] = labels(probabilities, threshold)
    results.attrs["version"] = model.version
    results.attrs["threshold"] = threshold
    results.attrs["threshold_source"] = used.described
    return results


def _log(engine, version, values, probabilities, threshold, source, buffered) -> None:
    if buffered:
        prediction_log().add(
            engine,
            version=version,
            features=values,
            probabilities=probabilities,
            threshold=threshold,
            source=source,
        )
        return
    log_scores(
        engine,
        version=version,
        features=pd.DataFrame(values, columns=FEATURES),
        probabilities=probabilities,
        threshold=threshold,
        source=source,
    )


def score_file(
    engine: Engine,
    data: bytes,
    *,
    version: str | None = None,
    threshold: float | None = None,
    source: str | None = "batch",
    buffered: bool = False,
    actor: Actor = SYSTEM,
) -> pd.DataFrame:
    """Validate a CSV of clients (any of the loader's headers, target optional) and score it.

    Raises core.dataset.DataError listing line and column of every problem; nothing is
    scored or logged from an unusable file. The results keep the file's `ID` (else 1..N)
    and its target when it has one. `source` and `buffered` log as for score.
    """
    require(actor, "score")
    frame = parse_csv(data, require_target=False)
    results = score_frame(engine, frame, version, threshold, source, buffered=buffered)
    order = [ID, *FEATURES] + ([TARGET] if TARGET in frame.columns else [])
    kept = results[[*order, "probability", "label"]]
    kept.attrs = dict(results.attrs)
    return kept


def explain(
    engine: Engine,
    client: Mapping[str, Any] | BaseModel,
    version: str | None = None,
    *,
    actor: Actor = SYSTEM,
) -> Explanation:
    """Which features push this client's probability up or down, and by how much.

    Tree models (decision trees, forests, boosted trees) get SHAP values; other models an
    occlusion: the change in probability when one feature is set to its typical value,
    all 23 variants scored in one `predict_proba` call. AccessDenied when `actor` may not
    score.
    """
    require(actor, "score")
    return get_model(engine, version).explain(client_frame(client))
