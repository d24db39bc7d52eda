#!/usr/bin/env bash
# The Gradescope autograder, proven end to end on Gradescope's own images, without Gradescope.
#
#   sudo scripts/gradescope_sim/prove.sh [--release jammy] [--release noble] [--memory SIZE] [--cpus N]
#                                        [--wheelhouse DIR] [--log bench/gradescope_sim.log]
#
# 1. builds the zip instructors upload (`python -m autograder gradescope --with-mnist`);
# 2. makes the submissions: the reference notebook, a buggy notebook (a flipped kernel and a
#    missing +1), an empty submission, a folder with Untitled.ipynb beside cnn_week1.ipynb, and a
#    single notebook saved under another name;
# 3. for each release (default: jammy = Ubuntu 22.04, Gradescope's default image, Python 3.10),
#    run.sh builds a fresh root filesystem with debootstrap, unpacks the zip into
#    /autograder/source, runs setup.sh once and run_autograder per submission in a container like
#    Gradescope's (root, Docker's capabilities and seccomp: no namespaces, so no bubblewrap);
# 4. checks every results.json: reference 100, buggy partial, empty 0 with the reason, the right
#    notebook of two graded (and said so), the renamed notebook graded; the sandbox mode is "uid"
#    (a fresh uid per worker + Landlock), and no isolation notice reaches what students see.
# Exit 0 when every check holds. Everything printed also goes to the log (default
# bench/gradescope_sim.log). Needs root, debootstrap, gcc, and the network for apt and PyPI.
#
# --wheelhouse DIR: a folder of wheels (torch, its CUDA libraries…) bound into the image while
# setup.sh runs, as pip's --find-links: only to spare the downloads on repeated runs; setup.sh is the
# zip's own. PyTorch's CPU index is not reachable from this machine, so setup.sh falls back to
# PyPI's build (CUDA libraries included, unused): the image is bigger than on Gradescope.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KIT="$(cd "$HERE/../.." && pwd)"
RELEASES=()
MEMORY=""
CPUS=""
WHEELHOUSE=""
LOG="$KIT/bench/gradescope_sim.log"
PYTHON="${PYTHON:-$KIT/.venv/bin/python}"
while [ $# -gt 0 ]; do
  case "$1" in
    --release) RELEASES+=("$2"); shift 2 ;;
    --memory) MEMORY="$2"; shift 2 ;;
    --cpus) CPUS="$2"; shift 2 ;;
    --wheelhouse) WHEELHOUSE="$2"; shift 2 ;;
    --log) LOG="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "prove.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#RELEASES[@]} -gt 0 ] || RELEASES=(jammy)
[ -n "${CNN_MNIST_DIR:-}" ] || export CNN_MNIST_DIR="$KIT/../shared/datasets/mnist"
export CNN_MNIST_DIR="$(realpath "$CNN_MNIST_DIR")"
mkdir -p "$(dirname "$LOG")"
exec > >(tee "$LOG") 2>&1

WORK="$(mktemp -d /tmp/gradescope-prove.XXXXXX)"
echo "# Gradescope simulation: $(date -u +%Y-%m-%dT%H:%M:%SZ), kit $(git -C "$KIT" describe --always --dirty 2>/dev/null || echo '?')"
echo "# host: $(uname -r), $(nproc) CPUs; work folder $WORK"
echo "# releases: ${RELEASES[*]}; memory ${MEMORY:-unlimited}; cpus ${CPUS:-unlimited}; wheelhouse ${WHEELHOUSE:-none}"
cd "$KIT"
"$PYTHON" -m autograder gradescope --out "$WORK/autograder.zip" --with-mnist
"$PYTHON" - "$WORK/autograder.zip" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
bad = [n for n in names if n.startswith(("solutions/", "tests/")) or (n.endswith(".ipynb") and not n.startswith("release/"))]
print(f"zip: {len(names)} members, top level {sorted({n.split('/')[0] for n in names})}; forbidden members: {bad or 'none'}")
sys.exit(1 if bad else 0)
PY

# --- the submissions -------------------------------------------------------------------------
"$PYTHON" - "$KIT" "$WORK/subs" <<'PY'
import sys
from pathlib import Path
import nbformat

kit, subs = Path(sys.argv[1]), Path(sys.argv[2])
reference = nbformat.read(kit / "source/cnn_week1/cnn_week1.ipynb", as_version=4)
def write(notebook, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
write(reference, subs / "reference/cnn_week1.ipynb")
buggy = nbformat.read(kit / "source/cnn_week1/cnn_week1.ipynb", as_version=4)
changed = 0
for cell in buggy.cells:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    if grade_id == "conv2d_single":  # the classic mistake: a flipped kernel (true convolution)
        cell.source = cell.source.replace("def conv2d_single(image, kernel, stride=1, padding=0):",
                                          "def conv2d_single(image, kernel, stride=1, padding=0):\n    kernel = kernel.flip(0, 1)", 1)
        changed += 1
    if grade_id == "conv_output_size":  # the missing +1
        cell.source = cell.source.replace("// stride + 1", "// stride", 1)
        changed += 1
assert changed == 2, "the buggy notebook needs both cells"
write(buggy, subs / "buggy/cnn_week1.ipynb")
(subs / "empty").mkdir(parents=True)
write(reference, subs / "two-notebooks/cnn_week1.ipynb")
write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), subs / "two-notebooks/Untitled.ipynb")
write(reference, subs / "renamed/homework week 1 (final).ipynb")
print("submissions:", ", ".join(sorted(p.name for p in subs.iterdir())))
PY

# --- each image ------------------------------------------------------------------------------
status=0
for release in "${RELEASES[@]}"; do
  echo
  echo "=================== $release ==================="
  args=(--release "$release" --results "$WORK/results/$release")
  [ -z "$MEMORY" ] || args+=(--memory "$MEMORY")
  [ -z "$CPUS" ] || args+=(--cpus "$CPUS")
  [ -z "$WHEELHOUSE" ] || args+=(--setup-bind "$(realpath "$WHEELHOUSE"):/wheelhouse:ro" --setup-env PIP_FIND_LINKS=/wheelhouse)
  set +e
  bash "$HERE/run.sh" "${args[@]}" "$WORK/autograder.zip" \
    "$WORK/subs/reference" "$WORK/subs/buggy" "$WORK/subs/empty" "$WORK/subs/two-notebooks" "$WORK/subs/renamed"
  rc=$?
  set -e
  image_log=$(ls -td "${GS_ROOTFS_DIR:-/work/gs-rootfs}/images/$release-"*/setup.log 2>/dev/null | head -n 1)
  [ -z "$image_log" ] || { echo "--- setup.sh's last lines ($image_log):"; grep -E '^setup.sh:' "$image_log" | tail -n 5; }
  echo "--- checks ($release; run.sh exit $rc)"
  "$PYTHON" - "$WORK/results/$release" <<'PY' || status=1
import json, sys
from pathlib import Path

root = Path(sys.argv[1])
def load(name):
    path = root / name / "results.json"
    return json.loads(path.read_text()) if path.is_file() else None

def student_visible(results):
    return json.dumps({"output": results.get("output"), "tests": [t.get("output") for t in results.get("tests", [])]})

checks = []
def check(name, ok, what):
    checks.append(ok)
    print(f"{'PASS' if ok else 'FAIL'}  {name:14} {what}")

rows = []
for name in ("reference", "buggy", "empty", "two-notebooks", "renamed"):
    results = load(name)
    if results is None:
        check(name, False, "no results.json")
        continue
    score, top = results["score"], results["max_score"]
    prov = results.get("provenance", {})
    summary = (root / name / "sim-summary.txt").read_text() if (root / name / "sim-summary.txt").is_file() else ""
    peak = next((l.split(": ", 1)[1] for l in summary.splitlines() if l.startswith("peak memory (anon")), "?")
    rows.append((name, f"{score:g} / {top:g}", prov.get("sandbox_mode"), prov.get("python"), prov.get("torch"), peak))
    first = results["output"].splitlines()[0] if results["output"] else ""
    if name in ("reference", "renamed"):
        check(name, score == top == 100, f"score {score:g} / {top:g} (full marks)")
    elif name == "buggy":
        failed = sorted({t["tags"][0] for t in results["tests"] if t["status"] != "passed"})
        check(name, 0 < score < top, f"score {score:g} / {top:g} (partial; parts losing points: {', '.join(failed)})")
    elif name == "empty":
        check(name, score == 0 and first.startswith("Nothing to grade"), f"score {score:g}; output: {first!r}")
    else:
        check(name, score == top and first.startswith("Graded cnn_week1.ipynb; not graded: Untitled.ipynb"),
              f"score {score:g}; output: {first!r}")
    check(name, prov.get("sandbox_mode") == "uid" and prov.get("protections", {}).get("filesystem") is True,
          f"sandbox mode {prov.get('sandbox_mode')!r}, Landlock filesystem rules {prov.get('protections', {}).get('filesystem')}, "
          f"missing (instructor only): {prov.get('missing_protections')}")
    visible = student_visible(results)
    check(name, "lacked" not in visible and "isolation" not in visible, "no isolation notice in what students see")
print()
print(f"{'submission':14} {'score':>11}  {'sandbox':7} {'python':7} {'torch':14} peak memory (container, anon+shmem)")
for row in rows:
    print(f"{row[0]:14} {row[1]:>11}  {row[2] or '?':7} {row[3] or '?':7} {row[4] or '?':14} {row[5]}")
sys.exit(0 if all(checks) else 1)
PY
  [ $rc -eq 0 ] || status=1
done
echo
echo "prove.sh: $([ $status -eq 0 ] && echo 'all checks passed' || echo 'SOME CHECKS FAILED') (${RELEASES[*]})"
rm -rf "$WORK/subs"
exit $status
