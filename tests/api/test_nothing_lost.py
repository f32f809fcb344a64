"""Nothing answered and then lost: a service with a store answers 200 only for decisions it has stored.

Served for real by uvicorn over a real SQLite file and a real PostgreSQL database (issue 10, item 1).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from sevtriage.api import create_app
from sevtriage.settings import Settings
from sevtriage.store import DecisionStore
from sevtriage.store.schema import requests
from sevtriage.triage import Triage
from tests.api.test_api import TOKEN, ThreadServer
from tests.databases import url  # noqa: F401 - the SQLite / PostgreSQL store fixture

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
PILL = "poison-pill"
ARRIVAL = "2026-11-27T10:00:00+01:00"


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load()


def _refuse_pills(store_url: str) -> None:
    """Make the database itself refuse any request whose body holds PILL: a row only the database rejects."""
    with DecisionStore.open(store_url) as store, store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_pills BEFORE INSERT ON requests "
                    f"WHEN NEW.body LIKE '%{PILL}%' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
                )
            )
        else:
            conn.execute(text(f"ALTER TABLE requests ADD CONSTRAINT refuse_pills CHECK (body NOT LIKE '%{PILL}%')"))


def _stored_ids(store_url: str) -> set[str]:
    with DecisionStore.open(store_url) as store, store.engine.connect() as conn:
        return {row.id for row in conn.execute(select(requests.c.id))}


def _post(client: httpx.Client, path: str, payload: Any) -> httpx.Response:
    # json.dumps escapes a lone surrogate as \ud800, as a JavaScript client would send it.
    return client.post(path, content=json.dumps(payload), headers=HEADERS)


@pytest.fixture
def served(url: str, triage: Triage) -> Iterator[tuple[ThreadServer, str]]:  # noqa: F811
    _refuse_pills(url)
    app = create_app(Settings.load(store_url=url, api_token=TOKEN, secret_key="s" * 40), triage)
    with ThreadServer(app) as server:
        yield server, url


def _payloads() -> list[dict[str, Any]]:
    bodies = ["Nobody can log in since 8:00.", "Export to Excel fails with error 500.", "Typo in the menu."]
    payloads: list[dict[str, Any]] = []
    for i in range(96):
        payload: dict[str, Any] = {"id": f"C-{i:03d}", "body": bodies[i % 3], "received_at": ARRIVAL}
        kind = i % 8
        if kind == 1:
            payload["body"] += " lone \ud800 surrogate"
        elif kind == 2:
            payload["body"] += " nul \x00 byte"
            payload["environment"] = "prod\udfff"
        elif kind == 3:
            payload["body"] += f" {PILL}"
        elif kind == 4 and i % 16 == 4:
            payload["id"] = f"C-{i:03d}-" + "x" * 300
        payloads.append(payload)
    return payloads


def test_concurrent_requests_with_poisoned_ones_answer_200_exactly_for_what_is_stored(
    served: tuple[ThreadServer, str],
) -> None:
    server, store_url = served
    local = threading.local()
    clients: list[httpx.Client] = []

    def call(payload: dict[str, Any]) -> tuple[str, int, str | None, str]:
        if not hasattr(local, "client"):  # one keep-alive connection per thread
            local.client = httpx.Client(base_url=server.url, timeout=60)
            clients.append(local.client)
        response = _post(local.client, "/v1/classify", payload)
        return payload["id"], response.status_code, response.headers.get("retry-after"), response.text

    payloads = _payloads()
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(call, payloads))
    finally:
        for client in clients:
            client.close()
    answered = {request_id for request_id, status, _, _ in answers if status == 200}
    assert answered == _stored_ids(store_url)
    statuses = {status for _, status, _, _ in answers}
    assert statuses == {200, 422, 503}, answers
    for request_id, status, retry_after, body in answers:
        if PILL in json.dumps(next(p for p in payloads if p["id"] == request_id)):
            assert (status, retry_after) == (503, "1"), body
            assert json.loads(body)["error"]["code"] == "not_stored"
        elif len(request_id) > 200:
            assert status == 422
            assert "ids may have at most 200" in json.loads(body)["error"]["message"]
        else:
            assert status == 200, body
    assert len(answered) == 96 - 12 - 6


def test_stored_text_is_normalised_and_the_answer_says_what_was_stored(served: tuple[ThreadServer, str]) -> None:
    server, store_url = served
    with httpx.Client(base_url=server.url, timeout=60) as client:
        response = _post(client, "/v1/classify", {"id": "N-1", "body": "a\ud800b\x00c", "environment": "x\udfff"})
    assert response.status_code == 200, response.text
    with DecisionStore.open(store_url) as store:
        stored = store.get("N-1")
    assert (stored.body, stored.fields) == ("a\ufffdb\ufffdc", {"environment": "x\ufffd"})


def test_a_batch_with_a_request_the_database_refuses_keeps_its_neighbours(served: tuple[ThreadServer, str]) -> None:
    server, store_url = served
    batch = {
        "requests": [
            {"id": "B-1", "body": "Nobody can log in.", "received_at": ARRIVAL},
            {"id": "B-2", "body": f"Export fails {PILL}", "received_at": ARRIVAL},
            {"id": "B-3", "body": "Typo in the menu.", "received_at": ARRIVAL},
        ]
    }
    with httpx.Client(base_url=server.url, timeout=60) as client:
        response = _post(client, "/v1/classify/batch", batch)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [d["id"] for d in body["decisions"]] == ["B-1", "B-3"]
    assert [(r["index"], r["id"], r["retryable"]) for r in body["rejects"]] == [(1, "B-2", True)]
    assert "not stored" in body["rejects"][0]["reason"]
    assert _stored_ids(store_url) == {"B-1", "B-3"}
