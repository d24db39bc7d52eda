"""``python -m autograder`` (also ``cnnkit``): the kit's commands, a thin layer over its modules."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .engine.config import ConfigError, load_config

DESCRIPTION = """\
The CNN week-1 assignment kit.

Student code only ever runs in a sandboxed worker process; every score is
computed in the grading process. MNIST is read from the directory in
CNN_MNIST_DIR or grading.toml's [data] mnist_dir, else downloaded.
"""


def _grade(args) -> int:
    from .engine.grade import GraderError, grade
    from .engine.report import summary
    from .engine.sandbox import UNSAFE_ENV

    if args.unsafe_no_sandbox:
        os.environ[UNSAFE_ENV] = "1"

    try:
        result = grade(args.submission, args.out, load_config(args.config), select=args.select)
    except (GraderError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(summary(result, verbose=not args.brief))
        print(f"Wrote {Path(args.out) / 'results.json'}")
    return 0


def _feedback(args) -> int:
    from .engine.feedback_html import write_feedback

    try:
        path = write_feedback(Path(args.out_dir))
    except (OSError, ValueError) as error:  # no feedback.json there, or not JSON
        print(f"error: cannot render the feedback report from {args.out_dir}: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {path}")
    return 0


def _rubric(args) -> int:
    from .engine.rubric import rubric_markdown

    print(rubric_markdown(load_config(args.config)), end="")
    return 0


def _verify(args) -> int:
    from .engine.grade import GraderError
    from .engine.verify import verify

    try:
        verification = verify(args.out_dir, args.submission, load_config(args.config), runs=args.runs)
    except (OSError, ValueError) as error:  # no readable OUTDIR/results.json
        print(f"error: cannot read {Path(args.out_dir) / 'results.json'}: {error}", file=sys.stderr)
        return 2
    except GraderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the grader's own bug: a fault, never "a score differs"
        print(f"error: the grader failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    print(verification.text())
    return 0 if verification.identical else 1


def _export_solutions(args) -> int:
    from .packaging.release import export_solutions

    out = export_solutions(load_config(args.config).definition)
    print(f"Wrote {out}")
    return 0


# ----- the class workflow: release → collect → grade-all → export (→ stats) ---------------------

def _course(args, config):
    from .classwork.layout import Course, migrate_legacy_results

    course = Course.of(Path(args.course or config.definition.course_root).resolve(), config.definition)
    for student in migrate_legacy_results(course):  # results of kits that wrote into nbgrader's autograded/
        print(f"copied {student}'s results from autograded/ to {course.autograded}", file=sys.stderr)
    return course


def _release(args) -> int:
    from .packaging.release_check import release

    report = release(load_config(args.config), Path(args.release_dir) if args.release_dir else None,
                     Path(args.zip) if args.zip else None, generate=not args.no_generate)
    print(report.text())
    return 0 if report.passed else 1


def _collect(args) -> int:
    import json

    from .classwork.collect import CollectError, collect_downloads, collect_exchange, save_report

    course = _course(args, load_config(args.config))
    try:
        if args.exchange:
            report = collect_exchange(course, Path(args.exchange_root) if args.exchange_root else None)
        else:
            report = collect_downloads(Path(args.downloads), course, args.pattern or None,
                                       use_file_times=not args.no_file_times)
    except CollectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report_path = save_report(report, Path(args.report) if args.report else course.collect_report,
                              "nbgrader exchange" if args.exchange else str(Path(args.downloads).resolve()))
    print(report.text())
    print(f"Report (every run appended): {report_path}")
    if report.unmatched:
        print(json.dumps([item.source for item in report.unmatched], indent=1), file=sys.stderr)
    return 0 if report.collected else 1


def _grade_all(args) -> int:
    from .classwork.batch import UnknownStudents, drop_rows, error_report, grade_all
    from .classwork.shard import ShardError, parse_shard

    config = load_config(args.config)
    if args.drop:
        try:
            changed = drop_rows(_course(args, config), args.drop)
        except (RuntimeError, UnknownStudents) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"dropped {', '.join(args.drop)} from {', '.join(path.name for path in changed)}")
        return 0
    if args.part and args.part not in config.parts:
        print(f"error: --part must be one of {', '.join(config.parts)}", file=sys.stderr)
        return 2
    try:
        shard = parse_shard(args.shard) if args.shard else None
        if shard and args.student:
            raise ShardError("--student and --shard cannot be combined: a student is in one shard only")
        summary = grade_all(_course(args, config), config, jobs=args.jobs, timeout=args.timeout, students=args.student or None,
                            part=args.part, select=args.select, force=args.force, shard=shard)
    except (RuntimeError, ValueError) as error:  # another run holds the lock, an unknown student, a bad --shard
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"graded {len(summary.graded) - len(summary.failed)}, zero rows {len(summary.failed)}, "
          f"not graded (grader or host fault) {len(summary.errors)}, unchanged {len(summary.skipped)}"
          f" in {summary.seconds:.1f} s" + (f" (shard {shard})" if shard else "")
          + (" (interrupted: run the same command again to resume)" if summary.interrupted else ""))
    if summary.errors:
        print("error: no score was recorded for these submissions (not their fault; fix the cause and run "
              "grade-all again, they are retried):", file=sys.stderr)
        for line in error_report(summary.errors):
            print(f"  {line}", file=sys.stderr)
    if summary.interrupted:
        return 128 + summary.interrupted
    return 1 if summary.errors else 0


def _merge(args) -> int:
    from .classwork.batch import _locked, digests, manifest_path
    from .engine.results import write_json_atomic
    from .classwork.shard import ShardError, merge_manifests

    config = load_config(args.config)
    course = _course(args, config)
    try:
        with _locked(manifest_path(course)):
            merged = merge_manifests(course.autograded, digests(config), course.assignment, args.of)
            write_json_atomic(course.manifest, merged)
    except (RuntimeError, ShardError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {course.manifest}: {len(merged['students'])} students from {len(merged['merged_from'])} shards")
    return 0


def _export(args) -> int:
    from .classwork.export import export_grades

    config = load_config(args.config)
    course = _course(args, config)
    exported = export_grades(course, config, Path(args.out) if args.out else None,
                             db_url=args.db_url, to_nbgrader=not args.no_nbgrader)
    graded = len(exported.rows) - len(exported.missing)
    print(f"Wrote {exported.csv} ({graded} of {len(exported.rows)} students with a grade) and per-student files "
          f"in {exported.folder}")
    if exported.gradebook:
        print(f"nbgrader gradebook updated: {exported.gradebook}")
    for student in exported.phantoms:
        print(f"warning: {student} has a row in {course.manifest} but no submission folder: left out "
              f"(remove the row with grade-all --drop {student})", file=sys.stderr)
    if exported.missing:
        print(f"error: {len(exported.missing)} student(s) have NO grade (exported with empty score cells, not 0; "
              "see status and reason in grades.csv):", file=sys.stderr)
        for student, reason in exported.missing.items():
            print(f"  {student}: {reason}", file=sys.stderr)
    if exported.complete or args.allow_missing:
        return 0
    return 1


def _stats(args) -> int:
    from .classwork.stats import class_stats, write_histograms

    config = load_config(args.config)
    course = _course(args, config)
    stats = class_stats(course, config)
    text = stats.table(config, top=args.top)
    print(text)
    out = Path(args.out) if args.out else course.root / "export" / course.assignment
    out.mkdir(parents=True, exist_ok=True)
    (out / "stats.txt").write_text(text + "\n", encoding="utf-8")
    if stats.students:
        print(f"Histograms: {write_histograms(stats, config, out / 'score_histograms.png')}")
    return 0


def _gradescope(args) -> int:
    from .packaging.gradescope import build_gradescope_zip

    names = build_gradescope_zip(load_config(args.config), Path(args.out), with_mnist=args.with_mnist)
    print(f"Wrote {args.out} ({len(names)} files, no solutions; upload it in Gradescope's autograder settings, "
          "Ubuntu 22.04, memory at least 2 GB)")
    return 0


def _github(args) -> int:
    from .packaging import github

    config = load_config(args.config)
    try:
        if args.github_command == "classroom50":
            written = github.write_classroom50(config, Path(args.config_repo), args.classroom, args.slug,
                                               args.template, args.branch)
            print("\n".join(f"Wrote {path}" for path in written))
            print("Public checks only: Classroom 50 publishes this folder on the classroom's public Pages site. "
                  "Grade with the hidden graders in your private grading repository (github roster-workflow).")
            return 0
        if args.github_command == "roster-workflow":
            text = github.roster_workflow(config, args.roster, args.owner, args.repo_prefix, args.token_secret,
                                          args.jobs, args.python, args.timeout, args.retention_days)
            written = github.write_files(Path(args.out).parent, {Path(args.out).name: text})
        else:
            written = github.write_files(Path(args.repo), github.student_workflow_files(config, args.python))
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(f"Wrote {path}" for path in written))
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
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="where bubblewrap cannot run and the grader is not root, run student code with "
                            "resource limits and Landlock only (as your own user); results.json says so")
    grade.set_defaults(run=_grade)

    feedback = commands.add_parser(
        "feedback", help="re-render OUT_DIR/feedback.html from OUT_DIR/feedback.json",
        description="Render the student's HTML feedback report again from the feedback.json that "
                    "the grade command wrote (after changing the report's template, say).")
    feedback.add_argument("out_dir", metavar="OUT_DIR", help="a directory written by the grade command")
    feedback.set_defaults(run=_feedback)

    rubric = commands.add_parser(
        "rubric", help="print the rubric: part, test, points and what it checks, as Markdown",
        description="Print every grader test with its part, its points (the part's points in grading.toml "
                    "split by the graders' weights) and what it checks, as a Markdown table, then the "
                    "[scoring] same_mistake rule. The README's rubric is this output; feedback.html shows the "
                    "same table. Hidden tests show their name and points only.")
    rubric.set_defaults(run=_rubric)

    check = commands.add_parser(
        "verify", help="re-grade a submission and check that OUT_DIR/results.json is reproduced to the cent",
        description="Re-grade SUBMISSION (in a temporary folder, with the tests the recorded grade selected) and "
                    "compare every test's score with OUT_DIR/results.json, to the cent; also say whether the kit, "
                    "configuration, graders, submission or library versions differ from the recorded provenance. "
                    "Exits 0 when every score is identical, 1 when any differs (listed), 2 when the grader "
                    "cannot run or OUT_DIR/results.json cannot be read.")
    check.add_argument("out_dir", metavar="OUT_DIR", help="a directory holding the results.json to check")
    check.add_argument("submission", metavar="SUBMISSION", help="the submission that results.json grades")
    check.add_argument("--runs", type=_positive, default=1, metavar="N", help="re-grade N times (default: 1)")
    check.set_defaults(run=_verify)

    export = commands.add_parser(
        "export-solutions", help="regenerate solutions/cnn_week1.py from the source notebook",
        description="Write solutions/cnn_week1.py from the solution cells of "
                    "source/cnn_week1/cnn_week1.ipynb (the notebook is the single source of truth).")
    export.set_defaults(run=_export_solutions)
    _class_commands(commands)
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


COURSE_HELP = ("the nbgrader course directory holding submitted/, cnnkit/, export/ (default: the assignment's "
               "course folder: the kit's root, or the folder of grading.toml's [assignment] path)")


SHARD_EXAMPLES = """\
Sharding across machines with the scheduler you have (students are split by a stable hash of
their id, so adding a student never moves another one):

  Slurm array (shards numbered from 1, as --array=1-8 numbers the tasks):
    #SBATCH --array=1-8
    python -m autograder grade-all --jobs 2 --shard ${SLURM_ARRAY_TASK_ID}/8
    # then, once: python -m autograder merge

  GitHub Actions matrix:
    strategy: {matrix: {shard: [1, 2, 3, 4]}}
    run: python -m autograder grade-all --shard ${{ matrix.shard }}/4
    # upload cnnkit/graded/ of each shard as an artifact; download them all into one
    # course folder (the shards' student folders and manifests do not overlap), then merge.

Each shard writes its rows to manifest.shard-I-of-N.json beside manifest.json and its students'
result folders as usual; on a shared file system the shards can run side by side."""

GRADE_ALL_HELP = """\
Grade each submission into the kit's graded folder (results.json, feedback.json, feedback.html),
--jobs grading processes at a time; each imports torch once and grades submission after
submission. The manifest keeps one row per student with the submission's SHA-256, the digests
of the grading settings (not the due date or late policy, not [data] mnist_dir) and graders, and the
kit version: a re-run grades only what is missing, changed or not graded.

Ctrl-C, SIGTERM and SIGHUP stop cleanly: running grades are killed (with everything they started),
finished ones kept; run again to resume (exit 128 + the signal, 130 for Ctrl-C). A submission that
is not a notebook gets a zero row with the reason. A grade that failed for the grader's or the
host's reasons (MNIST missing, a worker that cannot start, a grading process that died or passed
--timeout) records NO score: its row has status "error", the causes are printed, the run exits 1,
and the next run retries it.

""" + SHARD_EXAMPLES

MERGE_HELP = """\
Combine the shard manifests written by grade-all --shard I/N into the one manifest that export
and stats read. Refuses (exit 2, nothing written) when a shard is missing, or when shards were
graded for another assignment or under other grading settings, graders or kit version than the
current ones (a different [data] mnist_dir, due date or late policy does not count).

""" + SHARD_EXAMPLES


GITHUB_HELP = """\
GitHub Classroom was discontinued on 2026-08-28; these targets replace the old github-classroom command.

  classroom50       Classroom 50 (its open-source successor): the assignments.json entry and the per-assignment
                    autograder folder. Classroom 50 publishes that folder on a public Pages site and runs it in
                    the student's repository, so it runs the PUBLIC checks only.
  roster-workflow   the hidden grading: a workflow for your PRIVATE grading repository (a private copy of this
                    kit) that clones every student repository of a roster, runs grade-all and publishes
                    grades.csv as an artifact.
  student-workflow  plain GitHub: a workflow for the student template repository running the public checks.

Every file is rendered from autograder/packaging/templates/github/."""


def _class_commands(commands) -> None:
    release = commands.add_parser(
        "release", help="generate the student release with nbgrader and prove it (full marks, zero, no leak)",
        description="Run nbgrader generate_assignment (autograder.packaging.release.generate_release) into RELEASE_DIR/cnn_week1, "
                    "then check it: the reference solution (solutions/cnn_week1.py) must score full marks, the "
                    "release notebook's stubs must score zero, and no solution marker or solution line may appear "
                    "in any released file. Exits 1 if a check fails (and then writes no zip).")
    release.add_argument("--release-dir", default=None, metavar="DIR",
                         help="where the release is written (default: the kit's release/)")
    release.add_argument("--zip", default=None, metavar="PATH",
                         help="also package the checked release folder as a zip for an LMS upload")
    release.add_argument("--no-generate", action="store_true",
                         help="check the existing release folder without running nbgrader first")
    release.set_defaults(run=_release)

    collect = commands.add_parser(
        "collect", help="import submissions into submitted/<student>/cnn_week1/ (LMS downloads or nbgrader exchange)",
        description="Copy submissions byte for byte (with their file times) into nbgrader's layout "
                    "submitted/<student>/cnn_week1/, with a timestamp.txt in nbgrader's format. From LMS downloads "
                    "(a folder or a zip; zips inside are expanded) the student id and submission time are parsed "
                    "from each file name (nbgrader ZipCollect conventions). Duplicates: the latest is kept, the "
                    "others reported. Files matching no student are reported, never dropped. The report is "
                    "printed and written as JSON.")
    source = collect.add_mutually_exclusive_group(required=True)
    source.add_argument("--downloads", metavar="PATH", help="folder or .zip of LMS downloads")
    source.add_argument("--exchange", action="store_true",
                        help="run nbgrader's own `nbgrader collect cnn_week1` from the nbgrader exchange")
    collect.add_argument("--exchange-root", default=None, metavar="DIR",
                         help="the nbgrader exchange directory (default: nbgrader's configured Exchange.root)")
    collect.add_argument("--pattern", action="append", metavar="REGEX",
                         help="file-name regex with a (?P<student_id>...) group and optionally (?P<timestamp>...) "
                              "(YYYY-MM-DD-HH-MM-SS); repeat to try several in order. Default: "
                              "'cnn_week1_<id>_attempt_<time>[_...].<ext>', '<id>_cnn_week1[_...].<ext>' and "
                              "Canvas's '<id>[_late]_<n>_<n>_cnn_week1[...].<ext>'")
    collect.add_argument("--no-file-times", action="store_true",
                         help="without a time in the file name, write no timestamp.txt (default: use the file's time)")
    collect.add_argument("--report", default=None, metavar="PATH",
                         help="the JSON report to append this run to (default: cnnkit/collect-cnn_week1.json)")
    collect.add_argument("--course", default=None, metavar="DIR", help=COURSE_HELP)
    collect.set_defaults(run=_collect)

    grade_all = commands.add_parser(
        "grade-all", help="grade every submitted/<student>/cnn_week1/ in parallel, resumably (shardable)",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=GRADE_ALL_HELP)
    grade_all.add_argument("--jobs", type=int, default=None, metavar="N",
                           help="grading processes at once (default: cores // [sandbox] torch_threads, at least 1)")
    grade_all.add_argument("--timeout", type=float, default=900.0, metavar="SECONDS",
                           help="wall-clock limit for one submission, start-up included (default: 900)")
    grade_all.add_argument("--student", action="append", metavar="ID",
                           help="re-grade only this student (repeatable); always re-graded, even if unchanged; an id "
                                "with no submission is an error (with close matches) and nothing is graded")
    grade_all.add_argument("--part", default=None, metavar="KEY",
                           help="re-grade only this part (a grading.toml part key) and merge it into the previous "
                                "result, when that is a finished grade of the same file under the same settings; "
                                "otherwise the whole submission is graded")
    grade_all.add_argument("--select", default=None, metavar="EXPR",
                           help="with --part: a pytest -k expression narrowing the re-graded tests (default: the part key)")
    grade_all.add_argument("--force", action="store_true", help="re-grade everything, changed or not")
    grade_all.add_argument("--drop", action="append", metavar="ID",
                           help="grade nothing; remove the row and kit results of a student whose submission folder "
                                "is gone (withdrawn, or a row of an older kit), from every manifest; repeatable")
    grade_all.add_argument("--shard", default=None, metavar="I/N",
                           help="grade only shard I of N (numbered from 1: 1/4 … 4/4) into its own manifest; "
                                "combine the shards with `merge` (see above)")
    grade_all.add_argument("--course", default=None, metavar="DIR", help=COURSE_HELP)
    grade_all.set_defaults(run=_grade_all)

    merge = commands.add_parser(
        "merge", help="combine the shard manifests of grade-all --shard into the one manifest export reads",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=MERGE_HELP)
    merge.add_argument("--of", type=int, default=None, metavar="N",
                       help="merge the shards of an N-way split (needed only when several splits are present)")
    merge.add_argument("--course", default=None, metavar="DIR", help=COURSE_HELP)
    merge.set_defaults(run=_merge)

    export = commands.add_parser(
        "export", help="write the CSV gradebook and per-student files, and fill nbgrader's gradebook",
        description="Write OUT/grades.csv (student id, per-part scores, total, max, late flag, days late, penalty, "
                    "final score, submission time, status, reason; the late policy of grading.toml applied to "
                    "timestamp.txt; a student with no grade -- a grader or host fault, a row older than the "
                    "submission or the settings, no row yet -- gets empty score cells and the reason, never 0, "
                    "and export exits 1 listing them), copy each student's results.json and feedback.html to OUT/<student>/, and "
                    "write the same scores (and the late penalty) into nbgrader's gradebook database so that "
                    "`nbgrader export` and formgrader show them.")
    export.add_argument("--out", default=None, metavar="DIR", help="export folder (default: export/cnn_week1/ in the course)")
    export.add_argument("--db-url", default=None, metavar="URL",
                        help="nbgrader gradebook database (default: sqlite:///<course>/gradebook.db)")
    export.add_argument("--no-nbgrader", action="store_true", help="write only the CSV and files, not the gradebook")
    export.add_argument("--allow-missing", action="store_true",
                        help="exit 0 even when some students have no grade (grader or host faults, out-of-date or "
                             "ungraded rows: exported with empty score cells and the reason, never as 0)")
    export.add_argument("--course", default=None, metavar="DIR", help=COURSE_HELP)
    export.set_defaults(run=_export)

    stats = commands.add_parser(
        "stats", help="class statistics: per-part distributions, most failed tests, slowest submissions",
        description="Read the manifest and results of grade-all and print a table per part (mean, median, min, max, "
                    "full and zero counts), the tests most often failed and the slowest submissions; write it to "
                    "OUT/stats.txt and the histograms to OUT/score_histograms.png.")
    stats.add_argument("--out", default=None, metavar="DIR", help="folder for stats.txt and the PNG (default: export/cnn_week1/)")
    stats.add_argument("--top", type=int, default=10, metavar="N", help="rows in the failed-tests and slowest lists (default: 10)")
    stats.add_argument("--course", default=None, metavar="DIR", help=COURSE_HELP)
    stats.set_defaults(run=_stats)

    gradescope = commands.add_parser(
        "gradescope", help="build the Gradescope autograder zip",
        description="Write a Gradescope autograder zip: setup.sh (a virtual environment with the image's Python "
                    "3.10-3.13 and CPU torch; Ubuntu 22.04 or 24.04), run_autograder (grades the submitted file "
                    "that holds the assignment's answer cells into /autograder/results/results.json), the grading "
                    "package, grading.toml, the release notebook and the MNIST loader. Never solutions/ and never "
                    "the source notebook. Give the image at least 2 GB of memory (README, Gradescope).")
    gradescope.add_argument("--out", required=True, metavar="ZIP", help="the zip to write")
    gradescope.add_argument("--with-mnist", action="store_true",
                            help="include the four MNIST .gz files from CNN_MNIST_DIR / [data] mnist_dir "
                                 "(default: the grader downloads MNIST on first use)")
    gradescope.set_defaults(run=_gradescope)

    github = commands.add_parser(
        "github", help="GitHub after GitHub Classroom: Classroom 50 files, a roster grading workflow, a student workflow",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=GITHUB_HELP)
    targets = github.add_subparsers(dest="github_command", required=True, metavar="TARGET")
    classroom50 = targets.add_parser(
        "classroom50", help="the assignments.json entry and the public-checks autograder folder for Classroom 50",
        description="Write CLASSROOM/autograders/SLUG/ (autograder.py, run_public_checks.py, public_checks.py, "
                    "requirements.txt) into a checkout of your organization's classroom50 repository and add or "
                    "refresh the assignment's entry in CLASSROOM/assignments.json. Public checks only: Classroom 50 "
                    "publishes the folder on the classroom's public GitHub Pages site.")
    classroom50.add_argument("--config-repo", required=True, metavar="DIR",
                             help="a checkout of the organization's private classroom50 repository")
    classroom50.add_argument("--classroom", required=True, metavar="NAME", help="the classroom's short name (its folder)")
    classroom50.add_argument("--slug", default=None, metavar="SLUG", help="the assignment's slug (default: cnn-week1)")
    classroom50.add_argument("--template", default=None, metavar="OWNER/REPO",
                             help="the template repository students start from (the student release)")
    classroom50.add_argument("--branch", default="main", help="the template's branch (default: main)")
    roster = targets.add_parser(
        "roster-workflow", help="a workflow for your private grading repository: grade-all over a roster, grades.csv",
        description="Write the GitHub Actions workflow of the instructor's private grading repository (a private "
                    "copy of this kit): it clones each student repository OWNER/PREFIX<username> of the roster with "
                    "a token secret, collects the notebooks, grades them with the hidden graders (grade-all) and "
                    "publishes export/cnn_week1/grades.csv as an artifact.")
    roster.add_argument("--out", default=".github/workflows/grade-roster.yml", metavar="PATH",
                        help="where to write the workflow (default: .github/workflows/grade-roster.yml)")
    roster.add_argument("--roster", default="roster.csv", metavar="PATH",
                        help="the roster in the grading repository: a GitHub username in the first column "
                             "(default: roster.csv; Classroom 50's roster.csv works as it is)")
    roster.add_argument("--owner", default=None, help="the organization or user owning the student repositories "
                                                      "(default: the grading repository's owner)")
    roster.add_argument("--repo-prefix", default=None, metavar="PREFIX",
                        help="student repositories are named PREFIX<username> (default: cnn-week1-; Classroom 50 "
                             "names them <classroom>-<slug>-<username>)")
    roster.add_argument("--token-secret", default="STUDENT_REPOS_TOKEN", metavar="NAME",
                        help="the repository secret holding a token that can read the student repositories "
                             "(default: STUDENT_REPOS_TOKEN)")
    roster.add_argument("--jobs", type=_positive, default=2, metavar="N", help="grade-all --jobs on the runner (default: 2)")
    roster.add_argument("--python", default=None, metavar="X.Y", help="the runner's Python (default: this one's)")
    roster.add_argument("--timeout", type=_positive, default=300, metavar="MINUTES",
                        help="the job's time limit (default: 300; GitHub's hosted runners stop at 360)")
    roster.add_argument("--retention-days", type=_positive, default=90, metavar="DAYS",
                        help="how long GitHub keeps the artifacts (default: 90)")
    student = targets.add_parser(
        "student-workflow", help="the public-checks workflow of a student (template) repository on plain GitHub",
        description="Write .github/workflows/public-checks.yml and .github/public-checks/ (the runner and its "
                    "requirements) into the template repository students start from: every push runs the public "
                    "checks, part by part, as the notebook's check cells do. Public checks only.")
    student.add_argument("--repo", required=True, metavar="DIR", help="the template repository's folder")
    student.add_argument("--python", default="3.12", metavar="X.Y", help="the runner's Python (default: 3.12)")
    github.set_defaults(run=_github)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as error:  # any command: one line naming the file, key and fix; the grader's failure
        print(f"error: {error}", file=sys.stderr)
        return 2
