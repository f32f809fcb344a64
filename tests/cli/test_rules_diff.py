"""`sevtriage rules diff`: what a rule-file change changes, on labelled and unlabelled requests, with gates."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from sevtriage.cli import main
from sevtriage.resources import default_rules_path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rules"
# Dropping 'workaround' from the service-down rule's 'none' list: outages with a workaround now also match it.
_NONE_BEFORE = (
    "      none: [test_env, workaround, partial_scope, single_user, few_affected, question, feature_request, "
    "reassurance]"
)
_NONE_AFTER = "      none: [test_env, partial_scope, single_user, few_affected, question, feature_request, reassurance]"
REQUESTS = [
    {"id": "A", "body": "Managry is down for everyone, as a workaround people clock in on paper.", "severity": 2},
    {"id": "B", "body": "How do I export the attendance report to Excel?", "severity": 4},
    {"id": "C", "body": "The app is down since 7:00, we see a blank page with Bad Gateway.", "severity": 1},
]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    source = default_rules_path().read_text(encoding="utf-8")
    assert _NONE_BEFORE in source
    edited = tmp_path / "edited.yaml"
    edited.write_text(source.replace(_NONE_BEFORE, _NONE_AFTER, 1), encoding="utf-8")
    data = tmp_path / "requests.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in REQUESTS), encoding="utf-8")
    return default_rules_path(), edited, data


def test_json_lists_exactly_the_changed_request_and_the_rule_deltas(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path]
) -> None:
    old, new, data = files
    assert main(["rules", "diff", str(old), str(new), str(data), "--engine", "python", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 3 and report["labelled"] == 3
    assert [c["id"] for c in report["changes"]] == ["A"]
    change = report["changes"][0]
    assert "service-not-available" not in change["old"]["rules"]
    assert "service-not-available" in change["new"]["rules"]
    assert change["old"]["severity"] == 2 and change["new"]["confident"] is False
    rule = next(r for r in report["rules"] if r["id"] == "service-not-available")
    assert rule["old"]["matched"] == 1 and rule["new"]["matched"] == 2
    assert rule["old"]["precision"] == 1.0 and rule["new"]["precision"] == 0.5
    assert report["decided_per_severity"]["2"] == {"old": 1, "new": 0}


def test_gates_exit_4_and_say_what_failed(capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path]) -> None:
    old, new, data = files
    args = ["rules", "diff", str(old), str(new), str(data), "--engine", "python"]
    assert main([*args, "--fail-if", "rule-precision<0.6"]) == 4
    assert "fail: rule service-not-available: precision 0.500 < 0.6" in capsys.readouterr().err
    assert main([*args, "--fail-if", "changed>1"]) == 0
    assert main([*args, "--fail-if", "precision<<1"]) == 2
    assert "--fail-if must be NAME<VALUE or NAME>VALUE" in capsys.readouterr().err


def test_unlabelled_requests_and_markdown(capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path]) -> None:
    old, new, data = files
    data.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "severity"}) + "\n" for r in REQUESTS))
    assert main(["rules", "diff", str(old), str(new), str(data), "--engine", "python"]) == 0
    out = capsys.readouterr().out
    assert "3 requests (0 labelled); 1 change verdict." in out
    assert "| A |  |" in out


def test_explain_shows_each_signals_evidence_under_both_files(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path]
) -> None:
    old, new, data = files
    assert main(["rules", "diff", str(old), str(new), str(data), "--engine", "python", "--explain", "A"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("old (severity.yaml@") and out[0].endswith("severity 2")
    assert "  workaround: as a workaround" in out
    assert any(line.startswith("new (edited.yaml@") and "service-not-available" in line for line in out)


def test_a_malformed_candidate_gets_the_same_errors_as_rules_check(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path]
) -> None:
    old, _, data = files
    bad = FIXTURES / "unknown_key.yaml"
    assert main(["rules", "diff", str(old), str(bad), str(data), "--engine", "python"]) == 2
    diff_err = capsys.readouterr().err
    assert main(["rules", "check", str(bad), "--engine", "python"]) == 2
    assert capsys.readouterr().err == diff_err
    assert "unknown_key.yaml:9: [rule down] unknown key 'sevrity'" in diff_err


def test_the_review_store_counts_specialists_final_severities_as_labels(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from sevtriage import Ticket, Triage
    from sevtriage.store import DecisionStore

    old, new, _ = files
    url = f"sqlite:///{tmp_path / 'store.db'}"
    triage = Triage.load(engine="python")
    arrived = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    tickets = [Ticket(id=r["id"], body=str(r["body"]), received_at=arrived) for r in REQUESTS]
    with DecisionStore.open(url) as store:
        for ticket in tickets:
            decision = triage.classify(ticket)
            store.save(ticket, replace(decision, needs_review=True))
        item = store.get("A")
        # The specialist confirms A at severity 2 (the workaround keeps it out of severity 1).
        assert item.suggested.severity == 2
        store.review("A", actor="alice", expected_version=item.version, action="accept")
    assert main(["rules", "diff", str(old), str(new), "--store", url, "--engine", "python", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 3 and report["labelled"] == 1
    assert [(c["id"], c["label"]) for c in report["changes"]] == [("A", 2)]


# --- the SLA load section ---------------------------------------------------------------------------------------

# Premier requests on Friday 2026-11-27 at 16:30 CET: at severity 1 both deadlines fall outside business hours
# (8 elapsed hours come before 1 business hour); at severity 2 only the initial one does (Sat 00:30; the update 8
# hours later is due Sat 08:30, also outside). Worked out by hand from rules/sla.yaml.
DATED = [
    {**REQUESTS[0], "received_at": "2026-11-27T16:30:00+01:00", "plan": "premier"},
    {**REQUESTS[1], "received_at": "2026-11-30T09:00:00+01:00", "plan": "standard"},
    {**REQUESTS[2], "received_at": "2026-11-27T16:30:00+01:00"},
]


def test_json_has_the_sla_load_per_week_and_premier_deadlines_outside_hours(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path]
) -> None:
    old, new, data = files
    data.write_text("".join(json.dumps(r) + "\n" for r in DATED), encoding="utf-8")
    assert main(["rules", "diff", str(old), str(new), str(data), "--engine", "python", "--format", "json"]) == 0
    load = json.loads(capsys.readouterr().out)["sla_load"]
    assert load["timezone"] == "Europe/Bratislava" and load["undated"] == 0
    # A (severity 2 -> abstain) and C (severity 1) arrive in week 48; B (severity 4) in week 49.
    assert [w["week"] for w in load["weeks"]] == ["2026-W48", "2026-W49"]
    week48 = load["weeks"][0]
    assert week48["old"] == {"1": 1, "2": 1, "3": 0, "4": 0, "undecided": 0}
    assert week48["delta"] == {"1": 0, "2": -1, "3": 0, "4": 0, "undecided": 1}
    premier = load["outside_business_hours"]
    assert premier["plan"] == "premier" and premier["requests"] == 1
    # Only A is Premier: severity 2 under the old file (both deadlines out of hours), undecided under the new.
    assert premier["old"] == {
        "initial": {"deadlines": 1, "outside_business_hours": 1},
        "ongoing": {"deadlines": 1, "outside_business_hours": 1},
    }
    assert premier["new"]["initial"] == {"deadlines": 0, "outside_business_hours": 0}
    assert load["plans"] == {"default": "standard", "unknown": 1, "unknown_names": []}


def test_load_gates_and_a_weekly_gate_without_arrival_times(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path]
) -> None:
    old, new, data = files
    args = ["rules", "diff", str(old), str(new), str(data), "--engine", "python"]
    # Without received_at the weekly gate cannot be measured: exit 2 after the report, saying why.
    assert main([*args, "--fail-if", "sev1-per-week-increase>0"]) == 2
    captured = capsys.readouterr()
    assert "## SLA load" in captured.out
    assert "error: sev1-per-week-increase needs arrival times; none of the 3 requests has a received_at" in (
        captured.err
    )
    data.write_text("".join(json.dumps(r) + "\n" for r in DATED), encoding="utf-8")
    assert main([*args, "--fail-if", "sev1-per-week-increase>0", "--fail-if", "premier-outside-hours-increase>0"]) == 0
    assert main([*args, "--fail-if", "premier-outside-hours-increase<0"]) == 4
    assert "fail: premier deadlines outside business hours rose by -2 < 0" in capsys.readouterr().err
    assert main([*args, "--fail-if", "sev1-per-week>0"]) == 2
    assert "NAME one of rule-precision, sev1-recall-drop, changed, sev1-per-week-increase, premier-outside-hours" in (
        capsys.readouterr().err
    )


def test_a_bad_arrival_time_names_the_file_and_line(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path]
) -> None:
    old, new, data = files
    data.write_text(json.dumps({**REQUESTS[0], "received_at": "2026-11-27 16:30"}) + "\n", encoding="utf-8")
    assert main(["rules", "diff", str(old), str(new), str(data), "--engine", "python"]) != 0
    err = capsys.readouterr().err
    assert "requests.jsonl:1: naive received_at '2026-11-27 16:30' has no UTC offset" in err
    assert "Traceback" not in err


def _edited_rules(tmp_path: Path) -> Path:
    edited = tmp_path / "edited.yaml"
    edited.write_text(default_rules_path().read_text(encoding="utf-8").replace(_NONE_BEFORE, _NONE_AFTER, 1))
    return edited


@pytest.mark.parametrize("fmt", ["markdown", "html", "json"])
def test_bundled_rules_and_an_edited_copy_over_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    data = Path(__file__).resolve().parents[2] / "data"
    args = ["rules", "diff", str(default_rules_path()), str(_edited_rules(tmp_path)), str(data), "--format", fmt]
    assert main([*args, "--engine", "python"]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        report = json.loads(out)
        load = report["sla_load"]
        # data/ has no arrival times and no plans: no weekly table, the counts over all of them instead.
        assert load["rows"] == report["rows"] == load["undated"] and load["weeks"] == []
        assert {k: v["old"] for k, v in report["decided_per_severity"].items()} == {
            k: v for k, v in load["all"]["old"].items() if k != "undecided"
        }
        assert load["plans"]["unknown"] == report["rows"] and load["outside_business_hours"]["requests"] == 0
        assert report["changed"] > 0
    elif fmt == "html":
        assert "<h2>SLA load</h2>" in out and "<h3>Premier deadlines outside business hours</h3>" in out
        assert "None of the" in out and "has an arrival time" in out
    else:
        assert "## SLA load" in out and "so there is no weekly table" in out
        assert "counted under the policy's default plan 'standard'" in out


@pytest.mark.parametrize("fmt", ["markdown", "html", "json"])
def test_bundled_rules_and_an_edited_copy_over_a_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    from dataclasses import replace

    from sevtriage import Ticket, Triage
    from sevtriage.store import DecisionStore

    url = f"sqlite:///{tmp_path / 'store.db'}"
    triage = Triage.load(engine="python")
    with DecisionStore.open(url) as store:
        for r in DATED:
            arrived = datetime.fromisoformat(str(r["received_at"]))
            ticket = Ticket(id=str(r["id"]), body=str(r["body"]), received_at=arrived, plan=r.get("plan"))
            store.save(ticket, replace(triage.classify(ticket), needs_review=True))
    args = ["rules", "diff", str(default_rules_path()), str(_edited_rules(tmp_path)), "--store", url]
    assert main([*args, "--engine", "python", "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        load = json.loads(out)["sla_load"]
        assert [w["week"] for w in load["weeks"]] == ["2026-W48", "2026-W49"]
        assert load["outside_business_hours"]["requests"] == 1
        assert load["outside_business_hours"]["old"]["initial"] == {"deadlines": 1, "outside_business_hours": 1}
    elif fmt == "html":
        assert "<td>2026-W48</td><td>1</td><td>1 -&gt; 0 (-1)</td>" in out
        assert "<td>initial response</td><td>1 of 1</td><td>0 of 0</td><td>-1</td>" in out
    else:
        assert "| 2026-W48 | 1 | 1 -> 0 (-1) | 0 | 0 | 0 -> 1 (+1) |" in out
        assert "| initial response | 1 of 1 | 0 of 0 | -1 |" in out
