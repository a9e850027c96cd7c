"""Portfolio runs as rows: submit one, read them, fail the ones whose workers died.

A run is a row in `portfolio_runs` and one `portfolio_scores` row per client scored. Its
results are read only once it is finished (`finished_run`, `run_scores`): the scores of a
run still running or failed are never shown, and a failed run's scores are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete, func, select, update

from core.auth import audit
from core.auth.access import SYSTEM, Actor, require
from core.clock import aware, now, seconds_between
from core.db.engine import connect
from core.db.schema import Client, ModelVersion, PortfolioRun, PortfolioScore
from core.explore.filters import Filters, from_query
from core.jobs.heartbeat import fail_quiet
from core.jobs.store import STALE_SECONDS, JobError
from core.ml.registry import VersionError, default_version, format_version
from core.serving.decisions import EXPOSURES
from core.serving.policy import costs_for, threshold_for
from core.serving.scoring import NoModelError

RUNS = PortfolioRun.__table__
SCORES = PortfolioScore.__table__
ACTIVE = ("queued", "running")
# A part (one worker's id range) holds at least this many clients.
MIN_PART_CLIENTS = 500


class PortfolioError(ValueError):
    """A run that cannot be started or read; the message says why."""


@dataclass(frozen=True)
class Run:
    """A portfolio run as pages, the API and the CLI show it."""

    id: int
    state: str
    version: str
    champion: bool
    threshold: float
    lgd: float
    exposure: str
    filters: dict[str, str]
    parts: list[list[int]]
    parts_done: int
    clients_total: int
    clients_done: int
    runner: str
    submitted_by: str
    worker: str | None
    heartbeat_at: datetime | None
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    summary: dict[str, Any] | None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def progress(self) -> float:
        """Share of the clients scored so far, 0..1."""
        return min(1.0, self.clients_done / self.clients_total) if self.clients_total else 1.0

    @property
    def filters_text(self) -> str:
        """Which clients, in words ("all clients" without filters)."""
        return from_query(self.filters)[0].describe()

    @property
    def seconds(self) -> float | None:
        """Time spent running so far (or in all, once it ended)."""
        return seconds_between(self.started_at, self.finished_at)


def check_inputs(threshold: float | None, lgd: float | None, exposure: str | None = None) -> None:
    """PortfolioError naming the input unless the threshold and the LGD are in 0..1 and the
    exposure basis is known (None: not given, the version's policy decides)."""
    problems = []
    if threshold is not None and not 0 <= threshold <= 1:
        problems.append(f"threshold {threshold} is outside 0..1")
    if lgd is not None and not 0 <= lgd <= 1:
        problems.append(f"loss given default (lgd) {lgd} is outside 0..1 (a share: 0.45 is 45%)")
    if exposure is not None and exposure not in EXPOSURES:
        problems.append(f"exposure {exposure!r} is not one of {', '.join(EXPOSURES)}")
    if problems:
        raise PortfolioError("; ".join(problems))


def submit(
    engine: Engine,
    runner,
    *,
    version: str | None = None,
    filters: Filters | None = None,
    threshold: float | None = None,
    lgd: float | None = None,
    exposure: str | None = None,
    actor: Actor = SYSTEM,
) -> int:
    """Queue a scoring of every client matching `filters` (all by default) with `version`
    (default: the champion, else the newest); returns the run id.

    Expected loss per client is probability x `lgd` x exposure (`exposure`: "limit", the
    credit limit, or "bill", the latest bill); a client is declined when the probability
    reaches `threshold`. What is not given comes from the version's policy threshold and the
    costs it was chosen under (core.serving.policy), else the defaults (0.5, 45%, limit).
    The clients are split into one id range per worker `runner` has
    (runner.workers(engine); the local runner has one), each handed to the runner as its
    own task. AccessDenied when `actor` may not score; PortfolioError for
    bad inputs, an unknown version or no matching client (nothing is written). Raises
    JobError when the runner could not take the run (it is marked failed).
    """
    require(actor, "score")
    check_inputs(threshold, lgd, exposure)
    filters = filters or Filters()
    try:
        version = _version(engine, version)
    except (VersionError, NoModelError) as exc:
        raise PortfolioError(str(exc)) from None
    threshold = threshold_for(engine, version, threshold).value
    costs = costs_for(engine, version)
    lgd = costs.lgd if lgd is None else lgd
    exposure = costs.exposure if exposure is None else exposure
    where = filters.where(Client.__table__)
    with connect(engine, write=True) as connection:
        total = connection.scalar(select(func.count()).select_from(Client).where(where))
        if not total:
            raise PortfolioError(f"no client matches the filters ({filters.describe()})")
        parts = _parts(connection, where, total, runner.workers(engine))
        champion = connection.scalar(
            select(ModelVersion.is_champion).where(ModelVersion.version == version)
        )
        run_id = connection.execute(
            RUNS.insert().values(
                state="queued",
                version=version,
                champion=bool(champion),
                threshold=threshold,
                lgd=lgd,
                exposure=exposure,
                filters=filters.to_query(),
                parts=parts,
                parts_done=0,
                clients_total=total,
                clients_done=0,
                runner=runner.kind,
                submitted_by=actor.name[:100],
                submitted_at=now(),
            )
        ).inserted_primary_key[0]
        audit.record(
            connection,
            actor,
            "portfolio_scored",
            f"run {run_id}: {total:,} clients ({filters.describe()}) with version {version}",
        )
    try:
        runner.hand_over_parts(engine, run_id, len(parts))
    except JobError as exc:
        mark_failed(engine, run_id, str(exc))
        raise
    return run_id


def _version(engine: Engine, version: str | None) -> str:
    if version is None:
        found = default_version(engine)
        if found is None:
            raise NoModelError("no model has been trained yet; train one on the Train page")
        return found
    version = format_version(version)
    with connect(engine) as connection:
        if connection.scalar(select(ModelVersion.version).where(ModelVersion.version == version)):
            return version
    raise VersionError(f"no model version {version}")


def _parts(connection, where, total: int, workers: int) -> list[list[int]]:
    """[low id, high id] ranges of about equal numbers of matching clients, one per worker
    (each at least MIN_PART_CLIENTS, so a small portfolio is one part)."""
    count = max(1, min(workers, total // MIN_PART_CLIENTS))
    ids = select(Client.id).where(where).order_by(Client.id)
    starts = [
        connection.scalar(ids.offset(total * part // count).limit(1)) for part in range(count)
    ]
    last = connection.scalar(select(func.max(Client.id)).where(where))
    ends = [start - 1 for start in starts[1:]] + [last]
    return [[int(low), int(high)] for low, high in zip(starts, ends, strict=True)]


def get_run(engine: Engine, run_id: int) -> Run:
    """The run as stored, in whatever state (reading never reaps: see reap_stale)."""
    with connect(engine) as connection:
        row = connection.execute(select(RUNS).where(RUNS.c.id == run_id)).mappings().first()
    if row is None:
        raise PortfolioError(f"no portfolio run {run_id}")
    return _run(row)


def list_runs(engine: Engine, limit: int = 20) -> list[Run]:
    """The newest runs first, in every state (a running one shows its progress)."""
    with connect(engine) as connection:
        rows = connection.execute(select(RUNS).order_by(RUNS.c.id.desc()).limit(limit)).mappings()
        return [_run(row) for row in rows]


def finished_run(engine: Engine, run_id: int | None = None) -> Run | None:
    """Run `run_id` if it finished, else None; without `run_id`, the latest finished run."""
    query = select(RUNS).where(RUNS.c.state == "finished")
    query = query.where(RUNS.c.id == run_id) if run_id else query.order_by(RUNS.c.id.desc())
    with connect(engine) as connection:
        row = connection.execute(query.limit(1)).mappings().first()
    return _run(row) if row else None


def run_scores(engine: Engine, run_id: int) -> pd.DataFrame:
    """Every client of a finished run: client_id, probability, label, expected_loss and the
    codes of a declined client's reasons, comma-separated ("" for the approved; id order).
    PortfolioError for a run that is not finished: its scores are not results."""
    if finished_run(engine, run_id) is None:
        raise PortfolioError(f"portfolio run {run_id} has not finished; it has no results")
    query = (
        select(
            SCORES.c.client_id,
            SCORES.c.probability,
            SCORES.c.label,
            SCORES.c.expected_loss,
            SCORES.c.reasons,
        )
        .where(SCORES.c.run_id == run_id)
        .order_by(SCORES.c.client_id)
    )
    with connect(engine, long=True) as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame.from_records(
        rows, columns=["client_id", "probability", "label", "expected_loss", "reasons"]
    )
    frame["reasons"] = frame["reasons"].fillna("")
    return frame


def _run(row) -> Run:
    values = dict(row)
    for name in ("heartbeat_at", "submitted_at", "started_at", "finished_at"):
        values[name] = aware(values[name])
    return Run(**values)


def mark_failed(engine: Engine, run_id: int, message: str) -> bool:
    """End a queued or running run as failed and delete its scores, in one transaction;
    False if it had ended."""
    with connect(engine, write=True) as connection:
        ended = connection.execute(
            update(PortfolioRun)
            .where(PortfolioRun.id == run_id, PortfolioRun.state.in_(ACTIVE))
            .values(state="failed", error=message, finished_at=now())
        ).rowcount
        if ended:
            connection.execute(delete(PortfolioScore).where(PortfolioScore.run_id == run_id))
    return bool(ended)


def reap_stale(engine: Engine, stale_after: float = STALE_SECONDS) -> list[int]:
    """Fail running runs whose workers stopped beating (killed, crashed or cut off) and
    delete the scores they wrote; returns their ids."""
    cutoff = now() - timedelta(seconds=stale_after)
    with connect(engine) as connection:
        quiet = connection.execute(
            select(PortfolioRun.id, PortfolioRun.worker, PortfolioRun.heartbeat_at).where(
                PortfolioRun.state == "running", PortfolioRun.heartbeat_at < cutoff
            )
        ).all()
    lost = "no score of this run was kept"
    return fail_quiet(engine, quiet, mark_failed, what="portfolio run", lost=lost)
