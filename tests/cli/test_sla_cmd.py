"""`sevtriage sla due` and `sevtriage sla breached` through the real command line entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sevtriage.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_due_prints_deadlines_and_reasoning(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "sla", "due", "--severity", "1", "--plan", "premier", "--received", "2026-11-27T16:30+01:00"
    )
    assert code == 0, err
    assert out.splitlines()[:6] == [
        "Severity 1 (critical), Premier support, received Fri 2026-11-27 16:30 +01:00 (CET); "
        "calendar Europe/Bratislava",
        "Initial response: due Sat 2026-11-28 00:30 +01:00 (CET)",
        "  target: 1 business hour or 8 elapsed hours, whichever comes first",
        "  why: 8 elapsed hours came first",
        "  by business time: 1 business hour ends Mon 2026-11-30 08:30 +01:00 (CET)",
        "  by real time: 8 elapsed hours end Sat 2026-11-28 00:30 +01:00 (CET)",
    ]
    assert "Ongoing response: due Sat 2026-11-28 08:30 +01:00 (CET)" in out


def test_due_explains_a_late_start_and_no_target(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sla", "due", "--severity", "high", "--received", "2026-03-28T23:30+01:00")
    assert code == 0
    assert "Severity 2 (high), Standard support, received Sat 2026-03-28 23:30 +01:00 (CET)" in out
    assert "Initial response: due Mon 2026-03-30 12:00 +02:00 (CEST)" in out
    assert (
        "  counted from Sat 2026-03-28 23:30 +01:00 (CET), outside business hours: "
        "the business clock starts Mon 2026-03-30 08:00 +02:00 (CEST)"
    ) in out
    code, out, _ = run(capsys, "sla", "due", "--severity", "3", "--received", "2026-11-27T16:30+01:00")
    assert code == 0
    assert (
        "Initial response: no deadline (no target: the standard plan sets no initial response time for severity 3 "
        "(medium))"
    ) in out


def test_due_json_is_the_decision_record_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "sla", "due", "--severity", "1", "--plan", "premier", "--received", "2026-11-27T16:30+01:00", "--json"
    )
    assert code == 0
    record = json.loads(out)
    assert record["severity"] == 1
    assert record["plan"] == "premier"
    assert record["deadlines"]["initial_response"] == {
        "due": "2026-11-28T00:30:00+01:00",
        "target": "1 business hour or 8 elapsed hours, whichever comes first",
        "clause": "8 elapsed hours came first",
    }
    assert record["deadlines"]["ongoing_response"]["due"] == "2026-11-28T08:30:00+01:00"


def test_breached_decides_by_business_time(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "sla",
        "breached",
        "--severity",
        "1",
        "--received",
        "2026-11-24T16:00+01:00",
        "--responded",
        "2026-11-24T18:00+01:00",
    )
    assert code == 0
    assert out.splitlines() == [
        "Initial response: kept",
        "  target: 1 business hour",
        "  why: 1 hour of business time elapsed, within 1 business hour",
        "  deadline of that target: Tue 2026-11-24 17:00 +01:00 (CET)",
    ]
    code, out, _ = run(
        capsys,
        "sla",
        "breached",
        "--severity",
        "1",
        "--plan",
        "premier",
        "--received",
        "2026-11-27T16:30+01:00",
        "--responded",
        "2026-11-28T01:00+01:00",
        "--json",
    )
    assert code == 1  # breached: exit code 1, documented, so a script can test it
    record = json.loads(out)
    assert record["breached"] is True
    assert record["elapsed_minutes"] == 510
    assert record["business_elapsed_minutes"] == 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plan", "gold"], "error: plan must be one of {'standard', 'premier'}; got 'gold'"),
        (["--received", "2026-11-27T16:30"], "error: --received must be an ISO-8601 instant with a UTC offset"),
        (["--received", "tomorrow"], "error: --received must be an ISO-8601 instant with a UTC offset, e.g. "),
        (["--severity", "9"], "error: --severity: severity must be one of 1, 2, 3, 4"),
    ],
)
def test_mistakes_exit_2_with_a_message(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    base = {"--severity": "1", "--plan": "standard", "--received": "2026-11-27T16:30+01:00"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["sla", "due", *[part for pair in base.items() for part in pair]]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith(message)
    assert "Traceback" not in err


def test_own_policy_file_and_its_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    policy = tmp_path / "sla.yaml"
    policy.write_text("calendar: {timezone: Mars/Olympus, week: {}}\nplans: {gold: {targets: {}}}\n", encoding="utf-8")
    code, _, err = run(
        capsys, "sla", "due", "--severity", "1", "--received", "2026-11-27T16:30+01:00", "--policy", str(policy)
    )
    assert code == 2
    assert f"{policy}:1: calendar: timezone must be an IANA zone name" in err
    assert f"{policy}:2: plan 'gold' targets must list every severity; missing 1, 2, 3, 4" in err


def test_help_lists_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sla", "--help")
    assert code == 0
    assert "due" in out and "breached" in out


def test_breached_in_text_exits_1_and_kept_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    common = ["sla", "breached", "--severity", "1", "--received", "2026-11-24T16:00+01:00", "--responded"]
    code, out, _ = run(capsys, *common, "2026-11-25T10:00+01:00")
    assert (code, out.splitlines()[0]) == (1, "Initial response: BREACHED")
    code, out, _ = run(capsys, *common, "2026-11-24T16:30+01:00")
    assert (code, out.splitlines()[0]) == (0, "Initial response: kept")


def test_policy_is_a_hidden_alias_of_sla(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from sevtriage.resources import default_sla_path

    args = ["--severity", "1", "--received", "2026-11-27T16:30+01:00"]
    code, via_sla, _ = run(capsys, "sla", "due", *args, "--sla", str(default_sla_path()))
    assert code == 0
    code, via_policy, _ = run(capsys, "sla", "due", *args, "--policy", str(default_sla_path()))
    assert (code, via_policy) == (0, via_sla)
    for command in (["sla", "due"], ["sla", "breached"], ["classify"], ["serve"]):
        code, out, _ = run(capsys, *command, "--help")
        assert code == 0 and "--sla" in out and "--policy" not in out, command


# -- sla status / respond / resolve over a real store ----------------------------------------------------------


def _stored(tmp_path: Path) -> str:
    """A SQLite store with two Premier requests decided by the real pipeline: one long overdue, one fresh."""
    from datetime import UTC, datetime, timedelta

    from sevtriage.review.desk import ReviewDesk
    from sevtriage.sla import SlaPolicy
    from sevtriage.store import DecisionStore
    from sevtriage.triage import Triage
    from sevtriage.types import Ticket

    url = f"sqlite:///{tmp_path / 'store.db'}"
    now = datetime.now(UTC)
    body = "Production is down, nobody can log in."
    tickets = [
        Ticket(id="OLD-1", body=body, plan="premier", received_at=now - timedelta(days=10)),
        Ticket(id="NEW-1", body=body, plan="premier", received_at=now - timedelta(minutes=1)),
    ]
    triage = Triage.load()
    with DecisionStore.open(url) as store:
        ReviewDesk(store, SlaPolicy.load()).save(zip(tickets, triage.classify_many(tickets), strict=True))
    return url


def test_sla_status_lists_waiting_and_breached_and_exits_1_on_a_breach(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = _stored(tmp_path)
    code, out, err = run(capsys, "sla", "status", "--waiting", "--store", url)
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0].startswith("OLD-1: BREACHED · WAITING SINCE ")
    assert "  initial response: breached, due " in lines[1]
    assert any(line.startswith("NEW-1: waiting · due ") for line in lines)
    assert lines[-1] == "2 waiting requests; times in Europe/Bratislava"
    code, out, _ = run(capsys, "sla", "status", "--breached", "--json", "--store", url)
    assert (code, [i["id"] for i in json.loads(out)["items"]]) == (1, ["OLD-1"])


def test_sla_respond_and_resolve_move_requests_off_the_lists(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = _stored(tmp_path)
    code, out, err = run(capsys, "sla", "respond", "NEW-1", "--by", "alice", "--ref", "<r1@x>", "--store", url)
    assert code == 0, err
    assert out.startswith("NEW-1: answered in time")
    code, out, _ = run(capsys, "sla", "status", "NEW-1", "--store", url)
    assert code == 0
    assert "  initial response: met, due " in out
    assert out.rstrip().splitlines()[-1].endswith("response by alice")
    assert run(capsys, "sla", "resolve", "OLD-1", "--by", "alice", "--store", url)[0] == 0
    code, out, _ = run(capsys, "sla", "status", "--breached", "--store", url)
    assert (code, out) == (0, "0 breached requests; times in Europe/Bratislava\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["respond", "NOPE", "--by", "alice"], "error: no stored request has the id 'NOPE'\n"),
        (
            ["respond", "NEW-1", "--by", "alice", "--at", "yesterday"],
            "error: --at must be an ISO-8601 instant with a UTC offset, e.g. 2026-11-27T16:50+01:00 or "
            "2026-11-27T15:50Z; got 'yesterday'\n",
        ),
    ],
)
def test_sla_respond_mistakes_are_explained(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    url = _stored(tmp_path)
    code, _, err = run(capsys, "sla", *args, "--store", url)
    assert (code, err) == (2, message)
