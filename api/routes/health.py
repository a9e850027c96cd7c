"""GET /health (the process lives) and GET /ready (database and Redis answer)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import engine, store
from api.schemas import HealthOut, ReadyOut
from core.cache import redis_status
from core.db.engine import DatabaseError, check
from core.settings import SettingsError

router = APIRouter(tags=["health"])


@router.get("/health", summary="The process lives", response_model=HealthOut)
def health() -> HealthOut:
    """Answers without touching the database or Redis."""
    return HealthOut(status="ok")


@router.get(
    "/ready",
    summary="Database and Redis answer",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "the database or Redis does not"}},
)
def ready():
    """200 when the database and Redis (when REDIS_URL is set) answer; 503 with the reason
    of each otherwise."""
    try:
        database, redis_ok, redis_text = _database(), *redis_status(store())
    except SettingsError as exc:
        return JSONResponse(
            {"ready": False, "database": str(exc), "redis": str(exc)}, status_code=503
        )
    body = ReadyOut(ready=database[0] and redis_ok, database=database[1], redis=redis_text)
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


def _database() -> tuple[bool, str]:
    current = engine()
    try:
        check(current)
    except DatabaseError as exc:
        return False, str(exc)
    where = current.url.render_as_string(hide_password=True)
    return True, f"database {where} answers"
