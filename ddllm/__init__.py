"""ddllm: every LiteLLM attempt, retry and fallback visible in Datadog.

This module stays cheap to import: the start-up hook imports it in every Python process
of an environment where ddllm is installed. LiteLLM and ddtrace load only in `patch()`.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "patch", "unpatch", "is_patched"]


def patch(**overrides: object) -> bool:
    """Instrument LiteLLM. Safe to call twice; see `ddllm.instrument.config` for the overrides."""
    from ddllm.instrument import patching

    return patching.patch(**overrides)


def unpatch() -> None:
    """Remove exactly the wrappers `patch()` installed, whoever wrapped after us."""
    from ddllm.instrument import patching

    patching.unpatch()


def is_patched() -> bool:
    from ddllm.instrument import patching

    return patching.is_patched()
