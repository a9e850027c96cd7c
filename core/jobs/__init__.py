"""Training jobs: rows in the database (store), handed to a runner (rq or local), trained by
core.jobs.runner in a worker (core.jobs.workers). Pages and the CLI call what is re-exported
here."""

from core.jobs.local import local_worker_pid, stop_local_worker
from core.jobs.rq import QUEUE
from core.jobs.store import (
    Job,
    JobError,
    cancel,
    get_job,
    latest_active,
    list_jobs,
    refresh,
    runner_status,
    submit,
    suggest_version,
)

__all__ = [
    "QUEUE",
    "Job",
    "JobError",
    "cancel",
    "get_job",
    "latest_active",
    "list_jobs",
    "local_worker_pid",
    "refresh",
    "runner_status",
    "stop_local_worker",
    "submit",
    "suggest_version",
]
