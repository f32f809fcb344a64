"""Text folding and e-mail clean-up."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevtriage.text import (
    _BYTE_CODEC,
    _BYTE_FOLD,
    REPLACEMENT,
    _fold_char,
    fold,
    is_reply_subject,
    model_text,
    new_message_text,
    prepare,
    request_text,
    storable,
    strip_quoted,
)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Nefunguje PRIHLÁSENIE, Žádný přístup", "nefunguje prihlasenie, zadny pristup"),
        ("Ľudia čakajú – ÚČET", "ludia cakaju - ucet"),
        ("can’t", "can't"),
        ("Příliš žluťoučký kůň úpěl ďábelské ódy", "prilis zlutoucky kun upel dabelske ody"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@given(st.text())
def test_fold_keeps_one_character_per_character(text: str) -> None:
    assert len(fold(text)) == len(text)


@given(st.text())
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


def test_fold_of_a_text_folds_each_character_alone() -> None:
    # The translate table folds a character the first time it is seen; every character of the Basic
    # Multilingual Plane (and a few beyond) must fold as it does on its own.
    text = "".join(chr(c) for c in [*range(0xD800), *range(0xE000, 0x10000), 0x1D400, 0x1F600, 0x10FFFF])
    assert fold(text) == "".join(fold(char) if char.isascii() else _fold_char(char) for char in text)
    assert fold("İSTANBUL Ǆ ß") == "istanbul ǆ ß"  # lower case would grow "İ" to two characters


def _encodes(char: str) -> bool:
    try:
        char.encode(_BYTE_CODEC)
    except UnicodeEncodeError:
        return False
    return True


# Every character the byte path can take (the code page's 256 characters, all in the Basic Multilingual Plane).
_CODE_PAGE = [char for char in map(chr, range(0x10000)) if _encodes(char)]


def test_fold_by_bytes_folds_each_character_of_the_code_page_alone() -> None:
    assert _BYTE_FOLD is not None and len(_CODE_PAGE) > 250  # the fast path is on
    text = "".join(_CODE_PAGE)
    assert fold(text) == "".join(fold(char) if char.isascii() else _fold_char(char) for char in text)
    assert fold("Ľudia ČAKAJÚ – ÚČET’s € ß Ł") == "ludia cakaju - ucet's € ß ł"


@given(
    st.lists(st.sampled_from([*_CODE_PAGE, "\U0001d400", "Ж", "ǅ", "İ", "\ud800", "\x00"]), max_size=30).map("".join)
)
def test_fold_by_bytes_or_by_the_table_folds_each_character_alone(text: str) -> None:
    assert fold(text) == "".join(fold(char) if char.isascii() else _fold_char(char) for char in text)


_LINES = st.sampled_from(["Hi", " > quoted", ">", "a>b", "On Monday Jana wrote:", "", " "])
_BREAKS = st.sampled_from(["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", " "])


@given(st.lists(st.tuples(_LINES, _BREAKS).map("".join), max_size=8).map("".join))
def test_strip_quoted_without_a_quote_mark_keeps_every_line_as_before(body: str) -> None:
    # The plain path: the header cut, then every line that does not start with ">" (the shortcut skips the check
    # of each line when the body has no ">" at all).
    header = re.search(r"^\s*(on|dna|d[nň]a|dne)\s.{3,120}(wrote|nap[ií]sal|nap[ií]sala|napsal|napsala)\s*:?", body,
                       re.IGNORECASE | re.MULTILINE)  # fmt: skip
    cut = body[: header.start()] if header is not None and header.start() > 0 else body
    expected = "\n".join(line for line in cut.splitlines() if not line.lstrip().startswith(">"))
    assert strip_quoted(body) == expected


def test_quoted_reply_and_signature_are_stripped() -> None:
    body = (
        "Thanks, it works again. How can I see who clocked in?\n\n"
        "Best regards,\nPeter\nOutage Team\n\n"
        "> The app is down, nobody can log in!\n"
    )
    assert request_text("Re: App down", body) == "App down\nThanks, it works again. How can I see who clocked in?"


def test_forward_header_cuts_history() -> None:
    body = "Kde nájdem zoznam?\n\n-----Pôvodná správa-----\nOd: Jana\nOdoslané: pondelok\nManagry nefunguje."
    assert request_text("", body) == "Kde nájdem zoznam?"


@pytest.mark.parametrize(
    ("subject", "reply"), [("Re: down", True), ("RE: Fw: down", True), ("Odp: x", True), ("Report", False)]
)
def test_is_reply_subject(subject: str, reply: bool) -> None:
    assert is_reply_subject(subject) is reply


def test_new_message_text_drops_a_reply_subject_only_when_there_is_a_body() -> None:
    assert new_message_text("Re: výpadok", "Kde nájdem zoznam?") == "Kde nájdem zoznam?"
    assert new_message_text("Re: výpadok", "") == "výpadok"
    assert new_message_text("Výpadok", "Managry nejde") == "Výpadok\nManagry nejde"


_MAIL_PIECES = st.sampled_from(
    ["Re: ", "Fw: ", "App DOWN", "Výpadok", "\n", "\r\n", "> quoted line\n", "Thanks,\nJana", "-- \nSig", "", " "]
)


@given(st.lists(_MAIL_PIECES, max_size=6).map("".join), st.lists(_MAIL_PIECES | st.text(max_size=8)).map("".join))
def test_prepare_gives_the_rules_and_the_model_text_in_one_go(subject: str, body: str) -> None:
    prepared = prepare(subject, body)
    assert prepared.rules == new_message_text(subject, body)
    assert prepared.rules_folded == fold(new_message_text(subject, body))
    assert prepared.model == model_text(subject, body)


@given(st.lists(st.sampled_from(["a", "č", "\x00", "\ud800", "\udfff", "\U0001f600", "\ufffd", " "])).map("".join))
def test_storable_replaces_exactly_the_nul_and_lone_surrogates(text: str) -> None:
    expected = "".join(REPLACEMENT if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text)
    assert storable(text) == expected
    storable(text).encode("utf-8")  # always encodable
