"""Portfolio runs: score every client (or those matching filters) as a background job,
follow it, read its summary."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.bodies import SafeJsonRoute
from api.deps import EngineDep, RunnerDep, allowed
from api.errors import Problem
from api.schemas import ErrorOut, ShortText, VersionText
from core import jobs, portfolio
from core.auth import Actor
from core.explore.filters import from_query
from core.serving.scoring import DEFAULT_THRESHOLD

router = APIRouter(prefix="/portfolio", tags=["portfolio"], route_class=SafeJsonRoute)
UNAVAILABLE = {503: {"model": ErrorOut, "description": "the database or Redis does not answer"}}
NOT_FOUND = {404: {"model": ErrorOut, "description": "no portfolio run has this id"}}
RUN_ID = Annotated[int, Path(ge=1, le=2**31 - 1, description="the run's id")]


class PortfolioIn(BaseModel):
    """A portfolio run: what `POST /portfolio/runs` takes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"version": "2.0", "threshold": 0.5, "lgd": 0.45, "filters": {"sex": "2"}}]
        },
    )
    version: VersionText | None = Field(None, description="default: the champion")
    threshold: float | None = Field(
        None,
        description="decline from this probability; default: the version's policy threshold, "
        f"else {DEFAULT_THRESHOLD}",
    )
    lgd: float | None = Field(
        None,
        description="loss given default, a share 0..1; default: the LGD the version's policy "
        f"threshold was chosen under, else {portfolio.DEFAULT_LGD}",
    )
    exposure: Literal["limit", "bill"] | None = Field(
        None,
        description="exposure at default: the credit limit or the latest bill; default: the "
        "version's policy's, else limit",
    )
    filters: dict[ShortText, ShortText] = Field(
        default_factory=dict,
        max_length=20,
        description="the explore filters as in the pages' links, e.g. "
        '{"sex": "2", "age": "25-40", "limit": "10000-200000", "defaulted": "no"}',
    )


class RunOut(BaseModel):
    """A portfolio run: state, progress and, once finished, its summary."""

    id: int
    state: str
    version: str
    champion: bool
    threshold: float
    lgd: float
    exposure: str
    filters: dict[str, str]
    clients: str
    parts: int
    clients_total: int
    clients_done: int
    progress: float
    runner: str
    submitted_by: str
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    summary: dict[str, Any] | None


class RunAcceptedOut(BaseModel):
    run_id: int
    state: str
    version: str
    clients: int
    location: str


def run_out(run: portfolio.Run) -> RunOut:
    return RunOut(
        id=run.id,
        state=run.state,
        version=run.version,
        champion=run.champion,
        threshold=run.threshold,
        lgd=run.lgd,
        exposure=run.exposure,
        filters=run.filters,
        clients=run.filters_text,
        parts=len(run.parts),
        clients_total=run.clients_total,
        clients_done=run.clients_done,
        progress=run.progress,
        runner=run.runner,
        submitted_by=run.submitted_by,
        submitted_at=run.submitted_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        error=run.error,
        summary=run.summary,
    )


@router.post(
    "/runs",
    summary="Score the portfolio",
    status_code=202,
    response_model=RunAcceptedOut,
    responses={
        422: {
            "model": ErrorOut,
            "description": "inputs out of range or filters that cannot be used",
        },
        404: {"model": ErrorOut, "description": "no such version, or no client matches"},
        **UNAVAILABLE,
    },
)
def start_run(
    actor: Annotated[Actor, Depends(allowed("score"))],
    body: PortfolioIn,
    response: Response,
    engine: EngineDep,
    runner: RunnerDep,
) -> RunAcceptedOut:
    """Queue a scoring of every client matching `filters` with `version`; 202 with the run
    and `Location: /portfolio/runs/{id}`. Only a finished run has results."""
    filters, ignored = from_query(body.filters)
    if ignored:
        # from_query leaves a bad filter out of a shared link; a request for work is refused.
        problems = [problem.replace(" was ignored:", ":") for problem in ignored]
        raise Problem(422, "; ".join(f"filters: {problem}" for problem in problems))
    try:
        portfolio.check_inputs(body.threshold, body.lgd, body.exposure)
    except portfolio.PortfolioError as exc:
        raise Problem(422, str(exc)) from None
    try:
        run_id = portfolio.submit(
            engine,
            runner,
            version=body.version,
            filters=filters,
            threshold=body.threshold,
            lgd=body.lgd,
            exposure=body.exposure,
            actor=actor,
        )
    except portfolio.PortfolioError as exc:
        raise Problem(404, str(exc)) from None
    except jobs.JobError as exc:
        raise Problem(503, str(exc)) from None
    run = portfolio.get_run(engine, run_id)
    location = f"/portfolio/runs/{run_id}"
    response.headers["Location"] = location
    return RunAcceptedOut(
        run_id=run_id,
        state=run.state,
        version=run.version,
        clients=run.clients_total,
        location=location,
    )


@router.get(
    "/runs",
    summary="Recent portfolio runs",
    response_model=list[RunOut],
    responses=UNAVAILABLE,
    dependencies=[Depends(allowed("view_models"))],
)
def list_runs(
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=500, description="how many, newest first")] = 20,
) -> list[RunOut]:
    """The newest runs first, in every state; only finished ones carry a summary."""
    return [run_out(run) for run in portfolio.list_runs(engine, limit=limit)]


@router.get(
    "/runs/{run_id}",
    summary="A portfolio run's state, progress and summary",
    response_model=RunOut,
    responses={**NOT_FOUND, **UNAVAILABLE},
    dependencies=[Depends(allowed("view_models"))],
)
def get_run(run_id: RUN_ID, engine: EngineDep) -> RunOut:
    """State (queued, running, finished, failed), clients scored of all, and for a finished
    run its summary: decisions, expected loss, the distribution of probabilities, how many
    declined clients have each reason (`reasons.first`: as their first reason, `reasons.any`:
    among their up to four) and the changes against the previous champion's run (the listed
    newly declined clients with their reason codes)."""
    try:
        return run_out(portfolio.get_run(engine, run_id))
    except portfolio.PortfolioError as exc:
        raise Problem(404, str(exc)) from None
