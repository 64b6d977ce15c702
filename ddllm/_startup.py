"""Start-up hook, imported by `ddllm.pth` in every interpreter of an environment with ddllm.

It must cost nearly nothing and change nothing in a process that ddtrace does not start: it
imports only `sys` and `os`, leaves `os.environ` as it is, and puts one small finder on
`sys.meta_path` that looks at three module names (it stays: `importlib.reload(litellm)`
finds LiteLLM through it again). When LiteLLM is imported in a process that ddtrace bootstrapped (`ddtrace-run`, or `import
ddtrace.auto`), it calls `ddllm.patch()`. `DDLLM_ENABLED=false` turns all of it off.
Nothing here may raise into the interpreter.

When ddtrace's patching modules load, `ddllm.ddtrace_takeover` takes LiteLLM's calls over
from ddtrace's own litellm integration, in the processes ddtrace bootstraps only, without
setting any variable: under `ddtrace-run` a child's own hook takes over again; without, ddtrace
traces as it would without ddllm. A user who sets `DD_TRACE_LITELLM_ENABLED=true` keeps both.
If ddllm then cannot patch this LiteLLM, `ddllm.instrument.patching` hands the calls back.
"""

import os
import sys

from ddllm import ddtrace_takeover

_LITELLM = "litellm"
_DDTRACE_PATCHING = (ddtrace_takeover.DDTRACE_PATCHING_MODULE, ddtrace_takeover.LLMOBS_MODULE)
_WATCHED = (_LITELLM,) + _DDTRACE_PATCHING
_FALSE_WORDS = ("false", "0", "no", "off")


def _autopatch(module):
    patching = sys.modules.get("ddllm.instrument.patching")
    if patching is not None and patching.is_patched():  # a reload of a patched litellm
        try:
            patching.patch_again_after_reload(module)
        except Exception:
            pass
        return
    if not ddtrace_takeover.ddtrace_bootstrapped():
        return
    try:
        from ddllm.instrument import patching

        patching.patch()
    except Exception:  # never break the application's import of litellm
        import logging

        logging.getLogger("ddllm").warning("ddllm: automatic instrumentation failed", exc_info=True)


def _on_load(module):
    try:
        if module.__name__ == _LITELLM:
            _autopatch(module)
        else:
            ddtrace_takeover.take_over(module)
    except Exception:  # never break the application's imports
        pass


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
        _on_load(module)


class LiteLLMImportWatcher:
    """A meta-path finder that only looks at LiteLLM and ddtrace's patching modules, and finds
    nothing itself."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _WATCHED:
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
    for name in _DDTRACE_PATCHING:
        if name in sys.modules:
            ddtrace_takeover.take_over(sys.modules[name])
    if _LITELLM in sys.modules:
        _autopatch(sys.modules[_LITELLM])
    sys.meta_path.insert(0, LiteLLMImportWatcher())


try:
    install()
except Exception:  # a broken hook must not stop the interpreter from starting
    pass
