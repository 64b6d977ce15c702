"""patch()/unpatch(): idempotent, and removing exactly our wrappers wherever they sit among
ddtrace's."""

import litellm
import pytest
from ddtrace.contrib.internal.litellm import patch as ddtrace_litellm

import ddllm
from ddllm.instrument import patching
from ddllm.instrument.patching import WRAPT_PROXY

ENTRY_POINTS = ("completion", "acompletion")


def originals():
    found = {name: getattr(litellm, name) for name in ENTRY_POINTS}
    for name in ENTRY_POINTS:
        found["Router." + name] = vars(patching._router_owner(name))[name]
    return found


def router_entry(name):
    return vars(patching._router_owner(name))[name]


def unwrapped(function):
    while isinstance(function, WRAPT_PROXY):
        function = function.__wrapped__
    return function


def chain(function):
    """The wrappers around a function, outermost first, as the names of their wrapper functions."""
    names = []
    while isinstance(function, WRAPT_PROXY):
        names.append(function._self_wrapper.__module__)
        function = function.__wrapped__
    return names


@pytest.fixture
def clean():
    before = originals()
    yield before
    ddllm.unpatch()
    if getattr(litellm, "_datadog_patch", False):
        ddtrace_litellm.unpatch()
    assert originals() == before


def test_patch_twice_wraps_once(clean):
    assert ddllm.patch() and ddllm.patch()
    assert chain(litellm.completion) == ["ddllm.instrument.patching"]
    ddllm.unpatch()
    ddllm.unpatch()
    assert originals() == clean


def test_unpatch_under_ddtrace_wrapper_leaves_ddtrace_in_place(clean):
    ddllm.patch()
    ddtrace_litellm.patch()  # ddtrace wraps outside ours
    assert chain(litellm.completion)[0].startswith("ddtrace")
    ddllm.unpatch()
    for entry in (litellm.completion, litellm.acompletion, router_entry("completion"), router_entry("acompletion")):
        assert len(chain(entry)) == 1 and chain(entry)[0].startswith("ddtrace")
    assert unwrapped(litellm.completion) is clean["completion"]
    assert unwrapped(router_entry("acompletion")) is clean["Router.acompletion"]
    ddtrace_litellm.unpatch()
    assert originals() == clean


def test_unpatch_over_ddtrace_wrapper_leaves_ddtrace_in_place(clean):
    ddtrace_litellm.patch()
    ddllm.patch()  # ours outside ddtrace's
    assert chain(litellm.completion)[0] == "ddllm.instrument.patching"
    ddllm.unpatch()
    assert len(chain(litellm.completion)) == 1 and chain(litellm.completion)[0].startswith("ddtrace")
    ddtrace_litellm.unpatch()
    assert originals() == clean


def test_router_entry_points_restored(clean):
    owner = patching._router_owner("completion")
    before = vars(owner)["completion"]
    ddllm.patch()
    assert vars(owner)["completion"] is not before
    ddllm.unpatch()
    assert vars(owner)["completion"] is before


def test_patch_unpatch_loop_leaves_nothing_behind(clean):
    for _ in range(50):
        ddllm.patch()
        ddllm.unpatch()
    assert originals() == clean
    assert not ddllm.is_patched()


def test_disabled_by_environment(monkeypatch, clean):
    monkeypatch.setenv("DDLLM_ENABLED", "false")
    assert ddllm.patch() is False
    assert originals() == clean


def test_bad_configuration_warns_and_uses_default(monkeypatch, caplog, clean):
    monkeypatch.setenv("DDLLM_METRIC_TAG_LIMIT", "lots")
    assert ddllm.patch()
    assert patching.current_config().metric_tag_limit == 200
    assert "DDLLM_METRIC_TAG_LIMIT='lots'" in caplog.text and "default 200" in caplog.text


def test_litellm_without_its_attempt_functions_disables_ddllm_with_one_warning(clean, monkeypatch, caplog):
    """A LiteLLM release that no longer routes attempts through litellm.acompletion: ddllm
    stays out of it, says so once, and raises nothing."""
    monkeypatch.delattr(litellm, "acompletion")
    assert ddllm.patch() is False
    assert ddllm.patch() is False
    assert not ddllm.is_patched()
    warnings = [r.getMessage() for r in caplog.records if r.name == "ddllm" and r.levelname == "WARNING"]
    assert len(warnings) == 2 and "has no litellm.acompletion" in warnings[0]  # one per patch() call
    assert not isinstance(litellm.completion, WRAPT_PROXY)


def test_router_endpoint_table_wrapped_and_restored(clean):
    table = patching._router_endpoint_table()
    if table is None:
        pytest.skip("this LiteLLM serves every Router method from the class")
    original = vars(table)["member"]
    assert ddllm.patch()
    assert isinstance(vars(table)["member"], WRAPT_PROXY)
    ddllm.unpatch()
    assert vars(table)["member"] is original


RELOAD_SCRIPT = r"""
import importlib, logging, os
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
import litellm, ddllm
from ddllm.instrument import patching, request_state
assert ddllm.patch()
importlib.reload(litellm)
print(type(litellm.completion).__name__)
print(any(ours is litellm.completion for owner, name, ours in patching._installed if name == "completion"))
litellm.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                   api_key="sk-test", mock_response="hello")
ddllm.unpatch()
print(type(litellm.completion).__name__)
"""


def test_reload_of_litellm_is_patched_again_with_one_warning():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", RELOAD_SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["FunctionWrapper", "True", "function"]
    warnings = [line for line in out.stderr.splitlines() if "reloaded" in line]
    assert len(warnings) == 1 and "litellm.completion" in warnings[0]
