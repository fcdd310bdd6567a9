"""The package layout: data flows one way (no import cycles), nobody imports another module's _private
names, click stays in cli.py, and the subpackages follow the cycle's order. Imports are read with ast,
function-level ones included, so a lazy import cannot hide a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sheetplan"

# The stages in the order data flows; a module may import from its own stage or an earlier one.
# errors, problems and workers are shared by every stage; console and cycle_lines (the terminal's lines), api
# and cli sit on top.
STAGES = ["errors", "problems", "workers", "xlsx", "workspace", "plan", "templates", "returns", "actuals", "reports",
          "mail", "console", "cycle_lines", "api", "demo", "cli"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, name: str, known: set[str]) -> list[tuple[str, str, int]]:
    """(imported module, imported name or '', line) for every import of a sheetplan module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] == "sheetplan"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "sheetplan":
                continue
            for alias in node.names:
                child = f"{source}.{alias.name}"
                if child in known:  # from sheetplan.plan import approvals: the module itself
                    found.append((child, "", node.lineno))
                else:
                    found.append((source, alias.name, node.lineno))
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: {target for target, _, _ in imports_of(path, name, known) if target in known and target != name}
            for name, path in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def stage_of(module: str) -> str:
    return module.split(".")[1] if module != "sheetplan" else "api"


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_modules():
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle)


def test_no_import_cycle_between_stages():
    stages: dict[str, set[str]] = {}
    for source, targets in graph().items():
        stages.setdefault(stage_of(source), set()).update(
            stage_of(t) for t in targets if stage_of(t) != stage_of(source))
    cycle = find_cycle(stages)
    assert cycle is None, " -> ".join(cycle)


def test_every_import_goes_to_the_same_or_an_earlier_stage():
    backwards = [f"{source} imports {target}" for source, targets in graph().items() for target in targets
                 if STAGES.index(stage_of(target)) > STAGES.index(stage_of(source))]
    assert backwards == []


def test_no_module_imports_another_modules_private_names():
    mods = modules()
    known = set(mods)
    private = [f"{name}:{line} imports {target}.{imported}"
               for name, path in mods.items() for target, imported, line in imports_of(path, name, known)
               if imported.startswith("_") or any(part.startswith("_") and part != "__init__"
                                                  for part in target.split("."))]
    assert private == []


def test_only_cli_imports_click():
    users = [name for name, path in modules().items()
             if any(isinstance(n, (ast.Import, ast.ImportFrom))
                    and any((getattr(n, "module", None) or a.name).split(".")[0] == "click" for a in n.names)
                    for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))]
    assert users == ["sheetplan.cli"]


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_opens_with_a_line_saying_its_job(name):
    doc = ast.get_docstring(ast.parse(modules()[name].read_text(encoding="utf-8")))
    assert doc and doc.strip(), f"{name} has no module docstring"
