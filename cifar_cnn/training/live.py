"""Live training metrics that another thread can read while `fit` runs.

`LiveHistory` is the shared state: the training thread appends under a lock,
a reader (the app, the CLI, a test) takes a `snapshot()`. `LiveMetrics` is the
Keras callback that fills it and honours stop requests. Keras resets
`model.stop_training` when `fit` starts, so a stop request is an event that
the callback checks after every batch. `EpochRecords` (`cifar_cnn.training.epoch_records`)
adds the watch set's guesses after each epoch.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras


@dataclass(frozen=True)
class WatchGuesses:
    """What the network guessed for the watch set (a few test images) after an epoch: the class sees it learn."""

    epoch: int  # 1-based epoch after which these were predicted
    indices: tuple[int, ...]  # test-set indices of the watched images
    labels: tuple[int, ...]  # their true classes
    predicted: tuple[int, ...]  # the classes predicted for them

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "indices": list(self.indices), "labels": list(self.labels), "predicted": list(self.predicted)}

    @classmethod
    def from_dict(cls, values: dict) -> WatchGuesses:
        return cls(int(values["epoch"]), *(tuple(int(value) for value in values[key]) for key in ("indices", "labels", "predicted")))


# What a training is doing, for its progress line: between an epoch's last batch and the next epoch's first there are
# no new batches for seconds (BatchNorm re-estimation, validation, the per-epoch records), and after the last epoch the
# final scoring and saving take longer still; a viewer should see why the curves pause.
TRAINING, VALIDATING, FINISHING = "training", "validating", "finishing"


@dataclass(frozen=True)
class LiveSnapshot:
    """A consistent copy of the live state at one moment."""

    batches: tuple[dict, ...]  # step, epoch, batch, loss, accuracy (of the batches since the previous row: one, but a few on a GPU)
    epochs: tuple[dict, ...]  # epoch, loss, accuracy, val_loss, val_accuracy, seconds
    epoch: int  # 1-based epoch in progress (0 before training starts)
    batch: int  # batches done in the current epoch
    total_epochs: int
    steps_per_epoch: int
    batch_size: int
    images_per_s: float
    elapsed_s: float
    stop_requested: bool
    run_dir: Path | None
    budget_fraction: float | None = None  # share of a time budget used (None: training for a number of epochs)
    watch: WatchGuesses | None = None  # the watch set's latest guesses (None before the first epoch ends)
    phase: str = TRAINING  # TRAINING, VALIDATING (an epoch's end) or FINISHING (scoring and saving after the last)

    @property
    def fraction_done(self) -> float:
        total = self.total_epochs * self.steps_per_epoch
        if not total or self.epoch == 0:
            return 0.0
        by_epochs = min(1.0, ((self.epoch - 1) * self.steps_per_epoch + self.batch) / total)
        return by_epochs if self.budget_fraction is None else max(by_epochs, self.budget_fraction)

    @property
    def seconds_left(self) -> float | None:
        done = self.fraction_done
        if done <= 0:
            return None
        return self.elapsed_s * (1 - done) / done


@dataclass
class LiveHistory:
    total_epochs: int = 0
    steps_per_epoch: int = 0
    batch_size: int = 0
    run_dir: Path | None = None
    _batches: list[dict] = field(default_factory=list)
    _epochs: list[dict] = field(default_factory=list)
    _epoch: int = 0
    _batch: int = 0
    _images_per_s: float = 0.0
    _budget_fraction: float | None = None
    _watch: WatchGuesses | None = None
    _phase: str = TRAINING
    _started_at: float | None = None
    _first_batch_at: float | None = None  # time.monotonic() when the first and the last batch were added
    _last_batch_at: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def snapshot(self) -> LiveSnapshot:
        with self._lock:
            elapsed = time.monotonic() - self._started_at if self._started_at else 0.0
            return LiveSnapshot(
                batches=tuple(self._batches),
                epochs=tuple(self._epochs),
                epoch=self._epoch,
                batch=self._batch,
                total_epochs=self.total_epochs,
                steps_per_epoch=self.steps_per_epoch,
                batch_size=self.batch_size,
                images_per_s=self._images_per_s,
                elapsed_s=elapsed,
                stop_requested=self._stop.is_set(),
                run_dir=self.run_dir,
                budget_fraction=self._budget_fraction,
                watch=self._watch,
                phase=self._phase,
            )

    # The methods below are called by the training thread only.

    def start(self, total_epochs: int, steps_per_epoch: int, batch_size: int) -> None:
        with self._lock:
            self.total_epochs, self.steps_per_epoch, self.batch_size = total_epochs, steps_per_epoch, batch_size
            self._started_at = time.monotonic()

    def begin_epoch(self, epoch: int) -> None:
        with self._lock:
            self._epoch, self._batch, self._phase = epoch, 0, TRAINING

    def set_phase(self, phase: str) -> None:
        with self._lock:
            self._phase = phase

    def add_batch(self, row: dict, images_per_s: float, budget_fraction: float | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            self._first_batch_at = self._first_batch_at or now
            self._last_batch_at = now
            self._batches.append(row)
            self._batch = row["batch"]
            self._images_per_s = images_per_s
            self._budget_fraction = budget_fraction

    def add_epoch(self, row: dict) -> None:
        with self._lock:
            self._epochs.append(row)

    def set_watch(self, guesses: WatchGuesses) -> None:
        with self._lock:
            self._watch = guesses

    @property
    def training_seconds(self) -> float:
        """Seconds from the end of the first batch read to the end of the last: the training itself, without what came
        before the first batch (building the model, tracing its step) or after the last (validation, the final
        evaluation). A queue counts the rest of a job's time as its overhead."""
        with self._lock:
            return (self._last_batch_at - self._first_batch_at) if self._first_batch_at is not None else 0.0

    @property
    def epoch_rows(self) -> list[dict]:
        with self._lock:
            return list(self._epochs)


class LiveMetrics(keras.callbacks.Callback):
    """Feeds a `LiveHistory` and stops training when asked or when the loss diverges."""

    def __init__(self, live: LiveHistory, epochs: int, train_images: int, batch_size: int, budget=None,
                 read_interval_s: float = 0.0, clock=time.monotonic):
        """`budget`: the run's `cifar_cnn.training.budget.TimeBudget`, if it trains for a time.

        `read_interval_s`: read the metrics at most this often. Reading a loss waits for the batch that made it,
        which on a GPU leaves it idle while the next batch is launched; the batches in between are then shown as
        one point, their mean. 0 reads every batch.
        """
        super().__init__()
        self.live, self.budget = live, budget
        self.epochs, self.train_images, self.batch_size = epochs, train_images, batch_size
        self.read_interval_s, self.clock = read_interval_s, clock
        self.steps_per_epoch = math.ceil(train_images / batch_size)
        self.diverged: str | None = None
        self._epoch = 0
        self._seen = 0  # images so far this epoch, up to the last read
        self._unread_batches = 0
        self._last_read = 0.0
        self._running = {"loss": 0.0, "accuracy": 0.0}
        self._epoch_started = 0.0
        self._window_started = 0.0
        self._window_batches = 0
        self._validation_cut = False

    def on_train_begin(self, logs=None):
        self.live.start(self.epochs, self.steps_per_epoch, self.batch_size)
        self._stop_if_requested()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self.live.begin_epoch(self._epoch)
        self._epoch_started = self._window_started = self._last_read = self.clock()
        self._window_batches = self._unread_batches = 0
        self._seen = 0
        self._running = {"loss": 0.0, "accuracy": 0.0}

    def _since_last_read(self, logs: dict, images: int) -> dict[str, float]:
        """Keras logs running means over the epoch, weighted by images; recover the mean of the batches since the last read."""
        values = {}
        for name, previous_mean in self._running.items():
            mean = float(logs.get(name, math.nan))
            values[name] = (mean * (self._seen + images) - previous_mean * self._seen) / images
            self._running[name] = mean
        self._seen += images
        return values

    def on_train_batch_end(self, batch, logs=None):
        self._unread_batches += 1
        self._window_batches += 1
        now = self.clock()
        if now - self._last_read < self.read_interval_s and batch + 1 < self.steps_per_epoch:
            self._stop_if_requested()
            return
        logs = logs or {}
        loss = float(logs.get("loss", math.nan))
        images = min(self._unread_batches * self.batch_size, self.train_images - self._seen)
        this_window = self._since_last_read(logs, max(images, 1))
        self._unread_batches, self._last_read = 0, now
        elapsed = now - self._window_started
        images_per_s = self._window_batches * self.batch_size / elapsed if elapsed > 0 else 0.0
        if elapsed > 5:  # a sliding window keeps images/s current
            self._window_started, self._window_batches = now, 0
        step = (self._epoch - 1) * self.steps_per_epoch + batch + 1
        row = {"step": step, "epoch": self._epoch, "batch": batch + 1, **this_window}
        self.live.add_batch(row, images_per_s, self.budget.fraction_used() if self.budget else None)
        if batch + 1 == self.steps_per_epoch:
            self.live.set_phase(VALIDATING)  # `fit` validates next, before the next epoch begins
        if not math.isfinite(loss):
            self.diverged = f"The loss became {loss} in epoch {self._epoch}, batch {batch + 1}. Try a lower learning rate."
            self.model.stop_training = True
        self._stop_if_requested()

    def on_test_batch_end(self, batch, logs=None):
        if self.live.stop_requested and not self.model.stop_evaluating:
            self.model.stop_evaluating = True  # a stop pressed during validation ends it: its figures are left out
            self.model.stop_training = True
            self._validation_cut = True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._validation_cut:
            logs = {name: value for name, value in logs.items() if not name.startswith("val_")}
        self.live.add_epoch(
            {
                "epoch": epoch + 1,
                "loss": float(logs.get("loss", math.nan)),
                "accuracy": float(logs.get("accuracy", math.nan)),
                "val_loss": float(logs.get("val_loss", math.nan)),
                "val_accuracy": float(logs.get("val_accuracy", math.nan)),
                "seconds": self.clock() - self._epoch_started,
            }
        )

    def _stop_if_requested(self) -> None:
        if self.live.stop_requested:
            self.model.stop_training = True
