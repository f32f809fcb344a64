"""Where the service's time goes: long-lived objects out of Python's full collections (`settle_heap`), and which
thread classifies and which stores (`sevtriage.api.batcher`)."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import httpx

from sevtriage.api import create_app
from sevtriage.settings import Settings
from tests.api.test_api import REQUEST, ThreadServer


def test_loaded_objects_are_frozen_and_a_reload_frees_the_old_set() -> None:
    app = create_app(Settings.load(store_url=""))
    old = weakref.ref(app.state.engines.current.triage)
    with ThreadServer(app) as running:
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # rules, model and the app: far more than the interpreter's own objects
        response = httpx.post(f"{running.url}/v1/admin/reload", timeout=60)
        assert response.status_code == 200, response.text
        assert app.state.engines.current.triage is not old()
        # Frozen objects are never collected: the replaced set must have been unfrozen to be freed.
        assert old() is None
        assert gc.get_freeze_count() > 10_000


def test_batches_are_classified_on_the_loop_and_stored_off_it() -> None:
    """Classification holds the interpreter lock anyway, so it runs on the event loop (no hand-off per batch); the
    sinks wait for a database, so they run in a worker thread and the loop keeps serving meanwhile."""
    import threading

    from sevtriage.triage import Triage

    classified_in: set[str] = set()
    stored_in: set[str] = set()

    class Watched(Triage):
        def classify_many(self, tickets: Any) -> Any:
            classified_in.add(threading.current_thread().name)
            return super().classify_many(tickets)

    app = create_app(Settings.load(store_url=""), Watched.load())
    with ThreadServer(app) as running:
        assert httpx.post(f"{running.url}/v1/classify", json=REQUEST, timeout=30).status_code == 200
        app.state.decision_sinks.append(lambda pairs: stored_in.add(threading.current_thread().name))
        assert httpx.post(f"{running.url}/v1/classify", json=REQUEST, timeout=30).status_code == 200
        loop_thread = running.thread.name
    assert classified_in == {loop_thread}
    assert stored_in and loop_thread not in stored_in
