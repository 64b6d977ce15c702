# Every target builds .venv on first use, from the pinned constraints.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints/test.txt
SOURCES := $(shell find ddllm -name '*.py') setup.cfg setup.py pyproject.toml ddllm.pth \
           $(wildcard dashboards/*.json monitors/*.json)

.PHONY: test demo bench clean

$(VENV)/.deps: $(CONSTRAINTS) setup.cfg
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c $(CONSTRAINTS) setuptools wheel
	$(BIN)/python -m pip install -q --disable-pip-version-check -c $(CONSTRAINTS) \
	    ddtrace litellm wrapt datadog pytest pytest-asyncio hypothesis ddapm-test-agent datadog-api-client build
	touch $@

# ddllm is installed as a built wheel, not editable: the tests run what users install,
# the start-up hook (ddllm.pth) and the JSON assets included.
$(VENV)/.ddllm: $(VENV)/.deps $(SOURCES)
	rm -rf build
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall .
	rm -rf build
	touch $@

test: $(VENV)/.ddllm
	$(BIN)/pytest

demo: $(VENV)/.ddllm
	$(BIN)/python -m ddllm.demo

bench: $(VENV)/.ddllm
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info
