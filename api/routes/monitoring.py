"""Monitoring: how stable a version's recent scores are against its development data."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.bodies import SafeJsonRoute
from api.deps import EngineDep, allowed
from api.errors import Problem
from api.routes.models import VERSION_ERRORS, _version
from core.ml.registry import VersionError, default_version
from core.serving import stability as core

router = APIRouter(prefix="/monitoring", tags=["monitoring"], route_class=SafeJsonRoute)


class BinOut(BaseModel):
    """One bin: its range or category, the development and recent shares, its PSI term."""

    label: str
    development: float
    recent: float
    term: float


class IndexOut(BaseModel):
    """A PSI (the score) or CSI (a feature); `value` is null when too few scores."""

    name: str
    value: float | None
    scores: int
    verdict: Literal["stable", "watch", "act", "too few to judge"]
    bins: list[BinOut]


class PeriodOut(BaseModel):
    """The score's PSI over one day or week of the prediction log (UTC; weeks from Monday)."""

    start: str = Field(description="first day of the period, YYYY-MM-DD")
    scores: int
    value: float | None
    verdict: Literal["stable", "watch", "act", "too few to judge"]


class StabilityOut(BaseModel):
    """PSI of the score in ten bins on the development holdout's deciles, its series over
    time and the CSI of each feature (highest first), with the rules of thumb used."""

    version: str
    window: int = Field(description="newest logged scores asked for")
    scores: int = Field(description="logged scores found in the window")
    period: Literal["day", "week"]
    score: IndexOut | None = Field(description="null when the version stored no holdout")
    over_time: list[PeriodOut]
    features: list[IndexOut]
    development_scores: int
    development_sample: int
    notes: list[str] = Field(description="what could not be computed, and why")
    rules: str
    epsilon: float = Field(description="the share an empty bin counts as")
    min_scores: int


@router.get(
    "/stability",
    summary="Score stability (PSI) and feature stability (CSI)",
    response_model=StabilityOut,
    responses=VERSION_ERRORS,
    dependencies=[Depends(allowed("view_models"))],
)
def stability(
    engine: EngineDep,
    version: Annotated[str | None, Query(description="default: the champion")] = None,
    window: Annotated[int, Query(ge=1, le=core.MAX_WINDOW)] = core.DEFAULT_WINDOW,
    period: Literal["day", "week"] = "day",
) -> StabilityOut:
    """The newest `window` logged scores of `version` against its development data."""
    chosen = _version(version) if version is not None else default_version(engine)
    if chosen is None:
        raise Problem(404, "no model version has been trained yet")
    try:
        result = core.stability(engine, chosen, window=window, period=period)
    except VersionError as exc:
        raise Problem(404, str(exc)) from None
    return StabilityOut(**result.as_dict())
