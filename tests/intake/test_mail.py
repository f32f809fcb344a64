"""Reading e-mail: every case of the corpus (charsets, structures, forwards, quotes, not-requests, rejects)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.intake import mail as mail_module
from sevtriage.intake.mail import (
    PLAIN_ADDRESS,
    Mail,
    MailReject,
    Skipped,
    parse_mail,
    plain_header_text,
    thread_subject,
)
from sevtriage.intake.mail_files import read_mail_source
from tests.intake.mail_corpus import BASE, Case, cases, message

CASES = cases()
ROOT = Path(__file__).resolve().parents[2]


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


# ------------------------------------------------------------------------------------------------ fast headers
# `parse_mail` reads plain header values without the header registry of `policy.default` (the slow part of
# parsing, issue 11). The laws below say that this changes nothing: a value taken as plain is exactly what the
# registry would give, and a whole message reads the same as under `policy.default`.

_REGISTRY = policy.default.header_factory
_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"), max_size=60)
_STRUCTURED = ["content-type", "content-disposition", "content-transfer-encoding", "mime-version", "message-id"]


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from([*_STRUCTURED, "from", "to", "cc", "subject", "references", "x-autoreply", "date"]),
    value=_TEXT,
)
def test_a_header_taken_as_plain_is_what_the_registry_reads(name: str, value: str) -> None:
    plain = plain_header_text(name, value)
    if plain is not None:
        assert plain == value == str(_REGISTRY(name, value))


@settings(max_examples=100, deadline=None)
@given(data=st.data(), name=st.sampled_from(_STRUCTURED))
def test_structured_headers_in_their_plain_form_are_taken_as_plain(data: st.DataObject, name: str) -> None:
    # Values drawn from the plain grammar itself, so that the law above is tested where the fast path is taken.
    value = data.draw(st.from_regex(mail_module._PLAIN_STRUCTURED[name], fullmatch=True).filter(str.isascii))
    plain = plain_header_text(name, value)
    if plain is not None:
        assert plain == value == str(_REGISTRY(name, value))
    else:
        # Refused only for an encoded word or a repeated parameter (the registry keeps the first one only).
        names = [n.lower() for n in re.findall(r'; ([^=";]+)="', value)]
        assert "=?" in value or len(set(names)) < len(names)


@settings(max_examples=100, deadline=None)
@given(address=st.from_regex(PLAIN_ADDRESS, fullmatch=True).filter(str.isascii))
def test_a_plain_address_reads_as_the_registry_and_getaddresses_read_it(address: str) -> None:
    header = _REGISTRY("from", address)
    assert [(a.display_name, a.addr_spec) for a in header.addresses] == [("", address)]
    assert getaddresses([address]) == [("", address)]
    assert plain_header_text("from", address) == address


def _tricky() -> list[bytes]:
    """Headers where plain text and decoded text part: RFC 2047 words, folding, quoting, RFC 2231, 8-bit bytes."""
    head = (
        b'From: =?utf-8?q?J=C3=A1n?= "Nov\\"ak" <jan@acme.example>\r\nTo: a@acme.example, "B, C" <b@acme.example>'
        b"\r\nDate: Thu, 26 Nov 2026 09:00:00 +0100\r\nMessage-ID: <a=b+c$d@acme.example>\r\n"
    )
    subjects = [
        b"Subject: =?utf-8?q?Prihl=C3=A1senie?= =?utf-8?q?_nefunguje?=",
        b"Subject: =?iso-8859-2?b?UPhpaGzhmmVu7Q==?=  and   text",
        b"Subject: word=?utf-8?q?=C3=A1?=word",
        b"Subject: =?bogus-charset?q?abc?= =?utf-8?q?bad=ZZ?=",
        b"Subject: folded\r\n\tover two lines",
        b"Subject: Prihl\xe1senie (windows-1250 bytes)",
        b"Subject: Prihl\xc3\xa1senie (UTF-8 bytes)",
        b'Subject:    leading blanks and (comment) "quotes" \\back',
    ]
    bodies = [
        b'Content-Type: text/plain; charset="utf-8"\r\n\r\nHello, the export fails.\r\n',
        b"Content-Type: TEXT/PLAIN; CHARSET=windows-1250\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"V\xfdpis zlyh\xe1va.\r\n",
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary="==b=="\r\n\r\n--==b==\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nSee the file.\r\n--==b==\r\n"
        b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''V%C3%BDpis.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--==b==\r\n"
        b"Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n"
        b' filename="=?utf-8?q?V=C3=BDpis_2.pdf?="\r\n'
        b'\r\nxx\r\n--==b==\r\nContent-Type: image/png; name="a (1).png"\r\nContent-Disposition: inline\r\n\r\n'
        b"yy\r\n--==b==--\r\n",
        b'Content-Type: text/plain; charset="us-ascii" (comment); format=flowed\r\n\r\nbody\r\n',
    ]
    return [head + s + b"\r\n" + b for s in subjects for b in bodies]


def test_messages_read_the_same_as_under_policy_default(monkeypatch: pytest.MonkeyPatch) -> None:
    sample = [m.raw for m in read_mail_source(ROOT / "examples" / "sample-mailbox.mbox")]
    raws = [*(c.raw for c in CASES), *sample, *_tricky()]
    fast = [parse_mail(raw, f"m{i}") for i, raw in enumerate(raws)]
    # The reference: the same reader with every header through the registry, as before issue 11.
    monkeypatch.setattr(mail_module, "_PARSER", BytesParser(policy=policy.default))
    slow = [parse_mail(raw, f"m{i}") for i, raw in enumerate(raws)]
    assert fast == slow
    assert sum(isinstance(r, Mail) for r in fast) > len(raws) // 2
