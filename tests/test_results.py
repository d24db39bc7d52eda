"""Scores as data: points split in whole cents, and a results.json whose numbers add up."""
import json

import pytest

from autograder.plugin import split_points
from autograder.results import HIDDEN_FAILURE_TEXT, SubmissionResult, TestResult, write_json_atomic


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


def test_atomic_write_leaves_only_the_finished_file(tmp_path):
    write_json_atomic(tmp_path / "results.json", {"score": 1})
    write_json_atomic(tmp_path / "results.json", {"score": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
    assert json.loads((tmp_path / "results.json").read_text()) == {"score": 2}
    with pytest.raises(ValueError):  # NaN is not JSON: nothing half-written is left behind
        write_json_atomic(tmp_path / "results.json", {"score": float("nan")})
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
