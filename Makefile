# Every target builds .venv on first use, from the pinned constraints.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints/test.txt
SOURCES := $(shell find ddllm -name '*.py') setup.cfg setup.py pyproject.toml ddllm.pth \
           $(wildcard dashboards/*.json monitors/*.json)

.PHONY: test test-newest test-oldest demo bench clean

# The oldest LiteLLM and ddtrace we support, for a smoke subset of the suite.
OLDEST_VENV := .venv-oldest
OLDEST_CONSTRAINTS := constraints/oldest.txt
OLDEST_SMOKE := tests/test_attempt_spans.py tests/test_streams.py tests/test_patching.py tests/test_llmobs.py \
                tests/test_faults_inside.py tests/test_http_provider.py tests/test_metrics_http.py \
                tests/test_cooldowns_http.py

$(VENV)/.deps: $(CONSTRAINTS) setup.cfg
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c $(CONSTRAINTS) setuptools wheel
	$(BIN)/python -m pip install -q --disable-pip-version-check -c $(CONSTRAINTS) \
	    ddtrace litellm wrapt datadog pytest pytest-asyncio hypothesis ddapm-test-agent datadog-api-client build \
	    fastapi starlette uvicorn uvloop websockets orjson backoff apscheduler pyjwt python-multipart cryptography \
	    redis semver expression fastapi-sso mcp soundfile
	touch $@

# ddllm is installed as a built wheel, not editable: the tests run what users install,
# the start-up hook (ddllm.pth) and the JSON assets included.
$(VENV)/.ddllm: $(VENV)/.deps $(SOURCES)
	rm -rf build
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall .
	rm -rf build
	touch $@

test: test-newest test-oldest

test-newest: $(VENV)/.ddllm
	$(BIN)/ddllm validate --strict dashboards monitors
	$(BIN)/pytest

$(OLDEST_VENV)/.deps: $(OLDEST_CONSTRAINTS) setup.cfg
	test -x $(OLDEST_VENV)/bin/python || $(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install -q --disable-pip-version-check -c $(OLDEST_CONSTRAINTS) setuptools wheel
	$(OLDEST_VENV)/bin/python -m pip install -q --disable-pip-version-check -c $(OLDEST_CONSTRAINTS) \
	    ddtrace litellm wrapt datadog pytest pytest-asyncio hypothesis ddapm-test-agent msgpack
	touch $@

$(OLDEST_VENV)/.ddllm: $(OLDEST_VENV)/.deps $(SOURCES)
	rm -rf build
	$(OLDEST_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall .
	rm -rf build
	touch $@

test-oldest: $(OLDEST_VENV)/.ddllm
	$(OLDEST_VENV)/bin/pytest $(OLDEST_SMOKE)

demo: $(VENV)/.ddllm
	$(BIN)/python -m ddllm.cli.demo

bench: $(VENV)/.ddllm
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(OLDEST_VENV) build dist *.egg-info
