"""The evaluation report: Markdown and HTML with PNG plots (confusion matrices, reliability, coverage).

Plots are drawn with matplotlib's object API on the Agg canvas (no display, no pyplot state), so
the report works headless and from several threads. Nothing here needs the network.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sevtriage.model.evaluation import Evaluation, FamiliarityEffect, SystemMetrics
from sevtriage.types import LABELS

NAMES = {1: "1 critical", 2: "2 high", 3: "3 medium", 4: "4 low"}


@dataclass(frozen=True, slots=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Image:
    file: str
    alt: str


Block = str | Table | Image


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def summary_table(evaluation: Evaluation) -> Table:
    """One row per system: the headline numbers."""
    rows = tuple(summary_row(s, s.name) for s in evaluation.systems)
    return Table(("system", *SUMMARY_COLUMNS), rows)


# The promise first (how much is auto-labelled and how right it is, what reaches a person), then the rest.
SUMMARY_COLUMNS = (
    "n",
    "auto-label rate",
    "auto-label precision",
    "sev-1 caught",
    "silent under-triage",
    "accuracy",
    "macro-F1",
    "sev-1 recall",
    "under-triage",
    "ECE",
)


def summary_row(s: SystemMetrics, name: str) -> tuple[str, ...]:
    return (
        name,
        str(s.n),
        _pct(s.auto_coverage),
        _pct(s.auto_precision),
        _pct(s.critical_caught),
        _pct(s.silent_under_triage),
        _pct(s.accuracy),
        _num(s.macro_f1),
        _pct(s.critical_recall),
        _pct(s.under_triage_rate),
        _num(s.ece),
    )


def sets_table(sets: Sequence[tuple[str, Evaluation]], system: str = "combined") -> Table:
    """One row per labelled set for one system (default: what `Triage` does), side by side."""
    rows = tuple(summary_row(found, label) for label, e in sets if (found := e.system(system)) is not None)
    return Table(("set", *SUMMARY_COLUMNS), rows)


def per_class_table(system: SystemMetrics) -> Table:
    rows = tuple(
        (NAMES[c.severity], str(c.support), _pct(c.precision), _pct(c.recall), _num(c.f1)) for c in system.per_class
    )
    return Table(("severity", "support", "precision", "recall", "F1"), rows)


def confusion_table(system: SystemMetrics) -> Table:
    header = ("true \\ predicted", *(NAMES[label] for label in LABELS), "abstained")
    rows = tuple((NAMES[label], *(str(v) for v in row)) for label, row in zip(LABELS, system.confusion, strict=True))
    return Table(header, rows)


EXPLANATION = (
    "Rules only: confident rule verdicts, abstaining otherwise. Model only: the model on every request, "
    "reviewed below its card's thresholds. Combined: what `Triage` does (rules first, the model when unsure, "
    "and the model's second opinion on confident rules). Rules-first: the same without the second opinion. "
    "Auto-label = decided without specialist review; its precision is the promise (95%). Sev-1 caught = "
    "severity-1 requests chosen as 1 or sent to a specialist. Silent under-triage = share of all requests "
    "auto-labelled milder than the truth. An abstention counts as a miss, never as under-triage."
)


def blocks(
    evaluation: Evaluation,
    *,
    title: str,
    data_label: str,
    with_images: bool = True,
    prefix: str = "",
    level: int = 1,
) -> list[Block]:
    """The report's content, rendered to Markdown or HTML by the writers.

    `prefix` goes before image file names and `level` is the depth of the top heading, so that several
    sets fit in one report.
    """
    h1, h2 = "#" * level, "#" * (level + 1)
    out: list[Block] = [
        f"{h1} {title}",
        f"Data: {data_label}. Rules `{evaluation.rules_version}`, model `{evaluation.model_version or 'none'}`.",
    ]
    if level == 1:
        out.append(EXPLANATION)
    out += [f"{h2} Summary", summary_table(evaluation)]
    if evaluation.by_language:
        rows = tuple(
            (lang, str(int(v["n"])), _pct(v["accuracy"]), _num(v["macro_f1"]), _pct(v["critical_recall"]))
            for lang, v in evaluation.by_language.items()
        )
        out += [f"{h2} Combined, per language", Table(("language", "n", "accuracy", "macro-F1", "sev-1 recall"), rows)]
    if evaluation.honesty:
        honest = tuple(
            (
                h.source,
                str(h.decisions),
                _pct(h.mean_confidence),
                _pct(h.accuracy),
                str(h.auto_labelled),
                _pct(h.auto_accuracy),
            )
            for h in evaluation.honesty
        )
        out += [
            f"{h2} Does `confidence` mean what it says? (combined, by source)",
            "`confidence` is the estimated probability that the decided severity is right: the mean stated over "
            "a source's decisions should match the share of them that is right.",
            Table(("source", "decisions", "mean confidence", "right", "auto-labelled", "auto-labelled right"), honest),
        ]
    if evaluation.other_authors is not None:
        other = evaluation.other_authors
        out += [
            f"{h2} The model on text from other authors",
            f"The rule file's {other.n} examples were written by other people than the corpus, for testing the "
            "rules. The model alone on them shows how much the held-out numbers flatter it on unfamiliar wording.",
            Table(summary_table(evaluation).header, (summary_row(other, "model, rule-file examples"),)),
        ]
    if evaluation.familiarity is not None:
        out += familiarity_blocks(evaluation.familiarity, heading=h2)
    for system in evaluation.systems:
        out += [f"{h2} {system.name}", per_class_table(system), confusion_table(system)]
        if with_images:
            out.append(Image(f"{prefix}confusion-{system.name}.png", f"confusion matrix, {system.name}"))
    if with_images:
        out += [
            f"{h2} Calibration and coverage",
            Image(f"{prefix}reliability.png", "reliability diagram"),
            Image(f"{prefix}coverage.png", "coverage vs precision"),
        ]
    if evaluation.under_triaged:
        under = tuple((i, NAMES[t], NAMES[p]) for i, t, p in evaluation.under_triaged[:25])
        out += [
            f"{h2} Under-triaged by the combined system ({len(evaluation.under_triaged)})",
            Table(("id", "true", "predicted"), under),
        ]
    return out


REASON_WORDS = {
    "unfamiliar": "`unfamiliar` (unlike the training requests)",
    "too_vague": "`too_vague` (names no product area or symptom)",
    "either": "either",
}


def familiarity_sets_table(effects: Sequence[tuple[str, FamiliarityEffect]]) -> Table:
    """Per set: how many requests each reason catches, and the auto-labels with and without the check."""
    rows = []
    for label, effect in effects:
        caught = {c.reason: c for c in effect.reasons}
        rows.append(
            (
                label,
                *(str(caught[r].caught) if r in caught else "-" for r in ("unfamiliar", "too_vague", "either")),
                str(caught["either"].would_auto_wrong) if "either" in caught else "-",
                f"{_pct(effect.auto_coverage_before)} at {_pct(effect.auto_precision_before)}",
                f"{_pct(effect.auto_coverage_after)} at {_pct(effect.auto_precision_after)}",
            )
        )
    header = (
        "set",
        "unfamiliar",
        "too_vague",
        "either",
        "wrong auto-labels avoided",
        "auto-labelled without the check",
        "with the check",
    )
    return Table(header, tuple(rows))


def familiarity_blocks(effect: FamiliarityEffect, heading: str = "##") -> list[Block]:
    """How many requests each familiarity reason sends to review, and how precise the auto-labels become."""
    rows = tuple(
        (
            REASON_WORDS.get(c.reason, c.reason),
            f"{c.caught} ({_pct(c.caught / effect.n if effect.n else 0.0)})",
            str(c.would_auto),
            str(c.would_auto_wrong),
            f"{c.critical_suggested} of {c.critical}",
        )
        for c in effect.reasons
    )
    return [
        f"{heading} Unfamiliar and vague requests",
        "Model decisions on requests unlike the training data (`unfamiliar`) or naming no product area or symptom "
        "(`too_vague`) go to review, suggested no milder than 3 and as 1 only when the text says so. "
        "Caught: requests with the reason (combined system). Would have been auto-labelled: of those, decided "
        "without review when the check is off; wrong: how many of those auto-labels were wrong.",
        Table(
            (
                "reason",
                "caught",
                "would have been auto-labelled",
                "of which wrong",
                "severity-1 caught, suggested as 1",
            ),
            rows,
        ),
        Table(
            ("combined system", "auto-label coverage", "auto-label precision"),
            (
                (
                    "without the check",
                    _pct(effect.auto_coverage_before),
                    _pct(effect.auto_precision_before),
                ),
                ("with the check", _pct(effect.auto_coverage_after), _pct(effect.auto_precision_after)),
            ),
        ),
    ]


def to_markdown(content: Sequence[Block]) -> str:
    parts: list[str] = []
    for block in content:
        if isinstance(block, Table):
            lines = ["| " + " | ".join(block.header) + " |", "|" + "---|" * len(block.header)]
            lines += ["| " + " | ".join(row) + " |" for row in block.rows]
            parts.append("\n".join(lines))
        elif isinstance(block, Image):
            parts.append(f"![{block.alt}]({block.file})")
        else:
            parts.append(block)
    return "\n\n".join(parts) + "\n"


def to_html(content: Sequence[Block], title: str) -> str:
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;"
        "text-align:right}th:first-child,td:first-child{text-align:left}img{max-width:38rem;display:block}</style>",
        "</head><body>",
    ]
    for block in content:
        if isinstance(block, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, Image):
            parts.append(f'<img src="{html.escape(block.file)}" alt="{html.escape(block.alt)}">')
        elif block.startswith("### "):
            parts.append(f"<h3>{html.escape(block[4:])}</h3>")
        elif block.startswith("## "):
            parts.append(f"<h2>{html.escape(block[3:])}</h2>")
        elif block.startswith("# "):
            parts.append(f"<h1>{html.escape(block[2:])}</h1>")
        else:
            text = html.escape(block)
            # Inline code spans, the only Markdown the paragraphs use.
            pieces = text.split("`")
            text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))
            parts.append(f"<p>{text}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# -- plots -------------------------------------------------------------------------------------------


def plot_confusion(system: SystemMetrics, path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2, 4.2), dpi=100)
    axes = figure.add_subplot()
    matrix = [list(row) for row in system.confusion]
    image = axes.imshow(matrix, cmap="Blues")
    columns = [*(str(label) for label in LABELS), "none"]
    axes.set_xticks(range(len(columns)), columns)
    axes.set_yticks(range(len(LABELS)), [str(label) for label in LABELS])
    axes.set_xlabel("predicted severity (none = abstained)")
    axes.set_ylabel("true severity")
    axes.set_title(f"Confusion matrix: {system.name}")
    peak = max((max(row) for row in matrix), default=0) or 1
    for r, row in enumerate(matrix):
        for c, value in enumerate(row):
            axes.text(c, r, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    figure.savefig(path)


def plot_reliability(systems: Sequence[SystemMetrics], path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2, 4.6), dpi=100)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for system in systems:
        points = [(b.confidence, b.accuracy) for b in system.reliability if b.count]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, marker="o", label=f"{system.name} (ECE {_num(system.ece)})")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("confidence (mean in bin)")
    axes.set_ylabel("accuracy in bin")
    axes.set_title("Reliability diagram")
    axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    figure.savefig(path)


def plot_coverage(systems: Sequence[SystemMetrics], path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2, 4.6), dpi=100)
    axes = figure.add_subplot()
    for system in systems:
        if not system.coverage_curve:
            continue
        xs = [p.coverage for p in system.coverage_curve]
        ys = [p.precision for p in system.coverage_curve]
        line = axes.plot(xs, ys, label=f"{system.name}: one global threshold")
        if system.auto_precision is not None:
            axes.plot(
                [system.auto_coverage],
                [system.auto_precision],
                marker="*",
                markersize=12,
                color=line[0].get_color(),
                linestyle="none",
                label=f"{system.name}: card thresholds",
            )
    axes.axhline(0.95, color="grey", linestyle=":", label="95% precision")
    axes.set_xlim(0, 1.02)
    axes.set_xlabel("auto-label coverage (share decided without review)")
    axes.set_ylabel("precision of auto-labelled decisions")
    axes.set_title("Coverage vs precision")
    axes.legend(loc="lower left", fontsize="small")
    figure.tight_layout()
    figure.savefig(path)


def _plots(evaluation: Evaluation, folder: Path, prefix: str) -> list[Path]:
    written: list[Path] = []
    for system in evaluation.systems:
        target = folder / f"{prefix}confusion-{system.name}.png"
        plot_confusion(system, target)
        written.append(target)
    calibrated = [s for s in evaluation.systems if s.ece is not None]
    plot_reliability(calibrated, folder / f"{prefix}reliability.png")
    plot_coverage(calibrated, folder / f"{prefix}coverage.png")
    return [*written, folder / f"{prefix}reliability.png", folder / f"{prefix}coverage.png"]


def write_report(
    evaluation: Evaluation, directory: str | Path, *, title: str, data_label: str, extra: Sequence[Block] = ()
) -> list[Path]:
    """Write `report.md`, `report.html` and the PNG plots into `directory`; returns the files written.

    `extra` blocks (e.g. the scope and missing-details section) go at the end.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = _plots(evaluation, folder, "")
    content = [*blocks(evaluation, title=title, data_label=data_label), *extra]
    return [*written, *_write_pages(content, folder, title)]


def sets_blocks(sets: Sequence[tuple[str, Evaluation]], *, title: str, with_images: bool = True) -> list[Block]:
    """Several labelled sets in one report: the sets side by side, then each set's own sections."""
    out: list[Block] = [
        f"# {title}",
        EXPLANATION,
        "## The sets side by side (combined system)",
        sets_table(sets),
    ]
    effects = [(label, e.familiarity) for label, e in sets if e.familiarity is not None]
    if effects:
        out += ["## Unfamiliar and vague requests, side by side", familiarity_sets_table(effects)]
    for index, (label, evaluation) in enumerate(sets, start=1):
        out += blocks(
            evaluation, title=label, data_label=label, with_images=with_images, prefix=f"set{index}-", level=2
        )
    return out


def write_sets_report(
    sets: Sequence[tuple[str, Evaluation]], directory: str | Path, *, title: str, extra: Sequence[Block] = ()
) -> list[Path]:
    """`write_report` for several labelled sets (images are named `setN-...`)."""
    if len(sets) == 1:
        label, evaluation = sets[0]
        return write_report(evaluation, directory, title=title, data_label=label, extra=extra)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for index, (_, evaluation) in enumerate(sets, start=1):
        written += _plots(evaluation, folder, f"set{index}-")
    return [*written, *_write_pages([*sets_blocks(sets, title=title), *extra], folder, title)]


def _write_pages(content: Sequence[Block], folder: Path, title: str) -> list[Path]:
    (folder / "report.md").write_text(to_markdown(content), encoding="utf-8")
    (folder / "report.html").write_text(to_html(content, title), encoding="utf-8")
    return [folder / "report.md", folder / "report.html"]
