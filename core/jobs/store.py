"""Training jobs as rows: submit, cancel, read, and their state transitions.

A job is a row in `training_jobs` with one `leaderboard_rows` row per model. `submit`
writes it and hands its id to a runner (core.jobs.rq or core.jobs.local); either way the
work is core.jobs.runner.run_training(job_id).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from rq import Queue, Worker
from sqlalchemy import Engine, func, select, update

from core.cache import REDIS_ERRORS, MemoryStore, describe
from core.db.engine import connect
from core.db.schema import Client, LeaderboardRow, TrainingJob
from core.jobs.local import ensure_local_worker, local_worker_pid
from core.jobs.rq import QUEUE, enqueue
from core.ml.params import MODELS, TrainingError, TrainingParams, check_params
from core.ml.registry import format_version, next_version, version_exists
from core.vocabulary import COLUMNS

log = logging.getLogger(__name__)
ACTIVE = ("queued", "running")


# Workers beat every few seconds (core.jobs.runner); a job quiet this long lost its worker.
STALE_SECONDS = 15
JOBS = TrainingJob.__table__
ROWS = LeaderboardRow.__table__


class JobError(RuntimeError):
    """A job that cannot be queued or found; the message says why."""


@dataclass(frozen=True)
class BoardRow:
    """One model's line on a job's leaderboard."""

    job_id: str
    model_id: str
    model_name: str
    position: int
    state: str
    metrics: dict[str, float | None]
    worker: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    sd: dict | None = None


@dataclass(frozen=True)
class Job:
    """A training job as the pages and the CLI show it."""

    id: str
    state: str
    stage: str | None
    version: str
    folds: int
    models: list[str]
    metric: str
    sample_size: int | None
    fix_imbalance: bool
    seed: int
    rows: int | None
    models_done: int
    models_total: int
    current_model: str | None
    error: str | None
    note: str | None
    cancel_requested: bool
    heartbeat_at: datetime | None
    worker: str | None
    runner: str
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    best_model_id: str | None
    best_model_name: str | None
    best_score: float | None
    leaderboard: list[BoardRow] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def seconds(self) -> float | None:
        """Time spent running so far (or in all, once it ended)."""
        if self.started_at is None:
            return None
        end = self.finished_at or datetime.now(UTC)
        return max(0.0, (end - self.started_at).total_seconds())

    @property
    def training_now(self) -> list[str]:
        return [row.model_name for row in self.leaderboard if row.state == "running"]


def now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def submit(engine: Engine, params: Mapping[str, Any] | TrainingParams, redis_client=None) -> str:
    """Check `params`, write a queued job, hand it to a runner; return the job id.

    `params` are check_params' keywords (folds, version, models, metric, sample_size,
    fix_imbalance). With a redis.Redis client the job goes on the RQ queue "training" (one
    task per listening worker, up to one per model); with None or the in-process stand-in
    a local worker process is started if none runs. Raises TrainingError for bad input
    (nothing written) and JobError when the job could not be queued (it is marked failed).
    """
    checked = params if isinstance(params, TrainingParams) else check_params(**params)
    use_rq = _is_redis(redis_client)
    job_id = str(uuid.uuid4())
    with connect(engine, write=True) as connection:
        _check_against_database(connection, engine, checked)
        _insert_job(connection, job_id, checked, "rq" if use_rq else "local")
    try:
        if use_rq:
            enqueue(redis_client, job_id, len(checked.models))
        else:
            ensure_local_worker(engine)
    except REDIS_ERRORS as exc:
        message = f"the job could not be queued: {describe(redis_client)} is unavailable ({exc})"
        mark_failed(engine, job_id, message)
        raise JobError(message) from None
    except OSError as exc:
        message = f"the local worker process could not be started: {exc}"
        mark_failed(engine, job_id, message)
        raise JobError(message) from None
    return job_id


def suggest_version(engine: Engine) -> str:
    """One step (0.1) above every saved version and every version a job is training."""
    with connect(engine) as connection:
        training = connection.scalars(
            select(TrainingJob.version).where(TrainingJob.state.in_(ACTIVE))
        ).all()
    candidates = [Decimal(next_version(engine))]
    candidates += [Decimal(v) + Decimal("0.1") for v in training]
    return format_version(max(candidates))


def _is_redis(client) -> bool:
    return client is not None and not isinstance(client, MemoryStore)


def _check_against_database(connection, engine: Engine, params: TrainingParams) -> None:
    problems = []
    clients = connection.scalar(select(func.count()).select_from(Client))
    if not clients:
        problems.append(
            "the data set is empty: load clients first (Home page or `python -m core load`)"
        )
    elif params.sample_size and params.sample_size > clients:
        problems.append(
            f"sample size {params.sample_size:,} is larger than the {clients:,} clients loaded"
        )
    if version_exists(engine, params.version):
        problems.append(
            f"version {params.version} is already used; versions are immutable "
            f"(next unused: {next_version(engine)})"
        )
    else:
        taken = connection.scalar(
            select(TrainingJob.id).where(
                TrainingJob.version == params.version, TrainingJob.state.in_(ACTIVE)
            )
        )
        if taken:
            problems.append(
                f"version {params.version} is already being trained by job {taken[:8]}; "
                "pick another"
            )
    if problems:
        raise TrainingError(problems)


def _insert_job(connection, job_id: str, params: TrainingParams, runner: str) -> None:
    connection.execute(
        TrainingJob.__table__.insert().values(
            id=job_id,
            state="queued",
            **params.as_row(),
            models_done=0,
            models_total=len(params.models),
            cancel_requested=False,
            runner=runner,
            submitted_at=now(),
        )
    )
    connection.execute(
        LeaderboardRow.__table__.insert(),
        [
            dict(job_id=job_id, model_id=m, model_name=MODELS[m], position=i, state="pending")
            for i, m in enumerate(params.models)
        ],
    )


def cancel(engine: Engine, job_id: str) -> Job:
    """Cancel a queued job now, or ask a running one to stop after its current model."""
    with connect(engine, write=True) as connection:
        queued = connection.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id, TrainingJob.state == "queued")
            .values(state="cancelled", cancel_requested=True, finished_at=now())
        ).rowcount
        if queued:
            skip_pending(connection, job_id)
        else:
            connection.execute(
                update(TrainingJob)
                .where(TrainingJob.id == job_id, TrainingJob.state == "running")
                .values(cancel_requested=True)
            )
    return get_job(engine, job_id)


def get_job(engine: Engine, job_id: str, reap: bool = True) -> Job:
    """The job with its leaderboard; stale running jobs are failed first (see reap_stale)."""
    if reap:
        reap_stale(engine)
    with connect(engine) as connection:
        row = connection.execute(select(JOBS).where(JOBS.c.id == job_id)).mappings().first()
        if row is None:
            raise JobError(f"no training job {job_id}")
        board = _board(connection, job_id)
    return _job(row, board)


def list_jobs(engine: Engine, limit: int = 50) -> list[Job]:
    """The newest jobs first, without their leaderboards."""
    reap_stale(engine)
    with connect(engine) as connection:
        rows = connection.execute(
            select(JOBS).order_by(JOBS.c.submitted_at.desc()).limit(limit)
        ).mappings()
        return [_job(row, []) for row in rows]


def latest_active(engine: Engine) -> Job | None:
    """The most recently submitted job that is queued or running, if any."""
    reap_stale(engine)
    with connect(engine) as connection:
        job_id = connection.scalar(
            select(TrainingJob.id)
            .where(TrainingJob.state.in_(ACTIVE))
            .order_by(TrainingJob.submitted_at.desc())
            .limit(1)
        )
    return get_job(engine, job_id, reap=False) if job_id else None


def job_rows(engine: Engine, job_id: str) -> list[BoardRow]:
    with connect(engine) as connection:
        return _board(connection, job_id)


def _board(connection, job_id: str) -> list[BoardRow]:
    rows = connection.execute(
        select(ROWS).where(ROWS.c.job_id == job_id).order_by(ROWS.c.position)
    ).mappings()
    return [
        BoardRow(
            job_id=row["job_id"],
            model_id=row["model_id"],
            model_name=row["model_name"],
            position=row["position"],
            state=row["state"],
            metrics={name: row[column] for name, column in COLUMNS.items()},
            worker=row["worker"],
            started_at=_aware(row["started_at"]),
            finished_at=_aware(row["finished_at"]),
            error=row["error"],
            sd=row["sd"],
        )
        for row in rows
    ]


def _job(row: Mapping[str, Any], board: list[BoardRow]) -> Job:
    values = dict(row)
    for name in ("heartbeat_at", "submitted_at", "started_at", "finished_at"):
        values[name] = _aware(values[name])
    return Job(**values, leaderboard=board)


@dataclass(frozen=True)
class RunnerStatus:
    """Where jobs run and whether that works right now."""

    kind: str
    ok: bool
    text: str


def runner_status(engine: Engine, redis_client=None) -> RunnerStatus:
    """RQ workers listening (or Redis down), or the local worker process."""
    if _is_redis(redis_client):
        where = describe(redis_client)
        try:
            workers = Worker.count(queue=Queue(QUEUE, connection=redis_client))
        except REDIS_ERRORS as exc:
            return RunnerStatus(
                "rq", False, f"{where} is unavailable, so jobs cannot be queued: {exc}"
            )
        if not workers:
            return RunnerStatus(
                "rq",
                False,
                f"no RQ worker listens on queue '{QUEUE}' at {where}: jobs wait until one "
                "starts (`python -m core worker`)",
            )
        return RunnerStatus("rq", True, f"jobs run on {workers} RQ worker(s) via {where}")
    pid = local_worker_pid(engine)
    state = f"running (pid {pid})" if pid else "started by the first job"
    return RunnerStatus("local", True, f"jobs run in a local background worker process, {state}")


def refresh(engine: Engine) -> None:
    """Fail stale jobs, and start the local worker when local jobs wait without one."""
    reap_stale(engine)
    with connect(engine) as connection:
        waiting = connection.scalar(
            select(func.count())
            .select_from(TrainingJob)
            .where(TrainingJob.state == "queued", TrainingJob.runner == "local")
        )
    if waiting:
        ensure_local_worker(engine)


def mark_failed(engine: Engine, job_id: str, message: str) -> bool:
    """End a queued or running job as failed with `message`; False if it had ended."""
    with connect(engine, write=True) as connection:
        ended = connection.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id, TrainingJob.state.in_(ACTIVE))
            .values(
                state="failed",
                error=message,
                stage=None,
                current_model=None,
                finished_at=now(),
            )
        ).rowcount
        if ended:
            connection.execute(
                update(LeaderboardRow)
                .where(LeaderboardRow.job_id == job_id, LeaderboardRow.state == "running")
                .values(state="failed", error=message, finished_at=now())
            )
            skip_pending(connection, job_id)
    return bool(ended)


def skip_pending(connection, job_id: str) -> None:
    connection.execute(
        update(LeaderboardRow)
        .where(LeaderboardRow.job_id == job_id, LeaderboardRow.state == "pending")
        .values(state="skipped")
    )


def reap_stale(engine: Engine, stale_after: float = STALE_SECONDS) -> list[str]:
    """Fail running jobs whose worker stopped sending heartbeats; returns their ids.

    A worker beats every HEARTBEAT_SECONDS for its job and for the model it trains; a
    job with no beat for `stale_after` seconds, or with a model whose worker went quiet,
    lost its worker (killed, crashed, or cut off from the database).
    """
    cutoff = now() - timedelta(seconds=stale_after)
    with connect(engine) as connection:
        quiet_jobs = connection.execute(
            select(TrainingJob.id, TrainingJob.worker, TrainingJob.heartbeat_at).where(
                TrainingJob.state == "running", TrainingJob.heartbeat_at < cutoff
            )
        ).all()
        quiet_rows = connection.execute(
            select(LeaderboardRow.job_id, LeaderboardRow.worker, LeaderboardRow.heartbeat_at)
            .join(TrainingJob, TrainingJob.id == LeaderboardRow.job_id)
            .where(
                TrainingJob.state == "running",
                LeaderboardRow.state == "running",
                LeaderboardRow.heartbeat_at < cutoff,
            )
        ).all()
    reaped = []
    for job_id, worker, beat in [*quiet_jobs, *quiet_rows]:
        message = (
            f"worker {worker} stopped sending heartbeats at {_aware(beat):%H:%M:%S} UTC: "
            "it was killed, crashed or lost the database; nothing was saved"
        )
        if mark_failed(engine, job_id, message):
            log.warning("job %s failed: %s", job_id, message)
            reaped.append(job_id)
    return reaped
