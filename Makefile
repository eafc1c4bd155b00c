# Two commands do everything: `make synth` and `make test`. Each sets up what it needs first:
# a virtualenv with this package and its dev tools, and the pinned CDK CLI and Node.js 22 from npm.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# node_modules/.bin first: the CDK CLI and the jsii runtime started by Python use Node.js 22 from npm.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true

PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: setup synth test demo lint typecheck dist format clean

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(PY_STAMP) $(NODE_STAMP)

## synth: synthesize every stage of the reference app into cdk.out/ and report per stack
synth: setup
	rm -rf cdk.out
	cdk synth --quiet --no-notices
	$(PY) -m constructs_lib.synth_report cdk.out

## test: lint, the import contracts and the types, then the whole test suite
test: setup lint typecheck
	$(PY) -m pytest

## demo: the Detect lab on a simulated fleet, without an AWS account: report in demo-out/
demo: $(PY_STAMP)
	$(PY) -m detect_lab demo --out demo-out

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

## typecheck: pyright (basic mode) over what library users import and what the examples show
typecheck: setup
	pyright

## dist: the wheel users install (dist/*.whl)
dist: setup
	rm -rf dist
	$(PY) -m pip wheel --no-deps --quiet --wheel-dir dist .

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache demo-out
