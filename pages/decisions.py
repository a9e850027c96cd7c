"""Decisions: choose the cut-off from what a default costs and what a good client earns."""

import streamlit as st

from core.auth import AccessDenied
from core.data.status import data_version
from core.db.engine import DatabaseError
from core.ml.registry import VersionError, champion_or_latest, list_versions
from core.serving.decisions import (
    DEFAULT_LGD,
    DEFAULT_MARGIN,
    EXPLAINED,
    EXPOSURES,
    CostError,
    Costs,
    NoHoldoutError,
    best_threshold,
    decision_holdout,
    profit_curve,
)
from core.serving.policy import get_policy, save_policy
from dashboard.access import current, needs, show_refusal
from dashboard.components import engine, stop_with
from dashboard.decisions import show_decision
from dashboard.figures import decisions as figures
from dashboard.formats import money

st.title("Decisions")
st.caption(
    "Pick the cut-off from money, not from 0.5: on a version's holdout clients, what the "
    "approved clients earn and lose at each threshold, and the threshold that earns most. "
    "Saved as the version's policy threshold, it is what scoring uses by default."
)

try:
    versions = list_versions(engine())
except DatabaseError as exc:
    stop_with(exc)
if not versions:
    st.info("No model version yet: train one on the Train page.")
    st.stop()

names = {v.version: v for v in versions}
version = st.selectbox(
    "Model version",
    list(names),
    index=list(names).index(champion_or_latest(versions)),
    format_func=lambda v: names[v].label,
    key="dec_version",
)
lgd_column, exposure_column, margin_column = st.columns(3)
lgd = lgd_column.number_input(
    "Loss given default (%)",
    value=DEFAULT_LGD * 100,
    step=5.0,
    help=EXPLAINED["lgd"],
    key="dec_lgd",
)
basis = exposure_column.radio(
    "Exposure at default",
    list(EXPOSURES),
    format_func=EXPOSURES.get,
    help=EXPLAINED["exposure"],
    key="dec_exposure",
)
margin = margin_column.number_input(
    "Yearly margin on a good client (% of exposure)",
    value=DEFAULT_MARGIN * 100,
    step=0.5,
    help=EXPLAINED["margin"],
    key="dec_margin",
)

try:
    costs = Costs(lgd=lgd / 100, exposure=basis, margin=margin / 100)
except CostError as exc:
    st.error(f"These costs cannot be used: {exc}.")
    st.stop()


@st.cache_data(max_entries=16, show_spinner=False)
def holdout_of(url: str, version: str, data: int):
    """The version's holdout with its clients' amounts, read once per version and data
    version (versions never change; a load may change the clients' amounts)."""
    return decision_holdout(engine(), version)


try:
    holdout = holdout_of(engine().url.render_as_string(), version, data_version(engine()))
    policy = get_policy(engine(), version)
except NoHoldoutError as exc:
    st.warning(f"{exc}.")
    st.stop()
except (DatabaseError, VersionError) as exc:
    stop_with(exc)

curve = profit_curve(holdout, costs)
best = best_threshold(curve)
st.plotly_chart(
    figures.profit_and_loss(curve, best.threshold, policy.threshold if policy else None),
    key="dec_chart",
)
st.caption(
    f"{len(holdout):,} holdout clients of version {version}. A client is approved when the "
    "probability is under the threshold. Profit is the margin on approved clients who did "
    "not default less LGD x exposure of those who did; the dotted line is the loss the model "
    "expected (PD x LGD x EAD)."
)
show_decision(best, "The most profitable cut-off")
at_half = curve.loc[(curve["threshold"] - 0.5).abs().idxmin()]
st.caption(
    f"At 0.50 instead: {int(at_half['approved']):,} approved, "
    f"{int(at_half['defaults_let_through']):,} defaults let through, profit "
    f"{money(at_half['profit'])}."
)

if policy is not None:
    st.info(
        f"Policy threshold of version {version}: {policy.threshold:.2f}, saved by "
        f"{policy.set_by} on {policy.set_at:%Y-%m-%d %H:%M} UTC (LGD {policy.costs.lgd:.0%}, "
        f"{EXPOSURES[policy.costs.exposure]}, margin {policy.costs.margin:.1%})."
    )
else:
    st.caption(f"Version {version} has no policy threshold: scoring uses 0.5.")

actor = current()
allowed = actor.may("set_policy")
if st.button(
    f"Save {best.threshold:.2f} as the policy threshold of version {version}",
    key="dec_save",
    type="primary",
    disabled=not allowed,
):
    try:
        save_policy(engine(), version, best.threshold, costs, actor=actor)
    except AccessDenied as exc:
        show_refusal(exc)
    except (DatabaseError, VersionError, ValueError) as exc:
        st.error(f"The policy threshold was not saved: {exc}")
    else:
        st.rerun()
if not allowed:
    st.caption(needs("set_policy"))
