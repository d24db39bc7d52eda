"""grading.toml: the shipped one is valid, and mistakes in one are reported by name."""
import pytest

from autograder.config import ConfigError, KIT_ROOT, load_config
from autograder.contract import PARTS


def test_shipped_configuration_names_every_part_with_points():
    config = load_config()
    assert list(config.parts) == list(PARTS)
    assert all(part.points > 0 for part in config.parts.values())
    assert config.max_score == sum(part.points for part in config.parts.values())
    assert 0 < config.training.min_accuracy < 100


def test_unknown_setting_is_named(tmp_path):
    path = tmp_path / "grading.toml"
    path.write_text((KIT_ROOT / "grading.toml").read_text().replace("[training]\n", "[training]\nepoch = 3\n"))
    with pytest.raises(ConfigError, match="epoch"):
        load_config(path)


def test_wrong_type_is_named(tmp_path):
    path = tmp_path / "grading.toml"
    path.write_text((KIT_ROOT / "grading.toml").read_text().replace("batch_size = 64", 'batch_size = "many"'))
    with pytest.raises(ConfigError, match="batch_size"):
        load_config(path)


def test_missing_part_and_missing_file_are_reported(tmp_path):
    text = (KIT_ROOT / "grading.toml").read_text().replace("[parts.pooling]", "[parts.pooling_typo]")
    path = tmp_path / "grading.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="pooling"):
        load_config(path)
    with pytest.raises(ConfigError, match="No grading configuration"):
        load_config(tmp_path / "absent.toml")


def test_mnist_directory_prefers_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "grading.toml"
    path.write_text((KIT_ROOT / "grading.toml").read_text().replace('mnist_dir = ""', 'mnist_dir = "data/mnist"'))
    monkeypatch.delenv("CNN_MNIST_DIR", raising=False)
    assert load_config(path).mnist_directory() == (tmp_path / "data" / "mnist").resolve()
    monkeypatch.setenv("CNN_MNIST_DIR", str(tmp_path / "elsewhere"))
    assert load_config(path).mnist_directory() == (tmp_path / "elsewhere").resolve()
