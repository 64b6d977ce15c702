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
