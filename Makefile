# The project's entry points. Each creates .venv on first use and reuses it afterwards.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install repro test bench grid push pull clean-venv

install: $(STAMP)

# torch/torchvision are pinned to the builds on this machine's disk (see README).
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | { grep -v '^WARNING: Location' || true; }
	touch $(STAMP)

# dvc repro exits 0 even when it could not copy an output into its cache (a full disk): the check fails then.
repro: install
	dvc repro
	$(PY) -m faceattr.cache_check

test: install
	$(PY) -m pytest

# Speed and memory against a naive pipeline and the compute ceiling, then `faceattr serve`'s latency
# (benchmarks/README.md);
# `make bench BENCH_ARGS=--quick` for the 5-minute version.
BENCH_ARGS ?=
bench: install
	python benchmarks/bench.py --json benchmarks/last_run.json $(BENCH_ARGS)
	python benchmarks/serve_latency.py --json benchmarks/last_serve.json $(filter --quick,$(BENCH_ARGS))

# The published project's grid as DVC experiments; writes metrics/grid.md.
grid: install
	python -m faceattr.grid

# Share data and models through the default DVC remote (see README: Remote storage).
push: install
	dvc push

pull: install
	dvc pull

clean-venv:
	rm -rf $(VENV)
