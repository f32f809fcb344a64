"""The evaluation report: Markdown, HTML and PNG plots."""

from __future__ import annotations

from pathlib import Path

from sevtriage.model.evaluation import Evaluation, SourceHonesty, system_metrics
from sevtriage.model.report import to_html, to_markdown, write_report, write_sets_report


def small_evaluation() -> Evaluation:
    truth = [1, 2, 3, 4, 1, 3]
    rules = system_metrics("rules", truth, [1, 0, 0, 4, 0, 0], [True, False, False, True, False, False])
    model = system_metrics("model", truth, [1, 2, 3, 3, 2, 3], [True] * 6, [0.9, 0.7, 0.8, 0.5, 0.6, 0.9])
    combined = system_metrics("combined", truth, [1, 2, 3, 4, 2, 3], [True] * 6, [1, 0.7, 0.8, 1, 0.6, 0.9])
    return Evaluation(
        (rules, model, combined),
        {"en": {"n": 6.0, "accuracy": 0.8, "macro_f1": 0.7, "critical_recall": 0.5}},
        (("T-5", 1, 2),),
        "severity.yaml@abc",
        "20260101-deadbeef",
        system_metrics("model", [1, 4], [2, 4], [True, True], [0.9, 0.8]),
        (SourceHonesty("rules", 2, 0.95, 1.0, 2, 1.0), SourceHonesty("model", 4, 0.75, 0.75, 4, 0.75)),
    )


def test_report_files(tmp_path: Path) -> None:
    written = write_report(small_evaluation(), tmp_path / "out", title="Test <report>", data_label="six requests")
    names = sorted(p.name for p in written)
    assert names == [
        "confusion-combined.png",
        "confusion-model.png",
        "confusion-rules.png",
        "coverage.png",
        "reliability.png",
        "report.html",
        "report.md",
    ]
    for png in (p for p in written if p.suffix == ".png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    # Auto-label rate and precision, sev-1 caught, silent under-triage, accuracy: the promise first.
    assert "| combined | 6 | 100.0% | 83.3% | 50.0% | 16.7% | 83.3% | " in markdown
    assert "![reliability diagram](reliability.png)" in markdown
    assert "| T-5 | 1 critical | 2 high |" in markdown
    assert "| source | decisions | mean confidence | right | auto-labelled | auto-labelled right |" in markdown
    assert "| rules | 2 | 95.0% | 100.0% | 2 | 100.0% |" in markdown
    assert "| model, rule-file examples | 2 | 100.0% | 50.0% |" in markdown
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<title>Test &lt;report&gt;</title>" in page
    assert '<img src="coverage.png" alt="coverage vs precision">' in page
    assert "<code>severity.yaml@abc</code>" in page


def test_markdown_and_html_escape_and_tables() -> None:
    from sevtriage.model.report import Table

    content = ["# T", "a `b` <c>", Table(("x", "y"), (("1", "<2>"),))]
    assert to_markdown(content) == "# T\n\na `b` <c>\n\n| x | y |\n|---|---|\n| 1 | <2> |\n"
    assert "<p>a <code>b</code> &lt;c&gt;</p>" in to_html(content, "T")
    assert "<td>&lt;2&gt;</td>" in to_html(content, "T")


def test_several_sets_side_by_side(tmp_path: Path) -> None:
    one, two = small_evaluation(), small_evaluation()
    written = write_sets_report([("held-out", one), ("fresh", two)], tmp_path, title="Sets")
    names = {p.name for p in written}
    assert {"set1-coverage.png", "set2-confusion-combined.png", "report.md", "report.html"} <= names
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    table = markdown[markdown.index("## The sets side by side") :]
    assert "| set | n | auto-label rate | auto-label precision | sev-1 caught | silent under-triage |" in table
    assert "| held-out | 6 | 100.0% | 83.3% | 50.0% | 16.7% | 83.3% |" in table
    assert "| fresh | 6 | 100.0% | 83.3% |" in table
    assert "## held-out" in markdown and "### Summary" in markdown
    assert "![reliability diagram](set2-reliability.png)" in markdown
    assert "<h3>Summary</h3>" in (tmp_path / "report.html").read_text(encoding="utf-8")
