"""The end of a training measures what its run needs and no more: what a queue's next student waits for.

A stop skips the partial epoch's validation and measures the test set plainly; the train accuracy comes from a sample;
`touches_later` leaves the test-time augmentation and the top images to `finishing_touches`, which then gives the
figures an in-process training gives."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pandas as pd
import pytest

from cifar_cnn import runs
from cifar_cnn.inside import store
from cifar_cnn.training import TrainConfig, loop, train
from cifar_cnn.training.live import LiveHistory
from synthetic_arrays import make_dataset

TTA = TrainConfig(arch="tiny_cnn", epochs=2, batch_size=32, flip_tta=True, shift_tta=True)


@pytest.fixture(scope="module")
def dataset():
    return make_dataset(n_train=200, n_test=60)


class CountValidations(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.validations = 0

    def on_test_begin(self, logs=None):
        self.validations += 1


class StopAt(keras.callbacks.Callback):
    """Asks `live` to stop after training batch `batch` (counted from 1), or at validation batch `validation_batch`."""

    def __init__(self, live: LiveHistory, batch: int | None = None, validation_batch: int | None = None):
        super().__init__()
        self.live, self.batch, self.validation_batch, self.seen = live, batch, validation_batch, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.batch:
            self.live.request_stop()

    def on_test_batch_begin(self, batch, logs=None):
        if self.validation_batch is not None and batch + 1 == self.validation_batch:
            self.live.request_stop()


def read_metrics(run_dir):
    return json.loads((run_dir / runs.METRICS_FILE).read_text())


def test_a_stop_skips_the_partial_epochs_validation_and_measures_the_test_set_plainly(dataset, tmp_path):
    live, counter = LiveHistory(), CountValidations()
    config = TrainConfig(arch="tiny_cnn", epochs=20, batch_size=32, flip_tta=True, shift_tta=True)
    result = train(config, dataset, runs_dir=tmp_path, live=live, callbacks=[counter, StopAt(live, batch=2)])
    assert result.state == "stopped"
    assert counter.validations == 0  # Keras would validate the cut epoch: the stop says no
    history = pd.read_csv(result.run_dir / runs.HISTORY_FILE)
    assert len(history) == 1 and math.isnan(history["val_accuracy"].iloc[0])
    metrics = read_metrics(result.run_dir)
    assert set(metrics) == {"test_accuracy", "test_loss", "test_tta"} and metrics["test_tta"] == ""
    assert "Stopped by request after 1 epoch of 20" in result.message and "plainly" in result.message
    assert (result.run_dir / runs.MODEL_FILE).is_file() and not (result.run_dir / store.FOLDER).exists()


def test_a_stop_during_validation_ends_it_and_keeps_no_figures_of_it(tmp_path):
    live = LiveHistory()
    many_test_images = make_dataset(n_train=100, n_test=800)  # validated in 4 batches of 256
    result = train(TrainConfig(arch="tiny_cnn", epochs=20, batch_size=50), many_test_images, runs_dir=tmp_path, live=live,
                   callbacks=[StopAt(live, validation_batch=2)])
    assert result.state == "stopped"
    history = pd.read_csv(result.run_dir / runs.HISTORY_FILE)
    assert len(history) == 1 and math.isnan(history["val_loss"].iloc[0]) and history["loss"].notna().all()
    assert not (result.run_dir / runs.EPOCHS_FILE).exists()  # no confusion matrix counted from 2 batches


def test_a_stop_before_the_first_batch_trains_nothing(dataset, tmp_path):
    live = LiveHistory()
    live.request_stop()
    result = train(TrainConfig(arch="tiny_cnn", epochs=5, batch_size=16), dataset, runs_dir=tmp_path, live=live)
    assert result.state == "stopped" and result.metrics == {}
    assert result.message == "Stopped by request before its first batch: nothing was trained."
    assert runs.load_run(result.run_dir).state == "stopped" and not (result.run_dir / runs.MODEL_FILE).exists()


def test_the_train_accuracy_comes_from_a_sample_of_the_training_images(dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "TRAIN_ACCURACY_IMAGES", 50)
    result = train(TrainConfig(arch="tiny_cnn", epochs=1, batch_size=32), dataset, runs_dir=tmp_path)
    metrics = read_metrics(result.run_dir)
    assert metrics["train_accuracy_images"] == 50
    assert round(metrics["train_accuracy"] * 50) == pytest.approx(metrics["train_accuracy"] * 50)  # a share of 50 images


def test_touches_later_then_finishing_touches_give_what_training_in_process_gives(dataset, tmp_path):
    now = train(TTA, dataset, runs_dir=tmp_path / "now").run_dir
    later = train(TTA, dataset, runs_dir=tmp_path / "later", touches_later=True).run_dir
    plain = read_metrics(later)
    assert plain["pending"] == [loop.PENDING_TTA, loop.PENDING_TOP_IMAGES] and plain["test_tta"] == ""
    assert not (later / store.FOLDER).exists()

    assert loop.finishing_touches(later, dataset) is True
    touched, full = read_metrics(later), read_metrics(now)
    assert "pending" not in touched and touched["test_tta"] == full["test_tta"] == "flip and 1-pixel shift test-time augmentation"
    assert touched["test_accuracy"] == pytest.approx(full["test_accuracy"])
    assert touched["train_accuracy"] == plain["train_accuracy"]  # the rest as training measured it
    with np.load(later / runs.PREDICTIONS_FILE) as touched_predictions, np.load(now / runs.PREDICTIONS_FILE) as own:
        np.testing.assert_allclose(touched_predictions["probabilities"], own["probabilities"], atol=1e-5)
    assert [path.name.split("-")[0] for path in (later / store.FOLDER).iterdir()] == ["top_images"]
    assert loop.finishing_touches(later, dataset) is False  # nothing left to do


def test_finishing_touches_that_give_way_write_nothing(dataset, tmp_path):
    later = train(TTA, dataset, runs_dir=tmp_path, touches_later=True).run_dir
    before = {path.name: path.read_bytes() for path in later.iterdir() if path.is_file() and path.name != runs.STATUS_FILE}
    asked = []

    def give_way():
        asked.append(1)
        return len(asked) == 3  # after two of the six test-time views

    with pytest.raises(loop.GaveWay):
        loop.finishing_touches(later, dataset, give_way=give_way)
    after = {path.name: path.read_bytes() for path in later.iterdir() if path.is_file() and path.name != runs.STATUS_FILE}
    assert after == before and not (later / store.FOLDER).exists()


def test_the_last_validations_predictions_are_the_final_test_predictions(dataset, tmp_path, monkeypatch):
    config = TrainConfig(arch="tiny_cnn", epochs=2, batch_size=32)
    passes = []
    real_score = loop.score
    monkeypatch.setattr(loop, "score", lambda model, images, *rest, **named: passes.append(len(images)) or real_score(model, images, *rest, **named))
    result = train(config, dataset, runs_dir=tmp_path)
    assert passes == [loop.TRAIN_ACCURACY_IMAGES if len(dataset.x_train) > loop.TRAIN_ACCURACY_IMAGES else len(dataset.x_train)]
    model = keras.saving.load_model(result.run_dir / runs.MODEL_FILE, compile=False)
    with np.load(result.run_dir / runs.PREDICTIONS_FILE) as saved:
        np.testing.assert_allclose(saved["probabilities"], model.predict(dataset.x_test, verbose=0), atol=1e-5)
    history = pd.read_csv(result.run_dir / runs.HISTORY_FILE)
    assert read_metrics(result.run_dir)["test_accuracy"] == pytest.approx(history["val_accuracy"].iloc[-1])
