"""Reading e-mail: one raw message (bytes) in, a `Mail`, a `Skipped` or a `MailReject` out. No I/O.

The standard library's `email` package with `policy.default` does the MIME work (RFC 2047 words, quoted-printable,
base64, multipart structure); HTML-only mail is turned into text by `inscriptis` (Apache-2.0), which keeps list
items, line breaks and link targets. What this module adds is the support-desk view of a message:

- the text the customer wrote for this request: text/plain preferred over HTML in multipart/alternative; quoted
  replies ("On ... wrote:", "Dňa ... napísal(a):", "Dne ... napsal(a):", ">" lines), signatures and legal footers
  cut; a forwarded message (Fw:/Fwd:/TR:, "Forwarded message", "Přeposlaná zpráva", "Preposlaná správa", or an
  attached message/rfc822) *is* the request, so its content is kept;
- charsets that Slovak and Czech mail really uses, including wrongly labelled ones (us-ascii or no charset with
  8-bit bytes): UTF-8 is tried first, then windows-1250, which can decode any byte;
- attachments listed with name, type and size, never parsed;
- mail that is not a request (auto-replies, bounces, bulk mail) is `Skipped` with the reason; mail that cannot be
  a request (no sender, no date, nothing written) is a `MailReject` with the reason.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any, Literal

from sevtriage.text import clean_body

SkipKind = Literal["auto_reply", "bounce", "bulk"]


# ------------------------------------------------------------------------------------------------ fast headers

# Header values that `policy.default` would give back unchanged as text. Its header registry builds a parsed
# object on every `get` (about 0.1 ms each, ~15 per message, and the parser itself asks for Content-Type several
# times), which made parsing 90% of the cost of `mail import` (benchmarks/README.md, "Mail intake"). For printable
# ASCII without RFC 2047 encoded words ("=?"), an unstructured header's text is its value as written (unfolded);
# structured headers only when they match the plain grammar below. `tests/intake/test_mail.py` checks both laws
# against the registry (hypothesis). Anything else still goes through the registry, so decoding is unchanged.
_PRINTABLE = re.compile(r"[\t\x20-\x7e]*")
# RFC 6838 4.2 "restricted-name": the characters of media type names in practice.
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]*"
# The registry writes parameters back as `; name="value"` (RFC 2231 names decoded, repeated names dropped), so only
# that form reads back unchanged; names are checked for repeats in `plain_header_text`.
_PARAMS = r'(?:; [A-Za-z0-9_.\-]+="[\x20\x21\x23-\x5b\x5d-\x7e]+")*'
_PARAM_NAMES = re.compile(r'; ([^=";]+)="')
_ADDRESS = r"[A-Za-z0-9_%+\-]+(?:\.[A-Za-z0-9_%+\-]+)*@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"
PLAIN_ADDRESS = re.compile(_ADDRESS)
# Structured headers of the registry (`email.headerregistry._default_header_map`) and the plain form of each that
# reads back unchanged; a registry header not named here (dates, Resent-*, Reply-To, ...) always goes through it.
_PLAIN_STRUCTURED = {
    "content-type": re.compile(rf"{_TOKEN}/{_TOKEN}{_PARAMS}"),
    "content-disposition": re.compile(rf"{_TOKEN}{_PARAMS}"),
    "content-transfer-encoding": re.compile(r"[A-Za-z0-9\-]+"),
    "mime-version": re.compile(r"[0-9]\.[0-9]"),
    "message-id": re.compile(rf"<{_ADDRESS}>"),
    "from": PLAIN_ADDRESS,
    "to": PLAIN_ADDRESS,
    "cc": PLAIN_ADDRESS,
    "sender": PLAIN_ADDRESS,
}
# The classes `policy.default` uses per header name (unknown names are unstructured).
_REGISTRY = HeaderRegistry()
_LINE_BREAKS = re.compile(r"\n|\r")


def plain_header_text(name: str, value: str) -> str | None:
    """`value` (unfolded) when `policy.default` would read it back unchanged, else None (see above)."""
    if "=?" in value or not value.isascii():
        return None
    key = name.lower()
    grammar = _PLAIN_STRUCTURED.get(key)
    if grammar is not None:
        if not grammar.fullmatch(value):
            return None
        names = [n.lower() for n in _PARAM_NAMES.findall(value)]
        return value if len(names) == len(set(names)) else None
    if not issubclass(_REGISTRY[key], UnstructuredHeader):
        return None  # a date or an address list of another form: the registry reads it
    return value if _PRINTABLE.fullmatch(value) else None


class _PlainFirst(policy.EmailPolicy):
    """`policy.default`, except that a header whose text is its plain value comes back as that `str`."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):
            return value
        unfolded = _LINE_BREAKS.sub("", value)  # as `EmailPolicy.header_fetch_parse` unfolds
        plain = plain_header_text(name, unfolded)
        return plain if plain is not None else _registry_header(name, unfolded)


@functools.lru_cache(maxsize=2048)
def _registry_header(name: str, value: str) -> Any:
    """The registry's header object; remembered, as MIME headers repeat from message to message and part to part.

    Header objects are immutable (a `str` with a parse tree and a tuple of defects), so sharing them is safe.
    """
    return _REGISTRY(name, value)


_POLICY = _PlainFirst()
_PARSER = BytesParser(policy=_POLICY)
# Charsets tried, in order, when a part's declared charset is missing, unknown or wrong. windows-1250 is the
# legacy Windows charset for Central European languages (Slovak, Czech) and maps every byte, so it ends the chain.
_FALLBACK_CHARSETS = ("utf-8", "cp1250")


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attached file as the message describes it; its content is never parsed."""

    name: str | None
    content_type: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "content_type": self.content_type, "size": self.size}


@dataclass(frozen=True, slots=True)
class Mail:
    """A message that may be a request, a follow-up or a response: who, when, which thread, what was written."""

    where: str
    message_id: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    sender_name: str
    sender_address: str
    recipients: tuple[str, ...]
    date: datetime
    # The request text: what the sender wrote in this message (forwarded content included), without quoted
    # replies, signatures and legal footers.
    body: str
    attachments: tuple[Attachment, ...] = field(default=())
    forwarded: bool = False
    from_html: bool = False

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """The earlier messages this one answers, nearest first (In-Reply-To, then References newest first)."""
        seen: dict[str, None] = {}
        for ref in (*self.in_reply_to, *reversed(self.references)):
            if ref != self.message_id:
                seen.setdefault(ref, None)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A message that is not a request (auto-reply, bounce, bulk mail), with the reason."""

    where: str
    message_id: str | None
    subject: str
    kind: SkipKind
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "message_id": self.message_id,
            "subject": self.subject,
            "kind": self.kind,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class MailReject:
    """A message that cannot be read as a request, with where it was and why."""

    where: str
    reason: str
    message_id: str | None = None
    subject: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"where": self.where, "message_id": self.message_id, "subject": self.subject, "reason": self.reason}


Parsed = Mail | Skipped | MailReject

# ------------------------------------------------------------------------------------------------ headers

_ID = re.compile(r"<([^<>\s]+)>")


def _ids(value: str | None) -> tuple[str, ...]:
    """Message-IDs from a Message-ID / In-Reply-To / References value, without the angle brackets."""
    if not value:
        return ()
    found = tuple(_ID.findall(value))
    if found:
        return found
    bare = value.strip()
    # Some clients write an id without brackets; take it whole when it looks like one.
    return (bare,) if bare and " " not in bare and "@" in bare else ()


def _header(message: Message, name: str) -> str | None:
    """A header as text; undecodable 8-bit header bytes are read as UTF-8, else windows-1250."""
    try:
        value = message.get(name)
    except Exception:  # a header so broken that the email package cannot build its object
        raw = message.get_all(name, failobj=[None])
        value = raw[0] if raw else None
        if value is None:
            return None
    if value is None:
        return None
    return _unmangle(str(value))


def _decode(payload: bytes, declared: str | None) -> str:
    """Bytes to text: the declared charset when it decodes cleanly, then UTF-8, then windows-1250."""
    tried: list[str] = []
    if declared:
        name = declared.strip().strip('"').lower()
        # "us-ascii" with 8-bit bytes is a common mislabel; so is "iso-8859-2" for windows-1250 text (the two
        # differ in a few letters: š, ť, ž, Š, Ť, Ž), which the declared-charset attempt handles well enough.
        if name not in ("us-ascii", "ascii", "unknown-8bit", "x-unknown"):
            tried.append(name)
    tried.extend(_FALLBACK_CHARSETS)
    for charset in tried:
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("cp1250", errors="replace")


def _unmangle(text: str) -> str:
    """Header text with raw 8-bit bytes (kept by the parser as surrogates) decoded as UTF-8 or windows-1250."""
    if any("\udc80" <= c <= "\udcff" for c in text):
        return _decode(text.encode("utf-8", errors="surrogateescape"), None)
    return text


def _raw_header(message: Message, name: str) -> str | None:
    """A header's value as written (unfolded), before the email package interprets it."""
    for key, value in message.raw_items():
        if key.lower() == name:
            return _unmangle(" ".join(str(value).split()))
    return None


def _sender(message: Message) -> tuple[str, str] | None:
    """(display name, address in lower case) of From (or Sender); None when there is no usable address."""
    for name in ("from", "sender"):
        try:
            header = message.get(name)
            if type(header) is str and PLAIN_ADDRESS.fullmatch(header):
                # A bare plain address (see `plain_header_text`): the registry would read it the same way.
                return "", header.lower()
            addresses: Iterable[Address] = getattr(header, "addresses", ()) if header is not None else ()
            for address in addresses:
                if address.addr_spec and "@" in address.addr_spec:
                    return _unmangle(address.display_name or ""), _unmangle(address.addr_spec).lower()
        except Exception:
            pass
        raw = _header(message, name)
        if raw:
            display, addr = parseaddr(raw)
            if "@" in addr:
                return display, addr.lower()
    return None


def _recipients(message: Message) -> tuple[str, ...]:
    values = [v for name in ("to", "cc") for v in [_header(message, name)] if v]
    if all(PLAIN_ADDRESS.fullmatch(v) for v in values):
        return tuple(v.lower() for v in values)  # what `getaddresses` makes of bare plain addresses
    return tuple(addr.lower() for _, addr in getaddresses(values) if "@" in addr)


def _date(message: Message, fallback: datetime | None) -> datetime | None:
    """The Date header as an aware instant (-0000 read as UTC per RFC 5322 3.3); else `fallback`."""
    raw = _raw_header(message, "date")
    if raw:
        try:
            parsed = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return fallback


# ------------------------------------------------------------------------------------------------ not requests

_AUTO_SUBJECT = re.compile(
    r"^\s*(out\s+of\s+(the\s+)?office|automatic\s+reply|auto[- ]?reply|autoreply|automatick[áa]\s+odpov[eě][dď]"
    r"|abwesenheitsnotiz|mimo\s+kancel[áa]ri[ae]?)\b",
    re.IGNORECASE,
)


def _not_a_request(message: Message, subject: str) -> tuple[SkipKind, str] | None:
    """Why a message is not a request (auto-reply, bounce, bulk), or None."""
    auto = (_header(message, "auto-submitted") or "").strip()
    if auto and auto.split(";")[0].strip().lower() != "no":
        return "auto_reply", f"auto-reply: Auto-Submitted: {auto} (RFC 3834)"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponse"):
        value = _header(message, name)
        if value is not None:
            return "auto_reply", f"auto-reply: {name.title()}: {value.strip()}"
    precedence = (_header(message, "precedence") or "").strip().lower()
    if precedence == "auto_reply":
        return "auto_reply", "auto-reply: Precedence: auto_reply"
    if _AUTO_SUBJECT.match(subject):
        return "auto_reply", f"auto-reply: the subject says so ({subject.strip()[:60]!r})"
    if message.get_content_type() == "multipart/report":
        report = message.get_param("report-type") or "unknown"
        return "bounce", f"delivery report (multipart/report; report-type={report})"
    if _header(message, "list-unsubscribe") is not None:
        return "bulk", "bulk mail: it has a List-Unsubscribe header"
    if precedence in ("bulk", "list", "junk"):
        return "bulk", f"bulk mail: Precedence: {precedence}"
    return None


# ------------------------------------------------------------------------------------------------ body

_FORWARD_SUBJECT = re.compile(r"^\s*((re|aw|odp|vs)\s*:\s*)*(fw|fwd|tr|pd|wg)\s*:", re.IGNORECASE)
_REPLY_PREFIXES = re.compile(r"^\s*((re|fw|fwd|tr|aw|wg|odp|pd|vs|sv)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
# The line that opens forwarded content in the body, as Gmail, Thunderbird, Apple Mail and Outlook write it, in
# English, Slovak and Czech.
_FORWARD_MARKER = re.compile(
    r"""^[ \t]*(
        -{2,}\s*(forwarded\s+message|original\s+message|p[řr]eposlan[áa]\s+(spr|zpr)[áa]va
                |p[ôo]vodn[áa]\s+spr[áa]va|p[ůu]vodn[íi]\s+zpr[áa]va)\s*-{2,}
      | begin\s+forwarded\s+message\s*:
      | (from|od)\s*:\s*\S.*\n[ \t]*(sent|date|odoslan[ée]|odesl[áa]no|d[áa]tum|datum)\s*:
    )""",
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)
# Header lines of the forwarded message ("From: ...", "Subject: ...", "Od: ...", "Predmet: ...", "Předmět: ...").
_FORWARD_HEADER_LINE = re.compile(
    r"^[ \t]*(from|to|cc|date|sent|subject|reply-to|od|komu|kópia|kopie|dátum|datum|odoslané|odesláno|predmet|"
    r"předmět)\s*:.*$",
    re.IGNORECASE,
)
# Legal footers: a confidentiality or disclaimer paragraph at the end. Everything from the opening line on goes.
_LEGAL_FOOTER = re.compile(
    r"""^[ \t]*(
        (confidentiality\s+notice|disclaimer|legal\s+notice|upozornenie|upozorn[ěe]n[íi]|pr[áa]vn[ée]\s+upozorn)\b
      | this\s+(e-?mail|message|communication)(\s+and\s+(any|its)\s+attachments?)?\s+(is|are|may\s+contain|contains)
            \s+.{0,40}(confidential|privileged|intended)
      | tento\s+e-?mail(\s+(a|vr[áa]tane|v[čc]etn[ěe])\s+(jeho\s+)?pr[íi]loh(y|ami)?)?
            \s+(je|s[úu]|jsou|m[ôo][žz]e|obsahuje|mohou|m[ůu][žz]e)
            \s+.{0,40}(d[ôo]vern|d[ůu]v[ěe]rn|ur[čc]en)
      | t[áa]to\s+(spr[áa]va|zpr[áa]va)\s+.{0,40}(d[ôo]vern|d[ůu]v[ěe]rn|ur[čc]en)
    )""",
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)


def _strip_legal_footer(text: str) -> str:
    match = _LEGAL_FOOTER.search(text)
    if match is not None and text[: match.start()].strip():
        return text[: match.start()].rstrip()
    return text


def _clean(text: str) -> str:
    """The new text of one message: quotes and signature cut (`sevtriage.text.clean_body`), footer cut."""
    return clean_body(_strip_legal_footer(text.replace("\r\n", "\n").replace("\r", "\n")))


def _forwarded_parts(text: str) -> tuple[str, str] | None:
    """(the forwarder's note, the forwarded content without its header block), or None if not a forward."""
    match = _FORWARD_MARKER.search(text)
    if match is None:
        return None
    note = text[: match.start()]
    rest = text[match.start() :].split("\n")
    if _FORWARD_MARKER.match(rest[0]) and not _FORWARD_HEADER_LINE.match(rest[0]):
        rest = rest[1:]  # the "---- Forwarded message ----" line itself
    # Drop the forwarded header block: header lines (and the blank lines among them) up to the first text line.
    position = 0
    while position < len(rest) and (not rest[position].strip() or _FORWARD_HEADER_LINE.match(rest[position])):
        position += 1
    return note, "\n".join(rest[position:])


def _html_to_text(html: str) -> str:
    from inscriptis import get_text
    from inscriptis.model.config import ParserConfig

    # Links as "text [label](target)"-style references keep where a customer pointed.
    return str(get_text(html, ParserConfig(display_links=True)))


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    text = _decode(payload, part.get_content_charset())
    if part.get_content_type() == "text/html":
        text = _html_to_text(text)
    return text


def _is_attachment(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment":
        return True
    if part.get_filename():
        return part.get_content_maintype() != "text" or disposition != "inline"
    return part.get_content_maintype() not in ("text", "multipart", "message")


def _size(part: Message) -> int:
    if part.is_multipart():
        return len(part.as_bytes())
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return len(payload)
    inner = part.get_payload()
    return len(inner.as_bytes()) if isinstance(inner, Message) else 0


@dataclass
class _Walk:
    """What a walk over the MIME tree found: the body parts, attachments and attached messages."""

    plain: list[Message] = field(default_factory=list)
    html: list[Message] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


def _walk(part: Message, found: _Walk) -> None:
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner:
            inner = inner[0]
        name = part.get_filename()
        found.attachments.append(Attachment(name, ctype, _size(part)))
        if isinstance(inner, Message):
            found.messages.append(inner)
        return
    if part.is_multipart():
        children = part.get_payload()
        if not isinstance(children, list):
            return
        if ctype == "multipart/alternative":
            # One body in several forms: take the plain text form when there is one (RFC 2046 5.1.4 orders
            # them plainest first), else the richest.
            plain = [c for c in children if isinstance(c, Message) and c.get_content_type() == "text/plain"]
            chosen = plain[0] if plain else (children[-1] if children else None)
            if isinstance(chosen, Message):
                _walk(chosen, found)
            return
        for child in children:
            if isinstance(child, Message):
                _walk(child, found)
        return
    if _is_attachment(part):
        found.attachments.append(Attachment(part.get_filename(), ctype, _size(part)))
    elif ctype == "text/plain":
        found.plain.append(part)
    elif ctype == "text/html":
        found.html.append(part)
    else:
        found.attachments.append(Attachment(part.get_filename(), ctype, _size(part)))


def _body_text(message: Message) -> tuple[str, bool, list[Attachment], list[Message]]:
    """(the message's own text, whether it came from HTML, attachments, attached messages)."""
    found = _Walk()
    _walk(message, found)
    from_html = False
    if found.plain:
        text = "\n\n".join(_part_text(p) for p in found.plain)
    elif found.html:
        text = "\n\n".join(_part_text(p) for p in found.html)
        from_html = True
    else:
        text = ""
    return text, from_html, found.attachments, found.messages


def _request_body(subject: str, text: str, attached: list[Message]) -> tuple[str, bool]:
    """The request text of a message and whether it is a forward (whose forwarded content is kept)."""
    forwarded_subject = _FORWARD_SUBJECT.match(subject) is not None
    if attached and (forwarded_subject or not _clean(text)):
        # Forwarded as an attachment: the attached message is the request; the forwarder's note goes first.
        parts = [_clean(text)]
        for inner in attached:
            inner_text, _, _, deeper = _body_text(inner)
            inner_subject = _header(inner, "subject") or ""
            body, _ = _request_body(inner_subject, inner_text, deeper)
            if inner_subject and not _REPLY_PREFIXES.sub("", subject).strip():
                body = f"{inner_subject}\n{body}"
            parts.append(body)
        return "\n\n".join(p for p in parts if p.strip()).strip(), True
    split = _forwarded_parts(text.replace("\r\n", "\n"))
    if split is not None and (forwarded_subject or not _clean(split[0])):
        note, content = split
        # The forwarded content may itself be a forward (a chain): unwrap it the same way.
        inner_body, _ = _request_body(subject, content, [])
        parts = [_clean(note), inner_body]
        return "\n\n".join(p for p in parts if p.strip()).strip(), True
    return _clean(text), False


def thread_subject(subject: str) -> str:
    """The subject without reply and forward prefixes, folded, for matching a thread when ids are missing."""
    from sevtriage.text import fold

    return " ".join(fold(_REPLY_PREFIXES.sub("", subject)).split())


def is_forward_subject(subject: str) -> bool:
    """Whether the subject marks a forward (Fw:, Fwd:, TR:, PD:, WG:)."""
    return _FORWARD_SUBJECT.match(subject) is not None


def synthetic_message_id(raw: bytes) -> str:
    """A stable id for a message that has none: the same bytes always get the same id."""
    return f"{hashlib.sha256(raw).hexdigest()[:32]}@sevtriage.invalid"


# ------------------------------------------------------------------------------------------------ the parser


def parse_mail(raw: bytes, where: str, *, arrived_at: datetime | None = None) -> Parsed:
    """Read one raw RFC 5322 message.

    Parameters
    ----------
    raw:
        The message as bytes (an .eml file, one mbox entry, an IMAP ``BODY[]``).
    where:
        Where it came from, for messages and rejects (a path, ``box.mbox#12``, ``INBOX UID 7``).
    arrived_at:
        When the mailbox received it (IMAP INTERNALDATE), used when the Date header is missing or unreadable.
    """
    if not raw or not raw.strip():
        return MailReject(where, "empty message: there are no header lines and no body")
    try:
        message = _PARSER.parsebytes(raw)
    except Exception as error:  # the parser is lenient; this is for the truly broken
        return MailReject(where, f"not a readable e-mail message: {type(error).__name__}: {error}")
    if not message.keys():
        return MailReject(where, "not an e-mail message: no header lines (a message starts with 'From: ...' etc.)")
    ids = _ids(_header(message, "message-id"))
    message_id = ids[0] if ids else synthetic_message_id(raw)
    subject = " ".join((_header(message, "subject") or "").split())
    skip = _not_a_request(message, subject)
    if skip is not None:
        return Skipped(where, message_id, subject, skip[0], skip[1])
    sender = _sender(message)
    if sender is None:
        return MailReject(
            where, "no sender: the From header has no e-mail address, so nobody could be answered", message_id, subject
        )
    date = _date(message, arrived_at)
    if date is None:
        raw_date = _raw_header(message, "date")
        what = (
            f"the Date header {raw_date.strip()!r} is not an RFC 5322 date" if raw_date else "there is no Date header"
        )
        return MailReject(
            where,
            f"no arrival time: {what}, so the response deadlines cannot be computed; "
            "e.g. Date: Fri, 27 Nov 2026 16:30:00 +0100",
            message_id,
            subject,
        )
    try:
        text, from_html, attachments, attached = _body_text(message)
        body, forwarded = _request_body(subject, text, attached)
    except Exception as error:
        return MailReject(
            where, f"the message body cannot be read: {type(error).__name__}: {error}", message_id, subject
        )
    if not body.strip() and not _REPLY_PREFIXES.sub("", subject).strip():
        return MailReject(where, "empty request: no subject and no text in the body", message_id, subject)
    return Mail(
        where=where,
        message_id=message_id,
        in_reply_to=_ids(_header(message, "in-reply-to")),
        references=_ids(_header(message, "references")),
        subject=subject,
        sender_name=sender[0],
        sender_address=sender[1],
        recipients=_recipients(message),
        date=date,
        body=body,
        attachments=tuple(attachments),
        forwarded=forwarded or is_forward_subject(subject),
        from_html=from_html,
    )


__all__ = [
    "Attachment",
    "Mail",
    "MailReject",
    "Parsed",
    "Skipped",
    "is_forward_subject",
    "parse_mail",
    "synthetic_message_id",
    "thread_subject",
]
