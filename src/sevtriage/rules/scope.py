"""The policy's support scope and the details a request should carry, read from its text.

Two parts of the support policy (shared/seed/support-policy.txt) that do not set a severity:
- "We don't support": altered software, uncertified environments (too old an Android, an incompatible
  browser) and third-party extensions or integrations. Each becomes a `ScopeNote` with the text that
  shows it and the policy line it rests on.
- "Speed up the troubleshooting": configuration details (browser and Android versions), the latest
  changes, any workaround found and the steps already taken. What is absent becomes `missing_details`.

Versions are read here with fixed patterns (a browser or "Android" followed by a number); which
versions are certified, and the phrases for everything else, are data in the rule file's `scope`.
Pure: text and signal evidence in, notes out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sevtriage.rules.rulebook import Browser, Scope
from sevtriage.text import fold
from sevtriage.types import ScopeNote

# "version 7", "verzia 7", "verze 7", "v. 7", "v7" between a name and its number.
_VERSION_WORD = r"(?:\s*(?:version|verzi\w*|verze|verzi|ver\.?|v\.?))?"
# "Android 7", "Androide 6.0", "Androidu 9", "Android version 5.1.1" (folded text). The number must not be part
# of a longer token ("Android 12GB"), and a following ".x" is read as the minor version. No Android release has
# had a two-digit minor version (1.0 to 4.4, 5.0/5.1, 6.0, 7.0/7.1, 8.0/8.1, then 9 onwards; Android version
# history, developer.android.com/about/versions), so "Android 4.14" is an app's version, not Android's.
_ANDROID = re.compile(rf"(?<!\w)android\w*{_VERSION_WORD}\s*(\d{{1,2}}(?!\.\d\d)(?:\.\d)?)(?:\.\d+)*(?![\w.]*\d)(?!\w)")
_SHORT_NAME = 2  # browser names this short ("ie") count only with a version number after them
# Words of folded text (the same `\w` runs the patterns' `(?<!\w)` starts see).
_TOKEN = re.compile(r"\w+")
# Phones named like a browser ("Motorola Edge 40", "Galaxy S7 Edge"): a browser name right after one of these
# words, or one word after it, is the phone's name.
_PHONE_MAKERS = frozenset({"motorola", "moto", "samsung", "galaxy"})
_WORD = re.compile(r"\w+")


def _names_a_phone(folded: str, start: int) -> bool:
    """Whether the browser name at `start` follows a phone maker's name within the two words before it."""
    return not _PHONE_MAKERS.isdisjoint(_WORD.findall(folded, max(0, start - 40), start)[-2:])


@dataclass(frozen=True, slots=True)
class ScopeResult:
    """Scope notes and missing detail items of one request."""

    notes: tuple[ScopeNote, ...]
    missing: tuple[str, ...]


_NOTHING = ScopeResult((), ())


class ScopeReader:
    """A rule file's scope compiled once; `read` is pure and thread-safe."""

    def __init__(self, scope: Scope | None, *, word_check: bool = True, evidence_check: bool = True) -> None:
        """`word_check` False scans for every browser and Android in every text, `evidence_check` False looks up
        every signal of the scope in every request's evidence (the references the two checks must equal)."""
        self.scope = scope
        self._browsers: tuple[tuple[Browser, re.Pattern[str], re.Pattern[str] | None], ...] = ()
        # Per browser (and Android last), the letter runs its names start with; None: always scan for it.
        self._leads: tuple[tuple[str, ...] | None, ...] = ()
        if scope is not None:
            compiled = []
            leads: list[tuple[str, ...] | None] = []
            for browser in scope.browsers:
                leads.append(_leading_runs(browser.names))
                names = "|".join(_name_regex(n) for n in sorted(browser.names, key=len, reverse=True))
                with_version = re.compile(rf"(?<!\w)(?:{names}){_VERSION_WORD}\s*(\d{{1,3}})(?:\.\d+)*(?!\w)")
                long_names = [n for n in browser.names if len(n) > _SHORT_NAME]
                bare = (
                    re.compile(rf"(?<!\w)(?:{'|'.join(_name_regex(n) for n in long_names)})(?!\w)")
                    if long_names
                    else None
                )
                compiled.append((browser, with_version, bare))
            self._browsers = tuple(compiled)
            self._leads = (*leads, ("android",)) if word_check else (None,) * (len(leads) + 1)
        known = [lead for lead in self._leads if lead is not None]
        self._any_lead: tuple[str, ...] = tuple(run for lead in known for run in lead)
        self._always = len(known) < len(self._leads)
        # A word of the text that starts with one of the leading runs (the runs are word characters, so a
        # position after no word character that starts with a run is the start of such a word). Each run is
        # matched first and the character before it checked after (`chrome(?<!\wchrome)` is `(?<!\w)chrome`): a
        # pattern that starts with letters lets `re` skip to the positions holding a first letter, where a leading
        # look-behind was run at every position (4.6 -> 3.4 us per text).
        runs = sorted(set(self._any_lead), key=len, reverse=True)
        self._any_start = re.compile("|".join(rf"{re.escape(r)}(?<!\w{re.escape(r)})" for r in runs)) if runs else None
        # Every signal whose evidence `read` looks at. When a request's evidence names none of them (about half the
        # requests), every lookup would find nothing: no evidence note, and the missing details are always these.
        self._asked: frozenset[str] | None = None
        self._missing_without_evidence: tuple[str, ...] = ()
        if scope is not None and evidence_check:
            asked = [name for spec in (scope.altered_software, scope.third_party) if spec for name in spec.signals]
            if scope.details is not None:
                details = scope.details
                asked += (*details.not_for, *details.web_client, *details.android_client)
                asked += (*details.recent_changes, *details.workaround, *details.steps_taken)
                self._missing_without_evidence = _UNSAID
            self._asked = frozenset(asked)

    def read(self, text: str, evidence: Mapping[str, tuple[str, ...]], folded: str | None = None) -> ScopeResult:
        """Notes and missing details of one request; `evidence` is the signal matcher's per-signal evidence.

        `folded` is `fold(text)` when the caller has it already.
        """
        scope = self.scope
        if scope is None:
            return _NOTHING
        if folded is None:
            folded = fold(text)
        notes: list[ScopeNote] = []
        named = self._named(folded)
        android_given, android_note = self._android(scope, text, folded) if named[-1] else (False, None)
        browser_given, browser_notes = self._browser_notes(scope, text, folded, named)
        if android_note is not None:
            notes.append(android_note)
        notes.extend(browser_notes)
        if self._asked is not None and self._asked.isdisjoint(evidence):
            # `_evidence` would give () for each signal list below (the evidence has none of their names).
            return ScopeResult(tuple(notes), self._missing_without_evidence)
        for kind, spec in (("altered_software", scope.altered_software), ("third_party", scope.third_party)):
            if spec is None:
                continue
            found = _evidence(spec.signals, evidence)
            if found:
                notes.append(ScopeNote(kind=kind, evidence=found, detail=_DETAIL[kind], policy=spec.policy))
        missing: list[str] = []
        details = scope.details
        if details is not None and not _evidence(details.not_for, evidence):
            if _evidence(details.web_client, evidence) and not browser_given:
                missing.append("browser_version")
            if _evidence(details.android_client, evidence) and not android_given:
                missing.append("android_version")
            # `_UNSAID` lists these three in this order.
            for item, signals in (
                ("recent_changes", details.recent_changes),
                ("workaround", details.workaround),
                ("steps_taken", details.steps_taken),
            ):
                if not _evidence(signals, evidence):
                    missing.append(item)
        return ScopeResult(tuple(notes), tuple(missing))

    def _named(self, folded: str) -> list[bool]:
        """Per browser (and Android last), whether its patterns can match anywhere in `folded`.

        Each pattern starts with `(?<!\\w)` and a name, so a match starts at a word of the text and that word
        starts with the name's leading letter run ("ie" of "IE 11" and of "ie8"). Most requests name no
        browser: one search for any such word start spares them a dozen scans (about 40 us per request).
        """
        if self._always:
            starts = set(_TOKEN.findall(folded))
        elif self._any_start is None or self._any_start.search(folded) is None:
            return [False] * len(self._leads)
        else:
            starts = {t for t in _TOKEN.findall(folded) if t.startswith(self._any_lead)}
        return [lead is None or any(t.startswith(lead) for t in starts) for lead in self._leads]

    def _android(self, scope: Scope, text: str, folded: str) -> tuple[bool, ScopeNote | None]:
        given = False
        old: list[str] = []
        for match in _ANDROID.finditer(folded):
            given = True
            version = float(match.group(1))
            if scope.android_min is not None and version < scope.android_min:
                old.append(text[match.start() : match.end()])
        if not old or scope.android_min is None:
            return given, None
        minimum = _number(scope.android_min)
        note = ScopeNote(
            kind="uncertified_environment",
            evidence=tuple(dict.fromkeys(old)),
            detail=f"Android older than {minimum} (the oldest certified version)",
            policy=scope.environment_policy,
        )
        return given, note

    def _browser_notes(self, scope: Scope, text: str, folded: str, named: list[bool]) -> tuple[bool, list[ScopeNote]]:
        given = False
        notes: list[ScopeNote] = []
        for (browser, with_version, bare), maybe in zip(self._browsers, named, strict=False):
            if not maybe:
                continue
            bad: list[str] = []
            for match in with_version.finditer(folded):
                if _names_a_phone(folded, match.start()):
                    continue
                given = True
                if browser.minimum is None or int(match.group(1)) < browser.minimum:
                    bad.append(text[match.start() : match.end()])
            if browser.minimum is None and bare is not None:
                bad.extend(
                    text[m.start() : m.end()] for m in bare.finditer(folded) if not _names_a_phone(folded, m.start())
                )
            if bad:
                shown = browser.key.replace("_", " ").title()
                detail = (
                    f"{shown} is not a certified browser"
                    if browser.minimum is None
                    else f"{shown} older than {browser.minimum} (the oldest certified version)"
                )
                notes.append(
                    ScopeNote(
                        kind="uncertified_environment",
                        evidence=tuple(dict.fromkeys(bad)),
                        detail=detail,
                        policy=scope.environment_policy,
                    )
                )
        return given, notes


# The details the text says nothing of when no signal of the scope was found (`read`, in its order).
_UNSAID = ("recent_changes", "workaround", "steps_taken")

_DETAIL = {
    "altered_software": "the software may have been altered or modified outside Managry",
    "third_party": "a third-party extension or integration is involved",
}


def _leading_runs(names: tuple[str, ...]) -> tuple[str, ...] | None:
    """The word-character run each name starts with; None when a name starts otherwise (it is always scanned)."""
    runs = [_TOKEN.match(name) for name in names]
    if not runs or any(run is None for run in runs):
        return None
    return tuple(run.group() for run in runs if run is not None)


def _name_regex(name: str) -> str:
    return r"[\s\-]+".join(re.escape(word) for word in name.split())


def _evidence(signals: tuple[str, ...], evidence: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    found: list[str] = []
    for name in signals:
        found.extend(evidence.get(name, ()))
    return tuple(dict.fromkeys(found))


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)
