#!/usr/bin/env bash
# Gradescope image setup: run once, as root, from /autograder/source, when Gradescope builds the
# autograder's image (Ubuntu 22.04 with Python 3.10, Gradescope's default; Ubuntu 24.04 with 3.12).
# Both proven end to end by scripts/gradescope_sim/prove.sh (log: bench/gradescope_sim.log).
#
# - The grader gets a virtual environment of its own, /autograder/venv, made with the image's
#   python3: nothing is pip-installed system-wide (PEP 668 refuses that on Ubuntu 24.04 and Debian
#   12+), and Gradescope's own harness keeps the system Python it expects.
# - torch and torchvision are the CPU builds from PyTorch's CPU index (Gradescope has no GPU, and
#   PyPI's Linux wheels add ~3 GB of CUDA libraries); PyPI's build only if that index is unreachable.
# - bubblewrap is installed but Gradescope's container normally cannot create the namespaces it
#   needs: the grader then confines student code with a fresh uid per worker, Landlock and limits
#   (see the README, "What the sandbox guarantees where").
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
VENV="${AUTOGRADER_VENV:-/autograder/venv}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"

apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates >/dev/null
apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null \
  || echo "setup.sh: bubblewrap not installed (the grader confines student code without it)" >&2

# The kit runs on Python 3.10 to 3.13.
if ! python3 -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))'; then
  echo "setup.sh: this image's python3 is $(python3 --version 2>&1); the grader needs Python 3.10 to 3.13" \
       "(choose Ubuntu 22.04 or 24.04 in Gradescope's autograder settings)" >&2
  exit 1
fi
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip

# torch and torchvision first, with the pins of requirements.txt, from the CPU index
torch_pins=$(grep -E '^(torch|torchvision)[=<>!~ ]' requirements.txt | tr '\n' ' ')
# shellcheck disable=SC2086
if ! "$VENV/bin/python" -m pip install -q --retries 1 --timeout 30 --index-url "$TORCH_INDEX_URL" $torch_pins; then
  echo "setup.sh: $TORCH_INDEX_URL unreachable: installing PyPI's torch (CUDA build, ~3 GB more)" >&2
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install -q $torch_pins
fi
# the rest from PyPI (torch==X is satisfied by X+cpu, so it is not fetched again)
"$VENV/bin/python" -m pip install -q -r requirements.txt
"$VENV/bin/python" -m pip cache purge >/dev/null 2>&1 || true
"$VENV/bin/python" - <<'PY'
import sys, torch, torchvision, numpy
print(f"setup.sh: Python {sys.version.split()[0]}, torch {torch.__version__}, "
      f"torchvision {torchvision.__version__}, numpy {numpy.__version__}, CUDA {torch.version.cuda}")
PY
# The kit imports and finds its assignment (a broken image fails here, at build time, not per
# student), and the data its workers read (MNIST's training arrays) is decoded once, into a cache
# that the workers' own uids can read: /root, the default cache's home, is closed to them.
CACHE="${CNN_KIT_CACHE:-/autograder/cache}"
mkdir -p "$CACHE"
[ ! -d mnist ] || [ -n "${CNN_MNIST_DIR:-}" ] || export CNN_MNIST_DIR="$PWD/mnist"
CNN_KIT_CACHE="$CACHE" "$VENV/bin/python" -c "
from autograder.engine.config import load_config
config = load_config()
files = config.definition.files_for_workers(config)
print('setup.sh: assignment', config.definition.name, '; worker data:', ', '.join(sorted(files)) or 'none')"
chmod -R a+rX "$CACHE"
chmod o+x /autograder  # the workers' uids may pass through to the cache and the environment (Landlock decides what they read)
