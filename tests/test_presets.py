import keras
import numpy as np
import pytest

from cifar_cnn import runs
from cifar_cnn.training import presets
from cifar_cnn.training.precision import resolve_precision
from cifar_cnn.training.presets import PRESETS, build_config, preset_settings
from cifar_cnn.training import ConfigError, TrainConfig, learning_rate_schedule, train
from synthetic_arrays import make_dataset


def test_seed_preset_uses_the_seed_network_with_a_better_recipe():
    config = build_config("seed")
    assert config.arch == "seed_cnn" and config.augment
    assert config.schedule == "one_cycle" and config.label_smoothing > 0
    assert config.arch_options == {"conv_dropout": 0.0, "dense_dropout": 0.1}
    assert config.crop_padding == 2 and config.flip_tta


def test_overrides_win_over_the_preset():
    config = build_config("seed", epochs=3, arch="tiny_cnn")
    assert (config.epochs, config.arch, config.schedule) == (3, "tiny_cnn", PRESETS["seed"]["schedule"])


def test_unknown_preset_names_the_choices():
    with pytest.raises(ConfigError, match="seed"):
        build_config("turbo")


def test_one_cycle_warms_up_then_decays_to_zero():
    schedule = learning_rate_schedule(TrainConfig(learning_rate=0.01, epochs=10, schedule="one_cycle"), steps_per_epoch=10)
    rates = [float(schedule(step)) for step in (0, 20, 60, 100)]
    assert rates[0] == pytest.approx(0.001)
    assert rates[1] == pytest.approx(0.01)
    assert rates[1] > rates[2] > rates[3] and rates[3] == pytest.approx(0.0, abs=1e-6)
    assert learning_rate_schedule(TrainConfig(learning_rate=0.01), steps_per_epoch=10) == 0.01


def test_label_smoothing_trains_and_the_model_still_loads_with_plain_keras(tmp_path):
    dataset = make_dataset()
    result = train(TrainConfig(arch="tiny_cnn", epochs=1, label_smoothing=0.1, schedule="one_cycle"), dataset, runs_dir=tmp_path)
    assert result.state == "completed", result.message
    model = keras.models.load_model(result.run_dir / "model.keras")
    saved, _ = runs.load_predictions(runs.load_run(result.run_dir))
    np.testing.assert_allclose(model.predict(dataset.x_test[:4], verbose=0), saved[:4], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("changes", [{"label_smoothing": 1.0}, {"label_smoothing": -0.1}, {"schedule": "triangle"}])
def test_bad_recipe_settings_are_refused(changes):
    with pytest.raises(ConfigError):
        TrainConfig(**changes)


def test_fast_preset_uses_the_airbench_style_network_in_bfloat16_where_it_is_native():
    config = build_config("fast")
    assert (config.arch, config.optimizer, config.precision) == ("fast_cnn", "sgd", resolve_precision("auto"))
    assert config.shift_lr_scale == 64 and config.crop_padding == 2
    assert config.label_smoothing == 0.2 and config.weight_decay > 0 and config.schedule == "one_cycle" and config.flip_tta and config.shift_tta


@pytest.mark.parametrize("precision, widths, batch_size", [("float32", [32, 64, 128], 256), ("mixed_bfloat16", [64, 128, 256], 512)])
def test_fast_preset_widths_follow_the_precision_the_hardware_trains_in(monkeypatch, precision, widths, batch_size):
    monkeypatch.setattr(presets, "resolve_precision", lambda name: precision)
    config = presets.build_config("fast")
    assert (config.precision, config.arch_options["widths"], config.batch_size) == (precision, widths, batch_size)
    assert config.arch_options["activation"] == "relu" and config.arch_options["batchnorm_epsilon"] == 1e-5  # the rest stays
    assert presets.build_config("fast", arch_options={"widths": [16, 32, 64]}).arch_options["widths"] == [16, 32, 64]  # a choice still wins


def test_a_precision_override_brings_the_fast_widths_that_suit_it():
    assert build_config("fast", precision="float32").arch_options["widths"] == [32, 64, 128]
    assert build_config("fast", precision="mixed_bfloat16").arch_options["widths"] == [64, 128, 256]


def test_on_a_gpu_the_fast_preset_trains_airbench_widths_at_batch_1024(monkeypatch):
    from cifar_cnn import devices

    monkeypatch.setattr(devices, "gpus", lambda: (devices.Gpu("NVIDIA H100", (9, 0)),))
    monkeypatch.setattr(presets, "resolve_precision", lambda name: "mixed_bfloat16" if name == "auto" else name)
    config = build_config("fast")
    options = config.arch_options
    assert (options["widths"], options["activation"], config.batch_size, config.learning_rate) == ([64, 256, 256], "gelu", 1024, 1.0)
    assert (options["batchnorm_momentum"], config.weight_decay) == (0.4, 0.0133)  # airbench's, measured on an H100
    assert options["logit_scale"] == pytest.approx(1 / 9)  # the options the GPU form does not change stay
    assert config.lookahead and config.alternate_flips and config.precision == "mixed_bfloat16"
    assert build_config("fast", batch_size=512).batch_size == 512  # overrides still win
    assert build_config("seed").batch_size == 128  # the seed preset has no GPU form


def test_without_a_gpu_the_fast_preset_keeps_its_cpu_form(monkeypatch):
    from cifar_cnn import devices

    monkeypatch.setattr(devices, "gpus", lambda: ())
    monkeypatch.setattr(presets, "resolve_precision", lambda name: "mixed_bfloat16" if name == "auto" else name)
    config = build_config("fast")
    assert (config.arch_options["widths"], config.arch_options["activation"], config.batch_size, config.lookahead) == ([64, 128, 256], "relu", 512, False)


def test_a_recipe_is_told_in_words_and_rounded_numbers():
    from cifar_cnn.training import recipe_in_words, settings_rows
    from cifar_cnn.training.config import setting_in_words

    assert setting_in_words(1 / 9) == "0.1111" and setting_in_words([64, 128, 256]) == "64, 128, 256"
    assert (setting_in_words(True), setting_in_words(None), setting_in_words(64.0)) == ("yes", "none", "64")
    for name in PRESETS:
        settings = preset_settings(name)
        sentence = recipe_in_words(settings)
        assert sentence.startswith(settings["arch"] + ", ") and not any(mark in sentence for mark in "{}[]'")
        rows = settings_rows(settings)
        assert {row["setting"] for row in rows} >= {"batch size", "learning rate"}
        assert all("{" not in row["value"] and "0.11111" not in row["value"] for row in rows)
    assert recipe_in_words({"arch": "seed_cnn", "optimizer": "adam", "learning_rate": 0.001}) == "seed_cnn, adam at 0.001"
