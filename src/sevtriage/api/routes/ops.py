"""GET /healthz, GET /metrics and POST /v1/admin/reload."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse

from sevtriage.api.deps import engines_of, metrics_of, require_token, settings_of
from sevtriage.api.engines import Loaded
from sevtriage.api.errors import ApiError
from sevtriage.api.schemas import ERROR_RESPONSES
from sevtriage.errors import SevtriageError
from sevtriage.resources import default_rules_path
from sevtriage.settings import Settings

log = logging.getLogger("sevtriage.api")
open_router = APIRouter(tags=["operations"])
router = APIRouter(dependencies=[Depends(require_token)], tags=["operations"])


@open_router.get("/healthz", summary="Liveness and what is in service")
async def healthz(request: Request) -> JSONResponse:
    """Always open (no token), for load balancers; says which rules and model versions serve."""
    loaded = engines_of(request).current
    return JSONResponse(
        {
            "status": "ok",
            "rules_version": loaded.rules_version,
            "model_version": loaded.model_version,
            "generation": loaded.generation,
            "pid": os.getpid(),  # which worker answered, when several serve one port (`serve --workers`)
            "uptime_seconds": round(time.time() - metrics_of(request).started, 3),
        }
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse, responses=ERROR_RESPONSES)
def metrics(request: Request) -> PlainTextResponse:
    loaded = engines_of(request).current
    info = {"rules_version": loaded.rules_version, "model_version": loaded.model_version or ""}
    batcher = request.app.state.batcher
    text = metrics_of(request).render(info, batcher.batches, batcher.batched)
    return PlainTextResponse(text + _rulesets_live(), media_type="text/plain; version=0.0.4; charset=utf-8")


def _rulesets_live() -> str:
    """Rule sets registered in durable-rules in this process: reloads with new rules add one, the cap bounds them."""
    try:
        from sevtriage.rules.engine_durable import MAX_LIVE_RULESETS, live_rulesets
    except ImportError:  # durable-rules missing: the python engine serves, nothing is registered
        return ""
    name = "sevtriage_rulesets_live"
    return (
        f"# HELP {name} Rule sets registered in the durable-rules engine (at most {MAX_LIVE_RULESETS} "
        "unless old engines still use more)\n"
        f"# TYPE {name} gauge\n{name} {live_rulesets()}\n"
    )


async def reload_engines(request_app: object, actor: str = "api-token") -> dict[str, object]:
    """Reload rules, model and policy in a worker thread and swap them in; the old set serves meanwhile.

    `actor` says who asked (a desk user's name, "api-token", "sighup", "cli"): with a decision store, every
    reload, applied or refused, is recorded with it and the rule file's SHA-256 (the Rules page shows them).
    """
    engines = request_app.state.engines  # type: ignore[attr-defined]
    metrics_ = request_app.state.metrics  # type: ignore[attr-defined]
    try:
        loaded = await run_in_threadpool(engines.reload)
    except SevtriageError as error:
        metrics_.count("reload_failures")
        log.error("reload refused, the previous rules and model stay in service: %s", error)
        await _audit(request_app, actor, None, str(error))
        raise ApiError(
            422, f"reload refused, the previous rules and model stay in service: {error}", code="reload_failed"
        ) from None
    metrics_.count("reloads")
    log.info(
        "reloaded: rules %s, model %s (generation %d), asked by %s",
        loaded.rules_version,
        loaded.model_version,
        loaded.generation,
        actor,
    )
    await _audit(request_app, actor, loaded, None)
    return {
        "status": "reloaded",
        "rules_version": loaded.rules_version,
        "model_version": loaded.model_version,
        "generation": loaded.generation,
    }


def _text_sha256(path: Path) -> str | None:
    """SHA-256 of a rule file's text as the rule loader reads it (its `Rulebook.digest`); None if unreadable."""
    try:
        return hashlib.sha256(path.read_text(encoding="utf-8").encode("utf-8")).hexdigest()
    except (OSError, UnicodeDecodeError):
        return None


async def _audit(request_app: object, actor: str, loaded: Loaded | None, refused: str | None) -> None:
    """Record a reload in the decision store's audit history (when the service has one)."""
    desk = getattr(request_app.state, "review_desk", None)  # type: ignore[attr-defined]
    if desk is None:
        return
    settings: Settings = request_app.state.settings  # type: ignore[attr-defined]
    version: str | None
    digest: str | None
    if loaded is not None:
        book = loaded.triage.rule_stage.book
        version, digest, path = loaded.rules_version, book.digest, book.path
    else:
        file = settings.rules_path or default_rules_path()
        version, digest, path = None, _text_sha256(Path(file)), str(file)
    try:
        await run_in_threadpool(
            desk.store.record_reload,
            actor=actor,
            outcome="applied" if loaded is not None else "refused",
            rules_version=version,
            rules_sha256=digest,
            rules_path=path,
            message=refused,
        )
    except Exception as error:  # the reload itself stands; say loudly that its record is missing
        log.error("reload by %s not recorded in the audit history: %s", actor, error)


@router.post("/v1/admin/reload", summary="Reload rules and model", responses=ERROR_RESPONSES)
async def reload(request: Request) -> JSONResponse:
    """Load the rules, model and SLA policy files again and swap them in atomically (also on SIGHUP)."""
    # With a token configured only its holder gets here; without one the API is open (loopback only).
    actor = "api-token" if settings_of(request).token else "api"
    return JSONResponse(await reload_engines(request.app, actor))
