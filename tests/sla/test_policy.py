"""The SLA policy: the bundled rules/sla.yaml, deadlines, breach checks, validation, and the golden table."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.errors import ConfigError, InputError
from sevtriage.resources import default_sla_path
from sevtriage.sla import NaiveDatetimeError, SlaPolicy
from sevtriage.types import Severity

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def policy() -> SlaPolicy:
    return SlaPolicy.load()


def _golden_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_sla_golden", GOLDEN_DIR / "build_sla_golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_sla_golden", module)
    spec.loader.exec_module(module)
    return module


def test_golden_deadline_table(policy: SlaPolicy) -> None:
    """Rebuild with `python tests/golden/build_sla_golden.py` only after a deliberate change; review the diff."""
    golden = _golden_module()
    expected = golden.read()
    actual = golden.rows(policy)
    assert len(actual) == len(golden.ARRIVALS) * len(policy.plans) * 4
    for want, got in zip(expected, actual, strict=True):
        assert got == want
    assert len(expected) == len(actual)


def test_bundled_policy_matches_the_support_policy(policy: SlaPolicy) -> None:
    assert policy.plans == ("standard", "premier")
    assert policy.default_plan == "standard"
    assert policy.business_day == timedelta(hours=9)
    assert str(policy.calendar.tz) == "Europe/Bratislava"
    assert policy.source == str(default_sla_path())
    table = {
        (plan, int(sev), kind): (target.label if target else None)
        for plan in policy.plans
        for sev in Severity
        for kind in ("initial", "ongoing")
        for target in [policy.target(sev, plan, kind)]  # type: ignore[arg-type]
    }
    first = "or 8 elapsed hours, whichever comes first"
    assert table == {
        ("standard", 1, "initial"): "1 business hour",
        ("standard", 1, "ongoing"): "2 business hours",
        ("standard", 2, "initial"): "4 business hours",
        ("standard", 2, "ongoing"): "1 business day",
        ("standard", 3, "initial"): None,
        ("standard", 3, "ongoing"): None,
        ("standard", 4, "initial"): None,
        ("standard", 4, "ongoing"): None,
        ("premier", 1, "initial"): f"1 business hour {first}",
        ("premier", 1, "ongoing"): f"1 business hour {first}",
        ("premier", 2, "initial"): f"2 business hours {first}",
        ("premier", 2, "ongoing"): f"2 business hours {first}",
        ("premier", 3, "initial"): "1 business day",
        ("premier", 3, "ongoing"): None,
        ("premier", 4, "initial"): "2 business days",
        ("premier", 4, "ongoing"): None,
    }


@pytest.mark.parametrize(
    ("received", "due", "clause"),
    [
        # The three examples of DESIGN.md (Premier, severity 1).
        ("2026-11-27T16:30+01:00", "2026-11-28T00:30+01:00", "8 elapsed hours came first"),
        ("2026-11-24T03:00+01:00", "2026-11-24T09:00+01:00", "1 business hour came first"),
        ("2026-01-06T10:00+01:00", "2026-01-06T18:00+01:00", "8 elapsed hours came first"),
        # 8 elapsed hours are real hours: across the spring change the wall clock shows 9.
        ("2026-03-28T23:30+01:00", "2026-03-29T08:30+02:00", "8 elapsed hours came first"),
        # ... and across the autumn change it shows 7.
        ("2026-10-24T22:00+02:00", "2026-10-25T05:00+01:00", "8 elapsed hours came first"),
    ],
)
def test_premier_whichever_comes_first(policy: SlaPolicy, received: str, due: str, clause: str) -> None:
    deadline = policy.deadlines(1, "premier", at(received)).initial_response
    assert deadline.due is not None
    assert deadline.due.isoformat() == at(due).astimezone(ZoneInfo("Europe/Bratislava")).isoformat()
    assert deadline.clause == clause
    assert deadline.target == "1 business hour or 8 elapsed hours, whichever comes first"


def test_empty_cells_mean_no_target(policy: SlaPolicy) -> None:
    found = policy.deadlines(Severity.MEDIUM, "standard", at("2026-11-24T09:00+01:00"))
    assert found.initial_response.due is None
    assert found.initial_response.target is None
    assert found.initial_response.clause == (
        "no target: the standard plan sets no initial response time for severity 3 (medium)"
    )
    assert found.to_dict()["ongoing_response"] == {
        "due": None,
        "target": None,
        "clause": "no target: the standard plan sets no ongoing response time for severity 3 (medium)",
    }


def test_ongoing_counts_from_the_initial_deadline_then_from_each_response(policy: SlaPolicy) -> None:
    found = policy.deadlines(2, "standard", at("2026-11-24T09:15+01:00"))
    assert found.initial_response.due == at("2026-11-24T13:15+01:00")
    assert found.ongoing_response.due == at("2026-11-25T13:15+01:00")
    assert found.ongoing_response.clause == "1 business day after the initial response deadline"
    update = policy.next_update_due(2, "standard", at("2026-11-24T10:00+01:00"))
    assert update.due == at("2026-11-25T10:00+01:00")
    assert update.target == "1 business day"
    assert update.clause == "1 business day after the last response"
    premier = policy.next_update_due(1, "premier", at("2026-11-27T16:45+01:00"))
    assert premier.due == at("2026-11-28T00:45+01:00")
    assert premier.clause == "8 elapsed hours came first, counted from the last response"


def test_plan_none_uses_the_default_plan(policy: SlaPolicy) -> None:
    received = at("2026-11-24T09:15+01:00")
    assert policy.deadlines(1, None, received) == policy.deadlines(1, "standard", received)


def test_a_changed_severity_recomputes_from_arrival(policy: SlaPolicy) -> None:
    received = at("2026-11-24T16:30+01:00")
    assert policy.deadlines(2, "premier", received).initial_response.due == at("2026-11-25T00:30+01:00")
    assert policy.deadlines(3, "premier", received).initial_response.due == at("2026-11-25T16:30+01:00")


@pytest.mark.parametrize(
    ("severity", "plan", "received", "responded", "breached", "clause"),
    [
        # Decided by business time, not instants: at 18:00 only 1 business hour has elapsed since 16:00.
        (1, "standard", "2026-11-24T16:00+01:00", "2026-11-24T18:00+01:00", False,
         "1 hour of business time elapsed, within 1 business hour"),
        (1, "standard", "2026-11-24T16:00+01:00", "2026-11-25T08:01+01:00", True,
         "1 hour 1 minute of business time elapsed, over 1 business hour"),
        (1, "premier", "2026-11-27T16:30+01:00", "2026-11-28T00:30+01:00", False,
         "30 minutes of business time elapsed, within 1 business hour; 8 hours elapsed, within 8 elapsed hours"),
        (1, "premier", "2026-11-27T16:30+01:00", "2026-11-28T01:00+01:00", True,
         "30 minutes of business time elapsed, within 1 business hour; "
         "8 hours 30 minutes elapsed, over 8 elapsed hours"),
        (2, "premier", "2026-11-24T09:00+01:00", "2026-11-24T11:30+01:00", True,
         "2 hours 30 minutes of business time elapsed, over 2 business hours; 2 hours 30 minutes elapsed, within 8 "
          "elapsed hours"),
        (4, "standard", "2026-11-24T09:00+01:00", "2026-12-24T09:00+01:00", False,
         "no target: the standard plan sets no initial response time for severity 4 (low)"),
    ],
)  # fmt: skip
def test_breach_by_business_time_elapsed(
    policy: SlaPolicy, severity: int, plan: str, received: str, responded: str, breached: bool, clause: str
) -> None:
    check = policy.breached(severity, plan, at(received), at(responded))
    assert check.breached is breached
    assert check.clause == clause
    assert check.business_elapsed == policy.calendar.between(at(received), at(responded))


def test_breach_elapsed_is_real_time_across_dst(policy: SlaPolicy) -> None:
    zone = ZoneInfo("Europe/Bratislava")
    received = datetime(2026, 10, 24, 22, 0, tzinfo=zone)
    responded = datetime(2026, 10, 25, 5, 30, tzinfo=zone)  # 8.5 real hours, 7.5 on the wall clock
    check = policy.breached(1, "premier", received, responded)
    assert check.elapsed == timedelta(hours=8, minutes=30)
    assert check.breached


def test_ongoing_breach(policy: SlaPolicy) -> None:
    last = at("2026-11-24T09:00+01:00")
    assert not policy.breached(1, "standard", last, at("2026-11-24T11:00+01:00"), kind="ongoing").breached
    check = policy.breached(1, "standard", last, at("2026-11-24T11:01+01:00"), kind="ongoing")
    assert check.breached
    assert check.target == "2 business hours"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda p: p.deadlines(1, "gold", at("2026-11-24T09:00+01:00")), InputError,
         "plan must be one of {'standard', 'premier'}; got 'gold'"),
        (lambda p: p.deadlines(5, "standard", at("2026-11-24T09:00+01:00")), InputError,
         "severity must be one of 1, 2, 3, 4 (or critical, high, medium, low); got 5"),
        (lambda p: p.deadlines(1, "standard", datetime(2026, 11, 24, 9)), NaiveDatetimeError,
         "received_at must have a UTC offset or timezone (e.g. 2026-11-27T16:30+01:00); got naive 2026-11-24T09:00:00"),
        (lambda p: p.next_update_due(1, "standard", datetime(2026, 11, 24, 9)), NaiveDatetimeError,
         "last_response_at must have a UTC offset or timezone"),
        (lambda p: p.breached(1, "standard", at("2026-11-24T09:00+01:00"), at("2026-11-24T08:00+01:00")), InputError,
         "responded_at must not be before received_at; got responded_at=2026-11-24T08:00:00+01:00 and "
         "received_at=2026-11-24T09:00:00+01:00"),
    ],
)  # fmt: skip
def test_bad_requests_say_what_is_allowed(
    policy: SlaPolicy, call: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        call(policy)  # type: ignore[operator]
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, InputError)


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(datetime(2025, 12, 1), datetime(2027, 2, 1), timezones=st.just(UTC)),
    st.integers(0, 7 * 24 * 60),
    st.sampled_from([1, 2, 3, 4]),
    st.sampled_from(["standard", "premier"]),
)
def test_deadlines_never_before_arrival_and_never_move_earlier(
    received: datetime, later_minutes: int, severity: int, plan: str
) -> None:
    policy = _shared_policy()
    first = policy.deadlines(severity, plan, received)
    later = policy.deadlines(severity, plan, received + timedelta(minutes=later_minutes))
    for before, after in (
        (first.initial_response, later.initial_response),
        (first.ongoing_response, later.ongoing_response),
    ):
        if before.due is None:
            assert after.due is None
            continue
        assert after.due is not None
        assert before.due.astimezone(UTC) >= received
        assert after.due.astimezone(UTC) >= before.due.astimezone(UTC)
    initial = first.initial_response
    if initial.due is not None:
        # Responding exactly at the deadline is never a breach; one minute of business time later is.
        assert not policy.breached(severity, plan, received, initial.due).breached
        late = policy.calendar.add(initial.due, timedelta(minutes=1))
        assert policy.breached(severity, plan, received, late).breached


_POLICY: list[SlaPolicy] = []


def _shared_policy() -> SlaPolicy:
    if not _POLICY:
        _POLICY.append(SlaPolicy.load())
    return _POLICY[0]


# -- the policy file ------------------------------------------------------------------------------------------

VALID = """\
version: 1
calendar:
  timezone: Europe/Bratislava
  week:
    mon: ["08:00-17:00"]
    tue: ["08:00-17:00"]
  country: SK
  closures: [2026-12-31]
  special_days:
    2026-12-30: ["08:00-12:00"]
units:
  business_day_hours: 9
default_plan: basic
plans:
  basic:
    targets:
      1: {initial: {business_hours: 1}, ongoing: {business_minutes: 30}}
      2: {initial: {business_days: 1}, ongoing: null}
      3: {initial: {business_hours: 2, or_elapsed_hours: 4, rule: first}, ongoing: null}
      4: {initial: null, ongoing: null}
"""


def test_a_valid_custom_policy_loads(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text(VALID, encoding="utf-8")
    custom = SlaPolicy.load(path)
    assert custom.plans == ("basic",)
    assert custom.default_plan == "basic"
    assert custom.calendar.is_holiday(datetime(2026, 12, 31).date())
    assert custom.calendar.opening_hours(datetime(2026, 12, 30).date())[0].end == 12 * 3600 * 10**6
    ongoing = custom.next_update_due(1, None, at("2026-11-23T09:00+01:00"))
    assert ongoing.due == at("2026-11-23T09:30+01:00")
    assert ongoing.target == "30 business minutes"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('    mon: ["08:00-17:00"]', "    mon: [08:00-17:00, 17:00]", "x.yaml:5: calendar.week.mon opening intervals "
         "must be quoted strings like \"08:00-17:00\"; got 1020"),
        ('    tue: ["08:00-17:00"]', '    tue: ["08:00-08:00"]', "x.yaml:6: calendar.week.tue: an opening interval "
         "must not close when it opens"),
        ('    tue: ["08:00-17:00"]', '    tuesday: ["08:00-17:00"]', "x.yaml:6: unknown key 'tuesday' in "
         "calendar.week; allowed keys are mon, tue, wed, thu, fri, sat, sun"),
        ("  timezone: Europe/Bratislava", "  timezone: Europe/Bratislav", "x.yaml:3: calendar: timezone must be an "
         "IANA zone name"),
        ("  closures: [2026-12-31]", "  closures: [31.12.2026]", "x.yaml:8: calendar.closures must list dates "
         "written YYYY-MM-DD; got '31.12.2026'"),
        ("default_plan: basic", "default_plan: gold", "x.yaml:13: default_plan must be one of {'basic'}; got 'gold'"),
        ("  business_day_hours: 9", "  business_day_hours: 25", "x.yaml:12: units.business_day_hours must be a "
         "number of hours in (0, 24]; got 25"),
        ("      4: {initial: null, ongoing: null}\n", "", "x.yaml:17: plan 'basic' targets must list every severity; "
         "missing 4"),
        ("      4: {initial: null, ongoing: null}", "      5: {initial: null, ongoing: null}", "x.yaml:20: plan "
         "'basic' targets keys must be severities 1, 2, 3, 4; got 5"),
        ("rule: first", "rule: sooner", "x.yaml:19: plan 'basic' severity 3 initial rule must be one of {'first', "
         "'last'}; got 'sooner'"),
        ("{business_days: 1}", "{business_days: 1, business_hours: 2}", "x.yaml:18: plan 'basic' severity 2 initial "
         "must give exactly one of business_minutes, business_hours, business_days (null for no target); got "
          "business_days, business_hours"),
        ("{business_hours: 1}", "{business_hours: -1}", "x.yaml:17: plan 'basic' severity 1 initial business_hours "
         "must be a positive number; got -1"),
        ("{business_hours: 1}", "{hours: 1}", "x.yaml:17: unknown key 'hours' in plan 'basic' severity 1 initial; "
         "allowed keys are business_minutes"),
        ("ongoing: {business_minutes: 30}}", "ongoing: {business_minutes: 30}, initial: null}", "x.yaml:17: "
         "'initial' appears twice in plan 'basic' severity 1; keep one"),
        ("version: 1", "version: 2", "x.yaml:1: version must be 1; got 2"),
        ("units:", "unit:", "x.yaml:11: unknown key 'unit' in the policy file; allowed keys are version, calendar, "
         "units, default_plan, plans"),
        ("  country: SK", "  country: XX",
         "x.yaml:7: calendar: country must be an ISO code the holidays package knows"),
    ],
)  # fmt: skip
def test_policy_errors_name_file_line_and_fix(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in VALID
    path = tmp_path / "x.yaml"
    path.write_text(VALID.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        SlaPolicy.load(path)
    lines = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert any(line.startswith(expected) for line in lines), lines


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    broken = VALID.replace("version: 1", "version: 2").replace("rule: first", "rule: sooner")
    with pytest.raises(ConfigError) as caught:
        SlaPolicy.from_text(broken, source="sla.yaml")
    assert [p.line for p in caught.value.problems] == [1, 19]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "sla.yaml: the policy file is empty; it needs version, calendar, units, default_plan, plans"),
        ("calendar: [", "sla.yaml:1: not valid YAML: expected the node content, but found '<stream end>' at column 12"),
        ("plans: {}", "sla.yaml:1: the policy file must have calendar"),
    ],
)
def test_unusable_files(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SlaPolicy.from_text(text, source="sla.yaml")
    assert str(caught.value).startswith(expected)


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SLA policy file not found; give an existing path or omit it"):
        SlaPolicy.load(tmp_path / "nope.yaml")
