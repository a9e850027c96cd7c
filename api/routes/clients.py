"""Client lookup and average age, at the old app's paths."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import CacheDep, EngineDep, allowed
from api.errors import Problem
from api.schemas import AverageAgeOut, ClientOut, ErrorOut
from core import explore
from core.explore.filters import from_query

router = APIRouter(prefix="/query/clients", tags=["clients"])
UNAVAILABLE = {503: {"model": ErrorOut, "description": "the database does not answer"}}
BAD_INPUT = {422: {"model": ErrorOut, "description": "a parameter that cannot be used"}}


def _text(description: str, example: str):
    return Query(description=description, examples=[example])


Gender = Annotated[str | None, _text("sex code(s): 1 male, 2 female (the old name)", "2")]
Sex = Annotated[str | None, _text("sex code(s), comma-separated (same as gender)", "1,2")]
Education = Annotated[str | None, _text("education code(s), comma-separated", "1,2")]
Marriage = Annotated[str | None, _text("marital status code(s), comma-separated", "1")]
Age = Annotated[str | None, _text("age range, low-high", "25-40")]
Limit = Annotated[str | None, _text("credit limit range, low-high", "50000-200000")]
Defaulted = Annotated[str | None, _text("yes or no", "no")]


@router.get(
    "/age/",
    summary="Average age of the matching clients",
    response_model=AverageAgeOut,
    responses={**BAD_INPUT, **UNAVAILABLE},
    dependencies=[Depends(allowed("explore"))],
)
def average_age(
    engine: EngineDep,
    cache: CacheDep,
    gender: Gender = None,
    sex: Sex = None,
    education: Education = None,
    marriage: Marriage = None,
    age: Age = None,
    limit: Limit = None,
    defaulted: Defaulted = None,
) -> AverageAgeOut:
    """Average age and number of the clients matching the filters; every filter is optional
    (none: all clients). The filters are the dashboard's, under its URL names; `gender` is the
    old app's name for `sex`."""
    if gender is not None and sex is not None and gender.strip() != sex.strip():
        raise Problem(422, "give sex or gender (the same filter), not both")
    raw = {"sex": sex if sex is not None else gender, "education": education}
    raw |= {"marriage": marriage, "age": age, "limit": limit, "defaulted": defaulted}
    filters, problems = from_query({k: v for k, v in raw.items() if v is not None})
    if problems:
        raise _bad_filters(problems)
    figures = explore.figures(engine, filters, cache=cache)
    return AverageAgeOut(
        average_age=figures.average_age,
        clients=figures.clients,
        filters=filters.to_query(),
        description=filters.describe(),
    )


def _bad_filters(problems: list[str]) -> Problem:
    """from_query's problems ("age='x' was ignored: why") as a 422 naming each parameter."""
    errors = []
    for problem in problems:
        given, _, why = problem.partition(" was ignored: ")
        errors.append({"where": "query", "field": given.split("=", 1)[0], "message": why})
    return Problem(422, "; ".join(error["message"] for error in errors), errors)


@router.get(
    "/{id}",
    summary="One client and six months of payments",
    response_model=ClientOut,
    responses={404: {"model": ErrorOut, "description": "no client has this id"}, **UNAVAILABLE},
    dependencies=[Depends(allowed("explore"))],
)
def client(id: int, engine: EngineDep, cache: CacheDep) -> ClientOut:
    """The client's profile (codes and labels) and payments, latest month first."""
    record = explore.client_lookup(engine, id, cache=cache)
    if record is None:
        raise Problem(404, f"no client with id {id}")
    payments = record.history.to_dict("records")
    return ClientOut(**record.profile, payments=payments)
