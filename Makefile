# Twinkle: one virtual environment in the checkout (.venv), set up on demand.
#   make demo     set up everything, then run the main example against a local server
#   make test     set up everything, then run the codegen drift check, the breaking-change gate
#                 and the tests (the TypeScript client's among them)
#   make test-slow  the long suites (thousands of fuzz cases, kill trials, load), outside CI
#   make codegen  regenerate generated/ from openapi.yaml
#   make lint     ruff + OpenAPI validation (lint-npm adds Redocly and Spectral through npx)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch is installed first, on its own, so the packages that need it find the pinned build.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
STAMP := $(VENV)/.twinkle-installed
# The TypeScript client's tools (openapi-typescript, tsc) and its one runtime dependency, from
# clients/typescript/package-lock.json.
TS_DIR := clients/typescript
NODE_STAMP := $(TS_DIR)/node_modules/.twinkle-installed
PYTEST_ARGS ?= -q -m "not gpu and not slow" --durations=15
SLOW_PYTEST_ARGS ?= -q -m "slow and not gpu"

.PHONY: all install demo test test-slow codegen check breaking lint lint-npm clean-venv

all: test

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstalls only when pyproject.toml changes (or the stamp is removed).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$(TORCH_SPEC)'.split('==')[1])" 2>/dev/null \
		|| $(PY) -m pip install $(TORCH_PIP_ARGS) '$(TORCH_SPEC)'
	$(PY) -m pip install -e '.[server,dev]'
	touch $(STAMP)

$(NODE_STAMP): $(TS_DIR)/package.json $(TS_DIR)/package-lock.json
	cd $(TS_DIR) && npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

demo: install
	$(PY) -m twinkle_server.cli demo --data-dir .demo --run-example examples/self_cognition.py

test: install
	$(PY) -m codegen --check
	$(PY) -m codegen.breaking
	$(PY) -m pytest $(PYTEST_ARGS)

# The long suites kept out of CI's time budget: many fuzz cases, many kill trials, load, and the
# Ray Serve kill test (which needs the [ray] extra).
test-slow: install
	$(PY) -m pip install --quiet -e '.[ray]'
	$(PY) -m pytest $(SLOW_PYTEST_ARGS)

codegen: install
	$(PY) -m codegen

check: install
	$(PY) -m codegen --check

# The spec against the last release's (codegen/release/openapi.yaml); prints the changelog.
breaking: install
	$(PY) -m codegen.breaking

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/openapi-spec-validator openapi.yaml

lint-npm:
	npx --yes @redocly/cli@1.34.5 lint openapi.yaml
	npx --yes @stoplight/spectral-cli@6 lint --ruleset codegen/spectral.yaml --fail-severity warn openapi.yaml

clean-venv:
	rm -rf $(VENV)
