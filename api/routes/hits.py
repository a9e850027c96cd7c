"""GET / : the visit counter, as the old app had it."""

from fastapi import APIRouter, Depends

from api.deps import StoreDep, allowed
from api.errors import Problem
from api.schemas import ErrorOut, HitsOut
from core.cache import count_visit

router = APIRouter(tags=["visits"])


@router.get(
    "/",
    summary="Count this visit",
    response_model=HitsOut,
    responses={503: {"model": ErrorOut, "description": "Redis does not answer"}},
    dependencies=[Depends(allowed("explore"))],
)
def hits(store: StoreDep) -> HitsOut:
    """Add one to the visit counter (in Redis) and return the count."""
    count = count_visit(store)
    if count.value is None:
        raise Problem(503, count.error or "the visit counter is unavailable")
    message = f"Welcome to the home page of the API. I have been visited {count.value} times"
    return HitsOut(hits=count.value, message=message)
