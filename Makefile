# Two commands: `make reproduce` (main job) and `make test`.  Both create or reuse .venv and
# install the pinned requirements first, so they work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.idc_lite-installed

.PHONY: setup reproduce smoke sweep test test-fast docs results lint benchmark clean-runs assignments grade lab lab-source

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

## Run all notebooks with papermill on the digits default; the report lands in runs/<time>/summary.md.
## PRESET=name runs them with a preset's parameters (cifar10_cpu, mnist, cifar10, cifar100; see docs/data.md, "Presets");
## their data come from $IDC_LITE_DATA (a torchvision root, or a folder or .tar.gz of class folders)
reproduce: setup
	$(PY) -m idc_lite reproduce $(if $(PRESET),--preset $(PRESET)) $(ARGS)

## The same chain in smoke mode (seconds): proves the code path only
smoke: setup
	$(PY) -m idc_lite reproduce --smoke $(if $(PRESET),--preset $(PRESET)) $(ARGS)

## Ablation sweep: notebooks 02 and 04 with papermill over a grid of parameters, each point in its own run folder
## (runs/sweep-<name>-<time>/points/), one table sweep.md and plot sweep.png; GRID=file (default: the digits grid);
## WORKERS=N runs N points at once on a Dask LocalCluster, SCHEDULER=address on a running Dask cluster
sweep: setup
	$(PY) -m idc_lite sweep $(or $(GRID),sweeps/digits_ablations.json) $(if $(WORKERS),--workers $(WORKERS)) \
		$(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(ARGS)

## Every test (what CI runs): ruff, unit, fidelity, bad input, the layering contract, the docs build and its
## browser check, the papermill chain, autograding, sweeps, torchrun (smoke mode), then nbval on the notebooks at lab
## sizes (the student copies' sizes, with the shipped models)
test: setup
	@$(PY) -c "from idc_lite.foundation import describe_machine, machine_info; print('tests run', describe_machine(machine_info()))"
	$(PY) -m ruff check idc_lite tests benchmarks
	IDC_LITE_SMOKE=1 MPLBACKEND=Agg $(PY) -m pytest -q -p no:cacheprovider --durations=25 tests
	IDC_LITE_LAB=1 IDC_LITE_HEADLESS=1 MPLBACKEND=Agg IDC_LITE_RUN_DIR=$$(mktemp -d) $(PY) -m pytest -q \
		-p no:cacheprovider --nbval-lax notebooks

## The edit loop: every test not marked slow (notebook chains, autograding, sweeps, torchrun, docs build) or
## browser (JupyterLab, Chromium); a few minutes on a 2-core machine
test-fast: setup
	$(PY) -m ruff check idc_lite tests benchmarks
	IDC_LITE_SMOKE=1 MPLBACKEND=Agg $(PY) -m pytest -q -p no:cacheprovider -m "not slow and not browser" tests

## The book (docs/, Sphinx + MyST-NB; the notebooks as chapters, not executed) into docs/_build/html, warnings as errors
docs: setup
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

## Rewrite the generated results blocks of README.md and docs/ from the recorded reference runs (docs/records/)
results: setup
	$(PY) -m idc_lite results render

## Student copies of the notebooks (nbgrader): assignments/release/<notebook>/<notebook>.ipynb
assignments: setup
	$(PY) -m idc_lite assignments --course assignments

## Autograde the notebooks in SUBMISSIONS (the student copies' file names); writes SUBMISSIONS/grades.csv.
## A folder of student folders (SUBMISSIONS/<student>/...) is graded as a class: a class table too, and
## WORKERS=N (a Dask LocalCluster) or SCHEDULER=address grade several students at once
## Lab sizes and the shipped models unless FULL=1 (full settings, the same points); MODEL=runs/<run>/model.pt: notebook
## 02 uses that model instead of the shipped one; IDC_LITE_SMOKE=1: smoke settings
grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder [FULL=1] [MODEL=runs/<run>/model.pt] [WORKERS=2]" >&2; exit 2; }
	$(PY) -m idc_lite grade "$(SUBMISSIONS)" $(if $(MODEL),--model "$(MODEL)") $(if $(FULL),--full) $(if $(WORKERS),--workers $(WORKERS)) \
		$(if $(SCHEDULER),--scheduler $(SCHEDULER))

## JupyterLab on your own student copies of the notebooks (my_notebooks/, made from the source when missing and
## never overwritten; LAB_FOLDER=... another folder), its kernel this environment's Python; LAB_ARGS passes
## options to jupyter lab, e.g. LAB_ARGS="--no-browser --port 8899".  lab-source: the instructor's notebooks/.
lab: setup
	$(PY) -m idc_lite lab $(if $(LAB_FOLDER),--folder "$(LAB_FOLDER)") -- $(LAB_ARGS)

lab-source: setup
	$(PY) -m idc_lite lab --source -- $(LAB_ARGS)

## Speed figures (printed, not asserted): per preset, then what one digits training step costs under
## other thread, memory-layout and checkpoint settings (BENCH_ARGS="--skip-cifar" skips the slow CIFAR row)
benchmark: setup
	$(PY) benchmarks/run_benchmarks.py $(BENCH_ARGS)
	$(PY) benchmarks/step_costs.py

clean-runs:
	rm -rf runs
