"""First-response snippets: exactly the missing items, in the customer's language, from the editable file."""

from __future__ import annotations

import pytest

from sevtriage.errors import ConfigError
from sevtriage.resources import default_snippets_path
from sevtriage.review.snippets import load_snippets, parse_snippets


def test_the_bundled_snippets_ask_for_exactly_the_missing_items_in_order() -> None:
    snippets = load_snippets()
    text = snippets.compose("en", ["steps_taken", "browser_version"])
    assert text is not None
    asked = [line for line in text.splitlines() if line.startswith("- ")]
    assert asked == [
        "- the web browser you use and its version (for example Chrome 120)",
        "- what you have already tried to solve it",
    ]
    assert snippets.compose("en", []) is None


@pytest.mark.parametrize(
    ("language", "word"), [("sk", "Dobrý deň"), ("cs", "Dobrý den"), ("en", "Hello"), ("de", "Hello")]
)
def test_each_language_has_its_own_wording(language: str, word: str) -> None:
    text = load_snippets().compose(language, ["workaround"])
    assert text is not None and text.startswith(word)


def test_a_broken_snippets_file_names_what_is_wrong() -> None:
    source = (
        default_snippets_path()
        .read_text(encoding="utf-8")
        .replace("      workaround: zda jste zatím našli způsob, jak problém obejít\n", "")
    )
    with pytest.raises(ConfigError) as caught:
        parse_snippets(source, "first-response.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "first-response.yaml: languages.cs.items.workaround must be non-empty text; got None"
    ]
