"""Leaderboards of model versions: the models each version's job compared, and history."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from core.db.engine import connect
from core.db.schema import LeaderboardRow
from core.jobs.store import Job
from core.ml.params import MODELS
from core.ml.registry import VersionInfo, format_version, list_versions
from core.vocabulary import COLUMNS

ROWS = LeaderboardRow.__table__
BOARD_COLUMNS = ["Version", "Model", "Model ID", *COLUMNS, "Kept"]
HISTORY_COLUMNS = ["Version", "Created", "Model", "Metric", "Score", "AUC", "Champion"]
HISTORY_TABLE = [
    "State", "Version", "Folds", "Models", "Rows", "Duration (s)", "Best model", "Score",
    "Metric", "Submitted", "Started", "Why", "Job",
]  # fmt: skip


def leaderboard(engine: Engine, versions: list[str]) -> pd.DataFrame:
    """Every model compared for each of `versions`, one row per version and model.

    Columns: Version, Model, Model ID, Accuracy, AUC, Recall, Prec., F1, Kappa, MCC,
    TT (Sec) and Kept (the model the version stores). A version saved outside a training
    job has one row: its own model and metrics.
    """
    wanted = [format_version(v) for v in versions]
    infos = {info.version: info for info in list_versions(engine) if info.version in wanted}
    frames = [_version_rows(engine, infos[v]) for v in wanted if v in infos]
    if not frames:
        return pd.DataFrame(columns=BOARD_COLUMNS)
    return pd.concat(frames, ignore_index=True)[BOARD_COLUMNS]


def _version_rows(engine: Engine, info: VersionInfo) -> pd.DataFrame:
    rows = []
    if info.job_id:
        with connect(engine) as connection:
            rows = connection.execute(
                select(ROWS)
                .where(ROWS.c.job_id == info.job_id, ROWS.c.state == "done")
                .order_by(ROWS.c.position)
            ).mappings()
            rows = [
                {
                    "Model": row["model_name"],
                    "Model ID": row["model_id"],
                    **{name: row[column] for name, column in COLUMNS.items()},
                }
                for row in rows
            ]
    if not rows:
        rows = [
            {
                "Model": info.model_name,
                "Model ID": info.model_id,
                **{name: info.metrics.get(name) for name in COLUMNS},
            }
        ]
    frame = pd.DataFrame(rows)
    frame.insert(0, "Version", info.version)
    frame["Kept"] = frame["Model ID"] == info.model_id
    return frame


def version_history(engine: Engine) -> pd.DataFrame:
    """One row per version, oldest first: its stored model, score on its metric, AUC."""
    rows = [
        {
            "Version": info.version,
            "Created": info.created_at,
            "Model": info.model_name or MODELS.get(info.model_id, info.model_id),
            "Metric": info.metric,
            "Score": info.metrics.get(info.metric),
            "AUC": info.metrics.get("AUC"),
            "Champion": info.is_champion,
        }
        for info in reversed(list_versions(engine))
    ]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def job_board(job: Job) -> pd.DataFrame:
    """A job's leaderboard so far in the board columns, plus each model's State."""
    rows = [
        {
            "Version": job.version,
            "Model": row.model_name,
            "Model ID": row.model_id,
            **row.metrics,
            "Kept": row.model_id == job.best_model_id,
            "State": row.state,
        }
        for row in job.leaderboard
    ]
    return pd.DataFrame(rows, columns=[*BOARD_COLUMNS, "State"])


def job_history(jobs: list[Job]) -> pd.DataFrame:
    """One row per job for the history table, newest first."""
    rows = [
        {
            "State": job.state,
            "Version": job.version,
            "Folds": job.folds,
            "Models": job.models_total,
            "Rows": job.rows,
            "Duration (s)": None if job.seconds is None else round(job.seconds),
            "Best model": job.best_model_name,
            "Score": job.best_score,
            "Metric": job.metric,
            "Submitted": job.submitted_at,
            "Started": job.started_at,
            "Why": job.error or job.note,
            "Job": job.id[:8],
        }
        for job in jobs
    ]
    return pd.DataFrame(rows, columns=HISTORY_TABLE)
