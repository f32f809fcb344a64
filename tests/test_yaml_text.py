"""libyaml and PyYAML's own parser must read our files alike: same nodes and marks, same values, same errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sevtriage import yaml_text
from sevtriage.errors import ConfigError
from sevtriage.rules.rulebook import parse_rulebook

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([*(ROOT / "rules").glob("*.yaml"), *(ROOT / "tests" / "fixtures" / "rules").glob("*.yaml")])


def _shape(node: yaml.Node) -> object:
    """A node tree as plain data: kind, tag, value and where it starts and ends (line, column)."""
    marks = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, marks)
    if isinstance(node, yaml.SequenceNode):
        return ("sequence", node.tag, [_shape(item) for item in node.value], marks)
    assert isinstance(node, yaml.MappingNode)
    return ("mapping", node.tag, [(_shape(k), _shape(v)) for k, v in node.value], marks)


def test_libyaml_is_there_to_be_used() -> None:
    # Without it everything still works, only slower; the wheels on PyPI carry it, so its absence means a
    # broken install worth knowing about.
    assert yaml.__with_libyaml__


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_nodes_and_values_are_those_of_the_pure_python_parser(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    try:
        expected = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        with pytest.raises(yaml.YAMLError) as raised:
            yaml_text.compose(text)
        assert str(raised.value) == str(error)
        return
    got = yaml_text.compose(text)
    assert expected is not None and got is not None
    assert _shape(got) == _shape(expected)
    assert yaml_text.load(text) == yaml.safe_load(text)


@pytest.mark.parametrize(
    "text",
    [
        "signals: [a, b\nrules: []\n",  # an unclosed bracket
        "signals:\n  a: 1\n b: 2\n",  # bad indentation
        "a: 'unclosed\n",
        "- x\ny: 1\n",
        "a: b: c\n",
    ],
)
def test_broken_text_gets_the_pure_python_parsers_message(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as expected:
        yaml.compose(text, Loader=yaml.SafeLoader)
    with pytest.raises(yaml.YAMLError) as got:
        yaml_text.compose(text)
    assert str(got.value) == str(expected.value)
    with pytest.raises(yaml.YAMLError) as got_value:
        yaml_text.load(text)
    assert str(got_value.value) == str(expected.value)


def test_a_broken_rule_file_still_names_its_line() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_rulebook("version: 1\nsignals:\n  a: [x, y\nrules: []\n", "broken.yaml")
    assert str(raised.value).startswith("broken.yaml:")


def test_empty_text_is_no_document() -> None:
    assert yaml_text.compose("") is None
    assert yaml_text.load("# only a comment\n") is None
