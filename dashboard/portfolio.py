"""The "Score the portfolio" section of the Score page: start a run of every client (or
those matching the explore filters) with the chosen version, follow its progress, read the
latest finished run's summary. Pure helpers first (tested without Streamlit), then the
section itself."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import jobs, portfolio
from core.auth import AccessDenied
from core.db.engine import DatabaseError
from core.explore.filters import Filters
from core.serving.decisions import EXPOSURES, Costs
from core.serving.policy import costs_for
from core.serving.reasons import texts_of
from dashboard.access import current, needs, verified
from dashboard.charts import portfolio as figures
from dashboard.components import engine, settings
from dashboard.filters import SAVED
from dashboard.formats import money

POLL_SECONDS = 1.0


def runs_table(runs: list[portfolio.Run]) -> pd.DataFrame:
    """The latest runs, one line each, as the section lists them."""
    return pd.DataFrame(
        {
            "Run": [run.id for run in runs],
            "State": [run.state for run in runs],
            "Version": [run.version + (" (champion)" if run.champion else "") for run in runs],
            "Clients": [run.filters_text for run in runs],
            "Scored": [f"{run.clients_done:,} of {run.clients_total:,}" for run in runs],
            "Expected loss": [
                money(run.summary["expected_loss"]) if run.summary else "" for run in runs
            ],
            "Started": [f"{run.submitted_at:%Y-%m-%d %H:%M} UTC" for run in runs],
            "Error": [run.error or "" for run in runs],
        }
    )


def decisions_table(summary: dict) -> pd.DataFrame:
    """Clients per decision, with their share."""
    total = summary["clients"] or 1
    return pd.DataFrame(
        {
            "Decision": ["Approve", "Decline"],
            "Clients": [summary["decisions"]["approve"], summary["decisions"]["decline"]],
            "Share": [
                f"{summary['decisions']['approve'] / total:.1%}",
                f"{summary['decisions']['decline'] / total:.1%}",
            ],
        }
    )


def changes_text(changes: dict | None) -> str:
    """The changes against the previous champion's run, in a sentence."""
    if changes is None:
        return (
            "No earlier run by another champion to compare with: once a new champion scores "
            "the portfolio, its changes against this one are shown."
        )
    return (
        f"Against run {changes['previous_run']} (version {changes['previous_version']}, "
        f"champion then), of {changes['compared']:,} clients in both: "
        f"**{changes['now_declined']:,} would now be declined** and "
        f"**{changes['now_approved']:,} would now be approved**."
    )


def changes_table(changes: dict, way: str) -> pd.DataFrame:
    """The listed clients whose decision changed `way` (now_declined or now_approved)."""
    rows = changes["listed"][way]
    return pd.DataFrame(
        {
            "Client": [row["client_id"] for row in rows],
            "Before": [f"{row['before']:.1%}" for row in rows],
            "Now": [f"{row['after']:.1%}" for row in rows],
            **({"Reasons": [reasons_text(row) for row in rows]} if way == "now_declined" else {}),
        }
    )


def top_reason_text(summary: dict) -> str | None:
    """The most common first reason of the declined clients, in a sentence (None when the
    run stored no reasons or declined nobody)."""
    first = (summary.get("reasons") or {}).get("first") or {}
    declined = summary["decisions"]["decline"]
    if not first or not declined:
        return None
    code = max(first, key=lambda found: (first[found], found))
    return (
        f"Declined clients' most common first reason: **{texts_of(code)[0]}** "
        f"({first[code]:,} of {declined:,}, {first[code] / declined:.0%})."
    )


def reasons_text(row: dict) -> str:
    """A listed client's reasons in words, "; "-separated ("—" when none were stored)."""
    return "; ".join(texts_of(row.get("reasons"))) or "—"


def section(version: str, threshold: float) -> None:
    """Draw the section for the version and threshold chosen at the top of the page."""
    st.caption(
        "Score every client in the database with the chosen model version as a background "
        "job; the results are stored per run: the distribution of probabilities, the "
        "expected loss (probability × loss given default × exposure), clients per "
        "decision, and who would now be declined or approved against the previous "
        "champion's run."
    )
    runner = jobs.runner_for(settings())
    start_form(runner, version, threshold)
    progress(runner)


def start_form(runner, version: str, threshold: float) -> None:
    filters: Filters = st.session_state.get(SAVED) or Filters()
    costs = policy_costs(version)
    left, right = st.columns(2)
    left.number_input(
        "Loss given default (share of the exposure lost when a client defaults)",
        min_value=0.0,
        max_value=1.0,
        value=costs.lgd,
        step=0.05,
        key="portfolio_lgd",
        help="Defaults to the costs the version's policy threshold was chosen under "
        "(Decisions page), else 45%.",
    )
    right.selectbox(
        "Exposure at default",
        list(EXPOSURES),
        index=list(EXPOSURES).index(costs.exposure),
        format_func=EXPOSURES.get,
        key="portfolio_exposure",
    )
    st.checkbox(
        f"Only the clients matching the explore filters ({filters.describe()})",
        value=False,
        disabled=filters.empty,
        key="portfolio_filtered",
        help="Set the filters on the Clients or Payments page.",
    )
    allowed = current().may("score")
    st.button(
        f"Score the portfolio with version {version} at threshold {threshold:.2f}",
        key="portfolio_start",
        type="primary",
        disabled=not allowed,
        on_click=start,
        args=(runner, version, threshold),
    )
    if not allowed:
        st.caption(needs("score"))
    if problem := st.session_state.pop("portfolio_problem", None):
        st.error(f"The run was not started: {problem}")


def policy_costs(version: str) -> Costs:
    """The costs the version's policy threshold was chosen under, else the defaults."""
    try:
        return costs_for(engine(), version)
    except DatabaseError:
        return Costs()


def start(runner, version: str, threshold: float) -> None:
    """The start button's callback; LGD and the filters are read as they are now (a value
    bound at the last rerun could be older than the one on screen)."""
    lgd = st.session_state.get("portfolio_lgd", portfolio.DEFAULT_LGD)
    exposure = st.session_state.get("portfolio_exposure")
    only = st.session_state.get("portfolio_filtered", False)
    filters = (st.session_state.get(SAVED) or Filters()) if only else Filters()
    try:
        run_id = portfolio.submit(
            engine(),
            runner,
            version=version,
            filters=filters,
            threshold=threshold,
            lgd=lgd,
            exposure=exposure,
            actor=verified(),
        )
        st.session_state["portfolio_run"] = run_id
    except (AccessDenied, DatabaseError, portfolio.PortfolioError, jobs.JobError) as exc:
        st.session_state["portfolio_problem"] = str(exc)


def progress(runner) -> None:
    try:
        runs = portfolio.list_runs(engine(), limit=10)
    except DatabaseError as exc:
        st.error(f"The runs cannot be read: {exc}")
        return
    active = any(run.active for run in runs)

    @st.fragment(run_every=POLL_SECONDS if active else None)
    def panel() -> None:
        try:
            jobs.tend(engine(), runner)  # a dead worker's training job or run ends
            portfolio.reap_stale(engine())
            latest = portfolio.list_runs(engine(), limit=10)
            finished = portfolio.finished_run(engine())
        except DatabaseError as exc:
            st.error(f"The runs cannot be read: {exc}")
            return
        for run in latest:
            if run.active:
                st.progress(
                    run.progress,
                    text=f"Run {run.id}: {run.state}, {run.clients_done:,} of "
                    f"{run.clients_total:,} clients scored",
                )
        if latest:
            st.subheader("Latest runs")
            st.dataframe(runs_table(latest), hide_index=True, key="portfolio_runs")
        if finished is not None:
            summary_view(finished)
        if active and not any(run.active for run in latest):
            st.rerun()

    panel()


def summary_view(run: portfolio.Run) -> None:
    summary = run.summary
    st.subheader(f"Run {run.id}: version {run.version}, {run.filters_text}")
    total, loss, declined = st.columns(3)
    total.metric("Clients scored", f"{summary['clients']:,}")
    loss.metric(
        "Expected loss",
        money(summary["expected_loss"]),
        help=f"LGD {run.lgd:.0%} of the {EXPOSURES[run.exposure]}",
    )
    declined.metric("Declined", f"{summary['decisions']['decline']:,}")
    st.plotly_chart(
        figures.distribution(summary["histogram"], run.threshold), key="portfolio_distribution"
    )
    if top := top_reason_text(summary):
        st.markdown(top)
    st.dataframe(
        decisions_table(summary),
        hide_index=True,
        key="portfolio_decisions",
        column_config={"Clients": st.column_config.NumberColumn(format="localized")},
    )
    reasons_view(summary)
    changes = summary["changes"]
    st.markdown(changes_text(changes))
    if changes:
        left, right = st.columns(2)
        left.caption("Now declined (largest changes first)")
        left.dataframe(changes_table(changes, "now_declined"), hide_index=True)
        right.caption("Now approved (largest changes first)")
        right.dataframe(changes_table(changes, "now_approved"), hide_index=True)


def reasons_view(summary: dict) -> None:
    """Why the run's declined clients are declined (runs before reasons were stored: say so)."""
    counted = summary.get("reasons")
    declined = summary["decisions"]["decline"]
    if counted is None:
        st.caption("This run was made before runs stored reasons: score again to see them.")
    elif declined:
        st.plotly_chart(figures.reasons(counted, declined), key="portfolio_reasons")
        st.caption(
            "Every declined client gets up to four reasons, the factors that pushed its "
            "score most towards default (sex, marital status and age are never reasons)."
        )
