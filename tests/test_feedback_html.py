"""The HTML feedback report, rendered from real grading runs of good, empty and buggy submissions.

Every submission is graded once per module by ``python -m autograder grade`` (in parallel
subprocesses) with the real graders and a copy of grading.toml whose training budget is a
tenth of MNIST (FAST_TRAINING), so the accuracy gate still trains for real but in seconds.
The reference solution and the stub are graded in full; each buggy submission only on the
parts its bug touches (``--select``), the rest of its report saying the tests were not graded in this run.
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import markupsafe
import pytest

from conftest import shown_docstring_lines
from week1 import WEEK1
from autograder.engine.feedback_html import render_feedback, write_feedback
from autograder.engine.results import HIDDEN_FAILURE_TEXT, HIDDEN_SAME_MISTAKE_TEXT
from autograder.engine.rubric import rubric_rows

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SOLUTION = REPO / "solutions" / "cnn_week1.py"
GRADERS = WEEK1.graders_dir
FAST_TRAINING = {"train_samples": "6000", "min_accuracy": "50.0"}  # the reference reaches ~77 %, no step ~10 %
XSS_PRINT = "<script>alert('printed')</script>"
XSS_RAISE = '<img src=x onerror="alert(1)">'

STUB = '''
import torch
def vertical_edge_filter(): raise NotImplementedError()
def horizontal_edge_filter(): raise NotImplementedError()
def sobel_filter(direction="horizontal"): raise NotImplementedError()
def conv2d_single(image, kernel, stride=1, padding=0): raise NotImplementedError()
def conv2d_volume(volume, filters, bias=None, stride=1, padding=0): raise NotImplementedError()
def conv_output_size(n, f, padding=0, stride=1): raise NotImplementedError()
def same_padding(f): raise NotImplementedError()
def zero_pad(x, pad): raise NotImplementedError()
def max_pool2d(x, size=2, stride=2): raise NotImplementedError()
def avg_pool2d(x, size=2, stride=2): raise NotImplementedError()
class SimpleCNN(torch.nn.Module):
    def __init__(self): raise NotImplementedError()
def train_one_epoch(model, loader, criterion, optimizer, device="cpu"): raise NotImplementedError()
def evaluate(model, loader, device="cpu"): raise NotImplementedError()
def feature_maps(model, image): raise NotImplementedError()
'''

# Each bug is the reference solution with one function redefined at the end of the file.
FLIPPED_KERNEL = f'''
_correct_conv2d_single = conv2d_single
def conv2d_single(image, kernel, stride=1, padding=0):
    return _correct_conv2d_single(image, torch.flip(kernel, (0, 1)), stride, padding)

def vertical_edge_filter():
    print({XSS_PRINT!r})
    raise RuntimeError({XSS_RAISE!r})
'''
AVG_POOL_SUMS = '''
_correct_avg_pool2d = avg_pool2d
def avg_pool2d(x, size=2, stride=2):
    return _correct_avg_pool2d(x, size, stride) * (size * size)
'''
NO_OPTIMIZER_STEP = '''
def train_one_epoch(model, loader, criterion, optimizer, device="cpu"):
    model.train()
    total, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        optimizer.zero_grad()
        outputs = model(images)
        loss = criterion(outputs, labels)
        loss.backward()  # ... and no optimizer.step(): the weights never move
        total += loss.item()
        correct += (outputs.argmax(1) == labels).sum().item()
        seen += labels.numel()
    return total / len(loader), 100.0 * correct / seen
'''

SUBMISSIONS = {  # name -> (source, pytest -k selection (grader files are test_<part>.py) or None: all)
    "reference": (None, None),
    "stub": (STUB, None),
    "flipped_kernel": (FLIPPED_KERNEL, "manual_conv or output_size"),
    "avg_pool_sums": (AVG_POOL_SUMS, "pooling"),
    "no_optimizer_step": (NO_OPTIMIZER_STEP, "training_loop"),
}


def _fast_config(root: Path) -> Path:
    """grading.toml as it is, but for the training budget's size and threshold."""
    text = (REPO / "grading.toml").read_text(encoding="utf-8")
    for key, value in FAST_TRAINING.items():
        text, count = re.subn(rf"(?m)^{key}\s*=\s*[^#\n]*", f"{key} = {value} ", text)
        assert count == 1, f"grading.toml has no single {key} setting"
    (root / "grading.toml").write_text(text, encoding="utf-8")
    return root / "grading.toml"


def _grade(name: str, source: str | None, select: str | None, root: Path) -> Path:
    submission = SOLUTION if source is None else root / f"{name}.py"
    if source is not None:
        base = "" if name == "stub" else SOLUTION.read_text(encoding="utf-8")
        submission.write_text(base + "\n" + source, encoding="utf-8")
    out = root / f"out-{name}"
    command = [sys.executable, "-m", "autograder", "--config", str(root / "grading.toml"),
               "grade", str(submission), "--out", str(out), "--quiet"]
    command += ["--select", select] if select else []
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "CNN_MNIST_DIR": os.environ.get("CNN_MNIST_DIR", "")
                               or str(REPO.parent / "shared" / "datasets" / "mnist")})
    assert done.returncode == 0, f"grading {name} failed:\n{done.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, dict]:
    """name -> {"data": feedback.json, "html": feedback.html as written, "out": the output directory}."""
    root = tmp_path_factory.mktemp("feedback")
    _fast_config(root)
    with ThreadPoolExecutor(max_workers=len(SUBMISSIONS)) as pool:
        outs = {name: pool.submit(_grade, name, source, select, root)
                for name, (source, select) in SUBMISSIONS.items()}
    runs = {}
    for name, future in outs.items():
        out = future.result()
        html_path = write_feedback(out)
        runs[name] = {"data": json.loads((out / "feedback.json").read_text(encoding="utf-8")),
                      "html": html_path.read_text(encoding="utf-8"), "out": out}
    return runs


def _test(run: dict, name_start: str) -> dict:
    matches = [test for test in run["data"]["tests"] if test["name"].startswith(name_start)]
    assert len(matches) == 1, f"expected one test named {name_start!r}..., found {[t['name'] for t in matches]}"
    return matches[0]


def _text(html: str) -> str:
    """The page's visible text, roughly: tags dropped, entities left escaped."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _png_images(html: str) -> list[bytes]:
    return [base64.b64decode(data, validate=True)
            for data in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def _drawable_figures(data: dict) -> int:
    count = 0
    for test in data["tests"]:
        attachments = {} if test["hidden"] else test["attachments"]
        maps = attachments.get("feature_maps")
        count += len(maps) if isinstance(maps, list) else int(maps is not None)
        count += int(attachments.get("loss_curve") is not None) + int(attachments.get("accuracy") is not None)
    return count


def _hidden_names(graded) -> list[str]:
    """The hidden tests: marked by their graders, and any grading.toml [feedback.hidden] adds."""
    with open(REPO / "grading.toml", "rb") as handle:
        listed = tomllib.load(handle)["feedback"]["hidden"]["tests"]
    return sorted({test["name"] for test in graded["reference"]["data"]["tests"] if test["hidden"]} | set(listed))


# ----- scores, parts, messages --------------------------------------------------------------

@pytest.mark.parametrize("name", SUBMISSIONS)
def test_report_shows_total_and_every_part_score_and_time(graded, name):
    run = graded[name]
    data, text = run["data"], _text(run["html"])
    assert f"{round(data['score'], 2):g} / {data['max_score']:g} points" in text, "the total is missing"
    for key, (title, points) in data["parts"].items():
        score = sum(test["score"] for test in data["tests"] if test["part"] == key)
        section = run["html"].split(f'id="part-{key}"', 1)[1].split("</section>", 1)[0]
        assert title in section and f"{round(score, 2):g} / {points:g}" in _text(section), key
        assert re.search(r"took \d+\.\d s", _text(section)), f"part {key} shows no time"
        assert f'<span style="width: {min(100.0, max(0.0, 100 * score / points)):.1f}%">' in run["html"]


def test_reference_solution_gets_full_marks_and_passes_the_gate(graded):
    run = graded["reference"]
    assert run["data"]["score"] == run["data"]["max_score"]
    assert "✘" not in run["html"] and run["html"].count("✔") == len(run["data"]["tests"])


def test_stub_report_says_not_implemented_for_each_part(graded):
    run = graded["stub"]
    assert run["data"]["score"] == 0
    assert _text(run["html"]).count("is not implemented yet") >= len(run["data"]["parts"])


def test_buggy_submissions_show_the_graders_plain_language_messages(graded):
    flipped = _test(graded["flipped_kernel"], "conv2d_single reproduces the lesson")
    assert not flipped["passed"] and "flipped" in flipped["summary"]
    sums = _test(graded["avg_pool_sums"], "max_pool2d and avg_pool2d give the lesson's 4×4 results")
    no_step = _test(graded["no_optimizer_step"], "a model trained with train_one_epoch")
    for run_name, test in (("flipped_kernel", flipped), ("avg_pool_sums", sums), ("no_optimizer_step", no_step)):
        assert not test["passed"] and test["summary"]
        assert _shows(graded[run_name]["html"], test["summary"]), f"{run_name}: the message is missing"
    assert "optimizer.step()" in no_step["summary"]


def _escaped(text: str) -> str:
    return str(markupsafe.escape(text))


def _shows(html: str, text: str) -> bool:
    """Whether the page's text holds ``text`` (escaped; `backticked` names are shown as <code>)."""
    return re.sub(r"\s+", "", _escaped(text).replace("`", "")) in re.sub(r"\s+", "", _text(html))


# ----- figures ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SUBMISSIONS)
def test_every_attachment_becomes_an_embedded_png(graded, name):
    run = graded[name]
    images = _png_images(run["html"])
    assert len(images) == _drawable_figures(run["data"])
    assert all(image.startswith(b"\x89PNG\r\n\x1a\n") and len(image) > 500 for image in images)


def test_training_gate_shows_loss_curve_and_accuracy_against_threshold(graded):
    for name in ("reference", "no_optimizer_step"):
        gate = _test(graded[name], "a model trained with train_one_epoch")
        assert gate["attachments"]["loss_curve"] and set(gate["attachments"]["accuracy"]) >= {"reached", "threshold"}
        assert "Your training loss over the grading budget" in graded[name]["html"]
        assert "Test accuracy reached versus the threshold" in graded[name]["html"]
    assert len(_png_images(graded["no_optimizer_step"]["html"])) >= 2
    # a failing test's figures are open at once; a passing test's stay folded away
    assert re.search(r"<details open>\s*<summary>Figures</summary>", graded["no_optimizer_step"]["html"])
    assert not re.search(r"<details open>", graded["reference"]["html"])


def test_feature_map_attachments_draw_input_expected_yours_difference():
    maps = {"input": [[0.0, 1.0], [1.0, 0.0]], "expected": [[1.0]], "yours": [[-1.0]], "title": "2×2 <b>demo</b>"}
    data = {"parts": {"p": ["Part", 1.0]}, "score": 0.0, "max_score": 1.0, "tests": [
        {"name": "t", "part": "p", "max_score": 1.0, "score": 0.0, "passed": False, "hidden": False,
         "summary": "wrong", "attachments": {"feature_maps": [maps, {**maps, "yours": [[1.0, 2.0]]}, {"bad": 1}]}}]}
    html = render_feedback(data)
    assert len(_png_images(html)) == 2 and html.count("This figure could not be drawn.") == 1
    assert "2×2 &lt;b&gt;demo&lt;/b&gt;" in html and "<b>demo" not in html


# ----- what must never appear ---------------------------------------------------------------

def test_hidden_tests_exist_and_show_only_the_generic_reason(graded):
    hidden = _hidden_names(graded)
    assert hidden, "no grader test is hidden"
    failed_somewhere = set()
    for run in graded.values():
        for hidden_name in hidden:
            test = next((t for t in run["data"]["tests"] if t["name"] == hidden_name), None)
            assert test is not None, f"grading.toml hides {hidden_name!r}, but no grader test has that name"
            assert test["hidden"] and _shows(run["html"], hidden_name)
            item = run["html"].split(_escaped(hidden_name), 1)[1].split("</li>", 1)[0]
            assert "<pre>" not in item and "<img" not in item and "<details" not in item
            if test["passed"]:
                assert "message" not in item, item
            else:
                failed_somewhere.add(hidden_name)
                message = re.findall(r'<p class="message">(.*?)</p>', item, re.S)
                generic = HIDDEN_SAME_MISTAKE_TEXT if test["same_mistake_as"] else HIDDEN_FAILURE_TEXT
                assert message == [_escaped(generic)], item
                assert '<p class="note">' not in item  # nor which test charged it
    assert failed_somewhere == set(hidden), "the stub should fail every hidden test"


def test_hidden_test_secrets_never_reach_the_html_even_if_the_data_holds_them(graded):
    data = json.loads(json.dumps(graded["flipped_kernel"]["data"]))
    for test in data["tests"]:
        if test["hidden"]:
            test.update(summary="SECRET-SUMMARY", details="SECRET-DETAILS", student_output="SECRET-OUTPUT",
                        feedback="SECRET-FEEDBACK", attachments={"accuracy": {"reached": 1.0, "threshold": 2.0}})
    html = render_feedback(data)
    assert "SECRET" not in html
    assert len(_png_images(html)) == _drawable_figures(data)


def test_no_grader_source_line_appears_in_any_report(graded):
    lines = {line.strip() for path in GRADERS.glob("*.py") for line in path.read_text(encoding="utf-8").splitlines()}
    lines = {line for line in lines if len(line) >= 25 and not line.startswith(('"""', "#"))} - shown_docstring_lines(GRADERS)
    assert len(lines) > 50, "the graders' source was not found"
    for name, run in graded.items():
        html = run["html"]
        leaked = [line for line in lines if line in html or _escaped(line) in html]
        assert not leaked, f"{name}: grader source in the report: {leaked[:3]}"


def test_student_controlled_text_is_escaped(graded):
    run = graded["flipped_kernel"]
    test = _test(run, "vertical_edge_filter")
    assert XSS_PRINT in test["student_output"] and XSS_RAISE in test["feedback"]
    html = run["html"]
    assert "<script" not in html and "<img src=x" not in html and "onerror=\"alert" not in html
    assert "&lt;script&gt;alert(&#39;printed&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html


def test_page_is_self_contained(graded):
    for run in graded.values():
        html = run["html"]
        assert not re.search(r"<script|<link|@import|url\(", html, re.I)
        assert not re.search(r'(src|href)="(?!data:image/png;base64,|#part-|#test-)', html)
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


def test_write_feedback_rerenders_atomically(graded):
    out = graded["avg_pool_sums"]["out"]
    path = write_feedback(out)
    assert path == out / "feedback.html" and path.read_text(encoding="utf-8") == graded["avg_pool_sums"]["html"]
    assert not list(out.glob(".feedback.html.*"))


def test_a_report_that_cannot_be_drawn_still_gives_the_student_a_page(tmp_path):
    (tmp_path / "feedback.json").write_text(json.dumps({"score": 3, "max_score": 100, "parts": "<b>not a dict</b>"}))
    page = write_feedback(tmp_path).read_text(encoding="utf-8")
    assert "Your score: 3 / 100" in page and "could not be drawn (AttributeError)" in page and "<b>" not in page
    with pytest.raises(FileNotFoundError):
        write_feedback(tmp_path / "missing")


def test_hostile_feedback_data_gives_a_bounded_page_with_the_real_shape(tmp_path):
    """Megabyte messages, lone surrogates (also as JSON escapes) and a thinned 3000×3000 map."""
    import torch

    from autograder.engine.attachments import json_safe

    maps = json_safe({"feature_maps": {"input": torch.zeros(6, 6), "expected": torch.zeros(4, 4),
                                       "yours": torch.ones(3000, 3000), "title": "demo"}})
    data = {"submission": "s\ud800.ipynb", "parts": {"p": ["Part", 1.0]}, "score": 0.0, "max_score": 1.0,
            "problems": ["p\ud800" * 1000] * 1000, "tests": [
                {"name": "t", "part": "p", "max_score": 1.0, "score": 0.0, "passed": False, "hidden": False,
                 "summary": "E" * 4_000_000, "details": "\ud800" * 10, "student_output": "x" * 1_000_000,
                 "attachments": maps}]}
    (tmp_path / "feedback.json").write_text(json.dumps(data), encoding="utf-8")  # "\ud800" as escapes
    page = write_feedback(tmp_path).read_text(encoding="utf-8")
    assert len(page) < 200_000 and "characters cut" in page and "\ufffd" in page
    assert len(_png_images(page)) == 1 and "could not be drawn" not in page
    assert maps["feature_maps"]["yours_shape"] == [3000, 3000]


# ----- one mistake, charged once; the rubric ------------------------------------------------

def test_a_mistake_that_fails_several_tests_is_charged_once_and_the_page_says_where(graded):
    run = graded["no_optimizer_step"]  # one missing line: weights, returns, steps and the gate all fail
    tests = [t for t in run["data"]["tests"] if t["part"] == "training_loop" and not t["passed"]]
    charged = [t for t in tests if not t["same_mistake_as"]]
    assert len(tests) == 4 and [t["name"] for t in charged] == [
        "train_one_epoch updates the weights exactly like the reference training loop"]
    assert {t["diagnosis"] for t in tests} == {"train_one_epoch: no optimizer.step()"}
    assert run["data"]["part_scores"]["training_loop"] == round(25 - charged[0]["max_score"], 2)
    html = run["html"]
    anchor = f"test-{run['data']['tests'].index(charged[0])}"  # the charged test's own place on the page
    assert f'id="{anchor}"' in html
    for test in tests:
        if test is charged[0]:
            continue
        item = html.split(_escaped(test["name"]) + " <span", 1)[1].split("</li>", 1)[0]
        assert 'class="badge">same mistake</span>' in item
        assert f"Same mistake as in “{_escaped(charged[0]['name'])}”: charged once there" in item
        assert f'<a href="#{anchor}">See that test.</a>' in item
        assert _shows(item, test["summary"])  # its own message stays, hint included
    assert "The same mistake also failed 3 other tests, marked “same mistake”: it is charged once, here." in html


def test_a_hidden_test_charged_elsewhere_keeps_its_generic_words(graded):
    run = graded["flipped_kernel"]
    lesson = _test(run, "conv2d_single reproduces the lesson")
    random = _test(run, "conv2d_single matches PyTorch")
    assert lesson["diagnosis"] == "conv2d_single: flipped kernel" and not lesson["same_mistake_as"]
    assert random["hidden"] and random["same_mistake_as"] == lesson["name"] and random["score"] == random["max_score"]
    assert random["feedback"] == HIDDEN_SAME_MISTAKE_TEXT
    assert "(1 hidden test); it is charged once, here." in lesson["feedback"]


@pytest.mark.parametrize("name", SUBMISSIONS)
def test_every_page_carries_the_rubric(graded, name):
    run = graded[name]
    rubric = run["html"].split('<section class="card" id="rubric">', 1)[1].split("</section>", 1)[0]
    rows = rubric_rows(run["data"]["tests"], run["data"]["parts"])
    assert len(rows) == len(run["data"]["tests"]) == rubric.count("<tr><td>")
    for row in rows:
        assert _escaped(row.test) in rubric
        cell = rubric.split(_escaped(row.test), 1)[1].split("</tr>", 1)[0]
        assert f'<td class="num">{row.points:g}</td>' in cell
        assert ("hidden test" in cell) == row.hidden
