"""Mail into the desk with the real triage and the real store: threads, follow-ups, responses, skips, rejects."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import select

from sevtriage.intake.mail_files import RawMail, read_mail_source
from sevtriage.intake.mail_import import MailDesk, MailOutcome, MailRules, request_id_for
from sevtriage.store import DecisionStore
from sevtriage.store.schema import actions, events, mail_messages, requests
from sevtriage.triage import Triage
from sevtriage.types import Severity
from tests.intake.mail_corpus import SUPPORT, cases, message

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample-mailbox.mbox"


@pytest.fixture
def store(store_url: str) -> Iterator[DecisionStore]:
    with DecisionStore.open(store_url) as opened:
        yield opened


def _desk(triage: Triage, store: DecisionStore, *, support: tuple[str, ...] = (), batch: int = 500) -> MailDesk:
    policy = triage.sla
    assert policy is not None
    rules = MailRules(support=frozenset(support), default_plan=policy.default_plan)
    return MailDesk(triage, store, rules, batch_size=batch)


def _raw(*messages: object) -> list[RawMail]:
    return [RawMail(f"m{i}", m.as_bytes()) for i, m in enumerate(messages)]  # type: ignore[attr-defined]


def _balanced(desk: MailDesk, outcomes: list[MailOutcome]) -> None:
    s = desk.summary
    assert s.messages == len(outcomes)
    assert s.messages == s.requests + s.follow_ups + s.responses + s.skipped_total + s.rejected


def test_the_sample_mailbox_fills_the_desk(triage: Triage, store: DecisionStore) -> None:
    desk = _desk(triage, store, batch=7)  # small batches: threads cross batch boundaries
    outcomes = list(desk.process(read_mail_source(SAMPLE)))
    _balanced(desk, outcomes)
    s = desk.summary
    # The generator wrote 19 new requests, 3 follow-ups, 5 replies from support, and 3 that are not requests.
    assert (s.messages, s.requests, s.follow_ups, s.responses, s.rejected) == (30, 19, 3, 5, 0)
    assert dict(s.skipped) == {"auto_reply": 1, "bulk": 1, "bounce": 1}
    assert [o.where for o in outcomes] == [f"{SAMPLE}#{i}" for i in range(1, 31)]
    assert sum(store.counts().values()) == 19

    # The support replies were recognised without any configured address: the customers wrote to it.
    jana = request_id_for("sample-001@mail.example")
    kinds = [e.kind for e in store.events(jana)]
    assert kinds.count("response") == 2 and kinds.count("follow_up") == 1


def test_a_follow_up_escalates_and_the_deadlines_count_from_arrival(triage: Triage, store: DecisionStore) -> None:
    first = message(
        "Prihlasovanie",
        "Dvom kolegom v sklade nejde prihlásiť sa do dochádzky, ostatní pracujú normálne.",
        message_id="<first@acme.example>",
    )
    again = message(
        "Re: Prihlasovanie",
        "Teraz sa nikto z firmy nevie prihlásiť, výroba stojí.\n\nDňa po 9:00 Podpora napísal(a):\n> Pozrieme sa",
        minutes=240,
        message_id="<again@acme.example>",
        in_reply_to="<first@acme.example>",
    )
    desk = _desk(triage, store)
    list(desk.process(_raw(first)))
    request_id = request_id_for("first@acme.example")
    before = store.get(request_id)
    outcomes = list(desk.process(_raw(again)))
    assert [o.kind for o in outcomes] == ["follow_up"]
    after = store.get(request_id)
    assert before.severity is not None and after.severity == Severity.CRITICAL
    assert after.severity < before.severity
    assert after.received_at == before.received_at
    policy = triage.sla
    assert policy is not None and after.received_at is not None
    expected = policy.deadlines(Severity.CRITICAL, after.plan, after.received_at)
    assert after.deadlines is not None
    assert after.deadlines.initial_response.due == expected.initial_response.due
    assert [e.kind for e in store.events(request_id)].count("severity_changed") >= 1


def test_a_reply_from_a_configured_support_address_is_a_response(triage: Triage, store: DecisionStore) -> None:
    first = message("Export fails", "The payroll export fails with error 500.", message_id="<q@acme.example>")
    answer = message(
        "Re: Export fails",
        "We are on it.",
        sender="Eva <eva@managra.example>",
        to="jan.novak@acme.example",
        minutes=30,
        message_id="<a@managra.example>",
        in_reply_to="<q@acme.example>",
    )
    desk = _desk(triage, store, support=("@managra.example",))
    outcomes = list(desk.process(_raw(first, answer)))
    assert [o.kind for o in outcomes] == ["request", "response"]
    request_id = request_id_for("q@acme.example")
    responses = [e for e in store.events(request_id) if e.kind == "response"]
    assert [(e.by, e.at) for e in responses] == [("eva@managra.example", answer["Date"].datetime)]


def test_a_reply_without_thread_headers_is_matched_by_subject(triage: Triage, store: DecisionStore) -> None:
    first = message("Reports slow", "The monthly report takes ten minutes.", message_id="<r1@acme.example>")
    again = message("RE: Reports slow", "Now it does not load at all.", minutes=60, message_id="<r2@acme.example>")
    other = message(
        "Re: Reports slow",
        "Same here.",
        sender="someone@other.example",
        minutes=61,
        message_id="<r3@other.example>",
    )
    desk = _desk(triage, store)
    outcomes = list(desk.process(_raw(first, again, other)))
    assert [o.kind for o in outcomes] == ["request", "follow_up", "request"]
    assert outcomes[1].request_id == outcomes[0].request_id


def test_support_mail_that_answers_nothing_is_skipped_with_the_reason(triage: Triage, store: DecisionStore) -> None:
    stray = message("Re: something old", "See above.", sender=SUPPORT, in_reply_to="<unknown@x.example>")
    desk = _desk(triage, store, support=(SUPPORT,))
    [outcome] = list(desk.process(_raw(stray)))
    assert (outcome.kind, outcome.skip_kind) == ("skipped", "response_without_request")
    assert "answers no known request" in (outcome.reason or "")


def test_every_corpus_message_is_counted_once(triage: Triage, store: DecisionStore) -> None:
    corpus = cases()
    desk = _desk(triage, store)
    outcomes = list(desk.process(RawMail(c.name, c.raw) for c in corpus))
    _balanced(desk, outcomes)
    expected = Counter("request" if c.outcome == "mail" else c.outcome for c in corpus)
    got = Counter(o.skip_kind if o.kind == "skipped" else o.kind for o in outcomes)
    # "Re: Prihlásenie" from the same sender follows "Prihlásenie" by subject: a follow-up, not a new request.
    assert got.pop("follow_up") == 1
    got["request"] += 1
    assert got == {
        "request": expected["request"],
        "rejected": expected["reject"],
        "auto_reply": expected["auto_reply"],
        "bounce": expected["bounce"],
        "bulk": expected["bulk"],
    }
    for outcome, case in zip(outcomes, corpus, strict=True):
        assert outcome.where == case.name
        if case.outcome == "reject":
            assert case.reason is not None and case.reason in (outcome.reason or "")


def test_importing_the_same_mail_again_changes_nothing(triage: Triage, store: DecisionStore) -> None:
    first = list(_desk(triage, store).process(read_mail_source(SAMPLE)))
    counts = store.counts()
    events = {o.request_id: len(store.events(o.request_id)) for o in first if o.request_id}
    again = _desk(triage, store)
    second = list(again.process(read_mail_source(SAMPLE)))
    assert store.counts() == counts
    assert {rid: len(store.events(rid)) for rid in events} == events
    assert again.summary.requests == again.summary.follow_ups == again.summary.responses == 0
    assert again.summary.skipped["already_processed"] == 27
    assert len(second) == 30


def test_the_stored_request_keeps_the_mail_facts(triage: Triage, store: DecisionStore) -> None:
    msg = message("Import fails", "The CSV import fails.", message_id="<att@acme.example>")
    msg.add_attachment(b"a;b\n", maintype="text", subtype="csv", filename="data.csv")
    list(_desk(triage, store).process(_raw(msg)))
    stored = store.get(request_id_for("att@acme.example"))
    assert stored.fields["customer"] == "jan.novak@acme.example"
    assert stored.fields["customer_name"] == "Ján Novák"
    assert stored.fields["channel"] == "email"
    assert stored.fields["attachments"] == "data.csv (text/csv, 4 B)"
    assert stored.received_at == msg["Date"].datetime
    assert [r.kind for r in store.mail_messages(stored.id)] == ["request"]


# ------------------------------------------------------------------------------------------------ batching (issue 11)
# The import batches its work (new requests, then the answers in their threads, each batch in its own
# transactions). None of that may change what is stored: the golden threads were written by the import before
# it was batched (tests/golden/build_mail_golden.py), and every batch size must store exactly the same.

GOLDEN = ROOT / "tests" / "golden" / "mail_sample_threads.json"


def _golden_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_mail_golden", GOLDEN.with_name("build_mail_golden.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tables(store: DecisionStore) -> dict[str, list[tuple[object, ...]]]:
    """Every row the import writes, without the autoincrement ids (their order across requests is incidental)."""
    order = {
        "requests": [requests.c.id],
        "events": [events.c.request_id, events.c.id],
        "actions": [actions.c.request_id, actions.c.id],
        "mail_messages": [mail_messages.c.message_id],
    }
    found: dict[str, list[tuple[object, ...]]] = {}
    with store.engine.connect() as conn:
        for table in (requests, events, actions, mail_messages):
            columns = [c for c in table.c if c.name != "id" or table is requests]
            rows = conn.execute(select(*columns).order_by(*order[table.name]))
            # The model's batched arithmetic may differ in the last bits of a float between batch sizes.
            found[table.name] = [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]
    return found


@pytest.mark.parametrize("batch", [1, 7, 500])
def test_the_sample_mailbox_gives_the_golden_threads(triage: Triage, tmp_path: Path, batch: int) -> None:
    golden = _golden_module()
    with DecisionStore.open(f"sqlite:///{tmp_path / 'desk.db'}", clock=lambda: golden.CLOCK) as store:
        assert golden.threads(triage, store, batch_size=batch) == json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_batch_sizes_and_one_message_at_a_time_store_the_same(triage: Triage, tmp_path: Path) -> None:
    sample = list(read_mail_source(SAMPLE))
    clock = _golden_module().CLOCK
    runs = {"batch 500": (500, [sample]), "batch 7": (7, [sample]), "batch 1": (1, [sample])}
    runs["a process call per message"] = (500, [[m] for m in sample])  # as `mail watch` with --batch 1
    results = {}
    for name, (batch, calls) in runs.items():
        with DecisionStore.open(f"sqlite:///{tmp_path / f'{batch}-{len(calls)}.db'}", clock=lambda: clock) as store:
            desk = _desk(triage, store, batch=batch)
            outcomes = [o.to_dict() for part in calls for o in desk.process(part)]
            results[name] = (outcomes, _tables(store))
    first = results.pop("batch 500")
    assert sum(len(rows) for rows in first[1].values()) > 80  # 19 requests, their events, actions and records
    for name, result in results.items():
        assert result == first, name


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from sqlalchemy import event
    from sevtriage.store import DecisionStore
    from sevtriage.triage import Triage
    from tests.intake.test_mail_import import _golden_module

    golden = _golden_module()
    store = DecisionStore.open({url!r}, clock=lambda: golden.CLOCK)
    follow_ups = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _die(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO events") and "follow_up" in str(parameters):
            follow_ups.append(statement)
            if len(follow_ups) == 2:
                # In the middle of a batch of answers: some of its rows are written inside the open transaction.
                print("dying", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

    golden.threads(Triage.load(), store, batch_size=7)
    """
)


def test_an_import_killed_in_the_middle_of_a_batch_is_completed_by_running_it_again(
    triage: Triage, store_url: str
) -> None:
    script = KILL_SCRIPT.format(root=str(ROOT), url=store_url)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.strip() == "dying"
    golden = _golden_module()
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    with DecisionStore.open(store_url, clock=lambda: golden.CLOCK) as store:
        stored = store.counts()
        answers = {
            e.ref
            for rid in expected["events"]
            for e in (store.events(rid) if rid in store.tickets([rid]) else [])
            if e.kind in ("response", "follow_up")
        }
        records = {m for m, r in store.mail_records(list(_all_message_ids(expected))).items() if r.kind != "request"}
        # Nothing half-written: what was stored of the answers is whole batches, each answer with its record.
        assert answers == records
        assert sum(stored.values()) > 0 and len(answers) < 8, "the kill came too late or too early to prove anything"
        again = golden.threads(triage, store)
    assert again["events"] == expected["events"]
    assert again["records"] == expected["records"]


def _all_message_ids(golden: dict[str, Any]) -> set[str]:
    return {row[0] for rows in golden["records"].values() for row in rows}
