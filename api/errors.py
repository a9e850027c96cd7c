"""Errors as JSON `{"detail": "..."}`: bad input 422 naming each field, a role that may not
403 naming the role needed, a database or Redis that is down 503 with the reason, a stored
model that fails its sha256 or signature check 409, anything unexpected 500 without a
traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.bodies import BodyProblem
from core.auth import AccessDenied
from core.cache import REDIS_ERRORS
from core.data.dataset import DataError
from core.db.engine import DatabaseError
from core.ml.params import TrainingError
from core.ml.registry import ArtifactError
from core.serving.schemas import InputError
from core.settings import SettingsError

log = logging.getLogger(__name__)


class Problem(Exception):
    """A refusal a route raises: HTTP status, a plain detail, for 422 the bad fields, and
    headers to send (401's WWW-Authenticate)."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers
        super().__init__(detail)


def error_response(
    status: int,
    detail: str,
    errors: list[dict] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict = {"detail": detail}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


def field_errors(errors: list[dict]) -> JSONResponse:
    """422 naming every field; `errors` items have field, message and optionally where,
    line or index."""
    detail = "; ".join(_describe(error) for error in errors)
    return error_response(422, detail, errors)


def _describe(error: dict) -> str:
    where = []
    if error.get("line") is not None:
        where.append(f"line {error['line']}")
    if error.get("index") is not None:
        where.append(f"item {error['index']}")
    field, message = error.get("field"), error["message"]
    if field and not message.startswith(field):
        message = f"{field}: {message}"
    if error.get("where") in ("query", "path", "body", "header"):
        message = f"{error['where']} {message}"
    return f"{', '.join(where)}: {message}" if where else message


def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for error in exc.errors():
        where, *rest = [str(part) for part in error["loc"]] or ["request"]
        field = ".".join(rest) or None
        errors.append({"where": where, "field": field, "message": error["msg"]})
    return field_errors(errors)


def _input(_request: Request, exc: InputError) -> JSONResponse:
    return field_errors(
        [{"where": "body", "field": p.field, "message": p.message} for p in exc.problems]
    )


def _data(_request: Request, exc: DataError) -> JSONResponse:
    errors = [{"line": p.line, "field": p.column, "message": p.message} for p in exc.problems]
    detail = "; ".join(_describe(error) for error in errors)
    if exc.total > len(exc.problems):
        detail += f"; ... and {exc.total - len(exc.problems)} more problems"
    return error_response(422, detail, errors)


# check_params' problems start with the parameter's name ("folds must be ...").
TRAINING_FIELDS = {"folds": "folds", "version": "version", "models:": "models"}
TRAINING_FIELDS |= {"metric": "metric", "sample": "sample", "calibrate": "calibrate"}


def _training(_request: Request, exc: TrainingError) -> JSONResponse:
    errors = []
    for problem in exc.problems:
        field = TRAINING_FIELDS.get(problem.split(" ", 1)[0])
        errors.append({"field": field, "message": problem})
    return field_errors(errors)


def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    return error_response(503, str(exc))


def _misconfigured(_request: Request, exc: SettingsError) -> JSONResponse:
    return error_response(503, f"the API is misconfigured: {exc}")


def _redis(_request: Request, exc: Exception) -> JSONResponse:
    return error_response(503, f"Redis is unavailable: {exc}")


def _refused_model(_request: Request, exc: ArtifactError) -> JSONResponse:
    # 409: the request is fine, the stored version conflicts with this deployment (damaged,
    # unsigned, or signed under another key); retrying does not help, retraining does.
    return error_response(409, str(exc))


def _body(_request: Request, exc: BodyProblem) -> JSONResponse:
    return error_response(
        exc.status_code, exc.detail, [{"where": "body", "field": None, "message": exc.detail}]
    )


def _problem(_request: Request, exc: Problem) -> JSONResponse:
    return error_response(exc.status, exc.detail, exc.errors, exc.headers)


def _denied(_request: Request, exc: AccessDenied) -> JSONResponse:
    """Core refused the caller's role (at the edge or inside a core call): 403."""
    return error_response(403, str(exc))


class InternalErrors:
    """ASGI middleware: anything no handler knows becomes a 500 JSON without a traceback
    (the traceback goes to the log)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                detail = f"internal error ({type(exc).__name__}); it has been logged"
                await error_response(500, detail)(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the handlers above on `app`."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(InputError, _input)
    app.add_exception_handler(DataError, _data)
    app.add_exception_handler(TrainingError, _training)
    app.add_exception_handler(DatabaseError, _unavailable)
    app.add_exception_handler(SettingsError, _misconfigured)
    app.add_exception_handler(ArtifactError, _refused_model)
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(AccessDenied, _denied)
    app.add_exception_handler(BodyProblem, _body)
    for kind in REDIS_ERRORS:
        if kind is not OSError:
            app.add_exception_handler(kind, _redis)
    app.add_middleware(InternalErrors)
