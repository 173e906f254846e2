# The grading image: `python -m course_lib.grade` in a container, for instructors who grade
# notebooks handed in by others (and on macOS, where the grader has no namespaces or Landlock).
#
#   docker build -t gnn-course-grader .
#   docker run --rm --network none --memory 8g --pids-limit 512 --cap-drop ALL \
#     --security-opt no-new-privileges -v "$PWD/submissions:/submissions:ro" \
#     -v "$PWD/reports:/reports" gnn-course-grader \
#     --jobs 2 --report /reports/grade-report.json /submissions/alice.ipynb /submissions/bob.ipynb
#
# The same pinned CPU stack as `make setup` (scripts/setup.sh); torch-scatter and torch-sparse
# are built from source here (about 20 minutes, once per image).
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg

# util-linux: `unshare` (used where the container allows user namespaces); g++: the PyG extensions
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++=4:12.2.0-3 util-linux=2.38.1-5+deb12u3 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/course
COPY requirements.txt requirements-book.txt requirements-pyg-ext.txt pyproject.toml README.md ./
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install -r requirements.txt \
    && pip install --no-build-isolation -r requirements-pyg-ext.txt

COPY course_lib ./course_lib
RUN pip install --no-deps --no-build-isolation . \
    && useradd --create-home --uid 1000 grader

USER 1000:1000
WORKDIR /home/grader
ENTRYPOINT ["python", "-m", "course_lib.grade"]
CMD ["--help"]
