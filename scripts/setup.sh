#!/usr/bin/env bash
# Create (or reuse) the course's virtual environment and install the pinned stack. Idempotent: a
# second run with unchanged requirements only checks and returns in a few seconds.
#
#   COURSE_VENV      where the environment lives (default ~/.cache/gnn-recsys-course/venv, outside
#                    the clone so that fresh clones and CI reuse it)
#   COURSE_PYTHON    the interpreter to build it with (default python3.11)
#   COURSE_GPU=1     install the GPU variant (requirements-gpu.txt; NOT verified on the course's
#                    CPU-only CI machines)
#   TORCH_INDEX_URL  optional index for the torch wheel, e.g. https://download.pytorch.org/whl/cpu
#                    to avoid the multi-GB CUDA build on a laptop without a GPU
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${COURSE_VENV:-$HOME/.cache/gnn-recsys-course/venv}
PY=${COURSE_PYTHON:-$(command -v python3.11 || command -v python3)}
start=$(date +%s)

# Prebuilt torch-scatter/torch-sparse wheels beside the clone (CI) save a ~20 min source build.
if [ -d "$ROOT/../shared/wheels" ]; then
  export PIP_FIND_LINKS="${PIP_FIND_LINKS:+$PIP_FIND_LINKS }$(cd "$ROOT/../shared/wheels" && pwd)"
fi

variant=cpu; [ "${COURSE_GPU:-0}" = 1 ] && variant=gpu
stamp=$( (echo "$variant"; cat "$ROOT"/requirements*.txt "$ROOT/pyproject.toml") | sha256sum | cut -c1-16)

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
    echo "warning: $PY is not Python 3.11; the pinned stack is tested on 3.11 only" >&2
  echo "Creating the virtual environment $VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)

if [ "$(cat "$VENV/.course-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "Installing the course stack into $VENV ($variant; first time: several minutes)"
  if [ "$variant" = gpu ]; then
    "${pip[@]}" install -r "$ROOT/requirements-gpu.txt"
  else
    "${pip[@]}" install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch==2.13.0
    "${pip[@]}" install -r "$ROOT/requirements.txt"
    # compiled against the torch just installed, hence no build isolation
    "${pip[@]}" install --no-build-isolation -r "$ROOT/requirements-pyg-ext.txt"
  fi
  echo "$stamp" > "$VENV/.course-stamp"
fi

# course_lib, editable from this clone (a fresh clone re-points it; no downloads needed). The check
# ignores PYTHONPATH (the Makefile sets it), so that Jupyter started from the venv finds it too.
if ! (cd / && env -u PYTHONPATH "$VENV/bin/python" -c "import course_lib, sys; sys.exit(course_lib.__file__ != '$ROOT/course_lib/__init__.py')" 2>/dev/null); then
  "${pip[@]}" install --quiet --no-deps --no-build-isolation -e "$ROOT"
fi
echo "Environment ready: $VENV ($(( $(date +%s) - start )) s)"
