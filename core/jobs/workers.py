"""The processes that run training jobs: an RQ worker, or the local worker.

`python -m core worker` runs an RQ worker on its database's queue (core.jobs.rq.queue_name)
when REDIS_URL is set, else (or with --local) a worker that polls the database for local
jobs. Every worker reaps stale jobs every REAP_SECONDS in a thread of its own, so a dead
worker's job fails even when no page is open; the same thread purges the prediction log's
rows beyond the retention once an hour (core.serving.retention). The dashboard
starts a local worker itself (`--local --single`, one per database) when it queues a job
without Redis, so training never runs inside the Streamlit process.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from functools import partial

import redis
from sqlalchemy import Engine

from core.db.engine import DatabaseError, make_engine
from core.jobs.local import LocalLock, next_local_job, next_local_run
from core.jobs.rq import queue_name, training_queue, training_worker
from core.jobs.runner import train_job
from core.jobs.store import REAP_SECONDS, reap_stale
from core.ml.experiment import Experiment, preload, stop_worker_processes
from core.portfolio.store import reap_stale as reap_stale_runs
from core.portfolio.work import score_run
from core.serving.retention import purge_when_due
from core.settings import SettingsError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


# Held by the reaper while it touches the database; a fork waits for it. A child forked
# while the reaper thread held SQLite's or the pool's locks would wait on them forever (a
# work horse hung in sqlite3.connect this way): with this lock no fork happens mid-reap.
_REAPING = threading.Lock()
os.register_at_fork(
    before=_REAPING.acquire,
    after_in_parent=_REAPING.release,
    after_in_child=_REAPING.release,
)


class Reaper:
    """A thread that fails stale jobs every `every` seconds, on an engine of its own (a
    forked child never inherits a connection it holds, nor a lock: see _REAPING)."""

    def __init__(self, database_url: str, every: float = REAP_SECONDS):
        self.url, self.every = database_url, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with _REAPING:
            engine = make_engine(self.url)
        try:
            while True:
                with _REAPING:
                    self._reap(engine)
                if self._stop.wait(self.every):
                    return
        finally:
            with _REAPING:
                engine.dispose()

    @staticmethod
    def _reap(engine: Engine) -> None:
        try:
            reap_stale(engine)
            reap_stale_runs(engine)  # portfolio runs: fails them and deletes their scores
        except DatabaseError as exc:
            log.warning("cannot look for stale jobs: %s", exc)
        try:
            purge_when_due(engine)  # the prediction log's old rows, once an hour
        except (DatabaseError, SettingsError) as exc:
            log.warning("cannot purge the prediction log: %s", exc)


def run_rq_worker(
    redis_url: str, database_url: str, *, burst: bool = False, name: str | None = None
) -> bool:
    """Work the queue of `database_url` until stopped (or until it is empty with `burst`),
    reaping that database's stale jobs meanwhile.

    PyCaret is imported once here, so each forked work horse starts training at once.
    Returns whether any job was run.
    """
    preload()
    connection = redis.Redis.from_url(redis_url)  # no socket timeout: RQ blocks on the queue
    queue = training_queue(_queue_of(database_url), connection)
    worker = training_worker(
        [queue], connection, name=name, work_horse_killed_handler=_kill_leftovers
    )
    reaper = Reaper(database_url)
    reaper.start()
    try:
        return worker.work(burst=burst, logging_level="INFO", with_scheduler=False)
    finally:
        reaper.stop()


def _queue_of(database_url: str) -> str:
    """The deployment's queue, read on an engine of its own: work horses fork from this
    process and must not share its database connections."""
    engine = make_engine(database_url)
    try:
        return queue_name(engine)
    finally:
        engine.dispose()


def _kill_leftovers(job, pid: int, status: int, rusage) -> None:
    """A killed work horse cannot stop its cross-validation processes; they share its
    process group (RQ's setpgrp), so stop them here."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


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
    reaper = Reaper(engine.url.render_as_string(hide_password=False))
    reaper.start()
    try:
        while True:
            job_id = _next_job(engine)
            if job_id is not None:
                worked += 1
                _work_on(engine, job_id)
                idle_since = time.monotonic()
                continue
            run_id = _next_run(engine)
            if run_id is not None:
                worked += 1
                _in_child(engine, f"portfolio run {run_id}", partial(score_run, engine, run_id))
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
        reaper.stop()
        stop_worker_processes()
        lock.release()


def _next_job(engine: Engine) -> str | None:
    try:
        return next_local_job(engine)
    except DatabaseError as exc:
        log.warning("cannot look for jobs: %s", exc)
        return None


def _next_run(engine: Engine) -> int | None:
    try:
        return next_local_run(engine)
    except DatabaseError as exc:
        log.warning("cannot look for portfolio runs: %s", exc)
        return None


def _in_child(engine: Engine, what: str, work) -> None:
    """Run `work()` in a forked child and wait for it (a portfolio run's memory is given
    back when it ends)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            engine.dispose(close=False)
            log.info("%s: %s", what, work())
            code = 0
        except BaseException:
            log.exception("%s failed", what)
        finally:
            logging.shutdown()
            os._exit(code)
    os.waitpid(pid, 0)


def _work_on(engine: Engine, job_id: str) -> None:
    """Train in a forked child, as RQ's work horse does: each job starts from the worker's
    imported but untouched state (LightGBM ran 10x slower after other models in-process)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            engine.dispose(close=False)
            state = train_job(engine, job_id, Experiment)  # stops its worker processes
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
