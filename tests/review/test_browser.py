"""The review desk end to end in a real browser: headless Chromium from the system's packages, driven by Playwright.

Nothing is downloaded at run time: the test launches /usr/bin/chromium (Debian's `chromium` package, installed by
scripts/install-test-tools.sh) and is skipped when it is missing. Set SEVTRIAGE_SCREENSHOTS=DIR to also save the
screenshots used in the README (docs/screenshots/).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI

from sevtriage.review.desk import ReviewDesk
from sevtriage.review.present import local_time
from sevtriage.review.web import install
from sevtriage.store import DecisionStore
from sevtriage.types import Severity, Ticket
from tests.review.test_web import PASSWORD, password_hash, policy, serve, stop

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("SEVTRIAGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PWNED = "<script>window.__pwned=1</script>"
# Tuesday 24 November 2026, 10:40 in Bratislava: a working morning, so the deadlines are business-hour ones.
NOW = datetime(2026, 11, 24, 9, 40, tzinfo=UTC)


# id, subject, body, minutes before NOW, plan
REQUESTS = [
    ("REQ-1041", "Production down - nobody can log in",
     "Since 8:00 no user can log in to production. The whole company is blocked, orders are not processed.", 50,
     "premier"),
    ("REQ-1042", "Nefunguje export do Excelu",
     "Dobrý deň,\nexport faktúr do Excelu padá s chybou 500. Ostatné funguje.\n\nĎakujem, Jana", 130, "standard"),
    ("REQ-1043", "Hello", "Please see the attached file and call me back.", 20, "standard"),
    ("REQ-1044", "Pomalá aplikace",
     "Aplikace je od včera velmi pomalá, načtení objednávky trvá minutu. Zákazníci si stěžují.", 190, "premier"),
    ("REQ-1045", f"Report title shows {PWNED}",
     f"The monthly report title renders {PWNED} literally. No data was lost.", 65, "standard"),
    ("REQ-1047", "Data missing after upgrade",
     "After the upgrade last night some invoices from October are missing in the database. We are afraid data got "
     "lost.", 95, "premier"),
    ("REQ-1048", "Otázka k licencii", "Dobrý deň, chceli by sme vedieť, či je možné pridať ďalšie licencie.", 26 * 60,
     "standard"),
    ("REQ-1049", "Sync error on test server",
     "On our test server the sync job fails with a timeout. Production is fine.", 240, "premier"),
    ("REQ-1050", "Slow reports",
     "Reports are very slow since the update, it takes minutes to open one. Users are complaining.", 35, "premier"),
    ("REQ-1051", "Faktúry sa neodosielajú",
     "Od rána sa neodosielajú faktúry zákazníkom, chyba pri odoslaní. Je to dosť naliehavé.", 80, "standard"),
]  # fmt: skip


def requests_for_review(now: datetime) -> list[Ticket]:
    return [
        Ticket(rid, subject, body, now - timedelta(minutes=minutes), plan)
        for rid, subject, body, minutes, plan in REQUESTS
    ]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}; run scripts/install-test-tools.sh (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def desk_url(tmp_path: Path) -> Iterator[tuple[str, ReviewDesk]]:
    from sevtriage import Triage

    store = DecisionStore.open(f"sqlite:///{tmp_path / 'desk.db'}", clock=lambda: NOW)
    store.add_user("alice", password_hash())
    desk = ReviewDesk(store, policy(), clock=lambda: NOW)
    tickets = requests_for_review(NOW)
    decisions = Triage.load().classify_many(tickets)
    # The real pipeline's suggestions (rules, model opinion, deadlines), all sent to the queue: the test needs a
    # queue however confident today's model is.
    desk.save(
        (t, replace(d, needs_review=True, review_reasons=d.review_reasons or ("spot_check",)))
        for t, d in zip(tickets, decisions, strict=True)
    )
    app = FastAPI()
    install(app, desk, secret_key="browser-test-secret-" + "k" * 20)
    running = serve(app)
    try:
        yield running.base, desk
    finally:
        stop(running)
        store.close()


def test_a_specialist_signs_in_accepts_one_changes_one_and_signs_out(
    browser: object, desk_url: tuple[str, ReviewDesk]
) -> None:
    base, desk = desk_url
    shots = os.environ.get("SEVTRIAGE_SCREENSHOTS")
    context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=base)  # type: ignore[attr-defined]
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.dismiss())

    # Signed out, the queue is out of reach: the browser lands on the sign-in page.
    page.goto("/review/queue")
    assert page.url.startswith(f"{base}/review/login?next=")
    assert page.locator("h1").inner_text() == "Sign in"

    page.fill("input[name=name]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/review/queue")
    waiting = desk.store.count_queue()
    assert page.locator("#waiting-count").inner_text() == str(waiting) == "10"
    rows = page.locator("#queue tr.row")
    assert rows.count() == waiting
    # A filter applies as soon as it is chosen.
    page.select_option("form.filters select[name=plan]", "premier")
    page.wait_for_url(re.compile(r"plan=premier"))
    premier = [r.id for r in desk.store.queue() if r.plan == "premier"]
    assert page.locator("#queue .rid").all_inner_texts() == premier
    page.click("a.clear")
    page.wait_for_url(f"{base}/review/queue")
    # Most urgent first: the listed deadlines never go backwards.
    listed = [r.id for r in desk.store.queue()]
    assert page.locator("#queue .rid").all_inner_texts() == listed
    if shots:
        page.screenshot(path=str(Path(shots) / "queue.png"), full_page=False)

    # Open the first request from the keyboard and accept it with "a".
    page.keyboard.press("Enter")
    first = listed[0]
    page.wait_for_url(re.compile(rf"/review/requests/{first}$"))
    suggested = desk.store.get(first).severity
    assert suggested is not None
    with page.expect_navigation():
        page.keyboard.press("a")
    assert page.url == f"{base}/review/requests/{first}"  # nothing about the outcome rides in the address
    assert f"Severity {int(suggested)} ({suggested.label}) accepted by alice" in page.locator("#outcome").inner_text()
    history = page.locator("#history tbody tr").last.inner_text()
    assert re.search(rf"alice\s+accepted\s+{int(suggested)} → {int(suggested)}", history), history
    # Reviewed: the page shows the outcome, not the Decide card, and "a" again records nothing.
    assert page.locator("#outcome-card h2").inner_text() == "Outcome"
    assert page.locator("#accept-form").count() == 0
    assert not page.locator("#change-form").is_visible()  # folded under "Change the outcome"
    page.keyboard.press("a")
    page.wait_for_timeout(300)
    assert page.url == f"{base}/review/requests/{first}"
    assert [a.kind for a in desk.store.get(first).history].count("accepted") == 1

    # "n" goes to the next request; change it with "1" and a reason.
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/review/requests/(?!" + re.escape(first) + r")[^?]+$"))
    second = page.url.rsplit("/", 1)[1]
    stored = desk.store.get(second)
    target = Severity.CRITICAL if stored.severity != Severity.CRITICAL else Severity.LOW
    page.keyboard.press(str(int(target)))
    assert page.locator(f"#change-form input[value='{int(target)}']").is_checked()
    page.keyboard.type("Invoices cannot be sent; the customer's billing is halted.")
    with page.expect_navigation():
        page.click("#change-form button[type=submit]")
    expected = desk.policy.deadlines(target, stored.plan, stored.received_at)  # type: ignore[arg-type]
    due = expected.initial_response.due
    shown = local_time(due, desk.timezone) if due else "no target"
    assert page.locator("#initial-due").inner_text() == shown
    assert f"Severity changed to {int(target)} ({target.label}) by alice" in page.locator("#outcome").inner_text()
    history = page.locator("#history tbody tr").last.inner_text()
    assert "alice" in history and "changed" in history and "billing is halted" in history
    assert desk.store.get(second).final_severity == target

    # The agreement page counts both reviews: one kept the suggestion, one overrode it.
    page.click("header a:has-text('Agreement')")
    assert page.locator(".summary").inner_text() == "2 reviewed · 1 overridden (50 %)"
    if shots:
        page.screenshot(path=str(Path(shots) / "agreement.png"), full_page=False)

    # A request that contains a script shows it as text and does not run it.
    page.goto("/review/requests/REQ-1045")
    assert PWNED in page.locator("#request-text").inner_text()
    assert page.evaluate("window.__pwned") is None
    if shots:
        page.goto("/review/requests/REQ-1050")
        page.screenshot(path=str(Path(shots) / "request.png"), full_page=False)
        page.goto(f"/review/requests/{second}")
        page.screenshot(path=str(Path(shots) / "request-changed.png"), full_page=False)

    # Sign out: the queue is out of reach again.
    page.click("header button:has-text('Sign out')")
    page.wait_for_url(re.compile(r"/review/login"))
    page.goto("/review/queue")
    assert "/review/login" in page.url
    context.close()


def test_the_desk_refuses_a_signed_out_browser_on_every_page(browser: object, desk_url: tuple[str, ReviewDesk]) -> None:
    base, _ = desk_url
    context = browser.new_context(base_url=base)  # type: ignore[attr-defined]
    page = context.new_page()
    for path in ("/review/queue", "/review/requests/REQ-1041", "/review/agreement"):
        page.goto(path)
        assert page.url.startswith(f"{base}/review/login"), path
    answer = page.goto("/review/api/queue")
    assert answer is not None and answer.status == 401
    context.close()
