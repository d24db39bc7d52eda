"""What each classic mistake of issue #12 costs under the real graders.

Every mistake of tests/classic_mistakes.py (the eleven of the issue by default; ``--all`` adds the
others) is pasted into the student release's answer cells, the other answer cells get the reference
solution (solutions/cnn_week1.py), and the notebook is graded by ``autograder.engine.grade.grade``,
all in one grading job with one warm fork-server, as grade-all's jobs grade. The reference itself is
graded first: it must score full marks, or the figures mean nothing.

Prints a table (mistake, function, points lost, the tests it failed with the points each lost; a
failed test charged nothing — "same mistake as in …" — is marked "credited") and writes
bench/results/mistakes_<label>.json and .txt. ``--compare A B`` prints two saved runs side by side.

To keep it fast, the accuracy gate trains on 6,000 images with min_accuracy 60 (a copy of
grading.toml, as bench/class_scale.py does): the gate compares the student's weights with the
contract loop's replay, so what a mistake costs does not depend on the budget. ``--full`` uses
grading.toml unchanged.

    CNN_MNIST_DIR=/work/shared/datasets/mnist .venv/bin/python bench/mistakes.py --label before
    .venv/bin/python bench/mistakes.py --compare before after
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the mistakes are defined once, beside the Run All test

from autograder.engine.extract import module_cells  # noqa: E402
from classic_mistakes import CLASSIC, MISTAKES, apply_mistakes  # noqa: E402

RESULTS = REPO / "bench" / "results"
RELEASE_NOTEBOOK = REPO / "release" / "cnn_week1" / "cnn_week1.ipynb"
REFERENCE = REPO / "solutions" / "cnn_week1.py"
REFERENCE_ROW = "(none: the reference solution)"


def fast_config(folder: Path) -> Path:
    """grading.toml with the accuracy gate's budget cut to 6,000 images (min_accuracy 60)."""
    text = (REPO / "grading.toml").read_text()
    text = re.sub(r"(?m)^train_samples = .*$", "train_samples = 6000", text)
    text = re.sub(r"(?m)^min_accuracy = .*$", "min_accuracy = 60.0", text)
    path = folder / "grading.toml"
    path.write_text(text)
    return path


def notebook_with(mistakes: tuple[str, ...], folder: Path) -> Path:
    notebook = json.loads(RELEASE_NOTEBOOK.read_text())
    answers = {name: code for name, code in module_cells(REFERENCE.read_text()).items() if name != "imports"}
    apply_mistakes(notebook, mistakes, answers)
    path = folder / (re.sub(r"[^a-z0-9]+", "_", (mistakes[0] if mistakes else "reference").lower()).strip("_")
                     + ".ipynb")
    path.write_text(json.dumps(notebook))
    return path


def row(name: str, result) -> dict:
    tests = []
    for test in result.tests:
        if test.passed:
            continue
        tests.append({"name": test.name, "part": test.part, "lost": round(test.max_score - test.score, 2),
                      "max": test.max_score, "hidden": test.hidden,
                      "diagnosis": getattr(test, "diagnosis", None),
                      "same_mistake_as": getattr(test, "same_mistake_as", None),
                      "feedback": test.feedback()[:600]})
    return {"mistake": name, "function": MISTAKES[name][0] if name in MISTAKES else "",
            "lost": round(result.max_score - result.score, 2), "score": result.score,
            "max_score": result.max_score, "failed": tests}


def table(rows: list[dict]) -> str:
    lines = [f"{'mistake':<36}{'function':<18}{'lost':>7}  tests failed (points lost)"]
    for entry in rows:
        failed = "; ".join(f"{t['name'][:70]} ({'credited: ' + t['same_mistake_as'][:40] if t['same_mistake_as'] else t['lost']})"
                           for t in entry["failed"]) or "-"
        lines.append(f"{entry['mistake']:<36}{entry['function']:<18}{entry['lost']:>7.2f}  {failed}")
    return "\n".join(lines)


def compare(first: str, second: str) -> str:
    runs = [json.loads((RESULTS / f"mistakes_{label}.json").read_text()) for label in (first, second)]
    before = {entry["mistake"]: entry for entry in runs[0]["rows"]}
    lines = [f"{'mistake':<36}{first:>10}{second:>10}  tests failed {first} -> {second} (charged)"]
    for entry in runs[1]["rows"]:
        old = before.get(entry["mistake"])
        charged = lambda e: sum(1 for t in e["failed"] if not t.get("same_mistake_as"))  # noqa: E731
        lines.append(f"{entry['mistake']:<36}{(old['lost'] if old else float('nan')):>10.2f}{entry['lost']:>10.2f}  "
                     f"{(len(old['failed']) if old else '-')} -> {len(entry['failed'])} ({charged(entry)})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="run", help="names the saved results (default: run)")
    parser.add_argument("--all", action="store_true", help="also the mistakes beyond the issue's eleven")
    parser.add_argument("--full", action="store_true", help="grading.toml unchanged (30,000 training images)")
    parser.add_argument("--only", action="append", default=[], help="grade only this mistake (repeatable)")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="print two saved runs side by side")
    args = parser.parse_args()
    if args.compare:
        print(compare(*args.compare))
        return
    if os.environ.get("CNN_MNIST_DIR"):
        os.environ["CNN_MNIST_DIR"] = str(Path(os.environ["CNN_MNIST_DIR"]).resolve())
    from autograder.engine.config import load_config
    from autograder.engine.grade import fork_server, grade

    names = args.only or (list(MISTAKES) if args.all else list(CLASSIC))
    scratch = Path(tempfile.mkdtemp(prefix="cnn-mistakes-"))
    rows, started = [], time.monotonic()
    try:
        config = load_config(REPO / "grading.toml" if args.full else fast_config(scratch))
        with fork_server(config) as server:
            for name in [REFERENCE_ROW, *names]:
                mistakes = () if name == REFERENCE_ROW else (name,)
                submission = notebook_with(mistakes, scratch)
                out = scratch / f"out_{submission.stem}"
                result = grade(submission, out, config, server=server)
                rows.append(row(name, result))
                print(f"{name}: lost {rows[-1]['lost']:g} of {result.max_score:g}", file=sys.stderr, flush=True)
                if name == REFERENCE_ROW and result.score != result.max_score:
                    raise SystemExit(f"the reference scored {result.score} of {result.max_score}: fix that first")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = table(rows)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"label": args.label, "budget": "grading.toml" if args.full else "6000 images, min_accuracy 60",
              "seconds": round(time.monotonic() - started, 1), "rows": rows}
    (RESULTS / f"mistakes_{args.label}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"mistakes_{args.label}.txt").write_text(text + "\n")
    print(f"wrote {RESULTS / f'mistakes_{args.label}.json'} ({report['seconds']} s)")


if __name__ == "__main__":
    main()
