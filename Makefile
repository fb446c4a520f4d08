# tinybench: one source (modules/*.py), three outputs (tinybench/, assignments/ + release/, notebooks).
# Every target is phony: assignments/ and release/ are folders, so make would otherwise skip them.
PY = .venv/bin/python
VENV_BIN = $(CURDIR)/.venv/bin
STAMP = .venv/.tinybench-installed
NBGRADER = PATH="$(VENV_BIN):$$PATH" $(PY) -m nbgrader

.PHONY: setup export notebooks assignments release autograde-check lint check test test-busy pytest nbtest demo bench clean

setup: $(STAMP)

# torch is installed pinned, and only when none is importable: an unpinned torch downloads a multi-GB CUDA build.
$(STAMP): settings.ini setup.py pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

notebooks: setup
	$(PY) tools/build.py notebooks

export: setup
	$(PY) tools/build.py export

assignments: setup
	$(PY) tools/build.py assignments

release: assignments
	$(NBGRADER) generate_assignment "*" --force

autograde-check: setup
	$(PY) tools/autograde_check.py

lint: setup
	$(PY) tools/build.py lint

check: export release lint
	@git diff --exit-code --stat -- tinybench assignments release || \
	  (echo "make check: generated files differ from what is committed (run make export release and commit)"; exit 1)
	@test -z "$$(git status --porcelain --untracked-files=all -- tinybench assignments release)" || \
	  (git status --short -- tinybench assignments release; echo "make check: uncommitted generated files"; exit 1)
	@echo "make check: tinybench/, assignments/ and release/ match modules/"

pytest: setup
	$(PY) -m pytest

nbtest: notebooks
	cd modules && $(VENV_BIN)/nbdev_test --path . --n_workers 1

test: setup
	$(MAKE) lint
	$(MAKE) pytest
	$(MAKE) nbtest
	$(MAKE) autograde-check

# the suite with two CPU-bound processes alongside (DESIGN.md: tests hold on a shared, noisy machine)
test-busy: setup
	tools/test_busy.sh $(MAKE) test

demo: setup
	$(VENV_BIN)/tinybench run

bench: setup
	$(PY) bench/timing_overhead.py

clean:
	rm -rf modules/*.ipynb gradebook.db build dist *.egg-info .pytest_cache
