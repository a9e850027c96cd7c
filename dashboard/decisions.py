"""Shared UI of issue 14: the threshold slider that starts at the version's policy threshold,
the reason codes under a scored client, and what a cut-off does on the holdout."""

from __future__ import annotations

import streamlit as st

from core.db.engine import DatabaseError
from core.serving.decisions import Decision
from core.serving.policy import DEFAULT_THRESHOLD, threshold_for
from core.serving.reasons import reasons_of
from dashboard.components import engine
from dashboard.formats import money

SLIDER = "score_threshold"
SLIDER_VERSION = "score_threshold_version"


def threshold_slider(container, version: str) -> tuple[float, str]:
    """The Score page's threshold: it starts at `version`'s policy threshold (else 0.5) each
    time another version is picked, and can be moved. Returns it and where it came from."""
    try:
        start = threshold_for(engine(), version)
    except DatabaseError as exc:
        st.warning(f"The policy threshold could not be read ({exc}); starting from 0.5.")
        start = None
    value = start.value if start is not None else DEFAULT_THRESHOLD
    if st.session_state.get(SLIDER_VERSION) != version:
        st.session_state[SLIDER_VERSION] = version
        st.session_state[SLIDER] = value
    threshold = container.slider(
        "Threshold: a probability at or above it is labelled Default",
        min_value=0.0,
        max_value=1.0,
        step=0.01,
        key=SLIDER,
    )
    source = start.described if start is not None and threshold == value else "given"
    container.caption(f"Threshold {threshold:.2f}: {source}.")
    return threshold, source


def show_reasons(container, explanation) -> None:
    """The client's reason codes (at most four, largest first) and, apart, what the
    protected attributes added."""
    found = reasons_of(explanation)
    container.markdown("**Reasons towards default**")
    if not found.reasons:
        container.caption("Nothing pushes this client's score towards default.")
    for i, reason in enumerate(found.reasons, start=1):
        container.markdown(f"{i}. {reason.text}: +{reason.effect * 100:.1f} pts")
    if found.protected_note:
        container.caption(found.protected_note)


def show_decision(decision: Decision, title: str) -> None:
    """What a cut-off does on the holdout: clients approved, defaults, money."""
    st.markdown(f"**{title}: threshold {decision.threshold:.2f}**")
    first, second, third, fourth = st.columns(4)
    first.metric("Clients approved", f"{decision.approved:,} of {decision.clients:,}")
    second.metric("Defaults let through", f"{decision.defaults_let_through:,}")
    third.metric("Defaults declined", f"{decision.defaults_declined:,}")
    fourth.metric("Profit", money(decision.profit))
    st.caption(
        f"Margin {money(decision.margin)}, realised loss {money(decision.realised_loss)}, "
        f"expected loss {money(decision.expected_loss)} on the approved clients."
    )
