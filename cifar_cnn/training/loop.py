"""Train a model on a dataset and save everything as a run.

    config = build_config("seed", epochs=10)   # cifar_cnn.training.presets
    result = train(config, load_dataset())
    print(result.state, result.metrics)

`train` never leaves a run half-written: whatever happens, the run ends as
completed, stopped or failed, with the reason. Its steps: split the data, create the
run, build and compile the model, fit it with the callbacks in their order (after each
epoch the history and the per-epoch records are written), re-estimate the BatchNorm
statistics, save the model, score and save the predictions, finish the run.

The end of a training is what a queue's next student waits for, so it measures what the run needs and no more
(`FinalEvaluation`): a training stopped by request skips the partial epoch's validation and measures its test
accuracy plainly; `train(..., touches_later=True)` (the classroom queue) leaves test-time augmentation and the
Inside page's top images to `finishing_touches`, which the queue runs when nobody waits.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from collections.abc import Callable
from typing import NamedTuple

import keras
import numpy as np

from cifar_cnn import devices, inference, pipeline, runs
from cifar_cnn.data import Dataset
from cifar_cnn.inside import channels, store
from cifar_cnn.models import build_model, initialize_whitening
from cifar_cnn.paths import describe_os_error
from cifar_cnn.training.batchnorm import RecalibrateBatchNorm, recalibrate_batchnorm
from cifar_cnn.training.budget import SCHEDULE_RESOLUTION, TimeBudget, schedule_over_budget
from cifar_cnn.training.config import ConfigError, TrainConfig
from cifar_cnn.training.epoch_records import (ConfusionCounts, EpochRecords, KeepValidationPredictions, KeptPredictions,
                                              watch_indices)
from cifar_cnn.training.live import FINISHING, LiveHistory, LiveMetrics
from cifar_cnn.training.lookahead import Lookahead
from cifar_cnn.training.optimizers import ShiftBoostSGD
from cifar_cnn.training.precision import resolve_precision
from cifar_cnn.training.schedules import OneCycle

logger = logging.getLogger(__name__)

# Training images that set a whitening layer (see cifar_cnn.models.initialize_whitening); airbench uses 5,000.
WHITENING_IMAGES = 5000
# Training images that re-estimate BatchNormalization statistics before each validation and at the end
# (see cifar_cnn.training.batchnorm): 1,024 took about 2 s for the seed CNN on 2 cores and gave the same accuracy as 4,096.
BATCHNORM_CALIBRATION_IMAGES = 1024
# On a GPU, reading a batch's loss waits for the GPU to finish it, which stalls the next batch's launch: the live
# curves read the metrics at most this often there (on a CPU every batch takes longer than this anyway).
LIVE_READ_INTERVAL_ON_GPU_S = 0.25
# Training images whose accuracy the run reports as its train accuracy, a fixed random sample: all 50,000 took
# 20 s of a 2-core CPU (five passes over a test set's worth), which a class's next student waited for; 5,000 give the
# same figure within about a point, enough to compare with the test accuracy.
TRAIN_ACCURACY_IMAGES = 5_000
# Left for `finishing_touches` by `train(..., touches_later=True)`: names for metrics.json's "pending" list.
PENDING_TTA = "test-time augmentation"
PENDING_TOP_IMAGES = "top images"
# The files `finishing_touches` rewrites.
TOUCHED_FILES = (runs.METRICS_FILE, runs.PREDICTIONS_FILE, f"{store.FOLDER}/*")


class GaveWay(Exception):
    """`finishing_touches` was asked to give way before it was done: it wrote nothing."""


@dataclass
class TrainResult:
    run_dir: Path
    state: str  # completed, stopped or failed
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    """A float for "constant"; a Keras schedule over every step of training for "one_cycle" (over
    `SCHEDULE_RESOLUTION` steps for a time budget, see `cifar_cnn.training.budget`)."""
    if config.schedule == "constant":
        return config.learning_rate
    total_steps = SCHEDULE_RESOLUTION if config.minutes else max(2, config.epochs * steps_per_epoch)
    return OneCycle(config.learning_rate, warmup_steps=max(1, int(0.2 * total_steps)), total_steps=total_steps)


def make_optimizer(config: TrainConfig, steps_per_epoch: int = 1) -> keras.optimizers.Optimizer:
    # Under a time budget the rate is a plain variable that `TimeBudget` sets before every batch.
    rate = config.learning_rate if config.minutes else learning_rate_schedule(config, steps_per_epoch)
    decay = config.weight_decay or None
    if config.optimizer == "adam":
        return keras.optimizers.Adam(rate, weight_decay=decay)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay or 0.004)  # 0.004: Keras' default
    if config.shift_lr_scale != 1:
        return ShiftBoostSGD(rate, momentum=0.9, nesterov=True, weight_decay=decay, shift_lr_scale=config.shift_lr_scale)
    return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, weight_decay=decay)


def build_for_training(config: TrainConfig, num_classes: int, images: np.ndarray) -> keras.Model:
    """The model `config` names, in its precision, with data-dependent layers set from `images`.

    `config.precision` must be resolved ("auto" is not a precision Keras knows): `train` resolves it on the machine
    that trains, where "the hardware" that "auto" asks about is."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)
    try:
        model = build_model(config.arch, num_classes, **config.arch_options)
    finally:
        keras.config.set_dtype_policy(previous)
    initialize_whitening(model, images[:WHITENING_IMAGES])
    return model


def make_loss(config: TrainConfig):
    if config.label_smoothing:
        return keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy()


class DataSplit(NamedTuple):
    """The images a training learns from and the ones it validates on (the test set, or a holdout of the training set)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def split_training_data(config: TrainConfig, dataset: Dataset) -> DataSplit:
    """The training and validation images for these settings, chosen reproducibly from the seed."""
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(dataset.x_train))
    if config.subset is not None:
        order = order[: config.subset]
    x_val, y_val = dataset.x_test, dataset.y_test
    if config.validation == "holdout":
        held_out = int(len(order) * config.holdout_fraction)
        x_val, y_val = dataset.x_train[order[:held_out]], dataset.y_train[order[:held_out]]
        order = order[held_out:]
    if config.subset is None and config.validation == "test":
        return DataSplit(dataset.x_train, dataset.y_train, x_val, y_val)  # no copy of the full set
    return DataSplit(dataset.x_train[order], dataset.y_train[order], x_val, y_val)


def score(model: keras.Model, images: np.ndarray, labels: np.ndarray, batch_size: int = 256,
          flip_tta: bool = False, shift_tta: bool = False) -> tuple[np.ndarray, float, float]:
    """Class probabilities, mean cross-entropy and accuracy of `model` on these images."""
    probabilities = inference.predict(model, images, batch_size, flip_tta=flip_tta, shift_tta=shift_tta)
    return probabilities, *cross_entropy_and_accuracy(probabilities, labels)


def cross_entropy_and_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    true_probability = probabilities[np.arange(len(labels)), labels]
    loss = float(np.mean(-np.log(np.clip(true_probability, 1e-7, 1.0))))
    return loss, float(np.mean(np.argmax(probabilities, axis=1) == labels))


class _HistoryWriter(keras.callbacks.Callback):
    """Rewrites history.csv after every epoch, so a crash keeps the epochs done."""

    def __init__(self, run_dir: Path, live: LiveHistory):
        super().__init__()
        self.run_dir, self.live = run_dir, live

    def on_epoch_end(self, epoch, logs=None):
        runs.write_history(self.run_dir, self.live.epoch_rows)


def train(
    config: TrainConfig,
    dataset: Dataset,
    *,
    runs_dir: Path | None = None,
    live: LiveHistory | None = None,
    verbose: int = 0,
    callbacks: list[keras.callbacks.Callback] = (),
    epoch_records: bool = True,
    touches_later: bool = False,
) -> TrainResult:
    """Train a model as `config` says and save it as a new run.

    Pass a `LiveHistory` to follow progress from another thread, or to stop
    training (`live.request_stop()`) after the current batch. Raises
    ConfigError, before creating a run, for settings that cannot work; any
    failure during training ends the run as failed and is returned, not raised.
    `epoch_records=False` leaves out the per-epoch records (`epochs.npz`, the live watch set): not a
    setting for users, only for measuring what the records cost (`bench/inside_speed.py --part records`).
    `touches_later=True` measures the test accuracy plainly and leaves the test-time augmentation the config asks
    for and the Inside page's top images to `finishing_touches` (metrics.json lists them as "pending").
    """
    config.check(dataset)
    config = replace(config, precision=resolve_precision(config.precision))
    live = live or LiveHistory()
    keras.utils.set_random_seed(config.seed)
    split = split_training_data(config, dataset)

    run_dir = runs.create_run(
        {
            **config.to_dict(),
            "class_names": list(dataset.class_names),
            "dataset": dataset.source,
            "train_images": len(split.x_train),
            "validation_images": len(split.x_val),
            "test_images": len(dataset.x_test),
        },
        runs_dir,
    )
    live.run_dir = run_dir
    try:
        return _train_into(_Training(run_dir, config, dataset, split, live, verbose, tuple(callbacks), epoch_records, touches_later))
    except BaseException as error:
        message = _failure_message(error)
        (run_dir / "error.txt").write_text(traceback.format_exc())
        runs.update_status(run_dir, "failed", message)
        if not isinstance(error, Exception):
            raise  # KeyboardInterrupt and friends still stop the program
        return TrainResult(run_dir, "failed", message)


class KerasDistribution:
    """A `keras.distribution` (JAX backend) in the shape of a tf.distribute strategy: `scope()` and a replica count."""

    def __init__(self, distribution=None):
        self.distribution = distribution
        self.num_replicas_in_sync = len(distribution.device_mesh.devices.flat) if distribution else 1

    def scope(self):
        return self.distribution.scope() if self.distribution else contextlib.nullcontext()


def make_strategy(name: str):
    """What `TrainConfig.strategy` names: with TensorFlow a tf.distribute strategy; with JAX the default
    device, or `keras.distribution.DataParallel` over every local GPU (every CPU device without GPUs)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if name == "default":
            return tf.distribute.get_strategy()
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "default":
        return KerasDistribution()
    if backend != "jax":
        raise ConfigError(f"The mirrored strategy needs Keras on TensorFlow or JAX, not {backend}; use the default strategy.")
    return KerasDistribution(keras.distribution.DataParallel(devices=keras.distribution.list_devices()))


@dataclass(frozen=True)
class _Training:
    """One training under way: its run folder, settings, data, live state and what the caller added."""

    run_dir: Path
    config: TrainConfig
    dataset: Dataset
    split: DataSplit
    live: LiveHistory
    verbose: int = 0
    extra_callbacks: tuple[keras.callbacks.Callback, ...] = ()
    epoch_records: bool = True
    touches_later: bool = False

    @property
    def steps_per_epoch(self) -> int:
        return pipeline.steps_per_epoch(len(self.split.x_train), self.config.batch_size)


def _train_into(training: _Training) -> TrainResult:
    """The steps of `train` after the run folder exists, in order."""
    config, run_dir, live = training.config, training.run_dir, training.live
    strategy = make_strategy(config.strategy)
    if config.batch_size < strategy.num_replicas_in_sync:
        raise ConfigError(f"A batch of {config.batch_size} cannot be split over {strategy.num_replicas_in_sync} devices; use a larger batch size.")
    model, records, kept = _compiled_model(training, strategy)
    if live.stop_requested:  # stopped while the model was built: nothing trained, nothing to measure
        return _finish(training, {})
    calibration_images = _calibration_images(training)
    recalibration = RecalibrateBatchNorm(calibration_images)
    live_metrics = _fit(training, model, strategy, recalibration, records, kept)
    live.set_phase(FINISHING)
    runs.write_history(run_dir, live.epoch_rows)
    if live_metrics.diverged:
        runs.update_status(run_dir, "failed", live_metrics.diverged)
        return TrainResult(run_dir, "failed", live_metrics.diverged)
    if not recalibration.current:  # the last validation re-estimated them from the same images, with no batch since
        recalibrate_batchnorm(model, calibration_images)
    saved_model = runs.save_model(run_dir, model)
    evaluation = FinalEvaluation.for_training(training)
    # The last validation's predictions of the test set, when nothing trained since: the same as a new pass would give.
    validated = kept.probabilities() if kept is not None and recalibration.current else None
    metrics = _score_and_save(training, model, evaluation, validated)
    if evaluation.top_images:
        _store_top_images(training.run_dir, training.dataset, saved_model)
    return _finish(training, metrics)


@dataclass(frozen=True)
class FinalEvaluation:
    """What the end of a training measures: the test set, with the test-time augmentation the config asks for (or
    plainly), a sample of the training images (or none: a stopped training is measured quickly), and the Inside
    page's top images (or not). What is left out is listed in metrics.json as "pending"."""

    flip_tta: bool
    shift_tta: bool
    train_images: int
    top_images: bool
    pending: tuple[str, ...]

    @classmethod
    def for_training(cls, training: _Training) -> FinalEvaluation:
        config = training.config
        stopped = training.live.stop_requested
        skipped = training.touches_later or stopped
        wants_tta = config.flip_tta or config.shift_tta
        # Left to `finishing_touches` when a queue will do them; a stopped in-process training simply goes without
        # (the Inside page computes its top images when it first needs them).
        pending = (*([PENDING_TTA] if wants_tta else []), PENDING_TOP_IMAGES) if training.touches_later else ()
        return cls(flip_tta=config.flip_tta and not skipped, shift_tta=config.shift_tta and not skipped,
                   train_images=0 if stopped else TRAIN_ACCURACY_IMAGES, top_images=not skipped, pending=pending)


def _compiled_model(training: _Training, strategy) -> tuple[keras.Model, EpochRecords | None, KeptPredictions | None]:
    """The model, built and compiled in the strategy's scope; the per-epoch records that its confusion-matrix metric
    feeds (None when the training leaves them out); the metric that keeps the last validation's test-set predictions
    (None unless it validates on the test set, on one device)."""
    config, dataset = training.config, training.dataset
    with strategy.scope():
        model = build_for_training(config, dataset.num_classes, training.split.x_train)
        counts = ConfusionCounts(dataset.num_classes) if training.epoch_records else None
        kept = (KeptPredictions(len(dataset.x_test), dataset.num_classes)
                if config.validation == "test" and strategy.num_replicas_in_sync == 1 else None)
        model.compile(optimizer=make_optimizer(config, training.steps_per_epoch), loss=make_loss(config),
                      metrics=["accuracy", *(metric for metric in (counts, kept) if metric is not None)])
    if counts is None:
        return model, None, kept
    watched = watch_indices(dataset.y_test, dataset.num_classes)
    return model, EpochRecords(counts, training.run_dir, dataset.x_test[watched], watched, dataset.y_test[watched], training.live), kept


def _calibration_images(training: _Training) -> np.ndarray:
    """The training images that re-estimate the BatchNorm statistics, the same ones for the same seed."""
    x_train = training.split.x_train
    return x_train[np.random.default_rng(training.config.seed).permutation(len(x_train))[:BATCHNORM_CALIBRATION_IMAGES]]


def _training_callbacks(training: _Training, recalibration: RecalibrateBatchNorm, records=None, kept=None):
    """The callbacks of `fit`, in the order they must run, and the live metrics among them.

    The time budget comes first, so that it pauses its clock before the BatchNorm re-estimation that precedes
    each validation; the caller's callbacks next (Lookahead among them); the per-epoch records (`records`, or None)
    before the live metrics, so that the watch set's guesses are there when an epoch's row is; the stop checks last
    in each batch."""
    config, steps_per_epoch = training.config, training.steps_per_epoch
    images_per_epoch = min(len(training.split.x_train), steps_per_epoch * config.batch_size)
    budget = None
    if config.minutes:
        schedule = None if config.schedule == "constant" else schedule_over_budget(learning_rate_schedule(config, steps_per_epoch))
        budget = TimeBudget(config.minutes, schedule, total_steps=config.epochs * steps_per_epoch)
    callbacks = list(training.extra_callbacks)
    if config.lookahead:
        callbacks.append(Lookahead(budget.fraction_used) if budget else Lookahead(total_steps=config.epochs * steps_per_epoch))
    live_metrics = LiveMetrics(training.live, config.epochs, images_per_epoch, config.batch_size, budget,
                               read_interval_s=LIVE_READ_INTERVAL_ON_GPU_S if devices.gpus() else 0.0)
    ordered = [*([budget] if budget else []), *callbacks, recalibration, *([KeepValidationPredictions(kept)] if kept else []),
               *([records] if records else []), live_metrics, _HistoryWriter(training.run_dir, training.live)]
    return ordered, live_metrics


def _fit(training: _Training, model, strategy, recalibration: RecalibrateBatchNorm, records=None, kept=None):
    """`model.fit` on the split data with every callback; returns the live metrics (which know whether the loss diverged).

    A stop request ends the epoch after the current batch without validating it (and ends a validation under way):
    a student who pressed Stop waits for nothing that the stopped run does not need."""
    config, dataset = training.config, training.dataset
    x_train, y_train, x_val, y_val = training.split
    if config.label_smoothing:  # smoothing needs one-hot targets
        y_train, y_val = (keras.utils.to_categorical(y, dataset.num_classes) for y in (y_train, y_val))
    ordered, live_metrics = _training_callbacks(training, recalibration, records, kept)
    _skip_validation_once_stopped(model, training.live)
    # Made outside the strategy's scope: the alternating flips' tf.Variable must not be mirrored.
    training_batches = pipeline.training_dataset(x_train, y_train, config.batch_size, augment=config.augment,
                                                 crop_padding=config.crop_padding, alternate_flips=config.alternate_flips,
                                                 seed=config.seed)
    with strategy.scope():  # a keras.distribution shards the batches only while it is current
        model.fit(training_batches, validation_data=pipeline.evaluation_dataset(x_val, y_val), epochs=config.epochs,
                  callbacks=ordered, verbose=training.verbose, shuffle=False)  # the pipeline shuffles
    return live_metrics


def _skip_validation_once_stopped(model: keras.Model, live: LiveHistory) -> None:
    """Keras validates after an epoch's last batch even when a callback ended the epoch early; `_should_eval` is
    where `fit` asks (Keras 3.15), so a stopped training answers no there. tests/test_training.py fails if a Keras
    upgrade moves it."""
    should_eval = model._should_eval
    model._should_eval = lambda epoch, validation_freq: not live.stop_requested and should_eval(epoch, validation_freq)


def _score_and_save(training: _Training, model, evaluation: FinalEvaluation, validated: np.ndarray | None = None) -> dict:
    """Test accuracy and loss (with the TTA `evaluation` allows), written with the test predictions, and the accuracy
    on a sample of the training images (none for a stopped training). `validated`: the test set's plain predictions
    from the last validation, used instead of a new pass when no TTA is due."""
    dataset, split = training.dataset, training.split
    if validated is not None and not (evaluation.flip_tta or evaluation.shift_tta):
        test_probabilities = validated
        test_loss, test_accuracy = cross_entropy_and_accuracy(validated, dataset.y_test)
    else:
        test_probabilities, test_loss, test_accuracy = score(model, dataset.x_test, dataset.y_test,
                                                             flip_tta=evaluation.flip_tta, shift_tta=evaluation.shift_tta)
    metrics = {"test_accuracy": test_accuracy, "test_loss": test_loss,
               "test_tta": inference.describe_tta(evaluation.flip_tta, evaluation.shift_tta)}
    if evaluation.train_images:
        sample = np.random.default_rng(training.config.seed).permutation(len(split.x_train))[:evaluation.train_images]
        _, metrics["train_loss"], metrics["train_accuracy"] = score(model, split.x_train[sample], split.y_train[sample])
        metrics["train_accuracy_images"] = len(sample)
    if evaluation.pending:
        metrics["pending"] = list(evaluation.pending)
    runs.write_metrics(training.run_dir, metrics)
    runs.write_predictions(training.run_dir, test_probabilities, dataset.y_test)
    return metrics


def _store_top_images(run_dir: Path, dataset: Dataset, saved_model: keras.Model) -> None:
    """Every channel's top test images, stored in the run folder for the Inside page, which reads them at a channel's
    first look instead of making its visitor wait for a pass over the test set (about 5 s for fast_cnn on 2 CPU
    cores). Computed from the model as saved, so they are what the page would compute."""
    try:
        key = store.test_set_key(run_dir / runs.MODEL_FILE, dataset.x_test, dataset.y_test)
        channels.stored_top_images(run_dir, key, saved_model, dataset.x_test)
    except ValueError:
        pass  # a model whose layers the page cannot show: it computes nothing there either
    except Exception as error:  # the run is saved and scored: a head start for one page must not fail it
        logger.warning("Did not store the top images of run %s (the Inside page will compute them): %s", run_dir.name, error)


def finishing_touches(run_dir: Path, dataset: Dataset, give_way: Callable[[], bool] = lambda: False) -> bool:
    """Do what `train(..., touches_later=True)` left pending in `run_dir` (its metrics.json's "pending" list): the
    test predictions and accuracy with the config's test-time augmentation, and the Inside page's top images.
    Returns whether anything was pending. `give_way` is asked between the passes over the test set: when it says
    yes, raises GaveWay with nothing written (the queue asks this when a student's training waits for the worker)."""
    run = runs.load_run(run_dir)
    metrics = dict(run.metrics or {})
    pending = metrics.get("pending") or []
    if not pending or not (run_dir / runs.MODEL_FILE).is_file():
        return False
    model = keras.saving.load_model(run_dir / runs.MODEL_FILE, compile=False)
    flip_tta, shift_tta = bool(run.config.get("flip_tta")), bool(run.config.get("shift_tta"))
    probabilities = None
    if PENDING_TTA in pending:
        views = inference.tta_views(dataset.x_test, flip_tta, shift_tta)
        total = 0
        for view in views:
            if give_way():
                raise GaveWay()
            total = total + inference.predict(model, view)
        probabilities = total / len(views)
        metrics["test_loss"], metrics["test_accuracy"] = cross_entropy_and_accuracy(probabilities, dataset.y_test)
        metrics["test_tta"] = inference.describe_tta(flip_tta, shift_tta)
    if give_way():
        raise GaveWay()
    if PENDING_TOP_IMAGES in pending:
        _store_top_images(run_dir, dataset, model)
    if probabilities is not None:
        runs.write_predictions(run_dir, probabilities, dataset.y_test)
    metrics.pop("pending")
    runs.write_metrics(run_dir, metrics)
    return True


def _finish(training: _Training, metrics: dict) -> TrainResult:
    config, live, run_dir = training.config, training.live, training.run_dir
    state = "stopped" if live.stop_requested else "completed"
    message = _stopped_message(config, len(live.epoch_rows), bool(metrics)) if state == "stopped" else ""
    runs.update_status(run_dir, state, message)
    return TrainResult(run_dir, state, message, metrics)


def _stopped_message(config: TrainConfig, epochs: int, measured: bool) -> str:
    if not epochs and not measured:
        return "Stopped by request before its first batch: nothing was trained."
    done = f"{epochs} epoch{'s' if epochs != 1 else ''}" if epochs else "part of its first epoch"
    planned = f"of a {config.minutes:g}-minute budget" if config.minutes else f"of {config.epochs}"
    return (f"Stopped by request after {done} {planned}; the model is kept, its test accuracy measured plainly "
            "(without test-time augmentation) and its train accuracy not measured, so that the next training could start.")


def _failure_message(error: BaseException) -> str:
    if isinstance(error, MemoryError) or _is_device_out_of_memory(error):
        return "Training ran out of memory. Try a smaller batch size or a smaller train subset."
    if isinstance(error, KeyboardInterrupt):
        return "Training was interrupted."
    if isinstance(error, OSError):  # a full disk, a folder made read-only: say what to do, not which class raised it
        return f"Training failed: {describe_os_error(error)}"
    return f"Training failed: {type(error).__name__}: {error}"


def _is_device_out_of_memory(error: BaseException) -> bool:
    """TensorFlow's ResourceExhaustedError, JAX's RESOURCE_EXHAUSTED runtime error, PyTorch's OutOfMemoryError."""
    name = type(error).__name__
    return name in ("ResourceExhaustedError", "OutOfMemoryError") or str(error).startswith("RESOURCE_EXHAUSTED")
