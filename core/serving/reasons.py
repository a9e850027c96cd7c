"""Reason codes: the up to four plain-language reasons pushing a client's score most towards
default, from the explanation scoring already computes (core.serving.scoring: SHAP or
occlusion effects per feature).

Features are grouped (PAY_1..PAY_6 are "recent late payments", the bills "high balances",
...) and their effects summed per group; the groups with the largest positive sums are the
reasons, largest first. Sex, marital status and age are never a reason: when the model uses
them and together they pushed the score up, `Reasons.protected` says by how much, apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.vocabulary import BILLS, FEATURES, PAID, PROTECTED, STATUS

MAX_REASONS = 4
# Effects below this (in probability) are noise, not a reason.
MIN_EFFECT = 1e-6


@dataclass(frozen=True)
class Group:
    code: str
    text: str
    features: tuple[str, ...]


GROUPS = (
    Group("late_payments", "recent late payments", tuple(STATUS)),
    Group("high_balances", "high balances", tuple(BILLS)),
    Group("low_payments", "low payments against the bill", tuple(PAID)),
    Group("low_limit", "low credit limit", ("LIMIT_BAL",)),
    Group("education", "education", ("EDUCATION",)),
)
assert not {f for g in GROUPS for f in g.features} & set(PROTECTED)
assert {f for g in GROUPS for f in g.features} | set(PROTECTED) == set(FEATURES)
COLUMNS = [f"reason_{i}" for i in range(1, MAX_REASONS + 1)]


@dataclass(frozen=True)
class Reason:
    """One reason: a stable `code`, its `text` and its `effect` (probability points as a
    fraction, positive: towards default)."""

    code: str
    text: str
    effect: float

    def as_dict(self) -> dict:
        return {"code": self.code, "text": self.text, "effect": self.effect}

    def __str__(self) -> str:
        return f"{self.text} (+{self.effect * 100:.1f} pts)"


@dataclass(frozen=True)
class Reasons:
    """A client's reasons, largest effect first (at most MAX_REASONS), and what the
    protected attributes together added to the probability (0 when nothing)."""

    reasons: tuple[Reason, ...]
    protected: float

    @property
    def protected_note(self) -> str | None:
        """The sentence saying the protected attributes pushed the score up, or None."""
        if self.protected <= MIN_EFFECT:
            return None
        return (
            f"Protected attributes (sex, marital status, age) contributed "
            f"+{self.protected * 100:.1f} pts; not a reason."
        )


def reasons_from_effects(effects: dict[str, float] | pd.Series) -> Reasons:
    """The reasons of one client from each feature's effect (feature name -> effect)."""
    effects = dict(effects)
    sums = [(group, sum(float(effects.get(f, 0.0)) for f in group.features)) for group in GROUPS]
    pushing = [(group, effect) for group, effect in sums if effect > MIN_EFFECT]
    pushing.sort(key=lambda pair: pair[1], reverse=True)
    reasons = tuple(Reason(g.code, g.text, effect) for g, effect in pushing[:MAX_REASONS])
    protected = sum(float(effects.get(name, 0.0)) for name in PROTECTED)
    return Reasons(reasons, max(protected, 0.0))


def reasons_of(explanation) -> Reasons:
    """The reasons of an Explanation (core.serving.scoring)."""
    table = explanation.effects
    return reasons_from_effects(dict(zip(table["feature"], table["effect"], strict=True)))


def batch_effects(model, frame: pd.DataFrame, chunk: int = 1_000) -> np.ndarray:
    """Each feature's effect for every row of a frame of FEATURES (rows x 23), computed as
    Model.explain does for one client (SHAP for tree models, else occlusion), in chunks."""
    parts = [
        _chunk_effects(model, frame.iloc[start : start + chunk])
        for start in range(0, len(frame), chunk)
    ]
    return np.vstack(parts) if parts else np.zeros((0, len(FEATURES)))


def _chunk_effects(model, frame: pd.DataFrame) -> np.ndarray:
    probability = model.probabilities(frame)
    if model.tree_explainer is not None:
        effects = _shap(model, frame, probability)
        if effects is not None:
            return effects
    return _occlusion(model, frame, probability)


def _shap(model, frame: pd.DataFrame, probability: np.ndarray) -> np.ndarray | None:
    transformed = model.pipeline[:-1].transform(frame[FEATURES])
    if list(transformed.columns) != FEATURES:
        return None
    result = model.tree_explainer(transformed)
    values = np.asarray(result.values)
    base = np.asarray(result.base_values, dtype=float)
    if values.ndim == 3:  # one column per class: take "default"
        values = values[:, :, 1]
        base = base[..., 1] if base.ndim and base.shape[-1] == 2 else base
    if base.size != len(frame):  # one expected value for all rows
        base = np.full(len(frame), base.ravel()[0])
    base = base.reshape(len(frame))
    additive = np.abs(base + values.sum(axis=1) - probability) < 1e-6
    # Boosted trees explain log-odds: share each row's probability change in the same shares.
    start = 1 / (1 + np.exp(-base))
    total = values.sum(axis=1)
    safe = np.where(np.abs(total) > 1e-12, total, 1.0)
    scale = np.where(np.abs(total) > 1e-12, (probability - start) / safe, 0.0)
    return np.where(additive[:, None], values, values * scale[:, None])


def _occlusion(model, frame: pd.DataFrame, probability: np.ndarray) -> np.ndarray:
    rows = frame[FEATURES].to_numpy(dtype=float)
    typical = np.array([model.typical[name] for name in FEATURES], dtype=float)
    n, k = rows.shape
    grid = np.repeat(rows[:, None, :], k, axis=1)  # n x k x k: row i with feature j typical
    grid[:, np.arange(k), np.arange(k)] = typical
    scores = model.predict(grid.reshape(n * k, k)).reshape(n, k)
    return probability[:, None] - scores


# Which group each feature belongs to: FEATURES x GROUPS, 1 where it does.
MEMBERSHIP = np.array([[name in g.features for g in GROUPS] for name in FEATURES], dtype=float)


def _ranked(model, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For every row, the groups pushing its score up most (rows x MAX_REASONS group
    indexes, largest first) and their summed effects; an effect <= MIN_EFFECT is no reason."""
    sums = batch_effects(model, frame) @ MEMBERSHIP  # rows x groups
    order = np.argsort(-sums, axis=1, kind="stable")[:, :MAX_REASONS]
    return order, np.take_along_axis(sums, order, axis=1)


def reason_columns(model, frame: pd.DataFrame) -> pd.DataFrame:
    """reason_1..reason_4 for every row of a frame of FEATURES: a reason's text with its
    effect, as str(Reason), or "" when fewer reasons pushed the score up. The same reasons
    as reasons_from_effects on each row, computed for all rows at once."""
    order, effects = _ranked(model, frame)
    columns = {name: [""] * len(frame) for name in COLUMNS}
    for rank in range(order.shape[1]):
        columns[COLUMNS[rank]] = [
            f"{GROUPS[g].text} (+{e * 100:.1f} pts)" if e > MIN_EFFECT else ""
            for g, e in zip(order[:, rank], effects[:, rank], strict=True)
        ]
    return pd.DataFrame(columns, index=frame.index)


def reason_codes(model, frame: pd.DataFrame) -> list[str]:
    """Each row's reason codes, largest first, comma-separated ("late_payments,low_limit";
    "" when nothing pushed the score up): the compact form portfolio runs store."""
    order, effects = _ranked(model, frame)
    return [
        ",".join(GROUPS[g].code for g, e in zip(groups, row, strict=True) if e > MIN_EFFECT)
        for groups, row in zip(order, effects, strict=True)
    ]


TEXTS = {group.code: group.text for group in GROUPS}


def texts_of(codes: str | None) -> list[str]:
    """The plain-language reasons of stored codes ("late_payments,low_limit"), in order."""
    return [TEXTS.get(code, code) for code in (codes or "").split(",") if code]
