"""Reading e-mail: every case of the corpus (charsets, structures, forwards, quotes, not-requests, rejects)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sevtriage.intake.mail import Mail, MailReject, Skipped, parse_mail, thread_subject
from tests.intake.mail_corpus import BASE, Case, cases, message

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(case: Case) -> None:
    result = parse_mail(case.raw, case.name)
    if case.outcome == "mail":
        assert isinstance(result, Mail), result
        for text in case.contains:
            assert text in result.body, f"{text!r} missing from {result.body!r}"
        for text in case.excludes:
            assert text not in result.body, f"{text!r} should be gone from {result.body!r}"
        assert result.forwarded == case.forwarded
        if case.attachments:
            assert [(a.name, a.content_type, a.size) for a in result.attachments] == list(case.attachments)
        if case.subject is not None:
            assert result.subject == case.subject
        if case.sender_name is not None:
            assert result.sender_name == case.sender_name
        assert result.date == BASE
        assert "\ufffd" not in result.body
    elif case.outcome == "reject":
        assert isinstance(result, MailReject), result
        assert case.reason is not None and case.reason in result.reason
        assert result.where == case.name
    else:
        assert isinstance(result, Skipped), result
        assert result.kind == case.outcome
        assert case.reason is not None and case.reason in result.reason


def test_the_corpus_covers_every_kind() -> None:
    outcomes = {c.outcome for c in CASES}
    assert outcomes == {"mail", "auto_reply", "bounce", "bulk", "reject"}
    names = {c.name for c in CASES}
    for needed in ("windows-1250-qp", "iso-8859-2-base64-rfc2047", "us-ascii-8bit-utf8", "forward-sk-chain"):
        assert needed in names


def test_thread_headers_are_read_without_brackets() -> None:
    msg = message(
        "Re: Re: Login",
        "Still broken.",
        message_id="<c@acme.example>",
        in_reply_to="<b@managra.example>",
        references="<a@acme.example> <b@managra.example>",
    )
    result = parse_mail(msg.as_bytes(), "x")
    assert isinstance(result, Mail)
    assert result.message_id == "c@acme.example"
    assert result.in_reply_to == ("b@managra.example",)
    assert result.references == ("a@acme.example", "b@managra.example")
    assert result.thread_ids == ("b@managra.example", "a@acme.example")
    assert result.sender_address == "jan.novak@acme.example"
    assert result.recipients == ("support@managra.example",)


def test_a_message_without_message_id_gets_a_stable_one() -> None:
    msg = message("Login", "Broken.")
    del msg["Message-ID"]
    raw = msg.as_bytes()
    first, second = parse_mail(raw, "a"), parse_mail(raw, "b")
    assert isinstance(first, Mail) and isinstance(second, Mail)
    assert first.message_id == second.message_id
    assert first.message_id.endswith("@sevtriage.invalid")


def test_the_arrival_time_of_the_mailbox_stands_in_for_a_missing_date() -> None:
    msg = message("No date", "Broken.")
    del msg["Date"]
    arrived = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    result = parse_mail(msg.as_bytes(), "INBOX UID 3", arrived_at=arrived)
    assert isinstance(result, Mail)
    assert result.date == arrived


def test_a_minus_zero_date_is_utc() -> None:
    msg = message("Login", "Broken.")
    msg.replace_header("Date", "Thu, 26 Nov 2026 08:00:00 -0000")
    result = parse_mail(msg.as_bytes(), "x")
    assert isinstance(result, Mail)
    assert result.date == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def test_auto_submitted_no_is_an_ordinary_message() -> None:
    msg = message("Login", "Broken.")
    msg["Auto-Submitted"] = "no"
    assert isinstance(parse_mail(msg.as_bytes(), "x"), Mail)


def test_thanks_early_in_a_request_does_not_cut_it() -> None:
    body = "Thanks for the quick fix yesterday, but today the export fails again for all users.\n"
    result = parse_mail(message("Export", body).as_bytes(), "x")
    assert isinstance(result, Mail)
    assert "export fails again" in result.body


@pytest.mark.parametrize(
    ("subject", "key"),
    [
        ("Re: Fwd: Prihlásenie NEFUNGUJE", "prihlasenie nefunguje"),
        ("TR:  Přihlášení", "prihlaseni"),
        ("AW: RE: Login   down", "login down"),
        ("Login down", "login down"),
    ],
)
def test_thread_subject(subject: str, key: str) -> None:
    assert thread_subject(subject) == key
