"""The RQ runner: jobs handed to RQ workers through Redis."""

from __future__ import annotations

from rq import Queue, Worker

QUEUE = "training"


def enqueue(client, job_id: str, models: int) -> None:
    queue = Queue(QUEUE, connection=client)
    # One task per listening worker (at most one per model) lets idle workers share the job.
    tasks = max(1, min(models, Worker.count(queue=queue)))
    for task in range(tasks):
        queue.enqueue(
            "core.jobs.runner.run_training",
            job_id,
            job_id=f"{job_id}-{task}",
            job_timeout=-1,
            result_ttl=86_400,
            description=f"train job {job_id}",
        )
