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

.PHONY: book book-html site-check test test-fast setup notebooks colab-rehearsal clean

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
# console errors, failed requests, unrendered or cut maths, overflow outside a scroll box, code
# and output lines that do not fit, NaN in tables, alt text, figure label sizes, page weight,
# broken links, widget output (scripts/site_check.py). Screenshots in _build/site-check/. Builds
# from stored outputs. Then every plotting function drawn on the chapters' inputs: no label
# covers another or is cut (measured from the figure's artists, tests/test_plotting.py).
site-check: setup
	@$(MAKE) --no-print-directory book-html HTML_EXECUTE=off
	python scripts/site_check.py _build/html --out _build/site-check
	python -m pytest -q -p no:cacheprovider tests/test_plotting.py \
	  -k "label_covers or collision_check or names_every_node or karate_club_writes"

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

# Every chapter in a fresh environment built the way Colab's is (the index's newest torch, jax,
# flax and optax, a stand-in google.colab, nothing of the course installed), each starting with
# its own first cell against this clone: scripts/colab_rehearsal.py. 53 minutes on 2 busy cores;
# REHEARSAL_ARGS="--chapters 01 07" for some chapters, --help for the rest.
colab-rehearsal: setup
	nice -n 10 python scripts/colab_rehearsal.py $(REHEARSAL_ARGS)

clean:
	rm -rf _build .pytest_cache
