"""Sharding a class: a stable split by student id, and a merge that refuses what does not fit together."""
from __future__ import annotations

import hashlib
import json

import pytest

from autograder.engine.results import write_json_atomic
from autograder.classwork.shard import ShardError, merge_manifests, parse_shard, shard_of

KEYS = {"config_sha256": "c1", "graders_sha256": "g1"}


def test_every_student_is_in_exactly_one_shard_and_stays_there():
    students = [f"s{i:03d}" for i in range(300)]
    shards = [parse_shard(f"{i}/3") for i in (1, 2, 3)]
    for student in students:
        assert sum(shard.holds(student) for shard in shards) == 1
    sizes = [sum(shard.holds(s) for s in students) for shard in shards]
    assert min(sizes) > 70, sizes  # roughly even
    # a hash of the id alone (not of its position in the class): adding a student moves no one
    assert shard_of("ann", 3) == 1 + int.from_bytes(hashlib.sha256(b"ann").digest()[:8], "big") % 3


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", ""])
def test_bad_shard_specifications_are_refused(text):
    with pytest.raises(ShardError, match="I/N"):
        parse_shard(text)


def _write_shards(folder, count, keys=KEYS, assignment="cnn_week1", skip=()):
    students = [f"s{i:02d}" for i in range(12)]
    for index in range(1, count + 1):
        if index in skip:
            continue
        rows = {s: {"status": "graded", "score": 1.0, **keys} for s in students if shard_of(s, count) == index}
        write_json_atomic(folder / f"manifest.shard-{index}-of-{count}.json",
                          {"assignment": assignment, **keys, "shard": f"{index}/{count}", "students": rows})
    return students


def test_merge_combines_all_shards(tmp_path):
    students = _write_shards(tmp_path, 3)
    merged = merge_manifests(tmp_path, KEYS, "cnn_week1")
    assert sorted(merged["students"]) == students and merged["config_sha256"] == "c1"
    assert merged["merged_from"] == [f"manifest.shard-{i}-of-3.json" for i in (1, 2, 3)]


def test_merge_reports_missing_shards(tmp_path):
    _write_shards(tmp_path, 4, skip=(2, 4))
    with pytest.raises(ShardError, match=r"missing shard\(s\) 2, 4 of 4"):
        merge_manifests(tmp_path, KEYS, "cnn_week1")


def test_merge_refuses_other_settings_or_assignments(tmp_path):
    _write_shards(tmp_path, 2)
    with pytest.raises(ShardError, match="grading configuration"):
        merge_manifests(tmp_path, {**KEYS, "config_sha256": "edited grading.toml"}, "cnn_week1")
    with pytest.raises(ShardError, match="assignment"):
        merge_manifests(tmp_path, KEYS, "cnn_week2")
    path = tmp_path / "manifest.shard-2-of-2.json"
    shard = json.loads(path.read_text())
    shard["graders_sha256"] = "g2"
    write_json_atomic(path, shard)
    with pytest.raises(ShardError, match="version of the graders"):
        merge_manifests(tmp_path, KEYS, "cnn_week1")


def test_merge_refuses_a_row_in_the_wrong_shard_and_asks_which_split(tmp_path):
    _write_shards(tmp_path, 2)
    _write_shards(tmp_path, 3)
    with pytest.raises(ShardError, match="--of N"):
        merge_manifests(tmp_path, KEYS, "cnn_week1")
    assert len(merge_manifests(tmp_path, KEYS, "cnn_week1", count=3)["students"]) == 12
    path = tmp_path / "manifest.shard-1-of-2.json"
    shard = json.loads(path.read_text())
    stray = next(s for s in (f"s{i:02d}" for i in range(12)) if shard_of(s, 2) == 2)
    shard["students"][stray] = {"status": "graded", **KEYS}
    write_json_atomic(path, shard)
    with pytest.raises(ShardError, match=f"holds {stray}, who belongs to shard 2"):
        merge_manifests(tmp_path, KEYS, "cnn_week1", count=2)
