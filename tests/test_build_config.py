"""One builder turns a user's choices into training settings, for the CLI, the Train page and the benches."""

import dataclasses

import pytest

from cifar_cnn import devices
from cifar_cnn.training import presets
from cifar_cnn.cli import _config_from, build_parser
from cifar_cnn.training.presets import build_config
from cifar_cnn.training import UNCAPPED_EPOCHS, ConfigError, TrainConfig


@pytest.fixture(autouse=True)
def cpu_with_bfloat16(monkeypatch):
    """A machine without GPUs whose CPU computes bfloat16: presets resolve the same everywhere the tests run."""
    monkeypatch.setattr(devices, "gpus", lambda: ())
    monkeypatch.setattr(presets, "resolve_precision", lambda name: "mixed_bfloat16" if name == "auto" else name)


def from_cli(*options: str) -> TrainConfig:
    return _config_from(build_parser().parse_args(["train", *options]))


def test_no_choices_are_the_defaults():
    assert build_config() == TrainConfig() == from_cli()


def test_a_time_budget_without_epochs_trains_until_the_time_is_up():
    assert build_config(minutes=30).epochs == UNCAPPED_EPOCHS
    assert build_config("fast", minutes=30).epochs == UNCAPPED_EPOCHS
    assert build_config(minutes=30, epochs=5).epochs == 5  # chosen epochs cap the passes
    assert from_cli("--minutes", "30") == build_config(minutes=30)
    assert from_cli("--preset", "fast", "--minutes", "30", "--epochs", "5") == build_config("fast", minutes=30, epochs=5)


def test_a_preset_keeps_every_setting_not_chosen():
    config = build_config("seed", epochs=12, seed=3)
    assert (config.epochs, config.seed, config.batch_size, config.learning_rate, config.schedule) == (12, 3, 128, 3e-3, "one_cycle")
    assert config.arch_options == {"conv_dropout": 0.0, "dense_dropout": 0.1}


def test_another_architecture_drops_the_presets_architecture_options():
    assert build_config("seed", arch="tiny_cnn").arch_options == {}
    assert build_config("seed", arch="tiny_cnn", arch_options={"filters": [4, 8]}).arch_options == {"filters": [4, 8]}
    assert build_config("seed", arch_options={"conv_dropout": 0.2}).arch_options == {"conv_dropout": 0.2, "dense_dropout": 0.1}


def test_a_precision_chosen_with_a_preset_brings_its_settings():
    config = build_config("fast", precision="float32")
    assert (config.precision, config.arch_options["widths"], config.batch_size, config.learning_rate) == ("float32", [32, 64, 128], 256, 0.2)
    assert build_config("fast").arch_options["widths"] == [64, 128, 256]


def test_an_unknown_setting_or_recipe_is_refused():
    with pytest.raises(ConfigError, match="Unknown setting 'epoch'"):
        build_config(epoch=3)
    with pytest.raises(ConfigError, match="Unknown preset 'fsat'"):
        build_config("fsat")


@pytest.mark.parametrize("options, recipe, choices", [
    (["--arch", "tiny_cnn", "--epochs", "3", "--batch-size", "32", "--lr", "0.01", "--optimizer", "sgd", "--no-augment"],
     "custom", dict(arch="tiny_cnn", epochs=3, batch_size=32, learning_rate=0.01, optimizer="sgd", augment=False)),
    (["--preset", "seed"], "seed", {}),
    (["--preset", "fast"], "fast", {}),
    (["--preset", "fast", "--lr", "0.1", "--arch-option", "widths=[16,32,64]"], "fast",
     dict(learning_rate=0.1, arch_options={"widths": [16, 32, 64]})),
    (["--preset", "seed", "--arch", "fast_cnn"], "seed", dict(arch="fast_cnn")),
])
def test_the_cli_and_the_builder_agree(options, recipe, choices):
    assert from_cli(*options) == build_config(recipe, **choices)


def test_the_builder_returns_a_fresh_config_each_time():
    first = build_config("fast")
    first.arch_options["widths"] = [1]
    assert build_config("fast").arch_options["widths"] == [64, 128, 256]
    assert dataclasses.replace(build_config(), epochs=2).epochs == 2
