"""The package's import graph, every import counted (inside functions and under TYPE_CHECKING).

``python scripts/import_graph.py [ROOT]`` prints the modules, the imports between them, the
cycles (strongly connected components of more than one module) and the files over 500 lines;
``--json`` prints the same as one JSON object. ``tests/test_architecture.py`` asserts on it.
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "pytest_compressguard"
MAX_LINES = 500


@dataclass
class Graph:
    """Modules (dotted names), their imports of each other and their sizes in lines."""

    modules: dict[str, Path] = field(default_factory=dict)
    edges: dict[str, set[str]] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def imports(self) -> int:
        """Distinct (importer, imported) pairs."""
        return sum(len(v) for v in self.edges.values())

    def cycles(self) -> list[list[str]]:
        """Strongly connected components of more than one module (Tarjan), sorted."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on: set[str] = set()
        out: list[list[str]] = []
        counter = [0]

        def visit(v: str) -> None:
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on.add(v)
            for w in sorted(self.edges.get(v, ())):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    out.append(sorted(component))

        sys.setrecursionlimit(10_000)
        for v in sorted(self.modules):
            if v not in index:
                visit(v)
        return sorted(out)

    def long_files(self, limit: int = MAX_LINES) -> dict[str, int]:
        """Files over ``limit`` lines, by module."""
        return {m: n for m, n in sorted(self.lines.items()) if n > limit}


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def build(root: Path) -> Graph:
    """The graph of the package at ``root`` (the folder holding ``__init__.py``)."""
    g = Graph()
    for path in sorted(root.rglob("*.py")):
        name = _module_name(root, path)
        g.modules[name] = path
        g.lines[name] = len(path.read_text(encoding="utf-8").splitlines())
    for path in sorted(root.rglob("*.pyi")):
        g.lines[_module_name(root, path) + ".pyi"] = len(
            path.read_text(encoding="utf-8").splitlines()
        )
    for name, path in g.modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in g.modules else base)
        found = set()
        for t in targets:
            while t and t not in g.modules:  # a.b.c imported as a name of a.b
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith(PACKAGE):
                found.add(t)
        g.edges[name] = found
    return g


def main(argv: list[str]) -> int:
    """Print the graph's figures (``--json``: as JSON)."""
    args = [a for a in argv if a != "--json"]
    root = Path(args[0]) if args else Path(__file__).resolve().parents[1] / PACKAGE
    g = build(root)
    report = {
        "modules": len(g.modules),
        "imports": g.imports,
        "cycles": g.cycles(),
        "files_over_500_lines": g.long_files(),
    }
    if "--json" in argv:
        print(json.dumps(report, indent=1))
        return 0
    print(f"modules: {report['modules']}  imports: {report['imports']}")
    print(f"cycles: {len(report['cycles'])}")
    for c in report["cycles"]:
        print("  " + " <-> ".join(m.removeprefix(PACKAGE + ".") for m in c))
    print(f"files over {MAX_LINES} lines: {len(report['files_over_500_lines'])}")
    for m, n in report["files_over_500_lines"].items():
        print(f"  {m}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
