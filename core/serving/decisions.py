"""From a probability to a credit decision: the cut-off that maximises profit on a version's
holdout, given what a default costs and what a good client earns.

A client is approved when their probability of default is under the threshold (declined from
the threshold up, as scoring labels them). For each threshold, over the approved clients:

- expected loss: the sum of PD x LGD x EAD (what the model expects to lose);
- realised loss: the sum of LGD x EAD over the approved clients who did default;
- margin: the yearly margin (a share of EAD) earned on the approved clients who did not;
- profit: margin - realised loss.

EAD (exposure at default) is the credit limit (LIMIT_BAL) or the latest bill (BILL_AMT1,
floored at 0). The holdout is the version's stored holdout (probabilities, labels and IDs;
see core.ml.trust) with the clients' limits and bills read from the database.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from core.data.features import features_query
from core.db.engine import connect
from core.db.schema import Client
from core.ml.evaluation import read_holdout_clients
from core.ml.registry import get_version
from core.vocabulary import ID, TARGET

EXPOSURES = {
    "limit": "credit limit (LIMIT_BAL)",
    "bill": "latest bill (BILL_AMT1, floored at 0)",
}
DEFAULT_LGD = 0.45
DEFAULT_MARGIN = 0.05
DEFAULT_EXPOSURE = "limit"
# Thresholds tried: 0.00, 0.01, ..., 1.00.
THRESHOLDS = np.round(np.linspace(0, 1, 101), 2)
EXPLAINED = {
    "lgd": "Loss given default: the share of the exposure lost when a client defaults, after "
    "recoveries. 45% is the Basel foundation figure for senior unsecured exposures.",
    "exposure": "Exposure at default: what the bank has at stake on a client, either the "
    "whole credit limit (prudent: a defaulter often draws it) or the latest bill.",
    "margin": "Yearly margin on a good client, as a share of the exposure: interest and fees "
    "less funding and running costs. 5% is a typical net figure for card lending.",
}


class CostError(ValueError):
    """A cost input is out of range; the message names the field."""


class NoHoldoutError(LookupError):
    """The version has no holdout these figures can be computed on; the message says why."""


@dataclass(frozen=True)
class Costs:
    """What a decision costs: loss given default (0 < lgd <= 1), the exposure basis (one of
    EXPOSURES) and the yearly margin on a good client (0 <= margin <= 1), both as shares."""

    lgd: float = DEFAULT_LGD
    exposure: str = DEFAULT_EXPOSURE
    margin: float = DEFAULT_MARGIN

    def __post_init__(self):
        _share("lgd", "loss given default", self.lgd, allow_zero=False)
        _share("margin", "margin on a good client", self.margin, allow_zero=True)
        if self.exposure not in EXPOSURES:
            raise CostError(
                f"exposure: {self.exposure!r} is not an exposure basis; "
                f"expected one of {', '.join(EXPOSURES)}"
            )


def _share(field: str, words: str, value, *, allow_zero: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CostError(f"{field}: the {words} must be a share between 0 and 1, not {value!r}")
    if value < 0 or value > 1 or (value == 0 and not allow_zero):
        low = "at least 0%" if allow_zero else "more than 0%"
        raise CostError(
            f"{field}: the {words} is {value * 100:g}%; it must be {low} and at most 100%"
        )


def exposure(frame: pd.DataFrame, basis: str) -> np.ndarray:
    """EAD of each client: LIMIT_BAL, or BILL_AMT1 floored at 0."""
    if basis == "limit":
        return frame["LIMIT_BAL"].to_numpy(dtype=float)
    return np.maximum(frame["BILL_AMT1"].to_numpy(dtype=float), 0.0)


def client_exposure(client: dict, basis: str) -> float:
    """One client's EAD, as exposure() computes it for a frame."""
    if basis == "limit":
        return float(client["LIMIT_BAL"])
    return max(float(client["BILL_AMT1"]), 0.0)


def profit_curve(holdout: pd.DataFrame, costs: Costs, thresholds=THRESHOLDS) -> pd.DataFrame:
    """For each threshold: clients approved, defaults let through (approved defaulters),
    defaults declined, expected loss, realised loss, margin and profit of the approved.

    `holdout` has columns probability, default, LIMIT_BAL and BILL_AMT1.
    """
    p = holdout["probability"].to_numpy(dtype=float)
    bad = holdout[TARGET].to_numpy(dtype=int) == 1
    ead = exposure(holdout, costs.exposure)
    order = np.argsort(p, kind="stable")
    p, bad, ead = p[order], bad[order], ead[order]

    def cumulative(values):  # sums over the first k clients by probability, k = 0..n
        return np.concatenate([[0.0], np.cumsum(values, dtype=float)])

    approved = np.searchsorted(p, np.asarray(thresholds, dtype=float), side="left")
    let_through = cumulative(bad)[approved]
    expected = cumulative(p * costs.lgd * ead)[approved]
    realised = cumulative(np.where(bad, costs.lgd * ead, 0.0))[approved]
    margin = cumulative(np.where(bad, 0.0, costs.margin * ead))[approved]
    return pd.DataFrame(
        {
            "threshold": np.asarray(thresholds, dtype=float),
            "approved": approved,
            "declined": len(p) - approved,
            "defaults_let_through": let_through.astype(int),
            "defaults_declined": int(bad.sum()) - let_through.astype(int),
            "expected_loss": expected,
            "realised_loss": realised,
            "margin": margin,
            "profit": margin - realised,
        }
    )


@dataclass(frozen=True)
class Decision:
    """The threshold that maximises profit on the holdout and what it does there."""

    threshold: float
    clients: int
    approved: int
    declined: int
    defaults_let_through: int
    defaults_declined: int
    expected_loss: float
    realised_loss: float
    margin: float
    profit: float

    def as_dict(self) -> dict:
        return asdict(self)


def best_threshold(curve: pd.DataFrame) -> Decision:
    """The row of `curve` with the highest profit (the lowest such threshold on a tie)."""
    row = curve.loc[curve["profit"].idxmax()]
    return Decision(
        threshold=float(row["threshold"]),
        clients=int(row["approved"] + row["declined"]),
        approved=int(row["approved"]),
        declined=int(row["declined"]),
        defaults_let_through=int(row["defaults_let_through"]),
        defaults_declined=int(row["defaults_declined"]),
        expected_loss=float(row["expected_loss"]),
        realised_loss=float(row["realised_loss"]),
        margin=float(row["margin"]),
        profit=float(row["profit"]),
    )


def decision_holdout(engine: Engine, version: str) -> pd.DataFrame:
    """The version's holdout: ID, probability, default, LIMIT_BAL and BILL_AMT1, one row per
    holdout client. NoHoldoutError says why when it cannot be had: no stored probabilities,
    no client IDs (and a holdout that cannot be rebuilt), or clients no longer loaded."""
    from core.ml.trust import rebuilt_holdout

    info = get_version(engine, version, parts=["probabilities", "holdout_clients"])
    probability = np.asarray(info.evaluation.get("probabilities") or [], dtype=float)
    if not len(probability):
        raise NoHoldoutError(
            f"version {info.version} stored no holdout probabilities, so profit and loss "
            "against the threshold cannot be computed; train it again to have them"
        )
    stored = info.evaluation.get("holdout_clients")
    if stored and ID in stored and TARGET in stored:
        clients = read_holdout_clients(stored)
    else:
        parts = ["probabilities", "confusion", "roc", "threshold"]
        full = get_version(engine, version, parts=parts)
        clients, why = rebuilt_holdout(engine, full)
        if clients is None:
            raise NoHoldoutError(
                f"version {info.version} did not store its holdout clients and its holdout "
                f"cannot be rebuilt: {why}. Profit and loss against the threshold cannot be "
                "computed; train it again to have them"
            )
    if len(clients) != len(probability):
        raise NoHoldoutError(f"version {info.version}: its holdout does not match its scores")
    amounts = _amounts(engine, clients[ID].tolist())
    holdout = clients[[ID, TARGET]].assign(probability=probability)
    holdout = holdout.merge(amounts, on=ID, how="left")
    missing = int(holdout["LIMIT_BAL"].isna().sum())
    if missing:
        raise NoHoldoutError(
            f"{missing:,} of version {info.version}'s {len(holdout):,} holdout clients are no "
            "longer in the database (the data was replaced), so their exposure is unknown"
        )
    return holdout.astype({"LIMIT_BAL": float, "BILL_AMT1": float})


def _amounts(engine: Engine, ids: list[int]) -> pd.DataFrame:
    """LIMIT_BAL and BILL_AMT1 of the given clients."""
    rows = []
    with connect(engine) as connection:
        for start in range(0, len(ids), 1_000):  # stay under bound-parameter limits
            chunk = ids[start : start + 1_000]
            query = features_query(Client.id.in_(chunk))
            found = connection.execute(query).mappings()
            rows += [(r[ID], r["LIMIT_BAL"], r["BILL_AMT1"]) for r in found]
    return pd.DataFrame(rows, columns=[ID, "LIMIT_BAL", "BILL_AMT1"])


def decide(engine: Engine, version: str, costs: Costs) -> tuple[pd.DataFrame, Decision]:
    """The profit curve of `version`'s holdout under `costs` and its best threshold."""
    curve = profit_curve(decision_holdout(engine, version), costs)
    return curve, best_threshold(curve)
