"""The RQ runner: jobs handed to RQ workers through Redis, on a queue of their database."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from rq import Queue, Worker
from sqlalchemy.engine import URL, make_url

from core.cache import REDIS_ERRORS, describe
from core.jobs.store import JobError, RunnerStatus
from core.settings import normalise_database_url

TASK = "core.jobs.runner.run_training"


def queue_name(database_url: str) -> str:
    """The RQ queue of one database: "training-" and a digest of its URL (password left
    out, SQLite paths made absolute), so deployments that share a Redis never take each
    other's jobs while every worker and page of one deployment agree on it."""
    url = make_url(normalise_database_url(database_url))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        url = url.set(database=str(Path(url.database).resolve()))
    where = URL.create(
        url.drivername, url.username, None, url.host, url.port, url.database, url.query
    ).render_as_string(hide_password=False)
    return f"training-{hashlib.sha256(where.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class RqRunner:
    """Jobs go on `queue` at the Redis of `connection`; RQ workers listening there train
    them (`python -m core worker` with the same DATABASE_URL and REDIS_URL)."""

    connection: object
    queue: str
    kind: str = "rq"

    def hand_over(self, engine, job_id: str, models: int) -> None:
        """Enqueue one task per listening worker (at most one per model), so idle workers
        share the job. Raises JobError when Redis does not answer."""
        try:
            queue = Queue(self.queue, connection=self.connection)
            tasks = max(1, min(models, Worker.count(queue=queue)))
            for task in range(tasks):
                queue.enqueue(
                    TASK,
                    job_id,
                    job_id=f"{job_id}-{task}",
                    job_timeout=-1,
                    result_ttl=86_400,
                    description=f"train job {job_id}",
                )
        except REDIS_ERRORS as exc:
            raise JobError(
                f"the job could not be queued: {describe(self.connection)} is unavailable ({exc})"
            ) from None

    def wake(self, engine) -> None:
        """Nothing to start: RQ workers are started by whoever runs the deployment."""

    def status(self, engine) -> RunnerStatus:
        """RQ workers listening on this database's queue, or Redis down."""
        where = describe(self.connection)
        try:
            workers = Worker.count(queue=Queue(self.queue, connection=self.connection))
        except REDIS_ERRORS as exc:
            return RunnerStatus(
                "rq", False, f"{where} is unavailable, so jobs cannot be queued: {exc}"
            )
        if not workers:
            return RunnerStatus(
                "rq",
                False,
                f"no RQ worker listens on queue '{self.queue}' at {where}: jobs wait until "
                "one starts (`python -m core worker`)",
            )
        return RunnerStatus(
            "rq", True, f"jobs run on {workers} RQ worker(s) via {where}, queue '{self.queue}'"
        )
