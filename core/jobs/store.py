"""Training jobs as rows: submit, cancel, read, and their state transitions.

A job is a row in `training_jobs` with one `leaderboard_rows` row per model. `submit`
writes it and hands its id to a runner (core.jobs.rq or core.jobs.local); either way the
work is core.jobs.runner.run_training(job_id).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from core.auth import audit
from core.auth.access import SYSTEM, Actor, require
from core.clock import aware, now, seconds_between
from core.db.engine import SQLITE_LOCK_SECONDS, connect
from core.db.schema import Dataset, LeaderboardRow, ModelVersion, TrainingJob
from core.jobs.heartbeat import fail_quiet
from core.ml.params import MODELS, TrainingError, TrainingParams, check_params
from core.ml.registry import format_version, next_unused, version_used
from core.vocabulary import COLUMNS

ACTIVE = ("queued", "running")

# A worker stamps its job every HEARTBEAT_SECONDS (core.jobs.runner); a job quiet for
# STALE_SECONDS lost its worker. A stamp can wait SQLITE_LOCK_SECONDS for a long write (a
# load) to end, so STALE_SECONDS exceeds that wait plus one beat: a load cannot fail a live
# job. Workers reap every REAP_SECONDS, so a dead worker's job fails within
# HEARTBEAT_SECONDS + STALE_SECONDS + REAP_SECONDS (26 s).
HEARTBEAT_SECONDS = 3
STALE_SECONDS = 18
REAP_SECONDS = 5
assert STALE_SECONDS > SQLITE_LOCK_SECONDS + HEARTBEAT_SECONDS
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
    calibrate: str = "none"
    leave_out_protected: bool = False
    leaderboard: list[BoardRow] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def seconds(self) -> float | None:
        """Time spent running so far (or in all, once it ended)."""
        return seconds_between(self.started_at, self.finished_at)

    @property
    def training_now(self) -> list[str]:
        return [row.model_name for row in self.leaderboard if row.state == "running"]

    @property
    def now_doing(self) -> str | None:
        """The job's current step in words, from its stage (None once it has ended).

        A model is named only once the data is prepared: a worker claims its first model
        before PyCaret's setup, which takes most of a short job."""
        if self.state == "queued":
            return "waiting for a worker"
        if not self.active:
            return None
        if self.stage == "preparing":
            return "preparing the data"
        if self.stage == "finalizing":
            model = (self.current_model or "").removesuffix(" (finalizing)")
            return f"finalizing {model}" if model else "finalizing the best model"
        models = ", ".join(self.training_now) or self.current_model
        return f"training {models}" if models else "training"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def submit(
    engine: Engine,
    params: Mapping[str, Any] | TrainingParams,
    runner,
    *,
    actor: Actor = SYSTEM,
) -> str:
    """Check `params`, write a queued job, hand it to `runner`; return the job id.

    `params` are check_params' keywords (folds, version, models, metric, sample_size,
    fix_imbalance, calibrate, leave_out_protected). `runner` is core.jobs.rq.RqRunner or
    core.jobs.local.LocalRunner (see core.jobs.runners.runner_for). Raises TrainingError
    for bad input (nothing written), also for a version that is saved or claimed by a
    queued or running job: the claim is atomic, so of several submissions of one version
    at the same moment exactly one is accepted. AccessDenied when `actor` may not train
    (core.auth); the job is audited in `actor`'s name. Raises JobError when the runner
    could not take the job (it is marked failed, which frees its version).
    """
    require(actor, "train")
    checked = params if isinstance(params, TrainingParams) else check_params(**params)
    job_id = str(uuid.uuid4())
    try:
        with connect(engine, write=True) as connection:
            found = _database_problems(connection, engine, checked)
            if found:
                raise TrainingError(found)
            _claim_version(connection, job_id, checked, runner.kind)
            audit.record(
                connection, actor, "training_submitted", f"version {checked.version}, job {job_id}"
            )
    except _VersionTaken:
        raise TrainingError(_taken_problems(engine, checked.version)) from None
    try:
        runner.hand_over(engine, job_id, len(checked.models))
    except JobError as exc:
        mark_failed(engine, job_id, str(exc))
        raise
    return job_id


def problems(engine: Engine, params: Mapping[str, Any]) -> list[str]:
    """What `submit` would refuse in `params`, one line each; empty when it would queue.

    The same checks `submit` raises on (check_params, then the data set and the version
    against the database), for a page to show before anything is submitted.
    """
    try:
        checked, found = check_params(**params), []
    except TrainingError as exc:
        checked, found = None, list(exc.problems)
    with connect(engine) as connection:
        if checked is not None:
            return _database_problems(connection, engine, checked)
        if "version" in params and not any(p.startswith("version ") for p in found):
            found += _version_problems(connection, engine, format_version(params["version"]))
    return found


def suggest_version(engine: Engine) -> str:
    """The version to offer: one step (0.1) above every saved version and every version a
    job is training (1.0 at least while none is saved). The CLI's default and the Train
    page's suggestion."""
    with connect(engine) as connection:
        return _suggestion(connection)


def _suggestion(connection) -> str:
    training = connection.scalars(
        select(TrainingJob.version).where(TrainingJob.state.in_(ACTIVE))
    ).all()
    candidates = [Decimal(next_unused(connection))]
    candidates += [Decimal(v) + Decimal("0.1") for v in training]
    return format_version(max(candidates))


def _database_problems(connection, engine: Engine, params: TrainingParams) -> list[str]:
    found = []
    # The count the last load recorded: counting the clients table takes a scan.
    clients = connection.scalar(select(Dataset.clients).where(Dataset.id == 1)) or 0
    if not clients:
        found.append(
            "the data set is empty: load clients first (Home page or `python -m core load`)"
        )
    elif params.sample_size and params.sample_size > clients:
        found.append(
            f"sample size {params.sample_size:,} is larger than the {clients:,} clients loaded"
        )
    return found + _version_problems(connection, engine, params.version)


def _version_problems(connection, engine: Engine, version: str) -> list[str]:
    if version_used(connection, version):
        return [
            f"version {version} is already used; versions are immutable "
            f"(next unused: {_suggestion(connection)})"
        ]
    taken = connection.scalar(
        select(TrainingJob.id).where(TrainingJob.version == version, TrainingJob.state.in_(ACTIVE))
    )
    if taken:
        return [f"version {version} is already being trained by job {taken[:8]}; pick another"]
    return []


class _VersionTaken(Exception):
    """Another job claimed the version, or saved it, between the check and the insert."""


def _claim_version(connection, job_id: str, params: TrainingParams, runner: str) -> None:
    """Insert the job: the unique index on active jobs' versions lets one claim win.

    The version is looked up in the registry again after the insert: a version saved
    between the check and the insert (while the insert waited for SQLite's write lock,
    say) by a job that has ended no longer holds the index, but its saved row is seen now
    (Postgres reads what committed before each statement; SQLite writes one at a time).
    """
    try:
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
    except IntegrityError:  # the transaction is rolled back as _VersionTaken leaves it
        raise _VersionTaken from None
    saved = connection.scalar(
        select(ModelVersion.version).where(ModelVersion.version == params.version)
    )
    if saved:
        raise _VersionTaken
    connection.execute(
        LeaderboardRow.__table__.insert(),
        [
            dict(job_id=job_id, model_id=m, model_name=MODELS[m], position=i, state="pending")
            for i, m in enumerate(params.models)
        ],
    )


def _taken_problems(engine: Engine, version: str) -> list[str]:
    """Why a version just lost its claim, read after the winner committed."""
    with connect(engine) as connection:
        found = _version_problems(connection, engine, version)
    return found or [
        f"version {version} was claimed by another submission at the same moment; pick another"
    ]


def cancel(engine: Engine, job_id: str, *, actor: Actor = SYSTEM) -> Job:
    """Cancel a queued job now, or ask a running one to stop after its current model."""
    require(actor, "train")
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


def get_job(engine: Engine, job_id: str) -> Job:
    """The job with its leaderboard, as stored (reading never reaps: see reap_stale)."""
    with connect(engine) as connection:
        row = connection.execute(select(JOBS).where(JOBS.c.id == job_id)).mappings().first()
        if row is None:
            raise JobError(f"no training job {job_id}")
        board = _board(connection, job_id)
    return _job(row, board)


def list_jobs(engine: Engine, limit: int = 50) -> list[Job]:
    """The newest jobs first, without their leaderboards."""
    with connect(engine) as connection:
        return _newest(connection, limit)


def latest_active(engine: Engine) -> Job | None:
    """The most recently submitted job that is queued or running, if any."""
    with connect(engine) as connection:
        job_id = _active_id(connection)
    return get_job(engine, job_id) if job_id else None


@dataclass(frozen=True)
class Following:
    """What a page that follows training shows: one job with its leaderboard (None when
    there is none to follow) and the newest jobs without theirs."""

    job: Job | None
    history: list[Job]


def follow(engine: Engine, job_id: str | None = None, limit: int = 50) -> Following:
    """In one connection, the newest `limit` jobs and the job to follow: `job_id` (None if
    it does not exist), else the newest queued or running job, else the newest job."""
    with connect(engine) as connection:
        history = _newest(connection, limit)
        if job_id is None:
            job_id = _newest_active(connection, history, limit)
        if job_id is None and history:
            job_id = history[0].id
        job = _with_board(connection, job_id, history)
    return Following(job, history)


def _with_board(connection, job_id: str | None, history: list[Job]) -> Job | None:
    """Job `job_id` with its leaderboard: its row from `history` when there, else read."""
    if job_id is None:
        return None
    job = next((job for job in history if job.id == job_id), None)
    if job is None:
        row = connection.execute(select(JOBS).where(JOBS.c.id == job_id)).mappings().first()
        job = None if row is None else _job(row, [])
    return None if job is None else replace(job, leaderboard=_board(connection, job_id))


def _newest(connection, limit: int) -> list[Job]:
    rows = connection.execute(select(JOBS).order_by(JOBS.c.submitted_at.desc()).limit(limit))
    return [_job(row, []) for row in rows.mappings()]


def _newest_active(connection, history: list[Job], limit: int) -> str | None:
    """The newest active job's id: from `history` when it has one or holds every job."""
    found = next((job.id for job in history if job.active), None)
    if found is not None or len(history) < limit:
        return found
    return _active_id(connection)


def _active_id(connection) -> str | None:
    """The id of the most recently submitted job that is queued or running."""
    return connection.scalar(
        select(TrainingJob.id)
        .where(TrainingJob.state.in_(ACTIVE))
        .order_by(TrainingJob.submitted_at.desc())
        .limit(1)
    )


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
            started_at=aware(row["started_at"]),
            finished_at=aware(row["finished_at"]),
            error=row["error"],
            sd=row["sd"],
        )
        for row in rows
    ]


def _job(row: Mapping[str, Any], board: list[BoardRow]) -> Job:
    values = dict(row)
    for name in ("heartbeat_at", "submitted_at", "started_at", "finished_at"):
        values[name] = aware(values[name])
    return Job(**values, leaderboard=board)


@dataclass(frozen=True)
class RunnerStatus:
    """Where jobs run and whether that works right now."""

    kind: str
    ok: bool
    text: str


def tend(engine: Engine, runner) -> list[str]:
    """The one explicit upkeep step (workers, each Train page run, the CLI): fail stale
    jobs, and let `runner` pick up jobs that wait for it (the local runner starts its
    worker). Returns the ids of the jobs failed."""
    reaped = reap_stale(engine)
    runner.wake(engine)
    return reaped


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
    quiet = [*quiet_jobs, *quiet_rows]
    return fail_quiet(engine, quiet, mark_failed, what="job", lost="nothing was saved")
