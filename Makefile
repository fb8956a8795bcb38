# Everything a newcomer needs: `make run` serves the API locally, `make test` checks everything.
SHELL := /bin/bash
PORT ?= 3000
# uv is installed from PyPI into the user's Python if it is not on PATH yet.
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
SAM := $(UV) tool run --from aws-sam-cli==1.170.0 sam

.PHONY: help setup run test checks lint typecheck cfn-lint sam-validate requirements check-requirements \
        openapi configuration client unit infrastructure integration e2e suite build deploy smoke bench clean \
        invoke sam-env

help:
	@echo "make run    serve the API on http://127.0.0.1:$(PORT) over embedded AWS (moto)"
	@echo "make run FAKE_CRMS=1   the same, with fake Salesforce/HubSpot/Pipedrive/Zoho/Dynamics OAuth endpoints (consent page, token)"
	@echo "make invoke FUNCTION=GetCredentialsFunction EVENT=events/get_credentials.json   one handler, one event, no Docker (make run's AWS, else its own)"
	@echo "make sam-env   .local/sam-env.json for sam local invoke/start-api --env-vars (Docker), from the running make run"
	@echo "make test   ruff, import contracts, mypy, cfn-lint, sam validate --lint, unit + integration + e2e tests"
	@echo "make openapi   regenerate openapi.json from the functions (make test fails while it is stale)"
	@echo "make build / make deploy   sam build / sam deploy (real AWS account)"
	@echo "make smoke STACK_NAME=...   end-to-end smoke suite over HTTP against a deployed stack (or BASE_URL=... API_KEY=... OTHER_API_KEY=...; none: make run's)"

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

# FAKE_CRMS=1: fake OAuth authorize/token endpoints of the five CRMs beside the API
# (fake_crms), with the functions' OAUTH_*_URL_<PROVIDER> pointed at them.
run: setup
	PORT=$(PORT) $(if $(FAKE_CRMS),LOCAL_FAKE_CRMS=$(FAKE_CRMS)) $(UV) run credentials-local

# One function's handler once, as Lambda runs it (own process, its environment, its Timeout), on the
# embedded AWS of the `make run` on PORT, else on one of its own with the demo data; no Docker.
# FUNCTION: a logical id of template.yaml or a folder of functions/; EVENT: a file of events/.
invoke: setup
	@test -n "$(FUNCTION)" -a -n "$(EVENT)" \
	  || (echo "usage: make invoke FUNCTION=GetCredentialsFunction EVENT=events/get_credentials.json" && exit 2)
	@PORT=$(PORT) $(UV) run python -m local_stack.invoke '$(FUNCTION)' '$(EVENT)'

# The --env-vars file of `sam local invoke` / `sam local start-api` for the running `make run` on PORT.
SAM_ENV ?= .local/sam-env.json
sam-env: setup
	@PORT=$(PORT) $(UV) run python -m local_stack.sam_env --output '$(SAM_ENV)'

# lint-imports holds the shared package's one-way layers (contracts in pyproject.toml).
lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run lint-imports

typecheck: setup
	$(UV) run mypy layers/common/integration_credentials tools bench
	$(UV) run mypy --strict clients/python/src/integration_credentials_client

# The client package sync jobs install (clients/python): its wheel and sdist build, into a
# git-ignored directory.
client: setup
	$(UV) build --quiet clients/python --out-dir clients/python/dist

cfn-lint: setup
	$(UV) run cfn-lint template.yaml

# aws-sam-cli pins boto3 and pydantic exactly: it runs in its own tool environment, never in .venv.
sam-validate: setup
	$(SAM) validate --lint --region us-east-1

# The layer's requirements are exported from the lock file; `make test` fails if they drift.
# The AWS SDK comes from the Lambda Python runtime, with its whole closure: boto3, botocore,
# s3transfer and what they need (jmespath, python-dateutil, six, urllib3). Shipping those last four
# in the layer would shadow the runtime's copies under the runtime's botocore (docs/performance.md).
RUNTIME_PACKAGES := boto3 botocore s3transfer jmespath python-dateutil six urllib3
EXPORT := $(UV) export --frozen --no-dev --no-hashes --no-emit-project --no-header --quiet \
	$(foreach package,$(RUNTIME_PACKAGES),--no-emit-package $(package))

requirements: setup
	$(EXPORT) -o layers/common/requirements.txt

check-requirements: setup
	@diff <($(EXPORT)) layers/common/requirements.txt \
	  || (echo "layers/common/requirements.txt is stale: run make requirements" && exit 1)

# openapi.json is generated from the functions' routes; tests/infrastructure/test_openapi.py fails while the
# committed copy differs from what the code generates.
openapi: setup
	$(UV) run python -m generators.openapi

# docs/configuration.md is generated from the settings model (core/settings.py);
# tests/infrastructure/test_configuration_docs.py fails while the committed page differs.
configuration: setup
	$(UV) run python -m generators.configuration

unit: setup
	$(UV) run pytest tests/unit

infrastructure: setup
	$(UV) run pytest tests/infrastructure

integration: setup
	$(UV) run pytest tests/integration

e2e: setup
	$(UV) run pytest tests/e2e

# The static checks and the client's build run side by side (each one's output kept together); `suite` is
# the whole suite, in parallel over the machine's cores (pytest-xdist; loadgroup: a module that shares
# costly state with another names their group); PYTEST_ARGS adds options
# (`-n 0`: serially).
CHECKS := lint typecheck cfn-lint sam-validate check-requirements client

checks: setup
	@$(MAKE) --no-print-directory -j$(words $(CHECKS)) --output-sync=target $(CHECKS)

# `make test` runs the checks beside the suite (each check's output comes as one block when it ends);
# it fails if either does.
test: setup
	@$(MAKE) --no-print-directory -j2 checks suite

suite: setup
	$(UV) run pytest -n auto --dist loadgroup $(PYTEST_ARGS)

# Needs python3.13 on PATH (pyenv: PYENV_VERSION=3.11.7:3.13.0) and no Docker.
build: requirements
	$(SAM) build

deploy: build
	$(SAM) deploy --guided

# The end-to-end smoke suite over HTTP, a pytest suite (tools/smoke/suite; docs/operations.md):
#   make smoke STACK_NAME=integration-credentials-dev      after sam deploy: outputs, temporary keys
#   make smoke BASE_URL=https://... API_KEY=... OTHER_API_KEY=...   any stage, two fresh orgs' keys
#   make smoke                                              the local stack of `make run` on PORT
# WRITE_ONLY_API_KEY (a credentials:write key of API_KEY's org) runs the scope check with given keys;
# AUDIT_TIMEOUT=<seconds> bounds the wait for the audit records; SMOKE_ARGS passes more pytest options.
# Each setting comes from make's command line, else from SMOKE_<NAME> in the environment; keys
# reach the suite through its environment only, and the recipe is not echoed (it holds them).
smoke_setting = $(if $(filter command line,$(origin $(1))),$($(1)),$(SMOKE_$(1)))

smoke: setup
	@SMOKE_STACK_NAME='$(call smoke_setting,STACK_NAME)' SMOKE_BASE_URL='$(call smoke_setting,BASE_URL)' \
	  SMOKE_API_KEY='$(call smoke_setting,API_KEY)' SMOKE_OTHER_API_KEY='$(call smoke_setting,OTHER_API_KEY)' \
	  SMOKE_WRITE_ONLY_API_KEY='$(call smoke_setting,WRITE_ONLY_API_KEY)' \
	  SMOKE_AUDIT_TIMEOUT='$(call smoke_setting,AUDIT_TIMEOUT)' PORT=$(PORT) \
	  $(UV) run pytest tools/smoke/suite -v $(SMOKE_ARGS)

# How close the service is to the cost floor (AWS calls, cold start, warm CPU, size), on this
# machine with no cloud account: prints one table and writes it into BENCHMARKS.md. Never fails on a goal.
bench: setup
	SAM="$(SAM)" $(UV) run python -m bench

clean:
	rm -rf .aws-sam .venv .mypy_cache .ruff_cache .pytest_cache
