"""Can a version's probabilities be trusted? The Leaderboards page's Calibration and
Fairness sections of one version, and the marks of miscalibrated versions in its lists.

The figures come from core.ml.trust: stored with the version at training time, or, for a
version saved before, computed from its stored holdout when someone asks (kept in this
session only: versions are immutable, nothing is written).
"""

from __future__ import annotations

import streamlit as st

from core.db.engine import DatabaseError
from core.ml.calibration import MAX_ECE, MAX_MEAN_GAP, MISCALIBRATED
from core.ml.fairness import MIN_CLIENTS, RATIO_FLOOR, flagged_groups
from core.ml.registry import VersionError, VersionInfo
from core.ml.trust import (
    NOT_COMPUTED,
    Trust,
    calibration_verdicts,
    stored_trust,
    trust_from_holdout,
)
from dashboard import formats
from dashboard.components import engine
from dashboard.figures import models as figures
from dashboard.figures import shared_table

MISCALIBRATED_MARK = f" · {formats.WARNING_SIGN} miscalibrated"
COMPUTED = "lb_trust_computed"  # session state: version -> Trust computed from its holdout
PERCENT = st.column_config.NumberColumn(format="%.1f%%")


def version_marks() -> dict[str, str]:
    """ " · ⚠ miscalibrated" for each miscalibrated version, to follow its label in lists;
    empty (no marks) when the database cannot say."""
    try:
        verdicts = calibration_verdicts(engine())
    except DatabaseError:
        return {}
    return {v: MISCALIBRATED_MARK for v, verdict in verdicts.items() if verdict == MISCALIBRATED}


def trust_sections(info: VersionInfo) -> None:
    """The Calibration and Fairness sections of a version read with TRUST_PARTS."""
    trust = st.session_state.get(COMPUTED, {}).get(info.version) or stored_trust(info)
    st.subheader("Calibration")
    if trust.calibration is None or trust.status == NOT_COMPUTED:
        not_computed(trust)
        return
    st.caption(f"Calibration and fairness {trust.status}.")
    calibration_section(trust.calibration)
    st.subheader("Fairness by group")
    if trust.fairness is None:
        st.info("Fairness was not computed: the holdout's groups were not kept with it.")
    else:
        fairness_section(trust.fairness)


def not_computed(trust: Trust) -> None:
    """What a version without figures shows: why, and a button to compute them."""
    st.info(f"Calibration and fairness: not computed. {sentence(trust.reason)}")
    partial = trust.calibration or {}
    if "mean_predicted" in partial:
        st.metric("Mean predicted probability", f"{partial['mean_predicted']:.1%}")
    st.button(
        "Compute from the stored holdout",
        key="lb_trust_compute",
        on_click=compute,
        args=(trust.version,),
        help="Computes the reliability curve, Brier score, ECE and fairness by group from "
        "the holdout clients kept with the version (rebuilt from the loaded data for older "
        "versions). Takes seconds; nothing is saved.",
    )
    st.subheader("Fairness by group")
    st.caption("Not computed.")


def sentence(text: str | None) -> str:
    """`text` with a capital first letter and one full stop."""
    text = (text or "").strip().rstrip(".")
    return f"{text[:1].upper()}{text[1:]}." if text else ""


def compute(version: str) -> None:
    """The compute button's callback: figures from the version's holdout, for this session."""
    try:
        trust = trust_from_holdout(engine(), version)
    except (VersionError, DatabaseError, ValueError, KeyError) as exc:
        trust = Trust(version, NOT_COMPUTED, None, None, f"they could not be computed: {exc}")
    st.session_state.setdefault(COMPUTED, {})[version] = trust


def calibration_section(calibration: dict) -> None:
    """Brier, ECE, mean predicted against observed, the warning, the method, the curve."""
    if calibration.get("warning"):
        st.warning(calibration["warning"])
    else:
        st.success(
            "Calibrated: read its scores as probabilities of default (holdout ECE at most "
            f"{MAX_ECE:.2f}, mean prediction within {MAX_MEAN_GAP:.0%} of the observed rate)."
        )
    brier, ece, predicted, observed = st.columns(4)
    brier.metric("Brier score", f"{calibration['brier']:.4f}", help="lower is better")
    ece.metric("ECE", f"{calibration['ece']:.3f}", help="expected calibration error")
    predicted.metric("Mean predicted", f"{calibration['mean_predicted']:.1%}")
    observed.metric("Observed default rate", f"{calibration['observed_rate']:.1%}")
    st.caption(method_text(calibration))
    st.plotly_chart(figures.reliability_curve(calibration), key="lb_reliability")
    st.caption(
        "Holdout clients binned by predicted probability (10 bins): a calibrated model's "
        "points lie on the diagonal; points below it mean the model predicts more defaults "
        "than happen. ECE is the mean distance from the diagonal, weighted by the clients "
        "per bin (the grey bars)."
    )


def method_text(calibration: dict) -> str:
    """How the version's probabilities were calibrated, and its figures before, in words."""
    if not calibration.get("method"):
        if calibration.get("note"):
            return f"Calibration was asked for but not applied: {calibration['note']}"
        return "Not calibrated: the training job did not ask for it."
    before = calibration.get("uncalibrated") or {}
    text = f"Calibrated with the {calibration['method']} method on held-out folds."
    if before:
        text += (
            f" Before calibration: AUC {before['auc']:.4f}, ECE {before['ece']:.3f}, Brier "
            f"{before['brier']:.4f}, mean predicted {before['mean_predicted']:.1%}."
        )
    return text


def fairness_section(fairness: dict) -> None:
    """One table per attribute; flagged groups named in a warning above them."""
    floor = fairness.get("ratio_floor", RATIO_FLOOR)
    flagged = flagged_groups({"fairness": fairness})
    if flagged:
        st.warning(f"Flagged (ratio under {floor:g}, the four-fifths rule): {'; '.join(flagged)}.")
    st.caption(
        f"On the holdout, at threshold {fairness['threshold']:g}. Share flagged: clients "
        f"labelled default. Ratio: the group's share {fairness['favourable']} over the most "
        f"favoured group's; under {floor:g} is flagged. Groups with fewer than "
        f"{fairness.get('min_clients', MIN_CLIENTS)} clients or no defaulter are too few to "
        "judge: their counts are shown, no ratio."
    )
    for attribute, report in fairness["attributes"].items():
        reference = report.get("reference") or "none judged"
        st.markdown(f"**{report['name'].capitalize()}** (most favoured: {reference})")
        st.dataframe(
            fairness_shown(report, floor),
            hide_index=True,
            key=f"lb_fairness_{attribute}",
            column_config={"Verdict": st.column_config.TextColumn(width="medium")},
        )


NOT_JUDGED = formats.MISSING


@shared_table
def fairness_shown(report: dict, floor: float):
    """One attribute's fairness table as shown, made once per process for a version."""
    return readable(figures.fairness_table(report, floor))


def readable(table):
    """The fairness table as people read it: percentages with one decimal, counts with
    thousands separators, and a dash where a group is too small for a figure (not "None")."""
    shown = table.copy()

    def text(format_: str):
        return lambda value: (
            NOT_JUDGED if value is None or value != value else format_.format(value)
        )

    for name in figures.PERCENT_COLUMNS:
        shown[name] = table[name].map(text("{:.1f}%"))
    for name in ("Clients", "Defaulters"):
        shown[name] = table[name].map(text("{:,.0f}"))
    shown["AUC"] = table["AUC"].map(text("{:.3f}"))
    shown["Ratio to most favoured"] = table["Ratio to most favoured"].map(text("{:.2f}"))
    return shown
