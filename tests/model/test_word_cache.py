"""The per-word memo of the text features: bounded on any stream, numbers kept apart from the vocabulary."""

from __future__ import annotations

import pytest

from sevtriage.model.word_cache import WordCache


def test_remembers_words_and_numbers() -> None:
    cache: WordCache[int] = WordCache(limit=10, number_limit=10)
    cache.put("export", 1)
    cache.put("502", 2)
    assert (cache.get("export"), cache.get("502"), cache.get("missing")) == (1, 2, None)
    assert cache.words == {"export": 1}


def test_falsy_values_are_remembered() -> None:
    cache: WordCache[list[str]] = WordCache(limit=10)
    cache.put("word", [])
    assert cache.get("word") == []


@pytest.mark.parametrize("stream", [[f"T-{n}" for n in range(10_000)], [f"w{n}x" for n in range(10_000)]])
def test_never_holds_more_than_its_bounds(stream: list[str]) -> None:
    cache: WordCache[int] = WordCache(limit=100, number_limit=50)
    for value, word in enumerate(stream):
        cache.put(word, value)
        assert len(cache) <= 150


def test_a_stream_of_ticket_numbers_does_not_push_out_the_vocabulary() -> None:
    cache: WordCache[int] = WordCache(limit=3, number_limit=2)
    for word in ("dochádzka", "export", "mzdy"):
        cache.put(word, 1)
    for n in range(1_000):
        cache.put(f"#{n}", n)
    assert [cache.get(w) for w in ("dochádzka", "export", "mzdy")] == [1, 1, 1]
