"""`sevtriage mail import` end to end (a real process, a real SQLite store) and `mail watch`'s user errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sevtriage.store import DecisionStore
from tests.intake.mail_corpus import cases, message

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample-mailbox.mbox"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEVTRIAGE_")}
    env["SEVTRIAGE_STORE_URL"] = ""
    return env


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sevtriage", *args], capture_output=True, text=True, cwd=cwd, env=_env(), timeout=300
    )


def test_the_sample_mailbox_runs_with_one_command(tmp_path: Path) -> None:
    done = _run(["mail", "import", str(SAMPLE), "--store", "sqlite:///desk.db"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "30 messages: 19 new requests, 3 follow-ups, 5 responses, 3 skipped, 0 rejected" in done.stderr
    assert "skipped: auto reply 1, bounce 1, bulk 1" in done.stderr
    skipped = [json.loads(line) for line in (tmp_path / "sample-mailbox.skipped.jsonl").read_text().splitlines()]
    assert [s["skip_kind"] for s in skipped] == ["auto_reply", "bulk", "bounce"]
    assert all(s["reason"] for s in skipped)
    assert not (tmp_path / "sample-mailbox.rejects.jsonl").exists()
    with DecisionStore.open(f"sqlite:///{tmp_path / 'desk.db'}") as store:
        assert sum(store.counts().values()) == 19
        assert store.count_queue() > 0  # the desk has something to review


def test_a_folder_with_bad_messages_exits_3_and_keeps_every_reason(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    corpus = cases()
    for number, case in enumerate(corpus):
        (folder / f"{number:03d}-{case.name}.eml").write_bytes(case.raw)
    (folder / "999-ok.eml").write_bytes(message("Export", "The export fails.").as_bytes())
    done = _run(["mail", "import", str(folder), "--store", "sqlite:///desk.db", "--json"], tmp_path)
    assert done.returncode == 3, done.stderr
    summary = json.loads(done.stdout)
    total = summary["requests"] + summary["follow_ups"] + summary["responses"] + summary["rejected"]
    assert summary["messages"] == len(corpus) + 1 == total + sum(summary["skipped"].values())
    rejects = [json.loads(line) for line in (tmp_path / "inbox.rejects.jsonl").read_text().splitlines()]
    expected = [(f"{n:03d}-{c.name}.eml", c.reason) for n, c in enumerate(corpus) if c.outcome == "reject"]
    for (name, reason), reject in zip(expected, rejects, strict=True):
        assert Path(reject["where"]).name == name
        assert reason is not None and reason in reject["reason"]


def test_a_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    done = _run(["mail", "import", "nope.mbox", "--store", "sqlite:///desk.db"], tmp_path)
    assert done.returncode == 2
    assert "error: mail source 'nope.mbox' does not exist; give an .eml file, a folder, an mbox or a Maildir" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def test_watch_without_a_server_says_what_is_missing(tmp_path: Path) -> None:
    done = _run(["mail", "watch", "--store", "sqlite:///desk.db"], tmp_path)
    assert done.returncode == 2
    assert "mail watch needs imap_host, imap_user, imap_password" in done.stderr
    assert "Traceback" not in done.stderr
