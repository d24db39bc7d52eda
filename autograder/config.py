"""grading.toml, read once into typed settings with the defaults defined here only."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from .contract import PARTS

KIT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_ENV = "CNN_KIT_CONFIG"


class ConfigError(RuntimeError):
    """grading.toml is missing or wrong: the grader's own failure (non-zero exit)."""


@dataclass(frozen=True)
class Training:
    epochs: int = 1
    train_samples: int = 60000
    batch_size: int = 64
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.9
    seed: int = 0
    time_limit: float = 120.0
    min_accuracy: float = 97.0


@dataclass(frozen=True)
class Sandbox:
    call_timeout: float = 10.0
    load_timeout: float = 20.0
    startup_timeout: float = 60.0
    memory_mb: int = 4096
    file_size_mb: int = 64
    scratch_mb: int = 128
    max_output_kb: int = 64
    flood_output_mb: int = 16
    max_processes: int = 256
    torch_threads: int = 0  # 0: cores // parallel jobs (CNN_KIT_JOBS, set by grade-all)
    time_budget: float = 600.0  # seconds for all of one submission's student code; then tests stop
    max_restarts: int = 30  # fresh workers after crashes/hangs per submission; then calls fail fast

    def threads(self) -> int:
        """Torch threads for one grading job, so that parallel jobs do not oversubscribe cores."""
        if self.torch_threads > 0:
            return self.torch_threads
        jobs = max(1, int(os.environ.get("CNN_KIT_JOBS", "1") or 1))
        return max(1, (os.cpu_count() or 1) // jobs)


@dataclass(frozen=True)
class Part:
    key: str
    title: str
    points: float


@dataclass(frozen=True)
class Feedback:
    visibility: str = "visible"
    details: str = "full"  # "full" or "summary"
    hidden_tests: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assignment:
    name: str = "cnn_week1"
    notebook: str = "cnn_week1.ipynb"
    due: str = ""
    late_penalty_per_day: float = 0.0
    late_penalty_cap: float = 100.0
    late_after_days: float = 1e9


@dataclass(frozen=True)
class GradingConfig:
    path: Path
    assignment: Assignment
    parts: dict[str, Part]
    training: Training
    sandbox: Sandbox
    feedback: Feedback
    mnist_dir: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def max_score(self) -> float:
        return sum(part.points for part in self.parts.values())

    def mnist_directory(self) -> Path | None:
        """The configured local MNIST copy: CNN_MNIST_DIR wins over [data] mnist_dir."""
        if os.environ.get("CNN_MNIST_DIR"):
            return Path(os.environ["CNN_MNIST_DIR"]).expanduser().resolve()
        if self.mnist_dir:
            return (self.path.parent / Path(self.mnist_dir).expanduser()).resolve()
        return None


def load_config(path: str | Path | None = None) -> GradingConfig:
    path = Path(path or os.environ.get(CONFIG_ENV) or KIT_ROOT / "grading.toml")
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError as error:
        raise ConfigError(f"No grading configuration at {path}.") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from error

    parts_raw = raw.get("parts", {})
    missing = [key for key in PARTS if key not in parts_raw]
    unknown = [key for key in parts_raw if key not in PARTS]
    if missing or unknown:
        raise ConfigError(f"{path}: [parts] must list exactly {', '.join(PARTS)} "
                          f"(missing: {missing or 'none'}, unknown: {unknown or 'none'}).")
    parts = {key: Part(key, str(parts_raw[key].get("title", key)), float(parts_raw[key].get("points", 0)))
             for key in PARTS}
    feedback_raw = dict(raw.get("feedback", {}))
    hidden = tuple(feedback_raw.pop("hidden", {}).get("tests", ()))
    if feedback_raw.get("details", "full") not in ("full", "summary"):
        raise ConfigError(f"{path}: [feedback] details must be 'full' or 'summary'.")
    return GradingConfig(
        path=path.resolve(),
        assignment=_section(Assignment, raw.get("assignment", {}), path, "assignment"),
        parts=parts,
        training=_section(Training, raw.get("training", {}), path, "training"),
        sandbox=_section(Sandbox, raw.get("sandbox", {}), path, "sandbox"),
        feedback=Feedback(hidden_tests=hidden, **_known(Feedback, feedback_raw, path, "feedback")),
        mnist_dir=str(raw.get("data", {}).get("mnist_dir", "")),
        raw=raw,
    )


def _known(kind, values: dict, path: Path, section: str) -> dict:
    names = {f.name for f in fields(kind)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) in [{section}]: {', '.join(unknown)}.")
    return values


def _section(kind, values: dict, path: Path, section: str):
    values = _known(kind, values, path, section)
    typed = {}
    for f in fields(kind):
        if f.name in values:
            default = f.default
            try:
                typed[f.name] = type(default)(values[f.name])
            except (TypeError, ValueError) as error:
                raise ConfigError(f"{path}: [{section}] {f.name} = {values[f.name]!r} is not a {type(default).__name__}.") from error
    return kind(**typed)
