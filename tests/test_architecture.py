"""The house's rules (docs/ARCHITECTURE.md): no import cycle, no file over 500 lines, no task
name spelled outside the tasks and the metric definitions, every module in a layer. The
layers themselves are import-linter's contract (pyproject.toml), which scripts/test.sh runs."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

from pytest_compressguard import tasks

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pytest_compressguard"


def _graph_module():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts/import_graph.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


import_graph = _graph_module()


def test_the_package_has_no_import_cycle():
    graph = import_graph.build(PACKAGE)
    assert len(graph.modules) > 50 and graph.imports > 200  # it did read the package
    assert graph.cycles() == []


def test_the_graph_counts_function_level_and_type_checking_imports(tmp_path):
    """A cycle closed only by an import inside a function and one under TYPE_CHECKING is a
    cycle: the rule would be toothless otherwise."""
    package = tmp_path / "pytest_compressguard"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pytest_compressguard.sub import b\n")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import a\n"
    )
    (package / "c.py").write_text("from pytest_compressguard import a\n" + "x = 1\n" * 501)
    graph = import_graph.build(package)
    assert graph.cycles() == [["pytest_compressguard.a", "pytest_compressguard.sub.b"]]
    assert graph.long_files() == {"pytest_compressguard.c": 502}


def test_no_file_is_over_500_lines():
    assert import_graph.build(PACKAGE).long_files() == {}


def test_no_test_script_or_example_is_over_500_lines():
    long = {}
    for folder in ("tests", "scripts", "bench", "examples"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > 500:
                long[str(path.relative_to(ROOT))] = lines
    assert long == {}


def _task_names_spelled(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module that are a task's name, with their lines."""
    names = set(tasks.NAMES)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
    ]


def test_no_module_outside_the_tasks_and_the_metrics_spells_a_task_name():
    """Every other layer asks the task (``tasks.get``, ``Task`` attributes) instead of
    comparing its name."""
    found = {
        str(path.relative_to(ROOT)): spelled
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in ("tasks", "metrics")
        and (spelled := _task_names_spelled(path))
    }
    assert found == {}
    sample = PACKAGE / "tasks" / "qa.py"
    assert any(value == "qa" for _, value in _task_names_spelled(sample))  # the scan sees them


def _contract() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return layers


def test_every_module_of_the_package_is_in_a_layer():
    """A new top-level module or package outside the layers would escape the contract."""
    listed = {name.strip() for layer in _contract()["layers"] for name in layer.split("|")}
    tops = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert tops - listed == set()
    assert listed - tops == set()


@pytest.mark.parametrize("name", tasks.NAMES)
def test_each_task_is_a_module_of_its_own(name):
    task = tasks.get(name)
    assert type(task).__module__.startswith("pytest_compressguard.tasks.")
    assert task.name == name and task.does and task.undefined.format(metric="m")
