"""Can a version's probabilities be trusted? Its calibration and fairness by group, as
computed when it was trained, or computed again from the holdout it stored.

Versions trained since issue 13 store evaluation["calibration"], ["fairness"] and the
holdout clients they were computed on (["holdout_clients"]: IDs, labels, groups; see
core.ml.evaluation). Versions saved before stored only their holdout probabilities: of
calibration, only the mean predicted probability can be computed from those; the
reliability curve, Brier score, ECE, observed default rate and fairness need the
holdout's labels and groups, which they did not keep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

from core.ml.calibration import calibration_report
from core.ml.evaluation import THRESHOLD, read_holdout_clients
from core.ml.fairness import fairness_report
from core.ml.registry import get_version
from core.vocabulary import TARGET

AT_TRAINING = "computed at training"
FROM_HOLDOUT = "computed from the stored holdout"
NOT_COMPUTED = "not computed"
MISSING_HOLDOUT = (
    "version {version} was saved before holdout labels and groups were stored: from its "
    "holdout probabilities only the mean predicted probability can be computed; the "
    "reliability curve, Brier score, ECE, observed default rate and fairness by group "
    "cannot. Train it again to have them."
)


@dataclass(frozen=True)
class Trust:
    """A version's calibration and fairness reports (shapes: core.ml.calibration and
    core.ml.fairness), how they were obtained (`status`: AT_TRAINING, FROM_HOLDOUT or
    NOT_COMPUTED) and, when something is missing, why (`reason`)."""

    version: str
    status: str
    calibration: dict | None
    fairness: dict | None
    reason: str | None = None

    def as_dict(self) -> dict:
        """Plain JSON: what the API and the model card show."""
        return {
            "version": self.version,
            "status": self.status,
            "calibration": self.calibration,
            "fairness": self.fairness,
            "reason": self.reason,
        }


def version_trust(engine: Engine, version: str) -> Trust:
    """The calibration and fairness stored with `version` at training time; NOT_COMPUTED
    (with the reason) for a version saved before they were. Reads only, never computes:
    see trust_from_holdout. VersionError for an unknown version."""
    info = get_version(engine, version, parts=["calibration", "fairness"])
    calibration = info.evaluation.get("calibration")
    if calibration is None:
        reason = f"version {info.version} was saved before calibration and fairness were kept"
        return Trust(info.version, NOT_COMPUTED, None, None, reason)
    return Trust(info.version, AT_TRAINING, calibration, info.evaluation.get("fairness"))


def trust_from_holdout(engine: Engine, version: str) -> Trust:
    """Calibration and fairness of `version` computed now from the holdout it stored.

    For a version saved before holdout labels were stored, the status is NOT_COMPUTED,
    the calibration holds only the mean predicted probability and `reason` says what
    cannot be computed. Nothing is written: versions are immutable.
    """
    info = get_version(engine, version, parts=["probabilities", "holdout_clients", "threshold"])
    evaluation = info.evaluation
    probability = np.asarray(evaluation.get("probabilities") or [], dtype=float)
    stored = evaluation.get("holdout_clients")
    if not stored or TARGET not in stored:
        partial = {"mean_predicted": float(probability.mean()), "rows": int(len(probability))}
        reason = MISSING_HOLDOUT.format(version=info.version)
        partial = partial if len(probability) else None
        return Trust(info.version, NOT_COMPUTED, partial, None, reason)
    clients = read_holdout_clients(stored)
    y = clients[TARGET].to_numpy()
    threshold = float(evaluation.get("threshold", THRESHOLD))
    calibration = calibration_report(y, probability)
    fairness = fairness_report(y, probability, clients, threshold)
    return Trust(info.version, FROM_HOLDOUT, calibration, fairness)
