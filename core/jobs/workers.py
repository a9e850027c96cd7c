"""The processes that run training jobs: an RQ worker, or the local worker.

`python -m core worker` runs an RQ worker on the "training" queue when REDIS_URL is set,
else (or with --local) a worker that polls the database for local jobs. The dashboard
starts a local worker itself (`--local --single`, one per database) when it queues a job
without Redis, so training never runs inside the Streamlit process.
"""

from __future__ import annotations

import logging
import os
import signal
import time

import redis
from rq import Queue, Worker
from sqlalchemy import Engine

from core.db.engine import DatabaseError
from core.jobs.local import LocalLock, next_local_job
from core.jobs.rq import QUEUE
from core.jobs.runner import train_job
from core.jobs.store import reap_stale
from core.ml.experiment import preload, stop_worker_processes

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


def run_rq_worker(redis_url: str, *, burst: bool = False, name: str | None = None) -> bool:
    """Work the "training" queue until stopped (or until it is empty with `burst`).

    PyCaret is imported once here, so each forked work horse starts training at once.
    Returns whether any job was run.
    """
    preload()
    connection = redis.Redis.from_url(redis_url)  # no socket timeout: RQ blocks on the queue
    worker = Worker([Queue(QUEUE, connection=connection)], connection=connection, name=name)
    return worker.work(burst=burst, logging_level="INFO", with_scheduler=False)


def run_local_worker(
    engine: Engine,
    *,
    burst: bool = False,
    single: bool = False,
    idle_exit: float | None = None,
    poll: float = POLL_SECONDS,
) -> int:
    """Run local jobs from the database one after another; returns how many it worked on.

    `single`: hold this database's local-worker lock, exit at once if another holds it.
    `idle_exit`: exit after that many seconds without work. `burst`: exit when none waits.
    """
    lock = LocalLock(engine)
    if single and not lock.acquire():
        log.info("another local worker runs for this database; exiting")
        return 0
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    # No thread limits of our own (OMP_NUM_THREADS...): joblib already gives each
    # cross-validation process cpu_count // n_jobs threads, and a limit set here would
    # also hold the training child itself to one thread, unlike an RQ work horse.
    preload()
    log.info("local worker ready: waiting for jobs")
    worked, idle_since = 0, time.monotonic()
    try:
        while True:
            job_id = _next_job(engine)
            if job_id is not None:
                worked += 1
                _work_on(engine, job_id)
                idle_since = time.monotonic()
                continue
            if burst:
                return worked
            if idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                if not single or _still_idle(engine, lock):
                    return worked
                idle_since = time.monotonic()
            time.sleep(poll)
    finally:
        stop_worker_processes()
        lock.release()


def _next_job(engine: Engine) -> str | None:
    try:
        reap_stale(engine)
        return next_local_job(engine)
    except DatabaseError as exc:
        log.warning("cannot look for jobs: %s", exc)
        return None


def _work_on(engine: Engine, job_id: str) -> None:
    """Train in a forked child, as RQ's work horse does: each job starts from the worker's
    imported but untouched state (LightGBM ran 10x slower after other models in-process)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            engine.dispose(close=False)
            state = train_job(engine, job_id)
            log.info("job %s: %s", job_id, state)
            code = 0
        except BaseException:
            log.exception("job %s failed", job_id)
        finally:
            try:
                # As run_training does: its cross-validation processes would otherwise
                # outlive it, idle, for five minutes (and their CPU time go unreported).
                stop_worker_processes()
            finally:
                logging.shutdown()
                os._exit(code)
    os.waitpid(pid, 0)


def _still_idle(engine: Engine, lock: LocalLock) -> bool:
    """Give up the lock, then look once more: a job queued meanwhile found no worker to
    start because this one still held the lock. True when this worker should exit."""
    lock.release()
    if _next_job(engine) is None:
        return True
    return not lock.acquire()


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(f"stopped by signal {signum}")
