"""The Rules page in a real browser (headless Chromium from the system's packages, driven by Playwright).

The service runs as in production (`create_app` with a store, an API token and its own copy of the rule file);
its requests are classified through the API. A lead signs in, reads the per-rule record, pastes an edited rule
file and sees the verdicts it would change, while the rules in service stay as they were; a malformed upload
shows the `rules check` messages; a specialist without the role gets 403 and no link. With
SEVTRIAGE_SCREENSHOTS=DIR the page is saved as DIR/rules.png (the README's screenshot).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sevtriage.api.app import create_app
from sevtriage.resources import default_rules_path
from sevtriage.settings import Settings
from sevtriage.store import DecisionStore
from tests.review.test_browser import browser  # noqa: F401  (a fixture)
from tests.review.test_rules_page import MALFORMED, REQUESTS, SECRET, TOKEN, Service, edited_rules
from tests.review.test_web import PASSWORD, password_hash, serve, stop

pytestmark = pytest.mark.browser


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
        # One review changed by a specialist, so the record has an override to link to.
        item = store.get("P-1")
        store.review("P-1", actor="alice", expected_version=item.version, action="change", severity=3,
                     reason="month close is slow, not stopped")  # fmt: skip
        yield live
    finally:
        stop(running)
        store.close()


def sign_in(page: object, base: str, name: str) -> None:
    page.goto("/review/login")  # type: ignore[attr-defined]
    page.fill("input[name=name]", name)  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button:has-text('Sign in')")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base}/review/queue")  # type: ignore[attr-defined]


def test_a_lead_tries_an_edited_rule_file_and_nothing_changes_live(
    browser: object,  # noqa: F811
    service: Service,
    tmp_path: Path,
) -> None:
    base = service.base
    shots = os.environ.get("SEVTRIAGE_SCREENSHOTS")
    version = service.live_version()
    decided = service.classify("P-2")
    on_disk = service.rules.read_bytes()
    context = browser.new_context(viewport={"width": 1366, "height": 1000}, base_url=base)  # type: ignore[attr-defined]
    page = context.new_page()

    sign_in(page, base, "lena")
    page.click("header a:has-text('Rules')")
    page.wait_for_url(f"{base}/review/rules")
    assert page.locator("#live-version").inner_text() == version
    # The record of a rule: P-1 (serious-performance) was overridden by alice, and the row links to it.
    row = page.locator("#rule-stats tr[data-rule='serious-performance']")
    assert row.locator("td.reviewed").inner_text() == "1"
    assert row.locator("td.override-rate").inner_text() == "100 %"
    with page.expect_navigation():
        row.locator("td.overrides a", has_text="P-1").click()
    assert page.url == f"{base}/review/requests/P-1"
    page.go_back()

    # Paste the edited file: serious-performance becomes severity 3.
    page.fill("#candidate-text", edited_rules(service.rules.read_text(encoding="utf-8")))
    with page.expect_navigation():
        page.click("#whatif-form button[type=submit]")
    assert page.locator("#whatif-result").is_visible()
    changed = page.locator("#changed tbody tr[data-id]")
    ids = [changed.nth(i).get_attribute("data-id") for i in range(changed.count())]
    assert {"P-1", "P-2", "P-3"} <= set(ids)
    p2 = page.locator("#changed tr[data-id='P-2']")
    assert p2.locator("td.old").inner_text() == "2" and p2.locator("td.new").inner_text() == "3"
    summary = page.locator("#whatif-summary").inner_text()
    assert summary.startswith(f"{len(ids)} of {len(REQUESTS)} stored requests change verdict (1 reviewed")
    assert page.locator("#rule-diff tr[data-rule='serious-performance'] td").all_inner_texts()[2:] == [
        "0 %",
        "100 %",
    ]
    assert page.locator("#load-weeks tbody tr").count() == 1
    # The answer scrolls to the what-if (the form's action ends in #whatif).
    assert page.evaluate("window.scrollY") > 0
    if shots:
        page.locator("#whatif-result").scroll_into_view_if_needed()
        page.screenshot(path=str(Path(shots) / "rules.png"), full_page=False)

    # Uploading the same file (as a lead would from their rules repository) gives the same answer.
    edited = tmp_path / "severity-edited.yaml"
    edited.write_text(edited_rules(service.rules.read_text(encoding="utf-8")), encoding="utf-8")
    page.fill("#candidate-text", "")
    page.set_input_files("#whatif-form input[type=file]", str(edited))
    with page.expect_navigation():
        page.click("#whatif-form button[type=submit]")
    uploaded = page.locator("#changed tbody tr[data-id]")
    assert [uploaded.nth(i).get_attribute("data-id") for i in range(uploaded.count())] == ids

    # Nothing live changed: the version in service, a classification, the file, the reload history.
    assert service.live_version() == version
    again = service.classify("P-2")
    assert (again["severity"], again["matched_rules"]) == (decided["severity"], decided["matched_rules"])
    assert service.rules.read_bytes() == on_disk
    page.goto("/review/rules")
    assert page.locator("#reloads tbody").inner_text() == "No reload recorded yet."

    # A malformed upload: the `rules check` messages, named candidate.yaml; no diff.
    broken = tmp_path / "mine.yaml"
    broken.write_text(MALFORMED, encoding="utf-8")
    page.set_input_files("#whatif-form input[type=file]", str(broken))
    with page.expect_navigation():
        page.click("#whatif-form button[type=submit]")
    problems = page.locator("#candidate-problems li").all_inner_texts()
    assert len(problems) == 1 and re.match(r"candidate\.yaml:5: not valid YAML: ", problems[0]), problems
    assert page.locator("#whatif-result").count() == 0
    context.close()

    with httpx.Client(base_url=base) as http:
        assert http.get("/healthz").json()["rules_version"] == version


def test_a_specialist_has_no_rules_link_and_gets_403(browser: object, service: Service) -> None:  # noqa: F811
    context = browser.new_context(base_url=service.base)  # type: ignore[attr-defined]
    page = context.new_page()
    sign_in(page, service.base, "alice")
    assert page.locator("header nav a").all_inner_texts()[1:] == ["SLA", "Agreement"]
    answer = page.goto("/review/rules")
    assert answer is not None and answer.status == 403
    assert page.locator("h1").inner_text() == "Leads only"
    assert "sevtriage users role alice lead" in page.locator(".alert").inner_text()
    context.close()
