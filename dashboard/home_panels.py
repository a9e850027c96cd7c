"""Home's panels for analysts: the portfolio, the champion, the latest training job, score
stability and the latest portfolio run, each with a link to act on it.

The `*_lines` functions are plain text from core's values, tested without Streamlit.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.auth import Actor
from core.jobs.store import Job
from core.overview import ChampionCard, Portfolio, PortfolioRuns
from core.portfolio import Run
from core.serving.stability import MIN_SCORES, Index
from dashboard import formats
from dashboard.access import PAGES
from dashboard.portfolio import changes_text, top_reason_text

PAGE_FILES = Path(__file__).resolve().parent.parent / "pages"


def link(actor: Actor, file: str, label: str, icon: str) -> None:
    """A link to the page in `file` when the actor may open it; nothing otherwise."""
    spec = next(spec for spec in PAGES if spec.file == file)
    if not actor.may(spec.action):
        return
    try:
        st.page_link(PAGE_FILES / file, label=label, icon=icon)
    except (StreamlitAPIException, KeyError):
        st.caption(f"{label}: the {spec.title} page, under {spec.section} in the menu.")


def portfolio_panel(figures: Portfolio, actor: Actor) -> None:
    """Clients, default rate, average limit and the share late in the latest month."""
    clients, rate, limit, late = st.columns(4)
    clients.metric("Clients", formats.count(figures.clients))
    rate.metric("Default rate", formats.percent(figures.default_rate))
    limit.metric("Average credit limit", formats.money(figures.average_limit))
    late.metric(f"Late in {figures.month}", formats.percent(figures.late_last_month))
    st.caption(
        "Default rate: clients who defaulted the month after the data ends. Late: clients "
        f"one month or more behind on their payment in {figures.month}, the latest month."
    )
    left, right = st.columns(2)
    with left:
        link(actor, "clients.py", "Explore the clients", ":material/group:")
    with right:
        link(actor, "payments.py", "See the payment history", ":material/payments:")


def champion_lines(card: ChampionCard) -> list[str]:
    """What the champion panel says, one Markdown line each."""
    role = "Champion" if card.champion else "Newest version (no champion chosen)"
    auc = "n/a" if card.auc is None else f"{card.auc:.3f}"
    calibration = (
        formats.marked(card.calibration)
        if card.calibration in ("calibrated", "miscalibrated")
        else "not computed for this version"
    )
    return [
        f"**{role}: version {card.version}**, {card.model_name}",
        f"AUC {auc} ({card.auc_source})",
        f"Calibration: {calibration}",
        f"Policy threshold: **{card.threshold:.2f}**, {card.threshold_note}",
    ]


def champion_panel(card: ChampionCard | None, actor: Actor) -> None:
    st.markdown("#### Model")
    if card is None:
        st.info("No model has been trained yet.")
        link(actor, "train.py", "Train a model", ":material/model_training:")
        return
    for line in champion_lines(card):
        st.markdown(line)
    if card.calibration_warning:
        st.warning(card.calibration_warning)
    link(
        actor, "leaderboards.py", "Compare versions, choose the champion", ":material/leaderboard:"
    )


def job_lines(job: Job) -> list[str]:
    """What the training panel says about the latest job."""
    lines = [f"**{formats.marked(job.state)}**: version {job.version}"]
    if job.state == "queued":
        lines.append(f"submitted {formats.timestamp(job.submitted_at)}")
    elif job.state == "running":
        done = f"{job.models_done} of {job.models_total} models"
        lines.append(f"{job.stage or 'running'}, {done}, since {formats.timestamp(job.started_at)}")
    else:
        lines.append(f"ended {formats.timestamp(job.finished_at or job.submitted_at)}")
    if job.state == "succeeded" and job.best_model_name:
        score = "" if job.best_score is None else f" ({job.metric} {job.best_score:.3f})"
        lines.append(f"best: {job.best_model_name}{score}")
    if job.state == "failed" and job.error:
        lines.append(f"why: {job.error}")
    return lines


def job_panel(job: Job | None, actor: Actor) -> None:
    st.markdown("#### Latest training")
    if job is None:
        st.markdown("No training job yet.")
    else:
        for line in job_lines(job):
            st.markdown(line)
    link(actor, "train.py", "Train or follow a job", ":material/model_training:")


def stability_lines(index: Index | None, version: str) -> list[str]:
    """What the stability panel says about the champion's recent scores."""
    if index is None:
        return [
            f"Version {version} stored no holdout scores, so its stability cannot be "
            "computed; train it again to have it."
        ]
    if index.value is None:
        return [
            f"**{formats.marked(index.verdict)}**: {index.scores:,} recent scores of version "
            f"{version}; {MIN_SCORES} or more are needed."
        ]
    return [
        f"**{formats.marked(index.verdict)}**: score PSI {index.value:.3f}",
        f"the newest {index.scores:,} scores of version {version} against its development "
        "holdout (under 0.10 stable, 0.10-0.25 watch, above 0.25 act: rules of thumb)",
    ]


def stability_panel(index: Index | None, card: ChampionCard | None, actor: Actor) -> None:
    st.markdown("#### Score stability")
    if card is None:
        st.markdown("Nothing scored yet: no model.")
        return
    for line in stability_lines(index, card.version):
        st.markdown(line)
    link(actor, "score.py", "Score clients, watch the Monitoring tab", ":material/speed:")


def run_state_lines(run: Run) -> list[str]:
    """What the portfolio panel says about a run that has not finished (queued, running
    or failed)."""
    lines = [f"**{formats.marked(run.state)}**: run {run.id}, version {run.version}"]
    if run.state == "queued":
        submitted = formats.timestamp(run.submitted_at)
        lines.append(f"{run.clients_total:,} clients, submitted {submitted}")
    elif run.state == "running":
        lines.append(
            f"{run.clients_done:,} of {run.clients_total:,} clients scored "
            f"({run.progress:.0%}), since {formats.timestamp(run.started_at)}"
        )
    else:
        lines.append(f"ended {formats.timestamp(run.finished_at or run.submitted_at)}")
        if run.error:
            lines.append(f"why: {run.error}")
    return lines


def finished_run_lines(run: Run) -> list[str]:
    """Which finished run the figures are of, and what changed against the previous
    champion's run."""
    role = " (champion)" if run.champion else ""
    return [
        f"**Run {run.id}: version {run.version}{role}**, {run.filters_text}, ended "
        f"{formats.timestamp(run.finished_at)}, at threshold {run.threshold:.2f}",
        *filter(None, [top_reason_text(run.summary)]),
        changes_text(run.summary["changes"]),
    ]


def portfolio_run_panel(runs: PortfolioRuns, actor: Actor) -> None:
    """The latest portfolio run: its figures once finished, its progress while it runs,
    why it failed; or that there is none yet."""
    st.markdown("#### Latest portfolio run")
    if runs.latest is None:
        st.markdown("No portfolio run yet: nobody has scored the whole portfolio.")
    elif runs.latest.state != "finished":
        for line in run_state_lines(runs.latest):
            st.markdown(line)
        if runs.latest.active:
            st.progress(runs.latest.progress, text=f"Run {runs.latest.id}")
    if runs.finished is not None:
        if runs.finished is not runs.latest:
            st.caption("The latest finished run:")
        finished_run_figures(runs.finished)
    link(
        actor,
        "score.py",
        "Score the whole portfolio (Score page, its last tab)",
        ":material/bar_chart:",
    )


def finished_run_figures(run: Run) -> None:
    summary = run.summary
    lines = finished_run_lines(run)
    st.markdown(lines[0])
    clients, loss, declined = st.columns(3)
    clients.metric("Clients scored", f"{summary['clients']:,}")
    loss.metric("Expected loss", formats.money(summary["expected_loss"]), help=f"LGD {run.lgd:.0%}")
    declined.metric("Clients declined", f"{summary['decisions']['decline']:,}")
    for line in lines[1:]:
        st.markdown(line)
