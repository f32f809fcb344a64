"""The store's side of the Rules page: matched rules per request, per-rule counts, recent overrides, reload audit
and desk roles; on SQLite and PostgreSQL (the `store` fixture)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import text

from sevtriage.errors import InputError
from sevtriage.store import DecisionStore, NotFound, migrations
from sevtriage.types import RuleMatch, Severity, Ticket
from tests.store.test_store import NOW, pair


def matched(request_id: str, *rules: tuple[str, int], severity: int = 2) -> tuple[Ticket, object]:
    ticket, decision = pair(request_id, severity)
    found = tuple(RuleMatch(rule, Severity(sev), f"rule {rule}", ("evidence",)) for rule, sev in rules)
    return ticket, replace(decision, matched_rules=found)


def fill(store: DecisionStore) -> None:
    # down-1 (sev 1) matched R1..R4; R1 also with export-3 on R2 and R3; nothing on R5.
    store.save_many(
        [
            matched("R1", ("down", 1), severity=1),
            matched("R2", ("down", 1), ("export", 3), severity=1),
            matched("R3", ("down", 1), ("export", 3), severity=1),
            matched("R4", ("down", 1), severity=1),
            matched("R5", severity=3),
            matched("R6", ("export", 3), severity=3),
        ]
    )
    store.review("R1", actor="alice", expected_version=1, action="accept")  # down right
    store.review("R2", actor="alice", expected_version=1, action="change", severity=3, reason="only the export")
    store.review("R3", actor="bob", expected_version=1, action="change", severity=2, reason="one office")
    store.review("R6", actor="bob", expected_version=1, action="accept")  # export right
    # R4, R5 wait for review.


def test_rule_counts_are_matches_reviews_agreement_and_overrides_per_rule(store: DecisionStore) -> None:
    fill(store)
    counts = {c.rule_id: c for c in store.rule_counts()}
    assert set(counts) == {"down", "export"}
    down, export = counts["down"], counts["export"]
    assert (down.severity, down.matched, down.reviewed, down.agreed, down.overridden) == (Severity.CRITICAL, 4, 3, 1, 2)
    assert down.precision == pytest.approx(1 / 3) and down.override_rate == pytest.approx(2 / 3)
    # export (3): R2 ended at 3 (agreed, though overridden from the suggested 1), R3 at 2, R6 at 3 (accepted).
    assert (export.matched, export.reviewed, export.agreed, export.overridden) == (3, 3, 2, 2)
    assert export.precision == pytest.approx(2 / 3)


def test_a_rule_without_reviews_has_no_precision_rather_than_zero(store: DecisionStore) -> None:
    store.save_many([matched("W1", ("down", 1), severity=1)])
    (down,) = store.rule_counts()
    assert (down.matched, down.reviewed, down.precision, down.override_rate) == (1, 0, None, None)


def test_a_new_suggestion_replaces_the_matched_rules_but_a_reviewed_request_keeps_its_own(store: DecisionStore) -> None:
    fill(store)
    store.save_many([matched("R4", ("export", 3), severity=3), matched("R1", ("export", 3), severity=3)])
    counts = {c.rule_id: c.matched for c in store.rule_counts()}
    # R4 (waiting) now matches export only; R1 was reviewed, so its suggestion and matches stay.
    assert counts == {"down": 3, "export": 4}


def test_recent_overrides_are_the_newest_per_rule_with_the_reason(url: str) -> None:
    clock = [NOW]
    with DecisionStore.open(url, clock=lambda: clock[0]) as store:
        store.save_many([matched(f"O{i}", ("down", 1), severity=1) for i in range(4)])
        for i in range(4):
            clock[0] = NOW + timedelta(minutes=i)
            store.review(f"O{i}", actor="alice", expected_version=1, action="change", severity=3, reason=f"why {i}")
        found = store.recent_overrides(per_rule=2)
    assert [(o.rule_id, o.request_id, o.reason) for o in found] == [("down", "O3", "why 3"), ("down", "O2", "why 2")]
    assert (found[0].suggested, found[0].final, found[0].reviewed_by) == (Severity.CRITICAL, Severity.MEDIUM, "alice")


def test_an_upgraded_store_gets_the_matched_rules_of_its_stored_suggestions(url: str) -> None:
    with DecisionStore.open(url) as store:
        fill(store)
        store.add_user("alice", "hash")
        with store.engine.begin() as conn:
            # Back to version 6 by hand: what a store from before this step looks like.
            conn.execute(text("DROP TABLE rule_matches"))
            conn.execute(text("DROP TABLE rule_reloads"))
            conn.execute(text("ALTER TABLE users DROP COLUMN role"))
            conn.execute(text("DROP TABLE sign_in_failures"))  # and the later steps, which run again
            conn.execute(text("DELETE FROM sevtriage_schema WHERE version >= 7"))
    with DecisionStore.open(url) as upgraded:
        assert upgraded.schema_version() == migrations.LATEST
        assert {c.rule_id: c.matched for c in upgraded.rule_counts()} == {"down": 4, "export": 3}
        alice = upgraded.get_user("alice")
        assert alice is not None and alice.role == "specialist"


def test_roles(store: DecisionStore) -> None:
    store.add_user("alice", "hash")
    store.add_user("lena", "hash", role="lead")
    assert [(u.name, u.role, u.is_lead) for u in store.list_users()] == [
        ("alice", "specialist", False),
        ("lena", "lead", True),
    ]
    store.set_role("alice", "lead")
    alice = store.get_user("alice")
    assert alice is not None and alice.is_lead
    with pytest.raises(InputError, match=r"^role must be one of specialist, lead; got 'boss'$"):
        store.set_role("alice", "boss")
    with pytest.raises(NotFound, match=r"no specialist is named 'bob'"):
        store.set_role("bob", "lead")


def test_reloads_are_recorded_newest_first(url: str) -> None:
    clock = [NOW]
    with DecisionStore.open(url, clock=lambda: clock[0]) as store:
        store.record_reload(
            actor="api-token", outcome="applied", rules_version="severity.yaml@abc", rules_sha256="a" * 64,
            rules_path="/etc/sevtriage/severity.yaml",
        )  # fmt: skip
        clock[0] = NOW + timedelta(minutes=5)
        store.record_reload(
            actor="sighup", outcome="refused", rules_version=None, rules_sha256="b" * 64, rules_path="x.yaml",
            message="x.yaml:3: not valid YAML",
        )  # fmt: skip
        found = store.rule_reloads()
    assert [(r.actor, r.outcome, r.rules_sha256, r.at) for r in found] == [
        ("sighup", "refused", "b" * 64, NOW + timedelta(minutes=5)),
        ("api-token", "applied", "a" * 64, NOW),
    ]
    assert found[0].message == "x.yaml:3: not valid YAML"


def test_diff_requests_label_only_reviewed_requests_with_the_final_severity(store: DecisionStore) -> None:
    fill(store)
    labels = {t.id: label for t, label in store.diff_requests()}
    assert labels == {
        "R1": Severity.CRITICAL,
        "R2": Severity.MEDIUM,
        "R3": Severity.HIGH,
        "R4": None,
        "R5": None,
        "R6": Severity.MEDIUM,
    }
    assert [t.id for t, _ in store.diff_requests(limit=2)] == ["R5", "R6"]
    assert store.count_requests() == 6
