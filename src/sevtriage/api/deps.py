"""Dependencies shared by the API routes: the bearer token check and the state of the app."""

from __future__ import annotations

import secrets

from fastapi import Request

from sevtriage.api.engines import Engines
from sevtriage.api.errors import ApiError, authenticator
from sevtriage.api.metrics import Metrics
from sevtriage.settings import Settings


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def engines_of(request: Request) -> Engines:
    engines: Engines = request.app.state.engines
    return engines


def metrics_of(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def check_token(request: Request) -> None:
    """With a configured token, every API call must carry ``Authorization: Bearer <token>``."""
    token = settings_of(request).token
    if token is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise ApiError(
            401,
            "this API needs a bearer token: send the header 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not secrets.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(
            401, "the bearer token is not valid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )


@authenticator(check_token)
async def require_token(request: Request) -> None:
    """`check_token` as a route dependency; `async` so that FastAPI runs it on the event loop, not in a worker
    thread that would wait for the interpreter lock while a batch is being classified."""
    check_token(request)
