"""`create_app`: the FastAPI application of `sevtriage serve`."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from sevtriage import __version__
from sevtriage.api.batcher import Batcher
from sevtriage.api.engines import Engines, settle_heap
from sevtriage.api.errors import install_error_handlers
from sevtriage.api.fastpath import PATH, ClassifyFastPath
from sevtriage.api.generation import SharedGeneration
from sevtriage.api.limits import BodyLimitMiddleware
from sevtriage.api.metrics import Metrics, MetricsMiddleware, WorkerHeaderMiddleware
from sevtriage.api.routes import classify, ops, sla
from sevtriage.errors import SevtriageError
from sevtriage.settings import Settings
from sevtriage.types import Decision, Ticket

if TYPE_CHECKING:
    from sevtriage.triage import Triage

log = logging.getLogger("sevtriage.api")
DecisionSink = Callable[[Sequence[tuple[Ticket, Decision]]], None]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_pending: set[asyncio.Task[None]] = set()
FOLLOW_IDLE_SECONDS = 0.5


def _install_sighup(app: FastAPI) -> bool:
    """SIGHUP reloads rules and model, like `POST /v1/admin/reload`. Only possible in the main thread."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
        return False
    loop = asyncio.get_running_loop()

    def on_hangup() -> None:
        async def reload() -> None:
            try:
                await ops.reload_engines(app, "sighup")
            except Exception as error:  # reported and counted in reload_engines; keep serving
                log.error("SIGHUP reload failed: %s", error)

        task = loop.create_task(reload())
        _pending.add(task)  # keep a reference until it finishes (the loop holds only a weak one)
        task.add_done_callback(_pending.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    return True


async def _keep_following(engines: Engines) -> None:
    """An idle worker also follows the others' reloads (a busy one notices them on its next request)."""
    while True:
        await asyncio.sleep(FOLLOW_IDLE_SECONDS)
        engines.current  # noqa: B018 - reading it is the check (`Engines.current`)


def create_app(
    settings: Settings,
    triage: Triage | None = None,
    *,
    shared: SharedGeneration | None = None,
    fast_classify: bool = True,
) -> FastAPI:
    """The service: classification, SLA deadlines, health, metrics, reload; plus the review desk when enabled.

    `triage` serves if given (tests, embedding); otherwise rules, model and policy load from the settings.
    `shared` makes the app one worker process of several (`sevtriage.api.workers`): it follows their reloads
    and names itself in an ``X-Sevtriage-Worker`` header. `fast_classify=False` leaves every ``POST /v1/classify``
    to FastAPI (`sevtriage.api.fastpath` answers the well-formed ones otherwise; tests compare the two).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.token is None:
            log.warning("no API token configured (SEVTRIAGE_API_TOKEN): the API is open, so serve on loopback only")
        hup = _install_sighup(app)
        loaded = app.state.engines.current
        log.info(
            "sevtriage %s serving rules %s, model %s%s",
            __version__,
            loaded.rules_version,
            loaded.model_version,
            "; SIGHUP reloads them" if hup else "",
        )
        del loaded  # this frame lives as long as the app: it must not keep the set a reload replaces
        worker = getattr(app.state, "alert_worker", None)
        if worker is not None:
            worker.start()
        follow = asyncio.create_task(_keep_following(app.state.engines)) if shared is not None else None
        settle_heap()  # everything is loaded: keep the full collections off it (`settle_heap`)
        yield
        if follow is not None:
            follow.cancel()
        if worker is not None:
            worker.stop()
        if hup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

    app = FastAPI(
        title="sevtriage",
        version=__version__,
        description="Severity triage for support requests: rules first, a text model when unsure, SLA deadlines.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engines = Engines(settings, triage, shared)
    app.state.metrics = Metrics()
    app.state.decision_sinks = []
    app.state.batcher = Batcher(
        app.state.engines,
        after=lambda pairs: classify.run_sinks(app, pairs),
        has_sinks=lambda: bool(app.state.decision_sinks),
    )
    install_error_handlers(app)
    app.include_router(classify.router)
    app.include_router(sla.router)
    app.include_router(ops.open_router)
    app.include_router(ops.router)
    # Outermost last: the size limit applies before anything reads the body, and metrics time everything.
    if fast_classify:
        app.add_middleware(ClassifyFastPath, route=_route(classify.router.routes, PATH, "POST"))
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    if shared is not None:
        app.add_middleware(WorkerHeaderMiddleware)

    if settings.store_url and settings.review_enabled and _review_available():
        from sevtriage.review.web import mount_review

        mount_review(app, settings)
        _mount_alerts(app, settings)
    return app


def _route(routes: Sequence[BaseRoute], path: str, method: str) -> BaseRoute:
    for route in routes:
        if isinstance(route, APIRoute) and route.path == path and method in (route.methods or ()):
            return route
    raise LookupError(f"no route {method} {path}")


def _mount_alerts(app: FastAPI, settings: Settings) -> None:
    """Alerts in the service when a channel is configured: checked every alerts_check_seconds and at once after
    each stored decision (the sink runs after the desk's, so the request is in the store)."""
    from sevtriage.watch.alerts import Alerts, AlertWorker, channels_from

    channels = channels_from(settings)
    desk = getattr(app.state, "review_desk", None)
    if not channels or desk is None:
        return
    worker = AlertWorker(
        Alerts(desk.store, desk.policy, settings, channels, clock=desk.clock), settings.alerts_check_seconds
    )
    app.state.alert_worker = worker
    app.state.decision_sinks.append(worker.sink)


def _review_available() -> bool:
    try:
        return importlib.util.find_spec("sevtriage.review.web") is not None
    except (ImportError, SevtriageError):
        return False
