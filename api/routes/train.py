"""The training frame and training jobs, at the old app's paths."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from api.bodies import SafeJsonRoute
from api.deps import EngineDep, RunnerDep, allowed
from api.errors import Problem
from api.schemas import ErrorOut, JobAcceptedOut, TrainIn, TrainingPageOut
from core import jobs
from core.auth import Actor
from core.data.features import training_csv_chunks, training_frame
from core.db.engine import migrate
from core.ml.params import DEFAULT_FOLDS, TrainingError, check_params

router = APIRouter(prefix="/train", tags=["training"], route_class=SafeJsonRoute)
UNAVAILABLE = {503: {"model": ErrorOut, "description": "the database or Redis does not answer"}}
SUBMIT_ERRORS = {
    409: {
        "model": ErrorOut,
        "description": "the version is used or being trained, no clients are loaded, or the "
        "sample is larger than the data",
    },
    422: {"model": ErrorOut, "description": "parameters that cannot be used, each named"},
    **UNAVAILABLE,
}
MAX_PAGE = 10_000


@router.get(
    "/data/",
    summary="The training frame: a page as JSON, or all of it as CSV",
    response_model=TrainingPageOut,
    responses={
        200: {"content": {"text/csv": {"example": "ID,LIMIT_BAL,...,default\n1,20000,...,1\n"}}},
        **UNAVAILABLE,
    },
    # Every client's data: an analyst's work, not a viewer's.
    dependencies=[Depends(allowed("train"))],
)
def training_data(
    request: Request,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=2**62, description="rows to skip")] = 0,
):
    """The clients the models learn from (ID, the 23 features, default), in id order.

    JSON gives `limit` rows from `offset`; with `Accept: text/csv` the whole frame streams as
    CSV (limit and offset do not apply)."""
    if "text/csv" in request.headers.get("accept", ""):
        migrate(engine)  # a database that is down answers 503 before the stream starts
        return StreamingResponse(
            training_csv_chunks(engine),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="training.csv"'},
        )
    frame = training_frame(engine, limit=limit, offset=offset)
    rows = frame.to_dict("records")
    following = offset + limit if len(rows) == limit else None
    return TrainingPageOut(
        offset=offset, limit=limit, count=len(rows), next_offset=following, rows=rows
    )


@router.get(
    "/model/",
    summary="Start training (the old app's GET)",
    status_code=202,
    response_model=JobAcceptedOut,
    responses=SUBMIT_ERRORS,
)
def train_get(
    actor: Annotated[Actor, Depends(allowed("train"))],
    response: Response,
    engine: EngineDep,
    runner: RunnerDep,
    folds: Annotated[int, Query(description="cross-validation folds, 2..10", examples=[5])] = (
        DEFAULT_FOLDS
    ),
    version: Annotated[
        str | None, Query(description="the new version (default: next unused)", examples=["2.0"])
    ] = None,
) -> JobAcceptedOut:
    """Queue a training job on PyCaret's turbo set; 202 with the job and `Location: /jobs/{id}`.
    Follow it at GET /jobs/{id}."""
    return _submit(engine, runner, response, {"folds": folds, "version": version}, actor)


@router.post(
    "/model/",
    summary="Start training",
    status_code=202,
    response_model=JobAcceptedOut,
    responses=SUBMIT_ERRORS,
)
def train_post(
    actor: Annotated[Actor, Depends(allowed("train"))],
    body: TrainIn,
    response: Response,
    engine: EngineDep,
    runner: RunnerDep,
) -> JobAcceptedOut:
    """Queue a training job; 202 with the job and `Location: /jobs/{id}`."""
    params = body.model_dump()
    params["sample_size"] = params.pop("sample")
    return _submit(engine, runner, response, params, actor)


def _submit(engine, runner, response: Response, params: dict, actor: Actor) -> JobAcceptedOut:
    if params["version"] is None:
        params["version"] = jobs.suggest_version(engine)
    checked = check_params(**params)  # TrainingError: 422, each problem named
    try:
        job_id = jobs.submit(engine, checked, runner, actor=actor)
    except TrainingError as exc:  # the parameters are fine; the database's state refuses
        raise Problem(409, "; ".join(exc.problems)) from None
    except jobs.JobError as exc:
        raise Problem(503, str(exc)) from None
    location = f"/jobs/{job_id}"
    response.headers["Location"] = location
    return JobAcceptedOut(job_id=job_id, state="queued", version=checked.version, location=location)
