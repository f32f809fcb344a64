"""The review desk over HTTP, against a real uvicorn server on a free port.

Sign-in and CSRF, every page and JSON route closed without a session, the queue and request pages, actions with
recomputed deadlines, the conflict between two specialists, the agreement page and the service's sink.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from sevtriage.review.auth import SESSION_COOKIE, SessionCodec, SignInGuard, create_user, hash_password
from sevtriage.review.desk import ReviewDesk
from sevtriage.review.web import install
from sevtriage.sla import SlaPolicy
from sevtriage.store import DecisionStore
from sevtriage.types import Decision, ModelOpinion, RuleMatch, Severity, Ticket

# Tuesday 24 November 2026; the desk's calendar is Europe/Bratislava (CET, UTC+1): 11:15 local.
NOW = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)
ARRIVED = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 10:00 CET, inside business hours
PASSWORD = "correct horse battery"
XSS = "<script>alert('pwned')</script>"
SECRET = "test-secret-key-" + "x" * 20


def suggestion(
    request_id: str,
    severity: int | None,
    *,
    subject: str = "Export fails",
    body: str = "Since this morning the nightly export fails with error 500.",
    plan: str = "standard",
    reasons: tuple[str, ...] = ("low_confidence",),
    received_at: datetime = ARRIVED,
    rules: tuple[RuleMatch, ...] = (
        RuleMatch(
            "export-broken", Severity.MEDIUM, "A broken export is a non-critical loss of function.", ("export fails",)
        ),
    ),
    source: str | None = "rules",
    needs_review: bool = True,
) -> tuple[Ticket, Decision]:
    """A request and its suggestion without deadlines: the desk fills them in from the real SLA policy."""
    ticket = Ticket(id=request_id, subject=subject, body=body, received_at=received_at, plan=plan)
    decision = Decision(
        id=request_id,
        severity=Severity(severity) if severity is not None else None,
        source=source,  # type: ignore[arg-type]
        confidence=0.55,
        needs_review=needs_review,
        review_reasons=reasons,
        matched_rules=rules,
        model=None,
        plan=plan,
        received_at=received_at,
        deadlines=None,
        rules_version="test",
        model_version=None,
    )
    return ticket, decision


@dataclass
class LiveDesk:
    base: str
    desk: ReviewDesk

    @property
    def store(self) -> DecisionStore:
        return self.desk.store

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, follow_redirects=False, timeout=30)

    def signed_in(self, name: str = "alice") -> httpx.Client:
        """A client with a session of `name`.

        The first call per name signs in through the form; later ones (each test has its own store) record that
        same session in the test's store, because verifying an argon2 hash is slow on purpose. Signing in itself
        is tested through the form below.
        """
        client = self.client()
        if name not in _sessions:
            response = sign_in(client, name, PASSWORD)
            assert response.status_code == 303, response.text
            _sessions[name] = response.cookies[SESSION_COOKIE]
        else:
            session = SessionCodec(SECRET).loads(_sessions[name])
            assert session is not None and session.sid is not None
            if self.store.session_user(session.sid) is None:
                self.store.open_session(session.sid, name, NOW + timedelta(hours=12))
        client.cookies.set(SESSION_COOKIE, _sessions[name], path="/review")
        return client


_sessions: dict[str, str] = {}


@dataclass
class Server:
    base: str
    server: uvicorn.Server
    thread: threading.Thread


def serve(app: ASGIApp, *, lifespan: str = "auto") -> Server:
    """Run `app` with uvicorn on a free loopback port in a thread; return once it accepts connections."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Server(f"http://127.0.0.1:{port}", server, thread)


def stop(running: Server) -> None:
    running.server.should_exit = True
    running.thread.join(timeout=10)


class Switch:
    """An ASGI app that passes each request to the app of the current test: one server for the whole module."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "no test app installed"
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def switch() -> Iterator[tuple[str, Switch]]:
    holder = Switch()
    running = serve(holder, lifespan="off")  # the desk's routes need no lifespan
    try:
        yield running.base, holder
    finally:
        stop(running)


@functools.cache
def password_hash() -> str:
    """One argon2 hash of PASSWORD for every test account: hashing costs a good part of a second, on purpose."""
    return hash_password(PASSWORD)


@functools.cache
def policy() -> SlaPolicy:
    return SlaPolicy.load()


def make_desk(tmp_path: Path, clock: datetime = NOW) -> ReviewDesk:
    store = DecisionStore.open(f"sqlite:///{tmp_path / 'review.db'}", clock=lambda: clock)
    for name in ("alice", "bob"):
        store.add_user(name, password_hash())
    return ReviewDesk(store, policy(), clock=lambda: clock)


@pytest.fixture
def live(tmp_path: Path, switch: tuple[str, Switch]) -> Iterator[LiveDesk]:
    desk = make_desk(tmp_path)
    desk.save(
        [
            suggestion("T-1", 2, body=f"The nightly export fails. It printed {XSS} in the log."),
            suggestion(
                "T-2",
                1,
                subject="Shop down",
                body="Nobody can log in.",
                plan="premier",
                reasons=("rule_conflict",),
                rules=(),
            ),
            suggestion(
                "T-3",
                None,
                subject="Otázka",
                body="Nefunguje mi tlačidlo, prosím o radu.",
                reasons=("no_rule",),
                rules=(),
                source=None,
            ),
            suggestion("T-4", 3, subject="Fine", needs_review=False, reasons=()),
        ]
    )
    app = FastAPI()
    install(app, desk, secret_key=SECRET)
    base, holder = switch
    holder.app = app
    try:
        yield LiveDesk(base, desk)
    finally:
        holder.app = None
        desk.store.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: httpx.Client, name: str, password: str, next_url: str = "/review/queue") -> httpx.Response:
    form = client.get("/review/login")
    return client.post(
        "/review/login",
        data={"name": name, "password": password, "csrf_token": csrf_of(form.text), "next": next_url},
    )


def act(client: httpx.Client, request_id: str, **fields: str) -> httpx.Response:
    page = client.get(f"/review/requests/{request_id}")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version
    data = {"csrf_token": csrf_of(page.text), "version": version.group(1), **fields}
    return client.post(f"/review/requests/{request_id}", data=data)


# -- closed without a session -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/review/queue", "/review/requests/T-1", "/review/agreement", "/review/queue?plan=premier"]
)
def test_pages_send_a_signed_out_visitor_to_the_sign_in_page(live: LiveDesk, path: str) -> None:
    response = live.client().get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/review/login?" + httpx.QueryParams({"next": path}).__str__()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/review/api/queue"),
        ("GET", "/review/api/requests/T-1"),
        ("GET", "/review/api/agreement"),
        ("POST", "/review/api/requests/T-1"),
    ],
)
def test_json_routes_answer_401_in_the_service_error_shape(live: LiveDesk, method: str, path: str) -> None:
    response = live.client().request(method, path, json={"action": "accept", "version": 1})
    assert response.status_code == 401
    assert response.json() == {
        "error": {"status": 401, "code": "sign_in_required", "message": "sign in at /review/login first", "details": []}
    }


def test_a_signed_out_action_changes_nothing(live: LiveDesk) -> None:
    response = live.client().post("/review/requests/T-1", data={"action": "accept", "version": "1"})
    assert response.status_code == 303 and response.headers["location"].startswith("/review/login")
    assert live.store.get("T-1").status == "pending"


def test_a_forged_session_cookie_is_treated_as_signed_out(live: LiveDesk) -> None:
    client = live.client()
    client.cookies.set(SESSION_COOKIE, "eyJ1IjoiYWxpY2UiLCJjIjoieCJ9.forged.signature", path="/review")
    assert client.get("/review/queue").status_code == 303


# -- signing in ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "password"),
    [("alice", "wrong password!"), ("mallory", PASSWORD), ("", ""), ("alice' OR 1=1 --", PASSWORD)],
)
def test_a_wrong_name_or_password_is_refused(live: LiveDesk, name: str, password: str) -> None:
    client = live.client()
    response = sign_in(client, name, password)
    assert response.status_code == 401
    assert "Wrong name or password (or the account is disabled)." in response.text
    assert client.get("/review/queue").status_code == 303


def test_a_disabled_account_cannot_sign_in_and_loses_its_session(live: LiveDesk) -> None:
    client = live.signed_in("bob")
    live.store.set_active("bob", False)
    assert client.get("/review/queue").status_code == 303
    assert sign_in(live.client(), "bob", PASSWORD).status_code == 401


def test_sign_in_without_the_forms_csrf_token_is_refused(live: LiveDesk) -> None:
    client = live.client()
    client.get("/review/login")
    response = client.post("/review/login", data={"name": "alice", "password": PASSWORD, "next": "/review/queue"})
    assert response.status_code == 400
    assert "The sign-in form had expired (or cookies are off). Please sign in again." in response.text


@pytest.mark.parametrize(
    ("asked", "landed"),
    [
        ("/review/requests/T-2", "/review/requests/T-2"),
        ("https://evil.example/", "/review/queue"),
        ("//evil.example/review/", "/review/queue"),
        ("/review/\\evil", "/review/queue"),
    ],
)
def test_sign_in_returns_only_to_a_page_of_the_desk(live: LiveDesk, asked: str, landed: str) -> None:
    response = sign_in(live.client(), "alice", PASSWORD, next_url=asked)
    assert response.status_code == 303 and response.headers["location"] == landed


def test_the_session_cookie_is_http_only_and_scoped_to_the_desk(live: LiveDesk) -> None:
    response = sign_in(live.client(), "alice", PASSWORD)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Path=/review" in cookie and "SameSite=lax" in cookie


def test_sign_out_needs_the_csrf_token_and_ends_the_session(live: LiveDesk) -> None:
    client = live.client()
    assert sign_in(client, "alice", PASSWORD).status_code == 303
    page = client.get("/review/queue")
    assert client.post("/review/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert client.get("/review/queue").status_code == 200
    copy = client.cookies[SESSION_COOKIE]
    assert client.post("/review/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    assert client.get("/review/queue").status_code == 303
    # A copy of the cookie taken before signing out is worthless too: the session ended on the server.
    stolen = live.client()
    stolen.cookies.set(SESSION_COOKIE, copy, path="/review")
    assert stolen.get("/review/queue").status_code == 303


# -- the queue ----------------------------------------------------------------------------------------------
def test_the_queue_lists_what_waits_most_urgent_first_with_time_left(live: LiveDesk) -> None:
    page = live.signed_in().get("/review/queue")
    assert page.status_code == 200
    ids = re.findall(r'<span class="rid">([^<]+)</span>', page.text)
    # T-2: premier severity 1, due 11:00 CET (overdue); T-1: standard 2, due 14:00 CET; T-3: no severity yet.
    assert ids == ["T-2", "T-1", "T-3"]
    assert '<strong id="matching-count">3</strong> requests' in page.text
    assert '<span class="count" id="waiting-count">3</span>' in page.text
    assert "overdue by 15 min" in page.text and "2 h 45 min left" in page.text and "severity unknown" in page.text
    assert "Tue 24 Nov, 14:00" in page.text and "Times in Europe/Bratislava." in page.text
    assert "T-4" not in page.text  # not flagged for review


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("severity=1", ["T-2"]),
        ("severity=none", ["T-3"]),
        ("plan=standard", ["T-1", "T-3"]),
        ("reason=no_rule", ["T-3"]),
        ("language=sk", ["T-3"]),
        ("severity=2&plan=premier", []),
    ],
)
def test_queue_filters(live: LiveDesk, query: str, ids: list[str]) -> None:
    client = live.signed_in()
    page = client.get(f"/review/queue?{query}")
    assert re.findall(r'<span class="rid">([^<]+)</span>', page.text) == ids
    assert f'<strong id="matching-count">{len(ids)}</strong>' in page.text
    listed = client.get(f"/review/api/queue?{query}").json()
    assert [i["id"] for i in listed["items"]] == ids and listed["waiting"] == 3


def test_a_bad_filter_says_what_is_allowed(live: LiveDesk) -> None:
    client = live.signed_in()
    page = client.get("/review/queue?severity=9")
    assert page.status_code == 400
    assert "the severity filter must be one of 1, 2, 3, 4, none; got &#39;9&#39;" in page.text
    assert client.get("/review/api/queue?severity=9").json()["error"]["code"] == "bad_filter"


# -- the request view ---------------------------------------------------------------------------------------
def test_request_text_is_escaped_and_evidence_highlighted(live: LiveDesk) -> None:
    client = live.signed_in()
    for path in ("/review/queue", "/review/requests/T-1"):
        page = client.get(path)
        assert XSS not in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self'")
    page = client.get("/review/requests/T-1")
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in page.text
    assert '<mark title="export-broken">export fails</mark>' in page.text
    assert '<mark title="export-broken">Export fails</mark>' in page.text  # the subject, found case-insensitively
    assert "A broken export is a non-critical loss of function." in page.text
    assert "4 business hours" in page.text and "Tue 24 Nov 2026, 14:00 CET" in page.text
    assert 'id="next-link"' in page.text
    # The desk says what the number means: how likely the suggestion is right, and where that comes from.
    said = re.search(r'<p class="by" id="confidence">(.*?)</p>', page.text, re.S)
    assert said is not None
    assert "from <strong>rules</strong>, 55 % likely right" in said.group(1)
    assert "how often these rules were right on our labelled requests" in said.group(1)


def test_the_model_table_marks_the_suggestion_and_the_models_label_apart(live: LiveDesk) -> None:
    # Going to review, the suggestion moved to 2, as probable as the model's (bias-adjusted) label 4.
    ticket, decision = suggestion("T-9", 2, source="model", rules=())
    opinion = ModelOpinion(Severity.LOW, {1: 0.05, 2: 0.45, 3: 0.05, 4: 0.45}, ("slow",))
    live.desk.save([(ticket, replace(decision, model=opinion, confidence=0.45))])
    page = live.signed_in().get("/review/requests/T-9").text
    rows = dict(re.findall(r'<tr class="[^"]*"><th>(\d) [a-z]+</th>.*?<td class="note">([^<]*)</td></tr>', page))
    assert rows == {"1": "", "2": "suggested", "3": "", "4": "model's label"}
    assert "from <strong>model</strong>, 45 % likely right" in page


def test_an_unknown_request_is_a_404_page_naming_it(live: LiveDesk) -> None:
    client = live.signed_in()
    page = client.get("/review/requests/nope")
    assert page.status_code == 404 and "no stored request has the id &#39;nope&#39;" in page.text
    assert client.get("/review/api/requests/nope").json()["error"]["message"] == "no stored request has the id 'nope'"


# -- actions ------------------------------------------------------------------------------------------------
def test_accept_records_who_and_keeps_the_deadline(live: LiveDesk) -> None:
    client = live.signed_in()
    response = act(client, "T-1", action="accept")
    assert response.status_code == 303 and response.headers["location"] == "/review/requests/T-1"
    page = client.get(response.headers["location"])
    assert "Severity 2 (high) accepted by alice on Tue 24 Nov 2026, 11:15 CET." in page.text
    assert re.search(r"<td>alice</td><td>accepted</td>\s*<td>2 → 2</td>", page.text)
    assert live.store.get("T-1").status == "accepted"
    assert "T-1" not in client.get("/review/queue").text


def test_change_recomputes_the_deadline_from_arrival_and_shows_it_at_once(live: LiveDesk) -> None:
    client = live.signed_in()
    response = act(client, "T-1", action="change", severity="1", reason="The export feeds payroll; it is critical.")
    page = client.get(response.headers["location"])
    assert (
        "Severity changed to 1 (critical) by alice on Tue 24 Nov 2026, 11:15 CET. Initial response due "
        "Tue 24 Nov 2026, 11:00 CET (overdue by 15 min)." in page.text
    )
    assert re.search(
        r"<td>alice</td><td>changed</td>\s*<td>2 → 1</td><td>The export feeds payroll; it is critical.</td>", page.text
    )
    stored = live.store.get("T-1")
    assert stored.deadlines is not None
    assert stored.deadlines.initial_response.due == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert stored.deadlines.initial_response.target == "1 business hour"


def test_a_change_without_a_reason_is_refused_and_the_choice_kept(live: LiveDesk) -> None:
    client = live.signed_in()
    response = act(client, "T-1", action="change", severity="3", reason="  ")
    assert response.status_code == 400
    assert "changing the severity of T-1 to 3 needs a reason" in response.text
    assert re.search(r'value="3"\s+checked', response.text)
    assert live.store.get("T-1").status == "pending"


def test_an_action_without_the_csrf_token_is_refused(live: LiveDesk) -> None:
    client = live.signed_in()
    response = client.post("/review/requests/T-1", data={"action": "accept", "version": "1", "csrf_token": "guess"})
    assert response.status_code == 403
    assert "The form had expired (CSRF token missing or wrong); nothing was saved." in response.text
    assert live.store.get("T-1").status == "pending"


def test_the_second_specialist_sees_a_conflict_and_nothing_is_overwritten(live: LiveDesk) -> None:
    alice, bob = live.signed_in("alice"), live.signed_in("bob")
    alice_page, bob_page = alice.get("/review/requests/T-1"), bob.get("/review/requests/T-1")
    assert (
        alice.post(
            "/review/requests/T-1", data={"csrf_token": csrf_of(alice_page.text), "version": "1", "action": "accept"}
        ).status_code
        == 303
    )
    response = bob.post(
        "/review/requests/T-1",
        data={
            "csrf_token": csrf_of(bob_page.text),
            "version": "1",
            "action": "change",
            "severity": "4",
            "reason": "minor",
        },
    )
    assert response.status_code == 409
    # In the page's own zone (Bratislava, UTC+1), and no advice to reload: a reload would send the form again.
    assert "request T-1 was accepted by alice at 2026-11-24 11:15 CET (severity 2) after you opened it" in response.text
    assert "nothing was saved" in response.text and "eload" not in response.text
    assert re.search(r'<a href="/review/requests/T-1" id="current-link">', response.text)
    assert re.search(r'value="4"\s+checked', response.text) and ">minor</textarea>" in response.text
    assert 'name="version" value="2"' in response.text  # acting again applies to what alice left
    stored = live.store.get("T-1")
    assert (stored.final_severity, stored.reviewed_by) == (Severity.HIGH, "alice")


def test_sending_the_same_accept_form_twice_records_one_review(live: LiveDesk) -> None:
    client = live.signed_in()
    page = client.get("/review/requests/T-1")
    form = {"csrf_token": csrf_of(page.text), "version": "1", "action": "accept"}
    assert client.post("/review/requests/T-1", data=form).status_code == 303
    assert client.post("/review/requests/T-1", data=form).status_code == 303  # sent again: the same outcome
    assert [a.kind for a in live.store.get("T-1").history] == ["suggested", "accepted"]
    assert client.get("/review/api/agreement").json()["per_day"][0]["accepted"] == 1


def test_a_reviewed_request_shows_its_outcome_instead_of_the_decide_card(live: LiveDesk) -> None:
    client = live.signed_in()
    act(client, "T-1", action="accept")
    page = client.get("/review/requests/T-1").text
    assert 'id="accept-form"' not in page and ">Decide<" not in page
    assert re.search(r'<section class="card outcome" id="outcome-card">\s*<h2>Outcome</h2>', page)
    assert "Severity 2 (high) accepted by alice on Tue 24 Nov 2026, 11:15 CET." in page
    # A waiting request still offers the Decide card, and no outcome.
    waiting = client.get("/review/requests/T-2").text
    assert 'id="accept-form"' in waiting and 'id="outcome"' not in waiting


@pytest.mark.parametrize("done", ["accepted", "changed"])
def test_the_outcome_comes_from_the_stored_request_not_the_address(live: LiveDesk, done: str) -> None:
    page = live.signed_in().get(f"/review/requests/T-3?done={done}").text
    assert 'id="outcome"' not in page and "Severity None" not in page and "(none) accepted" not in page


def test_accepting_a_request_without_a_suggestion_asks_for_a_severity(live: LiveDesk) -> None:
    client = live.signed_in()
    response = act(client, "T-3", action="accept")
    assert response.status_code == 400
    assert "request T-3 has no suggested severity to accept; choose a severity (1-4) and give a reason" in response.text


def test_the_json_api_acts_with_the_csrf_header_and_reports_conflicts(live: LiveDesk) -> None:
    client = live.signed_in()
    token = csrf_of(client.get("/review/queue").text)
    body = {"action": "change", "version": 1, "severity": 1, "reason": "outage"}
    refused = client.post("/review/api/requests/T-1", json=body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
    done = client.post("/review/api/requests/T-1", json=body, headers={"X-CSRF-Token": token})
    assert done.status_code == 200
    record = done.json()
    assert (record["final_severity"], record["status"], record["version"]) == (1, "changed", 2)
    assert record["deadlines"]["initial_response"]["due"] == "2026-11-24T11:00:00+01:00"
    again = client.post("/review/api/requests/T-1", json=body, headers={"X-CSRF-Token": token})
    assert again.status_code == 200 and again.json() == record  # the same action sent again: done once
    other = client.post("/review/api/requests/T-1", json={**body, "severity": 3}, headers={"X-CSRF-Token": token})
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"
    assert "2026-11-24 11:15 CET" in other.json()["error"]["message"]
    bad = client.post("/review/api/requests/T-2", content=b"[1", headers={"X-CSRF-Token": token})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("the body is not JSON")


# -- agreement ----------------------------------------------------------------------------------------------
def test_the_agreement_page_and_api_show_the_same_numbers(live: LiveDesk) -> None:
    client = live.signed_in()
    act(client, "T-1", action="change", severity="1", reason="payroll")  # rules said 2, rule export-broken said 3
    act(client, "T-2", action="accept")
    act(client, "T-3", action="change", severity="4", reason="question")
    data = client.get("/review/api/agreement").json()
    assert (data["reviewed"], data["overridden"], data["override_rate"]) == (3, 2, 0.6667)
    assert {r["name"]: (r["reviewed"], r["overridden"]) for r in data["by_source"]} == {
        "rules": (2, 1),
        "model": (0, 0),
        "none": (1, 1),
    }
    assert data["by_rule"] == [{"name": "export-broken", "reviewed": 1, "overridden": 1, "rate": 1.0, "severity": 3}]
    assert data["per_day"] == [{"day": "2026-11-24", "accepted": 1, "changed": 2, "total": 3, "specialists": 1}]
    page = client.get("/review/agreement").text
    assert "<strong>3</strong> reviewed · <strong>2</strong> overridden (67 %)" in page
    assert re.search(
        r'<th class="rule-id">export-broken</th><td><span class="sev s3">3</span></td>'
        r"<td>1</td><td>1</td><td>100 %</td>",
        page,
    )
    assert re.search(r"<th>2026-11-24</th><td>1</td><td>2</td><td>3</td><td>1</td>", page)


# -- inside the service -------------------------------------------------------------------------------------
def test_the_service_stores_what_it_classifies_and_serves_the_desk(tmp_path: Path) -> None:
    from sevtriage.api import create_app
    from sevtriage.settings import Settings

    url = f"sqlite:///{tmp_path / 'service.db'}"
    with DecisionStore.open(url) as store:
        create_user(store, "alice", PASSWORD)
    app = create_app(Settings.load(store_url=url))
    running = serve(app)
    try:
        client = httpx.Client(base_url=running.base, follow_redirects=False, timeout=60)
        received = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        answer = client.post(
            "/v1/classify",
            json={
                "id": "S-1",
                "subject": "Question",
                "body": f"How do I export to Excel? {XSS}",
                "received_at": received,
            },
        )
        assert answer.status_code == 200, answer.text
        # A usage question: nothing outside the support scope, and nothing to ask for (it is not an incident).
        assert answer.json()["scope"] == []
        assert answer.json()["missing_details"] == []
        assert client.get("/review/queue").status_code == 303
        assert sign_in(client, "alice", PASSWORD).status_code == 303
        stored = client.get("/review/api/requests/S-1").json()
        assert stored["body"] == f"How do I export to Excel? {XSS}"
        assert stored["suggested"] == replace_deadlines(answer.json(), stored["suggested"])
        page = client.get("/review/requests/S-1")
        assert page.status_code == 200 and XSS not in page.text
    finally:
        stop(running)


def replace_deadlines(answer: dict[str, object], stored: dict[str, object]) -> dict[str, object]:
    """The service's answer, with the deadlines the desk filled in when the answer had none."""
    if answer.get("deadlines") is None:
        return {**answer, "deadlines": stored["deadlines"]}
    return answer


def test_ids_with_slashes_spaces_and_accents_work_in_links_and_actions(live: LiveDesk) -> None:
    odd = "ACME/42 ž#1?x"
    live.desk.save([suggestion(odd, 2)])
    client = live.signed_in()
    link = re.search(r'href="(/review/requests/ACME[^"]*)"', client.get("/review/queue?plan=standard").text)
    assert link and link.group(1).startswith("/review/requests/ACME%2F42%20%C5%BE%231%3Fx")
    page = client.get(link.group(1).replace("&amp;", "&"))
    assert page.status_code == 200 and "ACME/42 ž#1?x" in page.text
    response = act(client, quote(odd, safe=""), action="accept")
    assert response.status_code == 303
    assert live.store.get(odd).status == "accepted"


def test_after_five_failed_sign_ins_a_name_must_wait(live: LiveDesk) -> None:
    client = live.client()
    for _ in range(5):
        assert sign_in(client, "Alice", "not the password").status_code == 401
    refused = sign_in(client, "alice", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins for this name; try again in 15 min." in refused.text
    assert sign_in(live.client(), "bob", PASSWORD).status_code == 303


def test_wrong_sign_ins_under_fresh_names_from_one_address_are_throttled(
    live: LiveDesk, switch: tuple[str, Switch]
) -> None:
    # Fresh names dodge the per-name limit; the address they come from does not. A small limit keeps it quick.
    app = FastAPI()
    install(app, live.desk, secret_key=SECRET, guard=SignInGuard(per_address=4))
    switch[1].app = app
    client = live.client()
    assert [sign_in(client, f"guess-{i}", "not the password").status_code for i in range(4)] == [401] * 4
    refused = sign_in(client, "someone-new", "not the password")
    assert refused.status_code == 429
    assert "Too many failed sign-ins from this address; try again in 15 min." in refused.text
    # The right password from that address waits too: the address is what is throttled, not the names.
    assert sign_in(client, "alice", PASSWORD).status_code == 429
    # Another client address (as a trusted local proxy reports it) may still sign in.
    other = live.client()
    other.headers["X-Forwarded-For"] = "192.0.2.7"
    assert sign_in(other, "alice", PASSWORD).status_code == 303


def test_a_chosen_filter_stays_shown_when_nothing_matches_it_any_more(live: LiveDesk) -> None:
    client = live.signed_in()
    page = client.get("/review/queue?plan=enterprise")
    assert "<option selected>enterprise</option>" in page.text
    assert "Nothing waits with these filters." in page.text


def test_the_desk_explains_an_unfamiliar_or_vague_request_in_plain_words(live: LiveDesk) -> None:
    from sevtriage.triage import Triage

    ticket = Ticket(
        id="T-VAGUE",
        body="hi, something is off with the app since yesterday, can you check?",
        received_at=ARRIVED,
        plan="standard",
    )
    decision = Triage.load().classify(ticket)
    assert "too_vague" in decision.review_reasons
    live.desk.save([(ticket, decision)])
    client = live.signed_in()
    page = client.get("/review/requests/T-VAGUE").text
    assert "names no product area and no symptom: there are no facts to decide a severity on" in page
    assert "How well the model knows this wording:" in page and "no product area or symptom" in page
    queue = client.get("/review/queue").text
    assert 'title="The request names no product area and no symptom' in queue


def test_the_request_page_shows_scope_notes_missing_details_and_a_reply_in_the_customers_language(
    live: LiveDesk,
) -> None:
    from dataclasses import replace as with_

    from sevtriage.types import ScopeNote

    ticket, decision = suggestion(
        "SK-7",
        3,
        subject="Aplikácia padá",
        body="Mobilná aplikácia nám padá na Androide 6, prosím o pomoc, nefunguje to.",
    )
    note = ScopeNote("uncertified_environment", ("Androide 6",), "Android older than 8", "Client software running")
    live.desk.save([(ticket, with_(decision, scope=(note,), missing_details=("recent_changes", "steps_taken")))])
    client = live.signed_in()
    page = client.get("/review/requests/SK-7").text
    notes = re.search(r'<ul class="scope" id="scope-notes">(.*?)</ul>', page, re.S)
    assert notes is not None and "<mark>Androide 6</mark>" in notes.group(1)
    assert "Client software running" in notes.group(1)
    assert re.findall(r'data-item="(\w+)"', page) == ["recent_changes", "steps_taken"]
    reply = re.search(r'<textarea id="first-response"[^>]*>(.*?)</textarea>', page, re.S)
    assert reply is not None
    asked = [line for line in reply.group(1).splitlines() if line.startswith("- ")]
    assert asked == [
        "- čo sa vo Vašom systéme zmenilo krátko pred vznikom problému (aktualizácie, nové zariadenia, nastavenia), "
        "prípadne že sa nič nezmenilo",
        "- čo ste už skúsili na vyriešenie problému",
    ]
    stored = client.get("/review/api/requests/SK-7").json()["suggested"]
    assert stored["missing_details"] == ["recent_changes", "steps_taken"]
    assert stored["scope"][0]["evidence"] == ["Androide 6"]


# -- SLA on the desk ----------------------------------------------------------------------------------------
def _sla_cells(html: str, table: str) -> dict[str, str]:
    """Request id -> the text of its SLA badge, from the queue or the SLA page."""
    found: dict[str, str] = {}
    body = html.split(f'id="{table}"', 1)[1] if f'id="{table}"' in html else ""
    for row in re.findall(r"<tr class=\"row[^\"]*\".*?</tr>", body, re.S):
        request_id = re.search(r'<span class="rid">([^<]+)</span>', row)
        badge = re.search(r'<span class="badge [a-z]+">([^<]+)</span>', row)
        assert request_id and badge, row
        found[request_id.group(1)] = badge.group(1)
    return found


def test_the_queue_shows_each_requests_sla_and_an_answer_in_time_leaves_the_waiting_list(live: LiveDesk) -> None:
    client = live.signed_in()
    # 11:15 CET: T-2 (Premier severity 1, arrived 10:00) broke its 1 business hour; T-1 has until 14:00.
    badges = _sla_cells(client.get("/review/queue").text, "queue")
    assert badges["T-2"] == "breached · waiting since Tue 24 Nov, 10:00"
    assert badges["T-1"] == "waiting · due Tue 24 Nov, 14:00"
    assert badges["T-3"] == "no SLA: no severity yet"
    assert set(_sla_cells(client.get("/review/sla").text, "sla")) == {"T-1", "T-2", "T-3", "T-4"}

    live.store.record_response("T-1", NOW, "support@example.com")
    badges = _sla_cells(client.get("/review/queue").text, "queue")
    # Standard severity 2: the next update is due 1 business day (9 business hours) after the 11:15 response.
    assert badges["T-1"] == "answered in time · update by Wed 25 Nov, 11:15"
    waiting = _sla_cells(client.get("/review/sla?list=waiting").text, "sla")
    assert "T-1" not in waiting and "T-2" in waiting
    assert list(_sla_cells(client.get("/review/sla?list=breached").text, "sla")) == ["T-2"]


def test_the_sla_page_refuses_an_unknown_list(live: LiveDesk) -> None:
    response = live.signed_in().get("/review/sla?list=late")
    assert response.status_code == 400
    assert "list must be one of open, waiting, breached; got &#39;late&#39;" in response.text
