"""Deployments of the requested model group that a Router skips because they are cooling down.

A deployment that failed (a 429, or more fails than `allowed_fails`) is put in cooldown by
LiteLLM's Router, which then leaves it out when it picks a deployment: the request never
calls it, so it has no attempt span. The request span says so instead
(`llm.request.skipped_deployments`, `llm.request.skipped`).

How it is read, once per request, when its first attempt starts (or when it ends, if the
Router tried nothing): the Router has then made its own cooldown read for its pick, so its
memory holds what it skipped. Both supported LiteLLM lines keep the entries there as
`deployment:{id}:cooldown` -> {timestamp, cooldown_time, ...}:

- litellm 1.110 (Rust core): `router.health().cooldowns.cooldown_store.snapshot()`, a copy of
  the store's in-memory entries;
- litellm 1.106: `router.cooldown_cache.in_memory_cache.cache_dict`, the cooldown cache's own
  in-memory dict (read with `dict.get` only, never iterated: LiteLLM writes it meanwhile).

With Redis (`Router(redis_host=...)`, the proxy's `router_settings`), a fleet shares its
cooldowns: the Router reads the group's entries from Redis when it picks (1.106 at most once
a second per entry it does not hold, `DEFAULT_COOLDOWN_REDIS_READ_INTERVAL_SECONDS`) and keeps
what it found in that memory. So a cooldown another instance wrote is seen here as the Router
saw it, and ddllm itself sends Redis nothing: no round trip is added to a request (measured:
the same Redis commands per request with and without ddllm, on both lines).

With no entry at all (the usual case) that is all a request pays. Only while some deployment
of the router is cooling down are the group's deployment ids looked up and matched. Anything
missing (an older or newer LiteLLM, a Router we do not know) is no tag.
"""

import time

from ddllm.instrument import attempt_facts
from ddllm.instrument.safety import guarded
from ddllm.instrument.tags import normalize_tag_value

_KEY = "deployment:%s:cooldown"
MAX_LISTED = 10  # `llm.request.skipped` names at most this many {provider}/{model}


def _local_entries(router):
    """This process's cooldown entries of `router`, keyed `deployment:{id}:cooldown`, or None."""
    health = getattr(router, "health", None)
    if health is not None:  # litellm 1.109 and later
        store = getattr(getattr(health(), "cooldowns", None), "cooldown_store", None)
        snapshot = getattr(store, "snapshot", None)
        if snapshot is not None:  # 1.110's store
            return snapshot()
        memory = getattr(store, "in_memory_cache", None)  # 1.109's: a DualCache, as 1.106's
    else:
        memory = getattr(getattr(router, "cooldown_cache", None), "in_memory_cache", None)  # litellm 1.106
    return getattr(memory, "cache_dict", None)


def _group_ids(router, group):
    registry = getattr(router, "registry", None)
    if registry is not None:  # litellm 1.110; its Router.get_model_ids is a deprecated alias
        return registry().names(group, kind="ids")
    get_model_ids = getattr(router, "get_model_ids", None)
    return get_model_ids(group) if get_model_ids is not None else ()


def _litellm_params(router, deployment_id):
    """The deployment's `litellm_params`, from its model_list entry (a live dict: only read)."""
    registry = getattr(router, "registry", None)
    if registry is not None:  # litellm 1.110
        entry = registry().deployment_dict(deployment_id)
    else:  # litellm 1.106
        get_model_info = getattr(router, "get_model_info", None)
        entry = get_model_info(id=deployment_id) if get_model_info is not None else None
    params = entry.get("litellm_params") if isinstance(entry, dict) else None
    return params if isinstance(params, dict) else {}


def _str(value):
    return value if isinstance(value, str) and value else None


def _label(router, deployment_id):
    """`{provider}/{model}` of a deployment, as its attempt span's resource would read."""
    params = _litellm_params(router, deployment_id)
    provider, model = attempt_facts.split_provider(
        _str(params.get("model")), _str(params.get("custom_llm_provider")), _str(params.get("api_base"))
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
def cooling_in_group(router: object, group: object) -> dict[str, str] | None:
    """{deployment id: `{provider}/{model}`} of `group`'s deployments cooling down now, or None."""
    if router is None or not isinstance(group, str):
        return None
    entries = _local_entries(router)
    if not entries:
        return None
    now = time.time()
    cooling = [
        deployment_id
        for deployment_id in _group_ids(router, group) or ()
        if isinstance(deployment_id, str) and _active(entries.get(_KEY % deployment_id), now)
    ]
    if not cooling:
        return None
    return {deployment_id: _label(router, deployment_id) for deployment_id in cooling}


def skipped_tags(skipped: dict[str, str]) -> tuple[int, str]:
    """(count, the tag value): distinct labels, sorted, at most MAX_LISTED of them."""
    labels = sorted({normalize_tag_value(label) for label in skipped.values()})
    return len(skipped), ",".join(labels[:MAX_LISTED])
