"""The two evaluators of a compiled ruleset, and the durable-rules hazards they are built around."""

from __future__ import annotations

import threading
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sevtriage.errors import ConfigError
from sevtriage.resources import default_rules_path
from sevtriage.rules.engine_python import PythonEngine, holds
from sevtriage.rules.rulebook import CompiledRuleset, compile_rulebook, load_rulebook, parse_rulebook
from sevtriage.rules.stage import ENGINE_ENV, RuleStage, choose_engine

durable_engine = pytest.importorskip("sevtriage.rules.engine_durable", reason="durable-rules does not import here")
DurableEngine = durable_engine.DurableEngine

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rules"
BUNDLED = compile_rulebook(load_rulebook(default_rules_path()))


def _facts(ruleset: CompiledRuleset, signal_sets: list[set[str]]) -> list[dict[str, int | str]]:
    return [ruleset.fact(frozenset(s), {}) for s in signal_sets]


def test_every_matching_rule_fires_not_only_the_first() -> None:
    # durable-rules' `post` would fire one rule; the engine asserts facts so all of them fire.
    fact = BUNDLED.fact(frozenset({"question", "unlock", "billing"}), {})
    expected = ("usage-question", "unlock-question", "billing-question")
    assert DurableEngine(BUNDLED).match_many([fact]) == [expected]
    assert PythonEngine(BUNDLED).match_many([fact]) == [expected]


def test_a_fact_no_rule_matches_is_a_normal_outcome() -> None:
    # Without the catch-all rule, durable-rules raises MessageNotHandledException and delete_state can crash.
    assert DurableEngine(BUNDLED).match_many(_facts(BUNDLED, [set()])) == [()]


def test_more_requests_than_the_session_cap_and_no_state_left_behind() -> None:
    # Each session id is a live session, capped at 1,024 per ruleset; sessions are deleted after each request.
    engine = DurableEngine(BUNDLED)
    facts = _facts(BUNDLED, [{"service_down"}, {"question"}, set()] * 700)
    results = engine.match_many(facts)
    assert len(results) == 2100
    assert results[:3] == [("service-not-available",), ("usage-question",), ()]
    with pytest.raises(Exception, match="error code"):
        engine.session_facts("r0")


def test_no_timer_threads_are_started() -> None:
    # The default durable Host keeps two self-rescheduling threading.Timer loops alive; ours starts none.
    ruleset = compile_rulebook(parse_rulebook((FIXTURES / "minimal.yaml").read_text(encoding="utf-8"), "t1.yaml"))
    DurableEngine(ruleset).match_many(_facts(ruleset, [{"down"}]))
    timers = [t for t in threading.enumerate() if isinstance(t, threading.Timer)]
    assert timers == []


def test_loading_the_same_rules_again_reuses_the_registration() -> None:
    first = RuleStage.load(FIXTURES / "minimal.yaml", engine="durable")
    second = RuleStage.load(FIXTURES / "minimal.yaml", engine="durable")
    assert first.compiled.name == second.compiled.name
    assert durable_engine.registered_names().count(first.compiled.name) == 1
    source = (FIXTURES / "minimal.yaml").read_text(encoding="utf-8").replace("all: [down, test_env]", "all: [test_env]")
    changed = compile_rulebook(parse_rulebook(source, "minimal.yaml"))
    assert changed.name != first.compiled.name
    assert DurableEngine(changed).match_many(_facts(changed, [{"test_env"}])) == [("down-on-test",)]


def test_python_evaluator_rejects_operators_the_compiler_never_emits() -> None:
    with pytest.raises(ValueError, match=r"operator \$mt is not one the rule compiler emits"):
        holds({"$mt": {"s_x": "a"}}, {"s_x": 1})


def test_durable_dependency_carries_a_python_version_marker() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    (durable,) = [d for d in deps if d.startswith("durable-rules")]
    assert "python_version < '3.13'" in durable


@pytest.mark.parametrize(
    ("argument", "env", "expected"),
    [
        ("python", None, "python"),
        (None, "python", "python"),
        (None, "DURABLE", "durable"),
        ("durable", "python", "durable"),
    ],
)
def test_engine_choice(monkeypatch: pytest.MonkeyPatch, argument: str | None, env: str | None, expected: str) -> None:
    if env is None:
        monkeypatch.delenv(ENGINE_ENV, raising=False)
    else:
        monkeypatch.setenv(ENGINE_ENV, env)
    assert choose_engine(argument) == expected


def test_unknown_engine_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENGINE_ENV, "drools")
    with pytest.raises(ConfigError, match=r"SEVTRIAGE_RULES_ENGINE must be one of durable, python; got 'drools'"):
        RuleStage.load(FIXTURES / "minimal.yaml")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sets(st.sampled_from(BUNDLED.signal_names)), min_size=1, max_size=20))
def test_both_evaluators_agree_on_random_facts(signal_sets: list[set[str]]) -> None:
    facts = _facts(BUNDLED, signal_sets)
    assert DurableEngine(BUNDLED).match_many(facts) == PythonEngine(BUNDLED).match_many(facts)


_SIGNALS = ("a", "b", "c", "d")
_term = st.one_of(
    st.sampled_from(_SIGNALS),
    st.builds(
        lambda vs: "{field: environment, in: [" + ", ".join(vs) + "]}", st.sets(st.sampled_from("xyz"), min_size=1)
    ),
)


def _condition_yaml(all_: list[str], any_: list[str], none: list[str]) -> str:
    parts = [f"{k}: [{', '.join(v)}]" for k, v in (("all", all_), ("any", any_), ("none", none)) if v]
    return "{" + ", ".join(parts) + "}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=st.lists(
        st.tuples(st.lists(_term, max_size=3), st.lists(_term, max_size=3), st.lists(_term, max_size=3)).filter(
            lambda t: bool(t[0] or t[1])
        ),
        min_size=1,
        max_size=5,
    ),
    facts=st.lists(
        st.tuples(st.sets(st.sampled_from(_SIGNALS)), st.sampled_from(["", "x", "y", "z", "w"])),
        min_size=1,
        max_size=10,
    ),
)
def test_both_evaluators_agree_on_random_rules(
    rules: list[tuple[list[str], list[str], list[str]]], facts: list[tuple[set[str], str]]
) -> None:
    signals = "".join(f"  {s}:\n    description: d\n    phrases: {{en: [{s}{s}]}}\n" for s in _SIGNALS)
    body = "".join(
        f"  - id: r{i}\n    severity: 1\n    explanation: e\n    when: {_condition_yaml(*r)}\n"
        "    examples: [{text: x, expect: abstain}]\n"
        for i, r in enumerate(rules)
    )
    ruleset = compile_rulebook(parse_rulebook(f"signals:\n{signals}rules:\n{body}", "random.yaml"))
    engine_facts = [ruleset.fact(frozenset(s), {"environment": env}) for s, env in facts]
    assert DurableEngine(ruleset).match_many(engine_facts) == PythonEngine(ruleset).match_many(engine_facts)


def test_reloading_many_distinct_rule_files_keeps_at_most_the_cap_live() -> None:
    # Each registered ruleset costs about 1 MB that durable-rules never frees; unused ones must be deleted.
    cap = durable_engine.MAX_LIVE_RULESETS
    source = (FIXTURES / "minimal.yaml").read_text(encoding="utf-8")
    contents = [source.replace("[app is down, nefung*]", f"[app is down, nefung*, outage{m}]") for m in range(cap + 4)]
    held = DurableEngine(compile_rulebook(parse_rulebook(contents[0], "held.yaml")))  # an old engine still serving
    engine = held
    for reload in range(2 * len(contents)):  # N reloads cycling twice through M distinct contents
        ruleset = compile_rulebook(parse_rulebook(contents[reload % len(contents)], "minimal.yaml"))
        engine = DurableEngine(ruleset)
        # The previous engine is gone as soon as nothing refers to it (reference counting, no collector pass:
        # a forced gc.collect() per reload cost most of this test's 22 s inside the full suite).
        assert durable_engine.live_rulesets() <= cap
        assert engine.match_many(_facts(ruleset, [{"down"}, set()])) == [("down",), ()]
    # The engine held all along was never deleted under it, and still answers.
    assert held.match_many(_facts(held.ruleset, [{"down"}])) == [("down",)]
    assert held.ruleset.name in durable_engine.registered_names()
    assert engine.ruleset.name in durable_engine.registered_names()
