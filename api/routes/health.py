"""GET /health (the process lives; is access control on?) and GET /ready (database and Redis
answer, and the prediction log can be written). Both answer without an API key."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import current_engine, store
from api.schemas import HealthOut, ReadyOut
from core.auth import access_control_on
from core.cache import redis_status
from core.db.engine import DatabaseError, check
from core.serving.log_buffer import check_writable, prediction_log
from core.settings import SettingsError

router = APIRouter(tags=["health"])
ACCESS_CONTROL_OFF = "off: no users; anyone who reaches this port may use the API"


@router.get("/health", summary="The process lives; is access control on?", response_model=HealthOut)
def health() -> HealthOut:
    """Whether access control is on (read from the database at most every few seconds per
    process); answers 200 even when the database does not."""
    return HealthOut(status="ok", access_control=_access_control())


def _access_control() -> str:
    try:
        return "on" if access_control_on(current_engine()) else ACCESS_CONTROL_OFF
    except (DatabaseError, SettingsError):
        return "unknown: the database does not answer or the settings are wrong (see /ready)"


@router.get(
    "/ready",
    summary="Database and Redis answer, the prediction log can be written",
    response_model=ReadyOut,
    responses={
        503: {
            "model": ReadyOut,
            "description": "the database or Redis does not answer, or the prediction log "
            "cannot be written",
        }
    },
)
def ready():
    """200 when the database and Redis (when REDIS_URL is set) answer and the prediction log
    can be written (a row is tried and rolled back; the log buffer's last write worked and
    dropped nothing); 503 with the reason of each otherwise."""
    try:
        database, redis_ok, redis_text = _database(), *redis_status(store())
    except SettingsError as exc:
        text = str(exc)
        body = {"ready": False, "database": text, "redis": text, "prediction_log": text}
        return JSONResponse(body, status_code=503)
    log_ok, log_text = _prediction_log() if database[0] else (False, "the database is down")
    body = ReadyOut(
        ready=database[0] and redis_ok and log_ok,
        database=database[1],
        redis=redis_text,
        prediction_log=log_text,
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


def _database() -> tuple[bool, str]:
    current = current_engine()
    try:
        check(current)
    except DatabaseError as exc:
        return False, str(exc)
    where = current.url.render_as_string(hide_password=True)
    return True, f"database {where} answers"


def _prediction_log() -> tuple[bool, str]:
    status = prediction_log().status()
    problem = check_writable(current_engine())
    if problem is None and status.error is not None:
        problem = f"the last write of the prediction log failed: {status.error}"
    if problem is None and status.dropped:
        problem = f"{status.dropped} scored rows were dropped from the prediction log"
    waiting = f"{status.pending} rows waiting"
    if problem is not None:
        return False, f"{problem}; {waiting}"
    return True, f"the prediction log can be written; {waiting}"
