"""`sevtriage classify` end to end: files, stdin, formats, rejects, exit codes, progress only on a terminal."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from sevtriage.cli import main
from sevtriage.cli.classify_cmd import describe
from sevtriage.intake.pipeline import intake_rules_for
from sevtriage.intake.readers import ticket_from_fields
from sevtriage.resources import example_requests_path
from sevtriage.triage import Triage

GOOD = "2026-11-26T09:00:00+01:00"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEVTRIAGE_")}
    env["SEVTRIAGE_STORE_URL"] = ""
    return env


def _run(args: list[str], cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "sevtriage", *args], input=stdin, capture_output=True, cwd=cwd, env=_env(), timeout=120
    )


def _write_csv(path: Path, rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["id", "subject", "body", "received_at", "plan"])
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))


def test_bundled_examples_are_varied_and_valid() -> None:
    lines = example_requests_path().read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) >= 12
    assert {r["plan"] for r in records} == {"standard", "premier"}
    assert all(r["received_at"][-6] in "+-" for r in records)
    assert len({r["id"] for r in records}) == len(records)


def test_no_input_prints_the_examples_readably(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["classify"]) == 0
    out, err = capfd.readouterr()
    triage = Triage.load()
    rules = intake_rules_for(triage)
    lines = example_requests_path().read_text(encoding="utf-8").splitlines()
    tickets = [ticket_from_fields(json.loads(line), rules) for line in lines]
    expected = "\n\n".join("\n".join(describe(triage.classify(t))) for t in tickets)
    assert out == expected + "\n"
    assert "initial response: " in out
    assert f"{len(lines)} rows: {len(lines)} decisions, 0 rejected" in err
    assert not list(tmp_path.iterdir())  # no rejects file when nothing was rejected


def test_semicolon_csv_to_jsonl_with_rejects_file_and_exit_3(tmp_path: Path) -> None:
    rows = [
        ["S-1", "Nikto sa nevie prihlásiť", "Celá firma stojí; výroba nejde.", GOOD, "premier"],
        ["S-2", "", "", GOOD, "standard"],
        ["S-3", "Otázka", "Ako exportujem dochádzku?", "2026-11-26 09:00", "standard"],
        ["S-4", "Otázka", "Ako exportujem dochádzku?", GOOD, ""],
    ]
    source = tmp_path / "export.csv"
    _write_csv(source, rows, delimiter=";", encoding="utf-8-sig")
    result = _run(["classify", "export.csv", "-o", "out.jsonl"], tmp_path)
    assert result.returncode == 3, result.stderr
    decisions = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in decisions] == ["S-1", "S-4"]
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["id"], r["reason"].split(":")[0]) for r in rejects] == [
        (3, "S-2", "empty text"),
        (4, "S-3", "naive received_at '2026-11-26 09"),
    ]
    assert rejects[0]["raw"] == "S-2;;;2026-11-26T09:00:00+01:00;standard"
    err = result.stderr.decode()
    assert "4 rows: 2 decisions, 2 rejected" in err
    assert "rejected rows (line, reason, raw row): out.rejects.jsonl" in err
    assert "\r" not in err  # no progress bar when stderr is not a terminal


def test_cp1250_input_and_csv_output_keep_the_delimiter(tmp_path: Path) -> None:
    _write_csv(
        tmp_path / "old.csv",
        [["C-1", "Chyba v docházce", "Žádný zaměstnanec se nemůže přihlásit", GOOD, "standard"]],
        delimiter=";",
        encoding="cp1250",
    )
    result = _run(["classify", "old.csv", "--encoding", "cp1250", "-o", "out.csv"], tmp_path)
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "out.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # so that Excel reads the diacritics as UTF-8
    header, row = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert header[:3] == ["id", "severity", "severity_name"]
    assert row[0] == "C-1"


def test_stdin_to_stdout_jsonl_and_csv(tmp_path: Path) -> None:
    data = example_requests_path().read_bytes()
    result = _run(["classify", "-"], tmp_path, stdin=data)
    assert result.returncode == 0, result.stderr
    decisions = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert len(decisions) == len(data.splitlines())
    result = _run(["classify", "-", "--output-format", "csv", "-q"], tmp_path, stdin=data)
    rows = list(csv.DictReader(io.StringIO(result.stdout.decode("utf-8"))))
    assert [r["id"] for r in rows] == [d["id"] for d in decisions]
    assert result.stderr == b""


def test_format_override_reads_jsonl_with_an_odd_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "requests.txt").write_bytes(example_requests_path().read_bytes())
    monkeypatch.chdir(tmp_path)
    assert main(["classify", "requests.txt", "--format", "jsonl", "-o", "o.jsonl", "-q"]) == 0
    assert len((tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()) >= 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["classify", "missing.csv"], "error: input file 'missing.csv' does not exist"),
        (["classify", "in.csv", "--encoding", "klingon"], "error: unknown encoding 'klingon'"),
        (["classify", "nohead.csv"], "error: nohead.csv: line 1: the header has no 'id' column"),
        (["classify", "--text", "x", "in.csv"], "Error: give either INPUT or --text, not both"),
        (["classify", "in.csv", "--output-format", "xml"], "Invalid value for '--output-format'"),
        (["classify", "in.csv", "--rules", "nope.yaml"], "error: nope.yaml: rule file not found"),
        (["classify", "in.csv", "--model", "nope.joblib"], "error: nope.joblib: model file not found"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    monkeypatch: pytest.MonkeyPatch, args: list[str], message: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    _write_csv(tmp_path / "in.csv", [["A", "x", "y", GOOD, "standard"]])
    (tmp_path / "nohead.csv").write_text("subject,body\nx,y\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    _, err = capfd.readouterr()
    assert message in err
    assert "Traceback" not in err


def test_text_option_readable_and_json(capfd: pytest.CaptureFixture[str]) -> None:
    text = "Production is down, nobody can log in"
    assert main(["classify", "--text", text, "--plan", "premier", "--received", "2026-11-27T16:30:00+01:00"]) == 0
    out, _ = capfd.readouterr()
    assert out.startswith("cli-1: ")
    assert "plan premier, received 2026-11-27T16:30+01:00" in out
    assert main(["classify", "--text", text, "--json", "--received", "2026-11-27T16:30:00+01:00"]) == 0
    record = json.loads(capfd.readouterr().out)
    assert record["id"] == "cli-1"
    assert record["received_at"] == "2026-11-27T16:30:00+01:00"
    assert main(["classify", "--text", text, "--received", "tomorrow"]) == 2
    assert "error: unparsable received_at 'tomorrow'" in capfd.readouterr().err


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    """stderr on a pseudo-terminal shows rows/s and ETA; the decisions on stdout are untouched."""
    rows = [[f"P-{n}", "Otázka", f"Ako exportujem dochádzku {n}?", GOOD, "standard"] for n in range(3000)]
    _write_csv(tmp_path / "big.csv", rows)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "sevtriage", "classify", "big.csv", "-o", "out.jsonl", "--batch-size", "50"],
        stderr=follower,
        stdout=subprocess.DEVNULL,
        cwd=tmp_path,
        env=_env(),
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=120) == 0
    os.close(leader)
    shown = b"".join(chunks).decode("utf-8", errors="replace")
    assert "rows/s" in shown
    assert "ETA" in shown
    assert "3000 rows: 3000 decisions, 0 rejected" in shown
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 3000


def test_store_option_saves_decisions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from sevtriage.store import DecisionStore

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    assert main(["classify", str(example_requests_path()), "-o", "o.jsonl", "-q", "--store", url]) == 0
    decisions = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()]
    saved = DecisionStore.open(url)
    assert sum(saved.counts().values()) == len(decisions)
    for decision in decisions:
        stored = saved.get(decision["id"])
        assert stored.ticket.id == decision["id"]


@pytest.mark.parametrize("engine", ["python", "durable"])
def test_the_engine_option_chooses_the_rules_engine(capsys: pytest.CaptureFixture[str], engine: str) -> None:
    code = main(["classify", "--engine", engine, "--json", "--text", "Production is down, nobody can log in."])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["severity"] == 1


def test_policy_is_a_hidden_alias_of_sla_for_classify(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    policy = tmp_path / "sla.yaml"
    policy.write_text("calendar: {timezone: Mars/Olympus, week: {}}\n", encoding="utf-8")
    for flag in ("--sla", "--policy"):
        assert main(["classify", flag, str(policy), "--text", "Production is down."]) == 2
        assert f"{policy}:1: the policy file must have plans" in capsys.readouterr().err


# -- a batch that never dies (issue 10, item 3) ------------------------------------------------------------------


def _jl(id_part: str, body_part: str) -> str:
    """One JSONL line with the id and body written as raw JSON (so they may hold escapes or huge values)."""
    return '{"id": ' + id_part + ', "body": ' + body_part + ', "received_at": "' + GOOD + '"}'


HOSTILE = [
    ("good-1", _jl('"G-1"', '"Nobody can log in."'), None),
    ("deep", _jl('"D-1"', "[" * 100_000 + "]" * 100_000), "nested too deeply"),
    ("huge", _jl("7" * 5000, '"x"'), "a number has more than 4300 digits"),
    ("surrogate id", _jl('"S-\\ud800"', '"Login fails."'), "lone surrogate"),
    ("surrogate body", _jl('"B-1"', '"Login \\ud800 fails."'), None),
    ("nul body", _jl('"B-2"', '"Export \\u0000 fails."'), None),
    ("long id", _jl('"' + "L" * 201 + '"', '"Login fails."'), "at most 200"),
    ("good-2", _jl('"G-2"', '"Typo in the menu."'), None),
]


def test_hostile_jsonl_lines_are_each_rejected_and_the_run_goes_on_with_the_store(tmp_path: Path) -> None:
    from sevtriage.store import DecisionStore

    (tmp_path / "in.jsonl").write_text("\n".join(line for _, line, _ in HOSTILE) + "\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = _run(["classify", "in.jsonl", "-o", "out.jsonl", "--store", url], tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 3, err
    assert "Traceback" not in err
    decisions = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in decisions] == ["G-1", "B-1", "B-2", "G-2"]
    expected = [(n, reason) for n, (_, _, reason) in enumerate(HOSTILE, start=1) if reason]
    assert [r["line"] for r in rejects] == [n for n, _ in expected]
    for reject, (line, reason) in zip(rejects, expected, strict=True):
        assert reason in reject["reason"], reject["reason"]
        assert reject["raw"] == HOSTILE[line - 1][1]
    assert len(HOSTILE) == len(decisions) + len(rejects)
    assert f"{len(HOSTILE)} rows: 4 decisions, 4 rejected" in err
    with DecisionStore.open(url) as store:
        assert sum(store.counts().values()) == 4
        assert store.get("B-1").body == "Login \ufffd fails."
        assert store.get("B-2").body == "Export \ufffd fails."


def test_csv_with_cr_only_line_ends_is_read(tmp_path: Path) -> None:
    rows = [f"R-{i},Login fails,Nobody can log in,{GOOD},standard" for i in range(3)]
    (tmp_path / "mac.csv").write_bytes(("id,subject,body,received_at,plan\r" + "\r".join(rows) + "\r").encode())
    result = _run(["classify", "mac.csv", "-o", "out.jsonl"], tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    decisions = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in decisions] == ["R-0", "R-1", "R-2"]


def test_rows_the_store_refuses_are_rejects_with_a_clear_reason_and_no_request_text(tmp_path: Path) -> None:
    from sqlalchemy import text

    from sevtriage.store import DecisionStore

    url = f"sqlite:///{tmp_path / 'store.db'}"
    with DecisionStore.open(url) as store, store.engine.begin() as conn:
        # The database itself refuses one row (as PostgreSQL refused NUL bytes before the boundary rule).
        conn.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON requests WHEN NEW.body LIKE '%secret-words%' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    lines = [_jl(f'"P-{i}"', '"Login fails secret-words"' if i == 2 else '"Login fails"') for i in range(5)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _run(["classify", "in.jsonl", "-o", "out.jsonl", "--store", url], tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 3, err
    assert "Traceback" not in err and "secret-words" not in err
    decisions = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in decisions] == ["P-0", "P-1", "P-3", "P-4"]
    assert [(r["line"], r["id"]) for r in rejects] == [(3, "P-2")]
    assert rejects[0]["reason"].startswith("not stored: the decision store refused the request (IntegrityError)")
    with DecisionStore.open(url) as store:
        assert sum(store.counts().values()) == 4


@pytest.mark.parametrize("output", ["decisions.jsonl", "decisions.csv"])
def test_several_workers_write_the_same_bytes_as_one_in_input_order(tmp_path: Path, output: str) -> None:
    examples = example_requests_path().read_text(encoding="utf-8").splitlines()
    lines: list[str] = []
    for n in range(40):
        record = json.loads(examples[n % len(examples)])
        record["id"] = f"W-{n}"
        lines.append(json.dumps(record, ensure_ascii=False))
    # Bad rows between and inside batches: invalid JSON, a duplicate id, a naive time, an empty text.
    lines.insert(3, "{not json")
    lines.insert(11, json.dumps({"id": "W-2", "body": "again", "received_at": GOOD}))
    lines.insert(20, json.dumps({"id": "N-1", "body": "down", "received_at": "2026-11-26 09:00"}))
    lines.append(json.dumps({"id": "E-1", "subject": "", "body": "", "received_at": GOOD}))
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    outputs = {}
    for workers in ("1", "2", "3"):
        folder = tmp_path / f"w{workers}"
        folder.mkdir()
        result = _run(
            ["classify", "../in.jsonl", "-o", output, "--workers", workers, "--batch-size", "4", "-q"], cwd=folder
        )
        assert result.returncode == 3, result.stderr.decode()
        outputs[workers] = ((folder / output).read_bytes(), (folder / "decisions.rejects.jsonl").read_bytes())
    assert outputs["2"] == outputs["1"]
    assert outputs["3"] == outputs["1"]
    decisions, rejects = outputs["1"]
    text = decisions.decode("utf-8-sig")
    ids = [json.loads(line)["id"] for line in text.splitlines()] if output.endswith("jsonl") else None
    if ids is not None:
        assert ids == [f"W-{n}" for n in range(40)]
    assert [json.loads(line)["line"] for line in rejects.decode().splitlines()] == [4, 12, 21, 44]


def test_a_utf16_export_is_explained_without_nul_bytes_and_reads_with_the_encoding(tmp_path: Path) -> None:
    _write_csv(
        tmp_path / "unicode.csv", [["U-1", "Prihlásenie", "Nikto sa nevie prihlásiť", GOOD, "premier"]], ";", "utf-16"
    )
    refused = _run(["classify", "unicode.csv", "-o", "out.csv"], tmp_path)
    assert refused.returncode == 2
    assert b"\x00" not in refused.stderr
    assert "run again with --encoding utf-16" in refused.stderr.decode()
    done = _run(["classify", "unicode.csv", "-o", "out.csv", "--encoding", "utf-16"], tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    rows = list(
        csv.reader(io.StringIO((tmp_path / "out.csv").read_bytes().decode("utf-8-sig"), newline=""), delimiter=";")
    )
    assert rows[1][0] == "U-1"
