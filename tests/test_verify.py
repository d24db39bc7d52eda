"""A grade is reproducible: re-grading gives every test's score to the cent, whatever gate seed is
drawn, and ``verify`` says so, or names the tests and provenance fields that differ."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict

import pytest

from autograder.assignments.cnn_week1 import replay
from autograder.engine.config import grading_digest, load_config
from autograder.assignments.cnn_week1.data import mnist_module, training_arrays
from autograder.assignments.cnn_week1.settings import mnist_directory
from autograder.engine.grade import fork_server, grade
from autograder.engine.provenance import graders_digest, sha256_of
from autograder.assignments.cnn_week1.worker.reference_model import ReferenceCNN, accuracy_percent
from autograder.engine.sandbox import ForkServer
from autograder.engine.verify import verify

from conftest import REPO_ROOT

REFERENCE = REPO_ROOT / "solutions" / "cnn_week1.py"
KERNEL_LINE = "    weights = torch.as_tensor(kernel).to(torch.float32)\n"


@pytest.fixture(scope="module")
def config(mnist_dir):
    os.environ.setdefault("CNN_MNIST_DIR", str(mnist_dir))
    return load_config(REPO_ROOT / "grading.toml")


@pytest.fixture(scope="module")
def server(config):
    """One warm fork-server for every grade of this module (one torch import in the sandbox)."""
    with fork_server(config) as server:
        yield server


@pytest.fixture
def flipped(tmp_path):
    """The reference with conv2d_single's kernel flipped: a true convolution, not the contract's."""
    source = REFERENCE.read_text(encoding="utf-8")
    assert source.count(KERNEL_LINE) == 1
    path = tmp_path / "flipped.py"
    path.write_text(source.replace(KERNEL_LINE, KERNEL_LINE.rstrip() + ".flip(0, 1)\n"), encoding="utf-8")
    return path


def scores(results: dict) -> list[tuple[str, float]]:
    return [(test["name"], test["score"]) for test in results["tests"]]


@pytest.mark.slow
def test_three_grades_of_the_reference_agree_to_the_cent(tmp_path, config, server):
    result = grade(REFERENCE, tmp_path / "out", config, server=server)
    assert result.score == result.max_score == config.max_score
    verification = verify(tmp_path / "out", REFERENCE, config, runs=2, server=server)
    assert verification.identical and not verification.provenance, verification.text()
    assert len(verification.runs) == 2
    for run in verification.runs:  # checked here too, not only by verify's own comparison
        assert scores(run) == scores(verification.recorded) and run["score"] == config.max_score
    recorded = verification.recorded["provenance"]
    assert recorded == json.loads((tmp_path / "out" / "feedback.json").read_text())["provenance"]
    assert recorded["submission_sha256"] == sha256_of(REFERENCE)
    assert recorded["config_sha256"] == grading_digest(config) and recorded["graders_sha256"] == graders_digest(config.definition.graders_dir)
    assert recorded["grading_toml_sha256"] == sha256_of(REPO_ROOT / "grading.toml")
    assert recorded["kit_version"].startswith(recorded["kit_release"])
    assert recorded["sandbox_mode"] == server.mode and recorded["protections"] == asdict(server.protections)
    assert recorded["cpu_count"] == os.cpu_count() and recorded["select"] is None
    import numpy
    import torch
    assert (recorded["torch"], recorded["numpy"]) == (torch.__version__, numpy.__version__)
    for provenance in [recorded, *(run["provenance"] for run in verification.runs)]:
        assert provenance["gate_seed_index"] in range(replay.POOL_SIZE)


@pytest.mark.slow
def test_the_contract_loop_passes_the_gate_on_every_pool_seed(config):
    """The reference reproduces the contract loop bit for bit (test_replay), so it passes the gate
    on every seed of this machine's pool only if the loop itself reaches min_accuracy on each."""
    budget, threads = config.training, config.sandbox.threads()
    images, labels = mnist_module().load_tensors("test", mnist_directory(config))
    reached = {}
    for index in range(replay.POOL_SIZE):
        run = replay.draw(budget, index)
        model = ReferenceCNN()
        model.load_state_dict(replay.Replay(budget, run, training_arrays(config), threads).weights(timeout=600))
        reached[index] = accuracy_percent(model, images, labels)
    assert min(reached.values()) >= budget.min_accuracy, reached


def test_verify_agrees_on_a_buggy_submission_and_names_a_hand_edited_score(tmp_path, config, server, flipped):
    out = tmp_path / "out"
    result = grade(flipped, out, config, select="conv2d_single", server=server)
    failed = [test for test in result.tests if test.selected and not test.passed]
    assert failed and 0 < result.part_score("manual_conv") < config.parts["manual_conv"].points
    verification = verify(out, flipped, config, server=server)
    assert verification.identical and not verification.provenance, verification.text()
    assert scores(verification.runs[0]) == scores(verification.recorded)

    edited = json.loads((out / "results.json").read_text())
    test = next(t for t in edited["tests"] if t["name"] == failed[0].name)
    test["score"] = test["max_score"]  # a hand edit: one more test "passed"
    edited["score"] = round(edited["score"] + test["max_score"], 2)
    edited["provenance"]["graders_sha256"] = "0" * 64
    (out / "results.json").write_text(json.dumps(edited))
    done = subprocess.run([sys.executable, "-m", "autograder", "verify", str(out), str(flipped)],
                          capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{failed[0].name}: recorded {test['max_score']:g}, the re-grade gave 0" in done.stdout
    assert "total: recorded" in done.stdout and "graders_sha256: recorded '000" in done.stdout


def test_verify_exits_2_when_it_cannot_grade(tmp_path, flipped):
    missing = subprocess.run([sys.executable, "-m", "autograder", "verify", str(tmp_path / "nothing"), str(flipped)],
                             capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert missing.returncode == 2 and "results.json" in missing.stderr, missing.stderr
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.json").write_text(json.dumps({"score": 0, "tests": []}))
    env = dict(os.environ, CNN_MNIST_DIR=str(tmp_path / "no-mnist"), CNN_KIT_CACHE=str(tmp_path / "cache"))
    fault = subprocess.run([sys.executable, "-m", "autograder", "verify", str(tmp_path / "out"), str(flipped)],
                           capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env=env)
    assert fault.returncode == 2 and "MNIST" in fault.stderr and "differ" not in fault.stdout, fault.stderr
