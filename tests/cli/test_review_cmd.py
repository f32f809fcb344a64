"""`sevtriage users ...` and `sevtriage reviews ...` through the real command line entry point."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from sevtriage.cli import main
from sevtriage.model.corpus import read_labelled
from sevtriage.review.auth import authenticate
from sevtriage.store import DecisionStore
from sevtriage.types import Severity
from tests.review.test_web import make_desk, suggestion


def run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_users_add_hashes_the_password_and_the_account_signs_in(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(
        capsys, monkeypatch, ["users", "add", "alice", "--password-stdin", "--store", url], "long enough pw\n"
    )
    assert (code, out) == (0, "created specialist alice; they sign in at /review/login of `sevtriage serve`\n")
    with DecisionStore.open(url) as store:
        user = store.get_user("alice")
        assert (
            user is not None and user.password_hash.startswith("$argon2id$") and "long enough" not in user.password_hash
        )
        assert authenticate(store, "alice", "long enough pw") is not None
        assert authenticate(store, "alice", "long enough pX") is None


@pytest.mark.filterwarnings("ignore::getpass.GetPassWarning")  # stdin is not a terminal here
def test_users_add_prompts_twice_without_password_stdin(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(
        capsys, monkeypatch, ["users", "add", "bob", "--store", url], "a good password\na good password\n"
    )
    assert code == 0 and "Password" in err and "Repeat for confirmation" in err
    with DecisionStore.open(url) as store:
        assert authenticate(store, "bob", "a good password") is not None


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["users", "add", "al ice", "--password-stdin"],
            "long enough pw\n",
            "error: a specialist's name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit; got 'al ice'\n",
        ),
        (
            ["users", "add", "carol", "--password-stdin"],
            "short\n",
            "error: a password must have at least 10 characters; this one has 5\n",
        ),
        (
            ["users", "add", "carol", "--password-stdin"],
            "",
            "error: --password-stdin read an empty line; pipe the password into the command\n",
        ),
        (
            ["users", "passwd", "nobody", "--password-stdin"],
            "long enough pw\n",
            "error: no specialist is named 'nobody'; create the account with `sevtriage users add nobody`\n",
        ),
        (["users", "disable", "nobody"], "", "error: no specialist is named 'nobody'\n"),
    ],
)
def test_user_mistakes_exit_2_with_a_message(
    url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    stdin: str,
    message: str,
) -> None:
    code, _, err = run(capsys, monkeypatch, [*args, "--store", url], stdin)
    assert (code, err) == (2, message)


def test_adding_an_existing_user_says_how_to_reset_the_password(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, monkeypatch, ["users", "add", "alice", "--password-stdin", "--store", url], "long enough pw\n")
    code, _, err = run(
        capsys, monkeypatch, ["users", "add", "alice", "--password-stdin", "--store", url], "other password\n"
    )
    assert (code, err) == (
        2,
        "error: a specialist named 'alice' exists already; choose another name or set a new password with "
        "`sevtriage users passwd alice`\n",
    )


def test_passwd_disable_and_list(url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    run(capsys, monkeypatch, ["users", "add", "alice", "--password-stdin", "--store", url], "long enough pw\n")
    assert run(capsys, monkeypatch, ["users", "disable", "alice", "--store", url])[:2] == (0, "disabled alice\n")
    _, out, _ = run(capsys, monkeypatch, ["users", "list", "--store", url])
    assert out.startswith("alice  created ") and out.endswith("UTC  (disabled)\n")
    assert (
        run(
            capsys, monkeypatch, ["users", "passwd", "alice", "--password-stdin", "--store", url], "another long one\n"
        )[0]
        == 0
    )
    with DecisionStore.open(url) as store:
        assert authenticate(store, "alice", "another long one") is not None


def test_a_lead_is_made_with_add_role_or_users_role_and_listed(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(
        capsys,
        monkeypatch,
        ["users", "add", "lena", "--role", "lead", "--password-stdin", "--store", url],
        "long pw 123\n",
    )
    assert (code, out) == (0, "created support lead lena; they sign in at /review/login of `sevtriage serve`\n")
    run(capsys, monkeypatch, ["users", "add", "alice", "--password-stdin", "--store", url], "long enough pw\n")
    assert run(capsys, monkeypatch, ["users", "role", "alice", "lead", "--store", url])[:2] == (
        0,
        "alice is now a lead\n",
    )
    assert run(capsys, monkeypatch, ["users", "role", "lena", "specialist", "--store", url])[0] == 0
    _, out, _ = run(capsys, monkeypatch, ["users", "list", "--store", url])
    lines = out.splitlines()
    assert lines[0].startswith("alice  created ") and lines[0].endswith("UTC  lead")
    assert lines[1].startswith("lena  created ") and lines[1].endswith("UTC")
    code, _, err = run(capsys, monkeypatch, ["users", "role", "nobody", "lead", "--store", url])
    assert (code, err) == (
        2,
        "error: no specialist is named 'nobody'; create the account with `sevtriage users add nobody`\n",
    )
    code, _, err = run(capsys, monkeypatch, ["users", "role", "alice", "boss", "--store", url])
    assert code == 2 and "'boss' is not one of 'specialist', 'lead'" in err


def test_a_switched_off_store_is_explained(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVTRIAGE_STORE_URL", "")
    code, _, err = run(capsys, monkeypatch, ["reviews", "export"])
    assert (code, err) == (
        2,
        "error: settings: store_url is empty, so the decision store is switched off; set SEVTRIAGE_STORE_URL or "
        "pass --store URL\n",
    )


@pytest.fixture
def reviewed_store(tmp_path: Path) -> str:
    desk = make_desk(tmp_path)
    desk.save(
        [
            suggestion("R-1", 2, body='Export fails, "quoted", with a comma; and\na second line'),
            suggestion("R-2", 3, subject="Otázka", body="Ako nastaviť tlačiareň?"),
            suggestion("R-3", 1),
        ]
    )
    desk.act("R-1", actor="alice", version=1, action="change", severity=Severity.CRITICAL, reason="payroll")
    desk.act("R-2", actor="bob", version=1, action="accept")
    desk.store.close()
    return f"sqlite:///{tmp_path / 'review.db'}"


@pytest.mark.parametrize("name", ["reviewed.jsonl", "reviewed.csv"])
def test_export_writes_labelled_data_that_train_reads(
    reviewed_store: str, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out" / name
    code, _, err = run(capsys, monkeypatch, ["reviews", "export", "-o", str(target), "--store", reviewed_store])
    assert (code, err) == (0, f"wrote 2 reviewed request(s) to {target}\n")
    labelled = read_labelled(target)
    assert [(r.id, r.severity, r.language) for r in labelled] == [
        ("R-1", Severity.CRITICAL, "en"),
        ("R-2", Severity.MEDIUM, "sk"),
    ]
    assert labelled[0].body == 'Export fails, "quoted", with a comma; and\na second line'
    assert labelled[1].subject == "Otázka"


def test_export_to_stdout_is_jsonl_unless_csv_is_asked_for(
    reviewed_store: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out, _ = run(capsys, monkeypatch, ["reviews", "export", "--store", reviewed_store])
    assert [json.loads(line)["severity"] for line in out.splitlines()] == [1, 3]
    _, out, _ = run(capsys, monkeypatch, ["reviews", "export", "--format", "csv", "--store", reviewed_store])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["id", "subject", "body", "severity", "language"] and [r["id"] for r in rows] == [
        "R-1",
        "R-2",
    ]


def test_agreement_prints_the_same_numbers_as_the_page(
    reviewed_store: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(capsys, monkeypatch, ["reviews", "agreement", "--json", "--store", reviewed_store])
    data = json.loads(out)
    assert (code, data["reviewed"], data["overridden"], data["waiting"]) == (0, 2, 1, 1)
    assert data["by_rule"] == [{"name": "export-broken", "reviewed": 2, "overridden": 1, "rate": 0.5, "severity": 3}]
    _, text, _ = run(capsys, monkeypatch, ["reviews", "agreement", "--store", reviewed_store])
    assert text.startswith("2 reviewed, 1 overridden (50 %); 1 waiting for review\n")
    assert "  export-broken                            sev 3      2 reviewed      1 overridden   50 %\n" in text
    assert "  rules                          2           1  50 %\n" in text


def test_the_commands_find_the_store_in_the_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv("SEVTRIAGE_STORE_URL", url)
    assert run(capsys, monkeypatch, ["users", "add", "carol", "--password-stdin"], "long enough pw\n")[0] == 0
    with DecisionStore.open(url) as store:
        assert store.get_user("carol") is not None


def test_csv_export_neutralises_formulas_and_starts_with_a_bom(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """OWASP "CSV Injection": a cell that a spreadsheet would run as a formula is written as text."""
    desk = make_desk(tmp_path)
    formulas = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]
    desk.save([suggestion(f"F-{i}", 2, subject=f, body=f) for i, f in enumerate(formulas)])
    for i in range(len(formulas)):
        desk.act(f"F-{i}", actor="alice", version=1, action="accept")
    desk.store.close()
    target = tmp_path / "reviewed.csv"
    store = f"sqlite:///{tmp_path / 'review.db'}"
    code, _, _ = run(capsys, monkeypatch, ["reviews", "export", "-o", str(target), "--store", store])
    assert code == 0
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert [(r["subject"], r["body"]) for r in rows] == [("'" + f, "'" + f) for f in formulas]
