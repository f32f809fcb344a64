"""Raw messages from .eml files, folders of them, mbox files and Maildirs (written with the stdlib `mailbox`)."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from sevtriage.errors import InputError
from sevtriage.intake.mail import Mail, parse_mail
from sevtriage.intake.mail_files import describe_source, read_mail_source
from tests.intake.mail_corpus import message

SUBJECTS = ["From the start", "Second", "Tretí s diakritikou"]


def _messages() -> list[bytes]:
    # The first body line starts with "From ", which an mbox must quote and give back unquoted.
    return [message(s, f"From here on it is broken ({i}).", minutes=i).as_bytes() for i, s in enumerate(SUBJECTS)]


def _subjects(path: Path) -> list[str]:
    found = []
    for raw in read_mail_source(path):
        parsed = parse_mail(raw.raw, raw.where)
        assert isinstance(parsed, Mail)
        assert parsed.body.startswith("From here on")
        found.append(parsed.subject)
    return found


def test_one_eml_file(tmp_path: Path) -> None:
    path = tmp_path / "one.eml"
    path.write_bytes(_messages()[0])
    assert describe_source(path) == "eml"
    assert _subjects(path) == SUBJECTS[:1]


def test_a_folder_of_eml_files_in_name_order(tmp_path: Path) -> None:
    for i, raw in enumerate(_messages()):
        (tmp_path / f"{i:02d}.eml").write_bytes(raw)
    (tmp_path / "notes.txt").write_text("not mail")
    assert describe_source(tmp_path) == "eml-folder"
    assert _subjects(tmp_path) == SUBJECTS


def test_mbox(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    box = mailbox.mbox(path)
    for raw in _messages():
        box.add(raw)
    box.close()
    assert describe_source(path) == "mbox"
    assert _subjects(path) == SUBJECTS
    assert [r.where for r in read_mail_source(path)] == [f"{path}#1", f"{path}#2", f"{path}#3"]


def test_maildir(tmp_path: Path) -> None:
    path = tmp_path / "Maildir"
    box = mailbox.Maildir(path)
    for raw in _messages():
        box.add(raw)
    box.close()
    assert describe_source(path) == "maildir"
    assert sorted(_subjects(path)) == sorted(SUBJECTS)
    assert all(r.arrived_at is not None for r in read_mail_source(path))


def test_missing_and_empty_sources_say_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"does not exist; give an \.eml file, a folder, an mbox or a Maildir"):
        list(read_mail_source(tmp_path / "nope"))
    with pytest.raises(InputError, match=r"has no \.eml files and is not a Maildir"):
        list(read_mail_source(tmp_path))
