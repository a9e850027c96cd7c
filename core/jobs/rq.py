"""The RQ runner: jobs handed to RQ workers through Redis, on a queue of their database.

RQ pickles job payloads unless told otherwise, and a worker unpickling a payload that
anyone with access to Redis enqueued runs their code. Our queues and workers use RQ's JSON
serializer (jobs carry only a job id), so a pickled payload is never loaded: build them
with `training_queue` and `training_worker`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rq import Queue, Worker
from rq.serializers import JSONSerializer
from sqlalchemy import Engine, select

from core.cache import REDIS_ERRORS, describe, redis_reason, unavailable
from core.db.engine import connect, migrate
from core.db.schema import Deployment
from core.jobs.store import JobError, RunnerStatus

TASK = "core.jobs.runner.run_training"
PORTFOLIO_TASK = "core.portfolio.work.run_part"
SERIALIZER = JSONSerializer
NO_WORKER = (
    "no training worker is running, so a job waits in the queue until one starts. Start one "
    "with `python -m core worker` (with the same DATABASE_URL and REDIS_URL as the dashboard)."
)


def training_queue(name: str, connection) -> Queue:
    """The RQ queue `name` at the Redis of `connection`, with JSON payloads."""
    return Queue(name, connection=connection, serializer=SERIALIZER)


def training_worker(queues: list[Queue], connection, worker_class=Worker, **options) -> Worker:
    """A `worker_class` (Worker, or SimpleWorker in one process) on `queues` that reads
    JSON payloads only; `options` go to its constructor."""
    return worker_class(queues, connection=connection, serializer=SERIALIZER, **options)


def queue_name(engine: Engine) -> str:
    """The RQ queue of one deployment: "training-" and the id its database was made with
    (table `deployment`), so every worker and page of one deployment agrees on it whatever
    host name or driver it reaches the database by, and deployments sharing one Redis never
    take each other's jobs."""
    migrate(engine)
    with connect(engine) as connection:
        deployment = connection.scalar(select(Deployment.id))
    return f"training-{deployment}"


def _enqueue(queue: Queue, job_id: str, description: str, task: str, *args) -> None:
    """Put `task(*args)` on `queue` as RQ job `job_id`: no time limit, result kept a day."""
    queue.enqueue(
        task, *args, job_id=job_id, job_timeout=-1, result_ttl=86_400, description=description
    )


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
        with self._queueing("the job") as queue:
            tasks = max(1, min(models, Worker.count(queue=queue)))
            for task in range(tasks):
                _enqueue(queue, f"{job_id}-{task}", f"train job {job_id}", TASK, job_id)

    def workers(self, engine) -> int:
        """RQ workers listening on the queue now (1 when Redis does not answer: handing
        the work over then says why)."""
        try:
            return Worker.count(queue=training_queue(self.queue, self.connection))
        except REDIS_ERRORS:
            return 1

    def hand_over_parts(self, engine, run_id: int, parts: int) -> None:
        """Enqueue one task per part of portfolio run `run_id` (JSON: the run id and the
        part number). Raises JobError when Redis does not answer."""
        with self._queueing("the run") as queue:
            for part in range(parts):
                description = f"portfolio run {run_id} part {part + 1} of {parts}"
                _enqueue(
                    queue, f"portfolio-{run_id}-{part}", description, PORTFOLIO_TASK, run_id, part
                )

    @contextmanager
    def _queueing(self, what: str) -> Iterator[Queue]:
        """The queue, for enqueueing `what`; JobError when Redis does not answer."""
        try:
            yield training_queue(self.queue, self.connection)
        except REDIS_ERRORS as exc:
            raise JobError(
                f"{what} could not be queued: {unavailable(self.connection, exc)}"
            ) from None

    def wake(self, engine) -> None:
        """Nothing to start: RQ workers are started by whoever runs the deployment."""

    def status(self, engine) -> RunnerStatus:
        """RQ workers listening on this database's queue, or Redis down, in plain words."""
        try:
            workers = Worker.count(queue=training_queue(self.queue, self.connection))
        except REDIS_ERRORS as exc:
            return RunnerStatus(
                "rq",
                False,
                f"{describe(self.connection)} does not answer ({redis_reason(exc)}), so jobs "
                "cannot be queued. Start Redis, or point REDIS_URL at one that runs.",
            )
        if not workers:
            return RunnerStatus("rq", False, NO_WORKER)
        plural = "worker is" if workers == 1 else "workers are"
        return RunnerStatus(
            "rq", True, f"{workers} training {plural} ready ({describe(self.connection)})"
        )
