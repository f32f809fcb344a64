"""First-response snippets: a message in the customer's language asking for exactly the missing details.

The wording is data (`rules/first-response.yaml`, next to the rules and shipped with them) so that the support
lead edits it without touching code. Which items are missing comes from the decision's `missing_details`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sevtriage import yaml_text
from sevtriage.errors import ConfigError, Problem
from sevtriage.language import LANGUAGES
from sevtriage.resources import default_snippets_path
from sevtriage.types import DETAIL_ITEMS

_LANGUAGE_KEYS = ("opening", "items", "closing")


@dataclass(frozen=True, slots=True)
class Wording:
    """One language's opening, a line per missing item, and the closing."""

    opening: str
    items: Mapping[str, str]
    closing: str


@dataclass(frozen=True, slots=True)
class Snippets:
    """The wording per language (en, sk, cs)."""

    path: str
    languages: Mapping[str, Wording]

    def compose(self, language: str, missing: Sequence[str]) -> str | None:
        """The message asking for `missing` in `language` (English when unknown); None when nothing is missing."""
        wanted = [item for item in DETAIL_ITEMS if item in missing]
        if not wanted:
            return None
        wording = self.languages.get(language) or self.languages["en"]
        lines = [wording.opening, ""]
        lines.extend(f"- {wording.items[item]}" for item in wanted)
        lines += ["", wording.closing]
        return "\n".join(lines)


def _text(value: Any, where: str, file: str, problems: list[Problem]) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    problems.append(Problem(file, None, f"{where} must be non-empty text; got {value!r}"))
    return ""


def parse_snippets(source: str, file: str = "<snippets>") -> Snippets:
    """Validate the snippets file's text; raise `ConfigError` naming every key that is wrong."""
    try:
        data = yaml_text.load(source)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([Problem(file, line, f"not valid YAML: {getattr(error, 'problem', error)}")]) from None
    problems: list[Problem] = []
    languages = data.get("languages") if isinstance(data, dict) else None
    if not isinstance(languages, dict):
        raise ConfigError([Problem(file, None, "the snippets file needs 'languages' with en, sk and cs")])
    out: dict[str, Wording] = {}
    for language in LANGUAGES:
        body = languages.get(language)
        if not isinstance(body, dict):
            problems.append(Problem(file, None, f"languages.{language} is missing; give {', '.join(_LANGUAGE_KEYS)}"))
            continue
        items = body.get("items")
        if not isinstance(items, dict):
            problems.append(
                Problem(file, None, f"languages.{language}.items must map each of {', '.join(DETAIL_ITEMS)}")
            )
            continue
        lines = {
            item: _text(items.get(item), f"languages.{language}.items.{item}", file, problems) for item in DETAIL_ITEMS
        }
        out[language] = Wording(
            opening=_text(body.get("opening"), f"languages.{language}.opening", file, problems),
            items=lines,
            closing=_text(body.get("closing"), f"languages.{language}.closing", file, problems),
        )
    for language in languages:
        if language not in LANGUAGES:
            problems.append(Problem(file, None, f"language must be one of {', '.join(LANGUAGES)}; got {language!r}"))
    if problems:
        raise ConfigError(problems)
    return Snippets(path=file, languages=out)


def load_snippets(path: str | Path | None = None) -> Snippets:
    """Read the snippets file (the bundled one when None)."""
    file = Path(path) if path is not None else default_snippets_path()
    try:
        source = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([Problem(str(file), None, f"cannot read the snippets file: {error}")]) from None
    return parse_snippets(source, str(file))
