"""The prediction log: every scoring written as rows, read back for monitoring."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from core.db.bulk import write_rows
from core.db.engine import DatabaseError, connect
from core.db.schema import Prediction
from core.serving.retention import purge_when_due
from core.settings import SettingsError
from core.vocabulary import FEATURES

log = logging.getLogger(__name__)

SOURCES = ("form", "batch", "cli", "api")
COLUMNS = ["created_at", "version", "inputs", "probability", "label", "threshold", "source"]


def log_scores(
    engine: Engine,
    *,
    version: str,
    features: pd.DataFrame,
    probabilities: np.ndarray,
    threshold: float,
    source: str,
) -> int:
    """Write one row per scored client, all in one transaction; return how many.

    `features` holds the canonical FEATURES columns (validated integers), in the order of
    `probabilities`. The rows go through the shared bulk writer (COPY on Postgres). Rows
    older than PREDICTION_RETENTION_DAYS are then purged when due (once an hour).
    """
    if source not in SOURCES:
        raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    if len(features) != len(probabilities):
        raise ValueError(f"{len(features)} clients but {len(probabilities)} probabilities")
    if not len(features):
        return 0
    rows = _rows(version, features, np.asarray(probabilities, dtype=float), threshold, source)
    # A scored file of a million clients is one COPY: it gets the long statement timeout.
    with connect(engine, write=True, long=True) as connection:
        write_rows(connection, "predictions", rows)
    _purge_old_rows(engine)
    return len(rows)


def _purge_old_rows(engine: Engine) -> None:
    """The rows beyond the retention go at most once an hour (core.serving.retention); a
    failing purge never fails the scores just written."""
    try:
        purge_when_due(engine)
    except (DatabaseError, SettingsError) as exc:
        log.warning("prediction log: rows beyond the retention were not purged: %s", exc)


def _rows(version, features, probabilities, threshold, source) -> pd.DataFrame:
    # pandas writes the inputs as JSON in C, much faster than json.dumps per row.
    inputs = features[FEATURES].astype(np.int64).to_json(orient="records", lines=True)
    return pd.DataFrame(
        {
            "created_at": datetime.now(UTC),
            "version": version,
            "inputs": inputs.splitlines(),
            "probability": probabilities,
            "label": (probabilities >= threshold).astype(np.int16),
            "threshold": float(threshold),
            "source": source,
        }
    )[COLUMNS]


def recent_scores(engine: Engine, version: str | None = None, limit: int = 5_000) -> pd.DataFrame:
    """The newest `limit` logged scores (of `version`, or all), oldest first.

    Columns: id, created_at, version, probability, label, threshold, source and the 23
    input features.
    """
    table = Prediction.__table__
    query = select(table).order_by(table.c.id.desc()).limit(limit)
    if version is not None:
        query = query.where(table.c.version == version)
    with connect(engine) as connection:
        rows = connection.execute(query).mappings().all()
    columns = ["id", *[c for c in COLUMNS if c != "inputs"]]
    log = pd.DataFrame([{c: row[c] for c in columns} for row in rows], columns=columns)
    inputs = pd.DataFrame.from_records([row["inputs"] for row in rows], columns=FEATURES)
    return pd.concat([log, inputs], axis=1).iloc[::-1].reset_index(drop=True)
