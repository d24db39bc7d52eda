"""Sharding a class for schedulers we do not write (Slurm arrays, CI matrices, indexed Jobs).

``grade-all --shard I/N`` (I from 1 to N) grades the students whose stable hash falls in slice I and
keeps its own manifest, ``manifest.shard-I-of-N.json``; ``merge`` checks that all N shards are there
and were graded under one configuration, then writes the one ``manifest.json`` that export and
stats read. The hash is of the student id alone, so adding a student never moves another one.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

SHARD_FILE = re.compile(r"^manifest\.shard-(\d+)-of-(\d+)\.json$")


class ShardError(ValueError):
    """A shard specification or a set of shard manifests that cannot be used (nothing is written)."""


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as Slurm's SLURM_ARRAY_TASK_ID from --array=1-N
    count: int

    def holds(self, student: str) -> bool:
        return shard_of(student, self.count) == self.index

    @property
    def manifest_name(self) -> str:
        return f"manifest.shard-{self.index}-of-{self.count}.json"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(student: str, count: int) -> int:
    """The 1-based shard of ``student`` among ``count``: a hash of the id only, stable across runs and machines."""
    return int.from_bytes(hashlib.sha256(student.encode("utf-8")).digest()[:8], "big") % count + 1


def parse_shard(text: str) -> Shard:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ShardError(f"--shard {text!r}: expected I/N with 1 <= I <= N (shards are numbered from 1), e.g. 2/8")
    return Shard(int(match[1]), int(match[2]))


def merge_manifests(folder: Path, digests: dict[str, str], assignment: str, count: int | None = None) -> dict:
    """The one manifest made of every shard manifest in ``folder``; raises ShardError if a shard is
    missing, belongs to another assignment, or was graded under other settings than ``digests``
    (the current config_sha256 and graders_sha256)."""
    found: dict[int, dict[int, Path]] = {}
    for path in sorted(folder.glob("manifest.shard-*-of-*.json")):
        if match := SHARD_FILE.match(path.name):
            found.setdefault(int(match[2]), {})[int(match[1])] = path
    if not found:
        raise ShardError(f"no shard manifests (manifest.shard-I-of-N.json) in {folder}")
    if count is None:
        if len(found) > 1:
            raise ShardError(f"shard manifests of several splits in {folder} ({', '.join(f'of {n}' for n in sorted(found))}): "
                             "pass --of N")
        count = next(iter(found))
    shards = found.get(count, {})
    missing = [str(i) for i in range(1, count + 1) if i not in shards]
    if missing:
        raise ShardError(f"missing shard(s) {', '.join(missing)} of {count} in {folder}: grade them "
                         f"(grade-all --shard I/{count}) or copy their results here, then merge again")
    students, problems = {}, []
    for index, path in sorted(shards.items()):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ShardError(f"{path.name} cannot be read: {error}") from error
        if manifest.get("assignment") != assignment:
            problems.append(f"{path.name} is for assignment {manifest.get('assignment')!r}, not {assignment!r}")
        for key, value in digests.items():
            if manifest.get(key) != value:
                problems.append(f"{path.name} was graded with another {_WHAT[key]} ({key} differs): re-grade that shard")
        for student, row in manifest.get("students", {}).items():
            if shard_of(student, count) != index:
                problems.append(f"{path.name} holds {student}, who belongs to shard {shard_of(student, count)}")
            elif any(row.get(key) != value for key, value in digests.items()):
                problems.append(f"{path.name}: {student}'s row was graded under other settings: re-grade that shard")
            students[student] = row
    if problems:
        raise ShardError("shards not merged:\n  " + "\n  ".join(problems))
    return {"assignment": assignment, **digests, "merged_from": [shards[i].name for i in sorted(shards)],
            "students": dict(sorted(students.items()))}


_WHAT = {"config_sha256": "grading configuration", "graders_sha256": "version of the graders",
         "kit_version": "kit version"}
