"""What the student's code printed during a test is in that test's feedback whenever the test fails:
when a call raised (the failing call's own output) and also when every call returned but a value was
wrong (the output of the test's calls that returned, kept by the worker session). Hidden tests keep it
secret; a passing test just says "Passed."."""
from __future__ import annotations

import contextlib
import io

from conftest import REPO_ROOT

SOLUTION = REPO_ROOT / "solutions" / "cnn_week1.py"

PRINTING = '''
_reference_conv2d_single = conv2d_single


def conv2d_single(image, kernel, stride=1, padding=0):
    print(f"debug: kernel sum {float(kernel.sum()):g}, image {tuple(image.shape)}")
    return _reference_conv2d_single(image, kernel.flip(0, 1), stride, padding)  # a flipped kernel


def horizontal_edge_filter():
    print("debug: about to build the horizontal filter")
    raise RuntimeError("not finished")


_reference_vertical = vertical_edge_filter


def vertical_edge_filter():
    print("debug: vertical filter, printed by a passing test")
    return _reference_vertical()
'''


def test_printed_output_is_shown_when_a_test_fails_on_a_wrong_value_or_an_error(tmp_path, sandbox_config, fork_server):
    from autograder.engine.grade import grade

    submission = tmp_path / "submission.py"
    submission.write_text(SOLUTION.read_text(encoding="utf-8") + PRINTING, encoding="utf-8")
    wanted = ("test_conv2d_single_lesson_examples", "test_conv2d_single_random", "test_horizontal_edge_filter",
              "test_vertical_edge_filter")
    with contextlib.redirect_stdout(io.StringIO()):
        result = grade(submission, tmp_path / "out", config=sandbox_config, select=" or ".join(wanted),
                       server=fork_server)
    tests = {test.name.split()[0] + (" hidden" if test.hidden else ""): test for test in result.tests if test.selected}
    wrong_value = next(test for test in result.tests if test.selected and not test.hidden
                       and test.name.startswith("conv2d_single reproduces"))
    assert not wrong_value.passed and "flipped" in wrong_value.feedback()
    assert "Your code printed:\ndebug: kernel sum 0, image (8, 8)" in wrong_value.feedback()
    raised = next(test for test in result.tests if test.selected and test.name.startswith("horizontal_edge_filter"))
    assert not raised.passed and "RuntimeError" in raised.feedback()
    assert "Your code printed:\ndebug: about to build the horizontal filter" in raised.feedback()
    passed = next(test for test in result.tests if test.selected and test.name.startswith("vertical_edge_filter"))
    assert passed.passed and passed.feedback() == "Passed."
    hidden = [test for test in result.tests if test.selected and test.hidden]
    assert hidden and all("debug:" not in test.feedback() for test in hidden), tests
    assert all("debug:" not in str(test) for test in result.to_gradescope()["tests"] if "hidden" in str(test).lower()
               and "conv2d_single matches" in test["name"])
