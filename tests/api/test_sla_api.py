"""/v1/sla/...: the SLA status of stored requests, the waiting and breached lists, recording responses.

Served for real by uvicorn over a real SQLite file and a real PostgreSQL database; decisions come from the real
pipeline through POST /v1/classify.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sevtriage.api import create_app
from sevtriage.settings import Settings
from sevtriage.triage import Triage
from tests.api.test_api import TOKEN, ThreadServer
from tests.databases import url  # noqa: F401 - the SQLite / PostgreSQL store fixture

HEADERS = {"Authorization": f"Bearer {TOKEN}"}
OUTAGE = "Production is down since this morning, nobody can log in, all users are affected."


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load()


@pytest.fixture
def client(url: str, triage: Triage) -> Iterator[httpx.Client]:  # noqa: F811
    app = create_app(Settings.load(store_url=url, api_token=TOKEN, secret_key="s" * 40), triage)
    with ThreadServer(app) as server, httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as http:
        yield http


def _classify(client: httpx.Client, request_id: str, received: datetime) -> dict[str, Any]:
    payload = {"id": request_id, "body": OUTAGE, "plan": "premier", "received_at": received.isoformat()}
    answer = client.post("/v1/classify", json=payload)
    assert answer.status_code == 200, answer.text
    decision: dict[str, Any] = answer.json()
    # Premier sets an initial target for every severity, so each stored request is on the clock.
    assert decision["deadlines"]["initial_response"]["due"] is not None
    return decision


def test_a_request_answered_in_time_leaves_the_waiting_list_and_one_waiting_too_long_is_breached(
    client: httpx.Client,
) -> None:
    now = datetime.now(UTC)
    _classify(client, "OLD-1", now - timedelta(days=10))  # longer than any Premier target, even 2 business days
    _classify(client, "NEW-1", now - timedelta(minutes=1))
    waiting = client.get("/v1/sla/waiting").json()
    assert {i["id"] for i in waiting["items"]} == {"OLD-1", "NEW-1"}
    assert waiting["items"][0]["id"] == "OLD-1"  # breached first
    breached = client.get("/v1/sla/breached").json()
    assert [i["id"] for i in breached["items"]] == ["OLD-1"]
    assert breached["items"][0]["initial_response"]["state"] == "breached"

    answered = client.post("/v1/sla/requests/NEW-1/responses", json={"by": "support@example.com", "ref": "<r1@x>"})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert (body["waiting"], body["breached"], body["initial_response"]["state"]) == (False, False, "met")
    assert body["next_update"]["state"] in ("due", "no_target")
    assert [i["id"] for i in client.get("/v1/sla/waiting").json()["items"]] == ["OLD-1"]

    late = client.post("/v1/sla/requests/OLD-1/responses", json={"by": "alice", "at": now.isoformat()})
    assert late.json()["initial_response"]["state"] == "breached"  # answered, but late: still a breach
    assert client.get("/v1/sla/waiting").json()["count"] == 0
    assert [i["id"] for i in client.get("/v1/sla/breached").json()["items"]] == ["OLD-1"]
    client.post("/v1/sla/requests/OLD-1/resolved", json={"by": "alice"})
    assert client.get("/v1/sla/breached").json()["count"] == 0
    assert {i["id"] for i in client.get("/v1/sla/open").json()["items"]} == {"NEW-1"}


def test_one_requests_status_lists_its_events(client: httpx.Client) -> None:
    received = datetime.now(UTC) - timedelta(hours=1)
    decision = _classify(client, "T-1", received)
    client.post("/v1/sla/requests/T-1/responses", json={"by": "support@example.com", "ref": "<r1@x>"})
    again = client.post("/v1/sla/requests/T-1/responses", json={"by": "support@example.com", "ref": "<r1@x>"})
    assert again.status_code == 200
    status = client.get("/v1/sla/requests/T-1").json()
    assert status["severity"] == decision["severity"]
    assert [(e["kind"], e["by"], e["ref"]) for e in status["events"]] == [
        ("received", "sevtriage", None),
        ("response", "support@example.com", "<r1@x>"),
    ]
    assert datetime.fromisoformat(status["events"][0]["at"]) == received


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "message"),
    [
        ("GET", "/v1/sla/requests/nope", None, 404, "no stored request has the id 'nope'"),
        ("POST", "/v1/sla/requests/nope/responses", {"by": "x"}, 404, "no stored request has the id 'nope'"),
        (
            "POST",
            "/v1/sla/requests/T-1/responses",
            {"by": "x", "at": "2026-11-27 10:00"},
            422,
            "at must be an ISO-8601 instant with a UTC offset, e.g. 2026-11-27T16:50+01:00",
        ),
        ("POST", "/v1/sla/requests/T-1/responses", {"by": ""}, 422, "the request does not match the schema (body.by)"),
        (
            "POST",
            "/v1/sla/requests/T-1/responses",
            {"by": "x", "at": "2000-01-01T00:00Z"},
            422,
            "a response of T-1 at 2000-01-01T00:00:00+00:00 would be before the request arrived",
        ),
    ],
)
def test_bad_calls_say_what_is_wrong(
    client: httpx.Client, method: str, path: str, payload: dict[str, Any] | None, status: int, message: str
) -> None:
    _classify(client, "T-1", datetime.now(UTC) - timedelta(hours=1))
    answer = client.request(method, path, json=payload)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]["message"]


def test_without_a_store_the_sla_routes_say_how_to_switch_it_on(triage: Triage) -> None:
    app = create_app(Settings.load(store_url="", api_token=TOKEN), triage)
    with ThreadServer(app) as server, httpx.Client(base_url=server.url, headers=HEADERS) as http:
        answer = http.get("/v1/sla/waiting")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "no_store"
    assert "set store_url (SEVTRIAGE_STORE_URL)" in answer.json()["error"]["message"]
    with ThreadServer(app) as server, httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/v1/sla/waiting").status_code == 401
