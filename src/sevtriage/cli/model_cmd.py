"""`sevtriage train` and `sevtriage evaluate`: fit the text model on labelled data, measure it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sevtriage.confidence import RulePrecision, measure_rules
from sevtriage.errors import ConfigError
from sevtriage.model.corpus import DataError, LabelledRequest, read_labelled, training_split
from sevtriage.model.thresholds import Targets
from sevtriage.resources import default_model_path

if TYPE_CHECKING:
    from sevtriage.model.evaluation import FamiliarityEffect
    from sevtriage.model.report import Block
    from sevtriage.model.text_model import TrainedModel
    from sevtriage.rules.stage import RuleStage
    from sevtriage.triage import Triage

DEFAULT_OUTPUT = Path("models") / "severity-model.joblib"


def _fraction(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0 < value <= 1:
        raise click.BadParameter(f"must be in (0, 1]; got {value}")
    return value


@click.command("train")
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Model file to write; its card goes next to it (NAME.card.json).",
)
@click.option(
    "--also",
    "also",
    multiple=True,
    type=click.Path(path_type=Path),
    help="More labelled data to train on, e.g. the file written by `sevtriage reviews export` (repeatable).",
)
@click.option(
    "--target-precision",
    type=float,
    default=Targets().auto_precision,
    show_default=True,
    callback=_fraction,
    help="Precision that model decisions made without review must reach on validation data.",
)
@click.option(
    "--critical-recall",
    type=float,
    default=Targets().critical_recall,
    show_default=True,
    callback=_fraction,
    help="Share of severity-1 validation requests that must be chosen as 1 or flagged `possible_critical`.",
)
@click.option(
    "--rules",
    type=click.Path(path_type=Path),
    default=None,
    help="Rule file whose per-rule precision is measured on the training data, and used in the held-out check.",
)
@click.option("--engine", default=None, help="Rules engine for the measurement (durable or python).")
def train_command(
    data: Path,
    output: Path,
    also: tuple[Path, ...],
    target_precision: float,
    critical_recall: float,
    rules: Path | None,
    engine: str | None,
) -> None:
    """Fit the severity model on labelled DATA (a CSV/JSONL file, or the data/ folder).

    With the data/ folder the requests listed in data/heldout_ids.txt are kept out of training and
    the new model is measured on them (the numbers go into the model card).
    """
    from sevtriage.model import store as model_store
    from sevtriage.model.text_model import train
    from sevtriage.rules.stage import RuleStage

    parts = training_split(data)
    records: list[LabelledRequest] = list(parts.train)
    held = {r.id for r in parts.heldout}
    for extra in also:
        more = read_labelled(extra)
        records += [r for r in more if r.id not in held]
        skipped = sum(1 for r in more if r.id in held)
        if skipped:
            click.echo(f"{extra}: skipped {skipped} request(s) that are in the held-out split", err=True)
    targets = Targets(auto_precision=target_precision, critical_recall=critical_recall)
    click.echo(f"training on {len(records)} requests ({', '.join(str(p) for p in (data, *also))})", err=True)
    stage = RuleStage.load(rules, engine=engine)
    try:
        trained = train(
            records,
            sources=[str(p) for p in (data, *also)],
            targets=targets,
            rule_precision=measure_rule_precision(stage, records),
        )
    except ValueError as error:
        raise DataError(f"{data}: {error}") from None
    if parts.heldout:
        from sevtriage.model.evaluation import evaluate

        triage = _triage_with(trained, stage)
        result = evaluate(triage, parts.heldout)
        trained.card.metrics["heldout"] = {s.name: s.summary() for s in result.systems}
        if result.other_authors is not None:
            trained.card.metrics["rule_file_examples"] = {"model": result.other_authors.summary()}
        if result.familiarity is not None:
            trained.card.metrics["heldout_familiarity"] = familiarity_summary(result.familiarity)
    card = model_store.save(trained, output)
    cv = trained.card.metrics["cross_validation"]
    click.echo(f"wrote {output} and {card} (model version {trained.version})")
    click.echo(
        f"trained in {trained.card.training_seconds:.1f} s; cross-validated macro-F1 {cv['macro_f1']:.3f}, "
        f"accuracy {cv['accuracy']:.3f}"
    )
    validation = trained.card.validation
    click.echo(f"validation: {validation['description']}, {validation['folds']} folds")
    level = f"{100 * targets.confidence_level:g}%"
    click.echo(
        f"auto-label thresholds (lowest whose {level} lower bound of out-of-fold precision reaches "
        f"{100 * targets.auto_precision:g}%):"
    )
    for severity, ev in sorted(validation["evidence"].items()):
        threshold = "review always" if ev["threshold"] is None else f"{ev['threshold']:.4f}"
        click.echo(
            f"  severity {severity}: threshold {threshold:<13} evidence {ev['correct']}/{ev['decisions']} right, "
            f"lower bound {100 * ev['lower_bound']:.1f}%"
        )
    click.echo(f"critical alert {trained.card.thresholds.critical_alert:.2f}")
    measured = trained.card.rule_precision
    if measured is not None:
        click.echo(
            f"rules: {measured.decided_correct}/{measured.decided} confident decisions right on the training data; "
            f"{len(measured.rules)} rules measured, shrunk toward {100 * measured.prior_mean:.1f}%"
        )
    cut = trained.card.familiarity
    if cut is not None:
        click.echo(
            f"unfamiliar below: known words {cut.known_words:.2f}, known character n-grams {cut.known_chars:.2f}, "
            f"nearest training request {cut.nearest:.2f} (the {cut.quantile:.1%} quantile out of fold); "
            f"{100 * cut.evidence.get('vague_share', 0.0):.1f}% of training requests name no product area or symptom"
        )
    for name, numbers in trained.card.metrics.get("heldout", {}).items():
        click.echo(_line(f"held-out {name}", numbers))
    for name, numbers in trained.card.metrics.get("rule_file_examples", {}).items():
        click.echo(_line(f"rule examples {name}", numbers))


def familiarity_summary(effect: FamiliarityEffect) -> dict[str, object]:
    """The familiarity check's effect, for the model card."""
    return {
        "caught": {c.reason: c.caught for c in effect.reasons},
        "would_auto_wrong": {c.reason: c.would_auto_wrong for c in effect.reasons},
        "auto_before": [round(effect.auto_coverage_before, 4), _round(effect.auto_precision_before)],
        "auto_after": [round(effect.auto_coverage_after, 4), _round(effect.auto_precision_after)],
    }


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def _triage_with(trained: TrainedModel, stage: RuleStage) -> Triage:
    from sevtriage.sla import SlaPolicy
    from sevtriage.triage import Triage

    return Triage(stage, trained, SlaPolicy.load())


def measure_rule_precision(stage: RuleStage, records: Sequence[LabelledRequest]) -> RulePrecision:
    """Each rule's precision on labelled requests (the training data), for the rules' `confidence`."""
    from sevtriage.model.evaluation import tickets_of

    verdicts = stage.evaluate_many(tickets_of(records))
    return measure_rules(
        verdicts,
        [r.severity for r in records],
        stage.book.fingerprints(),
        rules_version=stage.version,
    )


def _line(label: str, numbers: dict[str, object]) -> str:
    def pct(key: str) -> str:
        value = numbers.get(key)
        return "-" if not isinstance(value, float | int) else f"{100 * value:.1f}%"

    f1 = numbers.get("macro_f1")
    return (
        f"{label:<22} auto-label {pct('auto_coverage'):>6} at precision {pct('auto_precision'):>6}  "
        f"sev-1 caught {pct('critical_caught'):>6}  silent under-triage {pct('silent_under_triage'):>5}  "
        f"accuracy {pct('accuracy'):>6}  macro-F1 {f1 if isinstance(f1, float) else 0:.3f}"
    )


@click.command("evaluate")
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for report.md, report.html and the PNG plots.",
)
@click.option(
    "--model",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Model file (default: the bundled model).",
)
@click.option("--rules", type=click.Path(path_type=Path), default=None, help="Rule file (default: bundled).")
@click.option("--engine", default=None, help="Rules engine: durable or python.")
@click.option("--all-rows", is_flag=True, help="With the data/ folder: every request, not only the held-out split.")
def evaluate_command(
    data: tuple[Path, ...],
    report_dir: Path | None,
    model: Path | None,
    rules: Path | None,
    engine: str | None,
    all_rows: bool,
) -> None:
    """Measure rules only, model only and combined on one or more labelled DATA sets.

    A folder with a corpus/ (the data/ folder) gives its held-out split (the model never saw it);
    any other folder or file is used whole. With several sets, the combined system's numbers are
    also shown side by side.
    """
    from sevtriage.model.evaluation import Evaluation, evaluate
    from sevtriage.model.report import familiarity_blocks, sets_table, summary_table, to_markdown, write_sets_report
    from sevtriage.triage import Triage

    chosen = [_evaluation_records(path, all_rows) for path in data]
    if model is None and not default_model_path().is_file():
        click.echo("no model file: measuring the rules alone (train one with `sevtriage train data/`)", err=True)
    elif model is not None and not model.is_file():
        raise ConfigError(f"{model}: model file not found; train one with: sevtriage train data/ -o {model}")
    triage = Triage.load(rules, model=model, engine=engine)
    sets: list[tuple[str, Evaluation]] = []
    for index, (records, label) in enumerate(chosen):
        # The rule file's examples are the same for every set: measured once.
        result = evaluate(triage, records, other_authors=index == 0)
        sets.append((label, result))
        if len(chosen) > 1:
            click.echo(f"## {label}\n")
        click.echo(to_markdown([summary_table(result)]), nl=False)
        if result.other_authors is not None:
            other = result.other_authors
            click.echo(_line(f"model on the rule file's {other.n} examples", other.summary()))
        if result.familiarity is not None:
            click.echo(to_markdown(familiarity_blocks(result.familiarity)[2:]), nl=False)
        if len(chosen) > 1:
            click.echo()
    if len(sets) > 1:
        click.echo("## side by side (combined)\n")
        click.echo(to_markdown([sets_table(sets)]), nl=False)
    details = [block for path in data for block in _details_blocks(path, triage)]
    if details:
        click.echo()
        click.echo(to_markdown(details), nl=False)
    if report_dir is not None:
        written = write_sets_report(sets, report_dir, title="sevtriage evaluation", extra=details)
        click.echo(f"report: {report_dir / 'report.md'} and report.html ({len(written)} files)")


DETAILS_LABELS = "details-labels.jsonl"


def _details_blocks(path: Path, triage: Triage) -> list[Block]:
    """The scope and missing-details section for a data folder that has hand labels for them."""
    from sevtriage.model.report import Table
    from sevtriage.rules.scope_eval import parse_details_labels, score_details
    from sevtriage.types import Ticket

    labels_file = path / DETAILS_LABELS
    if not labels_file.is_file():
        return []
    labels = parse_details_labels(labels_file.read_text(encoding="utf-8").splitlines(), str(labels_file))
    wanted = {label.id for label in labels}
    parts = training_split(path)
    found = {
        r.id: triage.rule_stage.scope_of(Ticket(id=r.id, subject=r.subject, body=r.body))
        for r in (*parts.train, *parts.heldout)
        if r.id in wanted
    }
    absent = sorted(wanted - found.keys())
    if absent:
        raise DataError(f"{labels_file}: {len(absent)} labelled ids are not in the corpus, e.g. '{absent[0]}'")

    def table(chosen: Sequence[object]) -> Table:
        rows = []
        for score in score_details([label for label in labels if label in chosen], found):
            p, r = score.precision, score.recall
            rows.append(
                (
                    score.item,
                    str(score.labelled),
                    str(score.flagged),
                    "-" if p is None else f"{p:.2f}",
                    "-" if r is None else f"{r:.2f}",
                )
            )
        return Table(("item", "labelled", "flagged", "precision", "recall"), tuple(rows))

    out: list[Block] = [
        "## Support scope and missing details",
        f"{len(labels)} requests of {path} labelled by hand in {labels_file.name}; a round the phrase lists "
        "were tuned on flatters them, so each round is also shown alone.",
        f"### All rounds ({len(labels)} requests)",
        table(labels),
    ]
    for number in sorted({label.round for label in labels}):
        chosen = [label for label in labels if label.round == number]
        out += [f"### Round {number} ({len(chosen)} requests)", table(chosen)]
    return out


def _evaluation_records(path: Path, all_rows: bool) -> tuple[list[LabelledRequest], str]:
    parts = training_split(path)
    if path.is_dir() and (path / "corpus").is_dir() and not all_rows:
        if not parts.heldout:
            raise DataError(f"{path}: no held-out split (heldout_ids.txt); pass --all-rows to use every request")
        return list(parts.heldout), f"{path} held-out split ({len(parts.heldout)} requests)"
    records = [*parts.train, *parts.heldout]
    return records, f"{path} ({len(records)} requests)"


COMMANDS: list[click.Command] = [train_command, evaluate_command]
