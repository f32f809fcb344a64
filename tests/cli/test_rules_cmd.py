"""`sevtriage rules check | test | report` through the real command line entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sevtriage.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rules"


def test_check_bundled_rules_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", "--engine", "python"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and "rules," in out and "examples pass" in out


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("bad_yaml.yaml", "bad_yaml.yaml:7: not valid YAML"),
        (
            "unknown_key.yaml",
            "unknown_key.yaml:9: [rule down] unknown key 'sevrity' in a rule (did you mean 'severity'?)",
        ),
        ("duplicate_id.yaml", "duplicate_id.yaml:16: [rule down] duplicate rule id 'down' (first on line 8)"),
        ("severity_5.yaml", "severity_5.yaml:9: [rule down] severity must be one of 1, 2, 3, 4"),
        ("undefined_signal.yaml", "undefined_signal.yaml:12: [rule down] signal 'donw' is not defined"),
        ("bad_pattern.yaml", "bad_pattern.yaml:6: signal 'down': pattern 'app (is|was down' does not compile"),
        (
            "failing_example.yaml",
            "failing_example.yaml:16: [rule down] example expects severity 2 but the rules give severity 1",
        ),
    ],
)
def test_check_broken_files_exits_2_with_where_and_what(
    capsys: pytest.CaptureFixture[str], fixture: str, expected: str
) -> None:
    assert main(["rules", "check", str(FIXTURES / fixture), "--engine", "python"]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.rstrip().endswith("1 problem(s) found.")


def test_test_runs_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test", str(FIXTURES / "minimal.yaml"), "-v", "--engine", "python"]) == 0
    out = capsys.readouterr().out
    assert "PASS " in out and "minimal.yaml:" in out
    assert out.rstrip().endswith("3 passed, 0 failed (minimal.yaml@" + out.rstrip().split("@")[-1])


def test_test_reports_failures_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test", str(FIXTURES / "failing_example.yaml"), "--engine", "python"]) == 2
    out = capsys.readouterr().out
    assert "FAIL " in out and "failing_example.yaml:16 [rule down] example expects severity 2" in out
    assert "1 passed, 1 failed" in out


def _write_labelled(tmp_path: Path, kind: str) -> Path:
    rows = [
        ("App down", "The app is down.", 1),
        ("", "The app is down on the test server.", 3),
        ("", "How do I add a user?", 4),
        ("", "The app is down.", 2),  # labelled differently: precision below 100%
        ("", "Hello there", 3),
    ]
    if kind == "csv":
        path = tmp_path / "labelled.csv"
        lines = ["subject,body,severity"] + [f'"{s}","{b}",{sev}' for s, b, sev in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        path = tmp_path / "labelled.jsonl"
        path.write_text(
            "".join(json.dumps({"subject": s, "body": b, "severity": sev}) + "\n" for s, b, sev in rows),
            encoding="utf-8",
        )
    return path


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_report_per_rule_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    data = _write_labelled(tmp_path, kind)
    code = main(
        ["rules", "report", str(data), "--rules", str(FIXTURES / "minimal.yaml"), "--json", "--engine", "python"]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    by_id = {r["id"]: r for r in report["rules"]}
    assert by_id["down"]["matched"] == 2 and by_id["down"]["correct"] == 1 and by_id["down"]["precision"] == 0.5
    assert by_id["down-on-test"]["matched"] == 1 and by_id["down-on-test"]["precision"] == 1.0
    assert by_id["question"]["matched"] == 1 and by_id["question"]["coverage"] == 0.2
    assert report["rows"] == 5 and report["decided"] == 3 and report["precision"] == round(2 / 3, 4)
    assert report["abstain_reasons"] == {"no_rule": 1, "weak_rules_only": 1}


def test_report_text_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write_labelled(tmp_path, "csv")
    assert main(["rules", "report", str(data), "--rules", str(FIXTURES / "minimal.yaml"), "--engine", "python"]) == 0
    out = capsys.readouterr().out
    assert "rule" in out and "prec%" in out and "conflict" in out
    assert "decided by the rules: 3 of 5" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("subject,body\nx,y\n", "a labelled file needs columns subject and/or body, and severity"),
        ("subject,body,severity\nx,y,7\n", "labelled.csv:2: severity must be one of 1, 2, 3, 4"),
    ],
)
def test_report_bad_data_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    path = tmp_path / "labelled.csv"
    path.write_text(content, encoding="utf-8")
    assert main(["rules", "report", str(path), "--engine", "python"]) == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize("command", ["check", "test", "report"])
def test_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    assert main(["rules", command, "--help"]) == 0
    assert "Usage:" in capsys.readouterr().out


def test_report_reads_a_folder_like_train_and_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # data/ reads data/corpus/**, as `sevtriage train data/` does; a corpus folder reads every data file below it.
    single = _write_labelled(tmp_path, "csv")
    rules = ["--rules", str(FIXTURES / "minimal.yaml"), "--engine", "python", "--json"]
    assert main(["rules", "report", str(single), *rules]) == 0
    one = json.loads(capsys.readouterr().out)
    corpus = tmp_path / "data" / "corpus"
    for language in ("en", "sk"):
        (corpus / language).mkdir(parents=True)
        (corpus / language / "part.csv").write_bytes(single.read_bytes())
    for folder in (tmp_path / "data", corpus):
        code = main(["rules", "report", str(folder), *rules])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert json.loads(out)["rows"] == 2 * one["rows"]


def test_report_on_an_empty_folder_says_what_it_looked_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "report", str(tmp_path), "--engine", "python"]) == 2
    err = capsys.readouterr().err
    assert "no labelled data files found" in err and "Traceback" not in err
