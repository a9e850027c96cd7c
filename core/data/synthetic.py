"""Made-up clients with the real data's columns and plausible distributions, for
benchmarks at a million clients and for `python -m core load --synthetic N`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.vocabulary import BILLS, ID, PAID, STATUS, TARGET


def synthetic(n: int, seed: int = 7) -> pd.DataFrame:
    """`n` made-up clients with the real data's columns and plausible distributions."""
    rng = np.random.default_rng(seed)
    limit = rng.choice(np.arange(10_000, 1_000_001, 10_000), n, p=_limit_weights())
    frame = pd.DataFrame(
        {
            ID: np.arange(1, n + 1),
            "LIMIT_BAL": limit,
            "SEX": rng.choice([1, 2], n, p=[0.4, 0.6]),
            "EDUCATION": rng.choice(range(7), n, p=[0.001, 0.35, 0.47, 0.16, 0.004, 0.01, 0.005]),
            "MARRIAGE": rng.choice(range(4), n, p=[0.002, 0.455, 0.532, 0.011]),
            "AGE": np.clip(rng.gamma(9.0, 3.9, n) + 21, 21, 79).astype(np.int64),
        }
    )
    risk = rng.normal(0, 1, n)
    for month, column in enumerate(STATUS):
        drift = rng.normal(0, 0.6, n)
        status = np.round(risk + drift - 0.2 * month).astype(np.int64)
        frame[column] = np.clip(status, -2, 8)
    for column in BILLS:
        frame[column] = (limit * rng.beta(1.2, 2.5, n) - rng.exponential(500, n)).astype(np.int64)
    for column in PAID:
        frame[column] = rng.exponential(5_000, n).astype(np.int64)
    p_default = 1 / (1 + np.exp(-(0.9 * frame["PAY_1"] - 1.4)))
    frame[TARGET] = (rng.random(n) < p_default).astype(np.int64)
    return frame


def _limit_weights() -> np.ndarray:
    steps = np.arange(10_000, 1_000_001, 10_000)
    weights = np.exp(-steps / 150_000)
    return weights / weights.sum()
