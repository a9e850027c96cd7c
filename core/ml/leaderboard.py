"""Leaderboards of model versions: the models each version's job compared, and history."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Engine, select

from core.db.engine import connect
from core.db.schema import LeaderboardRow
from core.jobs.store import Job
from core.ml.params import MODELS
from core.ml.registry import VersionSummary
from core.vocabulary import COLUMNS, METRICS, best_first

ROWS = LeaderboardRow.__table__
BOARD_COLUMNS = ["Version", "Model", "Model ID", *COLUMNS, "Kept"]
RANK_BY = "AUC"
HISTORY_COLUMNS = ["Version", "Created", "Model", "Metric", "Score", "AUC", "Champion"]


def leaderboard(
    engine: Engine, versions: Sequence[VersionSummary], rank_by: str = RANK_BY
) -> pd.DataFrame:
    """Every model compared for each of `versions`, one row per version and model, best
    on `rank_by` first (highest, lowest for Brier and Log Loss; models without it last).

    `versions` are summaries as list_versions gives them, so the registry is not read
    again; the models compared come from the versions' training jobs in one query.
    Columns: Version, Model, Model ID, Accuracy, AUC, Recall, Prec., F1, Kappa, MCC,
    Brier, Log Loss, TT (Sec) and Kept (the model the version stores). A version saved
    outside a training job has one row: its own model and metrics.
    """
    if rank_by not in METRICS:
        raise ValueError(f"cannot rank by {rank_by!r}: choose one of {', '.join(METRICS)}")
    compared = _job_rows(engine, [v.job_id for v in versions if v.job_id])
    rows = [row for v in versions for row in _version_rows(v, compared.get(v.job_id, []))]
    return best_on(pd.DataFrame(rows, columns=BOARD_COLUMNS), rank_by)


def best_on(board: pd.DataFrame, metric: str) -> pd.DataFrame:
    """`board`'s rows best on `metric` first (highest, lowest for Brier and Log Loss), rows
    without it last, ties in their order: how every leaderboard view ranks."""
    ranked = board.sort_values(
        metric, ascending=not best_first(metric), na_position="last", kind="stable"
    )
    return ranked.reset_index(drop=True)


def _job_rows(engine: Engine, job_ids: list[str]) -> dict[str, list[dict]]:
    """The finished leaderboard rows of each job, in the order the job ran them."""
    if not job_ids:
        return {}
    with connect(engine) as connection:
        rows = connection.execute(
            select(ROWS)
            .where(ROWS.c.job_id.in_(job_ids), ROWS.c.state == "done")
            .order_by(ROWS.c.job_id, ROWS.c.position)
        ).mappings()
        compared: dict[str, list[dict]] = {}
        for row in rows:
            compared.setdefault(row["job_id"], []).append(
                {
                    "Model": row["model_name"],
                    "Model ID": row["model_id"],
                    **{name: row[column] for name, column in COLUMNS.items()},
                }
            )
    return compared


def _version_rows(info: VersionSummary, compared: list[dict]) -> list[dict]:
    """The models a version's job compared, else the version's own model and metrics."""
    if not compared:
        compared = [
            {
                "Model": info.model_name,
                "Model ID": info.model_id,
                **{name: info.metrics.get(name) for name in COLUMNS},
            }
        ]
    return [
        {"Version": info.version, **row, "Kept": row["Model ID"] == info.model_id}
        for row in compared
    ]


def version_history(versions: Sequence[VersionSummary]) -> pd.DataFrame:
    """One row per version, oldest first: its stored model, score on its metric, AUC.

    `versions` are newest first, as list_versions gives them.
    """
    rows = [
        {
            "Version": info.version,
            "Created": info.created_at,
            "Model": info.model_name or MODELS.get(info.model_id, info.model_id),
            "Metric": info.metric,
            "Score": info.score,
            "AUC": info.metrics.get("AUC"),
            "Champion": info.is_champion,
        }
        for info in reversed(versions)
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
