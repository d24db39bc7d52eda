"""grading.toml: the shipped one is valid, and every mistake in one is refused in one line that names it."""
import dataclasses
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from autograder.assignments.cnn_week1.settings import Training
from autograder.engine.config import (JOBS_VARIABLE, KIT_ROOT, AssignmentSettings, ConfigError, Feedback, Sandbox,
                                      grading_digest, load_config, validate_hidden_tests)
from autograder.classwork.batch import digests
from autograder.classwork.job import JobProcess
from autograder.assignments.cnn_week1.contract import PARTS
from autograder.assignments.cnn_week1.settings import mnist_directory
from autograder.engine.grader_names import grader_test_names
from autograder.engine.results import write_json_atomic
from autograder.classwork.shard import merge_manifests

SHIPPED = (KIT_ROOT / "grading.toml").read_text(encoding="utf-8")
HIDDEN = "conv2d_single matches PyTorch on random images, kernels, strides and paddings"


def edited(tmp_path, old: str, new: str):
    assert old in SHIPPED, old
    path = tmp_path / "grading.toml"
    path.write_text(SHIPPED.replace(old, new, 1), encoding="utf-8")
    return path


def test_shipped_configuration_names_every_part_with_points():
    config = load_config()
    assert list(config.parts) == list(PARTS)
    assert all(part.points > 0 for part in config.parts.values())
    assert config.max_score == sum(part.points for part in config.parts.values())
    assert 0 < config.training.min_accuracy < 100


def test_code_defaults_are_the_calibrated_values_of_the_shipped_file():
    raw = tomllib.loads(SHIPPED)
    for section, kind in (("training", Training), ("sandbox", Sandbox), ("assignment", AssignmentSettings),
                          ("feedback", Feedback)):
        for f in dataclasses.fields(kind):
            # no due date unless a file sets one; which assignment is a choice, not a calibrated value
            if f.name in raw[section] and f.name not in ("due", "name", "notebook"):
                assert f.default == raw[section][f.name], f"[{section}] {f.name}"
    # a file that leaves settings out gets exactly the calibrated ones
    config = load_config()
    assert (config.training, config.sandbox) == (Training(), Sandbox())


@pytest.mark.parametrize("old, new, message", [
    ("points = 10\n", "point = 10\n", r"unknown setting \[parts\.output_size\] point; did you mean 'points'\?"),
    ("[training]\n", "[trainng]\n", r"unknown section \[trainng\]; did you mean 'training'\?"),
    ("[training]\n", "[training]\nepoch = 3\n", r"\[training\] epoch; did you mean 'epochs'\?"),
    ('details = "full"', 'detail = "full"', r"\[feedback\] detail; did you mean 'details'\?"),
    ("[data]\n", "[data]\nmnist = 1\n", r"\[data\] mnist; did you mean 'mnist_dir'\?"),
    ("[parts.pooling]", "[parts.poolling]", r"unknown part \[parts\.poolling\]; did you mean 'pooling'\?"),
    ("points = 30", 'points = "ten"', r"\[parts\.manual_conv\] points = 'ten' must be a number"),
    ("points = 30", "points = -5", r"\[parts\.manual_conv\] points = -5 must be more than 0"),
    ("points = 30", "points = 0", r"points = 0 must be more than 0"),
    ("points = 30", "points = true", r"points = True must be a number"),
    ("batch_size = 64", 'batch_size = "many"', r"\[training\] batch_size = 'many' must be a whole number"),
    ("batch_size = 64", "batch_size = 64.5", r"batch_size = 64.5 must be a whole number"),
    ("min_accuracy = 93.0", "min_accuracy = 930", r"min_accuracy = 930 must be between 0 and 100"),
    ("memory_mb = 4096", "memory_mb = 0", r"\[sandbox\] memory_mb = 0 must be more than 0"),
    ('optimizer = "sgd"', 'optimizer = "adam"', r'optimizer = .adam. must be one of "sgd"'),
    ('due = "2026-12-11T23:59:00+00:00"', 'due = "next friday"', r"\[assignment\] due = 'next friday' is not a date"),
    ('due = "2026-12-11T23:59:00+00:00"', 'due = "2026-12-11T23:59:00"', r"due .* has no time zone"),
    ('visibility = "visible"', 'visibility = "visble"', r'visibility = .visble. must be one of "visible", "hidden"'),
    ('details = "full"', 'details = "all"', r'details = .all. must be one of "full", "summary"'),
    ("tests = []", f'tests = ["{HIDDEN.replace("PyTorch", "pytorch")}"]', r"\[feedback.hidden\] tests: .* is not the name of a "
                                                                  r"grader test; did you mean 'conv2d_single matches PyTorch"),
])
def test_each_mistake_is_refused_naming_file_key_and_fix(tmp_path, old, new, message):
    path = edited(tmp_path, old, new)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_missing_part_and_missing_file_are_reported(tmp_path):
    path = tmp_path / "grading.toml"
    path.write_text(SHIPPED.replace("[parts.pooling]\ntitle = \"Max and average pooling\"\npoints = 10\n", ""))
    with pytest.raises(ConfigError, match=r"missing part\(s\) \[parts\.pooling\]"):
        load_config(path)
    with pytest.raises(ConfigError, match="No grading configuration"):
        load_config(tmp_path / "absent.toml")


def test_hidden_names_are_the_names_the_plugin_reports(tmp_path):
    names = grader_test_names(load_config().definition.graders_dir)
    config = load_config(edited(tmp_path, "tests = []", f'tests = ["{HIDDEN}"]'))
    assert set(config.feedback.hidden_tests) <= names.exact
    # the plugin names a test by its docstring's first line: check one by hand
    assert "sobel_filter raises ValueError for any direction other than 'horizontal' and 'vertical'" in names
    validate_hidden_tests(config, names.exact)  # the same check the grade command can make with collected names
    with pytest.raises(ConfigError, match="not the name of a grader test"):
        validate_hidden_tests(config, names.exact - {HIDDEN})


def test_parametrised_grader_names_carry_their_ids(tmp_path):
    (tmp_path / "test_x.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('size', [2, 3])\n"
        "def test_a(size):\n    '''pools with window size'''\n"
        "@pytest.mark.parametrize('x', [object()])\n"
        "def test_b(x):\n    '''computed ids'''\n"
        "def test_c():\n    pass\n")
    names = grader_test_names(tmp_path)
    assert {"pools with window size [2]", "pools with window size [3]", "test_c"} <= names.exact
    assert "computed ids [x0]" in names and "pools with window size [4]" not in names
    assert "pools with window size" not in names  # a bare base name hides nothing


def test_only_grading_settings_change_the_digest(tmp_path):
    shipped = grading_digest(load_config())
    later_due = edited(tmp_path, 'due = "2026-12-11T23:59:00+00:00"', 'due = "2026-12-18T23:59:00+00:00"')
    assert grading_digest(load_config(later_due)) == shipped
    softer = edited(tmp_path, "late_penalty_per_day = 10.0", "late_penalty_per_day = 5.0")
    assert grading_digest(load_config(softer)) == shipped
    # where this host keeps MNIST is not a grading setting: no re-grade, and shards graded on hosts
    # with other paths still merge
    elsewhere = edited(tmp_path, 'mnist_dir = ""', 'mnist_dir = "/srv/data/mnist"')
    assert grading_digest(load_config(elsewhere)) == shipped
    keys = digests(load_config(elsewhere))
    for index, config in ((1, load_config()), (2, load_config(elsewhere))):
        write_json_atomic(tmp_path / f"manifest.shard-{index}-of-2.json",
                          {"assignment": "cnn_week1", **digests(config), "students": {}})
    assert merge_manifests(tmp_path, keys, "cnn_week1")["config_sha256"] == shipped
    for old, new in (("min_accuracy = 93.0", "min_accuracy = 94.0"), ("points = 30", "points = 20"),
                     ("call_timeout = 10.0", "call_timeout = 12.0"), ('details = "full"', 'details = "summary"')):
        assert grading_digest(load_config(edited(tmp_path, old, new))) != shipped, old


def test_commands_report_a_config_error_in_one_line_with_exit_2(tmp_path):
    path = edited(tmp_path, "points = 10\n", "point = 10\n")
    for command in (["grade", str(tmp_path / "x.py"), "--out", str(tmp_path / "out")],
                    ["export", "--course", str(tmp_path)], ["stats", "--course", str(tmp_path)]):
        done = subprocess.run([sys.executable, "-m", "autograder", "--config", str(path), *command],
                              cwd=KIT_ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.strip().count("\n") == 0 and "did you mean 'points'" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_mnist_directory_prefers_the_environment(tmp_path, monkeypatch):
    path = edited(tmp_path, 'mnist_dir = ""', 'mnist_dir = "data/mnist"')
    monkeypatch.delenv("CNN_MNIST_DIR", raising=False)
    assert mnist_directory(load_config(path)) == (tmp_path / "data" / "mnist").resolve()
    monkeypatch.setenv("CNN_MNIST_DIR", str(tmp_path / "elsewhere"))
    assert mnist_directory(load_config(path)) == (tmp_path / "elsewhere").resolve()


def test_torch_threads_zero_shares_the_cores_among_the_jobs_grade_all_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delenv(JOBS_VARIABLE, raising=False)
    assert Sandbox(torch_threads=0).threads() == 8 and Sandbox(torch_threads=2).threads() == 2
    monkeypatch.setenv(JOBS_VARIABLE, "3")
    assert Sandbox(torch_threads=0).threads() == 2
    monkeypatch.setenv(JOBS_VARIABLE, "5")  # grade-all's own count wins in its jobs
    job = JobProcess(KIT_ROOT / "grading.toml", tmp_path / "job.log", str(tmp_path), jobs=3)
    try:
        assert f"{JOBS_VARIABLE}=3".encode() in Path(f"/proc/{job.process.pid}/environ").read_bytes().split(b"\0")
    finally:
        job.kill()
