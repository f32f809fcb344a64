"""The package tree shows the flow: stages import only the core below them, and nothing imports in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
STAGES = ("rules", "model", "intake", "sla", "store")
EDGES = ("api", "review", "cli", "watch")


def _modules() -> dict[str, Path]:
    modules = {}
    for path in (SRC / "sevtriage").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        modules[".".join(parts).removesuffix(".__init__")] = path
    return modules


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Every sevtriage module each module imports, at any depth of its code (imports inside functions too)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sevtriage"):
                submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules.keys()
                found |= submodules or ({node.module} & modules.keys())
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names} & modules.keys()
        graph[name] = found - {name, "sevtriage"}
    return graph


GRAPH = _imports(_modules())


def _cycle_through(start: str) -> list[str] | None:
    path: list[str] = []
    seen: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if nxt == start:
                return [*path, nxt]
            if nxt not in seen:
                seen.add(nxt)
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        return None

    return visit(start)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_import_circle(module: str) -> None:
    assert _cycle_through(module) is None


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m.split(".")[1:2] and m.split(".")[1] in STAGES))
def test_a_stage_imports_only_itself_the_sla_and_the_core(module: str) -> None:
    own = module.split(".")[1]
    for target in GRAPH[module]:
        part = target.split(".")[1]
        assert part not in EDGES, f"{module} imports the edge {target}"
        if part in STAGES and part != own:
            # Intake reads the plan names from the SLA policy; nothing else crosses between stages.
            assert (own, part) == ("intake", "sla"), f"{module} imports another stage: {target}"
