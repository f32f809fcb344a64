"""A small guess of a request's language (English, Slovak or Czech) for the review queue's filter.

Letters that only one of the two West Slavic languages uses decide first (ř ě ů are Czech; ä ľ ĺ ŕ ô are
Slovak); then frequent short words, which also work for text typed without diacritics.
"""

from __future__ import annotations

import re

from sevtriage.text import fold

LANGUAGES = ("en", "sk", "cs")

_CZECH_LETTERS = re.compile("[řěůŘĚŮ]")
_SLOVAK_LETTERS = re.compile("[äľĺŕôÄĽĹŔÔ]")


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the is and not we our to of in it this that with for are was can you please cannot does error have "
        "when from after"
    ),
    "sk": _words(
        "je nie sa na som sme ako aj alebo pri vo ze uz mame nam nas ktory prosim dakujem nefunguje nemozeme "
        "ked tak preco vsetci"
    ),
    "cs": _words(
        "je neni se na jsem jsme jak taky nebo pri ve ze uz mame nam nas ktery prosim dekuji nefunguje nemuzeme "
        "kdyz tak proc vsichni"
    ),
}
_WORD = re.compile(r"[a-z]+")


def guess_language(text: str) -> str:
    """One of `LANGUAGES`; English when nothing speaks for another language."""
    czech = len(_CZECH_LETTERS.findall(text))
    slovak = len(_SLOVAK_LETTERS.findall(text))
    if czech != slovak:
        return "cs" if czech > slovak else "sk"
    found = _WORD.findall(fold(text))
    scores = {language: sum(1 for word in found if word in words) for language, words in _WORDS.items()}
    best = max(LANGUAGES, key=lambda lang: (scores[lang], lang == "en"))
    return best
