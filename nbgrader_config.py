"""nbgrader configuration: the repository root is the nbgrader course directory.

The instructor notebook lives in source/cnn_week1/, the student release in release/cnn_week1/
(regenerate it with the kit's release command, which calls autograder.release.generate_release).
The gradebook (gradebook.db, git-ignored) sits beside this file, as nbgrader expects.
"""
import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "cnn-week1"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
# Never ship caches or checkpoints that happen to sit beside the source notebook.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".pytest_cache"]
