"""``python -m autograder`` (also ``cnnkit``): the kit's commands, a thin layer over its modules."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import KIT_ROOT, ConfigError, load_config

DESCRIPTION = """\
The CNN week-1 assignment kit.

Student code only ever runs in a sandboxed worker process; every score is
computed in the grading process. MNIST is read from the directory in
CNN_MNIST_DIR or grading.toml's [data] mnist_dir, else downloaded.
"""


def _grade(args) -> int:
    from .grade import GraderError, grade
    from .report import summary

    try:
        result = grade(args.submission, args.out, load_config(args.config), select=args.select)
    except (GraderError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(summary(result, verbose=not args.brief))
        print(f"Wrote {Path(args.out) / 'results.json'}")
    return 0


def _export_solutions(args) -> int:
    from .release import export_solutions

    out = export_solutions(KIT_ROOT / "source" / "cnn_week1" / "cnn_week1.ipynb", KIT_ROOT / "solutions" / "cnn_week1.py")
    print(f"Wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None,
                        help="grading configuration (default: grading.toml of the kit, or $CNN_KIT_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    grade = commands.add_parser(
        "grade", help="grade one .ipynb or .py submission and write OUT/results.json",
        description="Grade one submission with the hidden graders. Writes OUT/results.json (Gradescope "
                    "format) and OUT/feedback.json (data for the feedback report). Exits 0 whenever "
                    "results.json was written, whatever the score; 2 when the grader itself cannot run.")
    grade.add_argument("submission", help="the student's notebook (.ipynb) or Python file (.py)")
    grade.add_argument("--out", required=True, help="directory for results.json (created if missing)")
    grade.add_argument("--select", default=None, metavar="EXPR",
                       help="only the grader tests matching this pytest -k expression (re-grade one part)")
    grade.add_argument("--brief", action="store_true", help="one line per part instead of per test")
    grade.add_argument("--quiet", action="store_true", help="print nothing; only write the files")
    grade.set_defaults(run=_grade)

    export = commands.add_parser(
        "export-solutions", help="regenerate solutions/cnn_week1.py from the source notebook",
        description="Write solutions/cnn_week1.py from the solution cells of "
                    "source/cnn_week1/cnn_week1.ipynb (the notebook is the single source of truth).")
    export.set_defaults(run=_export_solutions)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)
