"""JSON bodies read defensively: hostile input gets a 4xx naming the field or the body.

Python's json module, as FastAPI uses it, raises RecursionError on deeply nested input and
ValueError on integers past 4,300 digits (FastAPI then answers a bare 400), and it accepts
NaN and Infinity. Here the body is parsed with those cases turned into answers: too deep is
a 422 naming the body; an over-long number or a NaN/Infinity literal becomes a value that
fails validation with its field named; too large a body is a 413 before it is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A JSON body of one client or a training request is a few hundred bytes: any body is
# refused past MAX_BODY_BYTES, except on the paths of LARGE_BODIES (their own limits).
MAX_BODY_BYTES = 1024 * 1024
MiB = 1024 * 1024
# Longer numbers are not parsed at all: every bound here has fewer digits.
MAX_NUMBER_DIGITS = 30


class BodyProblem(HTTPException):
    """A body that cannot be read: status, a plain detail and the field (or "body")."""

    def __init__(self, status: int, detail: str, field: str = "body"):
        self.field = field
        super().__init__(status_code=status, detail=detail)


class Unreadable:
    """A JSON value kept out of the data: a number too long to parse, or NaN/Infinity.
    Validation refuses it like any other wrong value, naming its field; its repr says what
    it was."""

    def __init__(self, description: str):
        self.description = description

    def __repr__(self) -> str:
        return self.description

    __str__ = __repr__


def _number(text: str) -> int | Unreadable:
    digits = len(text.removeprefix("-"))
    if digits > MAX_NUMBER_DIGITS:
        return Unreadable(f"a number of {digits:,} digits")
    return int(text)


def _decimal(text: str) -> float | Unreadable:
    if len(text) > MAX_NUMBER_DIGITS + 10:
        return Unreadable(f"a number of {len(text):,} characters")
    return float(text)


def _constant(name: str) -> Unreadable:
    return Unreadable(f"{name} (not a number JSON allows)")


def parse_json(data: bytes) -> Any:
    """A JSON document from bytes; BodyProblem when it is too deep or not UTF-8.

    NaN and Infinity literals, and integers past Python's 4,300-digit limit, become
    Unreadable values. json.JSONDecodeError passes through (FastAPI answers it with a 422
    giving the position)."""
    try:
        try:
            return json.loads(data, parse_constant=_constant)
        except json.JSONDecodeError:
            raise
        except ValueError:  # an integer past the digit limit: parse again, number by number
            return json.loads(
                data, parse_int=_number, parse_float=_decimal, parse_constant=_constant
            )
    except RecursionError:
        raise BodyProblem(422, "the body is nested too deeply to be read as JSON") from None
    except UnicodeDecodeError as exc:
        raise BodyProblem(422, f"the body is not UTF-8 text (byte {exc.start} is not)") from None


class SafeJsonRequest(Request):
    """A request whose .json() is parse_json."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class SafeJsonRoute(APIRoute):
    """An APIRoute whose body is parsed by parse_json."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(SafeJsonRequest(request.scope, request.receive))

        return handle


class BodyLimit:
    """ASGI middleware: a request body larger than its path's limit is answered 413 (JSON,
    naming the body and the limit) before it is read, or as soon as the bytes received pass
    the limit when no Content-Length announced them."""

    def __init__(self, app: ASGIApp, limits: Mapping[str, int], default: int = MAX_BODY_BYTES):
        self.app, self.limits, self.default = app, dict(limits), default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isascii() and declared.isdecimal() and int(declared[:20]) > limit:
            await too_large(limit)(scope, receive, send)
            return
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyProblem(413, too_large_detail(limit))
            return message

        await self.app(scope, counting, send)


def too_large_detail(limit: int) -> str:
    return f"the body is larger than {limit / MiB:g} MiB, the limit of this path"


def too_large(limit: int) -> JSONResponse:
    detail = too_large_detail(limit)
    errors = [{"where": "body", "field": None, "message": detail}]
    return JSONResponse({"detail": detail, "errors": errors}, status_code=413)
