"""``gradescope``: the Gradescope autograder zip (setup.sh, run_autograder, the kit, no source notebook).

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once when it builds the
image (Ubuntu), then ``/autograder/run_autograder`` per submission, which must leave
``/autograder/results/results.json``. run_autograder reads its paths from environment variables
(AUTOGRADER_ROOT, AUTOGRADER_KIT, AUTOGRADER_PYTHON) so it can be tested off Gradescope.

The zip holds the grading package, grading.toml, the MNIST loader (not the source notebook, which
holds the answers) and, only when the graders use it, ``solutions/``: the graders read the
reference in the trusted grading process; the sandbox binds only the engine runtime and the assignment worker tasks, so student
code never sees it. ``with_mnist`` adds the four MNIST files; otherwise the grader downloads MNIST.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ..engine.config import KIT_ROOT, GradingConfig
from .zipfiles import write_zip

MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
# Only what grading needs: no Jupyter, no nbgrader on the grading image.
GRADING_DEPENDENCIES = ("torch", "torchvision", "numpy", "matplotlib", "pytest", "jinja2", "markupsafe")

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope image setup (Ubuntu), run once from /autograder/source.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-pip python3-venv bubblewrap
python3 -m pip install --upgrade pip
# CPU wheels of torch: Gradescope has no GPU, and the CUDA build is gigabytes larger.
python3 -m pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Grade one Gradescope submission: the first .ipynb (else .py) in submission/.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
KIT="${AUTOGRADER_KIT:-$ROOT/source}"
PYTHON="${AUTOGRADER_PYTHON:-python3}"
mkdir -p "$ROOT/results"
file=$(find "$ROOT/submission" -maxdepth 3 -type f -name '*.ipynb' ! -path '*/.ipynb_checkpoints/*' | sort | head -n 1)
if [ -z "$file" ]; then
  file=$(find "$ROOT/submission" -maxdepth 3 -type f -name '*.py' | sort | head -n 1)
fi
# nothing submitted: grade a missing file, which gives every part zero with the reason
file="${file:-$ROOT/submission/__{assignment}__missing__.ipynb}"
work=$(mktemp -d)
cp -- "$file" "$work/" 2>/dev/null || true
if [ -d "$KIT/mnist" ] && [ -z "${CNN_MNIST_DIR:-}" ]; then
  export CNN_MNIST_DIR="$KIT/mnist"
fi
cd "$KIT"
exec "$PYTHON" -m autograder grade "$work/$(basename -- "$file")" --out "$ROOT/results" --quiet
"""


def pinned_requirements(kit_root: Path = KIT_ROOT) -> str:
    """requirements.txt: the grading dependencies with the pins of pyproject.toml."""
    dependencies = tomllib.loads((kit_root / "pyproject.toml").read_text())["project"]["dependencies"]
    keep = [d for d in dependencies if re.split(r"[<>=!~ ]", d, maxsplit=1)[0].lower() in GRADING_DEPENDENCIES]
    return "\n".join(keep) + "\n"


def graders_need_solutions(graders_dir: Path) -> bool:
    return any("solutions" in path.read_text(encoding="utf-8") for path in graders_dir.glob("*.py"))


def build_gradescope_zip(config: GradingConfig, zip_path: Path, with_mnist: bool = False,
                         kit_root: Path = KIT_ROOT) -> list[str]:
    """Write the autograder zip; return its member names."""
    ASSIGNMENT = config.definition.name
    files: dict[str, bytes | Path] = {
        "setup.sh": SETUP_SH, "run_autograder": RUN_AUTOGRADER.replace("{assignment}", ASSIGNMENT),
        "requirements.txt": pinned_requirements(kit_root),
        "pyproject.toml": kit_root / "pyproject.toml",  # the kit's release, for each result's provenance
        "grading.toml": Path(config.path),
        f"source/{ASSIGNMENT}/mnist_data.py": kit_root / "source" / ASSIGNMENT / "mnist_data.py",
        # the locked import cell is restored from the release, as nbgrader does
        f"release/{ASSIGNMENT}/{ASSIGNMENT}.ipynb": kit_root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
    }
    package = kit_root / "autograder"
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[f"autograder/{path.relative_to(package).as_posix()}"] = path
    if graders_need_solutions(config.definition.graders_dir):
        for path in sorted((kit_root / "solutions").glob("*.py")):
            files[f"solutions/{path.name}"] = path
    if with_mnist:
        mnist = config.data.mnist_directory(config.path)
        if mnist is None:
            raise FileNotFoundError("--with-mnist needs CNN_MNIST_DIR or [data] mnist_dir")
        for name in MNIST_FILES:
            files[f"mnist/{name}"] = mnist / name
    write_zip(zip_path, files, executable=("setup.sh", "run_autograder"))
    return list(files)
