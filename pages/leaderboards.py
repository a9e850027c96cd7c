"""Leaderboards: compare model versions side by side, inspect one, mark the champion."""

import json
from pathlib import Path

import pandas as pd
import streamlit as st
from pandas.api.types import is_numeric_dtype

from core.db.engine import DatabaseError
from core.ml.leaderboard import leaderboard, version_history
from core.ml.registry import (
    ArtifactError,
    VersionError,
    champion_or_latest,
    check_artifact,
    get_version,
    list_versions,
)
from core.ml.trust import TRUST_PARTS
from core.settings import SettingsError
from core.vocabulary import METRICS
from dashboard import challenger, formats, trust
from dashboard.components import engine, keep_widget_state, stop_with
from dashboard.figures import as_arrow
from dashboard.figures import models as figures

TIME_COLUMN = st.column_config.NumberColumn("TT (s per fold)", format="%.3f")
VIEWS = ["Compare versions", "One version in detail", "History"]
TRAIN_PAGE = Path(__file__).resolve().parent / "train.py"

st.title("Leaderboards")
st.caption(
    "Every model a version's training job cross-validated, side by side with other "
    "versions; the holdout evaluation of each version's kept model; the champion that "
    "scoring uses by default."
)

try:
    versions = list_versions(engine())
except DatabaseError as exc:
    stop_with(exc)

if not versions:
    st.info("No model version yet: train one on the Train page.")
    st.page_link(TRAIN_PAGE, label="Go to the Train page", icon=":material/model_training:")
    st.stop()

infos = {info.version: info for info in versions}
default = champion_or_latest(versions)
marks = trust.version_marks()
# Brier and Log Loss (the probabilities' errors) beside AUC, then the label metrics.
SHOWN_METRICS = [
    "AUC",
    "Brier",
    "Log Loss",
    *(m for m in METRICS if m not in ("AUC", "Brier", "Log Loss")),
]


@st.cache_resource(max_entries=64, show_spinner=False)
def compared(url: str, keys: tuple, metric: str) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The leaderboard of the versions `keys` names, its table as shown and the table's
    numeric metric columns, read and built once per process: a version never changes once
    saved. Its creation time is in the key, so a database made afresh under the same URL
    (tests) is not mistaken for the old one. Nothing may change what it returns."""
    board = leaderboard(engine(), [infos[version] for version, _ in keys], rank_by=metric)
    table = figures.board_table(board)
    numbers = [m for m in [*METRICS, "TT (Sec)"] if m in table and is_numeric_dtype(table[m])]
    return board, table, numbers


def version_label(version: str) -> str:
    return formats.version_choice(infos[version]) + marks.get(version, "")


def refusal(version: str) -> Exception | None:
    """Why scoring would refuse `version` (its sha256 or signature check), else None."""
    try:
        check_artifact(engine(), version)
    except (ArtifactError, VersionError, SettingsError) as exc:
        return exc
    except DatabaseError as exc:
        stop_with(exc)
    return None


def compare_versions() -> None:
    """The chosen versions' leaderboard: the table, the models on a metric, AUC against
    training time and the metrics heatmap."""
    chosen = st.multiselect(
        "Versions",
        list(infos),
        format_func=version_label,
        key="lb_versions",
        help="Choose several to compare them side by side.",
    )
    metric = st.columns(4)[0].selectbox("Rank by", METRICS, key="lb_metric")
    if not chosen:
        st.info("Choose at least one version.")
        return
    keys = tuple((v, infos[v].created_at.isoformat()) for v in chosen)
    try:
        board, table, numbers = compared(engine().url.render_as_string(), keys, metric)
    except DatabaseError as exc:
        stop_with(exc)
    st.dataframe(
        as_arrow(table),
        hide_index=True,
        key="lb_table",
        column_order=[
            c for c in ["Version", "Model", *SHOWN_METRICS, "TT (Sec)", "Kept"] if c in table
        ],
        column_config={
            "TT (Sec)": st.column_config.Column("TT (s per fold)"),
            **{m: st.column_config.NumberColumn(format="%.4f") for m in numbers},
            **({"TT (Sec)": TIME_COLUMN} if "TT (Sec)" in numbers else {}),
            "Kept": st.column_config.TextColumn("Kept", help="the model the version stores"),
        },
    )
    st.caption(
        "Click a column header to sort. ★ marks the model each version keeps. Brier and Log "
        "Loss measure the probabilities' errors: lower is better."
    )
    left, right = st.columns(2)
    left.plotly_chart(figures.models_on_metric(board, metric), key="lb_models")
    left.caption(
        f"The {metric} axis starts near the lowest model, not at 0, so that the differences "
        "between models show; read the values on the bars."
    )
    right.plotly_chart(figures.auc_against_time(board), key="lb_time")
    st.plotly_chart(figures.metrics_heatmap(board, rank_by=metric), key="lb_heatmap")


def version_in_detail() -> None:
    """One version: its figures, whether scoring may use it, the champion comparison and
    promotion, its holdout curves, calibration and fairness, parameters and model card."""
    if st.session_state.get("lb_detail") not in infos:
        st.session_state["lb_detail"] = first_chosen()
    detail = st.selectbox(
        "Version",
        list(infos),
        format_func=version_label,
        key="lb_detail",
    )
    try:
        info = get_version(engine(), detail, parts=(*figures.EVALUATION_PARTS, *TRUST_PARTS))
    except (VersionError, DatabaseError) as exc:
        stop_with(exc, f"Version {detail}")
    model, score, data, made = st.columns(4)
    model.metric("Kept model", info.model_id)
    score.metric(info.metric, f"{info.score or 0:.4f}")
    data.metric("Rows · folds", f"{info.rows:,} · {info.folds}")
    made.metric("Created", formats.day(info.created_at), help=formats.timestamp(info.created_at))

    refused = refusal(detail)
    if refused is not None:
        st.error(f"Version {detail} cannot be used for scoring: {refused}.")
        if info.is_champion:
            st.warning(
                "It is the champion: scoring without a version fails until another version "
                "is made the champion."
            )
    elif info.is_champion:
        st.success(f"Version {detail} is the champion: scoring uses it by default.")
    else:
        champion = next((v.version for v in versions if v.is_champion), None)
        challenger.champion_area(detail, champion)

    evaluation = info.evaluation
    roc, pr = st.columns(2)
    roc.plotly_chart(figures.roc_curve(evaluation), key="lb_roc")
    pr.plotly_chart(figures.pr_curve(evaluation), key="lb_pr")
    confusion, importance = st.columns(2)
    confusion.plotly_chart(figures.confusion_matrix(evaluation), key="lb_confusion")
    importance.plotly_chart(figures.feature_importance(evaluation), key="lb_importance")

    trust.trust_sections(info)

    with st.expander("Parameters, libraries and checksum"):
        st.markdown(f"**{info.model_name}** (`{info.model_id}`), sha256 `{info.sha256}`")
        st.code(json.dumps(info.params, indent=2, sort_keys=True), language="json")
        st.code(json.dumps(info.library_versions, indent=2), language="json")
    challenger.card_downloads(detail)


def history() -> None:
    """The best score of each version over time and the champion history."""
    st.plotly_chart(figures.best_over_time(version_history(versions)), key="lb_history")
    challenger.history_section()


def first_chosen() -> str:
    """The first version chosen for comparison (the champion or the latest when none is)."""
    chosen = st.session_state.get("lb_versions") or [default]
    return chosen[0] if chosen[0] in infos else default


# Tabs draw only the open one (on_change="rerun"): the first chart shows sooner in a fresh
# browser and a run reads only what it shows. The comparison's choices outlive its tab.
st.session_state["lb_versions"] = [
    v for v in st.session_state.get("lb_versions", [default]) if v in infos
]
keep_widget_state(("lb_metric", "lb_detail"))
compare_tab, detail_tab, history_tab = st.tabs(VIEWS, key="lb_view", on_change="rerun")
if compare_tab.open:
    with compare_tab:
        compare_versions()
if detail_tab.open:
    with detail_tab:
        version_in_detail()
if history_tab.open:
    with history_tab:
        history()
