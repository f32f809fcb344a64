"""The service keeps its long-lived objects out of Python's full collections (`sevtriage.api.engines.settle_heap`)."""

from __future__ import annotations

import gc
import weakref

import httpx

from sevtriage.api import create_app
from sevtriage.settings import Settings
from tests.api.test_api import ThreadServer


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
