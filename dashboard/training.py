"""How the Train page words a training job: its step, its times, and the job history table.
No Streamlit here, so it is tested directly."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from core.jobs import Job

MISSING = "—"
HISTORY_COLUMNS = [
    "State", "Version", "Folds", "Models", "Clients", "Took", "Best model", "Score",
    "Metric", "Submitted", "Started", "Why", "Job",
]  # fmt: skip


def when(moment: datetime | None) -> str:
    """A stored (UTC) time for people: "2 Dec 2026, 07:45 UTC"; MISSING when there is none."""
    if moment is None:
        return MISSING
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def duration(seconds: float | None) -> str:
    """A length of time in words: "9 seconds", "2 minutes 5 seconds", "1 hour 3 minutes"."""
    if seconds is None:
        return MISSING
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        parts = [(hours, "hour"), (minutes, "minute")]
    elif minutes:
        parts = [(minutes, "minute"), (secs, "second")]
    else:
        parts = [(secs, "second")]
    words = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n or len(parts) == 1]
    return " ".join(words)


def step(job: Job) -> str:
    """What the job does now, capitalised for a heading or a metric: "Preparing the data",
    "Training Naive Bayes"; MISSING once it has ended."""
    doing = job.now_doing
    return doing[0].upper() + doing[1:] if doing else MISSING


def state(job: Job) -> str:
    """The job's state, with its step while it is active: "running: preparing the data"."""
    return f"{job.state}: {job.now_doing}" if job.state == "running" else job.state


def took(job: Job) -> str:
    """How long the job ran, "so far" while it runs; MISSING before it started."""
    if job.seconds is None:
        return MISSING
    return duration(job.seconds) + (" so far" if job.active else "")


def history_table(jobs: list[Job]) -> pd.DataFrame:
    """One row per job for the Train page's history, newest first, all text for people:
    no "None", times without "+00:00", durations in words."""
    rows = [
        {
            "State": state(job),
            "Version": job.version,
            "Folds": str(job.folds),
            "Models": str(job.models_total),
            "Clients": MISSING if job.rows is None else f"{job.rows:,}",
            "Took": took(job),
            "Best model": job.best_model_name or MISSING,
            "Score": MISSING if job.best_score is None else f"{job.best_score:.4f}",
            "Metric": job.metric,
            "Submitted": when(job.submitted_at),
            "Started": when(job.started_at),
            "Why": job.error or job.note or MISSING,
            "Job": job.id[:8],
        }
        for job in jobs
    ]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def with_latest(history: list[Job], job: Job) -> list[Job]:
    """`history` with `job` in place of its row, so the table and the panel above it show
    the same reading of the job."""
    return [job if past.id == job.id else past for past in history]
