"""`sevtriage rules diff`: what a rule-file change changes, on labelled and unlabelled requests, with gates."""

from __future__ import annotations

import json
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
