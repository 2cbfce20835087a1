"""Per-epoch records: the validation set's confusion matrix and the watch set's guesses after every epoch (epochs.npz),
and the watch-set panel the Train page draws from the live state."""

import keras
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

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


def test_the_watch_set_sends_each_watched_picture_with_its_class_once():
    from dataclasses import replace

    from cifar_cnn.ui.watch_set import NO_DATASET, watch_set_data

    names = ("cat", "[dog](http://example.invalid/)", "frog")
    dataset = replace(make_dataset(n_train=30, n_test=12), class_names=names)
    data = watch_set_data(dataset)
    indices = list(watch_indices(dataset.y_test, dataset.num_classes))
    assert data["indices"] == indices and data["truths"] == [int(dataset.y_test[index]) for index in indices]
    assert len(data["pictures"]) == len(indices) == 6 and all(url.startswith("data:image/png;base64,") for url in data["pictures"])
    assert len(set(data["pictures"])) == 6  # each its own image
    assert data["names"] == list(names)  # as they are: the panel sets them as text, never as Markdown or HTML
    assert watch_set_data(None) == {"message": NO_DATASET}
