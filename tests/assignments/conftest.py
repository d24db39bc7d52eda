"""Example assignments that tests/test_second_assignment.py grades: their graders/ are hidden
grader tests run by the kit, not tests of the kit, so pytest does not collect this folder."""
collect_ignore_glob = ["*/*"]
