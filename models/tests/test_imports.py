"""The package's import graph: no circle among the daefr_models modules, and every intra-package
import at module level (an import hidden inside a function is how a circle goes unnoticed).

Read from the source with `ast`, not by importing: `from .x import ...`, `from . import x`,
`from daefr_models.x import ...`, `from daefr_models import x` and `import daefr_models.x` all
count as an edge to `x`. Imports under `if TYPE_CHECKING:` never run (annotations only, e.g.
trainers naming train's `Env`) and are left out.
"""

import ast
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "daefr_models"
PACKAGE = PACKAGE_DIR.name
INIT = "__init__"


@dataclass(frozen=True)
class Import:
    """One intra-package import: the module imported, its line, and whether it runs at import time
    (False: inside a function, run only when the function is called)."""

    target: str
    line: int
    module_level: bool


def intra_imports(source: str, modules: set[str]) -> list[Import]:
    """The intra-package imports in one module's source; `modules` are the package's module names
    (so that `from . import x` tells a submodule from a name defined in `__init__`)."""
    found: list[Import] = []

    def targets(node) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name.split(".")[1] for a in node.names if a.name.startswith(PACKAGE + ".")]
        if node.level == 0 and (node.module or "").split(".")[0] != PACKAGE:
            return []
        if node.level > 1:
            return []  # outside the package
        inner = (node.module or "").split(".")
        inner = inner[1:] if node.level == 0 else inner
        if inner and inner[0]:
            return [inner[0]]
        # `from . import x, y` / `from daefr_models import x`: submodules, or names of __init__
        return [a.name if a.name in modules else INIT for a in node.names]

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    visit(ast.Module(body=[other], type_ignores=[]), in_function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend(Import(t, child.lineno, not in_function) for t in targets(child))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(source), False)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    """`TYPE_CHECKING` or `typing.TYPE_CHECKING`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_graph(sources: dict[str, str]) -> dict[str, list[Import]]:
    """Module name -> its intra-package imports, for a package given as {module name: source}."""
    return {name: intra_imports(src, set(sources)) for name, src in sources.items()}


def find_cycle(graph: dict[str, list[Import]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None (self-imports count too)."""
    state: dict[str, str] = {}  # "open" while on the DFS stack, "done" after

    def dfs(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for imp in graph.get(node, []):
            if state.get(imp.target) == "open":
                return path[path.index(imp.target):] + [imp.target]
            if imp.target not in state:
                cycle = dfs(imp.target, path + [imp.target])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = dfs(start, [start])
            if cycle:
                return cycle
    return None


def package_sources() -> dict[str, str]:
    """{module name: source} of every daefr_models/*.py."""
    return {p.stem: p.read_text() for p in sorted(PACKAGE_DIR.glob("*.py"))}


@pytest.fixture(scope="module")
def graph():
    return import_graph(package_sources())


def test_the_parser_sees_the_package(graph):
    # guards the two checks below against passing on a parser that finds nothing
    assert len(graph) > 20
    assert "config" in {i.target for i in graph["arch"]}
    assert INIT in {i.target for i in graph["onnx_meta"]}  # from . import __version__


def test_no_import_circle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_intra_package_imports_are_at_module_level(graph):
    hidden = [f"daefr_models/{name}.py:{i.line}: imports {i.target} inside a function"
              for name, imports in graph.items() for i in imports if not i.module_level]
    assert not hidden, "\n".join(hidden)


def test_the_checks_catch_a_circle_and_a_hidden_import():
    sources = {
        "a": "from .b import f\n",
        "b": "import daefr_models.c\n",
        "c": "import numpy\n\ndef g():\n    from daefr_models import a\n    return a\n",
        "d": "from . import a, __version__\nfrom .. import outside\n",
        "e": "import typing\nif typing.TYPE_CHECKING:\n    from .a import T\nelse:\n    from .d import U\n",
        INIT: "__version__ = '0'\n",
    }
    g = import_graph(sources)
    assert [(i.target, i.module_level) for i in g["c"]] == [("a", False)]
    assert [i.target for i in g["d"]] == ["a", INIT]
    assert [(i.target, i.module_level) for i in g["e"]] == [("d", True)]  # the type-only import is left out
    assert find_cycle(g) == ["a", "b", "c", "a"]
    del g["c"][0]
    assert find_cycle(g) is None
    assert find_cycle({"x": [Import("x", 1, True)]}) == ["x", "x"]


#: Commands that run where only PyTorch is installed (models/train_gpu.sh makes the identity split
#: and trains on such a machine, and stops before export; `evaluate --checkpoint` measures the
#: checkpoint there): they must import without onnx and onnxruntime, which is why
#: `onnx_tools`, `onnx_meta`, `blazeface` and `evaluate.OnnxRunner` import those inside functions.
TORCH_ONLY = ("train", "ablation", "evaluate", "choose_fidelity", "photo_eval", "splits")


def test_the_training_commands_import_without_onnx():
    code = ("import sys\nfor m in ('onnx', 'onnxruntime', 'onnxscript'):\n    sys.modules[m] = None\n"
            + "".join(f"import daefr_models.{m}\n" for m in TORCH_ONLY))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
