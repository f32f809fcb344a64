"""Raw messages from files: an .eml file, a folder of .eml files, an mbox file or a Maildir (stdlib `mailbox`).

Each message comes out as a `RawMail` with where it was (``path``, ``box.mbox#12``, ``Maildir/cur/<key>``) so
that a reject can be found again. Messages stream one at a time; a whole mailbox is never held in memory.
"""

from __future__ import annotations

import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sevtriage.errors import InputError


@dataclass(frozen=True, slots=True)
class RawMail:
    """One message as bytes, where it came from, and when the mailbox got it (if the store says)."""

    where: str
    raw: bytes
    arrived_at: datetime | None = None


def _is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def describe_source(path: Path) -> str:
    """What kind of mail source `path` is: ``eml``, ``eml-folder``, ``mbox`` or ``maildir``."""
    if not path.exists():
        raise InputError(f"mail source {str(path)!r} does not exist; give an .eml file, a folder, an mbox or a Maildir")
    if path.is_dir():
        return "maildir" if _is_maildir(path) else "eml-folder"
    return "mbox" if _is_mbox(path) else "eml"


def read_mail_source(path: str | Path) -> Iterator[RawMail]:
    """Every message of an .eml file, a folder of .eml files (sorted by name), an mbox or a Maildir."""
    source = Path(path)
    kind = describe_source(source)
    if kind == "eml":
        yield RawMail(str(source), source.read_bytes())
    elif kind == "eml-folder":
        files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() == ".eml")
        if not files:
            raise InputError(
                f"folder {str(source)!r} has no .eml files and is not a Maildir (no cur/, new/, tmp/ folders)"
            )
        for file in files:
            yield RawMail(str(file), file.read_bytes())
    elif kind == "mbox":
        yield from _mbox(source)
    else:
        yield from _maildir(source)


# mbox writers quote body lines that start with "From " as ">From " (and mboxrd quotes ">From " once more);
# `mailbox` gives the stored bytes back as they are, so the quoting is undone here, the mboxrd way (one ">" off).
_FROM_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)


def _mbox(path: Path) -> Iterator[RawMail]:
    box = mailbox.mbox(path, create=False)
    try:
        for number, key in enumerate(box.iterkeys(), start=1):
            # Without the "From " separator line; a quoted ">From " line would otherwise read as a quoted reply.
            yield RawMail(f"{path}#{number}", _FROM_QUOTED.sub(rb"\1", box.get_bytes(key)))
    finally:
        box.close()


def _maildir(path: Path) -> Iterator[RawMail]:
    box = mailbox.Maildir(path, factory=None, create=False)
    # Maildir keys carry the delivery time first, so sorting them is (close to) the order of arrival.
    for key in sorted(box.iterkeys()):
        message = box.get_message(key)
        arrived = datetime.fromtimestamp(message.get_date(), tz=UTC)
        subdir = message.get_subdir()
        yield RawMail(f"{path}/{subdir}/{key}", box.get_bytes(key), arrived)
