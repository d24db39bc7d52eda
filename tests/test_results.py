"""Scores as data: points split in whole cents, and a results.json whose numbers add up."""
import json

import pytest

from autograder.engine.files import write_atomic
from autograder.engine.plugin import split_points
from autograder.engine.report import summary
from autograder.engine.results import (FEEDBACK_MAX_BYTES, HIDDEN_FAILURE_TEXT, MAX_PROBLEMS, RESULTS_MAX_BYTES,
                                NotMergeable, SubmissionResult, TestResult, listed_problems, load_result, merge_part,
                                read_results, write_json_atomic, write_result)
from autograder.engine.textsafe import clip, for_terminal, scrub


@pytest.mark.parametrize("points, weights", [(10, [1, 1, 1]), (30, [1, 1, 1, 1, 2, 4, 1, 4, 1]),
                                             (25, [2, 2, 2, 1, 2, 1, 4]), (7.5, [1] * 7), (1, [3, 1])])
def test_points_split_by_weight_in_cents_that_add_up(points, weights):
    shares = split_points(points, weights)
    assert round(sum(shares) * 100) == round(points * 100)
    assert all(round(share * 100) == share * 100 for share in shares)
    exact = [points * w / sum(weights) for w in weights]
    assert all(abs(share - want) < 0.01 for share, want in zip(shares, exact))


def _result():
    tests = [TestResult(name=f"t{i}", part="pooling", max_score=share, passed=i != 1,
                        summary="wrong values", details="first mismatch at (0, 1): 3 vs 4")
             for i, share in enumerate(split_points(10, [1, 1, 1]))]
    tests.append(TestResult(name="secret", part="simple_cnn", max_score=15, passed=False, hidden=True,
                            summary="expected [[1.5, 2.5]]", details="values"))
    return SubmissionResult("s.ipynb", "notebook", tests, parts={"pooling": ("Pooling", 10), "simple_cnn": ("CNN", 15)})


def test_gradescope_scores_are_the_sums_of_the_tests():
    data = _result().to_gradescope()
    assert data["score"] == pytest.approx(sum(test["score"] for test in data["tests"]), abs=1e-9)
    assert data["score"] == 6.67 and data["max_score"] == 25
    assert {tag for test in data["tests"] for tag in test["tags"]} == {"pooling", "simple_cnn"}
    failed = next(test for test in data["tests"] if test["status"] == "failed" and test["tags"] == ["pooling"])
    assert "wrong values" in failed["output"] and "first mismatch" in failed["output"]


def test_hidden_tests_keep_their_secrets_everywhere():
    result = _result()
    secret = next(test for test in result.to_gradescope()["tests"] if test["name"] == "secret")
    assert secret["output"] == HIDDEN_FAILURE_TEXT
    assert "1.5" not in json.dumps(result.to_feedback_data())


SAME = {"submission_sha256": "s" * 64, "config_sha256": "c" * 64, "graders_sha256": "g" * 64, "kit_release": "0.1.0"}


def _graded(scores: dict[str, list[bool]], **provenance) -> SubmissionResult:
    """A result with tests named part/i, passed as given, 10 points per part, and its provenance."""
    tests = [TestResult(name=f"{part}/{i}", part=part, max_score=share, passed=passed, summary="" if passed else "wrong")
             for part, outcomes in scores.items()
             for i, (share, passed) in enumerate(zip(split_points(10, [1] * len(outcomes)), outcomes))]
    return SubmissionResult("s.ipynb", "notebook", tests, parts={part: (part.title(), 10) for part in scores},
                            problems=["cell 3 did not parse"], provenance={**SAME, **provenance})


def test_a_result_written_and_read_back_is_the_same_result(tmp_path):
    result = _graded({"p1": [True, False, True], "p2": [False]}, gate_seed_index=3)
    result.tests[1].hidden = True
    write_result(tmp_path, result)
    again = load_result(tmp_path)
    assert again.to_gradescope() == result.to_gradescope() == read_results(tmp_path / "results.json")
    assert again.part_scores() == {"p1": 6.67, "p2": 0.0} and again.provenance["gate_seed_index"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feedback.json", "results.json"]


def test_a_part_regrade_replaces_only_the_tests_it_graded_and_sums_again():
    previous = _graded({"p1": [True, True], "p2": [False, False, False], "p3": [True]}, gate_seed_index=5)
    fresh = _graded({"p1": [False, False], "p2": [True, True, False], "p3": [False]}, select="p2 and not 2")
    fresh.tests[4].selected = False  # p2/2 was left out of the selection: the previous verdict stays
    merged = merge_part(previous, fresh, "p2")
    assert [(t.name, t.passed) for t in merged.tests] == [("p1/0", True), ("p1/1", True), ("p2/0", True),
                                                          ("p2/1", True), ("p2/2", False), ("p3/0", True)]
    assert merged.part_scores() == {"p1": 10, "p2": 6.67, "p3": 10} and merged.score == 26.67
    data = merged.to_gradescope()
    assert data["score"] == 26.67 and data["output"].startswith("Score: 26.67 / 30")
    assert merged.provenance["select"] is None and merged.provenance["regraded_part"] == "p2"
    assert merged.provenance["gate_seed_index"] == 5  # the gate did not run again: the previous draw stands


@pytest.mark.parametrize("key", sorted(SAME))
def test_a_part_regrade_merges_only_into_a_grade_of_the_same_file_settings_graders_and_kit(key):
    previous = _graded({"p1": [True], "p2": [False]})
    with pytest.raises(NotMergeable, match=key):
        merge_part(previous, _graded({"p1": [False], "p2": [True]}, **{key: "other"}), "p2")
    previous.provenance.pop(key)  # a result that does not say what produced it takes no merge either
    with pytest.raises(NotMergeable, match=key):
        merge_part(previous, _graded({"p1": [False], "p2": [True]}), "p2")


def test_a_regrade_that_graded_nothing_of_the_part_is_refused():
    fresh = _graded({"p1": [True], "p2": [True]})
    fresh.tests[1].selected = False
    with pytest.raises(NotMergeable, match="no test of part 'p2'"):
        merge_part(_graded({"p1": [True], "p2": [False]}), fresh, "p2")


def test_problems_listed_once_are_not_listed_again():
    listed = listed_problems([f"problem {i}" for i in range(MAX_PROBLEMS + 5)])
    assert listed[-1] == "... and 5 more problems of the same kinds." and listed_problems(listed) == listed


def test_atomic_write_leaves_only_the_finished_file(tmp_path):
    write_json_atomic(tmp_path / "results.json", {"score": 1})
    write_json_atomic(tmp_path / "results.json", {"score": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
    assert json.loads((tmp_path / "results.json").read_text()) == {"score": 2}
    with pytest.raises(ValueError):  # NaN is not JSON: nothing half-written is left behind
        write_json_atomic(tmp_path / "results.json", {"score": float("nan")})
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]



def test_one_atomic_writer_takes_bytes_text_or_a_stream_writer_and_sets_the_mode(tmp_path):
    import stat

    import numpy as np

    path = tmp_path / "out"
    assert write_atomic(path, b"bytes") == path and path.read_bytes() == b"bytes"
    write_atomic(path, "text \ud800")
    assert path.read_text(encoding="utf-8") == "text ?"
    write_atomic(path, lambda stream: np.save(stream, np.arange(3)), mode=0o600)
    assert np.load(path).tolist() == [0, 1, 2] and stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(RuntimeError):  # a writer that fails leaves the old file, and no temporary
        write_atomic(path, lambda stream: (stream.write(b"half"), (_ for _ in ()).throw(RuntimeError())))
    assert np.load(path).tolist() == [0, 1, 2] and [p.name for p in tmp_path.iterdir()] == ["out"]

# ----- whatever a submission does, the outputs stay bounded, valid and inert --------------------

ESCAPES = "\x1b[2J\x1b[31mred\x1b]0;owned title\x07\x1b]8;;http://x\x1b\\link\u202e\x9b1m\x07\x08"
HUGE_TYPE = "E" * 4_000_000


def _hostile_result(tests=60, problems=100_000, with_figures=3):
    import torch

    from autograder.engine.attachments import json_safe

    attachments = json_safe({"feature_maps": {"input": torch.zeros(28, 28), "expected": torch.zeros(28, 28),
                                              "yours": torch.full((3000, 3000), 1.5), "title": "demo"},
                             "loss_curve": [0.5] * 1_000_000})
    summary, details = f"`f` raised {HUGE_TYPE}\ud800: {ESCAPES}", "d" * 3_000_000
    output, problem = "printed\ud800" * 500_000, f"\ud800{ESCAPES}" + "x" * 10_000
    results = [TestResult(name=f"t{i} {ESCAPES}\ud800", part="pooling", max_score=1, passed=False,
                          summary=summary, details=details, student_output=output,
                          attachments=attachments if i < with_figures else {})
               for i in range(tests)]
    return SubmissionResult(f"sub{ESCAPES}\udfff.ipynb", "notebook", results, parts={"pooling": ("Pooling", tests)},
                            problems=[problem] * problems)


def test_hostile_strings_and_huge_maps_keep_the_json_files_small_and_valid(tmp_path):
    result = _hostile_result()
    write_json_atomic(tmp_path / "results.json", result.to_gradescope())
    write_json_atomic(tmp_path / "feedback.json", result.to_feedback_data())
    results, feedback = (tmp_path / "results.json").read_bytes(), (tmp_path / "feedback.json").read_bytes()
    assert len(results) <= RESULTS_MAX_BYTES and len(feedback) <= FEEDBACK_MAX_BYTES
    data, report = json.loads(results.decode("utf-8")), json.loads(feedback.decode("utf-8"))  # strict UTF-8
    assert data["score"] == 0 and len(data["tests"]) == 60 and "characters cut" in data["tests"][0]["output"]
    assert "more problems" in data["output"] and "\ufffd" in data["output"]
    kept = [test["attachments"] for test in report["tests"] if "feature_maps" in test["attachments"]]
    assert len(kept) == 3
    maps = kept[0]["feature_maps"]
    assert maps["yours_shape"] == [3000, 3000] and len(maps["yours"]) <= 64 and len(maps["yours"][0]) <= 64
    assert len(kept[0]["loss_curve"]) <= 2048


def test_too_many_big_attachments_are_dropped_not_written(tmp_path):
    import torch

    from autograder.engine.attachments import json_safe

    big = json_safe({"maps": torch.rand(16, 64, 64)})  # within the per-array limit, but ~1 MB of JSON
    tests = [TestResult(name=f"t{i}", part="p", max_score=1, passed=False, attachments=big) for i in range(5)]
    result = SubmissionResult("s.ipynb", "notebook", tests, parts={"p": ("P", 5)})
    write_json_atomic(tmp_path / "feedback.json", result.to_feedback_data())
    assert (tmp_path / "feedback.json").stat().st_size <= FEEDBACK_MAX_BYTES
    kept = json.loads((tmp_path / "feedback.json").read_text())["tests"]
    assert any("maps" in test["attachments"] for test in kept)
    assert any(test["attachments"].get("dropped") for test in kept)


def test_terminal_report_is_bounded_and_has_no_escapes():
    text = summary(_hostile_result(tests=3, problems=50), colour=False)
    assert len(text) < 60_000
    assert not any(char in text for char in "\x1b\x07\x08\x9b\u202e\ud800")
    assert "red" in text and "owned title" not in text


def test_a_surrogate_reaching_the_writer_is_replaced_not_a_crash(tmp_path):
    write_json_atomic(tmp_path / "x.json", {"text": "a\ud800b"})
    assert json.loads((tmp_path / "x.json").read_text(encoding="utf-8")) == {"text": "a?b"}


@pytest.mark.parametrize("text, cleaned", [
    ("plain\ttext\nnext line", "plain\ttext\nnext line"),
    ("\x1b[1;31mbold red\x1b[0m", "bold red"),
    ("before\x1b]0;window title\x07after", "beforeafter"),
    ("before\x1b]8;;http://example.com\x1b\\after", "beforeafter"),
    ("a\x00b\x7fc\x9b1md\u202ee\r", "abcde"),
])
def test_terminal_text_loses_every_escape(text, cleaned):
    assert for_terminal(text) == cleaned


def test_clip_bounds_and_repairs():
    assert clip("x" * 10, 4) == "xxxx… [6 more characters cut]"
    assert clip("ok\ud800") == "ok\ufffd"
    assert clip(10 ** 5000) .startswith("<unprintable int")
    assert scrub({"k\udfff": [float("nan"), 10 ** 5000, 2, "s\ud800"]}) == {"k\ufffd": [None, None, 2, "s\ufffd"]}


def test_attachments_are_cut_to_figure_size_with_their_shape_kept():
    import numpy as np
    import torch

    from autograder.engine.attachments import json_safe

    data = json_safe({"small": torch.ones(28, 28), "wide": np.zeros((2, 40, 5000)), "many": torch.zeros(100, 3, 3),
                      "nested": [[1.0] * 500] * 500, "nan": torch.tensor([float("nan"), 1.0]), "deep": [[[[[[[[[[1]]]]]]]]]]})
    assert len(data["small"]) == 28 and "small_shape" not in data
    assert data["wide_shape"] == [2, 40, 5000] and len(data["wide"][0]) == 40 and len(data["wide"][0][0]) <= 64
    assert data["many_shape"] == [100, 3, 3] and len(data["many"]) == 16
    assert data["nested_shape"] == [500, 500] and len(data["nested"]) <= 64 and len(data["nested"][0]) <= 64
    assert data["nan"] == [None, 1.0] and json.dumps(data, allow_nan=False)
