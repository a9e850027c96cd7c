"""Can a version's probabilities be trusted? Its calibration and fairness by group, as
computed when it was trained, or computed again from the holdout it stored.

Versions trained since issue 13 store evaluation["calibration"], ["fairness"] and the
holdout clients they were computed on (["holdout_clients"]: IDs, labels, groups; see
core.ml.evaluation). Versions saved before stored only their holdout probabilities:
their holdout is rebuilt the way training drew it (the job's sample and seed, PyCaret's
split) from the data loaded now, and used only when it gives back the stored confusion
matrix and AUC. When it cannot be rebuilt (no job, other data), only the mean predicted
probability can be computed; the reliability curve, Brier score, ECE, observed default
rate and fairness need the holdout's labels and groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

from core.ml.calibration import calibration_report
from core.ml.evaluation import THRESHOLD, read_holdout_clients
from core.ml.fairness import ATTRIBUTES, fairness_report
from core.ml.registry import VersionInfo, get_version
from core.vocabulary import ID, TARGET

AT_TRAINING = "computed at training"
FROM_HOLDOUT = "computed from the stored holdout"
REBUILT = "computed from its holdout rebuilt from the loaded data"
NOT_COMPUTED = "not computed"
MISSING_HOLDOUT = (
    "version {version} was saved before holdout labels and groups were stored, and its "
    "holdout cannot be rebuilt: {why}. From its holdout probabilities only the mean "
    "predicted probability can be computed; the reliability curve, Brier score, ECE, "
    "observed default rate and fairness by group cannot. Train it again to have them."
)
# A rebuilt holdout is used when its AUC with the stored probabilities (5 decimals) is
# the stored AUC within this, and its confusion matrix is the stored one exactly.
AUC_MATCH = 1e-3
ROUNDING = 1e-5  # stored probabilities have 5 decimals
# The parts of a version's evaluation that version_trust reads.
TRUST_PARTS = ("calibration", "fairness")


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
    return stored_trust(get_version(engine, version, parts=TRUST_PARTS))


def stored_trust(info: VersionInfo) -> Trust:
    """version_trust of a version already read with (at least) the TRUST_PARTS of its
    evaluation: for a page that reads the version once for all it shows."""
    calibration = info.evaluation.get("calibration")
    if calibration is None:
        reason = f"version {info.version} was saved before calibration and fairness were kept"
        return Trust(info.version, NOT_COMPUTED, None, None, reason)
    return Trust(info.version, AT_TRAINING, calibration, info.evaluation.get("fairness"))


def trust_from_holdout(engine: Engine, version: str) -> Trust:
    """Calibration and fairness of `version` computed now from the holdout it stored, or
    for an older version from its holdout rebuilt (seconds: a PyCaret setup).

    When neither works, the status is NOT_COMPUTED, the calibration holds only the mean
    predicted probability and `reason` says why and what cannot be computed. Nothing is
    written: versions are immutable.
    """
    parts = ["probabilities", "holdout_clients", "threshold", "confusion", "roc"]
    info = get_version(engine, version, parts=parts)
    evaluation = info.evaluation
    probability = np.asarray(evaluation.get("probabilities") or [], dtype=float)
    stored = evaluation.get("holdout_clients")
    if stored and TARGET in stored:
        clients, status = read_holdout_clients(stored), FROM_HOLDOUT
    else:
        clients, why = rebuilt_holdout(engine, info)
        if clients is None:
            partial = {"mean_predicted": float(probability.mean()), "rows": len(probability)}
            reason = MISSING_HOLDOUT.format(version=info.version, why=why)
            partial = partial if len(probability) else None
            return Trust(info.version, NOT_COMPUTED, partial, None, reason)
        status = REBUILT
    y = clients[TARGET].to_numpy()
    threshold = float(evaluation.get("threshold", THRESHOLD))
    calibration = calibration_report(y, probability)
    fairness = fairness_report(y, probability, clients, threshold)
    return Trust(info.version, status, calibration, fairness)


def rebuilt_holdout(engine: Engine, info: VersionInfo):
    """(the holdout clients: ID, default and the attributes, in the stored probabilities'
    order; None) when the version's job can be replayed on the loaded data and gives back
    its stored confusion matrix and AUC, else (None, why not)."""
    from sklearn.metrics import confusion_matrix, roc_auc_score

    from core.data.features import sample_frame, training_frame
    from core.jobs.store import JobError, get_job
    from core.ml.experiment import Experiment
    from core.ml.params import TrainingParams

    probability = np.asarray(info.evaluation.get("probabilities") or [], dtype=float)
    if not len(probability):
        return None, "it stored no holdout probabilities"
    if info.job_id is None:
        return None, "it was not trained by a job, so how its holdout was drawn is unknown"
    if "confusion" not in info.evaluation:
        return None, "it stored no confusion matrix to check a rebuilt holdout against"
    try:
        params = TrainingParams.from_row(get_job(engine, info.job_id))
    except JobError:
        return None, f"its training job {info.job_id} is no longer recorded"
    frame = sample_frame(training_frame(engine), params.sample_size, params.seed)
    if len(frame) != info.rows:
        return (
            None,
            f"the data changed: it was trained on {info.rows:,} clients, not {len(frame):,}",
        )
    holdout = frame.loc[Experiment(frame, params).holdout.index].reset_index(drop=True)
    y = holdout[TARGET].to_numpy()
    threshold = float(info.evaluation.get("threshold", THRESHOLD))
    if len(y) != len(probability) or len(np.unique(y)) < 2:
        return None, "the data changed: the holdout drawn now is another"
    counts = confusion_matrix(y, probability >= threshold, labels=[0, 1]).ravel()
    stored = [info.evaluation["confusion"][k] for k in ("tn", "fp", "fn", "tp")]
    # a stored probability rounded onto the threshold may have been just under it
    slack = int(np.sum(np.abs(probability - threshold) <= ROUNDING))
    same = all(abs(int(n) - m) <= slack for n, m in zip(counts, stored, strict=True))
    auc = info.evaluation.get("roc", {}).get("auc")
    if not same or auc is None or abs(roc_auc_score(y, probability) - auc) > AUC_MATCH:
        return None, "the data changed: the holdout drawn now does not give its stored results"
    return holdout[[ID, TARGET, *ATTRIBUTES]], None


def calibration_verdicts(engine: Engine) -> dict[str, str | None]:
    """Each version's calibration verdict ("calibrated", "miscalibrated", or None when it
    was not computed), for lists that mark miscalibrated versions: one query that reads
    that one value of each evaluation, not the evaluations."""
    from sqlalchemy import select

    from core.db.engine import connect
    from core.db.schema import ModelVersion

    table = ModelVersion.__table__
    verdict = table.c.evaluation[("calibration", "verdict")].as_string()
    with connect(engine) as connection:
        rows = connection.execute(select(table.c.version, verdict.label("verdict"))).all()
    return {version: found for version, found in rows}
