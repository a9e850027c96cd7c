"""Training jobs: follow one, cancel one, list them."""

from dataclasses import asdict
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from api.deps import EngineDep, allowed
from api.errors import Problem
from api.schemas import ErrorOut, JobOut
from core import jobs
from core.auth import Actor

router = APIRouter(prefix="/jobs", tags=["training"])
UNAVAILABLE = {503: {"model": ErrorOut, "description": "the database does not answer"}}
NOT_FOUND = {404: {"model": ErrorOut, "description": "no training job has this id"}}


def job_out(job: jobs.Job) -> JobOut:
    values = asdict(job)
    values["leaderboard"] = [asdict(row) for row in job.leaderboard]
    return JobOut.model_validate(values)


def _job(engine, job_id: UUID) -> jobs.Job:
    try:
        return jobs.get_job(engine, str(job_id))
    except jobs.JobError as exc:
        raise Problem(404, str(exc)) from None


@router.get(
    "",
    summary="Recent training jobs",
    response_model=list[JobOut],
    responses=UNAVAILABLE,
    dependencies=[Depends(allowed("view_models"))],
)
def list_jobs(
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=500, description="how many, newest first")] = 50,
) -> list[JobOut]:
    """The newest jobs first, without their leaderboards."""
    return [job_out(job) for job in jobs.list_jobs(engine, limit=limit)]


@router.get(
    "/{job_id}",
    summary="A training job's state, progress and leaderboard",
    response_model=JobOut,
    responses={**NOT_FOUND, **UNAVAILABLE},
    dependencies=[Depends(allowed("view_models"))],
)
def get_job(job_id: UUID, engine: EngineDep) -> JobOut:
    """State (queued, running, finished, failed, cancelled), models done of total, the
    leaderboard rows so far and the error of a failed job."""
    return job_out(_job(engine, job_id))


@router.delete(
    "/{job_id}",
    summary="Cancel a training job",
    response_model=JobOut,
    responses={
        **NOT_FOUND,
        409: {"model": ErrorOut, "description": "the job has already ended"},
        **UNAVAILABLE,
    },
)
def cancel_job(
    actor: Annotated[Actor, Depends(allowed("train"))], job_id: UUID, engine: EngineDep
) -> JobOut:
    """A queued job is cancelled at once; a running one stops after its current model
    (`cancel_requested` is then true until it does)."""
    job = _job(engine, job_id)
    if not job.active:
        raise Problem(409, f"job {job.id} has already ended ({job.state})")
    return job_out(jobs.cancel(engine, job.id, actor=actor))
