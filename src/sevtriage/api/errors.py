"""The one JSON error shape of the HTTP API, used by every route (the review desk's JSON routes too).

Every error, whatever raised it, is answered as::

    {"error": {"status": 422, "code": "validation_error", "message": "...",
               "details": [{"field": "body.id", "message": "..."}]}}

Use `error_response(status, code, message)` to answer with it, or raise `ApiError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sevtriage.errors import ConfigError, InputError, SevtriageError

log = logging.getLogger("sevtriage.api")

_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answered with the JSON error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Sequence[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.details = [dict(d) for d in details]
        self.headers = dict(headers or {})


def error_body(status: int, code: str, message: str, details: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The error record (what `error_response` sends)."""
    return {"error": {"status": status, "code": code, "message": message, "details": [dict(d) for d in details]}}


def error_response(
    status: int,
    code: str | None,
    message: str,
    details: Sequence[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A response with the one error shape."""
    return JSONResponse(
        error_body(status, code or _CODES.get(status, "error"), message, details),
        status_code=status,
        headers=dict(headers or {}),
    )


def _field(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}; see /docs for the API"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}; see /docs for the API"
    return error_response(exc.status_code, None, message, headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI reads and validates the body before it runs the route's dependencies, so a request without the
    # token would learn from a 422 what the API accepts. Authentication comes first: check it here as well.
    refused = _authentication_refused(request)
    if refused is not None:
        return refused
    # The offending input is not echoed back: it may be a long request text.
    details = [{"field": _field(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        message = "the request body is not valid JSON"
    else:
        fields = ", ".join(d["field"] for d in details[:5])
        message = f"the request does not match the schema ({fields}); see /docs"
    return error_response(422, "validation_error", message, details)


# Route dependency -> the plain check behind it (run again here before a body is judged invalid).
_AUTHENTICATORS: dict[Callable[..., Any], Callable[[Request], None]] = {}


def authenticator(check: Callable[[Request], None]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a route dependency as the authentication `check`, which must pass before a body is judged invalid."""

    def mark(dependency: Callable[..., Any]) -> Callable[..., Any]:
        _AUTHENTICATORS[dependency] = check
        return dependency

    return mark


def _authentication_refused(request: Request) -> JSONResponse | None:
    """The 401 answer when the matched route's authentication check refuses the request, else None."""
    route = request.scope.get("route")
    for dependency in getattr(route, "dependencies", ()):
        check = _AUTHENTICATORS.get(getattr(dependency, "dependency", None))  # type: ignore[arg-type]
        if check is None:
            continue
        try:
            check(request)
        except ApiError as error:
            return error_response(error.status, error.code, error.message, error.details, error.headers)
    return None


async def _input_error(request: Request, exc: Exception) -> JSONResponse:
    status = 422 if isinstance(exc, InputError) else 500
    if isinstance(exc, ConfigError):
        log.error("configuration error: %s", exc)
    return error_response(status, None, str(exc))


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the server log; the client learns only that it was our fault.
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the one shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(SevtriageError, _input_error)
    app.add_exception_handler(Exception, _internal_error)
