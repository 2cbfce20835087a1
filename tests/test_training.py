import json
import math
import os
import shutil
import zipfile

import keras
import numpy as np
import pandas as pd
import pytest

from cifar_cnn import runs
from cifar_cnn.inference import predict
from cifar_cnn.inside import channels, layers, store
from cifar_cnn.training.live import FINISHING, LiveHistory
from cifar_cnn.training import ConfigError, TrainConfig, train
from synthetic_arrays import make_dataset

RUN_FILES = {"config.json", "status.json", "history.csv", "model.keras", "metrics.json", "predictions.npz"}


@pytest.fixture(scope="module")
def dataset():
    return make_dataset(n_train=300, n_test=60)


def test_one_epoch_run_writes_every_file(dataset, tmp_path):
    result = train(TrainConfig(arch="seed_cnn", epochs=1, batch_size=32), dataset, runs_dir=tmp_path)
    assert result.state == "completed", result.message
    assert RUN_FILES <= {path.name for path in result.run_dir.iterdir()}
    history = pd.read_csv(result.run_dir / "history.csv")
    assert list(history.columns) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
    assert len(history) == 1 and history.notna().all().all()
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert set(metrics) == {"train_accuracy", "train_loss", "train_accuracy_images", "test_accuracy", "test_loss", "test_tta"}
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["arch"] == "seed_cnn" and config["class_names"] == list(dataset.class_names)
    probabilities, labels = runs.load_predictions(runs.load_run(result.run_dir))
    assert probabilities.shape == (60, 3)
    np.testing.assert_array_equal(labels, dataset.y_test)
    assert metrics["test_accuracy"] == pytest.approx(np.mean(probabilities.argmax(1) == labels))
    assert json.loads((result.run_dir / "status.json").read_text())["state"] == "completed"


def test_reloaded_model_predicts_identically(dataset, tmp_path):
    result = train(TrainConfig(arch="tiny_cnn", epochs=1, batch_size=32), dataset, runs_dir=tmp_path)
    run = runs.load_run(result.run_dir)
    saved_probabilities, _ = runs.load_predictions(run)
    reloaded = runs.load_model(run)
    np.testing.assert_allclose(reloaded.predict(dataset.x_test, verbose=0), saved_probabilities, rtol=1e-5, atol=1e-6)
    # plain Keras can load it too, and feed it raw uint8 images
    plain = keras.models.load_model(run.path / "model.keras")
    np.testing.assert_allclose(plain.predict(dataset.x_test[:4], verbose=0), saved_probabilities[:4], rtol=1e-5, atol=1e-6)


def first_epoch_loss(dataset, runs_dir, seed):
    result = train(TrainConfig(arch="tiny_cnn", epochs=1, batch_size=32, seed=seed), dataset, runs_dir=runs_dir)
    return float(pd.read_csv(result.run_dir / "history.csv")["loss"].iloc[0])


def test_same_seed_gives_the_same_first_epoch_loss(dataset, tmp_path):
    first, again = first_epoch_loss(dataset, tmp_path, seed=1), first_epoch_loss(dataset, tmp_path, seed=1)
    other = first_epoch_loss(dataset, tmp_path, seed=2)
    assert first == pytest.approx(again, rel=1e-6)
    assert other != pytest.approx(first, rel=1e-6)


class StopAfterBatches(keras.callbacks.Callback):
    """Stands in for a user pressing Stop, from inside the training loop."""

    def __init__(self, live, batches):
        super().__init__()
        self.live, self.batches, self.seen = live, batches, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.batches:
            self.live.request_stop()


def test_stop_request_ends_after_the_current_batch_and_keeps_the_run(dataset, tmp_path):
    live = LiveHistory()
    stopper = StopAfterBatches(live, batches=3)
    result = train(TrainConfig(arch="tiny_cnn", epochs=20, batch_size=16), dataset, runs_dir=tmp_path, live=live, callbacks=[stopper])
    assert result.state == "stopped"
    assert stopper.seen == 3  # no batch ran after the request
    snapshot = live.snapshot()
    assert snapshot.epoch == 1 and snapshot.batch == 3 and len(snapshot.batches) == 3
    run = runs.load_run(result.run_dir)
    assert run.state == "stopped" and run.has_model and run.has_predictions and run.metrics


def test_live_history_records_batches_and_epochs(dataset, tmp_path):
    live = LiveHistory()
    train(TrainConfig(arch="tiny_cnn", epochs=2, batch_size=128), dataset, runs_dir=tmp_path, live=live)
    snapshot = live.snapshot()
    assert [row["step"] for row in snapshot.batches] == [1, 2, 3, 4, 5, 6]
    assert [row["epoch"] for row in snapshot.epochs] == [1, 2]
    assert snapshot.fraction_done == 1.0 and snapshot.steps_per_epoch == 3 and snapshot.images_per_s > 0
    assert snapshot.phase == FINISHING  # after fit: scoring and saving, which the progress line says
    # Batches hold their own values (Keras logs running means): sizes 128, 128, 44 average to the epoch's.
    first_epoch = [row for row in snapshot.batches if row["epoch"] == 1]
    for metric in ("loss", "accuracy"):
        weighted = np.average([row[metric] for row in first_epoch], weights=[128, 128, 44])
        assert weighted == pytest.approx(snapshot.epochs[0][metric], rel=1e-4)


class PoisonWeights(keras.callbacks.Callback):
    """Makes every weight NaN after the first batch, as a diverging optimiser would."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            for variable in self.model.trainable_variables:
                variable.assign(np.full(variable.shape, np.nan, dtype="float32"))


def test_diverging_loss_fails_the_run_with_advice(dataset, tmp_path):
    live = LiveHistory()
    config = TrainConfig(arch="tiny_cnn", epochs=3, batch_size=16)
    result = train(config, dataset, runs_dir=tmp_path, live=live, callbacks=[PoisonWeights()])
    assert result.state == "failed"
    assert "became nan in epoch 1, batch 2" in result.message and "lower learning rate" in result.message
    assert len(live.snapshot().batches) == 2  # stopped at the first NaN
    run = runs.load_run(result.run_dir)
    assert run.state == "failed" and run.message == result.message and not run.has_model


def test_a_crash_during_training_marks_the_run_failed(dataset, tmp_path):
    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise RuntimeError("disk on fire")

    result = train(TrainConfig(arch="tiny_cnn", epochs=1), dataset, runs_dir=tmp_path, callbacks=[Crash()])
    assert result.state == "failed" and "disk on fire" in result.message
    assert runs.load_run(result.run_dir).state == "failed"
    assert "RuntimeError" in (result.run_dir / "error.txt").read_text()


def test_holdout_validation_and_subset(dataset, tmp_path):
    config = TrainConfig(arch="tiny_cnn", epochs=1, subset=100, validation="holdout", holdout_fraction=0.2)
    result = train(config, dataset, runs_dir=tmp_path)
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert (saved["train_images"], saved["validation_images"], saved["test_images"]) == (80, 20, 60)


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"arch": "nope"}, "Unknown architecture"),
        ({"epochs": 0}, "Epochs"),
        ({"batch_size": 0}, "Batch size"),
        ({"learning_rate": math.nan}, "Learning rate"),
        ({"learning_rate": -1.0}, "Learning rate"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"validation": "train"}, "Validation"),
        ({"subset": 10_000}, "at most 300"),
        ({"subset": 0}, "subset"),
        ({"precision": "float8"}, "precision"),
        ({"weight_decay": -0.1}, "Weight decay"),
        ({"arch": "tiny_cnn", "arch_options": {"depth": 3}}, "tiny_cnn has no option 'depth'; its options are filters"),
        ({"arch_options": ["conv_dropout", 0.1]}, "mapping"),
        ({"arch_options": {"conv_dropout": "lots"}}, "seed_cnn cannot be built with"),
        ({"crop_padding": -1}, "Crop padding"),
        ({"shift_lr_scale": 64.0}, "needs the sgd optimizer"),
        ({"optimizer": "sgd", "shift_lr_scale": 0}, "shift learning-rate scale"),
        ({"crop_padding": 2.5}, "Crop padding"),
        ({"minutes": 0}, "minutes above 0"),
        ({"minutes": float("nan")}, "minutes"),
        ({"minutes": "ten"}, "minutes"),
        ({"minutes": 1e9}, "at most"),
        ({"epochs": 1001}, "Epochs must be a whole number from 1 to 1000"),
        ({"learning_rate": 20.0}, "Learning rate must be a number from 1e-05 to 10"),
        ({"batch_size": 10_000}, "Batch size must be a whole number from 1 to 8192"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**31}, "seed"),
    ],
)
def test_bad_settings_are_refused_before_a_run_exists(dataset, tmp_path, changes, words):
    with pytest.raises(ConfigError, match=words):
        train(TrainConfig(**changes), dataset, runs_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_config_round_trips_through_a_dict():
    config = TrainConfig(arch="tiny_cnn", subset=5, augment=False)
    assert TrainConfig.from_dict({**config.to_dict(), "class_names": ["x"]}) == config


def test_arch_options_reach_the_model_and_the_saved_config(dataset, tmp_path):
    config = TrainConfig(arch="tiny_cnn", arch_options={"filters": [4, 6]}, epochs=1, crop_padding=2)
    result = train(config, dataset, runs_dir=tmp_path)
    assert result.state == "completed", result.message
    model = runs.load_model(runs.load_run(result.run_dir))
    assert [model.get_layer(name).filters for name in ("conv1", "conv2")] == [4, 6]
    assert TrainConfig.from_dict(runs.load_run(result.run_dir).config) == config


def test_a_run_holds_its_top_images_which_the_inside_page_reads_instead_of_computing(dataset, tmp_path, monkeypatch):
    result = train(TrainConfig(arch="tiny_cnn", epochs=1, batch_size=32), dataset, runs_dir=tmp_path / "runs")
    model = runs.load_model(runs.load_run(result.run_dir))
    names = layers.spatial_layer_names(model)
    expected = channels.layers_top_images(model, names, dataset.x_test)
    # A queued run's files are written again by the app: the same model file with another time.
    written_again = tmp_path / "app" / result.run_dir.name
    shutil.copytree(result.run_dir, written_again)
    later = (result.run_dir / runs.MODEL_FILE).stat().st_mtime_ns + 10**9
    os.utime(written_again / runs.MODEL_FILE, ns=(later, later))

    def computing(*args, **kwargs):
        raise AssertionError("the page computed the top images again")

    monkeypatch.setattr(channels, "layers_top_images", computing)
    key = store.test_set_key(written_again / runs.MODEL_FILE, dataset.x_test, dataset.y_test)
    stored, read = channels.stored_top_images(written_again, key, model, dataset.x_test)
    assert read and list(stored) == names and len(names) >= 2
    for name in names:
        np.testing.assert_array_equal(stored[name].indices, expected[name].indices)
        np.testing.assert_allclose(stored[name].values, expected[name].values, rtol=1e-5, atol=1e-6)


def test_a_failure_storing_the_top_images_leaves_the_run_completed(dataset, tmp_path, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError("no room for the test set's feature maps")

    monkeypatch.setattr(channels, "stored_top_images", out_of_memory)
    result = train(TrainConfig(arch="tiny_cnn", epochs=1, batch_size=32), dataset, runs_dir=tmp_path)
    assert result.state == "completed", result.message
    run = runs.load_run(result.run_dir)
    assert run.state == "completed" and run.metrics["test_accuracy"] == result.metrics["test_accuracy"]
    assert not (result.run_dir / store.FOLDER).exists()  # the Inside page computes them at its first look


def test_bfloat16_training_saves_a_model_plain_keras_loads(dataset, tmp_path):
    # Small widths: where bfloat16 is emulated (CPUs without AVX-512 BF16) it is several times slower than float32.
    result = train(TrainConfig(arch="fast_cnn", arch_options={"widths": [8, 16, 16]}, epochs=1, batch_size=64,
                               precision="mixed_bfloat16", optimizer="sgd",
                               learning_rate=0.05, weight_decay=0.01, shift_lr_scale=64.0), dataset, runs_dir=tmp_path)
    assert result.state == "completed", result.message
    with zipfile.ZipFile(result.run_dir / "model.keras") as saved:
        assert not json.loads(saved.read("config.json")).get("compile_config")  # no custom optimizer to import
    plain = keras.models.load_model(result.run_dir / "model.keras")
    assert plain.get_layer("group1_conv1").compute_dtype == "bfloat16"
    assert plain.get_layer("group1_conv1").kernel.dtype == "float32"  # weights stay float32
    saved_probabilities, _ = runs.load_predictions(runs.load_run(result.run_dir))
    assert saved_probabilities.dtype == np.float32
    np.testing.assert_allclose(plain.predict(dataset.x_test[:4], verbose=0), saved_probabilities[:4], atol=1e-2)
    assert keras.config.dtype_policy().name == "float32"  # the process-wide policy is left as it was


def test_weight_decay_shrinks_the_weights(dataset):
    from cifar_cnn.training import make_optimizer

    variable = keras.Variable(np.ones(3, dtype=np.float32))
    optimizer = make_optimizer(TrainConfig(optimizer="sgd", learning_rate=0.1, weight_decay=0.5))
    optimizer.apply_gradients([(np.zeros(3, dtype=np.float32), variable)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), 1 - 0.1 * 0.5)


def test_batchnorm_shifts_learn_faster_by_the_shift_scale():
    from cifar_cnn.training import make_optimizer

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False), keras.layers.BatchNormalization(scale=False)])
    kernel, shift = model.layers[0].kernel, model.layers[1].beta
    kernel.assign(np.ones((2, 2), dtype=np.float32))
    optimizer = make_optimizer(TrainConfig(optimizer="sgd", learning_rate=0.1, shift_lr_scale=64.0))
    optimizer.apply_gradients([(np.ones((2, 2), dtype=np.float32), kernel), (np.ones(2, dtype=np.float32), shift)])
    kernel_step = 1 - keras.ops.convert_to_numpy(kernel)[0, 0]
    shift_step = -keras.ops.convert_to_numpy(shift)[0]
    assert kernel_step > 0 and shift_step == pytest.approx(64 * kernel_step, rel=1e-4)


def test_shift_tta_predictions_average_the_shifted_and_mirrored_views(dataset, tmp_path):
    result = train(TrainConfig(arch="tiny_cnn", epochs=1, batch_size=32, flip_tta=True, shift_tta=True), dataset, runs_dir=tmp_path)
    run = runs.load_run(result.run_dir)
    saved_probabilities, _ = runs.load_predictions(run)
    model = runs.load_model(run)
    np.testing.assert_allclose(saved_probabilities, predict(model, dataset.x_test, flip_tta=True, shift_tta=True), rtol=1e-4, atol=1e-6)
    assert not np.allclose(saved_probabilities, predict(model, dataset.x_test, flip_tta=True), atol=1e-4)


def test_flip_tta_predictions_average_each_image_and_its_mirror(dataset, tmp_path):
    result = train(TrainConfig(arch="tiny_cnn", epochs=1, batch_size=32, flip_tta=True), dataset, runs_dir=tmp_path)
    run = runs.load_run(result.run_dir)
    saved_probabilities, labels = runs.load_predictions(run)
    model = runs.load_model(run)
    plain = model.predict(dataset.x_test, verbose=0)
    mirrored = model.predict(dataset.x_test[:, :, ::-1], verbose=0)
    np.testing.assert_allclose(saved_probabilities, (plain + mirrored) / 2, rtol=1e-4, atol=1e-6)
    assert not np.allclose(saved_probabilities, plain, atol=1e-4)
    assert result.metrics["test_accuracy"] == pytest.approx(np.mean(saved_probabilities.argmax(1) == labels))


def test_lookahead_and_alternating_flips_each_change_what_training_learns(dataset, tmp_path):
    def final_kernel(**settings):
        result = train(TrainConfig(arch="tiny_cnn", epochs=2, batch_size=32, **settings), dataset, runs_dir=tmp_path)
        assert result.state == "completed", result.message
        return keras.ops.convert_to_numpy(runs.load_model(runs.load_run(result.run_dir)).get_layer("probabilities").kernel)

    plain = final_kernel()
    np.testing.assert_array_equal(plain, final_kernel())  # the same seed trains the same weights...
    assert not np.allclose(plain, final_kernel(lookahead=True))  # ...so these differences come from the settings
    assert not np.allclose(plain, final_kernel(alternate_flips=True))


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.2GiB"),
                                   type("ResourceExhaustedError", (Exception,), {})("OOM when allocating tensor"),
                                   type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory")])
def test_running_out_of_memory_on_any_backend_says_how_to_fix_it(error):
    from cifar_cnn.training.loop import _failure_message

    assert _failure_message(error) == "Training ran out of memory. Try a smaller batch size or a smaller train subset."


def test_other_failures_name_the_error():
    from cifar_cnn.training.loop import _failure_message

    assert _failure_message(ValueError("bad shape")) == "Training failed: ValueError: bad shape"


def test_settings_cannot_change_once_made():
    import dataclasses

    config = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
    with pytest.raises(ConfigError, match="Epochs"):
        dataclasses.replace(config, epochs=0)  # a changed copy is checked too
