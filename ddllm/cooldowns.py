"""Deployments of the requested model group that a Router skips because they are cooling down.

A deployment that failed (a 429, or more fails than `allowed_fails`) is put in cooldown by
LiteLLM's Router, which then leaves it out when it picks a deployment: the request never
calls it, so it has no attempt span. The request span says so instead
(`llm.request.skipped_deployments`, `llm.request.skipped`).

How it is read, once when the request starts: this process's cooldown entries, which both
supported LiteLLM lines keep as `deployment:{id}:cooldown` -> {timestamp, cooldown_time, ...}:

- litellm 1.110 (Rust core): `router.health().cooldowns.cooldown_store.snapshot()`, a copy of
  the store's in-memory entries;
- litellm 1.106: `router.cooldown_cache.in_memory_cache.cache_dict`, the cooldown cache's own
  in-memory dict (read with `dict.get` only, never iterated: LiteLLM writes it meanwhile).

With no entry at all (the usual case) that is all a request pays. Only while some deployment
of the router is cooling down are the group's deployment ids looked up and matched. Nothing
here reads Redis: a cooldown another replica wrote and this process has not read yet is not
counted. Anything missing (an older or newer LiteLLM, a Router we do not know) is no tag.
"""
import time

from ddllm import attempt_facts
from ddllm.safety import guarded
from ddllm.tags import normalize_tag_value

_KEY = "deployment:%s:cooldown"
MAX_LISTED = 10  # `llm.request.skipped` names at most this many {provider}/{model}


def _local_entries(router):
    """This process's cooldown entries of `router`, keyed `deployment:{id}:cooldown`, or None."""
    health = getattr(router, "health", None)
    if health is not None:  # litellm 1.110
        store = getattr(getattr(health(), "cooldowns", None), "cooldown_store", None)
        snapshot = getattr(store, "snapshot", None)
        return snapshot() if snapshot is not None else None
    memory = getattr(getattr(router, "cooldown_cache", None), "in_memory_cache", None)  # litellm 1.106
    return getattr(memory, "cache_dict", None)


def _group_ids(router, group):
    registry = getattr(router, "registry", None)
    if registry is not None:  # litellm 1.110; its Router.get_model_ids is a deprecated alias
        return registry().names(group, kind="ids")
    get_model_ids = getattr(router, "get_model_ids", None)
    return get_model_ids(group) if get_model_ids is not None else ()


def _deployment(router, deployment_id):
    registry = getattr(router, "registry", None)
    if registry is not None:
        return registry().deployment(deployment_id)
    get_deployment = getattr(router, "get_deployment", None)
    return get_deployment(model_id=deployment_id) if get_deployment is not None else None


def _label(router, deployment_id):
    """`{provider}/{model}` of a deployment, as its attempt span's resource would read."""
    params = getattr(_deployment(router, deployment_id), "litellm_params", None)
    model = getattr(params, "model", None)
    provider = getattr(params, "custom_llm_provider", None)
    api_base = getattr(params, "api_base", None)
    provider, model = attempt_facts.split_provider(
        model if isinstance(model, str) else None,
        provider if isinstance(provider, str) and provider else None,
        api_base if isinstance(api_base, str) else None,
    )
    return "%s/%s" % (provider or "unknown", model or "unknown")


def _active(entry, now):
    if not isinstance(entry, dict):
        return False
    started, seconds = entry.get("timestamp"), entry.get("cooldown_time")
    if not isinstance(started, (int, float)) or not isinstance(seconds, (int, float)):
        return True  # an entry in the store is a cooldown; LiteLLM's TTL removes it
    return started + seconds > now


@guarded("request.cooldowns")
def cooling_in_group(router, group):
    """{deployment id: `{provider}/{model}`} of `group`'s deployments cooling down now, or None."""
    if router is None or not isinstance(group, str):
        return None
    entries = _local_entries(router)
    if not entries:
        return None
    now = time.time()
    cooling = [
        deployment_id for deployment_id in _group_ids(router, group) or ()
        if isinstance(deployment_id, str) and _active(entries.get(_KEY % deployment_id), now)
    ]
    if not cooling:
        return None
    return {deployment_id: _label(router, deployment_id) for deployment_id in cooling}


def skipped_tags(skipped):
    """(count, the tag value): distinct labels, sorted, at most MAX_LISTED of them."""
    labels = sorted({normalize_tag_value(label) for label in skipped.values()})
    return len(skipped), ",".join(labels[:MAX_LISTED])
