"""The package's public surface: subpackages use each other's public names only, import no cycle,
export what they list, never switch matplotlib's backend, and ``cllsim --help`` stays light."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import cllsim

SRC = Path(cllsim.__file__).parent

# Files allowed to import another subpackage's private modules: none (kept so an exception,
# if one is ever needed, is explicit and checked for staleness).
PRIVATE_IMPORT_ALLOWED: frozenset[str] = frozenset()

# Library code allowed to call matplotlib.use: none (figures are matplotlib.figure.Figure objects).
MATPLOTLIB_USE_ALLOWED: frozenset[str] = frozenset()

#: Libraries ``cllsim --help`` and ``--version`` must not import.
HEAVY = ("roadrunner", "scipy", "matplotlib", "pandas", "numba", "pypesto", "dask", "libsbml", "sympy", "jax")


def _modules() -> dict[str, ast.Module]:
    """Every module of the package by its path relative to the package, parsed."""
    return {
        p.relative_to(SRC).as_posix(): ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
        for p in sorted(SRC.rglob("*.py"))
    }


def _module_name(rel: str) -> str:
    parts = ["cllsim", *Path(rel).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _subpackage(module: str) -> str | None:
    """``"model"`` for ``cllsim.model._parameters``; ``None`` for top-level modules (``cllsim.cli``)."""
    parts = module.split(".")
    if len(parts) < 2 or not (SRC / parts[1]).is_dir():
        return None
    return parts[1]


def _imports(rel: str, tree: ast.Module, *, top_level_only: bool) -> list[tuple[int, str, list[str]]]:
    """``(line, absolute module, imported names)`` of every import of cllsim modules in ``tree``.

    With ``top_level_only``, only imports run when the module is imported: statements of the
    module body, including those under ``if``/``try`` there (``if TYPE_CHECKING:`` counts: it is
    a dependency too), not those inside functions or classes.
    """
    module = _module_name(rel)
    is_package = rel.endswith("__init__.py")
    nodes: list[ast.AST] = []
    if top_level_only:
        todo: list[ast.AST] = list(tree.body)
        while todo:
            node = todo.pop()
            nodes.append(node)
            if isinstance(node, ast.If | ast.Try):
                todo += [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
                todo += [s for h in getattr(node, "handlers", []) for s in h.body]
    else:
        nodes = list(ast.walk(tree))
    out = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "cllsim" or target.startswith("cllsim."):
                out.append((node.lineno, target, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names if a.name.startswith("cllsim.")]
    return out


def _private_imports(rel: str, tree: ast.Module) -> list[str]:
    """Imports of another subpackage's private module or name, as ``"file:line: target"``."""
    own = _subpackage(_module_name(rel))
    found = []
    for line, target, names in _imports(rel, tree, top_level_only=False):
        other = _subpackage(target)
        if other is None or other == own:
            continue
        inner = target.split(".")[2:]  # below cllsim.<subpackage>
        private = [p for p in inner if p.startswith("_")] + [n for n in names if n.startswith("_")]
        if private:
            found.append(f"{rel}:{line}: {target} {names}")
    return found


def test_no_subpackage_imports_another_subpackages_private_modules():
    trees = _modules()
    checked = sorted(set(trees) - PRIVATE_IMPORT_ALLOWED)
    offenders = [hit for rel in checked for hit in _private_imports(rel, trees[rel])]
    assert not offenders, "import the public names instead:\n" + "\n".join(offenders)


def test_private_import_allow_list_has_no_stale_entries():
    trees = _modules()
    stale = sorted(rel for rel in PRIVATE_IMPORT_ALLOWED if rel not in trees or not _private_imports(rel, trees[rel]))
    assert not stale, f"these files no longer import private modules; remove them from the allow-list: {stale}"


def _subpackage_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for rel, tree in _modules().items():
        own = _subpackage(_module_name(rel))
        if own is None:
            continue
        for _, target, _names in _imports(rel, tree, top_level_only=True):
            other = _subpackage(target)
            if other is not None and other != own:
                graph.setdefault(own, set()).add(other)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle reachable by depth-first search, each as the path that closes it."""
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycles.append([*path[path.index(nxt):], nxt])
            elif len(path) < len(graph) + 1:
                visit(nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
    return cycles


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"simulate": {"report"}, "report": {"experiments"}, "experiments": {"simulate"}})
    assert not _cycles({"report": {"simulate"}, "experiments": {"simulate", "report"}})


def test_no_import_cycle_between_subpackages():
    graph = _subpackage_graph()
    assert "experiments" not in graph.get("report", set()), "report must not depend on experiments"
    cycles = _cycles(graph)
    assert not cycles, "import cycles between subpackages: " + "; ".join(" -> ".join(c) for c in cycles)


def _lazy_packages() -> list[str]:
    return sorted(
        _module_name(rel)
        for rel, tree in _modules().items()
        if rel.endswith("__init__.py")
        and any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "_EXPORTS" for t in n.targets)
                for n in tree.body)
    )


@pytest.mark.parametrize("package", _lazy_packages())
def test_lazy_exports_resolve_and_match_their_type_checking_imports(package):
    module = importlib.import_module(package)
    exports: dict[str, str] = module._EXPORTS
    rel = Path(*package.split(".")[1:], "__init__.py").as_posix()
    tree = _modules()[rel]
    typed = {
        alias.asname or alias.name: "." * node.level + (node.module or "")
        for block in tree.body
        if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING"
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    # the top level's ``simulate`` is the callable subpackage (typed as the function it calls)
    if package == "cllsim":
        typed.pop("simulate", None)
    assert typed == exports, "the TYPE_CHECKING imports and _EXPORTS list different names or modules"
    for name, source in exports.items():
        value = getattr(module, name)
        defined_in = importlib.import_module(source, package)
        assert value is getattr(defined_in, name), name
    assert set(exports) <= set(dir(module))


def test_cllsim_simulate_is_the_module_and_callable_as_the_entry_point():
    """``import cllsim.simulate`` gives the subpackage (issue 14 item 6), and ``cllsim.simulate(...)`` still runs a
    simulation, however the subpackage was first imported."""
    code = (
        "import cllsim, cllsim.cohort._population, cllsim.simulate._result, types\n"
        "import cllsim.simulate as s\n"
        "from cllsim import simulate\n"
        "print(isinstance(s, types.ModuleType), callable(cllsim.simulate), s is simulate is cllsim.simulate,"
        " hasattr(s, 'run_batch'), cllsim.simulate('none', days=1).ok)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True"] * 5


def test_help_and_version_import_no_heavy_library():
    code = (
        "import json, sys\n"
        "import cllsim.cli\n"
        "loaded = {'import': sorted(m for m in sys.modules if m.split('.')[0] in HEAVY)}\n"
        "for args in (['--help'], ['--version'], ['cohort', '--help'], ['fit', '--help']):\n"
        "    try:\n"
        "        cllsim.cli.app(args, prog_name='cllsim')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "loaded['commands'] = sorted(m for m in sys.modules if m.split('.')[0] in HEAVY)\n"
        "print(json.dumps(loaded))\n"
    ).replace("HEAVY", repr(HEAVY))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == {"import": [], "commands": []}
    assert f"cllsim {cllsim.__version__}" in out.stdout


def test_library_code_never_calls_matplotlib_use():
    calls = []
    for rel, tree in _modules().items():
        if rel in MATPLOTLIB_USE_ALLOWED:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "use"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in {"matplotlib", "mpl"}):
                calls.append(f"{rel}:{node.lineno}")
    assert not calls, f"matplotlib.use in library code: {calls}"


def test_experiment_figures_leave_pyplot_and_the_backend_alone():
    import matplotlib
    from matplotlib.figure import Figure

    from cllsim.experiments._plotting import subplots

    backend = matplotlib.rcParams._get_backend_or_none()  # None until someone picks one
    pyplot = sys.modules.get("matplotlib.pyplot")
    open_before = pyplot.get_fignums() if pyplot else []
    fig, axes = subplots(2, nrows=2)
    assert isinstance(fig, Figure) and axes.shape == (2, 2)
    assert matplotlib.rcParams._get_backend_or_none() == backend
    assert (pyplot.get_fignums() if pyplot else []) == open_before
