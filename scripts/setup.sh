#!/usr/bin/env bash
# Set the kit up from nothing (idempotent): bubblewrap for the sandbox, a virtual
# environment in .venv with the pinned dependencies, the kit itself (editable).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing bubblewrap (the sandbox for student code)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "setup: bubblewrap is not installed; grading will run with reduced isolation" \
         "(install the 'bubblewrap' package)" >&2
  fi
fi

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import autograder, torch, nbgrader" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.kit-installed ]; then
  echo "setup: installing the pinned dependencies (torch 2.14.1, nbgrader 0.9.6, ...)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import autograder, torch, nbgrader"
  touch .venv/.kit-installed
fi
echo "setup: ready ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
