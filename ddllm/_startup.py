"""Start-up hook, imported by `ddllm.pth` in every interpreter of an environment with ddllm.

It must cost nearly nothing: it imports only `sys` and `os` and puts one small finder on
`sys.meta_path` that waits for `litellm`. When LiteLLM is imported in a process that ddtrace
bootstrapped (`ddtrace-run`, or `import ddtrace.auto`), it calls `ddllm.patch()`.
`DDLLM_ENABLED=false` turns all of it off. Nothing here may raise into the interpreter.

It also takes LiteLLM over from ddtrace's own litellm integration (DESIGN.md, "ddtrace's own
integrations"): this hook runs while `site` reads `.pth` files, before `ddtrace-run`'s
`sitecustomize` calls `patch_all`, so `DD_TRACE_LITELLM_ENABLED=false`, ddtrace's documented
switch, set here when the user did not set it, keeps ddtrace from tracing the same calls
twice. A user who sets `DD_TRACE_LITELLM_ENABLED=true` keeps both. If ddllm then cannot
patch this LiteLLM, `ddllm.instrument.patching` hands the calls back to ddtrace.
"""
import os
import sys

_TARGET = "litellm"
_FALSE_WORDS = ("false", "0", "no", "off")
DDTRACE_LITELLM_VARIABLE = "DD_TRACE_LITELLM_ENABLED"

# Set beside it, so a child process (`ddtrace-run` itself starts one, and so do servers with
# workers) knows the "false" is ddllm's and not the user's choice.
_TAKEN_OVER_MARKER = "_DDLLM_TOOK_OVER_DD_TRACE_LITELLM"

# True when ddllm turned ddtrace's litellm integration off (the user had not chosen).
took_over_from_ddtrace = False


def _take_over_from_ddtrace():
    global took_over_from_ddtrace
    if DDTRACE_LITELLM_VARIABLE not in os.environ:
        os.environ[DDTRACE_LITELLM_VARIABLE] = "false"
        os.environ[_TAKEN_OVER_MARKER] = "1"
    took_over_from_ddtrace = (
        os.environ.get(_TAKEN_OVER_MARKER) == "1" and os.environ.get(DDTRACE_LITELLM_VARIABLE) == "false")


def ddtrace_bootstrapped():
    """True when ddtrace-run (or `import ddtrace.auto`) initialised this process."""
    return "ddtrace.bootstrap.preload" in sys.modules


def _autopatch(module):
    patching = sys.modules.get("ddllm.instrument.patching")
    if patching is not None and patching.is_patched():  # a reload of a patched litellm
        try:
            patching.patch_again_after_reload(module)
        except Exception:
            pass
        return
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
    _take_over_from_ddtrace()
    if _TARGET in sys.modules:
        _autopatch(sys.modules[_TARGET])
        return
    sys.meta_path.insert(0, LiteLLMImportWatcher())


try:
    install()
except Exception:  # a broken hook must not stop the interpreter from starting
    pass
