"""A diagnosed mistake is charged once: the rule of grading.toml [scoring] same_mistake, the graders'
diagnoses that feed it, and how results.json, a part re-grade and feedback.html show it.

The graders' diagnoses are checked with the real grader tests, run in this process on the reference
solution with one classic mistake pasted in (tests/classic_mistakes.py): a stand-in for the sandboxed
``student`` calls the functions and the worker's own tasks here, copying values both ways as the wire
does. That is cheap (no worker, no MNIST) and the verdicts are the graders' own.
"""
from __future__ import annotations

import copy
import importlib
import json
import re
import sys
import warnings

import pytest
import torch

from autograder.engine.checks import diagnosed_cases, expect_float, expect_int, expect_tensor
from autograder.engine.config import ConfigError, grading_digest, load_config
from autograder.engine.failures import GradingFailure, StudentFailure
from autograder.engine.feedback_html import render_feedback
from autograder.engine.plugin import split_points
from autograder.engine.results import (HIDDEN_FAILURE_TEXT, HIDDEN_SAME_MISTAKE_TEXT, SubmissionResult, TestResult,
                                       apply_same_mistake, load_result, merge_part, write_result)
from classic_mistakes import MISTAKES
from conftest import REPO_ROOT

with warnings.catch_warnings():  # the graders' marks are registered by the grading plugin, not here
    warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
    manual_conv_graders, output_size_graders, pooling_graders, simple_cnn_graders, training_graders = (
        importlib.import_module(f"autograder.assignments.cnn_week1.graders.test_{part}")
        for part in ("manual_conv", "output_size", "pooling", "simple_cnn", "training_loop"))

SOLUTION = REPO_ROOT / "solutions" / "cnn_week1.py"
WORKER = REPO_ROOT / "autograder" / "assignments" / "cnn_week1" / "worker"


# ----- the rule ------------------------------------------------------------------------------

def _test(name, points, passed=False, diagnosis=None, part="p", hidden=False, selected=True):
    return TestResult(name=name, part=part, max_score=points, passed=passed, summary="" if passed else f"{name} wrong",
                      diagnosis=diagnosis, hidden=hidden, selected=selected)


def test_a_diagnosis_is_charged_once_at_its_heaviest_test():
    tests = [_test("a", 2.0, diagnosis="f: flipped"), _test("b", 5.0, diagnosis="f: flipped"),
             _test("c", 3.0, diagnosis="f: flipped"), _test("d", 1.0, diagnosis="f: other"),
             _test("e", 1.0), _test("f", 1.0, passed=True, diagnosis="f: flipped")]
    apply_same_mistake(tests)
    assert [t.score for t in tests] == [2.0, 0.0, 3.0, 0.0, 0.0, 1.0]
    assert [t.same_mistake_as for t in tests] == ["b", None, "b", None, None, None]
    assert tests[1].same_mistake_in == ["a", "c"]
    # a lone diagnosis, another diagnosis and a failure without one are charged as they are
    assert tests[3].same_mistake_in == [] and tests[4].same_mistake_as is None


def test_equal_points_charge_a_visible_test_then_the_first():
    tests = [_test("hidden", 5.0, diagnosis="k", hidden=True), _test("first", 5.0, diagnosis="k"),
             _test("second", 5.0, diagnosis="k")]
    apply_same_mistake(tests)
    assert [t.same_mistake_as for t in tests] == ["first", None, "first"]
    assert tests[1].same_mistake_in == ["second"] and tests[1].same_mistake_hidden == 1


def test_the_rule_stays_within_a_part_and_among_graded_tests():
    tests = [_test("p1", 2.0, diagnosis="k", part="one"), _test("p2", 2.0, diagnosis="k", part="two"),
             _test("left out", 3.0, diagnosis="k", part="one", selected=False)]
    apply_same_mistake(tests)
    assert all(t.same_mistake_as is None for t in tests)


def test_each_charges_every_failed_test_and_the_rule_can_be_applied_again():
    tests = [_test("a", 2.0, diagnosis="k"), _test("b", 3.0, diagnosis="k")]
    apply_same_mistake(tests, "each")
    assert [t.score for t in tests] == [0.0, 0.0]
    apply_same_mistake(tests, "once")
    apply_same_mistake(tests, "once")  # idempotent: credits are recomputed, never accumulated
    assert [t.score for t in tests] == [2.0, 0.0] and tests[1].same_mistake_in == ["a"]
    with pytest.raises(ValueError):
        apply_same_mistake(tests, "twice")


def test_what_the_student_reads_for_credited_and_charged_tests():
    tests = [_test("lesson", 3.0, diagnosis="k"), _test("random", 3.0, diagnosis="k", hidden=True),
             _test("by hand", 1.0, diagnosis="k")]
    tests[2].details = "first difference at (0, 1)"
    apply_same_mistake(tests)
    lesson, random, by_hand = tests
    assert by_hand.feedback().startswith("Same mistake as in “lesson”: charged once there, so this test costs no "
                                         "points.\n\nby hand wrong")
    assert "first difference" in by_hand.feedback()
    assert random.feedback() == HIDDEN_SAME_MISTAKE_TEXT and "lesson" not in random.feedback()
    assert lesson.feedback().endswith("The same mistake also failed 2 other tests (“by hand”, 1 hidden test); it is "
                                      "charged once, here.")
    result = SubmissionResult("s.py", "python", tests, parts={"p": ("Part", 7.0)})
    data = result.to_gradescope()
    assert data["score"] == 4.0 == sum(t["score"] for t in data["tests"])
    assert [t["status"] for t in data["tests"]] == ["failed"] * 3  # credited, but it did fail
    assert "random wrong" not in json.dumps(result.to_feedback_data())  # a hidden test keeps its words


def test_results_read_back_keep_the_diagnoses_and_a_part_regrade_applies_the_rule_again(tmp_path):
    same = {"submission_sha256": "s" * 64, "config_sha256": "c" * 64, "graders_sha256": "g" * 64, "kit_release": "1"}

    def graded(outcomes):
        shares = split_points(10, [2, 1, 1])
        tests = [_test(f"p/{i}", share, passed=ok, diagnosis=None if ok else "k")
                 for i, (share, ok) in enumerate(zip(shares, outcomes))]
        apply_same_mistake(tests)
        return SubmissionResult("s.py", "python", tests, parts={"p": ("P", 10)}, provenance=dict(same))

    previous = graded([False, False, False])
    assert previous.score == 5.0  # charged once, at p/0 (5 points)
    write_result(tmp_path, previous)
    again = load_result(tmp_path)
    assert [(t.diagnosis, t.same_mistake_as) for t in again.tests] == [("k", None), ("k", "p/0"), ("k", "p/0")]
    assert again.score == previous.score
    fresh = graded([True, False, False])  # the student fixed what p/0 saw; p/1 and p/2 were re-graded too
    fresh.tests[2].selected = False  # ... except p/2, whose previous verdict stays
    merged = merge_part(again, fresh, "p")
    assert [t.same_mistake_as for t in merged.tests] == [None, None, "p/1"] and merged.score == 7.5


# ----- precise diagnoses ---------------------------------------------------------------------

def test_hints_carry_their_diagnosis():
    with pytest.raises(GradingFailure) as caught:
        expect_tensor(torch.ones(2), torch.zeros(2), "x", hints=[("all ones", torch.ones(2), "f: ones")])
    assert caught.value.diagnosis == "f: ones" and "Hint: all ones" in caught.value.summary
    with pytest.raises(GradingFailure) as caught:
        expect_tensor(torch.ones(2), torch.zeros(2), "x", hints=[("all ones", torch.ones(2))])  # no key: a hint only
    assert caught.value.diagnosis is None and "Hint: all ones" in caught.value.summary
    with pytest.raises(GradingFailure) as caught:
        expect_int(27, 28, "size", hints=[("the +1 seems missing", 27, "f: +1")])
    assert caught.value.diagnosis == "f: +1"
    with pytest.raises(GradingFailure) as caught:
        expect_float(2.0, 1.0, "loss", hints=[("doubled", 2.0, "f: doubled")])
    assert caught.value.diagnosis == "f: doubled"


def _run_cases(outcomes, seen: list) -> list:
    """Run cases that fail as given ("k"/"j": with that diagnosis, "-": without, "raise": the code raised)."""
    with diagnosed_cases() as case:
        for index, outcome in enumerate(outcomes):
            with case():
                seen.append(index)
                if outcome == "raise":
                    raise StudentFailure("exception", f"case {index} raised")
                if outcome:
                    raise GradingFailure(f"case {index}", diagnosis=None if outcome == "-" else outcome)
    return seen


@pytest.mark.parametrize("outcomes, first, diagnosis, ran", [
    ([None, "k", None, "k"], "case 1", "k", 4),  # every failing case has the same diagnosis: it stands
    ([None, "k", "j", None], "case 1", None, 3),  # another diagnosis: the first failure, undiagnosed
    (["k", "-", None], "case 0", None, 2),  # a failure without one: the same
    (["k", "raise"], "case 0", None, 2),  # the code raised in a later case: the same
    (["-", "k"], "case 0", None, 1),  # an undiagnosed first failure ends the test at once, as before
    (["raise", "k"], "case 0 raised", None, 1),
])
def test_a_diagnosis_stands_only_when_it_explains_every_failing_case(outcomes, first, diagnosis, ran):
    seen = []
    with pytest.raises((GradingFailure, StudentFailure)) as caught:
        _run_cases(outcomes, seen)
    assert caught.value.summary == first and getattr(caught.value, "diagnosis", None) == diagnosis
    assert len(seen) == ran  # after a diagnosed failure the other cases still run, to check the diagnosis
    assert _run_cases([None, None], []) == [0, 1]


class InProcessStudent:
    """The graders' ``student`` without a sandbox: the reference solution with some cells replaced,
    called here; the worker's tasks run here too. Values are copied both ways, as the wire does."""

    def __init__(self, *mistakes: str, **sources: str):
        self.namespace: dict = {"__name__": "student_submission"}
        exec(compile(SOLUTION.read_text(encoding="utf-8"), "solution.py", "exec"), self.namespace)
        for source in [MISTAKES[name][1] for name in mistakes] + list(sources.values()):
            exec(compile(source, "mistake.py", "exec"), self.namespace)

    def call(self, name, *args, watch=None, timeout=None, **kwargs):
        try:
            value = self.namespace[name](*copy.deepcopy(args), **copy.deepcopy(kwargs))
        except Exception as error:
            raise StudentFailure("exception", f"`{name}` raised {type(error).__name__}: {error}",
                                 error_type=type(error).__name__) from None
        return copy.deepcopy(value)

    def task(self, task, payload, timeout=None, needs=()):
        sys.path.insert(0, str(WORKER))
        try:
            import tasks  # the worker's module, as the fork-server imports it
        finally:
            sys.path.remove(str(WORKER))
        return copy.deepcopy(getattr(tasks, task)(self.namespace, copy.deepcopy(payload), None))


def _outcome(grader, student) -> GradingFailure | None:
    """Run one real grader test (skipping its figures): None when it passes, else its failure."""
    try:
        grader(student, attach=lambda key, value: None) if "attach" in grader.__code__.co_varnames \
            else grader(student)
    except GradingFailure as failure:
        return failure
    return None


def _diagnoses(graders, student) -> list:
    return [getattr(_outcome(grader, student), "diagnosis", "passed") for grader in graders]


def test_the_reference_passes_the_graders_run_here():
    reference = InProcessStudent()
    graders = (manual_conv_graders.test_conv2d_single_lesson_examples, output_size_graders.test_zero_pad_shapes_and_values,
               simple_cnn_graders.test_simple_cnn_forward, training_graders.test_train_one_epoch_returns)
    assert [_outcome(grader, reference) for grader in graders] == [None] * 4


@pytest.mark.parametrize("mistake, graders, diagnosis", [
    ("flipped kernel", (manual_conv_graders.test_conv2d_single_lesson_examples,
                        manual_conv_graders.test_conv2d_single_random), "conv2d_single: flipped kernel"),
    ("one-sided padding", (output_size_graders.test_zero_pad_shapes_and_values,
                           output_size_graders.test_zero_pad_dtype_and_pad_zero),
     "zero_pad: zeros on the bottom and right only"),
    ("pooling without stride", (pooling_graders.test_max_pool2d_random, pooling_graders.test_pooling_lesson_example),
     "max_pool2d: windows move by 1 pixel"),
    ("wrong fc1 in_features", (simple_cnn_graders.test_simple_cnn_layers, simple_cnn_graders.test_simple_cnn_parameters,
                               simple_cnn_graders.test_simple_cnn_shapes, simple_cnn_graders.test_simple_cnn_forward),
     "SimpleCNN: fc1 in_features"),
    ("no zero_grad", (training_graders.test_train_one_epoch_weights, training_graders.test_train_one_epoch_returns,
                      training_graders.test_train_one_epoch_steps), "train_one_epoch: no zero_grad"),
])
def test_a_classic_mistake_is_one_diagnosis_in_every_test_it_fails(mistake, graders, diagnosis):
    assert _diagnoses(graders, InProcessStudent(mistake)) == [diagnosis] * len(graders)


def test_the_returns_test_names_the_loop_mistake_and_says_the_return_code_is_right():
    shapes = _outcome(simple_cnn_graders.test_simple_cnn_shapes, InProcessStudent("wrong fc1 in_features"))
    assert shapes.details == "the forward stopped inside `self.fc1`, which got an input of shape (4, 400)"
    failure = _outcome(training_graders.test_train_one_epoch_returns, InProcessStudent("no zero_grad"))
    assert "exactly those of a loop that never zeroes the gradients" in failure.summary
    assert "the mean loss and the accuracy are computed right" in failure.summary


def test_the_missing_plus_one_is_diagnosed_in_the_table_and_where_it_makes_an_output_of_one_look_empty():
    table = _outcome(output_size_graders.test_conv_output_size_table, InProcessStudent("missing +1 in the output size"))
    assert table.diagnosis == "conv_output_size: missing +1" and "Hint: the +1 seems missing" in table.summary
    checked = InProcessStudent(conv_output_size='''def conv_output_size(n, f, padding=0, stride=1):
    if f < 1 or stride < 1 or padding < 0:
        raise ValueError("bad arguments")
    size = (n + 2 * padding - f) // stride
    if size < 1:
        raise ValueError("the filter does not fit")
    return size
''')
    assert _diagnoses((output_size_graders.test_conv_output_size_table,
                       output_size_graders.test_conv_output_size_errors), checked) == ["conv_output_size: missing +1"] * 2


def test_a_second_fault_in_the_same_test_is_charged_as_usual():
    # flipped AND the stride ignored: the strided cases match no single mistake, so no diagnosis
    both = InProcessStudent(conv2d_single='''_reference_conv = conv2d_single
def conv2d_single(image, kernel, stride=1, padding=0):
    return _reference_conv(image, kernel.flip(0, 1), 1, padding)
''')
    failure = _outcome(manual_conv_graders.test_conv2d_single_lesson_examples, both)
    assert "Hint: your kernel seems flipped" in failure.summary and failure.diagnosis is None
    # fc1 wrong and one more layer wrong: the structure is not "the contract but fc1", so no diagnosis
    two_layers = InProcessStudent(SimpleCNN=MISTAKES["wrong fc1 in_features"][1].replace(
        "nn.Linear(120, 84), nn.Linear(84, 10)", "nn.Linear(120, 80), nn.Linear(80, 10)"))
    assert _diagnoses((simple_cnn_graders.test_simple_cnn_layers, simple_cnn_graders.test_simple_cnn_parameters),
                      two_layers) == [None, None]


def test_real_graders_and_the_rule_charge_a_missing_zero_grad_once():
    """The three probe tests of train_one_epoch fail by one diagnosis: with the graders' points
    (weights 2, 2, 2 of the part's 12) the mistake costs 25 × 2/12, not three times that."""
    graders = (training_graders.test_train_one_epoch_weights, training_graders.test_train_one_epoch_returns,
               training_graders.test_train_one_epoch_steps)
    student = InProcessStudent("no zero_grad")
    shares = split_points(25, [2, 2, 2, 1, 2, 1, 2])
    tests = []
    for (grader, share) in zip(graders, shares):
        failure = _outcome(grader, student)
        tests.append(TestResult(name=grader.__name__, part="training_loop", max_score=share, passed=False,
                                summary=failure.summary, diagnosis=failure.diagnosis))
    apply_same_mistake(tests)
    assert sum(t.max_score - t.score for t in tests) == shares[0] == 4.17
    assert [t.same_mistake_as for t in tests] == [None, "test_train_one_epoch_weights", "test_train_one_epoch_weights"]


# ----- grading.toml -------------------------------------------------------------------------

def _config_with(tmp_path, text: str):
    path = tmp_path / "grading.toml"
    shipped = (REPO_ROOT / "grading.toml").read_text(encoding="utf-8")
    path.write_text(re.sub(r"(?ms)^\[scoring\]\n.*?(?=^\[|\Z)", text, shipped), encoding="utf-8")
    return path


def test_same_mistake_is_read_strictly_and_changes_the_digest(tmp_path):
    assert load_config().scoring.same_mistake == "once"
    assert load_config(_config_with(tmp_path, "")).scoring.same_mistake == "once"  # the default, when absent
    each = load_config(_config_with(tmp_path, '[scoring]\nsame_mistake = "each"\n\n'))
    assert each.scoring.same_mistake == "each" and grading_digest(each) != grading_digest(load_config())
    for text, message in (('[scoring]\nsame_mistake = "twice"\n\n', r'same_mistake = .twice. must be one of "once", "each"'),
                          ('[scoring]\nsame_mistakes = "once"\n\n', r"\[scoring\] same_mistakes; did you mean 'same_mistake'"),
                          ("[scoring]\nsame_mistake = 1\n\n", r"must be a string")):
        with pytest.raises(ConfigError, match=message):
            load_config(_config_with(tmp_path, text))


# ----- feedback.html ------------------------------------------------------------------------

def _feedback_data():
    tests = [_test("conv lesson", 5.0, diagnosis="k", part="conv"), _test("conv random", 5.0, diagnosis="k",
                                                                           part="conv", hidden=True),
             _test("conv by hand", 2.5, diagnosis="k", part="conv"), _test("pool", 10.0, passed=True, part="pool")]
    tests[0].checks, tests[1].checks, tests[3].checks = "the `lesson` images", "SECRET random cases", "pools"
    apply_same_mistake(tests)
    return SubmissionResult("s.py", "python", tests, parts={"conv": ("Convolution", 12.5), "pool": ("Pooling", 10.0)},
                            same_mistake="once").to_feedback_data()


def test_feedback_html_says_where_a_mistake_was_charged_and_shows_the_rubric():
    html = render_feedback(_feedback_data())
    items = {name: html.split(f'id="test-{index}"', 1)[1].split("</li>", 1)[0]
             for index, name in ((2, "conv by hand"), (1, "conv random"))}
    assert 'class="badge">same mistake</span>' in items["conv by hand"]
    assert "Same mistake as in “conv lesson”: charged once there" in items["conv by hand"]
    assert '<a href="#test-0">See that test.</a>' in items["conv by hand"] and 'id="test-0"' in html
    assert HIDDEN_SAME_MISTAKE_TEXT in items["conv random"] and HIDDEN_FAILURE_TEXT not in items["conv random"]
    assert "The same mistake also failed 2 other tests, marked “same mistake”: it is charged once, here." in html
    rubric = html.split('id="rubric"', 1)[1]
    assert "Rubric: what each test checks and what it is worth" in rubric and "charged once" in rubric
    assert "Convolution (12.5 points)" in rubric and "the <code>lesson</code> images" in rubric
    rows = re.findall(r"<tr><td>(.*?)</td><td class=\"num\">([\d.]+)</td></tr>", rubric)
    assert [(re.sub(r"<.*", "", cell).strip(), points) for cell, points in rows] == [
        ("conv lesson", "5"), ("conv random", "5"), ("conv by hand", "2.5"), ("pool", "10")]
    assert "SECRET" not in html  # a hidden test's words stay out of the rubric too
