# Model Trainer Service: developer commands. `make help` lists them.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install; pyproject.toml newer than this means reinstall.
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Flags for `make demo` / `make dev`, e.g. STACK_ARGS='--api-port 9000' (or STACK_* variables).
STACK_ARGS ?=
# The sample job's provider for `make demo`: openai (the emulator) or self_hosted.
PROVIDER ?= openai

.PHONY: help venv demo dev test lint openapi bench clean

help:
	@echo "make demo     start the whole stack, run examples/job.json end to end, stop (exit 0 = promoted)"
	@echo "              PROVIDER=self_hosted: train a tiny local model on CPU instead (examples/job-self-hosted.json)"
	@echo "make dev      start the whole stack and keep it running until Ctrl-C"
	@echo "make test     run the test suite (real Temporal dev server and PostgreSQL)"
	@echo "make lint     ruff check ., ruff format --check . and mypy ."
	@echo "make openapi  regenerate docs/api/rest/model-trainer.yaml"
	@echo "make bench    run the throughput benchmark"
	@echo "make venv     create .venv and install the project with its dev extras"
	@echo "make clean    remove .run/ (logs, dev databases) and build/cache files"

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[dev,embedded-db,training]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m scripts.stack demo --provider $(PROVIDER) $(STACK_ARGS)

dev: $(STAMP)
	$(BIN)/python -m scripts.stack dev $(STACK_ARGS)

# pytest exits 5 when it collected nothing; treat that, and a run with nothing passed,
# as a failure.
test: $(STAMP)
	@mkdir -p .run; \
	$(BIN)/pytest -q $(PYTEST_ARGS) 2>&1 | tee .run/test.log; \
	status=$${PIPESTATUS[0]}; \
	if [ $$status -eq 5 ]; then echo "make test: no tests ran" >&2; exit 1; fi; \
	if [ $$status -ne 0 ]; then exit $$status; fi; \
	if ! grep -Eq '[0-9]+ passed' .run/test.log; then \
		echo "make test: no test passed" >&2; exit 1; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

openapi: $(STAMP)
	$(BIN)/python -m api.openapi_export

bench: $(STAMP)
	$(BIN)/python -m bench.throughput

clean:
	rm -rf .run build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
