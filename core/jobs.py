"""Training jobs: queue them, run them, follow them, cancel them.

A job is a row in `training_jobs` with one `leaderboard_rows` row per model. `submit`
writes it and hands its id to a runner: RQ workers (`python -m core worker`) when Redis is
configured, else a local background worker process that polls the database. Either way
the work is core.runner.run_training(job_id).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from rq import Queue, Worker
from sqlalchemy import Engine, func, select, update

from core.cache import REDIS_ERRORS, MemoryStore, describe
from core.db import connect
from core.models import Client, LeaderboardRow, TrainingJob
from core.registry import format_version, next_version, version_exists
from core.training import COLUMNS, MODELS, TrainingError, TrainingParams, check_params

log = logging.getLogger(__name__)

QUEUE = "training"
ACTIVE = ("queued", "running")
# Workers beat every few seconds (core.runner); a job quiet this long lost its worker.
STALE_SECONDS = 15
JOBS = TrainingJob.__table__
ROWS = LeaderboardRow.__table__
LOCAL_IDLE_EXIT = 600


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


# ---------------------------------------------------------------- submit, cancel, read


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
            _enqueue(redis_client, job_id, len(checked.models))
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


def _enqueue(client, job_id: str, models: int) -> None:
    queue = Queue(QUEUE, connection=client)
    # One task per listening worker (at most one per model) lets idle workers share the job.
    tasks = max(1, min(models, Worker.count(queue=queue)))
    for task in range(tasks):
        queue.enqueue(
            "core.runner.run_training",
            job_id,
            job_id=f"{job_id}-{task}",
            job_timeout=-1,
            result_ttl=86_400,
            description=f"train job {job_id}",
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


# ---------------------------------------------------------------- failures and staleness


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


# ---------------------------------------------------------------- the local worker process


def _lock_path(engine: Engine) -> Path:
    url = engine.url.render_as_string(hide_password=False)
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "credit-dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"worker-{digest}.lock"


class LocalLock:
    """The lock that makes one local worker per database; it holds the worker's pid."""

    def __init__(self, engine: Engine):
        self.path = _lock_path(engine)
        self._file = None

    def acquire(self) -> bool:
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the worker's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def local_worker_pid(engine: Engine) -> int | None:
    """The pid of the local worker of this database, or None when none runs."""
    path = _lock_path(engine)
    if not path.exists():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


# Local workers this process started, by lock file: one starting up holds no lock yet.
_started: dict[Path, subprocess.Popen] = {}


def ensure_local_worker(engine: Engine) -> int | None:
    """Start `python -m core worker --local --single` unless one runs; returns its pid."""
    path = _lock_path(engine)
    started = _started.get(path)
    if started is not None and started.poll() is None:
        return None  # still starting, or running
    if local_worker_pid(engine) is not None:
        return None
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    env.pop("REDIS_URL", None)
    log_path = path.with_suffix(".log")
    with open(log_path, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "core", "worker", "--local", "--single",
             "--idle-exit", str(LOCAL_IDLE_EXIT)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    _started[path] = process
    log.info("started local worker pid %s (log %s)", process.pid, log_path)
    return process.pid


def stop_local_worker(engine: Engine, timeout: float = 15) -> int | None:
    """Stop the local worker of this database (SIGTERM), also one this process started that
    has not taken the lock yet; returns the pid stopped, None if none ran."""
    path = _lock_path(engine)
    started = _started.pop(path, None)
    pids = {local_worker_pid(engine)}
    if started is not None and started.poll() is None:
        pids.add(started.pid)
    pids.discard(None)
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    if started is not None:
        started.wait(timeout)
    deadline = time.monotonic() + timeout
    while local_worker_pid(engine) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    return max(pids) if pids else None


def next_local_job(engine: Engine) -> str | None:
    """The oldest queued local job, else a running one with models left to claim."""
    with connect(engine) as connection:
        queued = connection.scalar(
            select(TrainingJob.id)
            .where(TrainingJob.state == "queued", TrainingJob.runner == "local")
            .order_by(TrainingJob.submitted_at)
            .limit(1)
        )
        if queued:
            return queued
        return connection.scalar(
            select(TrainingJob.id)
            .join(LeaderboardRow, LeaderboardRow.job_id == TrainingJob.id)
            .where(
                TrainingJob.state == "running",
                TrainingJob.runner == "local",
                TrainingJob.cancel_requested.is_(False),
                LeaderboardRow.state == "pending",
            )
            .order_by(TrainingJob.submitted_at)
            .limit(1)
        )
