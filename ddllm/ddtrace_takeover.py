"""Taking LiteLLM's calls over from ddtrace's own litellm integration, in the processes ddtrace
bootstraps (`ddtrace-run`, `import ddtrace.auto`) and only there (docs/design.md, "ddtrace's
own integrations").

ddtrace patches its integrations on its own in two places: its bootstrap
(`ddtrace._monkey._patch_all`) and LLM Observability's start (`LLMObs._patch_integrations`).
Both end in `ddtrace._monkey.patch`. The start-up hook (`ddllm._startup`) wraps the three when
their modules load: inside those two, and only there, `patch` leaves litellm out when the user
chose nothing (no `DD_TRACE_LITELLM_ENABLED`, no `litellm` in `DD_PATCH_MODULES`). A call of
`ddtrace.patch(litellm=True)` of the user's own is carried out as it is. No variable is set:
a child process starts as the user configured it.

Imported by the start-up hook in every interpreter: it imports `os` and `sys` only.
"""

import os
import sys
import types

DDTRACE_LITELLM_VARIABLE = "DD_TRACE_LITELLM_ENABLED"
DDTRACE_PATCHING_MODULE = "ddtrace._monkey"
LLMOBS_MODULE = "ddtrace.llmobs._llmobs"
_LITELLM = "litellm"

# True when ddllm kept ddtrace from patching litellm (the user had not chosen).
took_over_from_ddtrace = False
_patching_on_its_own = False  # inside one of ddtrace's own patchings of every integration


def ddtrace_bootstrapped() -> bool:
    """True when ddtrace-run (or `import ddtrace.auto`) initialised this process."""
    return "ddtrace.bootstrap.preload" in sys.modules


def user_chose() -> bool:
    """Whether the user said whether ddtrace's litellm integration runs."""
    if DDTRACE_LITELLM_VARIABLE in os.environ:
        return True
    chosen = os.environ.get("DD_PATCH_MODULES", "")
    return any(entry.split(":", 1)[0].strip() == _LITELLM for entry in chosen.split(","))


def _on_its_own(patch_everything):
    """One of ddtrace's own patchings of every integration: `patch` knows it runs inside."""

    def ddtrace_patching_on_its_own(*args, **kwargs):
        global _patching_on_its_own
        outer, _patching_on_its_own = _patching_on_its_own, True
        try:
            return patch_everything(*args, **kwargs)
        finally:
            _patching_on_its_own = outer

    ddtrace_patching_on_its_own.__wrapped__ = patch_everything
    ddtrace_patching_on_its_own.ddllm_takeover = True
    return ddtrace_patching_on_its_own


def _without_litellm(patch):
    """ddtrace's `patch`: inside its own patchings, litellm is ddllm's unless the user chose."""

    def patch_but_litellm(*args, **modules):
        global took_over_from_ddtrace
        if _patching_on_its_own and modules.get(_LITELLM) and ddtrace_bootstrapped() and not user_chose():
            modules[_LITELLM] = False
            took_over_from_ddtrace = True
        return patch(*args, **modules)

    patch_but_litellm.__wrapped__ = patch
    patch_but_litellm.ddllm_takeover = True
    return patch_but_litellm


def _wrapped_once(function, wrap):
    # ours are marked: a function of ddtrace's may carry `__wrapped__` of its own decorator
    if not callable(function) or getattr(function, "ddllm_takeover", False):
        return function
    return wrap(function)


def take_over(module: types.ModuleType) -> None:
    """Wrap ddtrace's patching in `module` (`ddtrace._monkey` or LLM Observability's), once."""
    if module.__name__ == DDTRACE_PATCHING_MODULE:
        setattr(module, "patch", _wrapped_once(getattr(module, "patch", None), _without_litellm))
        setattr(module, "_patch_all", _wrapped_once(getattr(module, "_patch_all", None), _on_its_own))
    elif module.__name__ == LLMOBS_MODULE:
        llmobs = getattr(module, "LLMObs", None)
        patch_integrations = vars(llmobs).get("_patch_integrations") if isinstance(llmobs, type) else None
        if isinstance(patch_integrations, staticmethod):
            setattr(
                llmobs, "_patch_integrations", staticmethod(_wrapped_once(patch_integrations.__func__, _on_its_own))
            )
