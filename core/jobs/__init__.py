"""Training jobs: rows in the database (store), handed to a runner chosen from the settings
(runners.runner_for: rq or local), trained by core.jobs.runner in a worker
(core.jobs.workers). Reading a job never changes it; `tend` (reap stale jobs, wake the
runner) is the one explicit upkeep step. Pages and the CLI call what is re-exported here."""

from core.jobs.local import LocalRunner, local_worker_pid, stop_local_worker
from core.jobs.rq import RqRunner, queue_name, training_queue, training_worker
from core.jobs.runners import runner_for
from core.jobs.store import (
    Following,
    Job,
    JobError,
    RunnerStatus,
    cancel,
    follow,
    get_job,
    latest_active,
    list_jobs,
    problems,
    reap_stale,
    submit,
    suggest_version,
    tend,
)

__all__ = [
    "Following",
    "Job",
    "JobError",
    "LocalRunner",
    "RqRunner",
    "RunnerStatus",
    "cancel",
    "follow",
    "get_job",
    "latest_active",
    "list_jobs",
    "local_worker_pid",
    "problems",
    "queue_name",
    "reap_stale",
    "runner_for",
    "stop_local_worker",
    "submit",
    "suggest_version",
    "tend",
    "training_queue",
    "training_worker",
]
