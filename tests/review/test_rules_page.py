"""The desk's Rules page over HTTP, against the real service (`create_app` with a store) on a real uvicorn server.

Requests are classified through the API by the real pipeline (bundled rules and model), so the store holds what
the service stores; the what-if runs in a worker process as in service.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sevtriage.api.app import create_app
from sevtriage.cli import main
from sevtriage.resources import default_rules_path
from sevtriage.review.auth import SESSION_COOKIE, Session, SessionCodec
from sevtriage.review.whatif import MAX_CANDIDATE_BYTES
from sevtriage.settings import Settings
from sevtriage.store import DecisionStore
from tests.review.test_web import csrf_of, password_hash, serve, stop

SECRET = "rules-page-secret-" + "r" * 24
TOKEN = "rules-page-token-" + "t" * 24
API = {"Authorization": f"Bearer {TOKEN}"}
ARRIVED = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

# id, subject, body, plan: slow systems (serious-performance / mild-slowness), outages, questions.
REQUESTS = [
    ("P-1", "Everything is extremely slow",
     "Every page takes 30-50 seconds to load today, the HR team cannot work, month close is in progress.", "premier"),
    ("P-2", "Terminals time out",
     "Clock-in on the terminals times out at shift change, there is a queue at the terminals.", "standard"),
    ("P-3", "Pomalá aplikácia", "Aplikácia je extrémne pomalá, načítanie trvá desiatky sekúnd, nedá sa pracovať.",
     "premier"),
    ("P-4", "Nobody can log in", "Since this morning nobody in our company can log in, the login page says invalid "
     "credentials.", "premier"),
    ("P-5", "How do I export?", "How can I export the attendance report to Excel?", "standard"),
    ("P-6", "Service down", "The whole service is down, nobody can work, we get error 503 everywhere.", "premier"),
]  # fmt: skip


def edited_rules(source: str) -> str:
    """The bundled rules with serious-performance demoted from 2 to 3 (its examples then fail)."""
    edited, n = re.subn(r"(  - id: serious-performance\n    severity:) 2", r"\1 3", source)
    assert n == 1
    return edited


MALFORMED = "version: 1\nsignals:\n  slow:\n    en: [slow\nrules: []\n"


@dataclass
class Service:
    base: str
    url: str
    rules: Path
    store: DecisionStore

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, follow_redirects=False, timeout=60)

    def as_user(self, name: str) -> httpx.Client:
        """A client signed in as `name` (the session is recorded directly: signing in is tested in test_web)."""
        session = Session.fresh(signed_in=True)
        assert session.sid is not None
        self.store.open_session(session.sid, name, datetime.now(UTC) + timedelta(hours=1))
        client = self.client()
        client.cookies.set(SESSION_COOKIE, SessionCodec(SECRET).dumps(session), path="/review")
        return client

    def classify(self, request_id: str) -> dict[str, object]:
        subject, body, plan = next((s, b, p) for i, s, b, p in REQUESTS if i == request_id)
        payload = {"id": request_id, "subject": subject, "body": body, "plan": plan, "received_at": ARRIVED.isoformat()}
        with self.client() as http:
            answer = http.post("/v1/classify", json=payload, headers=API)
        assert answer.status_code == 200, answer.text
        decided: dict[str, object] = answer.json()
        return decided

    def live_version(self) -> str:
        with self.client() as http:
            version: str = http.get("/healthz").json()["rules_version"]
            return version


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    rules = tmp_path / "severity.yaml"
    shutil.copyfile(default_rules_path(), rules)
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    app = create_app(Settings.load(store_url=url, secret_key=SECRET, api_token=TOKEN, rules_path=rules))
    store: DecisionStore = app.state.review_desk.store
    store.add_user("lena", password_hash(), role="lead")
    store.add_user("alice", password_hash())
    running = serve(app)
    live = Service(running.base, url, rules, store)
    try:
        for request_id, *_ in REQUESTS:
            live.classify(request_id)
        yield live
    finally:
        stop(running)
        store.close()


def whatif(
    client: httpx.Client, *, text: str = "", upload: bytes | None = None, csrf: str | None = None
) -> httpx.Response:
    page = client.get("/review/rules")
    token = csrf if csrf is not None else csrf_of(page.text)
    # Multipart, as the page's form sends it: with no file chosen, a browser sends an empty part without a name.
    chosen = (
        ("my-rules.yaml", upload, "application/x-yaml") if upload is not None else ("", b"", "application/octet-stream")
    )
    files = {"candidate_file": chosen}
    return client.post("/review/rules/whatif", data={"csrf_token": token, "candidate_text": text}, files=files)


def cells(html: str, table: str) -> list[list[str]]:
    """The rows of a table on the page as lists of cell texts (tags stripped)."""
    found = re.search(rf'<table[^>]*id="{table}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert found, f"no table {table}"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1), re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)] for r in rows
    ]


# -- who may see it -------------------------------------------------------------------------------------------
def test_a_specialist_without_the_lead_role_gets_403_and_no_link(service: Service) -> None:
    with service.as_user("alice") as alice:
        refused = alice.get("/review/rules")
        assert refused.status_code == 403
        assert "The Rules page is for support leads, and alice is a specialist" in refused.text
        assert "sevtriage users role alice lead" in refused.text
        assert 'id="nav-rules"' not in alice.get("/review/queue").text
        assert whatif_refused(alice).status_code == 403
        form = alice.get("/review/queue")
        reload = alice.post("/review/rules/reload", data={"csrf_token": csrf_of(form.text), "confirm": "yes"})
        assert reload.status_code == 403
    assert service.store.rule_reloads() == []
    with service.as_user("lena") as lena:
        assert 'id="nav-rules"' in lena.get("/review/queue").text
    # The role is read on every click: made a lead, alice sees the page at once.
    service.store.set_role("alice", "lead")
    with service.as_user("alice") as alice:
        assert alice.get("/review/rules").status_code == 200


def whatif_refused(client: httpx.Client) -> httpx.Response:
    token = csrf_of(client.get("/review/queue").text)
    return client.post("/review/rules/whatif", data={"csrf_token": token, "candidate_text": "rules: []"})


@pytest.mark.parametrize(("method", "path"), [("GET", "/review/rules"), ("POST", "/review/rules/whatif")])
def test_signed_out_visitors_are_sent_to_sign_in(service: Service, method: str, path: str) -> None:
    with service.client() as anonymous:
        answer = anonymous.request(method, path, data={"candidate_text": "x"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/review/login?next=")


# -- the per-rule record ----------------------------------------------------------------------------------------
def test_each_live_rule_shows_its_matches_precision_overrides_and_links(service: Service) -> None:
    store = service.store
    # P-1 accepted, P-2 changed (override), P-3 changed: reviews with the specialists' final severities.
    for request_id, action, severity in (("P-1", "accept", None), ("P-2", "change", 3), ("P-3", "change", 1)):
        item = store.get(request_id)
        store.review(request_id, actor="alice", expected_version=item.version, action=action, severity=severity,
                     reason="seen on site" if severity else None)  # fmt: skip
    # The expected record, from the stored decisions themselves (not from the per-rule table).
    stored = [store.get(request_id) for request_id, *_ in REQUESTS]
    with service.as_user("lena") as lena:
        page = lena.get("/review/rules")
    assert page.status_code == 200
    rows = {r[0].split()[0]: r for r in cells(page.text, "rule-stats")}
    live_ids = [m for m in re.findall(r'data-rule="([^"]+)"', page.text)]
    assert live_ids[:3] == ["service-not-available", "server-errors-for-everyone", "nobody-can-log-in"]
    for rule_id in {m.id for item in stored for m in item.suggested.matched_rules}:
        mine = [item for item in stored if rule_id in {m.id for m in item.suggested.matched_rules}]
        severity = next(m.severity for item in mine for m in item.suggested.matched_rules if m.id == rule_id)
        reviewed = [item for item in mine if item.reviewed]
        agreed = sum(1 for item in reviewed if item.final_severity == severity)
        overridden = [item for item in reviewed if item.status == "changed"]
        row = rows[rule_id]
        assert row[2:4] == [str(len(mine)), str(len(reviewed))], rule_id
        assert row[4] == (f"{agreed / len(reviewed) * 100:.0f} %" if reviewed else "—")
        assert row[5] == (f"{len(overridden) / len(reviewed) * 100:.0f} %" if reviewed else "—")
        for item in overridden:
            assert f'href="/review/requests/{item.id}"' in page.text
    assert rows["nobody-can-log-in"][2] == "1"  # P-4
    assert rows["usage-question"][3] == "0"


# -- what-if ----------------------------------------------------------------------------------------------------
def test_a_what_if_shows_the_cli_diff_and_changes_nothing_live(
    service: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    item = service.store.get("P-1")
    service.store.review("P-1", actor="alice", expected_version=item.version, action="change", severity=3,
                         reason="month close is slow, not stopped")  # fmt: skip
    before_version = service.live_version()
    before = service.classify("P-1")
    on_disk = service.rules.read_bytes()
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(edited_rules(service.rules.read_text(encoding="utf-8")), encoding="utf-8")

    with service.as_user("lena") as lena:
        answer = whatif(lena, upload=candidate.read_bytes())
    assert answer.status_code == 200, answer.text

    # The same changes as `sevtriage rules diff LIVE candidate.yaml --store URL`.
    capsys.readouterr()
    assert main(["rules", "diff", str(service.rules), str(candidate), "--store", service.url, "--format", "json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    changed = cells(answer.text, "changed")
    assert [row[0] for row in changed] == [c["id"] for c in expected["changes"]]
    assert {"P-1", "P-2", "P-3"} <= {row[0] for row in changed}
    assert f"<strong>{expected['changed']}</strong> of {expected['rows']} stored requests change verdict" in answer.text
    moved = [
        r
        for r in expected["rules"]
        if (r["old"]["matched"], r["old"]["precision"]) != (r["new"]["matched"], r["new"]["precision"])
    ]
    assert [row[0] for row in cells(answer.text, "rule-diff")] == [r["id"] for r in moved]
    shown = {row[0]: row for row in cells(answer.text, "rule-diff")}
    # P-1 was reviewed as 3: serious-performance (2) was wrong on it, the candidate's (3) is right.
    assert shown["serious-performance"][3:] == ["0 %", "100 %"]
    sev1 = [f"{v * 100:.0f} %" if v is not None else "—" for v in expected["sev1_recall"].values()]
    assert f"<strong>{sev1[0]}</strong> → <strong>{sev1[1]}</strong>" in answer.text
    decided = cells(answer.text, "decided")
    for row in decided:
        severity = row[0]
        assert row[1:3] == [str(expected["decided_per_severity"][severity]["old"]),
                            str(expected["decided_per_severity"][severity]["new"])]  # fmt: skip
    # The SLA load section of the same diff: the ISO week of the arrivals, and the Premier out-of-hours counts.
    load = expected["sla_load"]
    weeks = cells(answer.text, "load-weeks")
    assert [w[0] for w in weeks] == [w["week"] for w in load["weeks"]] == ["2026-W48"]
    outside = cells(answer.text, "outside-hours")
    premier = load["outside_business_hours"]
    assert (
        outside[0][1]
        == f"{premier['old']['initial']['outside_business_hours']} of {premier['old']['initial']['deadlines']}"
    )
    # The candidate's own examples (expecting 2) now fail: said, as `rules check` would.
    assert 'id="example-problems"' in answer.text and "candidate.yaml:" in answer.text

    # Nothing live changed: the version in service, the classification, the file, the reload history.
    assert service.live_version() == before_version
    after = service.classify("P-1")
    assert (after["severity"], after["matched_rules"], after["rules_version"]) == (
        before["severity"], before["matched_rules"], before["rules_version"],
    )  # fmt: skip
    assert service.rules.read_bytes() == on_disk
    assert service.store.rule_reloads() == []


def test_a_malformed_candidate_gets_the_rules_check_messages(
    service: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = (
        edited_rules(service.rules.read_text(encoding="utf-8"))
        .replace("    strength: strong\n", "    strength: mighty\n", 1)
        .replace("  - id: nobody-can-log-in\n", "  - id: nobody-can-log-in\n    colour: red\n")
    )
    (tmp_path / "candidate.yaml").write_text(broken, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["rules", "check", "candidate.yaml"]) == 2
    expected = [
        line.removeprefix("error: ") for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")
    ]
    assert len(expected) >= 2 and all(line.startswith("candidate.yaml:") for line in expected)
    with service.as_user("lena") as lena:
        for answer in (whatif(lena, text=broken), whatif(lena, upload=broken.encode())):
            assert answer.status_code == 422
            shown = re.findall(r"<li><code>(.*?)</code></li>", answer.text)
            assert [_unescape(s) for s in shown] == expected
            assert 'id="whatif-result"' not in answer.text
        yaml_error = whatif(lena, text=MALFORMED)
    assert yaml_error.status_code == 422
    assert re.search(r"<li><code>candidate\.yaml:5: not valid YAML: ", yaml_error.text)


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_a_what_if_needs_the_csrf_token_text_and_a_bounded_size(service: Service) -> None:
    good = edited_rules(service.rules.read_text(encoding="utf-8"))
    with service.as_user("lena") as lena:
        forged = whatif(lena, text=good, csrf="forged")
        assert forged.status_code == 403 and "CSRF token missing or wrong" in forged.text
        assert 'id="whatif-result"' not in forged.text
        empty = whatif(lena, text="  ")
        assert empty.status_code == 400 and "both were empty" in empty.text
        big = whatif(lena, upload=b"# padding\n" * (MAX_CANDIDATE_BYTES // 10 + 10))
        assert big.status_code == 422
        assert f"a candidate may have at most {MAX_CANDIDATE_BYTES:,}" in big.text
        pasted = whatif(lena, text="#" * (MAX_CANDIDATE_BYTES + 100))
        assert (
            pasted.status_code == 413 and f"a candidate may have at most {MAX_CANDIDATE_BYTES:,} bytes" in pasted.text
        )
        huge = whatif(lena, upload=b"x" * (3 * MAX_CANDIDATE_BYTES))
        assert huge.status_code == 413 and "may have at most" in huge.text


# -- reloads ----------------------------------------------------------------------------------------------------
def test_every_reload_is_recorded_with_who_the_hash_and_the_version(service: Service) -> None:
    text = service.rules.read_text(encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with service.client() as http:
        assert http.post("/v1/admin/reload", headers=API).status_code == 200
    with service.as_user("lena") as lena:
        page = lena.get("/review/rules")
        unconfirmed = lena.post("/review/rules/reload", data={"csrf_token": csrf_of(page.text)})
        assert unconfirmed.status_code == 400 and "Tick the box" in unconfirmed.text
        service.rules.write_text(edited_rules(text), encoding="utf-8")
        done = lena.post("/review/rules/reload", data={"csrf_token": csrf_of(page.text), "confirm": "yes"})
        assert done.status_code == 303
        new_version = service.live_version()
        assert done.headers["location"] == "/review/rules?reloaded=1"
        assert f"Reloaded: {new_version} is in service." in lena.get(done.headers["location"]).text
        service.rules.write_text(MALFORMED, encoding="utf-8")
        with service.client() as http:
            refused = http.post("/v1/admin/reload", headers=API)
        assert refused.status_code == 422
        history = lena.get("/review/rules")
    edited_digest = hashlib.sha256(edited_rules(text).encode("utf-8")).hexdigest()
    found = service.store.rule_reloads()
    assert [(r.actor, r.outcome, r.rules_sha256) for r in found] == [
        ("api-token", "refused", hashlib.sha256(MALFORMED.encode()).hexdigest()),
        ("lena", "applied", edited_digest),
        ("api-token", "applied", digest),
    ]
    assert found[1].rules_version == new_version == f"severity.yaml@{edited_digest[:12]}"
    assert found[0].message is not None and "not valid YAML" in found[0].message
    shown = cells(history.text, "reloads")
    assert [(row[1], row[2], row[4]) for row in shown] == [(r.actor, r.outcome, r.rules_sha256) for r in found]
    assert service.live_version() == new_version  # the refused file left the edited rules in service
