"""`sevtriage serve --workers 2`: two real uvicorn worker processes behind one port, over real HTTP.

Which worker answered is read from the X-Sevtriage-Worker header (its pid). The kernel hands connections to the
workers, so the tests open fresh connections until each worker has answered (with a deadline), instead of
assuming an order.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sevtriage.api.generation import SharedGeneration
from sevtriage.resources import default_rules_path
from sevtriage.review.auth import create_user
from sevtriage.store import DecisionStore
from tests.api.test_api import _free_port
from tests.databases import POSTGRES

SERVE = [sys.executable, "-m", "sevtriage", "serve", "--workers", "2"]
WORKER = "x-sevtriage-worker"
PASSWORD = "correct horse battery"
START_SECONDS = 120.0  # two workers load rules and model at once on a shared 2-core box
REQUEST = {"subject": "Payroll export broken", "body": "The export fails for everyone since the update."}


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    store_url: str
    rules: Path
    log: Path

    def workers(self) -> set[int]:
        """The worker processes of the server (its children that run uvicorn, not multiprocessing's helper)."""
        children = psutil.Process(self.process.pid).children()
        return {c.pid for c in children if "spawn_main" in " ".join(c.cmdline())}

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _start(tmp: Path, store_url: str, extra_env: dict[str, str] | None = None) -> Served:
    rules = tmp / "severity.yaml"
    rules.write_text(default_rules_path().read_text(encoding="utf-8"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEVTRIAGE_")}
    env.update(extra_env or {})
    port = _free_port()
    log = tmp / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*SERVE, "--port", str(port), "--store", store_url, "--rules", str(rules)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp,
        )
    served = Served(process, f"http://127.0.0.1:{port}", store_url, rules, log)
    try:
        _until(lambda: len(served.workers()) == 2 and _answering(served) == served.workers(), START_SECONDS)
    except BaseException:
        _stop(served)
        raise
    return served


def _answering(served: Served) -> set[int]:
    """Pids of the workers that answer /healthz, each call on a fresh connection (empty if none answers yet)."""
    seen: set[int] = set()
    for _ in range(20):
        try:
            answer = httpx.get(f"{served.url}/healthz", timeout=5)
        except httpx.HTTPError:
            return seen
        seen.add(int(answer.headers[WORKER]))
        if len(seen) == 2:
            break
    return seen


def _until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not true within {seconds:.0f} s"
        time.sleep(0.2)


def _stop(served: Served) -> int:
    if served.process.poll() is None:
        served.process.terminate()
    return served.process.wait(timeout=60)


def _healthz_by_worker(served: Served) -> dict[int, dict[str, Any]]:
    """The latest /healthz answer of each worker, asking on fresh connections until both answered."""
    answers: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + 30
    while len(answers) < 2:
        assert time.monotonic() < deadline, f"only workers {sorted(answers)} answered"
        response = httpx.get(f"{served.url}/healthz", timeout=10)
        answers[int(response.headers[WORKER])] = response.json()
    return answers


def _postgres_database() -> Iterator[str]:
    if not POSTGRES:
        pytest.skip("set SEVTRIAGE_TEST_POSTGRES_URL to run the multi-process tests on PostgreSQL too")
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"sevtriage_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Two workers sharing one store (SQLite in WAL mode, or PostgreSQL), with specialists alice and bob."""
    tmp = tmp_path_factory.mktemp(f"workers-{request.param}")
    databases = _postgres_database() if request.param == "postgresql" else iter([f"sqlite:///{tmp / 'store.db'}"])
    store_url = next(databases)
    with DecisionStore.open(store_url) as store:
        create_user(store, "alice", PASSWORD)
        create_user(store, "bob", PASSWORD)
    # Without a SQLite file to keep a generated key beside, the desk needs one configured (as in production).
    extra = {"SEVTRIAGE_SECRET_KEY": "test-only-key-" + uuid.uuid4().hex} if request.param == "postgresql" else {}
    temp = tmp / "temp"  # where the server keeps its run directory (the shared generation file)
    temp.mkdir()
    running = _start(tmp, store_url, {**extra, "TMPDIR": str(temp)})
    try:
        workers = running.workers()
        yield running
        # A clean stop: SIGTERM to the parent stops both workers and removes the run directory.
        assert _stop(running) == 0, running.output()
        assert "received SIGTERM: stopping the workers" in running.output()
        assert not any(psutil.pid_exists(p) for p in workers)
        assert list(temp.iterdir()) == []
    finally:
        _stop(running)
        for _ in databases:  # drops the PostgreSQL database
            pass


def test_requests_are_spread_over_both_workers_and_stored_once(served: Served) -> None:
    answered_by: set[int] = set()
    ids: list[str] = []
    deadline = time.monotonic() + 30
    while answered_by != served.workers():
        assert time.monotonic() < deadline, f"only {answered_by} of {served.workers()} answered"
        ticket_id = f"W-{uuid.uuid4().hex[:8]}"
        response = httpx.post(f"{served.url}/v1/classify", json={**REQUEST, "id": ticket_id}, timeout=30)
        assert response.status_code == 200, response.text
        answered_by.add(int(response.headers[WORKER]))
        ids.append(ticket_id)
    with DecisionStore.open(served.store_url) as store:
        assert [store.get(i).id for i in ids] == ids


def test_a_reload_through_one_worker_reaches_both(served: Served) -> None:
    before = _healthz_by_worker(served)
    served.rules.write_text(served.rules.read_text(encoding="utf-8") + "\n# reviewed again\n", encoding="utf-8")
    reloaded = httpx.post(f"{served.url}/v1/admin/reload", timeout=60)
    assert reloaded.status_code == 200, reloaded.text
    body = reloaded.json()
    assert body["generation"] > max(h["generation"] for h in before.values())
    assert all(h["rules_version"] != body["rules_version"] for h in before.values())

    def both_on_it() -> bool:
        now = _healthz_by_worker(served)
        return all(
            (h["rules_version"], h["generation"]) == (body["rules_version"], body["generation"]) for h in now.values()
        )

    _until(both_on_it, 60)
    # Classifications from either worker now carry the new rules.
    versions = {
        httpx.post(f"{served.url}/v1/classify", json={**REQUEST, "id": f"R-{i}"}, timeout=30).json()["rules_version"]
        for i in range(6)
    }
    assert versions == {body["rules_version"]}


def test_a_broken_rule_file_is_refused_and_both_workers_keep_their_rules(served: Served) -> None:
    before = _healthz_by_worker(served)
    good = served.rules.read_text(encoding="utf-8")
    served.rules.write_text("rules: [oops", encoding="utf-8")
    try:
        refused = httpx.post(f"{served.url}/v1/admin/reload", timeout=60)
    finally:
        served.rules.write_text(good, encoding="utf-8")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "reload_failed"
    time.sleep(1.0)  # longer than a worker takes to notice a new generation (there must be none)
    after = _healthz_by_worker(served)
    assert {p: (h["rules_version"], h["generation"]) for p, h in after.items()} == {
        p: (h["rules_version"], h["generation"]) for p, h in before.items()
    }


def test_sighup_to_the_parent_reloads_every_worker(served: Served) -> None:
    before = max(h["generation"] for h in _healthz_by_worker(served).values())
    served.process.send_signal(signal.SIGHUP)
    _until(lambda: all(h["generation"] > before for h in _healthz_by_worker(served).values()), 60)
    assert served.process.poll() is None
    assert len(served.workers()) == 2  # reloaded in place, not restarted


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def _signed_in(served: Served, name: str) -> httpx.Client:
    client = httpx.Client(base_url=served.url, timeout=30)
    form = client.get("/review/login")
    done = client.post(
        "/review/login", data={"name": name, "password": PASSWORD, "csrf_token": _csrf(form.text), "next": "/review/"}
    )
    assert done.status_code == 303, done.text
    return client


def test_a_desk_session_from_one_worker_is_valid_on_both(served: Served) -> None:
    with closing(_signed_in(served, "alice")) as signed:
        cookies = signed.cookies
        answered_by: set[int] = set()
        deadline = time.monotonic() + 30
        while answered_by != served.workers():
            assert time.monotonic() < deadline, f"only {answered_by} answered"
            with httpx.Client(base_url=served.url, cookies=cookies, timeout=30) as fresh:  # a new connection
                queue = fresh.get("/review/api/queue")
            assert queue.status_code == 200, queue.text
            answered_by.add(int(queue.headers[WORKER]))


def _client_on(served: Served, name: str, not_worker: int | None) -> tuple[httpx.Client, int]:
    """A signed-in client whose (kept-alive) connection ends on a worker other than `not_worker`."""
    deadline = time.monotonic() + 30
    while True:
        client = _signed_in(served, name)
        worker = int(client.get("/review/api/queue").headers[WORKER])
        if worker != not_worker:
            return client, worker
        client.close()
        assert time.monotonic() < deadline, "every new connection went to the same worker"


def test_two_specialists_on_different_workers_get_a_clear_conflict(served: Served) -> None:
    ticket_id = f"C-{uuid.uuid4().hex[:8]}"
    assert httpx.post(f"{served.url}/v1/classify", json={**REQUEST, "id": ticket_id}, timeout=30).status_code == 200
    alice, alice_worker = _client_on(served, "alice", None)
    bob, bob_worker = _client_on(served, "bob", alice_worker)
    with closing(alice), closing(bob):
        seen_by_alice = alice.get(f"/review/api/requests/{ticket_id}").json()["version"]
        seen_by_bob = bob.get(f"/review/api/requests/{ticket_id}").json()["version"]
        assert seen_by_alice == seen_by_bob
        body = {"action": "change", "version": seen_by_alice, "severity": 2, "reason": "a workaround exists"}
        first = alice.post(
            f"/review/api/requests/{ticket_id}", json=body, headers={"X-CSRF-Token": _csrf_of_session(alice)}
        )
        second = bob.post(
            f"/review/api/requests/{ticket_id}",
            json={**body, "severity": 3, "reason": "one user"},
            headers={"X-CSRF-Token": _csrf_of_session(bob)},
        )
    assert {int(first.headers[WORKER]), int(second.headers[WORKER])} == {alice_worker, bob_worker}
    assert alice_worker != bob_worker
    assert first.status_code == 200, first.text
    assert second.status_code == 409, second.text
    error = second.json()["error"]
    assert error["code"] == "conflict"
    assert "alice" in error["message"]
    with DecisionStore.open(served.store_url) as store:
        stored = store.get(ticket_id)
    assert (stored.final_severity, stored.reviewed_by, stored.version) == (2, "alice", seen_by_alice + 1)


def _csrf_of_session(client: httpx.Client) -> str:
    return _csrf(client.get("/review/queue").text)


def test_each_reload_is_recorded_once_whichever_worker_and_path(served: Served) -> None:
    """SIGHUP, the API and a lead's Reload on the Rules page each add one record (the workers that follow add none)."""
    with DecisionStore.open(served.store_url) as store:
        if store.get_user("lena") is None:
            create_user(store, "lena", PASSWORD, role="lead")
        before = len(store.rule_reloads(limit=1000))

    def generation() -> int:
        return min(h["generation"] for h in _healthz_by_worker(served).values())

    start = generation()
    served.process.send_signal(signal.SIGHUP)
    _until(lambda: generation() > start, 60)
    assert httpx.post(f"{served.url}/v1/admin/reload", timeout=60).status_code == 200
    with closing(_signed_in(served, "lena")) as lena:
        page = lena.get("/review/rules")
        assert page.status_code == 200, page.text
        done = lena.post("/review/rules/reload", data={"csrf_token": _csrf(page.text), "confirm": "yes"})
        assert done.status_code == 303, done.text
    _until(lambda: generation() >= start + 3, 60)
    with DecisionStore.open(served.store_url) as store:
        added = store.rule_reloads(limit=1000)[: len(store.rule_reloads(limit=1000)) - before]
    digest = hashlib.sha256(served.rules.read_text(encoding="utf-8").encode("utf-8")).hexdigest()
    assert [(r.actor, r.outcome, r.rules_sha256) for r in reversed(added)] == [
        ("sighup", "applied", digest),
        ("api", "applied", digest),
        ("lena", "applied", digest),
    ]


def test_workers_stop_by_themselves_when_the_parent_is_killed(tmp_path: Path) -> None:
    served = _start(tmp_path, "")
    workers = served.workers()
    served.process.kill()  # SIGKILL: the parent cannot stop them; they notice it is gone
    served.process.wait(timeout=60)

    def gone() -> bool:
        return not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in workers)

    _until(gone, 30)


def test_a_worker_that_cannot_start_stops_the_server_with_the_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEVTRIAGE_")}
    rules = tmp_path / "broken.yaml"
    rules.write_text("rules: [oops", encoding="utf-8")
    result = subprocess.run(
        [*SERVE, "--port", str(_free_port()), "--store", "", "--rules", str(rules)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "cannot start" in result.stderr and "broken.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_shared_generation_counts_up_once_per_reload_whoever_publishes(tmp_path: Path) -> None:
    parent = SharedGeneration(tmp_path)
    parent.begin()
    one, other = SharedGeneration(tmp_path), SharedGeneration(tmp_path)
    first = one.read()
    assert first is not None and first.generation == 1
    assert one.publish("a.yaml@1", None) == 2
    assert other.publish("a.yaml@2", "m1") == 3
    seen = one.read()
    assert seen is not None and (seen.generation, seen.rules_version, seen.model_version) == (3, "a.yaml@2", "m1")
    assert one.read() is seen  # unchanged file: not read again


def test_failed_sign_ins_count_once_for_all_workers(served: Served) -> None:
    def try_sign_in(password: str) -> httpx.Response:
        with httpx.Client(base_url=served.url, timeout=30) as fresh:  # a new connection: any worker
            form = fresh.get("/review/login")
            data = {"name": "mallory", "password": password, "csrf_token": _csrf(form.text), "next": "/review/"}
            return fresh.post("/review/login", data=data)

    for _ in range(5):  # the per-name limit, wherever the kernel sends each attempt
        assert try_sign_in("wrong password").status_code == 401
    refused_by: set[int] = set()
    deadline = time.monotonic() + 30
    while refused_by != served.workers():
        assert time.monotonic() < deadline, f"only {refused_by} refused"
        refused = try_sign_in("another guess")
        assert refused.status_code == 429, refused.text
        assert "Too many failed sign-ins for this name" in refused.text
        refused_by.add(int(refused.headers[WORKER]))
