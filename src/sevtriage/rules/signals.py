"""Find the rule file's signals in a request: Unicode whole-word phrases on folded text, plus fields.

Matching happens here in Python, not in durable-rules: its regex dialect silently never matches
`\\b`, `^`, `$` or `\\d`, and its `%w` is ASCII only, so Slovak and Czech words would be missed. The
engine gets plain flags instead.

Text is folded (lower case, no diacritics, one character per character), so a phrase written with
or without accents matches either spelling, and a span found in folded text is the same span in the
customer's original text: that original text is the evidence a specialist sees.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any

from sevtriage.rules.rulebook import Negation, Phrase, Rulebook, Signal
from sevtriage.text import fold

# A word for negation purposes: letters/digits plus inner apostrophes ("isn't", "wasn't").
_WORD = re.compile(r"\w+(?:'\w+)*")
# Negation does not reach across a clause ("are not sent, nothing happens"), a sentence or a line,
# and looks back at most this many characters.
_UP_TO_LAST_BREAK = re.compile(r".*[,.!?;:\n]", re.DOTALL)
_NEGATION_CHARS = 80
_MAX_EVIDENCE = 3
# Words of folded text as the phrase index sees them (Unicode letters and digits).
_TOKEN = re.compile(r"\w+")
# A decimal digit as a pattern's `\d` reads it (Unicode-aware, as the patterns are).
_DIGIT = re.compile(r"\d")
# At most this many distinct words keep their looked-up phrases (memory stays bounded).
_WORD_CACHE_SIZE = 100_000


def phrase_regex(phrase: str) -> str:
    """The regular expression (on folded text) of one phrase.

    Words are separated by any run of spaces or hyphens; `*` at the end of a word matches any word
    ending (`nefung*` matches "nefunguje", "nefungovalo"); an apostrophe is optional (can't = cant).
    """
    words = fold(phrase.strip()).split()
    parts: list[str] = []
    for word in words:
        stem = word.endswith("*")
        core = word[:-1] if stem else word
        escaped = re.escape(core).replace("'", "'?")
        parts.append(escaped + (r"\w*" if stem else ""))
    return r"[\s\-]+".join(parts)


def _whole_word(body: str) -> str:
    # (?<!\w) / (?!\w) rather than \b: the phrase may start or end with punctuation ("500", "app down?").
    return rf"(?<!\w)(?:{body})(?!\w)"


@dataclass(frozen=True, slots=True)
class Span:
    """Where a signal was found: [start, end) in the request text, and that text."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules can see about one request: the signals present and the request fields."""

    signals: frozenset[str]
    fields: Mapping[str, str]
    evidence: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A phrase (`rank` in its signal's longest-first order) or a signal's patterns (`rank` -1)
    that can only start at a word of the text that equals, or starts with, some run of letters."""

    signal: int
    rank: int
    # For a phrase of several words: the (run, exact) starts the text's next word must have (its second word's),
    # empty when the candidate does not depend on the next word.
    after: tuple[tuple[str, bool], ...] = ()

    def fits(self, following: str) -> bool:
        """Whether the text's next word can start this phrase's second word."""
        return any(following == run if exact else following.startswith(run) for run, exact in self.after)


@dataclass(frozen=True, slots=True)
class _WordHits:
    """What may start at one word: per signal, its phrases to try there as one anchored regex, and
    the signals whose patterns may start there; `pending` are phrases that also need the next word."""

    phrases: tuple[tuple[int, re.Pattern[str]], ...]
    patterns: tuple[int, ...]
    pending: tuple[_Candidate, ...] = ()
    # The same as one list for `spans`: (2 x signal, its phrases' regex) and (2 x signal + 1, its patterns' regex).
    tries: tuple[tuple[int, re.Pattern[str]], ...] = ()


_NO_HITS = _WordHits((), ())


@dataclass(frozen=True, slots=True)
class _CompiledSignal:
    name: str
    bodies: tuple[str, ...]  # phrase regexes, longest phrase first
    # The whole-word alternation of all phrases: scanned with `finditer` only when a phrase starts
    # with punctuation ("(beta)"), which has no word to be looked up by.
    phrase_scan: re.Pattern[str] | None
    pattern_regex: re.Pattern[str] | None
    # Whether the patterns are scanned (they may start with punctuation, or a letter or a digit) or looked up.
    pattern_scan: bool
    # Whether every pattern starts with a digit: then they are tried at the words that start with one.
    pattern_digit: bool
    negatable: bool


class SignalMatcher:
    """All signals of a rulebook compiled once; `facts(...)` is pure and thread-safe.

    Phrases and most patterns are found through a word index, not one regex scan per signal: one
    regex made of the index's keys (`_word_filter`) picks out of the folded text the words that may
    start something, each of those is looked up (the phrases whose first word it is, or whose first
    word's stem it starts with; likewise the literal start of each pattern, or any word that starts
    with a digit for patterns that start with one), and only those are tried, anchored at that word.
    The result is the same as scanning each signal's longest-first whole-word alternation with
    `finditer`: per signal, matches left to right without overlap, and at one position the first
    phrase in longest-first order that matches wins.
    """

    def __init__(self, book: Rulebook) -> None:
        self.negation: Negation = book.negation
        self.field_names = book.field_names()
        self._signals = tuple(_compile_signal(s) for s in book.signals.values())
        self._field_signals = tuple((s.name, s.fields) for s in book.signals.values() if s.fields)
        # Signals with a phrase or pattern that is scanned for in every text.
        self._scanned = frozenset(
            i for i, s in enumerate(self._signals) if s.phrase_scan is not None or (s.pattern_regex and s.pattern_scan)
        )
        # First word -> candidates whose match starts with exactly that word; run length -> run ->
        # candidates whose match starts with a word beginning with that run.
        self._exact: dict[str, list[_Candidate]] = {}
        self._prefixes: dict[int, dict[str, list[_Candidate]]] = {}
        for index, (signal, compiled) in enumerate(zip(book.signals.values(), self._signals, strict=True)):
            if compiled.phrase_scan is None:
                for rank, phrase in enumerate(_longest_first(signal.phrases)):
                    words = fold(phrase.text.strip()).split()
                    # The second word starts at the text's next word when the first word's spelling is all
                    # word characters (the separator between them is spaces or hyphens).
                    after = tuple(_first_words(words[1])) if len(words) > 1 and _TOKEN.match(words[1]) else ()
                    for run_text, exact, whole, rest in _word_starts(words[0]):
                        self._add(run_text, exact, _Candidate(index, rank, after if whole else rest))
            if compiled.pattern_regex is not None and not compiled.pattern_scan:
                for run_text, exact, after in _pattern_starts(_alternatives(signal)) or ():
                    self._add(run_text, exact, _Candidate(index, -1, after))
        # Signals whose patterns all start with a digit ("30 seconds"): tried at each word that starts with one.
        self._digit_signals = tuple(i for i, s in enumerate(self._signals) if s.pattern_digit)
        self._starts = _word_filter(self._exact, self._prefixes, bool(self._digit_signals))
        self._by_word: dict[str, _WordHits] = {}
        self._by_pair: dict[tuple[str, str], _WordHits] = {}
        self._alternations: dict[tuple[int, tuple[int, ...]], re.Pattern[str]] = {}
        self._ranks: dict[tuple[int, str], tuple[int, ...]] = {}  # back from an alternation to its phrases

    def _add(self, run: str, exact: bool, candidate: _Candidate) -> None:
        if exact:
            self._exact.setdefault(run, []).append(candidate)
        else:
            self._prefixes.setdefault(len(run), {}).setdefault(run, []).append(candidate)

    def _hits(self, word: str) -> _WordHits:
        found = self._by_word.get(word)
        if found is not None:
            return found
        candidates = list(self._exact.get(word, ()))
        if self._digit_signals and _DIGIT.match(word):
            candidates.extend(_Candidate(signal, -1) for signal in self._digit_signals)
        for length, runs in self._prefixes.items():
            if length <= len(word):
                candidates.extend(runs.get(word[:length], ()))
        pending = tuple(c for c in candidates if c.after)
        found = self._build([c for c in candidates if not c.after], pending)
        if len(self._by_word) < _WORD_CACHE_SIZE:
            self._by_word[word] = found
        return found

    def _pair_hits(self, word: str, following: str, hits: _WordHits) -> _WordHits:
        """`hits` of a word with the pending phrases whose second word can start at the `following` word."""
        key = (word, following)
        found = self._by_pair.get(key)
        if found is not None:
            return found
        candidates = [_Candidate(signal, -1) for signal in hits.patterns]
        for signal, regex in hits.phrases:
            candidates.extend(_Candidate(signal, rank) for rank in self._ranks[(signal, regex.pattern)])
        candidates.extend(c for c in hits.pending if c.fits(following))
        found = self._build(candidates, ())
        if len(self._by_pair) < _WORD_CACHE_SIZE:
            self._by_pair[key] = found
        return found

    def _build(self, candidates: list[_Candidate], pending: tuple[_Candidate, ...]) -> _WordHits:
        if not candidates and not pending:
            return _NO_HITS
        ranks: dict[int, set[int]] = {}
        patterns: set[int] = set()
        for candidate in candidates:
            if candidate.rank < 0:
                patterns.add(candidate.signal)
            else:
                ranks.setdefault(candidate.signal, set()).add(candidate.rank)
        phrases = tuple((signal, self._alternation(signal, tuple(sorted(ranks[signal])))) for signal in sorted(ranks))
        pattern_tries = [(2 * signal + 1, self._signals[signal].pattern_regex) for signal in patterns]
        return _WordHits(
            phrases=phrases,
            patterns=tuple(sorted(patterns)),
            pending=pending,
            tries=(*((2 * signal, regex) for signal, regex in phrases), *_known(pattern_tries)),
        )

    def _alternation(self, signal: int, ranks: tuple[int, ...]) -> re.Pattern[str]:
        # `(?:a|b)(?!\w)` tries a, then b, exactly as the signal's whole alternation does at this spot.
        regex = self._alternations.get((signal, ranks))
        if regex is None:
            bodies = self._signals[signal].bodies
            regex = re.compile(rf"(?:{'|'.join(bodies[rank] for rank in ranks)})(?!\w)")
            self._alternations[(signal, ranks)] = regex
            self._ranks[(signal, regex.pattern)] = ranks
        return regex

    def spans(self, text: str, folded: str | None = None) -> dict[str, list[Span]]:
        """Non-negated occurrences of each signal in `text` (up to three per signal), in text order.

        `folded` is `fold(text)` when the caller has it already.
        """
        if folded is None:
            folded = fold(text)
        # Each word the index may know (`_word_filter`, in C; the rest would be looked up for nothing), in text
        # order, and what to try there: under 2 x a signal's number its phrases, under 2 x its number + 1 its
        # patterns. Each key is matched where it is tried, as `finditer` would: leftmost match, then on after its
        # end (a negated match also uses up its words), until three matches are kept.
        kept: dict[int, list[tuple[int, int]]] = {}
        ends: dict[int, int] = {}  # per key, where its last match ended (past the text once three are kept)
        by_word, by_pair, signals, negated = self._by_word, self._by_pair, self._signals, self._negated
        for word in self._starts.finditer(folded):
            token, following = word.groups()
            hits = by_word.get(token) or self._hits(token)
            if hits.pending:
                following = following or ""
                hits = by_pair.get((token, following)) or self._pair_hits(token, following, hits)
            at = word.start()
            for key, regex in hits.tries:
                if ends.get(key, 0) > at:
                    continue
                match = regex.match(folded, at)
                if match is None:
                    continue
                ends[key] = match.end()
                if signals[key >> 1].negatable and negated(folded, at):
                    continue
                spans_of = kept.get(key)
                if spans_of is None:
                    kept[key] = [(at, match.end())]
                else:
                    spans_of.append((at, match.end()))
                    if len(spans_of) >= _MAX_EVIDENCE:
                        ends[key] = _PAST_ANY_TEXT
        found: dict[str, list[Span]] = {}
        if not kept and not self._scanned:
            return found
        # Only the signals found (or scanned for) in this text, in rule-file order as the scan had them.
        indices = {key >> 1 for key in kept}
        if self._scanned:
            indices |= self._scanned
        for index in sorted(indices):
            signal = signals[index]
            spans: list[Span] = []
            if signal.phrase_scan is not None:
                self._scan(signal.phrase_scan, signal.negatable, text, folded, spans)
            elif (phrase_spans := kept.get(2 * index)) is not None:
                spans.extend(Span(start, end, text[start:end]) for start, end in phrase_spans)
            if signal.pattern_regex is not None and len(spans) < _MAX_EVIDENCE:
                from_phrases = len(spans)
                if signal.pattern_scan:
                    self._scan(signal.pattern_regex, signal.negatable, text, folded, spans)
                elif (pattern_spans := kept.get(2 * index + 1)) is not None:
                    # The first ones, up to three spans in all (as `finditer` stopped once three were found).
                    spans.extend(
                        Span(start, end, text[start:end]) for start, end in pattern_spans[: _MAX_EVIDENCE - len(spans)]
                    )
                if from_phrases and len(spans) > from_phrases:
                    spans.sort(key=_START)  # each part is in text order already; sorting is stable
            if spans:
                found[signal.name] = spans
        return found

    def _scan(self, regex: re.Pattern[str], negatable: bool, text: str, folded: str, spans: list[Span]) -> None:
        for match in regex.finditer(folded):
            if len(spans) >= _MAX_EVIDENCE:
                return
            if negatable and self._negated(folded, match.start()):
                continue
            spans.append(Span(match.start(), match.end(), text[match.start() : match.end()]))

    def facts(self, text: str, fields: Mapping[str, str], folded: str | None = None) -> Facts:
        """Signals and fields of one request; `fields` are raw request fields (plan, environment, ...).

        `folded` is `fold(text)` when the caller has it already.
        """
        folded_fields = {name: fold(str(fields.get(name, "") or "").strip()) for name in self.field_names}
        evidence: dict[str, tuple[str, ...]] = {
            name: tuple(dict.fromkeys(span.text for span in spans)) for name, spans in self.spans(text, folded).items()
        }
        for name, signal_fields in self._field_signals:
            for fname, values in signal_fields.items():
                value = folded_fields.get(fname, "")
                if value and value in values:
                    raw = str(fields.get(fname, "")).strip()
                    evidence[name] = (*evidence.get(name, ()), f"{fname}: {raw}")
                    break
        return Facts(signals=frozenset(evidence), fields=folded_fields, evidence=evidence)

    def _negated(self, folded: str, start: int) -> bool:
        if not self.negation.words:
            return False
        window_start = max(0, start - _NEGATION_CHARS)
        # The clause the phrase is in: after the last break in the window, if any.
        last_break = _UP_TO_LAST_BREAK.match(folded, window_start, start)
        clause_start = window_start if last_break is None else last_break.end()
        words = _WORD.findall(folded, clause_start, start)[-self.negation.window :]
        return not self.negation.words.isdisjoint(words)


_START = attrgetter("start")
# No match starts here or later: where a key's search ends once it has kept three spans.
_PAST_ANY_TEXT = sys.maxsize


def _known(tries: list[tuple[int, re.Pattern[str] | None]]) -> list[tuple[int, re.Pattern[str]]]:
    """`tries` without the ones whose regex is None (for the type checker: a signal with patterns has one)."""
    return [(key, regex) for key, regex in sorted(tries, key=itemgetter(0)) if regex is not None]


class _Trie:
    """Index keys by character, each ending with what must come after it (regex tails)."""

    def __init__(self) -> None:
        self.children: dict[str, _Trie] = {}
        self.tails: set[str] = set()

    def add(self, key: str, tail: str) -> None:
        node = self
        for char in key:
            node = node.children.setdefault(char, _Trie())
        node.tails.add(tail)

    def regex(self) -> str:
        # One branch per next character: `re` skips a branch whose first literal differs at once, so a word
        # costs a few character comparisons, not one per key.
        if "" in self.tails:
            return ""  # the key alone is enough: whatever follows matches
        parts = sorted(self.tails)
        parts += [re.escape(char) + child.regex() for char, child in sorted(self.children.items())]
        return parts[0] if len(parts) == 1 else f"(?:{'|'.join(parts)})"


def _word_filter(
    exact: dict[str, list[_Candidate]], prefixes: dict[int, dict[str, list[_Candidate]]], digits: bool
) -> re.Pattern[str]:
    """The words of folded text at which the index may find something: a superset of the words whose
    `_hits` (after the next word's check, for phrases of several words) are not empty.

    A word is one `\\w+` run (as `_TOKEN` cuts them); it is found when it equals an exact key, starts with
    a prefix key, or starts with a digit and some signal's patterns start with one. A key whose phrases all
    need the next word also needs the next word to start one of their second words. The same index decides
    afterwards what is tried at each word found; a word found for nothing is looked up and skipped.
    """
    trie = _Trie()
    keys = [(run, True, found) for run, found in exact.items()]
    keys += [(run, False, found) for runs in prefixes.values() for run, found in runs.items()]
    for run, whole_word, candidates in keys:
        # The text's word equals the key (nothing word-like follows) or starts with it.
        tail = r"(?!\w)" if whole_word else ""
        if all(candidate.after for candidate in candidates):
            # The next word (after the rest of this word and the non-word characters between them).
            seconds = sorted(
                {re.escape(second) + ("(?!\\w)" if same else "") for c in candidates for second, same in c.after}
            )
            tail = (tail or r"\w*") + rf"\W+(?:{'|'.join(seconds)})"
        trie.add(run, tail)
    starts = [trie.regex()] if keys else []
    if digits:
        starts.append(r"\d")
    if not starts:
        return re.compile(r"(?!)(\w)(\w)")  # nothing to look up: no word is visited
    # No word character before and one after (every key starts with one) is the start of a word (`(?<!\w)` is a
    # little faster here than `\b`); the lookahead leaves `\w+` to take the whole word (group 1), and the last
    # lookahead reads the next word, if any (group 2), without taking it.
    return re.compile(rf"(?<!\w)(?=(?:{'|'.join(starts)}))(\w+)(?=(?:\W+(\w+))?)")


def _first_words(first: str) -> list[tuple[str, bool]]:
    """`_word_starts` without whether the run is the whole spelling."""
    return list(dict.fromkeys((run, exact) for run, exact, _, _ in _word_starts(first)))


def _word_starts(first: str) -> list[tuple[str, bool, bool, tuple[tuple[str, bool], ...]]]:
    """The words of folded text at which a phrase whose first word is `first` can match: (run, exact, whole, rest).

    The phrase's regex (`phrase_regex`) spells the word out with each apostrophe optional and, for a stem
    (`nefung*`), any word ending; so the text's word at a match is the word-character run that starts each
    spelling ("e" for "e-mail", "can" or "cant" for "can't"), or starts with the whole spelling for a stem.
    Exact runs keep words such as "error" from being tried against "e-mail" (a run "e" taken as a prefix would
    send every word starting with "e" to that phrase's regex). `whole` says the run is the whole spelling, so
    that the text's word ends where the phrase's first word does and the next word starts its second word.
    When it is not, `rest` are the (run, exact) starts the text's next word must have: the spelling's next run
    ("t" for "can't", "mail" for "e-mail"; the characters between are spelled out), exact unless it ends a stem;
    empty when some spelling has no next run ("c++"), so that the run alone decides.
    """
    stem = first.endswith("*")
    core = first[:-1] if stem else first
    pieces = core.split("'")
    spellings = {pieces[0]}
    for piece in pieces[1:]:
        spellings = {f"{done}'{piece}" for done in spellings} | {done + piece for done in spellings}
    starts: dict[tuple[str, bool, bool], dict[tuple[str, bool], None] | None] = {}
    for spelling in sorted(spellings):
        runs = list(_TOKEN.finditer(spelling))
        assert runs and runs[0].start() == 0  # phrases starting with punctuation are scanned instead
        run = runs[0]
        whole = run.end() == len(spelling)  # the text's word ends where the spelling ends
        key = (run.group(), not (stem and whole), whole)
        rest = starts.setdefault(key, {})
        if whole or len(runs) < 2:
            starts[key] = None  # nothing (more) to ask of the next word
        elif rest is not None:
            following = runs[1]
            rest[(following.group(), not (stem and following.end() == len(spelling)))] = None
    return [(*key, tuple(rest or ())) for key, rest in starts.items()]


def _compile_signal(signal: Signal) -> _CompiledSignal:
    phrases = _longest_first(signal.phrases)
    bodies = tuple(phrase_regex(p.text) for p in phrases)
    # A phrase that starts with punctuation ("(beta)", "'s") can start anywhere, not just at a word.
    unanchored = any(_TOKEN.match(fold(p.text.strip())) is None for p in phrases)
    patterns = _alternatives(signal)
    looked_up = _literal_starts(patterns) is not None
    digit = not looked_up and _digit_start(patterns)
    return _CompiledSignal(
        name=signal.name,
        bodies=bodies,
        phrase_scan=re.compile(_whole_word("|".join(bodies))) if unanchored else None,
        pattern_regex=re.compile(_whole_word(patterns)) if patterns else None,
        pattern_scan=not (looked_up or digit),
        pattern_digit=digit,
        negatable=signal.negatable,
    )


def _alternatives(signal: Signal) -> str:
    return "|".join(f"(?:{p.regex})" for p in signal.patterns)


def _longest_first(phrases: tuple[Phrase, ...]) -> list[Phrase]:
    # Longer phrases first, so the evidence shows "nobody can log in" rather than "log in".
    return sorted(phrases, key=lambda p: len(p.text), reverse=True)


# --- where a pattern can start -------------------------------------------------------------------

_MAX_STARTS = 500


def _literal_starts(regex: str) -> tuple[tuple[str, bool], ...] | None:
    """The letter runs a whole-word match of `regex` must start with, from its parsed form.

    Each item is (run, exact): the text's word at the match start equals `run` (exact) or starts
    with it. None when some match could start otherwise (a digit class, punctuation, an optional
    part, flags): such patterns are scanned. Uses the standard library's regex parser, which is
    private; if it cannot be read, every pattern is scanned, which is slower but the same.
    """
    starts = _pattern_starts(regex)
    return None if starts is None else tuple(dict.fromkeys((run, exact) for run, exact, _ in starts))


# The starts of the text's next word that a pattern start needs ((run, exact) each; empty: nothing is needed).
_NextWord = tuple[tuple[str, bool], ...]


def _pattern_starts(regex: str) -> tuple[tuple[str, bool, _NextWord], ...] | None:
    """`_literal_starts` with, for each start, what the text's next word must start with (`_Candidate.after`).

    A start needs the next word when every way the pattern goes on from it is a separator of surely non-word
    characters ("na koho", `je\\s+mozne`) and then a word whose runs are known; the next word must then be one
    of those runs (exact or a prefix, as for the first word). Empty when any way it goes on is not worked out.
    """
    try:
        parser: Any = importlib.import_module("re._parser")
        parsed = parser.parse(regex)
        if parsed.state.flags & ~re.UNICODE:
            return None
        starts = _starts(list(parsed.data), "")
    except (ImportError, AttributeError, TypeError, ValueError, re.error, _Unknown):
        return None
    if not starts or len(starts) > _MAX_STARTS or any(not run for run, _, _ in starts):
        return None
    # One entry per (run, exact): the next words any of its ways allows, or none needed if one way needs none.
    merged: dict[tuple[str, bool], dict[tuple[str, bool], None] | None] = {}
    for run, exact, after in starts:
        allowed = merged.setdefault((run, exact), {})
        if not after:
            merged[(run, exact)] = None
        elif allowed is not None:
            allowed.update(dict.fromkeys(after))
    return tuple((run, exact, tuple(after or ())) for (run, exact), after in merged.items())


class _Unknown(Exception):
    """A part of a parsed regex whose first characters are not worked out here."""


def _starts(items: list[Any], run: str) -> list[tuple[str, bool, _NextWord]]:
    # `items` is the rest of a parsed sequence; `run` the word characters matched so far.
    constants: Any = importlib.import_module("re._constants")
    for position, (op, av) in enumerate(items):
        if op is constants.LITERAL:
            char = chr(av)
            if _TOKEN.fullmatch(char) is None:
                # The word ends before punctuation or a space.
                return [(run, True, _next_word(items[position:], constants))]
            run += char
            continue
        rest = items[position + 1 :]
        if op is constants.BRANCH:
            out: list[tuple[str, bool, _NextWord]] = []
            for alternative in av[1]:
                out.extend(_starts([*alternative.data, *rest], run))
                if len(out) > _MAX_STARTS:
                    raise _Unknown
            return out
        if op is constants.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                raise _Unknown
            return _starts([*sub.data, *rest], run)
        if op is constants.IN and _never_word(av, constants):
            return [(run, True, _next_word(items[position:], constants))]
        if op is constants.MAX_REPEAT or op is constants.MIN_REPEAT:
            low, _high, sub = av
            if low >= 1 and _separator(sub.data, constants):
                return [(run, True, _next_word(items[position:], constants))]
        # Anything else (a class with letters, an optional part, an assertion): the word may go on.
        return [(run, False, ())]
    return [(run, True, ())]  # the pattern ends here, and a whole-word match ends at a word's end


def _separator(data: list[tuple[Any, Any]], constants: Any) -> bool:
    """Whether a parsed sequence is one item that matches one surely non-word character (a literal or a class)."""
    if len(data) != 1:
        return False
    op, av = data[0]
    if op is constants.LITERAL:
        return _TOKEN.fullmatch(chr(av)) is None
    return op is constants.IN and _never_word(av, constants)


def _next_word(items: list[Any], constants: Any) -> _NextWord:
    """The runs the text's next word starts with when `items` (which start with at least one non-word character)
    are a separator of non-word characters only, then a word; empty when that is not sure."""
    position = 0
    while position < len(items):
        op, av = items[position]
        if op is constants.MAX_REPEAT or op is constants.MIN_REPEAT:
            if not _separator(av[2].data, constants):
                break
        elif not _separator([items[position]], constants):
            break
        position += 1
    if position == len(items):
        return ()  # the pattern ends after the separator
    try:
        nexts = _starts(items[position:], "")
    except _Unknown:
        return ()
    if len(nexts) > _MAX_STARTS or any(not run for run, _, _ in nexts):
        return ()
    return tuple(dict.fromkeys((run, exact) for run, exact, _ in nexts))


def _never_word(members: list[tuple[Any, Any]], constants: Any) -> bool:
    """Whether a parsed character class surely matches no word character (spaces, punctuation)."""
    for op, av in members:
        if op is constants.CATEGORY and av in (constants.CATEGORY_SPACE, constants.CATEGORY_LINEBREAK):
            continue
        if op is constants.LITERAL and _TOKEN.fullmatch(chr(av)) is None:
            continue
        return False
    return True


def _digit_start(regex: str) -> bool:
    """Whether every match of `regex` starts with a decimal digit (`\\d`), from its parsed form.

    A whole-word match that starts with a digit starts a word (a digit is a word character), so such
    patterns need only be tried at the words of the text that start with a digit. False when unsure
    (flags, an optional or negated start, the private parser unreadable): the patterns are then scanned.
    """
    try:
        parser: Any = importlib.import_module("re._parser")
        parsed = parser.parse(regex)
        if parsed.state.flags & ~re.UNICODE:
            return False
        return _starts_with_digit(list(parsed.data))
    except (ImportError, AttributeError, TypeError, ValueError, re.error):
        return False


def _starts_with_digit(items: list[Any]) -> bool:
    # `items` is the rest of a parsed sequence; its first character must be a digit whatever branch is taken.
    constants: Any = importlib.import_module("re._constants")
    if not items:
        return False
    op, av = items[0]
    if op is constants.LITERAL:
        return _DIGIT.fullmatch(chr(av)) is not None
    if op is constants.IN:
        return _digit_class(av, constants)
    if op is constants.BRANCH:
        return all(_starts_with_digit([*alternative.data, *items[1:]]) for alternative in av[1])
    if op is constants.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        return not add_flags and not del_flags and _starts_with_digit([*sub.data, *items[1:]])
    if op is constants.MAX_REPEAT or op is constants.MIN_REPEAT:
        low, _high, sub = av
        return low >= 1 and _starts_with_digit(list(sub.data))
    return False  # an assertion, a group reference, any character, ...: not worked out


def _digit_class(members: list[tuple[Any, Any]], constants: Any) -> bool:
    """Whether a parsed character class surely matches only decimal digits (and something)."""
    for op, av in members:
        if op is constants.CATEGORY and av is constants.CATEGORY_DIGIT:
            continue
        if op is constants.LITERAL and _DIGIT.fullmatch(chr(av)) is not None:
            continue
        if op is constants.RANGE and ord("0") <= av[0] <= av[1] <= ord("9"):
            continue
        return False  # NEGATE, a letter, a wider range or category
    return bool(members)
