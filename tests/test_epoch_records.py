"""Per-epoch records: the validation set's confusion matrix and the watch set's guesses after every epoch (epochs.npz),
and the watch-set panel the Train page draws from the live state."""

import keras
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix
from streamlit.testing.v1 import AppTest

from cifar_cnn import runs
from cifar_cnn.training import TrainConfig, split_training_data, train
from cifar_cnn.training.epoch_records import ConfusionCounts, watch_indices
from cifar_cnn.training.live import LiveHistory
from synthetic_arrays import make_dataset


@pytest.fixture(scope="module")
def dataset():
    return make_dataset(n_train=300, n_test=60)


class PredictAfterEachEpoch(keras.callbacks.Callback):
    """The model's classes for `images` at each epoch's end: nothing changes the weights between the validation pass
    and this point, so they are the classes that validation saw."""

    def __init__(self, images):
        super().__init__()
        self.images, self.classes = images, []

    def on_epoch_end(self, epoch, logs=None):
        self.classes.append(np.argmax(keras.ops.convert_to_numpy(self.model(self.images, training=False)), axis=1))


def test_the_metric_counts_like_scikit_learn_for_class_numbers_and_one_hot_targets():
    rng = np.random.default_rng(3)
    true, scores = rng.integers(0, 4, 50), rng.random((50, 4)).astype("float32")
    expected = confusion_matrix(true, scores.argmax(1), labels=range(4))
    assert not np.array_equal(expected, expected.T)  # a transposed matrix would be caught
    for targets in (true, true[:, None], np.eye(4, dtype="float32")[true] * 0.9 + 0.025):  # smoothed one-hot, as label smoothing trains
        counts = ConfusionCounts(4)
        for start in range(0, 50, 16):  # several batches add up
            counts.update_state(targets[start:start + 16], scores[start:start + 16])
        np.testing.assert_array_equal(counts.matrix(), expected)
        counts.reset_state()
        assert counts.matrix().sum() == 0


@pytest.mark.parametrize("config", [
    TrainConfig(arch="tiny_cnn", epochs=2, batch_size=32),
    TrainConfig(arch="tiny_cnn", epochs=2, batch_size=32, subset=200, validation="holdout", holdout_fraction=0.25, label_smoothing=0.1),
], ids=["test-set", "holdout-with-label-smoothing"])
def test_each_epochs_matrix_is_scikit_learns_on_that_epochs_validation_predictions(dataset, tmp_path, config):
    _, _, x_val, y_val = split_training_data(config, dataset)
    expected_size = 50 if config.validation == "holdout" else 60
    assert len(y_val) == expected_size
    predictions = PredictAfterEachEpoch(x_val)
    result = train(config, dataset, runs_dir=tmp_path, callbacks=[predictions])
    assert result.state == "completed", result.message
    records = runs.load_epoch_records(runs.load_run(result.run_dir))
    assert records.confusion.shape == (2, 3, 3) and records.confusion.dtype == np.int64
    for epoch in range(2):
        assert records.confusion[epoch].sum() == expected_size  # the validation set, counted once
        np.testing.assert_array_equal(records.confusion[epoch], confusion_matrix(y_val, predictions.classes[epoch], labels=range(3)))


def test_the_watch_set_is_stored_every_epoch_and_reaches_the_live_state(dataset, tmp_path):
    predictions, live = PredictAfterEachEpoch(dataset.x_test), LiveHistory()
    result = train(TrainConfig(arch="tiny_cnn", epochs=3, batch_size=32), dataset, runs_dir=tmp_path, callbacks=[predictions], live=live)
    records = runs.load_epoch_records(runs.load_run(result.run_dir))
    # The first two test images of each class: the synthetic labels cycle 0, 1, 2, 0, 1, 2...
    np.testing.assert_array_equal(records.watch_indices, [0, 3, 1, 4, 2, 5])
    np.testing.assert_array_equal(records.watch_labels, [0, 0, 1, 1, 2, 2])
    assert records.watch_predictions.shape == (3, 6)
    for epoch in range(3):
        np.testing.assert_array_equal(records.watch_predictions[epoch], predictions.classes[epoch][[0, 3, 1, 4, 2, 5]])
    watch = live.snapshot().watch
    assert watch.epoch == 3 and watch.indices == (0, 3, 1, 4, 2, 5) and watch.labels == (0, 0, 1, 1, 2, 2)
    assert list(watch.predicted) == list(predictions.classes[-1][[0, 3, 1, 4, 2, 5]])


class CrashInEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.crash_epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == self.crash_epoch:
            raise RuntimeError("power cut")


def test_a_run_that_fails_keeps_the_records_of_the_epochs_it_finished(dataset, tmp_path):
    result = train(TrainConfig(arch="tiny_cnn", epochs=3, batch_size=32), dataset, runs_dir=tmp_path, callbacks=[CrashInEpoch(2)])
    assert result.state == "failed"
    records = runs.load_epoch_records(runs.load_run(result.run_dir))
    assert records.confusion.shape == (1, 3, 3) and records.watch_predictions.shape == (1, 6)


def test_a_run_without_records_loads_as_none_and_a_damaged_file_is_an_error(tmp_path):
    run_dir = runs.create_run({"arch": "tiny_cnn", "epochs": 1}, tmp_path)
    runs.update_status(run_dir, "completed")
    assert runs.load_epoch_records(runs.load_run(run_dir)) is None
    (run_dir / runs.EPOCHS_FILE).write_bytes(b"not an npz")
    with pytest.raises(runs.RunError, match="epochs.npz could not be read"):
        runs.load_epoch_records(runs.load_run(run_dir))
    np.savez(run_dir / runs.EPOCHS_FILE, confusion=np.zeros((2, 3, 3), int), watch_indices=np.arange(4), watch_labels=np.zeros(4, int),
             watch_predictions=np.zeros((1, 4), int))  # one row of guesses for two epochs
    with pytest.raises(runs.RunError, match="watch-set arrays"):
        runs.load_epoch_records(runs.load_run(run_dir))


def test_watch_indices_are_the_first_images_of_each_class_in_class_order():
    labels = np.array([2, 0, 2, 2, 1, 0, 0])
    np.testing.assert_array_equal(watch_indices(labels, 3), [1, 5, 4, 0, 2])  # class 1 has one image; class 3 none
    np.testing.assert_array_equal(watch_indices(labels, 4), [1, 5, 4, 0, 2])


def _panel_script(guesses, class_names):
    """An app that draws the watch-set panel for a 3-class synthetic test set, after one epoch (or before any if guesses is None)."""
    from dataclasses import replace

    from cifar_cnn.training.live import LiveHistory, WatchGuesses
    from cifar_cnn.ui.watch_set import watch_set_panel
    from synthetic_arrays import make_dataset

    dataset = replace(make_dataset(n_train=30, n_test=12), class_names=tuple(class_names))
    live = LiveHistory()
    if guesses is not None:
        live.set_watch(WatchGuesses(1, (0, 3, 1, 4, 2, 5), (0, 0, 1, 1, 2, 2), tuple(guesses)))
    watch_set_panel(live.snapshot(), dataset)


def test_the_watch_set_panel_captions_each_image_with_its_guess_green_or_red():
    names = ["cat", "[dog](http://example.invalid/)", "frog"]
    app = AppTest.from_function(_panel_script, args=((0, 1, 1, 2, 2, 2), names), default_timeout=60).run()
    assert not app.exception, app.exception
    pictures = _watched_pictures(app)
    captions = [picture.caption for picture in pictures]
    assert captions[0] == ":green[✓ cat]" and captions[1].startswith(":red[✗ \\[dog\\]\\(http")  # a name shows as text
    assert sum(caption.startswith(":green[") for caption in captions) == 4
    assert sum(caption.startswith(":red[") for caption in captions) == 2 and ":gray[(is cat)]" in captions[1]
    assert any("After epoch 1: 4 of 6 right" in caption.value for caption in app.caption)
    assert len(pictures) == 6 and all(picture.url.startswith("data:image/png;base64,") for picture in pictures)


def test_before_the_first_epoch_the_panel_says_when_guesses_come():
    app = AppTest.from_function(_panel_script, args=(None, ["cat", "dog", "frog"]), default_timeout=60).run()
    assert not app.exception, app.exception
    assert any("appear here after the first epoch" in caption.value for caption in app.caption)
    assert [picture.caption for picture in _watched_pictures(app)] == ["cat", "cat", "dog", "dog", "frog", "frog"]


def _watched_pictures(app):
    """The pictures of the panel's one image list, each with its caption and URL."""
    (image_list,) = app.get("image")
    return list(image_list.proto.imgs)
