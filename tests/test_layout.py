"""The runtime a production process loads (`ddllm.instrument`) imports nothing of the
tooling (`ddllm.assets`, `ddllm.cli`), directly or through another module."""
import ast
import pathlib
import subprocess
import sys

import ddllm

PACKAGE = pathlib.Path(ddllm.__file__).parent
TOOLING = ("ddllm.assets", "ddllm.cli")


def _imported_names(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            for alias in node.names:
                yield "%s.%s" % (node.module, alias.name)


def test_runtime_modules_import_no_tooling():
    runtime = [PACKAGE / "__init__.py", PACKAGE / "_startup.py", PACKAGE / "catalogue.py"]
    runtime += sorted((PACKAGE / "instrument").glob("*.py"))
    offenders = [
        "%s imports %s" % (path.relative_to(PACKAGE.parent), name)
        for path in runtime
        for name in _imported_names(path)
        if name.startswith(TOOLING) or name in ("ddllm.assets", "ddllm.cli")
    ]
    assert not offenders, offenders


def test_patching_loads_only_the_runtime():
    script = (
        "import sys, ddllm; ddllm.patch(); "
        "print(sorted(m for m in sys.modules if m.startswith(('ddllm.assets', 'ddllm.cli'))))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _module_name(path):
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _ddllm_imports():
    """{module: {ddllm modules it imports}}, wherever in it the import is (a function's too)."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        imported = set()
        for target in _imported_names(path):
            while target and target not in modules:  # `ddllm.x.name` is module `ddllm.x`
                target = target.rpartition(".")[0]
            if target and target != name and target != "ddllm":
                imported.add(target)
        graph[name] = imported
    return graph


def test_no_import_cycle():
    graph = _ddllm_imports()
    cycles = set()

    def visit(module, path):
        for target in graph.get(module, ()):
            if target in path:
                cycle = path[path.index(target):]
                start = cycle.index(min(cycle))
                cycles.add(" -> ".join(cycle[start:] + cycle[:start] + [min(cycle)]))
            elif len(path) < 12:
                visit(target, path + [target])

    for module in graph:
        visit(module, [module])
    assert not cycles, sorted(cycles)


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ddllm"):
                offenders += ["%s: from %s import %s" % (path.name, node.module, alias.name)
                              for alias in node.names if alias.name.startswith("_") and alias.name != "__version__"]
    assert not offenders, offenders
