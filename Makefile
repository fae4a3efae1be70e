# LeNet-5 Lab: `make dashboard` to explore, `make test` to check everything.
# Every target is idempotent: a second run only re-does what changed.

PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.requirements.stamp
CHROMIUM := /usr/bin/chromium

MAKEFLAGS += --no-print-directory
# Each recipe runs as one bash script with -euo pipefail: a failing line stops it, and the
# `@` on a recipe's first line silences the whole recipe.
.ONESHELL:
SHELL       := bash
.SHELLFLAGS := -euo pipefail -c

.DEFAULT_GOAL := help
.PHONY: help venv data chromium dashboard test bench notebook clean

help:
	@echo "make dashboard   install, fetch MNIST, start the Streamlit dashboard"
	@echo "make test        install, fetch MNIST, install Chromium if missing, lint, run all tests"
	@echo "make bench       throughput and latency numbers as JSON (python -m lenet bench --json)"
	@echo "make notebook    how to open the notebooks"
	@echo "make clean       remove runs/ and test screenshots (keeps .venv and data/)"

venv: $(STAMP)

# Reinstall only when the pins or the package metadata change; the stamp lives inside .venv so
# deleting .venv also forces a reinstall.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || { echo "==> creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	echo "==> installing requirements.txt into $(VENV) (a fresh one takes a minute: torch is large)"
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	# The build backend warns on every editable install that ./lenet shadows the package; that
	# is the point of an editable install, so the warning is silenced here only.
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install --disable-pip-version-check -q -e . --no-deps
	touch $@

# Fast when the files are already present and verified; prints a progress bar when it downloads.
data: venv
	@$(PY) -m lenet data

chromium:
	@if [ ! -x $(CHROMIUM) ]; then
		echo "==> installing Debian chromium (browser tests drive it headless)"
		SUDO=""; if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			chromium fonts-liberation fonts-dejavu-core
	fi

# Address and port come from .streamlit/config.toml (localhost:8501).
dashboard: venv data
	@$(VENV)/bin/streamlit run dashboard/Home.py

# The linter first: it takes a second, and a lint error fails CI as surely as a test does.
test: venv data chromium
	@$(VENV)/bin/ruff check .
	$(PY) -m pytest

bench: venv data
	@$(PY) -m lenet bench --json

# Jupyter is not in requirements.txt: it is large, and neither the dashboard nor the tests need it
# (they execute the notebooks with nbclient). JupyterLab opens when .venv has it; otherwise this
# says how to get it, or how to open the notebooks in VS Code, without downloading anything itself.
notebook: venv data
	@if [ -x $(VENV)/bin/jupyter-lab ]; then
		exec $(VENV)/bin/jupyter-lab notebooks/
	fi
	echo "Notebooks: notebooks/train_model.ipynb (with the lenet package), notebooks/full_lenet.ipynb (self-contained)."
	echo "Their kernel must be this project's Python, $(PY), which has torch, plotly and ipykernel."
	echo ""
	echo "  VS Code:    open the repository folder, open a notebook, Select Kernel > Python Environments > .venv"
	echo "  JupyterLab: $(PY) -m pip install jupyterlab   then run   make notebook   again"
	echo ""
	echo "For a one-minute run (1 epoch on 10,000 images): LENET_QUICK=1 in the environment, e.g. LENET_QUICK=1 make notebook"

clean:
	rm -rf runs tests/screenshots
