"""The local runner: one background worker process per database, started on demand, that
polls the database for queued jobs (the embedded default, without Redis). POSIX only: the
one-worker lock is an flock, imported where it is taken.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, select

from core.db.engine import connect
from core.db.schema import LeaderboardRow, PortfolioRun, TrainingJob
from core.jobs.store import JobError, RunnerStatus

log = logging.getLogger(__name__)
LOCAL_IDLE_EXIT = 600


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
        import fcntl

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
        import fcntl

        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def local_worker_pid(engine: Engine) -> int | None:
    """The pid of the local worker of this database, or None when none runs."""
    import fcntl

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


class LocalRunner:
    """Jobs wait in the database for this database's local worker process, which is
    started on demand (core.jobs.workers.run_local_worker)."""

    kind = "local"

    def hand_over(self, engine: Engine, job_id: str, models: int) -> None:
        """Start the local worker unless one runs; it finds the job in the database.
        Raises JobError when the process cannot be started."""
        try:
            ensure_local_worker(engine)
        except OSError as exc:
            raise JobError(f"the local worker process could not be started: {exc}") from None

    def workers(self, engine: Engine) -> int:
        """One: the local worker scores a portfolio run in one process."""
        return 1

    def hand_over_parts(self, engine: Engine, run_id: int, parts: int) -> None:
        """A portfolio run waits in the database for the local worker, as a job does."""
        self.hand_over(engine, "", 0)

    def wake(self, engine: Engine) -> None:
        """Start the local worker when local jobs or portfolio runs wait without one (it
        exits when idle)."""
        if next_local_job(engine) is not None or next_local_run(engine) is not None:
            self.hand_over(engine, "", 0)

    def status(self, engine: Engine) -> RunnerStatus:
        """The local worker process: running, or started by the first job."""
        pid = local_worker_pid(engine)
        state = f"running (pid {pid})" if pid else "started by the first job"
        return RunnerStatus(
            "local", True, f"jobs run in a local background worker process, {state}"
        )


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


def next_local_run(engine: Engine) -> int | None:
    """The oldest queued portfolio run for the local worker."""
    with connect(engine) as connection:
        return connection.scalar(
            select(PortfolioRun.id)
            .where(PortfolioRun.state == "queued", PortfolioRun.runner == "local")
            .order_by(PortfolioRun.id)
            .limit(1)
        )
