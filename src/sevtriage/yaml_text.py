"""YAML text to Python values or to nodes with line marks, through libyaml when PyYAML has it.

The rule file alone took about 0.1 s to compose with PyYAML's pure-Python parser on every start, an eighth of
`sevtriage classify --text`; libyaml does it in a tenth of that and gives the same nodes, tags, values and marks
(`tests/test_yaml_text.py` compares both on every bundled file). When libyaml refuses a text, the pure-Python
parser reads it again, so a broken file gets the same message, with the same line, as before.
"""

from __future__ import annotations

from typing import Any

import yaml

_FAST_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)


def compose(text: str) -> yaml.Node | None:
    """The node tree of one YAML document (None when it is empty); raises `yaml.YAMLError`."""
    if _FAST_LOADER is not None:
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            pass  # read again below, for the pure-Python parser's message
    return yaml.compose(text, Loader=yaml.SafeLoader)


def load(text: str) -> Any:
    """The value of one YAML document, as `yaml.safe_load` gives it; raises `yaml.YAMLError`."""
    if _FAST_LOADER is not None:
        try:
            return yaml.load(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)
