"""Text normalisation shared by the rules and the model: accent folding and e-mail clean-up.

Folding keeps one output character per input character, so a span found in folded text is the
same span in the original text (the evidence shown to specialists is the customer's own words).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Runs of word characters: the one reading of a folded text that the lexicon, the familiarity check's known
# words and the model's word n-grams share (each keeps the runs it wants; see `sevtriage.model`).
WORD_RUNS = re.compile(r"\w+")

# Typographic apostrophes and dashes that phones and mail clients insert; folded to ASCII so that
# "can’t" and "can't" read the same to the rules. One character each, so spans stay aligned.
_PUNCT = {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "\u2013": "-", "\u2014": "-", "\u00a0": " "}


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    if char in _PUNCT:
        return _PUNCT[char]
    decomposed = unicodedata.normalize("NFD", char)
    base = decomposed[0] if decomposed else char
    lowered = base.lower()
    # "İ".lower() is two characters; keep the length promise by taking the first.
    return lowered[0] if lowered else base


class _FoldTable(dict[int, str]):
    """`str.translate` table that folds each character the first time it is seen (in C after that)."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        if len(self) < _FOLD_TABLE_SIZE:
            self[code] = folded
        return folded


# Enough for every letter of the languages we see; an odd text full of rare symbols cannot grow it further.
_FOLD_TABLE_SIZE = 65_536
_FOLD_TABLE = _FoldTable()


def _byte_fold_table(codec: str) -> bytes | None:
    """A `bytes.translate` table that folds text encoded with a one-byte `codec` as `_fold_char` folds each
    character; None when some character of the codec folds to one the codec cannot encode."""
    table = bytearray(range(256))
    for byte in range(256):
        try:
            char = bytes([byte]).decode(codec)
        except UnicodeDecodeError:
            continue  # no character encodes to this byte
        try:
            folded = _fold_char(char).encode(codec)
        except UnicodeEncodeError:
            return None
        if len(folded) != 1:
            return None
        table[byte] = folded[0]
    return bytes(table)


# Nearly every request that is not ASCII is Slovak or Czech, and Windows code page 1250 has all their letters (and
# the typographic quotes and dashes, NBSP, the euro sign): such a text folds byte by byte in C, encoded, translated
# and decoded, about 3.5x faster than `str.translate` asking the table one character at a time. Built from
# `_fold_char`, so it folds exactly as the table does (`tests/test_text.py` checks every character of the codec).
_BYTE_CODEC = "cp1250"
_BYTE_FOLD = _byte_fold_table(_BYTE_CODEC)


def fold(text: str) -> str:
    """Lower-case and strip diacritics, one character out for each character in.

    >>> fold("Nefunguje PRIHLÁSENIE, Žádný přístup")
    'nefunguje prihlasenie, zadny pristup'
    """
    if text.isascii():
        return text.lower()
    if _BYTE_FOLD is not None:
        try:
            encoded = text.encode(_BYTE_CODEC)
        except UnicodeEncodeError:
            pass  # a character outside the code page: the table below folds any text
        else:
            return encoded.translate(_BYTE_FOLD).decode(_BYTE_CODEC)
    return text.translate(_FOLD_TABLE)


# Lines that open a quoted earlier message. Everything from here on is history, not the new request.
_QUOTE_HEADER = re.compile(
    r"""^\s*(
        -{2,}\s*(original\s+message|p[oô]vodn[aá]\s+spr[aá]va|p[uů]vodn[ií]\s+zpr[aá]va|forwarded\s+message)\s*-{2,}
      | (on|dna|d[nň]a|dne)\s.{3,120}(wrote|nap[ií]sal|nap[ií]sala|napsal|napsala)\s*:?
      | (from|od)\s*:\s.+\n\s*(sent|odoslan[eé]|odesl[aá]no|date|d[aá]tum|datum)\s*:
    )""",
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)

# A closing formula on its own line starts the signature. Only looked for in the second half of a
# message, so "thanks, but the app still crashes" early on does not cut the request short.
_SIGN_OFF = re.compile(
    r"""^\s*(
        --\s*
      | (best|kind|warm)\s+regards[,.!]*
      | regards[,.!]*
      | thanks?( you)?( in advance)?[,.!]*
      | cheers[,.!]*
      | s\s+pozdravom[,.!]*
      | s\s+pozdravem[,.!]*
      | (s\s+)?(pekn[yý]m|p[eě]kn[yý]m)\s+pozdravom[,.!]*
      | (sr[dď]e[cč]n[eě]|zdrav[ií]m)[,.!]*
      | [dď]akujem[,.!]*( pekne[,.!]*)?
      | d[eě]kuji[,.!]*( p[eě]kn[eě][,.!]*)?
      | sent\s+from\s+my\s+.+
      | odoslan[eé]\s+z\s+.+
      | odesl[aá]no\s+z\s+.+
    )\s*$""",
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)


_SIGNATURE_LINES = 6


def strip_quoted(body: str) -> str:
    """Drop lines quoted with '>' and everything after a reply/forward header."""
    header = _QUOTE_HEADER.search(body)
    if header is not None and header.start() > 0:
        body = body[: header.start()]
    elif header is not None and header.start() == 0:
        # A message that starts with a forward header: keep it, the forwarded text is the request.
        pass
    if ">" not in body:
        return "\n".join(body.splitlines())  # no line can be quoted (nine bodies in ten)
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith(">"))


def strip_signature(body: str) -> str:
    """Cut a trailing signature that starts with a sign-off line.

    A sign-off counts when some text stands before it and it is either in the second half of the
    message or followed by a short block (a name, a role, a company: at most 6 lines), so that
    "Thanks," on the first line or "thanks, but ..." early in a long message does not cut the request.
    """
    half = len(body) // 2
    for match in _SIGN_OFF.finditer(body):
        before = body[: match.start()].strip()
        if not before:
            continue
        after = [line for line in body[match.end() :].splitlines() if line.strip()]
        if match.start() >= half or len(after) <= _SIGNATURE_LINES:
            return body[: match.start()].rstrip()
    return body


def clean_body(body: str) -> str:
    """The part of an e-mail body that the customer wrote for this request."""
    if not body:
        return ""
    if "\r" in body:
        body = body.replace("\r\n", "\n").replace("\r", "\n")
    return strip_signature(strip_quoted(body)).strip()


_REPLY_PREFIX = re.compile(r"^((re|fw|fwd|aw|odp|vs)\s*:\s*)+", re.IGNORECASE)


def is_reply_subject(subject: str) -> bool:
    """Whether a subject is that of a reply or forward ("Re: ...", "Fw: ...", "Odp: ...")."""
    return _REPLY_PREFIX.match(subject.strip()) is not None


def new_message_text(subject: str, body: str) -> str:
    """What the customer wrote in this message: a reply's subject is the thread's old topic, so it is
    left out when the reply has a body of its own ("Re: App down" + "thanks, how do I ...?")."""
    cleaned = clean_body(body)
    if cleaned and is_reply_subject(subject):
        return cleaned
    return _subject_and_body(subject, cleaned)


def request_text(subject: str, body: str) -> str:
    """Subject and cleaned body as one text; what rules and model read."""
    return _subject_and_body(subject, clean_body(body))


def _subject_and_body(subject: str, cleaned: str) -> str:
    subject = subject.strip()
    # Reply subjects ("Re: Fw:") carry no signal.
    subject = _REPLY_PREFIX.sub("", subject)
    if subject and cleaned:
        return f"{subject}\n{cleaned}"
    return subject or cleaned


# -- what a database can hold ------------------------------------------------------------------------------------
# Lone UTF-16 surrogates (JSON lets a client write "\ud800") cannot be encoded as UTF-8, the text encoding of
# SQLite and of our PostgreSQL databases, and PostgreSQL text cannot contain NUL at all ("The character with
# the code zero cannot be stored", PostgreSQL manual, section 8.3 "Character Types"). Both become U+FFFD, the
# Unicode replacement character, at every boundary, so that SQLite and PostgreSQL keep the same text.
REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The length of the store's id column (`sevtriage.store.schema`): one rule for both databases, although SQLite
# would not enforce it.
MAX_ID_LENGTH = 200
MAX_PLAN_LENGTH = 40


def storable(text: str) -> str:
    """`text` with each lone surrogate and NUL character replaced by U+FFFD (see the README, "Odd text")."""
    if "\x00" not in text:
        # Nearly every text is clean: UTF-8 encoding (in C) fails exactly on lone surrogates, and is about three
        # times faster than the regular expression's scan (a batch's JSONL output is about 1 KiB per request).
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def id_problem(request_id: str) -> str | None:
    """Why a request id cannot be stored (ids are never rewritten: two ids must stay two), or None if it can."""
    if len(request_id) > MAX_ID_LENGTH:
        return (
            f"id is {len(request_id)} characters long; ids may have at most {MAX_ID_LENGTH} (the store's column length)"
        )
    found = _UNSTORABLE.search(request_id)
    if found is None:
        return None
    if found.group() == "\x00":
        return "id must not contain a NUL character; remove it from the id"
    return f"id must not contain a lone surrogate ({found.group()!r}); send the id as valid Unicode text"


def model_text(subject: str, body: str) -> str:
    """What the model reads: the cleaned request text, folded (lower case, no diacritics)."""
    return fold(request_text(subject, body))


@dataclass(frozen=True, slots=True)
class Prepared:
    """One request's texts, made with one e-mail clean-up: what the rules read (`new_message_text`), the same
    folded, and what the model reads (`model_text`)."""

    rules: str
    rules_folded: str
    model: str


def prepare(subject: str, body: str) -> Prepared:
    """`new_message_text`, its fold and `model_text` of one request; the body is cleaned once, and folded once
    unless the request is a reply (whose rules text leaves the subject out)."""
    cleaned = clean_body(body)
    joined = _subject_and_body(subject, cleaned)
    folded = fold(joined)
    if cleaned and is_reply_subject(subject):
        return Prepared(cleaned, fold(cleaned), folded)
    return Prepared(joined, folded, folded)
