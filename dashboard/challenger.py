"""The Leaderboards page's champion parts: a challenger compared with the champion before
it is promoted (with a reason when it is not significantly better), the champion history
and the model card downloads. Core computes; these functions render."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.auth import AccessDenied
from core.db.engine import DatabaseError
from core.ml.card import model_card
from core.ml.challenger import BETTER, WORSE, ComparisonError, compare
from core.ml.registry import (
    MAX_REASON,
    ArtifactError,
    ChampionError,
    VersionError,
    champion_history,
    set_champion,
)
from core.settings import SettingsError
from dashboard.access import current, needs, show_refusal
from dashboard.charts.challenger import calibration_overlay
from dashboard.components import engine, settings, stop_with

COMPARISON_SECONDS = 60  # the recent window moves: a comparison is computed again after this


@st.cache_resource(
    ttl=COMPARISON_SECONDS, max_entries=8, show_spinner="Comparing the two versions..."
)
def _comparison(url: str, challenger: str, champion: str) -> dict | str:
    """The comparison as a dict, or why the two cannot be compared (cached per database)."""
    try:
        return compare(engine(), challenger, champion).as_dict()
    except (ComparisonError, VersionError) as exc:
        return str(exc)


def champion_area(version: str, champion: str | None) -> None:
    """Promotion of `version`: with a champion, the comparison first and a reason when the
    version is not significantly better; with none, the button alone."""
    actor = current()
    allowed = actor.may("set_champion")
    better, reason = None, ""
    if champion is not None:
        st.subheader(f"Version {version} against champion {champion}")
        try:
            result = _comparison(settings().database_url, version, champion)
        except DatabaseError as exc:
            stop_with(exc)
        if isinstance(result, str):
            st.warning(f"The two versions cannot be compared on their holdout: {result}")
            better = False
        else:
            show_comparison(result)
            better = result["significantly_better"]
        if not better:
            reason = st.text_area(
                "Reason for making it the champion",
                key="lb_reason",
                max_chars=MAX_REASON,
                disabled=not allowed,
                help="Required: it is not significantly better than the champion. Kept in the "
                "champion history with your name.",
            )
    ready = better is not False or bool(reason.strip())
    if st.button(
        f"Make version {version} the champion",
        key="lb_champion",
        type="primary",
        disabled=not (allowed and ready),
    ):
        try:
            set_champion(engine(), version, reason=reason, better=better, actor=actor)
        except AccessDenied as exc:
            show_refusal(exc)
        except (ChampionError, VersionError, ArtifactError, SettingsError, DatabaseError) as exc:
            st.error(f"Version {version} could not be made the champion: {exc}")
        else:
            st.rerun()
    if not allowed:
        st.caption(needs("set_champion"))
    elif not ready:
        st.caption("Give a reason to make it the champion.")


def verdict_text(comparison: dict) -> str:
    """The comparison's verdict as a sentence."""
    diff = comparison["holdout"]["auc"]["difference"]
    new, old = comparison["challenger"], comparison["champion"]
    interval = f"95% interval {diff['low']:+.4f} to {diff['high']:+.4f}"
    if comparison["holdout"]["verdict"] == BETTER:
        return (
            f"Version {new} is significantly better than champion {old}: its AUC is higher by "
            f"{diff['value']:+.4f} ({interval}, above 0)."
        )
    if comparison["holdout"]["verdict"] == WORSE:
        return (
            f"Version {new} is significantly worse than champion {old}: its AUC differs by "
            f"{diff['value']:+.4f} ({interval}, below 0)."
        )
    return (
        f"Version {new} is not significantly better than champion {old}: the AUC difference "
        f"{diff['value']:+.4f} could be chance ({interval}, which holds 0)."
    )


def figures_table(comparison: dict) -> pd.DataFrame:
    """Two columns of figures, challenger then champion: AUC and its interval, Brier, KS."""
    holdout = comparison["holdout"]
    columns = {}
    for side in ("challenger", "champion"):
        auc = holdout["auc"][side]
        columns[f"{side.title()} {comparison[side]}"] = [
            f"{auc['value']:.4f}",
            f"{auc['low']:.4f} to {auc['high']:.4f}",
            f"{holdout['brier'][side]:.4f}",
            f"{holdout['ks'][side]:.4f}",
        ]
    return pd.DataFrame(columns, index=["AUC", "AUC 95% interval", "Brier", "KS"])


def show_comparison(comparison: dict) -> None:
    holdout = comparison["holdout"]
    st.caption(
        f"On {holdout['rows']:,} holdout clients ({comparison['basis']}); 95% intervals "
        f"by paired bootstrap, {holdout['resamples']:,} resamples."
    )
    st.dataframe(figures_table(comparison), key="lb_compare_figures")
    show = st.success if holdout["verdict"] == BETTER else st.warning
    show(verdict_text(comparison))
    st.plotly_chart(calibration_overlay(comparison), key="lb_compare_calibration")
    swaps = holdout["swaps"]
    flagged, passed = st.columns(2)
    flagged.metric("Newly flagged as default", f"{swaps['to_default']:,}")
    flagged.caption(f"of whom {swaps['defaulted']['to_default']:,} defaulted")
    passed.metric("No longer flagged", f"{swaps['to_not_default']:,}")
    passed.caption(f"of whom {swaps['defaulted']['to_not_default']:,} defaulted")
    if swaps["top"]:
        with st.expander("The holdout clients whose label changes most"):
            st.dataframe(pd.DataFrame(swaps["top"]), hide_index=True, key="lb_compare_swaps")
    show_recent(comparison)
    if comparison["fairness"]:
        with st.expander("Fairness ratios side by side (four-fifths rule: under 0.8 flagged)"):
            st.dataframe(
                pd.DataFrame(comparison["fairness"]), hide_index=True, key="lb_compare_fairness"
            )


def show_recent(comparison: dict) -> None:
    recent = comparison["recent"]
    if recent is None:
        st.caption(f"Recent scored clients: not compared, {comparison['recent_note']}.")
        return
    swaps, mean, flagged = recent["swaps"], recent["mean"], recent["flagged"]
    st.caption(
        f"On the {recent['rows']:,} most recently scored clients (labels unknown): mean "
        f"probability {mean['challenger']:.3f} against {mean['champion']:.3f}, share flagged "
        f"{flagged['challenger']:.1%} against {flagged['champion']:.1%}; "
        f"{swaps['to_default']:,} would be newly flagged, {swaps['to_not_default']:,} no "
        "longer."
    )


def history_section() -> None:
    """The champion history, newest first."""
    st.subheader("Champion history")
    try:
        changes = champion_history(engine())
    except DatabaseError as exc:
        stop_with(exc)
    if not changes:
        st.caption("No champion has been chosen yet.")
        return
    table = pd.DataFrame(
        {
            "When (UTC)": [f"{c.at:%Y-%m-%d %H:%M}" for c in changes],
            "Champion": [c.version for c in changes],
            "Replaced": [c.previous or "" for c in changes],
            "By": [c.actor for c in changes],
            "Reason": [c.reason for c in changes],
        }
    )
    st.dataframe(table, hide_index=True, key="lb_champion_history")


def card_downloads(version: str) -> None:
    """Two download buttons for `version`'s model card; it is generated when clicked."""
    source = engine()
    markdown, page = st.columns(2)
    markdown.download_button(
        "Model card (Markdown)",
        data=lambda: model_card(source, version, "md"),
        file_name=f"model-card-{version}.md",
        mime="text/markdown",
        key="lb_card_md",
        on_click="ignore",
    )
    page.download_button(
        "Model card (HTML)",
        data=lambda: model_card(source, version, "html"),
        file_name=f"model-card-{version}.html",
        mime="text/html",
        key="lb_card_html",
        on_click="ignore",
    )
