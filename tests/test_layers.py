"""Layers point one way and areas hold no import cycles between them.

The import graph of msp/ and workers/ is read from the source (ast), with the imports inside
functions too: a cycle held together by a function-level import is still a cycle (it only
fails later, at the first call). Imports under ``if TYPE_CHECKING:`` are for the type checker
alone and are left out. Modules named only as strings (msp/areas.py, queue job names) are not
imports: that is how the factory and the schedule reach the areas without depending on them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The foundation every area builds on; it must not import the areas above it.
FOUNDATION = ("msp", "msp.tenancy", "msp.domains", "msp.events", "msp.inprocess", "msp.hooks")
UPPER = ("msp.billing", "msp.notifications", "msp.policy", "msp.reports", "workers")

# Cycles between areas that are accepted, each with its reason: none today.
DOCUMENTED_CYCLES: dict[frozenset[str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    files = [*ROOT.joinpath("msp").rglob("*.py"), *ROOT.joinpath("workers").rglob("*.py")]
    return {_module_name(path): path for path in files}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (n for child in node.orelse for n in _import_nodes_of(child))
            continue
        yield from _import_nodes_of(node)


def _import_nodes_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _import_nodes(node)


def _targets(node: ast.Import | ast.ImportFrom, module: str, known: set[str]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")[: -node.level or None]
            base = ".".join([*package, base] if base else package)
        # `from package import module` imports the module (the package is only its parent, as
        # for every import); `from module import name` resolves to the module below
        names = [f"{base}.{alias.name}" for alias in node.names]
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            yield name


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        edges = {t for node in _import_nodes(tree) for t in _targets(node, name, known)}
        graph[name] = edges - {name}
    return graph


def area_of(module: str) -> str:
    """msp/<package>/... is that package's area; msp/*.py the core; workers/ the workers."""
    parts = module.split(".")
    if parts[0] == "workers":
        return "workers"
    if len(parts) > 2 or (len(parts) == 2 and (ROOT / "msp" / parts[1]).is_dir()):
        return parts[1]
    return "core"


class _Tarjan:
    """Tarjan's strongly connected components, iterative (the graph is a few hundred modules
    deep, too deep for recursion)."""

    def __init__(self, graph: dict[str, set[str]]) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.found: list[set[str]] = []

    def run(self) -> list[set[str]]:
        for root in self.graph:
            if root not in self.index:
                self._walk(root)
        return self.found

    def _visit(self, node: str) -> Iterator[str]:
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        return iter(sorted(self.graph[node]))

    def _walk(self, root: str) -> None:
        work = [(root, self._visit(root))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    self.low[parent] = min(self.low[parent], self.low[node])
                self._close(node)
            elif child not in self.index:
                work.append((child, self._visit(child)))
            elif child in self.stack:
                self.low[node] = min(self.low[node], self.index[child])

    def _close(self, node: str) -> None:
        if self.low[node] != self.index[node]:
            return
        component: set[str] = set()
        member = None
        while member != node:
            member = self.stack.pop()
            component.add(member)
        self.found.append(component)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    return _Tarjan(graph).run()


def cross_area_cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    return [
        component
        for component in _strongly_connected(graph)
        if len({area_of(m) for m in component}) > 1
    ]


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in prefixes)


def _is_foundation(module: str) -> bool:
    return module == "msp" or _within(module, FOUNDATION[1:])


def test_the_graph_sees_function_level_imports() -> None:
    """The walk is only worth something if it finds imports inside functions."""
    graph = import_graph()
    assert "msp.config" in graph["msp"]  # create_app imports it inside the function
    assert "msp.commands" in graph["msp.cli"]  # inside __getattr__
    assert "msp.tenancy.models" not in graph["msp.hooks"]  # a TYPE_CHECKING import only


def test_no_import_cycle_spans_two_areas() -> None:
    cycles = [
        sorted(component)
        for component in cross_area_cycles(import_graph())
        if frozenset({area_of(m) for m in component}) not in DOCUMENTED_CYCLES
    ]
    assert not cycles, cycles


def test_no_module_imports_itself_round_a_cycle() -> None:
    """Not even within one area (the entry point and the group share a table below both)."""
    cycles = [sorted(c) for c in _strongly_connected(import_graph()) if len(c) > 1]
    assert not cycles, cycles


def test_the_foundation_imports_no_upper_area() -> None:
    graph = import_graph()
    edges = sorted(
        (module, target)
        for module, targets in graph.items()
        if _is_foundation(module)
        for target in targets
        if _within(target, UPPER)
    )
    assert not edges, edges


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import() -> None:
    graph = {"msp": {"msp.inprocess"}, "msp.inprocess": {"workers.schedule"}}
    graph["workers.schedule"] = {"msp"}
    assert cross_area_cycles(graph) == [{"msp", "msp.inprocess", "workers.schedule"}]
    assert not cross_area_cycles({"msp.reports.a": {"msp.reports.b"}, "msp.reports.b": set()})
