"""The fast path of POST /v1/classify answers byte for byte as FastAPI's route does (`sevtriage.api.fastpath`).

Two apps over the same rules and model, one with the fast path and one without, each served by a real uvicorn;
every request goes to both and the answers must be equal: status, content type, the headers that carry meaning,
and the body's bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from sevtriage.api import create_app
from sevtriage.api.fastpath import plain_fields
from sevtriage.api.schemas import TicketIn
from sevtriage.settings import Settings
from sevtriage.triage import Triage
from tests.api.test_api import AUTH, REQUEST, TOKEN, ThreadServer

ROOT = Path(__file__).resolve().parents[2]
JSON = "application/json"
MEANINGFUL_HEADERS = ("content-type", "content-length", "www-authenticate", "retry-after")


def _corpus(limit: int) -> list[dict[str, Any]]:
    """Real requests from the training corpus, with a fixed arrival so both servers decide the same deadlines."""
    records: list[dict[str, Any]] = []
    for path in sorted((ROOT / "data" / "corpus").glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and len(records) < limit:
                record = json.loads(line)
                n = len(records)
                records.append(
                    {
                        "id": f"C-{n}" if n % 4 else n,
                        "subject": record.get("subject") or "",
                        "body": record.get("body") or "",
                        "received_at": "2026-11-27T16:30:00+01:00",
                        "plan": ("premier", "standard", None)[n % 3],
                    }
                )
    assert len(records) == limit, "the corpus has fewer requests than the test needs"
    return records


def _apps(triage: Triage, **settings: Any) -> tuple[FastAPI, FastAPI]:
    config = Settings.load(store_url="", api_token=TOKEN, max_body_bytes=8192, **settings)
    return create_app(config, triage), create_app(config, triage, fast_classify=False)


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load()


@pytest.fixture(scope="module")
def clients(triage: Triage) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    fast, plain = _apps(triage)
    with (
        ThreadServer(fast) as one,
        ThreadServer(plain) as other,
        httpx.Client(base_url=one.url, timeout=30) as a,
        httpx.Client(base_url=other.url, timeout=30) as b,
    ):
        yield a, b


def _same(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code, (a.text, b.text)
    for name in MEANINGFUL_HEADERS:
        assert a.headers.get(name) == b.headers.get(name), name
    assert a.content == b.content


def _post_both(clients: tuple[httpx.Client, httpx.Client], **kwargs: Any) -> httpx.Response:
    fast, plain = clients
    answer = fast.post("/v1/classify", **kwargs)
    _same(answer, plain.post("/v1/classify", **kwargs))
    return answer


def _fast_answers(client: httpx.Client) -> int:
    for line in client.get("/metrics", headers=AUTH).text.splitlines():
        if line.startswith("sevtriage_classify_fast_path_total "):
            return int(line.split()[1])
    raise AssertionError("no fast path counter in /metrics")


def test_decisions_are_byte_identical_and_taken_by_the_fast_path(clients: tuple[httpx.Client, httpx.Client]) -> None:
    before = _fast_answers(clients[0])
    requests = _corpus(120)
    for request in requests:
        answer = _post_both(clients, json=request, headers=AUTH)
        assert answer.status_code == 200, answer.text
    assert _fast_answers(clients[0]) - before == len(requests)
    assert _fast_answers(clients[1]) == 0


RAW = {**REQUEST, "id": "R-1"}
ARRIVAL = "2026-11-30T07:59:00+01:00"


@pytest.mark.parametrize(
    "body",
    [
        {**RAW, "customer": "ACME", "channel": "mail", "tags": ["a", {"b": None}], "n": 1.5},  # carried through
        {**RAW, "subject": None, "plan": None},  # null: defaults
        {"id": "R-2", "body": "Login fails for everyone since the update.", "received_at": ARRIVAL},  # missing fields
        {"id": "R-3", "subject": "Rapporten   ", "body": "", "received_at": ARRIVAL},
        {"id": 77, "subject": "Numeric id", "body": "Payroll export crashes.", "received_at": ARRIVAL},
        {"id": "  R-4  ", "body": "Id with spaces around it.", "received_at": ARRIVAL},
        {**RAW, "id": "R-5", "environment": "prod\ud800", "body": "A lone \udfff surrogate in the text"},
        {"plan": "premier", **RAW, "id": "R-6"},  # another key order
        {**RAW, "id": "R-8", "plan": " "},
        {**RAW, "id": "R-9", "_private": 1},  # pydantic keeps it; the fast path leaves such names to pydantic
    ],
)
def test_accepted_variants_are_identical(clients: tuple[httpx.Client, httpx.Client], body: dict[str, Any]) -> None:
    answer = _post_both(clients, content=json.dumps(body), headers={**AUTH, "content-type": JSON})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "body",
    [
        {**RAW, "id": "N-1", "received_at": None, "customer": "ACME"},
        {"id": "N-2", "body": "Login fails for everyone since the update."},
        {"id": 78, "subject": "Reports are slow", "received_at": "  "},
    ],
)
def test_arrival_defaults_to_now_on_both_paths(
    clients: tuple[httpx.Client, httpx.Client], body: dict[str, Any]
) -> None:
    """Without an arrival both paths take the time of the call, so only that and the deadlines may differ."""
    fast, plain = clients
    a = fast.post("/v1/classify", json=body, headers=AUTH)
    b = plain.post("/v1/classify", json=body, headers=AUTH)
    assert (a.status_code, b.status_code) == (200, 200), a.text
    one, other = a.json(), b.json()
    for decision in (one, other):
        arrived = datetime.fromisoformat(decision.pop("received_at"))
        assert abs((datetime.now(UTC) - arrived).total_seconds()) < 60
        assert decision.pop("deadlines").keys() == {"initial_response", "ongoing_response"}
    assert one == other


@pytest.mark.parametrize(
    "content",
    [
        b'{"id": "x", ',  # not JSON
        b"[1, 2]",  # not an object
        b'"text"',
        b"null",
        b"",
        b"\xff\xfe{",  # not UTF-8
        json.dumps({"subject": "no id"}).encode(),
        json.dumps({**RAW, "id": True}).encode(),
        json.dumps({**RAW, "id": 1.5}).encode(),
        json.dumps({**RAW, "id": [1]}).encode(),
        json.dumps({**RAW, "id": None}).encode(),
        json.dumps({**RAW, "subject": 5}).encode(),
        json.dumps({**RAW, "body": ["x"]}).encode(),
        json.dumps({**RAW, "received_at": 20261127}).encode(),
        json.dumps({**RAW, "plan": False}).encode(),
        json.dumps({**RAW, "id": ""}).encode(),  # the intake's refusals (422 from the route)
        json.dumps({**RAW, "id": "T-\ud800"}).encode(),
        json.dumps({**RAW, "subject": "", "body": " "}).encode(),
        json.dumps({**RAW, "received_at": "yesterday"}).encode(),
        json.dumps({**RAW, "received_at": "2026-11-27T16:30:00"}).encode(),
        json.dumps({**RAW, "received_at": "9999-12-31T10:00:00+00:00"}).encode(),
        json.dumps({**RAW, "plan": "platinum"}).encode(),
        json.dumps({**RAW, "body": "x" * 9000}).encode(),  # over the size limit
    ],
)
def test_refusals_are_identical(clients: tuple[httpx.Client, httpx.Client], content: bytes) -> None:
    answer = _post_both(clients, content=content, headers={**AUTH, "content-type": JSON})
    assert answer.status_code in (400, 413, 422), answer.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
    ],
)
@pytest.mark.parametrize("content", [json.dumps(RAW).encode(), b'{"id": ', b"[1]"])
def test_authentication_failures_are_identical(
    clients: tuple[httpx.Client, httpx.Client], headers: dict[str, str], content: bytes
) -> None:
    answer = _post_both(clients, content=content, headers={**headers, "content-type": JSON})
    assert answer.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "text/plain"},
        {"content-type": "application/json; charset=utf-8"},
        {"content-type": "application/problem+json"},
        {"content-type": "APPLICATION/JSON"},
        {},
    ],
)
def test_other_content_types_are_identical(clients: tuple[httpx.Client, httpx.Client], headers: dict[str, str]) -> None:
    answer = _post_both(clients, content=json.dumps({**RAW, "id": "CT-1"}).encode(), headers={**AUTH, **headers})
    assert answer.status_code in (200, 422)


def test_a_chunked_body_is_identical(clients: tuple[httpx.Client, httpx.Client]) -> None:
    def chunks() -> Iterator[bytes]:
        yield json.dumps({**RAW, "id": "CH-1"}).encode()

    fast, plain = clients
    answer = fast.post("/v1/classify", content=chunks(), headers={**AUTH, "content-type": JSON})
    _same(answer, plain.post("/v1/classify", content=chunks(), headers={**AUTH, "content-type": JSON}))
    assert answer.status_code == 200


def test_not_stored_is_identical(triage: Triage) -> None:
    """A decision a sink did not keep is a 503 with Retry-After on both paths (and the sink saw it on both)."""
    seen: list[str] = []

    def broken_sink(pairs: Any) -> None:
        seen.extend(ticket.id for ticket, _ in pairs)
        raise OSError("disk full")

    fast, plain = _apps(triage)
    for app in (fast, plain):
        app.state.decision_sinks.append(broken_sink)
    with ThreadServer(fast) as one, ThreadServer(plain) as other:
        a = httpx.post(f"{one.url}/v1/classify", json=RAW, headers=AUTH, timeout=30)
        b = httpx.post(f"{other.url}/v1/classify", json=RAW, headers=AUTH, timeout=30)
        metrics = httpx.get(f"{one.url}/metrics", headers=AUTH, timeout=30).text.splitlines()
    _same(a, b)
    assert a.status_code == 503 and a.headers["retry-after"] == "1"
    assert seen == ["R-1", "R-1"]
    assert 'sevtriage_http_requests_total{method="POST",route="/v1/classify",status="503"} 1' in metrics


def test_without_a_token_configured_the_fast_path_serves(triage: Triage) -> None:
    config = Settings.load(store_url="")
    fast, plain = create_app(config, triage), create_app(config, triage, fast_classify=False)
    with (
        ThreadServer(fast) as one,
        ThreadServer(plain) as other,
        httpx.Client(base_url=one.url, timeout=30) as a,
        httpx.Client(base_url=other.url, timeout=30) as b,
    ):
        for request in _corpus(10):
            _post_both((a, b), json=request)
        assert _fast_answers(a) == 10


def test_metrics_label_the_fast_path_with_the_route(clients: tuple[httpx.Client, httpx.Client]) -> None:
    fast, _ = clients
    fast.post("/v1/classify", json={**RAW, "id": "M-1"}, headers=AUTH)
    lines = fast.get("/metrics", headers=AUTH).text.splitlines()
    assert any(
        line.startswith('sevtriage_http_requests_total{method="POST",route="/v1/classify",status="200"}')
        for line in lines
    )


def test_the_route_keeps_its_documentation(clients: tuple[httpx.Client, httpx.Client]) -> None:
    fast, plain = clients
    assert fast.get("/openapi.json").json() == plain.get("/openapi.json").json()
    operation = fast.get("/openapi.json").json()["paths"]["/v1/classify"]["post"]
    assert operation["requestBody"]["content"][JSON]["schema"]["$ref"].endswith("/TicketIn")


@pytest.mark.parametrize(
    "data",
    [
        REQUEST,
        {"id": 5},
        {"id": 10**30, "subject": None},
        {"id": "x", "extra": {"nested": [1, 2]}, "subject": "s", "more": None},
        {"extra": 1, "id": "x"},
        {"id": "x", "received_at": "", "plan": ""},
        {"id": "\ud800"},
        {"id": True},
        {"id": 1.0},
        {"id": None},
        {"subject": "s"},
        {"id": "x", "body": 1},
        {"id": "x", "plan": []},
        {"id": "x", "_hidden": 1},
        {"id": "x", "model_config": 1},
        [],
        "x",
        None,
    ],
)
def test_plain_fields_agree_with_the_schema(data: Any) -> None:
    """Where `plain_fields` accepts, pydantic accepts and dumps the same; where pydantic refuses, it refuses."""
    try:
        expected: dict[str, Any] | None = TicketIn.model_validate(data).model_dump()
    except ValidationError:
        expected = None
    got = plain_fields(data)
    if got is not None:
        assert got == expected
        assert list(got) == list(expected or {})
    else:
        assert expected is None or any(key.startswith("_") for key in data)
