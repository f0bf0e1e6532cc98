# Two commands: `make reproduce` (main job) and `make test`.  Both create or reuse .venv and
# install the pinned requirements first, so they work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.idc_lite-installed

.PHONY: setup reproduce smoke test lint benchmark clean-runs

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

## Run all notebooks with papermill on the digits default; the report lands in runs/<time>/summary.md
reproduce: setup
	$(PY) -m idc_lite.reproduce $(ARGS)

## The same chain in smoke mode (seconds): proves the code path only
smoke: setup
	$(PY) -m idc_lite.reproduce --smoke $(ARGS)

## Unit and fidelity tests, nbval on the notebooks (smoke mode), papermill chain, stripped-notebook check, ruff
test: setup
	$(PY) -m ruff check idc_lite tests benchmarks
	IDC_LITE_SMOKE=1 MPLBACKEND=Agg $(PY) -m pytest -q -p no:cacheprovider tests
	IDC_LITE_SMOKE=1 MPLBACKEND=Agg IDC_LITE_RUN_DIR=$$(mktemp -d) $(PY) -m pytest -q -p no:cacheprovider \
		--nbval-lax notebooks

## Speed and accuracy figures (printed, not asserted)
benchmark: setup
	$(PY) benchmarks/run_benchmarks.py

clean-runs:
	rm -rf runs
