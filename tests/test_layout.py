"""The runtime a production process loads (`ddllm.instrument`) imports nothing of the
tooling (`ddllm.assets`, `ddllm.cli`), directly or through another module."""

import ast
import pathlib
import re
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
                cycle = path[path.index(target) :]
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
                offenders += [
                    "%s: from %s import %s" % (path.name, node.module, alias.name)
                    for alias in node.names
                    if alias.name.startswith("_") and alias.name != "__version__"
                ]
    assert not offenders, offenders


REPO = pathlib.Path(__file__).resolve().parent.parent
# A name in the repository's own terms: a path under one of its top-level folders, or a
# document's file name (README.md, design.md, ...).
TOP_LEVEL_FOLDERS = ("ddllm", "tests", "docs", "benchmarks", "dashboards", "monitors", "slos", "constraints", ".ci")
REPOSITORY_PATH = re.compile(
    r"(?<![\w./-])((?:%s)/[\w./-]*\w|[\w-]+\.md)\b" % "|".join(re.escape(folder) for folder in TOP_LEVEL_FOLDERS)
)


def _tracked_text_files():
    """The repository's text files, tracked or about to be (untracked but not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        path = REPO / name
        if path.is_file() and path.suffix in (".py", ".md", ".txt", ".cfg", ".toml", ".in", ".json", ""):
            yield path


def test_no_file_names_a_repository_file_that_does_not_exist():
    """A reader who follows a citation finds the file: the design was once cited under a
    name the repository did not have."""
    tracked = {path.relative_to(REPO).as_posix() for path in _tracked_text_files()}
    folders = {str(pathlib.PurePosixPath(name).parent) for name in tracked}
    documents = {pathlib.PurePosixPath(name).name for name in tracked if name.endswith(".md")}
    missing = []
    for path in _tracked_text_files():
        if path == pathlib.Path(__file__).resolve():  # names the missing file on purpose
            continue
        text = path.read_text(errors="replace")
        for match in REPOSITORY_PATH.finditer(text):
            name = match.group(1).rstrip(".")
            if name.endswith(".md") and "/" not in name:
                found = name in documents
            else:
                folder, _, base = name.rpartition("/")
                module = "%s/%s.py" % (folder, base.split(".")[0])  # `tests/proxy_server.ProxyServer`
                found = name in tracked or name.rstrip("/") in folders or module in tracked or (REPO / name).exists()
            if not found:
                line = text.count("\n", 0, match.start()) + 1
                missing.append("%s:%d names %s" % (path.relative_to(REPO), line, name))
    assert not missing, missing
