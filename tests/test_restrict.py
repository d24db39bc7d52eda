"""The worker-side defence: after ``restrict.install`` the forbidden routines raise, the rest still works.

Each check runs in a fresh interpreter (``restrict_probe.py``), because install
changes PyTorch's dispatcher for good; PyTorch's own results, computed in that
process before install, are the oracle.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("restrict_probe.py")


@pytest.fixture(scope="module", params=[False, True], ids=["pad allowed", "pad forbidden"])
def probe(request):
    done = subprocess.run([sys.executable, str(PROBE), "1" if request.param else "0"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return request.param, json.loads(done.stdout), done.stderr


def test_every_entry_point_works_before_install(probe):
    _, report, _ = probe
    broken = {name: result for name, result in report["before"].items() if result != "ran"}
    assert not broken, "the probe itself is wrong: these calls fail even without restrict"


def test_every_forbidden_entry_point_raises_in_every_grad_mode(probe):
    forbid_pad, report, _ = probe
    missed = {name: result for name, result in report["forbidden"].items() if not result.startswith("forbidden: ")}
    assert not missed
    names = {name.split(" [")[0] for name in report["forbidden"]}
    assert ("nn.ZeroPad2d" in names) == forbid_pad
    assert len(report["forbidden"]) == 3 * len(names)  # grad, no_grad, inference_mode


def test_the_message_names_the_routine(probe):
    _, report, _ = probe
    forbidden = report["forbidden"]
    assert "`torch.nn.functional.conv2d` (aten::conv2d)" in forbidden["F.conv2d [grad]"]
    assert "aten::convolution)" in forbidden["aten.convolution.default [inference_mode]"]
    assert "`torch.nn.functional.unfold` (aten::im2col)" in forbidden["nn.Unfold [no_grad]"]
    assert "`Tensor.unfold`" in forbidden["Tensor.unfold [grad]"]
    assert "`numpy.correlate`" in forbidden["numpy._core.multiarray.correlate2 [grad]"]
    assert all("asks you to write yourself" in result for result in forbidden.values())


def test_allowed_operations_give_pytorchs_numbers(probe):
    forbid_pad, report, _ = probe
    assert set(report["allowed"].values()) == {"equal"}, report["allowed"]
    assert ("F.pad" in report["allowed"]) != forbid_pad  # F.pad keeps working outside zero_pad
    assert "autograd through as_strided and einsum" in report["allowed"]


def test_reference_manual_functions_still_match_pytorch(probe):
    forbid_pad, report, _ = probe
    expected = {"zero_pad"} if forbid_pad else {"conv2d_single", "conv2d_volume", "max_pool2d", "avg_pool2d"}
    assert report["reference"] == dict.fromkeys(expected, "equal")


def test_install_is_silent(probe):
    """(How long install takes is a figure for bench/, not a timed test: it was 4-11 ms on a quiet machine.)"""
    _, _, stderr = probe
    assert "Overriding" not in stderr and "previously registered" not in stderr
