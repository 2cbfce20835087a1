"""What the model predicts after each epoch: the validation set's confusion matrix and a watch set's classes.

A class replays these to see which confusions resolve first (Evaluate) and watches the network learn (Train).

The matrix is counted by `ConfusionCounts`, a metric compiled with the model, so it comes out of the validation
pass `fit` already makes (on the holdout where the run validates on one), not from a second pass over the images.
Its `result()` is empty, so it adds nothing to Keras' logs (the CLI's progress bar, `History`); `EpochRecords`
reads its counts when a validation ends. The watch set (`watch_indices`: two test images per class) is predicted
after every epoch: a single call on a few images. Each epoch rewrites the run's `epochs.npz` (`runs.write_epoch_records`),
so a stopped or crashed run keeps the epochs it finished.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import ops

from cifar_cnn import inference, runs
from cifar_cnn.training.live import LiveHistory, WatchGuesses

WATCH_PER_CLASS = 2


def watch_indices(labels: np.ndarray, num_classes: int, per_class: int = WATCH_PER_CLASS) -> np.ndarray:
    """The first `per_class` images of each class in `labels`, class by class (fewer where a class has fewer).

    The first ones, not a random draw: every run of a dataset watches the same images, so runs can be compared."""
    labels = np.asarray(labels)
    chosen = [np.flatnonzero(labels == label)[:per_class] for label in range(num_classes)]
    return np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, np.int64)


class ConfusionCounts(keras.metrics.Metric):
    """Counts of (true class, predicted class) over the batches since the last reset: rows true, columns predicted.

    Takes class numbers or one-hot targets (label smoothing trains on those). Keras resets it at the start of every
    epoch and of every validation, so after a validation it holds that validation's matrix. It also counts the
    training batches, which nobody reads: a 10x10 product per batch costs nothing next to a convolution."""

    def __init__(self, num_classes: int, name: str = "confusion", **kwargs):
        super().__init__(name=name, dtype="float32", **kwargs)
        self.num_classes = num_classes
        # Float counts: exact up to 2**24 per cell, and summed across replicas like Keras' own metrics.
        self.counts = self.add_variable(shape=(num_classes, num_classes), initializer="zeros", name="counts", aggregation="sum")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == self.num_classes:
            true = ops.argmax(y_true, axis=-1)
        else:
            true = ops.reshape(y_true, (-1,))
        true_hot = ops.one_hot(ops.cast(true, "int32"), self.num_classes, dtype="float32")
        predicted_hot = ops.one_hot(ops.argmax(y_pred, axis=-1), self.num_classes, dtype="float32")
        self.counts.assign_add(ops.matmul(ops.transpose(true_hot), predicted_hot))

    def result(self):
        # Keras flattens a metric's dict result into the logs: an empty one keeps a 10x10 array out of them.
        return {}

    def matrix(self) -> np.ndarray:
        return np.rint(ops.convert_to_numpy(self.counts.value)).astype(np.int64)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


class KeptPredictions(keras.metrics.Metric):
    """The class probabilities of the last validation, row by row in the order of the validation images.

    The end of a training needs the test set's predictions; when it validates on the test set and nothing trained
    since the last validation, those are the ones (`loop.FinalEvaluation`), and the pass over the test set is not made
    twice. Keras resets metrics at the start of every epoch and every validation; training batches, which also come
    here, are not kept (they would not fit: `images` is the validation set's size)."""

    def __init__(self, images: int, num_classes: int, name: str = "kept_predictions", **kwargs):
        super().__init__(name=name, dtype="float32", **kwargs)
        self.images, self.num_classes = images, num_classes
        self.rows = self.add_variable(shape=(images, num_classes), initializer="zeros", name="rows", aggregation="none")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count", dtype="int32", aggregation="none")
        self.validating = self.add_variable(shape=(), initializer="zeros", name="validating", dtype="int32", aggregation="none")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
        batch = ops.shape(y_pred)[0]
        start = self.count.value

        def keep():
            self.rows.assign(ops.slice_update(self.rows.value, [start, 0], y_pred))
            self.count.assign(start + ops.cast(batch, "int32"))
            return ops.zeros((), "int32")

        fits = ops.logical_and(ops.equal(self.validating.value, 1), ops.less_equal(start + ops.cast(batch, "int32"), self.images))
        ops.cond(fits, keep, lambda: ops.zeros((), "int32"))

    def result(self):
        return {}

    def reset_state(self):
        self.count.assign(0)

    def probabilities(self) -> np.ndarray | None:
        """The last validation's probabilities, or None when it did not see every validation image."""
        if int(ops.convert_to_numpy(self.count.value)) != self.images:
            return None
        return ops.convert_to_numpy(self.rows.value).copy()

    def get_config(self):
        return {**super().get_config(), "images": self.images, "num_classes": self.num_classes}


class KeepValidationPredictions(keras.callbacks.Callback):
    """Tells `KeptPredictions` when a validation runs (training batches pass through the same metrics)."""

    def __init__(self, kept: KeptPredictions):
        super().__init__()
        self.kept = kept

    def on_test_begin(self, logs=None):
        self.kept.validating.assign(1)

    def on_test_end(self, logs=None):
        self.kept.validating.assign(0)


class EpochRecords(keras.callbacks.Callback):
    """After every epoch: appends the last validation's confusion matrix and the watch set's predicted classes,
    rewrites the run's `epochs.npz`, and hands the guesses to the live state.

    `counts` must be compiled into the model's metrics; `watch_images` are the test images at `indices`."""

    def __init__(self, counts: ConfusionCounts, run_dir: Path, watch_images: np.ndarray, indices: np.ndarray,
                 watch_labels: np.ndarray, live: LiveHistory | None = None):
        super().__init__()
        self.counts, self.run_dir, self.live = counts, run_dir, live
        self.watch_images, self.indices, self.watch_labels = watch_images, np.asarray(indices), np.asarray(watch_labels)
        self.confusion: list[np.ndarray] = []
        self.predictions: list[np.ndarray] = []
        self._validated: np.ndarray | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._validated = None

    def on_test_end(self, logs=None):
        # Read here, not at the epoch's end: nothing else may reset or reuse the metric in between. A validation that a
        # stop request cut short counted only part of the images: no matrix for that epoch.
        self._validated = None if self.live is not None and self.live.stop_requested else self.counts.matrix()

    def on_epoch_end(self, epoch, logs=None):
        if self._validated is None:  # `train` always validates; an epoch without validation has no matrix to keep
            return
        predicted = (np.argmax(inference.predict(self.model, self.watch_images), axis=1) if len(self.watch_images)
                     else np.zeros(0, np.int64))
        self.confusion.append(self._validated)
        self.predictions.append(predicted.astype(np.int64))
        runs.write_epoch_records(self.run_dir, runs.EpochRecords(
            confusion=np.stack(self.confusion), watch_indices=self.indices, watch_labels=self.watch_labels,
            watch_predictions=np.stack(self.predictions)))
        if self.live is not None:
            self.live.set_watch(WatchGuesses(epoch=epoch + 1, indices=tuple(int(i) for i in self.indices),
                                             labels=tuple(int(label) for label in self.watch_labels),
                                             predicted=tuple(int(guess) for guess in predicted)))
