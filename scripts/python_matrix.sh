#!/usr/bin/env bash
# The Python × torch matrix the kit claims, run for real: one virtual environment per row, then
#   student  what students run: the release notebook in a real Jupyter kernel, untouched and with
#            the answers pasted in (tests/test_release_notebook.py), mnist_data
#            (tests/test_mnist_data.py), and the public checks (release/…/test_public_checks.py on a
#            copy of the release whose notebook holds the answers); plus a one-cell notebook that
#            prints the kernel's own Python and torch, so the kernel is known to be this row's;
#   grade    the grading path: python -m autograder grade solutions/cnn_week1.py (full marks expected).
# and a table at the end (also written to $MATRIX_OUT/table.txt). Exit 0 when every step passed.
#
#   scripts/python_matrix.sh                       # every row below
#   scripts/python_matrix.sh --only py3.10-torch2.2.2 --only py3.10-torch2.14.1   # what CI runs
#   scripts/python_matrix.sh --list
#   --drop-venvs: remove each row's environment (~5 GB) once its steps ran (CI does: disk is short)
#
# Pythons come from pyenv ($PYENV_ROOT/versions/3.X.*) or python3.X on PATH. Environments live in
# $MATRIX_VENVS (default .matrix/, reused while their requirements are unchanged). torch comes from
# PyPI (CUDA builds on Linux x86_64, ~3 GB each: the CPU index is not reachable from this machine),
# except where pip finds it locally (--wheelhouse DIR adds a folder of wheels as --find-links).
# The students' side needs torch >= 2.2; the grader itself is pinned to torch 2.14.1 and needs a
# newer torch than 2.2 (its dispatcher guard uses torch.library API that 2.2 lacks), so the 2.2 row
# runs the student side only.
set -uo pipefail
cd "$(dirname "$0")/.."
KIT="$PWD"
VENVS="${MATRIX_VENVS:-$KIT/.matrix}"
OUT="${MATRIX_OUT:-$VENVS/out}"
COMMON="matplotlib pytest nbformat nbclient ipykernel jinja2 markupsafe"
#      row                    python  requirements (beyond COMMON)                             steps
ROWS=("py3.10-torch2.2.2     3.10    torch==2.2.2|torchvision==0.17.2|numpy<2|tomli         student"
      "py3.10-torch2.14.1    3.10    torch==2.14.1|torchvision==0.29.1|numpy>=2|tomli       student,grade"
      "py3.11-torch2.13.0cpu 3.11    torch==2.13.0|numpy>=2                                 student,grade"
      "py3.11-torch2.14.1    3.11    torch==2.14.1|torchvision==0.29.1|numpy>=2             student,grade"
      "py3.12-torch2.15.0    3.12    torch==2.15.0|torchvision|numpy>=2                     student,grade"
      "py3.13-torch2.14.1    3.13    torch==2.14.1|torchvision==0.29.1|numpy>=2             student,grade")
ONLY=()
WHEELHOUSE=""
DROP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY+=("$2"); shift 2 ;;
    --wheelhouse) WHEELHOUSE="$(realpath "$2")"; shift 2 ;;
    --drop-venvs) DROP=1; shift ;;
    --list) printf '%s\n' "${ROWS[@]}" | awk '{print $1, "python " $2, $3, $4}' | tr '|' ' '; exit 0 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "python_matrix: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
export CNN_MNIST_DIR="$(realpath "${CNN_MNIST_DIR:-$KIT/../shared/datasets/mnist}")"
mkdir -p "$VENVS" "$OUT"
TABLE="$OUT/table.txt"
: > "$OUT/rows.tsv"
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*"; }

find_python() {  # find_python 3.10 -> a python3.10 executable
  local v="$1" root="${PYENV_ROOT:-$HOME/.pyenv}" p
  for p in $(ls -d "$root"/versions/"$v".* 2>/dev/null | sort -V -r); do
    [ -x "$p/bin/python$v" ] && { echo "$p/bin/python$v"; return; }
  done
  command -v "python$v" 2>/dev/null
}

record() {  # record ROW PYTHON TORCH NUMPY STEP RESULT SECONDS
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$OUT/rows.tsv"
  log "$1: $5 -> $6 ($7 s)"
}

run_row() {
  local row="$1" version="$2" requirements="$3" steps="$4"
  local venv="$VENVS/$row" python t0 pyv torchv numpyv rc
  python=$(find_python "$version")
  if [ -z "$python" ]; then record "$row" "$version" - - setup "NO PYTHON $version" 0; return; fi
  local wanted="$requirements|$COMMON"
  t0=$SECONDS
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.matrix-requirements" 2>/dev/null)" != "$wanted" ]; then
    rm -rf "$venv"
    log "$row: creating $venv ($python; ${requirements//|/ })"
    "$python" -m venv "$venv" || { record "$row" "$version" - - setup "FAIL (venv)" $((SECONDS - t0)); return; }
    local find_links=()
    [ -z "$WHEELHOUSE" ] || find_links=(--find-links "$WHEELHOUSE")
    IFS='|' read -r -a pins <<< "$requirements"
    # PIP_CONSTRAINT=/dev/null: a machine-wide pip constraint (this machine caps torch at 2.14.1) must not
    # hide the row's own pins
    if ! PIP_CONSTRAINT=/dev/null "$venv/bin/python" -m pip install -q --progress-bar off --retries 3 --timeout 120 \
         "${find_links[@]}" "${pins[@]}" $COMMON > "$venv.install.log" 2>&1; then
      tail -n 5 "$venv.install.log"
      record "$row" "$version" - - setup "FAIL (pip, see $venv.install.log)" $((SECONDS - t0)); return
    fi
    echo "$wanted" > "$venv/.matrix-requirements"
  fi
  read -r pyv torchv numpyv < <("$venv/bin/python" -c \
    "import sys, torch, numpy; print(sys.version.split()[0], torch.__version__, numpy.__version__)" 2>/dev/null)
  record "$row" "${pyv:-?}" "${torchv:-?}" "${numpyv:-?}" setup "ok ($(du -sh "$venv" | cut -f1))" $((SECONDS - t0))
  local PY="$venv/bin/python" work="$OUT/$row"
  rm -rf "$work"; mkdir -p "$work"
  if [[ ",$steps," == *",student,"* ]]; then
    # the kernel is this row's own Python and torch
    t0=$SECONDS
    PATH="$venv/bin:$PATH" "$PY" - "$work/kernel.txt" <<'PY' > "$work/kernel.log" 2>&1
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    "import sys, torch, numpy; print(sys.version.split()[0], torch.__version__, numpy.__version__)")])
NotebookClient(nb, timeout=300, kernel_name="python3").execute()
open(sys.argv[1], "w").write(nb.cells[0].outputs[0]["text"].strip())
PY
    local kernel; kernel=$(cat "$work/kernel.txt" 2>/dev/null)
    if [ "$kernel" = "$pyv $torchv $numpyv" ]; then record "$row" "$pyv" "$torchv" "$numpyv" kernel "ok ($kernel)" $((SECONDS - t0))
    else record "$row" "$pyv" "$torchv" "$numpyv" kernel "FAIL (kernel: ${kernel:-none}; see $work/kernel.log)" $((SECONDS - t0)); fi
    t0=$SECONDS
    PATH="$venv/bin:$PATH" "$PY" -m pytest -q -p no:cacheprovider tests/test_release_notebook.py tests/test_mnist_data.py \
      > "$work/notebook.log" 2>&1
    rc=$?
    record "$row" "$pyv" "$torchv" "$numpyv" "release notebook + mnist_data" \
      "$([ $rc -eq 0 ] && echo ok || echo FAIL) ($(tail -n 1 "$work/notebook.log" | sed 's/=//g; s/^ *//; s/ *$//'))" $((SECONDS - t0))
    t0=$SECONDS
    rm -rf "$work/release"; cp -r "$KIT/release/cnn_week1" "$work/release"
    cp "$KIT/source/cnn_week1/cnn_week1.ipynb" "$work/release/cnn_week1.ipynb"  # the answers filled in
    (cd "$work/release" && PATH="$venv/bin:$PATH" "$PY" -m pytest -q -p no:cacheprovider test_public_checks.py) \
      > "$work/public_checks.log" 2>&1
    rc=$?
    record "$row" "$pyv" "$torchv" "$numpyv" "public checks (answers)" \
      "$([ $rc -eq 0 ] && echo ok || echo FAIL) ($(tail -n 1 "$work/public_checks.log" | sed 's/=//g; s/^ *//; s/ *$//'))" $((SECONDS - t0))
  fi
  if [[ ",$steps," == *",grade,"* ]]; then
    t0=$SECONDS
    "$PY" -m autograder grade solutions/cnn_week1.py --out "$work/grade" > "$work/grade.log" 2>&1
    rc=$?
    local score
    score=$("$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"{r['score']:g} / {r['max_score']:g}\", r['provenance'].get('sandbox_mode'))" \
            "$work/grade/results.json" 2>/dev/null)
    if [ $rc -eq 0 ] && [[ "$score" == "100 / 100 "* ]]; then
      record "$row" "$pyv" "$torchv" "$numpyv" "grade reference" "ok ($score)" $((SECONDS - t0))
    else
      record "$row" "$pyv" "$torchv" "$numpyv" "grade reference" "FAIL (exit $rc, ${score:-no results.json}; see $work/grade.log)" $((SECONDS - t0))
    fi
  fi
}

for line in "${ROWS[@]}"; do
  read -r row version requirements steps <<< "$line"
  if [ ${#ONLY[@]} -gt 0 ] && [[ ! " ${ONLY[*]} " == *" $row "* ]]; then continue; fi
  run_row "$row" "$version" "$requirements" "$steps"
  [ -z "$DROP" ] || rm -rf "$VENVS/$row"
done

{
  echo "Python × torch matrix, $(date -u +%Y-%m-%dT%H:%M:%SZ), kit $(git describe --always --dirty 2>/dev/null || echo '?')"
  printf '%-22s %-8s %-14s %-7s %-30s %6s  %s\n' row python torch numpy step seconds result
  while IFS=$'\t' read -r row pyv torchv numpyv step result seconds; do
    printf '%-22s %-8s %-14s %-7s %-30s %6s  %s\n' "$row" "$pyv" "$torchv" "$numpyv" "$step" "$seconds" "$result"
  done < "$OUT/rows.tsv"
} | tee "$TABLE"
if awk -F'\t' '$6 ~ /^(FAIL|NO PYTHON)/ {bad = 1} END {exit !bad}' "$OUT/rows.tsv"; then
  echo "python_matrix: SOME STEPS FAILED"; exit 1
fi
[ -s "$OUT/rows.tsv" ] || { echo "python_matrix: no row selected"; exit 1; }
echo "python_matrix: every step passed"
