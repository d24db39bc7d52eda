"""Provenance: what a result records about the grade that produced it, without a sandbox or a grade."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess

from week1 import WEEK1
from autograder.engine import provenance as prov
from autograder.engine.config import load_config
from autograder.engine.results import TestResult

from conftest import REPO_ROOT


def test_the_graders_digest_follows_every_grader_file(tmp_path):
    graders = tmp_path / "graders"
    shutil.copytree(WEEK1.graders_dir, graders, ignore=shutil.ignore_patterns("__pycache__"))
    before = prov.graders_digest(graders)
    assert before == prov.graders_digest(WEEK1.graders_dir)  # the copy is the same graders
    target = graders / "test_pooling.py"
    target.write_text(target.read_text() + "\n# a comment\n")
    edited = prov.graders_digest(graders)
    target.rename(graders / "test_pooling_renamed.py")  # same bytes, another name: another grader file
    assert len({before, edited, prov.graders_digest(graders)}) == 3


def test_the_kit_version_is_git_describe_in_a_checkout_and_the_release_elsewhere(tmp_path, monkeypatch):
    release = prov.kit_release()
    assert release != "unknown" and release in (REPO_ROOT / "pyproject.toml").read_text()
    if (REPO_ROOT / ".git").exists():
        described = subprocess.run(["git", "-C", str(REPO_ROOT), "describe", "--tags", "--always", "--dirty"],
                                   capture_output=True, text=True).stdout.strip()
        assert prov.kit_version.__wrapped__() == f"{release}+git.{described}"  # uncached: the tree may change
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "cnn-week1-kit"\nversion = "9.8.7"\n')
    monkeypatch.setattr(prov, "KIT_ROOT", tmp_path)  # an unpacked kit (a Gradescope zip): no .git
    assert prov.kit_version.__wrapped__() == prov.kit_release() == "9.8.7"


def test_a_result_without_a_sandbox_records_files_and_versions(tmp_path):
    config = load_config(REPO_ROOT / "grading.toml")
    submission = tmp_path / "cnn_week1.pdf"
    submission.write_bytes(b"%PDF-1.4")
    import hashlib

    import numpy
    import torch  # loaded, as in a grading process: the loaded versions are recorded

    record = prov.provenance(config, submission)
    assert record["submission_sha256"] == hashlib.sha256(b"%PDF-1.4").hexdigest()
    assert record["grading_toml_sha256"] == hashlib.sha256((REPO_ROOT / "grading.toml").read_bytes()).hexdigest()
    assert (record["python"], record["torch"], record["numpy"]) == (platform.python_version(), torch.__version__,
                                                                   numpy.__version__)
    assert record["cpu_count"] == os.cpu_count() and record["gate_seed_index"] is None
    assert record["sandbox_mode"] is None and record["protections"] is None  # no student code ran
    assert prov.provenance(config, tmp_path / "gone.ipynb")["submission_sha256"] == ""


def test_the_gate_seed_index_comes_from_the_gate_test():
    config = load_config(REPO_ROOT / "grading.toml")
    gate = TestResult(name="gate", part="training_loop", max_score=5, passed=True,
                      attachments={prov.GATE_SEED_KEY: 6, "loss_curve": [2.3, 0.4]})
    other = TestResult(name="pooling", part="pooling", max_score=5, passed=True)
    record = prov.provenance(config, REPO_ROOT / "solutions" / "cnn_week1.py", tests=[other, gate], select="gate")
    assert record["gate_seed_index"] == 6 and record["select"] == "gate"
