"""nbgrader configuration: the repository root is the nbgrader course directory.

The instructor notebook lives in source/cnn_week1/, the student release in release/cnn_week1/
(regenerate it with the kit's release command, which calls autograder.packaging.release.generate_release).
The gradebook (gradebook.db, git-ignored) sits beside this file, as nbgrader expects.

nbgrader's `generate_assignment` (and its old name `assign`) is refused here: with --force it deletes
release/cnn_week1, and when the gradebook already holds submissions (after the kit's export) it fails
half-way and deletes the folder anyway. Use `python -m autograder release`, which runs nbgrader into a
scratch folder and proves the release before replacing release/. The kit's own outputs live in cnnkit/,
which `nbgrader autograde --force` does not touch.
"""
import os
import sys

if (len(sys.argv) > 1 and os.path.basename(sys.argv[0]).startswith("nbgrader")
        and sys.argv[1] in ("generate_assignment", "assign") and not os.environ.get("CNN_KIT_NBGRADER_RELEASE")):
    sys.exit("nbgrader_config.py: `nbgrader %s` is refused in this course: it can delete release/ (see this file). "
             "Run `python -m autograder release` instead (or, with release/ backed up, set CNN_KIT_NBGRADER_RELEASE=1)."
             % sys.argv[1])

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "cnn-week1"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
# Never ship caches or checkpoints that happen to sit beside the source notebook.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".pytest_cache", "*.pth"]
