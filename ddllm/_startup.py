"""Start-up hook, imported by `ddllm.pth` in every interpreter of an environment with ddllm.

It must cost nearly nothing: it imports only `sys` and `os` and puts one small finder on
`sys.meta_path` that waits for `litellm`. When LiteLLM is imported in a process that ddtrace
bootstrapped (`ddtrace-run`, or `import ddtrace.auto`), it calls `ddllm.patch()`.
`DDLLM_ENABLED=false` turns all of it off. Nothing here may raise into the interpreter.
"""
import os
import sys

_TARGET = "litellm"
_FALSE_WORDS = ("false", "0", "no", "off")


def ddtrace_bootstrapped():
    """True when ddtrace-run (or `import ddtrace.auto`) initialised this process."""
    return "ddtrace.bootstrap.preload" in sys.modules


def _autopatch(module):
    if not ddtrace_bootstrapped():
        return
    try:
        from ddllm.instrument import patching

        patching.patch()
    except Exception:  # never break the application's import of litellm
        import logging

        logging.getLogger("ddllm").warning("ddllm: automatic instrumentation failed", exc_info=True)


class _PatchAfterExec:
    """Loader proxy: runs the real loader, then the hook on the loaded module."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _autopatch(module)


class LiteLLMImportWatcher:
    """A meta-path finder that only looks at the name `litellm` and finds nothing itself."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchAfterExec(spec.loader)
                return spec
        return None


def install():
    if os.environ.get("DDLLM_ENABLED", "true").strip().lower() in _FALSE_WORDS:
        return
    if any(isinstance(finder, LiteLLMImportWatcher) for finder in sys.meta_path):
        return
    if _TARGET in sys.modules:
        _autopatch(sys.modules[_TARGET])
        return
    sys.meta_path.insert(0, LiteLLMImportWatcher())


try:
    install()
except Exception:  # a broken hook must not stop the interpreter from starting
    pass
