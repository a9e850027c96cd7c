"""Score stability on the Score page's Monitoring tab: the score's PSI and verdict, its
chart over time and the CSI of each feature. `csi_table` is plain pandas, tested directly."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.db.engine import DatabaseError
from core.ml.registry import VersionError
from core.serving.schemas import TITLES
from core.serving.stability import EPSILON, MIN_SCORES, RULES, Index, Stability, stability
from dashboard.charts.stability import psi_over_time
from dashboard.formats import WARNING_SIGN

SHOWN = {"act": f"{WARNING_SIGN} act"}


def verdict_text(verdict: str) -> str:
    """The verdict as plain text, for table cells and metrics: "act" with a warning sign,
    the others ("stable", "watch", "too few to judge") as they are."""
    return SHOWN.get(verdict, verdict)


def csi_table(features: list[Index]) -> pd.DataFrame:
    """One row per feature, highest CSI first: feature, its plain title, CSI, verdict and
    the number of bins (deciles, or categories)."""
    rows = [
        {
            "Feature": index.name,
            "What": TITLES.get(index.name, index.name),
            "CSI": index.value,
            "Verdict": verdict_text(index.verdict),
            "Bins": len(index.bins),
        }
        for index in features
    ]
    return pd.DataFrame(rows, columns=["Feature", "What", "CSI", "Verdict", "Bins"])


def stability_section(engine, version: str, window: int, evaluation: dict | None = None) -> None:
    """The stability part of the Monitoring tab for the newest `window` scores; `evaluation`
    is the loaded model's stored evaluation (so the page reads it once)."""
    st.subheader("Score stability")
    period = st.radio(
        "Chart the PSI", ["day", "week"], horizontal=True,
        format_func=lambda p: f"per {p}", key="score_stability_period",
    )  # fmt: skip
    try:
        result = stability(engine, version, window, period, evaluation=evaluation)
    except (DatabaseError, VersionError) as exc:
        st.error(f"Stability cannot be computed: {exc}")
        return
    show_score(result)
    for note in result.notes:
        st.info(note[0].upper() + note[1:] + ".")
    if result.features:
        show_features(result)
    st.caption(
        f"{RULES} Fewer than {MIN_SCORES} scores are too few to judge. An empty bin counts "
        f"as a share of {EPSILON:g}."
    )


def show_score(result: Stability) -> None:
    if result.score is None:
        return
    value = result.score.value
    psi, verdict, scores = st.columns(3)
    psi.metric("Score PSI", "n/a" if value is None else f"{value:.3f}")
    verdict.metric("Verdict", verdict_text(result.score.verdict))
    scores.metric("Recent scores", f"{result.scores:,}")
    st.caption(
        f"The newest {result.scores:,} scores of version {result.version} against its "
        f"{result.development_scores:,} holdout scores at development, in ten bins cut at "
        "the development deciles."
    )
    if result.over_time:
        st.plotly_chart(
            psi_over_time(result.over_time, result.period), key="score_stability_over_time"
        )


def show_features(result: Stability) -> None:
    st.markdown("**Feature stability (CSI)**")
    st.caption(
        f"Each feature of the recent scores against the version's training sample "
        f"({result.development_sample:,} clients): deciles for amounts and age, one bin per "
        "category for sex, education, marriage and repayment status."
    )
    st.dataframe(
        csi_table(result.features),
        hide_index=True,
        column_config={"CSI": st.column_config.NumberColumn(format="%.3f")},
        key="score_stability_csi",
    )
