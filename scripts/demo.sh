#!/usr/bin/env bash
# The main job, from nothing: set the kit up, then grade the reference solution,
# the untouched student release (all stubs) and a sample buggy submission, and
# show each report. Results land in out/<name>/ (results.json, feedback.html).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${CNN_MNIST_DIR:-}" ] && [ -d ../shared/datasets/mnist ]; then
  export CNN_MNIST_DIR="$(cd ../shared/datasets/mnist && pwd)"
fi

grade() {  # grade NAME FILE: one submission, with its readable report
  echo
  echo "=== $1: $2"
  .venv/bin/python -m autograder grade "$2" --out "out/$1"
}
grade reference solutions/cnn_week1.py
grade release-stubs release/cnn_week1/cnn_week1.ipynb
sample=$(mktemp -d)/flipped_kernel.py
# a sample student mistake: the kernel flipped (true convolution instead of cross-correlation)
sed 's/^def conv2d_single(image, kernel/def _conv2d_single_correct(image, kernel/' solutions/cnn_week1.py > "$sample"
cat >> "$sample" <<'PY'


def conv2d_single(image, kernel, stride=1, padding=0):
    return _conv2d_single_correct(image, torch.flip(kernel, dims=(0, 1)), stride, padding)
PY
grade sample-flipped-kernel "$sample"
echo
echo "Reports: out/*/results.json (Gradescope format) and out/*/feedback.html (for students)."
