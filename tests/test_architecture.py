"""The package's import graph: arrows point one way, and nothing hides an import inside a function.

Read from the source with `ast` (nothing is imported): every `import` / `from ... import` of a milestones module
at module level is an edge, except those under `if TYPE_CHECKING:` (annotations only; they never run). The graph
must have no cycle, and no function may import one of the package's own modules: such an import is how a cycle
hides. Functions may import only the optional extras named in LAZY, each for the reason given there.

Two places load package modules at run time instead, with `importlib.import_module`, so that `import milestones`
and the CLI's listing commands import no torch (tests/test_cli.py): the package's public API and the CLI's
commands that need torch (RUNTIME_LOADERS). Their targets are read from the source too (a string constant, or the
API table's values) and count as edges: the same cycle and layer checks hold for them.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "milestones"

# Imported inside functions on purpose: optional extras, or heavy modules few commands need.
LAZY = {
    "matplotlib": "~0.5 s to import: figures only",
    "sacrebleu": "needed only once a translator is scored",
    "torchvision": "its datasets module, only to download a missing data set; transforms on streamed folders",
    "torch._dynamo": "~1 s to import, needed only with trainer.compile",
    "torch.utils.tensorboard": "optional extra ('milestones[tensorboard]'): trainer.tensorboard only",
    "PIL": "decoding image files (data/decode.py): class folders, streamed folders, predict",
    "sentencepiece": "needed only by runs with SentencePiece sources (data.subwords / data.subword_model)",
}
# The only modules that import package modules with importlib, each for the reason given.
RUNTIME_LOADERS = {
    "milestones": "the public API: `milestones.create_model` and the rest are imported on first use (PEP 562)",
    "milestones.__main__": "the CLI: the commands that need torch (milestones/commands.py) are loaded when they run",
}
# The layers, bottom to top: a module may import only from its own layer or those below (no upward arrows).
LAYERS = [
    {"version", "errors", "typecheck", "distributed", "pretrained", "registry", "modelinfo"},
    {"data", "models", "runtime", "catalog"},
    {"tasks", "decoding"},
    {"configschema", "config", "configfile"},
    {"optim", "checkpoint", "runfolder"},
    {"evaluation", "steppers"},
    {"train"},
    {"runs", "plots", "claims", "leaderboard", "timing", "translate", "predict", "pack"},
    {"compare", "suites", "zoo", "card", "planner", "story"},
    {"tour"},
    {"__main__", "__init__", "commands"},
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The package modules an import statement in `module` names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "milestones"]
    if node.level:  # relative: from its package, up node.level - 1 more
        package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if base.split(".")[0] != "milestones":
        return []
    # `from milestones.tasks import base` names the submodule milestones.tasks.base; `from .x import f`, module x
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def is_import_module(node: ast.AST) -> bool:
    """A call of `importlib.import_module(...)`."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "importlib")


def api_table(tree: ast.Module) -> list[str]:
    """The values of a module-level `API = {name: module}` table (the package's lazily imported public API)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["API"]:
            return [f"milestones.{m}" for m in ast.literal_eval(node.value).values()]
    return []


def imports(module: str) -> tuple[set[str], list[str], set[str]]:
    """(package modules imported at module level, 'line: name' of every import made inside a function, package
    modules loaded at run time with importlib: a string constant's, else those of the module's API table)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    top, inside, runtime = set(), [], set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if is_type_checking(child):
                continue
            if is_import_module(child):
                target = child.args[0] if child.args else None
                if isinstance(target, ast.Constant) and isinstance(target.value, str):
                    runtime.add(target.value)
                else:
                    runtime.update(api_table(tree) or [f"{child.lineno}: an unreadable module name"])
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                names = resolve(module, child)
                if in_function:
                    others = [a.name for a in child.names] if isinstance(child, ast.Import) else [child.module or ""]
                    inside.extend(f"{child.lineno}: {n}" for n in names or others)
                else:
                    top.update(names)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return top, inside, runtime


GRAPH = {m: imports(m) for m in MODULES}


def edges_of(module: str) -> set[str]:
    """Every package module `module` imports: at module level, or at run time through importlib."""
    return GRAPH[module][0] | GRAPH[module][2]


def find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """One cycle of the directed graph as [a, b, ..., a], or [] if it has none (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def dfs(m: str) -> list[str]:
        state[m] = 1
        path.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state and (cycle := dfs(n)):
                return cycle
        path.pop()
        state[m] = 2
        return []

    for m in sorted(edges):
        if m not in state and (cycle := dfs(m)):
            return cycle
    return []


def test_no_import_cycle_among_the_packages_modules():
    edges = {m: {t for t in edges_of(m) if t in MODULES and t != m} for m in MODULES}
    cycle = find_cycle(edges)
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_no_function_imports_a_package_module_and_only_named_extras_are_lazy():
    bad = []
    for m in MODULES:
        for entry in GRAPH[m][1]:
            line, name = entry.split(": ")
            if name.startswith("milestones") or not any(name == x or name.startswith(x + ".") for x in LAZY):
                bad.append(f"{MODULES[m].relative_to(REPO)}:{line} imports {name} inside a function")
    assert not bad, "\n".join(bad)


def layer_of(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if module == "milestones.__main__":
        top = "__main__"
    return next(i for i, layer in enumerate(LAYERS) if top in layer)


def test_imports_point_down_the_layers():
    assert {m.split(".")[1] for m in MODULES if "." in m} <= set().union(*LAYERS)
    upward = [f"{m} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)})"
              for m in MODULES for t in edges_of(m) if t in MODULES and layer_of(t) > layer_of(m)]
    assert not upward, "\n".join(upward)


def test_only_the_named_places_load_modules_at_run_time_and_each_target_exists():
    loaders = {m for m in MODULES if GRAPH[m][2]}
    assert loaders <= set(RUNTIME_LOADERS), f"importlib.import_module outside RUNTIME_LOADERS: {loaders}"
    missing = [f"{m} loads {t}" for m in loaders for t in GRAPH[m][2] if t not in MODULES]
    assert not missing, "\n".join(missing)  # also catches an unreadable name, which is no module


def test_the_checker_sees_cycles_and_reads_relative_imports():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
    assert "milestones.checkpoint" in GRAPH["milestones.train"][0]
    assert "milestones.tasks.base" in GRAPH["milestones.tasks.classification"][0]
    assert "milestones.config" not in GRAPH["milestones.tasks.base"][0]  # under TYPE_CHECKING only
    assert "milestones.decoding" in GRAPH["milestones.tasks.seq2seq"][0]
    assert GRAPH["milestones.__main__"][2] == {"milestones.commands"}
    assert {"milestones.models", "milestones.train", "milestones.registry"} <= GRAPH["milestones"][2]


def test_a_model_file_stands_alone():
    """Models read like their papers: nothing from the data package (vocabularies' special ids come in as
    arguments, e.g. the translators' `pad_id`), nor from any layer above."""
    for module, (imports, _, _) in GRAPH.items():
        if module.startswith("milestones.models"):
            outside = [m for m in imports if not m.startswith(("milestones.models", "milestones.errors",
                                                              "milestones.pretrained", "milestones.typecheck",
                                                              "milestones.modelinfo", "milestones.catalog"))]
            assert not outside, (module, outside)
