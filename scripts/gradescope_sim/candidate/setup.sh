#!/usr/bin/env bash
# Gradescope image setup, run once as root when Gradescope builds the image (Ubuntu 22.04 or
# 24.04 base; also Debian 12/13). Proven in scripts/gradescope_sim/run.sh.
# - a virtual environment in /autograder/venv: no system-wide pip (PEP 668 refuses it on
#   Ubuntu 24.04 and Debian 12+), nothing of the grader mixed with the image's Python;
# - CPU builds of torch/torchvision from PyTorch's CPU index (Gradescope has no GPU; PyPI's Linux
#   wheels pull ~3 GB of CUDA libraries); PyPI's build only if that index cannot be reached;
# - no bubblewrap: Gradescope's container cannot create namespaces, so it could never start.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1   # no pip cache left in the image
VENV=/autograder/venv
MIN_PYTHON=3.10   # Ubuntu 22.04's python3; the kit must import on it (no tomllib without a fallback)
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"

apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates >/dev/null

# Not python3.11 from jammy-updates universe: it is 3.11.0~rc1, which lacks
# sys.get_int_max_str_digits, and torch 2.14 fails to import on it (proven in gradescope_sim).
PYTHON=python3
"$PYTHON" -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$MIN_PYTHON'.split('.'))))" \
  || { echo "setup.sh: $("$PYTHON" --version) is older than $MIN_PYTHON" >&2; exit 1; }
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip

# torch and torchvision first, with the pins of requirements.txt, from the CPU index
torch_pins=$(grep -E '^(torch|torchvision)[=<>!~ ]' requirements.txt)
# shellcheck disable=SC2086
if ! "$VENV/bin/python" -m pip install -q --retries 2 --index-url "$TORCH_INDEX_URL" $torch_pins; then
  echo "setup.sh: $TORCH_INDEX_URL unreachable: installing PyPI's torch (CUDA build, ~3 GB more)" >&2
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install -q $torch_pins
fi
# the rest from PyPI (torch==X is satisfied by X+cpu, so it is not fetched again)
"$VENV/bin/python" -m pip install -q -r requirements.txt
# MNIST's training arrays decoded once, into the image, where the workers' fresh uids can read
# them (the default cache, /root/.cache, is 0700: a worker's np.load fails with EACCES)
export CNN_KIT_CACHE=/var/cache/cnn-week1-kit
[ ! -d mnist ] || export CNN_MNIST_DIR="$PWD/mnist"
mkdir -p "$CNN_KIT_CACHE"
"$VENV/bin/python" -c "from autograder.config import load_config; from autograder.data_cache import training_arrays; training_arrays(load_config())" \
  || echo "setup.sh: MNIST not decoded now; each grade will decode it" >&2
chmod -R a+rX "$CNN_KIT_CACHE"
"$VENV/bin/python" - <<'PY'
import sys, torch, torchvision, numpy
print(f"setup.sh: Python {sys.version.split()[0]}, torch {torch.__version__}, "
      f"torchvision {torchvision.__version__}, numpy {numpy.__version__}, CUDA {torch.version.cuda}")
PY
