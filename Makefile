# The two commands of the README:
#   make book   builds the course: environment, notebooks executed, HTML in _build/html
#   make test   runs the whole test suite (unit tests + every notebook under nbval)
SHELL := /bin/bash
VENV ?= $(or $(COURSE_VENV),$(HOME)/.cache/gnn-recsys-course/venv)
export COURSE_VENV := $(VENV)
# Use the datasets beside the clone when they are there (CI, course machines); else download.
SHARED_DATA := $(abspath ../shared/datasets)
ifneq ($(wildcard $(SHARED_DATA)/ml-latest-small),)
export COURSE_DATA_DIR ?= $(SHARED_DATA)
endif
export PATH := $(VENV)/bin:$(PATH)
# Notebook kernels and tests import course_lib from this clone, whichever clone set up the venv last.
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: book book-html site-check test test-fast setup notebooks clean

setup:
	@bash scripts/setup.sh

# BOOK_EXECUTE=off builds the book from the outputs stored in the notebooks instead of running
# them again (CI does this right after `make test`, whose nbval run re-executes every notebook).
BOOK_EXECUTE ?= force

book: setup
	@$(MAKE) --no-print-directory book-html HTML_EXECUTE=$(BOOK_EXECUTE)

# The build alone, with whatever jupyter-book is on PATH (the GitHub Pages workflow installs only
# requirements-book.txt): from the stored outputs unless HTML_EXECUTE says otherwise.
HTML_EXECUTE ?= off
book-html:
	@mkdir -p _build
	@sed -e 's/^\(  execute_notebooks:\) [a-z]*/\1 $(HTML_EXECUTE)/' \
	  -e 's|^\(    course_site:\) _ext|\1 $(CURDIR)/_ext|' _config.yml > _build/_config.yml
	COURSE_NO_PROGRESS=1 jupyter-book build --all --warningiserror --keep-going --config _build/_config.yml .
	@echo "Open $(CURDIR)/_build/html/index.html in a browser."

# The built book in a real browser (Debian's Chromium, headless) at desktop and phone widths:
# console errors, failed requests, unrendered maths, overflow, alt text, figure label sizes,
# broken links, widget output. Screenshots in _build/site-check/. Builds from stored outputs.
site-check: setup
	@$(MAKE) --no-print-directory book-html HTML_EXECUTE=off
	python scripts/site_check.py _build/html --out _build/site-check

# Two workers: the notebooks and the grader's kernels run two at a time (each notebook stays on
# one worker, its cells in order; tests/conftest.py orders the files longest first). One OpenMP
# thread per process: two processes that each spin two threads on two cores slow PyG's scatter
# operations down by an order of magnitude (course_lib.settings.TORCH_THREADS: the book's
# results are made with 2). No progress bars under test: a
# bar's widget messages can overflow the kernel's output queue, which nbval reads only after a
# cell has finished.
TEST_WORKERS ?= 2
test: setup
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} COURSE_TORCH_THREADS=$${COURSE_TORCH_THREADS:-1} \
	  COURSE_NO_PROGRESS=1 python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# The library's fast tests alone: no notebook, no training on MovieLens, no Jupyter kernel; the
# checkers under one or two check seeds and one correct variant each (`make test`: 50 seeds, all).
test-fast: setup
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} COURSE_TORCH_THREADS=$${COURSE_TORCH_THREADS:-1} \
	  python -m pytest -n $(TEST_WORKERS) --dist loadfile tests -m "not kernel and not seeds" $(PYTEST_ARGS)

# Re-execute the notebooks in place, refreshing the stored outputs nbval compares against. No
# progress bars in stored outputs: the book shows text and figures, not widget state (a live
# notebook, in Jupyter or Colab, has its bars).
notebooks: setup
	COURSE_NO_PROGRESS=1 python scripts/execute_notebooks.py book/*.ipynb

clean:
	rm -rf _build .pytest_cache
