"""The review desk's pure parts: evidence highlighting, time left, language guess, agreement numbers, sessions."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevtriage.language import guess_language
from sevtriage.review.agreement import agreement
from sevtriage.review.auth import Session, SessionCodec, SignInThrottle
from sevtriage.review.present import Segment, highlight, local_time, short_time, time_left
from sevtriage.store import Action, StoredRequest
from sevtriage.types import Decision, RuleMatch, Severity

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
BRATISLAVA = ZoneInfo("Europe/Bratislava")


def rule(rule_id: str, severity: int, *evidence: str) -> RuleMatch:
    return RuleMatch(rule_id, Severity(severity), "why", evidence)


@pytest.mark.parametrize(
    ("text", "matches", "expected"),
    [
        ("nothing here", [rule("r", 1, "outage")], [Segment("nothing here")]),
        (
            "Nikto sa NEVIE prihlásiť",
            [rule("login", 1, "nevie prihlasit")],
            [Segment("Nikto sa "), Segment("NEVIE prihlásiť", ("login",))],
        ),
        (
            "data\n  lost twice: data lost",
            [rule("loss", 1, "data lost")],
            [Segment("data\n  lost", ("loss",)), Segment(" twice: "), Segment("data lost", ("loss",))],
        ),
        (
            "export fails badly",
            [rule("a", 3, "export fails"), rule("b", 2, "fails badly")],
            [Segment("export ", ("a",)), Segment("fails", ("a", "b")), Segment(" badly", ("b",))],
        ),
        ("a.b", [rule("dot", 4, ".")], [Segment("a"), Segment(".", ("dot",)), Segment("b")]),
        ("", [rule("r", 1, "x")], []),
        ("text", [rule("blank", 1, "   ")], [Segment("text")]),
    ],
)
def test_highlight_marks_evidence_case_and_accent_insensitively(
    text: str, matches: list[RuleMatch], expected: list[Segment]
) -> None:
    assert highlight(text, matches) == expected


@given(text=st.text(max_size=200), phrases=st.lists(st.text(max_size=8), max_size=4))
def test_highlight_never_changes_the_text(text: str, phrases: list[str]) -> None:
    segments = highlight(text, [rule("r", 2, *phrases)])
    assert "".join(s.text for s in segments) == text
    assert all(s.text for s in segments)
    assert all(a.rules != b.rules for a, b in itertools.pairwise(segments))


@pytest.mark.parametrize(
    ("due", "text", "state"),
    [
        (None, "no target", "none"),
        (NOW - timedelta(minutes=15), "overdue by 15 min", "overdue"),
        (NOW - timedelta(days=2, hours=3), "overdue by 2 d 3 h", "overdue"),
        (NOW, "0 min left", "soon"),
        (NOW + timedelta(minutes=60), "1 h 00 min left", "soon"),
        (NOW + timedelta(minutes=61), "1 h 01 min left", "ok"),
        (NOW + timedelta(days=1, hours=22, minutes=5), "1 d 22 h left", "ok"),
    ],
)
def test_time_left(due: datetime | None, text: str, state: str) -> None:
    left = time_left(due, NOW)
    assert (left.text, left.state) == (text, state)


def test_times_are_shown_in_the_desks_zone_across_dst() -> None:
    assert local_time(datetime(2026, 11, 24, 9, 0, tzinfo=UTC), BRATISLAVA) == "Tue 24 Nov 2026, 10:00 CET"
    assert local_time(datetime(2026, 7, 1, 9, 0, tzinfo=UTC), BRATISLAVA) == "Wed 01 Jul 2026, 11:00 CEST"
    assert short_time(datetime(2026, 7, 1, 9, 0, tzinfo=UTC), BRATISLAVA) == "Wed 01 Jul, 11:00"
    assert local_time(None, BRATISLAVA) == short_time(None, BRATISLAVA) == "—"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The export fails and we cannot send invoices.", "en"),
        ("Nemôžeme sa prihlásiť, prosím o pomoc.", "sk"),
        ("Nemuzeme sa prihlasit, system nie je dostupny.", "sk"),
        ("Nemůžeme se přihlásit, prosím o pomoc.", "cs"),
        ("Neni mozne se prihlasit, jsme bez pristupu.", "cs"),
        ("Ďakujem, Jana", "sk"),
        ("Děkuji", "cs"),
        ("12345 !!!", "en"),
    ],
)
def test_language_guess(text: str, language: str) -> None:
    assert guess_language(text) == language


def stored(
    request_id: str, suggested: int | None, final: int, source: str | None, rules: tuple[RuleMatch, ...] = ()
) -> StoredRequest:
    decision = Decision(
        id=request_id,
        severity=Severity(suggested) if suggested else None,
        source=source,  # type: ignore[arg-type]
        confidence=0.5,
        needs_review=True,
        review_reasons=(),
        matched_rules=rules,
        model=None,
        plan="standard",
        received_at=NOW,
        deadlines=None,
        rules_version="v",
        model_version=None,
    )
    return StoredRequest(
        id=request_id, subject="s", body="b", fields={}, plan="standard", received_at=NOW, language="en",
        suggested=decision, final_severity=Severity(final), status="accepted" if suggested == final else "changed",
        deadlines=None, reviewed_by="alice", reviewed_at=NOW, created_at=NOW, updated_at=NOW, version=2,
    )  # fmt: skip


def test_agreement_counts_per_class_source_rule_and_day() -> None:
    outage, weak = rule("outage", 1, "down"), rule("question", 4, "how")
    reviewed = [
        stored("a", 1, 1, "rules", (outage,)),
        stored("b", 1, 2, "rules", (outage, outage)),  # a rule counted once per request
        stored("c", 3, 3, "model", (weak,)),
        stored("d", 4, 3, "model", (weak,)),
        stored("e", None, 4, None, (weak,)),
    ]
    late = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # already 25 November in Bratislava
    actions = [
        Action("a", "alice", NOW, "accepted", Severity(1), Severity(1), None),
        Action("b", "bob", NOW, "changed", Severity(1), Severity(2), "x"),
        Action("c", "alice", late, "accepted", Severity(3), Severity(3), None),
        Action("x", "sevtriage", NOW, "suggested", None, Severity(2), None),
    ]
    report = agreement(reviewed, actions, BRATISLAVA)
    assert (report.reviewed, report.overridden, round(report.override_rate or 0, 2)) == (5, 3, 0.6)
    assert [(int(c.severity), c.suggested, c.kept, c.final) for c in report.classes] == [
        (1, 2, 1, 1),
        (2, 0, 0, 1),
        (3, 1, 1, 2),
        (4, 1, 0, 1),
    ]
    assert report.classes[1].agreement is None and report.classes[0].agreement == 0.5
    assert report.confusion["1"] == {1: 1, 2: 1, 3: 0, 4: 0} and report.confusion["none"] == {1: 0, 2: 0, 3: 0, 4: 1}
    assert [(r.name, r.reviewed, r.overridden) for r in report.by_source] == [
        ("rules", 2, 1),
        ("model", 2, 1),
        ("none", 1, 1),
    ]
    assert [(r.name, r.reviewed, r.overridden, r.severity) for r in report.by_rule] == [
        ("question", 3, 2, Severity.LOW),
        ("outage", 2, 1, Severity.CRITICAL),
    ]
    assert [(d.day.isoformat(), d.accepted, d.changed, d.specialists) for d in report.per_day] == [
        ("2026-11-24", 1, 1, 2),
        ("2026-11-25", 1, 0, 1),
    ]
    assert report.to_dict()["by_source"][0] == {"name": "rules", "reviewed": 2, "overridden": 1, "rate": 0.5}


def test_an_empty_report_has_no_rates() -> None:
    report = agreement([], [], BRATISLAVA)
    assert (report.reviewed, report.override_rate, report.by_rule, report.per_day) == (0, None, (), ())


def test_a_session_cookie_reads_back_only_untampered_and_with_the_same_key() -> None:
    codec = SessionCodec("k" * 32)
    session = Session.fresh(signed_in=True)
    value = codec.dumps(session)
    assert codec.loads(value) == session
    assert SessionCodec("other key" * 4).loads(value) is None
    assert codec.loads(value[:-2] + ("AA" if not value.endswith("AA") else "BB")) is None
    assert codec.loads("") is None and codec.loads("garbage") is None
    anonymous = Session.fresh()
    assert anonymous.sid is None and codec.loads(codec.dumps(anonymous)) == anonymous
    assert session.csrf_ok(session.csrf) and not session.csrf_ok("") and not session.csrf_ok(None)
    assert not session.csrf_ok(replace(session, csrf="x" * 32).csrf)


def test_the_sign_in_throttle_lets_a_name_try_again_when_old_failures_age_out() -> None:
    throttle = SignInThrottle(limit=3, window=timedelta(minutes=10))
    for minute in (0, 1, 2):
        assert throttle.wait("alice", NOW + timedelta(minutes=minute)) is None
        throttle.failed("Alice", NOW + timedelta(minutes=minute))
    assert throttle.wait("ALICE", NOW + timedelta(minutes=3)) == timedelta(minutes=7)
    assert throttle.wait("bob", NOW + timedelta(minutes=3)) is None
    assert throttle.wait("alice", NOW + timedelta(minutes=10)) is None  # the first failure aged out
    throttle.failed("alice", NOW + timedelta(minutes=10))
    assert throttle.wait("alice", NOW + timedelta(minutes=10)) == timedelta(minutes=1)
    throttle.succeeded("alice")
    assert throttle.wait("alice", NOW + timedelta(minutes=10)) is None


def test_the_sign_in_throttle_keeps_at_most_its_cap_of_keys_and_forgets_expired_ones() -> None:
    # A flood of wrong sign-ins under fresh names must not grow the throttle without end.
    throttle = SignInThrottle(limit=3, window=timedelta(minutes=10), max_keys=50)
    for i in range(1000):
        throttle.failed(f"fresh-{i}", NOW + timedelta(seconds=i))
    assert len(throttle) <= 50
    # The most recent names are the ones kept (least recently failed go first).
    throttle.failed("fresh-999", NOW + timedelta(seconds=1000))
    throttle.failed("fresh-999", NOW + timedelta(seconds=1001))
    assert throttle.wait("fresh-999", NOW + timedelta(seconds=1002)) is not None
    # Once every failure is older than the window, the next failure sweeps them all out.
    throttle.failed("late", NOW + timedelta(hours=2))
    assert len(throttle) == 1


def test_the_sign_in_throttle_refuses_a_bad_cap() -> None:
    with pytest.raises(ValueError, match="max_keys must be at least 1; got 0"):
        SignInThrottle(max_keys=0)
