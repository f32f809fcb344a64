"""`sevtriage train` and `sevtriage evaluate` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sevtriage.cli import main
from sevtriage.model import store as model_store
from sevtriage.model.corpus import read_labelled

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def labelled_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fifth of the corpus as one JSONL file (a user's own labelled export)."""
    path = tmp_path_factory.mktemp("data") / "labelled.jsonl"
    rows = [
        {"id": r.id, "subject": r.subject, "body": r.body, "severity": int(r.severity), "language": r.language}
        for r in read_labelled(DATA)[::5]
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_train_a_file_then_evaluate_it_with_a_report(
    labelled_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m" / "model.joblib"
    assert main(["train", str(labelled_file), "-o", str(model), "--target-precision", "0.9"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {model} and {model_store.card_path(model)}" in out
    assert "cross-validated macro-F1" in out and "auto-label thresholds" in out
    # One file has no corpus parts: the folds fall back to contiguous blocks of rows, and the card says so.
    assert "validation: group k-fold by 50 contiguous blocks of about" in out
    card_json = json.loads(model_store.card_path(model).read_text(encoding="utf-8"))
    assert card_json["validation"]["grouping"] == "blocks"
    for severity, evidence in card_json["validation"]["evidence"].items():
        threshold = "review always" if evidence["threshold"] is None else f"{evidence['threshold']:.4f}"
        assert (
            f"severity {severity}: threshold {threshold:<13} evidence {evidence['correct']}/{evidence['decisions']} "
            f"right, lower bound {100 * evidence['lower_bound']:.1f}%"
        ) in out
    assert card_json["rule_precision"]["decided"] > 0 and card_json["rule_precision"]["rules"]
    card = model_store.load(model).card
    assert card.targets.auto_precision == 0.9 and card.training_data.sources == (str(labelled_file),)

    report = tmp_path / "report"
    code = main(["evaluate", str(labelled_file), "--model", str(model), "--report", str(report), "--engine", "python"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "| system | n | auto-label rate | auto-label precision | sev-1 caught | silent under-triage |"
    )
    assert "| model |" in out and "| combined |" in out
    assert (report / "report.html").is_file() and (report / "coverage.png").is_file()

    fresh = DATA / "fresh" / "fresh.jsonl"
    both = tmp_path / "both"
    argv = ["evaluate", str(labelled_file), str(fresh), "--model", str(model), "--report", str(both)]
    assert main([*argv, "--engine", "python"]) == 0
    out = capsys.readouterr().out
    assert f"## {labelled_file} ({len(read_labelled(labelled_file))} requests)" in out
    assert f"## {fresh} (360 requests)" in out
    side = out[out.index("## side by side (combined)") :]
    assert side.count("\n| ") == 3  # the header and one row per set
    assert (both / "set2-coverage.png").is_file()
    assert "## The sets side by side (combined system)" in (both / "report.md").read_text(encoding="utf-8")


def test_train_with_also_adds_rows(labelled_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = tmp_path / "reviews.csv"
    extra.write_text("id,subject,body,severity\nR-1,Nikto sa nevie prihlásiť,celá firma stojí,1\n", encoding="utf-8")
    model = tmp_path / "model.joblib"
    assert main(["train", str(labelled_file), "--also", str(extra), "-o", str(model)]) == 0
    rows = model_store.load(model).card.training_data.rows
    assert rows == len(read_labelled(labelled_file)) + 1
    assert "training on" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "{tmp}/missing.csv"], "missing.csv: no such file or folder"),
        (["train", "{tmp}/few.csv"], "every severity needs at least 5 training examples"),
        (["evaluate", "{tmp}/few.csv", "--model", "{tmp}/none.joblib"], "none.joblib: model file not found"),
        (["evaluate", "{tmp}"], "no held-out split (heldout_ids.txt); pass --all-rows"),
        (["train", "{tmp}/few.csv", "--target-precision", "1.5"], "must be in (0, 1]; got 1.5"),
    ],
)
def test_mistakes_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (tmp_path / "few.csv").write_text("subject,severity\napp down,1\nhow to export,4\n", encoding="utf-8")
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "part-01.csv").write_text("subject,severity\napp down,1\n", encoding="utf-8")
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert message in capsys.readouterr().err


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--also" in text and "--target-precision" in text and "data/ folder" in text
    assert main(["evaluate", "--help"]) == 0
    assert "--report" in capsys.readouterr().out


def _data_folder_with_details_labels(folder: Path, labels: list[dict[str, object]]) -> Path:
    """A tiny data folder: three requests in corpus/ and hand labels of their scope and missing details."""
    rows = [
        {
            "id": "T-1",
            "subject": "Dochádzka v mobile padá",
            "body": "Na Samsungu J5 s Androidom 6.0 aplikácia spadne pri zapisovaní príchodu. "
            "Reštartovali sme telefón.",
            "severity": 2,
        },
        {"id": "T-2", "subject": "How do I export the monthly timesheet to PDF?", "body": "", "severity": 4},
        {
            "id": "T-3",
            "subject": "Export to Pohoda fails",
            "body": "Since Monday the payroll export to Pohoda fails for all employees. Nothing changed on our side; "
            "we enter the hours by hand for now.",
            "severity": 2,
        },
    ]
    (folder / "corpus" / "en").mkdir(parents=True)
    (folder / "corpus" / "en" / "part-01.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8"
    )
    (folder / "details-labels.jsonl").write_text("\n".join(json.dumps(r) for r in labels) + "\n", encoding="utf-8")
    return folder


def test_evaluate_reports_scope_and_missing_details_per_round(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels: list[dict[str, object]] = [
        {
            "id": "T-1",
            "round": 1,
            "missing_details": ["recent_changes", "workaround"],
            "scope": ["uncertified_environment"],
        },
        {"id": "T-2", "round": 2, "missing_details": [], "scope": []},
        # The person finds no step missing ("we enter the hours by hand" read as a step), the detector does.
        {"id": "T-3", "round": 2, "missing_details": [], "scope": ["third_party"]},
    ]
    data = _data_folder_with_details_labels(tmp_path / "data", labels)
    report = tmp_path / "report"
    assert main(["evaluate", str(data), "--all-rows", "--engine", "python", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    section = out[out.index("## Support scope and missing details") :]
    assert f"3 requests of {data} labelled by hand in details-labels.jsonl" in section
    all_rounds = section[section.index("### All rounds (3 requests)") : section.index("### Round 1 (1 requests)")]
    assert "| uncertified_environment | 1 | 1 | 1.00 | 1.00 |" in all_rounds
    assert "| third_party | 1 | 1 | 1.00 | 1.00 |" in all_rounds
    assert "| steps_taken | 0 | 1 | 0.00 | - |" in all_rounds
    round_two = section[section.index("### Round 2 (2 requests)") :]
    assert "| uncertified_environment | 0 | 0 | - | - |" in round_two
    assert "## Support scope and missing details" in (report / "report.md").read_text(encoding="utf-8")
    assert "Support scope and missing details" in (report / "report.html").read_text(encoding="utf-8")


def test_evaluate_names_the_line_of_a_bad_details_label(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels: list[dict[str, object]] = [{"id": "T-1"}, {"id": "T-2", "missing_details": ["os_version"]}]
    data = _data_folder_with_details_labels(tmp_path / "data", labels)
    assert main(["evaluate", str(data), "--all-rows", "--engine", "python"]) == 2
    err = capsys.readouterr().err
    assert f"{data / 'details-labels.jsonl'}:2: 'missing_details' items must be some of" in err
    assert "Traceback" not in err
