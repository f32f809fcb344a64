"""The HTTP API, served for real by uvicorn on a loopback port and called over HTTP with httpx."""

from __future__ import annotations

import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from sevtriage.api import create_app
from sevtriage.api.errors import ApiError
from sevtriage.settings import Settings
from sevtriage.sla import SlaPolicy
from sevtriage.triage import Triage
from sevtriage.types import Ticket

TOKEN = "test-token-5b1e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REQUEST = {
    "id": "T-1",
    "subject": "Nikto sa nevie prihlásiť",
    "body": "Od rána nefunguje prihlásenie pre celú firmu, dochádzka stojí.",
    "received_at": "2026-11-27T16:30:00+01:00",
    "plan": "premier",
}
TEXTS = [
    "Production is down, nobody can log in.",
    "How do I export the attendance report to Excel?",
    "Reports are extremely slow, month close is blocked for all supervisors.",
    "Bolo by fajn mať tmavý režim.",
    "Jednomu uživateli nejde schválit dovolenou.",
    "After the import all October timesheets disappeared in production.",
    "Mzdový export do Pohody padá s chybou, účtárna nemôže uzavrieť mesiac.",
    "Typo in the English menu.",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ThreadServer:
    """uvicorn running `app` in a background thread on a free loopback port."""

    def __init__(self, app: FastAPI) -> None:
        self.port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load()


@pytest.fixture(scope="module")
def app(triage: Triage) -> FastAPI:
    settings = Settings.load(store_url="", api_token=TOKEN, max_batch=5, max_body_bytes=4096)
    app = create_app(settings, triage)

    @app.get("/v1/test-boom", include_in_schema=False)
    def boom() -> None:  # an internal error on purpose, to see it answered in the error shape
        raise RuntimeError("secret detail that must not leak")

    return app


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[ThreadServer]:
    with ThreadServer(app) as running:
        yield running


@pytest.fixture()
def client(server: ThreadServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=20) as http:
        yield http


def _assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"status", "code", "message", "details"}
    assert (error["status"], error["code"]) == (status, code)
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    return dict(error)


def test_healthz_is_open_and_names_versions(client: httpx.Client, triage: Triage) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["rules_version"] == triage.rules_version
    assert body["model_version"] == triage.model_version


def test_classify_one_matches_the_library(client: httpx.Client, triage: Triage) -> None:
    response = client.post("/v1/classify", json=REQUEST, headers=AUTH)
    assert response.status_code == 200, response.text
    ticket = Ticket(
        id="T-1",
        subject=REQUEST["subject"],
        body=REQUEST["body"],
        received_at=datetime.fromisoformat(REQUEST["received_at"]),
        plan="premier",
    )
    assert response.json() == triage.classify(ticket).to_dict()


def test_classify_defaults_arrival_to_now_and_plan_to_the_policy(client: httpx.Client, triage: Triage) -> None:
    before = datetime.now().astimezone()
    body = client.post("/v1/classify", json={"id": 7, "body": "Ako pridám zamestnanca?"}, headers=AUTH).json()
    assert body["id"] == "7"
    assert triage.sla is not None
    assert body["plan"] == triage.sla.default_plan
    assert datetime.fromisoformat(body["received_at"]) >= before.replace(microsecond=0)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({**REQUEST, "received_at": "2026-11-27T16:30"}, "naive received_at '2026-11-27T16:30' has no UTC offset"),
        ({**REQUEST, "plan": "gold"}, "unknown plan 'gold'; plan must be one of premier, standard"),
        ({**REQUEST, "subject": "", "body": "  "}, "empty text: subject and body are both empty"),
    ],
)
def test_invalid_request_is_422_with_the_reason(client: httpx.Client, payload: dict[str, Any], message: str) -> None:
    error = _assert_error(client.post("/v1/classify", json=payload, headers=AUTH), 422, "validation_error")
    assert error["message"].startswith(message)


def test_schema_errors_name_the_field_and_do_not_echo_the_text(client: httpx.Client) -> None:
    response = client.post("/v1/classify", json={"subject": "very private text"}, headers=AUTH)
    error = _assert_error(response, 422, "validation_error")
    assert error["details"] == [{"field": "body.id", "message": "Field required"}]
    assert "very private text" not in response.text


def test_broken_json_is_a_validation_error(client: httpx.Client) -> None:
    response = client.post(
        "/v1/classify", content=b'{"id": "x", ', headers={**AUTH, "content-type": "application/json"}
    )
    error = _assert_error(response, 422, "validation_error")
    assert error["message"] == "the request body is not valid JSON"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "this API needs a bearer token: send the header 'Authorization: Bearer <token>'"),
        ({"Authorization": "Bearer wrong"}, "the bearer token is not valid"),
        ({"Authorization": f"Basic {TOKEN}"}, "this API needs a bearer token"),
    ],
)
def test_token_is_required(client: httpx.Client, headers: dict[str, str], message: str) -> None:
    response = client.post("/v1/classify", json=REQUEST, headers=headers)
    error = _assert_error(response, 401, "unauthorized")
    assert error["message"].startswith(message)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_batch_classifies_good_requests_and_lists_rejects(client: httpx.Client, triage: Triage) -> None:
    requests = [
        {**REQUEST, "id": "B-1"},
        {**REQUEST, "id": "B-2", "received_at": "yesterday"},
        {**REQUEST, "id": "B-1"},
        {"subject": "no id"},
        {**REQUEST, "id": "B-3", "body": TEXTS[1], "subject": ""},
    ]
    body = client.post("/v1/classify/batch", json={"requests": requests}, headers=AUTH).json()
    assert [d["id"] for d in body["decisions"]] == ["B-1", "B-3"]
    assert [(r["index"], r["id"]) for r in body["rejects"]] == [(1, "B-2"), (2, "B-1"), (3, None)]
    assert body["rejects"][1]["reason"] == "duplicate id 'B-1': request 0 has the same id"
    assert body["rejects"][0]["reason"].startswith("unparsable received_at 'yesterday'")


def test_batch_over_the_limit_is_refused(client: httpx.Client) -> None:
    requests = [{"id": f"X-{n}", "body": "x"} for n in range(6)]
    response = client.post("/v1/classify/batch", json={"requests": requests}, headers=AUTH)
    error = _assert_error(response, 413, "batch_too_large")
    assert error["message"] == "a batch may hold at most 5 requests; got 6; split it into smaller batches"


def test_body_over_the_size_limit_is_refused_by_length_and_by_stream(client: httpx.Client) -> None:
    big = {**REQUEST, "body": "x" * 5000}
    error = _assert_error(client.post("/v1/classify", json=big, headers=AUTH), 413, "payload_too_large")
    assert error["message"].startswith("request body is larger than the limit of 4096 bytes")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while streaming
        yield b'{"id": "c", "body": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    response = client.post("/v1/classify", content=chunks(), headers={**AUTH, "content-type": "application/json"})
    _assert_error(response, 413, "payload_too_large")


def test_sla_due_matches_the_policy(client: httpx.Client) -> None:
    payload = {"severity": "critical", "plan": "premier", "received_at": "2026-11-27T16:30:00+01:00"}
    body = client.post("/v1/sla/due", json=payload, headers=AUTH).json()
    expected = SlaPolicy.load().deadlines(1, "premier", datetime.fromisoformat(payload["received_at"]))
    assert body == {"severity": 1, "plan": "premier", "received_at": "2026-11-27T16:30:00+01:00", **expected.to_dict()}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"severity": 5, "received_at": "2026-11-27T16:30:00+01:00"}, "severity must be one of 1, 2, 3, 4"),
        ({"severity": 1, "received_at": "2026-11-27 16:30"}, "naive received_at"),
        ({"severity": 1, "plan": "gold", "received_at": "2026-11-27T16:30:00Z"}, "unknown plan 'gold'"),
    ],
)
def test_sla_due_errors(client: httpx.Client, payload: dict[str, Any], message: str) -> None:
    error = _assert_error(client.post("/v1/sla/due", json=payload, headers=AUTH), 422, "validation_error")
    assert error["message"].startswith(message)


def test_internal_errors_keep_the_shape_and_hide_details(client: httpx.Client) -> None:
    response = client.get("/v1/test-boom", headers=AUTH)
    error = _assert_error(response, 500, "internal_error")
    assert "secret detail" not in response.text
    assert error["message"] == "internal error; the server log has the details"


def test_every_route_answers_errors_in_the_one_shape(app: FastAPI, client: httpx.Client) -> None:
    """For each API route: no token -> 401, wrong method -> 405, bad body -> 422; unknown paths -> 404."""
    # Every operation of the API as published in its OpenAPI document (review-desk routes included when mounted).
    operations = [(path, method.upper()) for path, item in app.openapi()["paths"].items() for method in item]
    assert {path for path, _ in operations} >= {
        "/v1/classify",
        "/v1/classify/batch",
        "/v1/sla/due",
        "/healthz",
        "/metrics",
        "/v1/admin/reload",
    }
    for path, method in operations:
        if path != "/healthz":
            _assert_error(client.request(method, path), 401, "unauthorized")
        wrong = "DELETE" if method != "DELETE" else "PATCH"
        _assert_error(client.request(wrong, path, headers=AUTH), 405, "method_not_allowed")
        if method == "POST" and path != "/v1/admin/reload":
            _assert_error(client.post(path, json=[1], headers=AUTH), 422, "validation_error")
            _assert_error(client.post(path, content=b"x" * 5000, headers=AUTH), 413, "payload_too_large")
    _assert_error(client.get("/v1/nothing-here", headers=AUTH), 404, "not_found")


def test_metrics_count_requests_latency_and_decisions(client: httpx.Client) -> None:
    for n, text in enumerate(TEXTS):
        client.post("/v1/classify", json={"id": f"M-{n}", "body": text}, headers=AUTH)
    text = client.get("/metrics", headers=AUTH).text
    lines = text.splitlines()
    assert "# TYPE sevtriage_http_request_duration_seconds histogram" in lines
    from sevtriage.rules.engine_durable import MAX_LIVE_RULESETS

    live = [int(line.split()[1]) for line in lines if line.startswith("sevtriage_rulesets_live ")]
    assert len(live) == 1 and 1 <= live[0] <= MAX_LIVE_RULESETS, live
    assert any(
        line.startswith('sevtriage_http_requests_total{method="POST",route="/v1/classify",status="200"}')
        for line in lines
    )
    assert any(
        line.startswith('sevtriage_http_request_duration_seconds_bucket{route="/v1/classify",le="+Inf"}')
        for line in lines
    )
    decided = [line for line in lines if line.startswith("sevtriage_decisions_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in decided) >= len(TEXTS)
    assert any('source="rules"' in line for line in decided)
    rate = next(float(line.split()[1]) for line in lines if line.startswith("sevtriage_review_rate "))
    assert 0.0 <= rate <= 1.0
    assert any(line.startswith("process_resident_memory_bytes ") for line in lines)


def test_openapi_docs_are_served(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    assert {"/v1/classify", "/v1/classify/batch", "/v1/sla/due", "/healthz", "/metrics"} <= set(paths)
    # What `confidence` means is part of the published schema.
    decision = document["components"]["schemas"]["DecisionOut"]["properties"]
    assert decision["confidence"]["description"].startswith("The estimated probability (0-1) that this decision's")
    ok = paths["/v1/classify"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/DecisionOut")


def test_the_schema_lists_the_review_reasons_in_plain_words(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    reasons = schema["components"]["schemas"]["DecisionOut"]["properties"]["review_reasons"]["description"]
    for reason in ("no_rule", "low_confidence", "possible_critical", "unfamiliar", "too_vague"):
        assert f"`{reason}`" in reasons
    assert "names no product area and no symptom" in reasons


def test_concurrent_clients_get_the_same_decisions_as_one_thread(client: httpx.Client, triage: Triage) -> None:
    payloads = [
        {"id": f"C-{n}", "body": f"{TEXTS[n % len(TEXTS)]} ({n})", "received_at": "2026-11-26T09:00:00+01:00"}
        for n in range(160)
    ]
    expected = {
        p["id"]: triage.classify(
            Ticket(id=p["id"], body=p["body"], received_at=datetime.fromisoformat(p["received_at"]), plan="standard")
        ).to_dict()
        for p in payloads
    }

    def call(payload: dict[str, Any]) -> dict[str, Any]:
        with httpx.Client(base_url=str(client.base_url), timeout=30) as own:
            result: dict[str, Any] = own.post("/v1/classify", json=payload, headers=AUTH).json()
            return result

    def batched() -> tuple[int, int]:
        lines = client.get("/metrics", headers=AUTH).text.splitlines()
        batches = next(int(x.split()[1]) for x in lines if x.startswith("sevtriage_classify_batches_total "))
        requests = next(int(x.split()[1]) for x in lines if x.startswith("sevtriage_classify_batched_requests_total "))
        return batches, requests

    batches_before, requests_before = batched()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, payloads))
    assert {r["id"]: r for r in results} == expected
    batches_after, requests_after = batched()
    assert requests_after - requests_before == len(payloads)
    assert 0 < batches_after - batches_before <= len(payloads)


def test_reload_endpoint_swaps_rules_and_refuses_broken_files(triage: Triage, tmp_path: Path) -> None:
    from sevtriage.resources import default_rules_path

    rules = tmp_path / "severity.yaml"
    original = default_rules_path().read_text(encoding="utf-8")
    rules.write_text(original, encoding="utf-8")
    settings = Settings.load(store_url="", rules_path=rules)
    with ThreadServer(create_app(settings)) as running, httpx.Client(base_url=running.url, timeout=30) as http:
        first = http.get("/healthz").json()
        rules.write_text(original + "\n# reviewed again\n", encoding="utf-8")
        reloaded = http.post("/v1/admin/reload").json()
        assert reloaded["generation"] == first["generation"] + 1
        assert reloaded["rules_version"] != first["rules_version"]
        assert http.get("/healthz").json()["rules_version"] == reloaded["rules_version"]
        # Reloads under load: every call is answered, each by one whole set (old or new, never a mix).
        stop = threading.Event()
        versions: set[str] = set()
        failures: list[int] = []

        def hammer() -> None:
            with httpx.Client(base_url=running.url, timeout=30) as own:
                while not stop.is_set():
                    answer = own.post("/v1/classify", json=REQUEST)
                    if answer.status_code != 200:
                        failures.append(answer.status_code)
                    else:
                        versions.add(answer.json()["rules_version"])

        workers = [threading.Thread(target=hammer) for _ in range(4)]
        for worker in workers:
            worker.start()
        for _ in range(3):
            assert http.post("/v1/admin/reload").status_code == 200
        stop.set()
        for worker in workers:
            worker.join()
        assert failures == []
        assert versions == {reloaded["rules_version"]}
        rules.write_text("rules: [oops", encoding="utf-8")
        error = _assert_error(http.post("/v1/admin/reload"), 422, "reload_failed")
        assert error["message"].startswith("reload refused, the previous rules and model stay in service:")
        assert http.get("/healthz").json()["rules_version"] == reloaded["rules_version"]
        assert http.post("/v1/classify", json=REQUEST).status_code == 200


@pytest.fixture(scope="module")
def served_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`sevtriage serve` as users start it: its own process, no token, on loopback."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEVTRIAGE_")}
    env["SEVTRIAGE_STORE_URL"] = ""
    process = subprocess.Popen(
        [sys.executable, "-m", "sevtriage", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path_factory.mktemp("serve"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"sevtriage serve did not start: {process.stdout.read() if process.stdout else ''}")
        time.sleep(0.1)
    yield process, url
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=20)


def test_served_process_reloads_on_sighup_and_keeps_text_out_of_logs(
    served_process: tuple[subprocess.Popen[str], str],
) -> None:
    process, url = served_process
    marker = "zxq-private-customer-text"
    response = httpx.post(f"{url}/v1/classify", json={"id": "S-1", "body": f"Nothing works {marker}"}, timeout=10)
    assert response.status_code == 200
    before = httpx.get(f"{url}/healthz").json()["generation"]
    process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while httpx.get(f"{url}/healthz").json()["generation"] == before:
        assert time.monotonic() < deadline, "SIGHUP did not reload"
        time.sleep(0.1)
    process.terminate()
    output, _ = process.communicate(timeout=20)
    assert "No API token configured (SEVTRIAGE_API_TOKEN): listening on 127.0.0.1 only" in output
    assert "decision id=S-1" in output
    assert marker not in output
    assert "reloaded: rules" in output


def test_serve_refuses_a_public_interface_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEVTRIAGE_")}
    result = subprocess.run(
        [sys.executable, "-m", "sevtriage", "serve", "--host", "0.0.0.0", "--port", str(_free_port())],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without an API token" in result.stderr
    assert "Set SEVTRIAGE_API_TOKEN" in result.stderr


def test_api_error_carries_headers() -> None:
    error = ApiError(401, "x", headers={"WWW-Authenticate": "Bearer"})
    assert (error.code, error.headers) == ("unauthorized", {"WWW-Authenticate": "Bearer"})


def test_decision_sinks_receive_every_decision(triage: Triage) -> None:
    """The contract with the review desk: each successful classification is handed to every sink."""
    app = create_app(Settings.load(store_url=""), triage)
    received: list[tuple[Ticket, dict[str, Any]]] = []
    app.state.decision_sinks.append(lambda pairs: received.extend((t, d.to_dict()) for t, d in pairs))
    with ThreadServer(app) as running, httpx.Client(base_url=running.url, timeout=30) as http:
        one = http.post("/v1/classify", json=REQUEST).json()
        batch = http.post(
            "/v1/classify/batch", json={"requests": [{**REQUEST, "id": "K-1"}, {"id": "K-2", "body": ""}]}
        ).json()
    assert [(t.id, d) for t, d in received] == [("T-1", one), ("K-1", batch["decisions"][0])]
    assert received[0][0].body == REQUEST["body"]


def test_a_failing_sink_means_no_decision_is_given_but_a_retryable_error(triage: Triage) -> None:
    """Nothing answered and then lost: what a sink did not keep is answered 503 with Retry-After."""
    app = create_app(Settings.load(store_url=""), triage)

    def broken_sink(pairs: Any) -> None:
        raise OSError("disk full")

    app.state.decision_sinks.append(broken_sink)
    with ThreadServer(app) as running, httpx.Client(base_url=running.url, timeout=30) as http:
        one = http.post("/v1/classify", json=REQUEST)
        batch = http.post("/v1/classify/batch", json={"requests": [{**REQUEST, "id": "K-1"}]})
        metrics = http.get("/metrics").text
    for response in (one, batch):
        body = _assert_error(response, 503, "not_stored")
        assert response.headers["retry-after"] == "1"
        assert "disk full" not in body["message"]
    assert "sevtriage_sink_errors_total 2" in metrics.splitlines()
    assert "sevtriage_not_stored_total 2" in metrics.splitlines()


@pytest.mark.parametrize("with_text", [False, True])
def test_request_text_is_logged_only_when_asked(
    triage: Triage, caplog: pytest.LogCaptureFixture, with_text: bool
) -> None:
    app = create_app(Settings.load(store_url="", log_request_text=with_text), triage)
    marker = "qqv-private-words"
    with caplog.at_level("INFO", logger="sevtriage.api"), ThreadServer(app) as running:
        httpx.post(f"{running.url}/v1/classify", json={"id": "LOG-1", "body": f"Login fails {marker}"}, timeout=30)
        httpx.post(f"{running.url}/v1/classify", json={"id": "LOG-2", "body": ""}, timeout=30)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "decision id=LOG-1" in logged
    assert (marker in logged) is with_text


# -- hostile requests (issue 10, item 9) ---------------------------------------------------------------------------

JSON_AUTH = {**AUTH, "content-type": "application/json"}
FAR = "9999-12-31T10:00:00+00:00"


def test_a_lone_surrogate_in_id_is_refused_and_in_a_field_replaced_and_the_connection_lives_on(
    client: httpx.Client,
) -> None:
    # json.dumps writes a lone surrogate as the escape \ud800, as a JavaScript client would.
    refused = client.post("/v1/classify", content=json.dumps({**REQUEST, "id": "T-\ud800"}), headers=JSON_AUTH)
    error = _assert_error(refused, 422, "validation_error")
    assert error["message"] == ("id must not contain a lone surrogate ('\\ud800'); send the id as valid Unicode text")
    assert client.get("/healthz").status_code == 200  # the same keep-alive connection still serves
    kept = client.post(
        "/v1/classify", content=json.dumps({**REQUEST, "id": "T-9", "environment": "prod\ud800"}), headers=JSON_AUTH
    )
    assert kept.status_code == 200, kept.text
    assert client.get("/healthz").status_code == 200


def test_one_bad_item_of_a_batch_lands_in_rejects_alone(client: httpx.Client) -> None:
    batch = [
        {**REQUEST, "id": "K-1"},
        {**REQUEST, "id": "K-\udfff"},
        {**REQUEST, "id": "K-3", "received_at": FAR},
        {**REQUEST, "id": "K-4", "body": "lone \ud800 here"},
    ]
    response = client.post("/v1/classify/batch", content=json.dumps({"requests": batch}), headers=JSON_AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [d["id"] for d in body["decisions"]] == ["K-1", "K-4"]
    assert [(r["index"], r["retryable"]) for r in body["rejects"]] == [(1, False), (2, False)]
    assert "lone surrogate" in body["rejects"][0]["reason"]
    assert body["rejects"][1]["reason"].startswith(f"received_at {FAR} is too late")


def test_a_far_future_arrival_gets_a_reason_to_act_on(client: httpx.Client) -> None:
    response = client.post("/v1/classify", json={**REQUEST, "received_at": FAR}, headers=AUTH)
    error = _assert_error(response, 422, "validation_error")
    assert error["message"] == (
        f"received_at {FAR} is too late: its response deadline would fall after the year 9998, the end of "
        "the business calendar; check the year of received_at"
    )


@pytest.mark.parametrize("value", [True, False, 1.5, [1], {"a": 1}])
def test_an_id_must_be_text_or_a_whole_number(client: httpx.Client, value: Any) -> None:
    response = client.post("/v1/classify", json={**REQUEST, "id": value}, headers=AUTH)
    _assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("content", [b'{"id": "x", ', b'{"subject": "no id"}', b"[1, 2]"])
def test_without_the_token_an_invalid_body_is_401_not_422(client: httpx.Client, content: bytes) -> None:
    response = client.post("/v1/classify", content=content, headers={"content-type": "application/json"})
    _assert_error(response, 401, "unauthorized")
    response = client.post("/v1/classify/batch", content=content, headers={"content-type": "application/json"})
    _assert_error(response, 401, "unauthorized")


def test_route_dependencies_run_on_the_event_loop() -> None:
    """A plain `def` dependency is run by FastAPI in a worker thread: a thread hand-off per request, which waits for
    the interpreter lock while a batch is being classified (up to the 5 ms switch interval each way). The token
    check is on every request, so every dependency of the API routers must be `async def`."""
    from fastapi.routing import APIRoute

    from sevtriage.api.routes import classify, ops, sla

    sync_dependencies: set[str] = set()
    for router in (classify.router, ops.router, ops.open_router, sla.router):
        calls = [d.dependency for d in router.dependencies]
        calls += [d.call for r in router.routes if isinstance(r, APIRoute) for d in r.dependant.dependencies]
        sync_dependencies |= {c.__name__ for c in calls if c is not None and not inspect.iscoroutinefunction(c)}
    assert sync_dependencies == set()
