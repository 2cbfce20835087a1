"""Train a model on a dataset and save everything as a run.

    config = TrainConfig(arch="seed_cnn", epochs=10)
    result = train(config, load_dataset())
    print(result.state, result.metrics)

`train` never leaves a run half-written: whatever happens, the run ends as
completed, stopped or failed, with the reason.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import math
import traceback
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cifar_cnn import devices, inference, pipeline, runs
from cifar_cnn.batchnorm import RecalibrateBatchNorm, recalibrate_batchnorm
from cifar_cnn.budget import SCHEDULE_RESOLUTION, TimeBudget, schedule_over_budget
from cifar_cnn.data import Dataset
from cifar_cnn.live import LiveHistory, LiveMetrics
from cifar_cnn.lookahead import Lookahead
from cifar_cnn.models import ARCHITECTURES, build_model, initialize_whitening
from cifar_cnn.optimizers import ShiftBoostSGD
from cifar_cnn.precision import PRECISIONS, resolve_precision
from cifar_cnn.schedules import OneCycle

OPTIMIZERS = ("adam", "adamw", "sgd")
VALIDATION_CHOICES = ("test", "holdout")
STRATEGIES = ("default", "mirrored")
SCHEDULES = ("constant", "one_cycle")
# Training images that set a whitening layer (see cifar_cnn.models.initialize_whitening); airbench uses 5,000.
WHITENING_IMAGES = 5000
# Training images that re-estimate BatchNormalization statistics before each validation and at the end
# (see cifar_cnn.batchnorm): 1,024 took about 2 s for the seed CNN on 2 cores and gave the same accuracy as 4,096.
BATCHNORM_CALIBRATION_IMAGES = 1024
# Bounds of the settings, shown by the Train page's widgets and enforced by TrainConfig.
MAX_MINUTES = 7 * 24 * 60  # a week: longer than any class waits, short enough to catch a unit slip (seconds typed as minutes)
# Below it nothing moves in the epochs a class can wait for; above it every optimizer here diverges (the fast preset
# on a GPU uses 1.0, on a CPU 0.4).
LEARNING_RATE_RANGE = (1e-5, 10.0)
MAX_BATCH_SIZE = 8192  # 8 times airbench's batch; bigger ones only fill a GPU's memory
MAX_SEED = 2**31 - 1  # the largest seed every backend's random generator takes
# On a GPU, reading a batch's loss waits for the GPU to finish it, which stalls the next batch's launch: the live
# curves read the metrics at most this often there (on a CPU every batch takes longer than this anyway).
LIVE_READ_INTERVAL_ON_GPU_S = 0.25
# `epochs` for a time budget that should end training on its own, and the most epochs one can ask for.
UNCAPPED_EPOCHS = 1000
MAX_EPOCHS = UNCAPPED_EPOCHS


class ConfigError(ValueError):
    """Training settings that cannot work; the message says which and why."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a model is trained; checked when made (ConfigError says what is wrong), never
    changed after (`dataclasses.replace` makes a new, checked one).

    Attributes:
        arch: a name in `cifar_cnn.models.ARCHITECTURES`.
        arch_options: keyword arguments for that architecture's builder, e.g.
            {"conv_dropout": 0.1} for seed_cnn; empty keeps its defaults.
        epochs: passes over the training images (with `minutes`, the most passes to make).
        minutes: train for this many minutes instead (validation passes do not
            count); the learning-rate schedule then follows the share of the
            time used, so it ends when the time does. None trains for `epochs`.
        batch_size: images per gradient step.
        optimizer: "adam", "adamw" or "sgd" (with Nesterov momentum 0.9).
        learning_rate: the optimizer's step size.
        augment: random crop and horizontal flip, per image.
        crop_padding: how far (in pixels) augmentation may shift an image before cropping it back to size.
        alternate_flips: with `augment`, flip each image at random in the first epoch and
            the other way round in each later one (airbench's derandomised flipping, see `cifar_cnn.pipeline`).
        validation: "test" validates on the test set, as the seed notebook
            does; "holdout" holds out `holdout_fraction` of the training images.
        holdout_fraction: share of training images held out for validation.
        subset: train on this many randomly chosen training images (quick demos);
            None uses them all.
        seed: seeds weights, shuffling and augmentation. The same seed gives
            the same first-epoch loss.
        label_smoothing: share of each target spread evenly over all classes
            (0 = plain one-hot targets); it keeps the model from becoming overconfident.
        schedule: "constant" keeps `learning_rate`; "one_cycle" warms up from a
            tenth of it to it over the first 20% of steps, then follows a cosine
            down to zero at the last step.
        shift_lr_scale: with "sgd", multiplies the learning rate of every
            BatchNorm shift (beta); airbench uses 64 (see `cifar_cnn.optimizers`).
        weight_decay: shrinks every weight by `learning rate x weight_decay`
            each step (decoupled from the gradient, as in AdamW); 0 turns it off.
        lookahead: train slow weights that trail the trained ones more and more closely
            towards the end, and keep them (airbench's Lookahead, see `cifar_cnn.lookahead`).
        precision: "float32"; "mixed_bfloat16": compute in bfloat16 and keep
            the weights in float32, faster on CPUs with AVX-512 BF16 and on
            recent GPUs, a little less precise, and much slower elsewhere; or "auto":
            bfloat16 where the hardware computes it natively (see `cifar_cnn.precision`).
            A run's config.json records the precision it actually used.
        flip_tta: the final test predictions (metrics.json, predictions.npz)
            average each test image and its mirror image; validation during
            training stays plain.
        shift_tta: the final test predictions also average in copies of each test
            image shifted by one pixel diagonally each way (with `flip_tta`, and their mirror images too).
        strategy: "default" trains on one device; "mirrored" copies the model
            onto every local GPU (`tf.distribute.MirroredStrategy`) and splits
            each batch between them; without GPUs, onto every logical CPU device.
    """

    arch: str = "seed_cnn"
    arch_options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    minutes: float | None = None
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    augment: bool = True
    crop_padding: int = 4
    alternate_flips: bool = False
    validation: str = "test"
    holdout_fraction: float = 0.1
    subset: int | None = None
    seed: int = 0
    label_smoothing: float = 0.0
    schedule: str = "constant"
    shift_lr_scale: float = 1.0
    weight_decay: float = 0.0
    lookahead: bool = False
    precision: str = "float32"
    flip_tta: bool = False
    shift_tta: bool = False
    strategy: str = "default"

    def __post_init__(self):
        self._check_settings()

    def check(self, dataset: Dataset) -> None:
        """Raise ConfigError if these settings cannot train on `dataset` (the rest was checked when they were made)."""
        self._check_against(dataset)

    def _check_settings(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"Unknown architecture {self.arch!r}; choose one of {', '.join(sorted(ARCHITECTURES))}.")
        if not isinstance(self.arch_options, dict):
            raise ConfigError(f"Architecture options must be a mapping of option names to values, not {self.arch_options!r}.")
        accepted = [name for name in inspect.signature(ARCHITECTURES[self.arch]).parameters if name != "num_classes"]
        unknown = sorted(set(self.arch_options) - set(accepted))
        if unknown:
            raise ConfigError(f"{self.arch} has no option {', '.join(map(repr, unknown))}; its options are {', '.join(accepted) or 'none'}.")
        if self.arch_options:
            self._check_arch_options_build()
        if not isinstance(self.epochs, int) or not 1 <= self.epochs <= MAX_EPOCHS:
            raise ConfigError(f"Epochs must be a whole number from 1 to {MAX_EPOCHS}, not {self.epochs!r}.")
        if self.minutes is not None and not (isinstance(self.minutes, (int, float)) and math.isfinite(self.minutes) and 0 < self.minutes <= MAX_MINUTES):
            raise ConfigError(f"The training time must be a number of minutes above 0 and at most {MAX_MINUTES} (a week), not {self.minutes!r}.")
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ConfigError(f"Batch size must be a whole number from 1 to {MAX_BATCH_SIZE}, not {self.batch_size!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"Unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}.")
        lowest, highest = LEARNING_RATE_RANGE
        if not (isinstance(self.learning_rate, (int, float)) and math.isfinite(self.learning_rate) and lowest <= self.learning_rate <= highest):
            raise ConfigError(f"Learning rate must be a number from {lowest:g} to {highest:g}, not {self.learning_rate!r}.")
        if not isinstance(self.crop_padding, int) or not 0 <= self.crop_padding <= 16:
            raise ConfigError(f"Crop padding must be a whole number of pixels from 0 to 16, not {self.crop_padding!r}.")
        if self.validation not in VALIDATION_CHOICES:
            raise ConfigError(f"Validation must be 'test' or 'holdout', not {self.validation!r}.")
        if self.validation == "holdout" and not 0 < self.holdout_fraction < 1:
            raise ConfigError(f"The holdout fraction must lie between 0 and 1, not {self.holdout_fraction!r}.")
        if not (isinstance(self.label_smoothing, (int, float)) and 0 <= self.label_smoothing < 1):
            raise ConfigError(f"Label smoothing must lie in [0, 1), not {self.label_smoothing!r}.")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"Unknown learning-rate schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}.")
        if not (isinstance(self.shift_lr_scale, (int, float)) and math.isfinite(self.shift_lr_scale) and 0 < self.shift_lr_scale <= 1000):
            raise ConfigError(f"The BatchNorm shift learning-rate scale must be a number above 0 and at most 1000, not {self.shift_lr_scale!r}.")
        if self.shift_lr_scale != 1 and self.optimizer != "sgd":
            raise ConfigError(f"A BatchNorm shift learning-rate scale needs the sgd optimizer; with {self.optimizer} leave it at 1.")
        if not (isinstance(self.weight_decay, (int, float)) and 0 <= self.weight_decay < 1):
            raise ConfigError(f"Weight decay must lie in [0, 1), not {self.weight_decay!r}.")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"Unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}.")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"Unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}.")
        if not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"The seed must be a whole number from 0 to {MAX_SEED}, not {self.seed!r}.")
        if self.subset is not None and (not isinstance(self.subset, int) or self.subset < 1):
            raise ConfigError(f"The train subset must be a whole number of images of at least 1, not {self.subset!r}.")

    def _check_arch_options_build(self) -> None:
        # A bad value (a word for a number, a negative width) only shows when the model is built: build one now,
        # so it is refused before a run exists.
        problem = _arch_options_problem(self.arch, json.dumps(self.arch_options, sort_keys=True, default=repr))
        if problem:
            raise ConfigError(f"{self.arch} cannot be built with {self.arch_options}: {problem}")

    def _check_against(self, dataset: Dataset) -> None:
        available = len(dataset.x_train)
        if self.subset is not None:
            if self.subset > available:
                raise ConfigError(
                    f"The train subset asks for {self.subset} images but the dataset has {available}; "
                    f"ask for at most {available}, or leave the subset empty to use them all."
                )
        if self.validation == "holdout" and int(min(self.subset or available, available) * self.holdout_fraction) < 1:
            raise ConfigError("The holdout is empty: use more training images or a larger holdout fraction.")
        if len(dataset.x_test) == 0:
            raise ConfigError("The dataset has no test images to evaluate on.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


@functools.lru_cache(maxsize=64)  # configs are made often (every replace), and the same options build the same way
def _arch_options_problem(arch: str, options_json: str) -> str:
    try:
        build_model(arch, 10, **json.loads(options_json))
    except Exception as error:  # noqa: BLE001 - any builder error means these options cannot work
        return str(error)
    return ""


@dataclass
class TrainResult:
    run_dir: Path
    state: str  # completed, stopped or failed
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    """A float for "constant"; a Keras schedule over every step of training for "one_cycle" (over
    `SCHEDULE_RESOLUTION` steps for a time budget, see `cifar_cnn.budget`)."""
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
    """The model `config` names, in its precision, with data-dependent layers set from `images`."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve_precision(config.precision))
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


def split_training_data(config: TrainConfig, dataset: Dataset):
    """(x_train, y_train, x_val, y_val) for these settings, chosen reproducibly from the seed."""
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
        return dataset.x_train, dataset.y_train, x_val, y_val  # no copy of the full set
    return dataset.x_train[order], dataset.y_train[order], x_val, y_val


def score(model: keras.Model, images: np.ndarray, labels: np.ndarray, batch_size: int = 256,
          flip_tta: bool = False, shift_tta: bool = False) -> tuple[np.ndarray, float, float]:
    """Class probabilities, mean cross-entropy and accuracy of `model` on these images."""
    probabilities = inference.predict(model, images, batch_size, flip_tta=flip_tta, shift_tta=shift_tta)
    true_probability = probabilities[np.arange(len(labels)), labels]
    loss = float(np.mean(-np.log(np.clip(true_probability, 1e-7, 1.0))))
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels))
    return probabilities, loss, accuracy


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
) -> TrainResult:
    """Train a model as `config` says and save it as a new run.

    Pass a `LiveHistory` to follow progress from another thread, or to stop
    training (`live.request_stop()`) after the current batch. Raises
    ConfigError, before creating a run, for settings that cannot work; any
    failure during training ends the run as failed and is returned, not raised.
    """
    config.check(dataset)
    config = replace(config, precision=resolve_precision(config.precision))
    live = live or LiveHistory()
    keras.utils.set_random_seed(config.seed)
    x_train, y_train, x_val, y_val = split_training_data(config, dataset)

    run_dir = runs.create_run(
        {
            **config.to_dict(),
            "class_names": list(dataset.class_names),
            "dataset": dataset.source,
            "train_images": len(x_train),
            "validation_images": len(x_val),
            "test_images": len(dataset.x_test),
        },
        runs_dir,
    )
    live.run_dir = run_dir
    try:
        return _train_into(run_dir, config, dataset, x_train, y_train, x_val, y_val, live, verbose, list(callbacks))
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


def _train_into(run_dir, config, dataset, x_train, y_train, x_val, y_val, live, verbose, callbacks) -> TrainResult:
    strategy = make_strategy(config.strategy)
    steps_per_epoch = pipeline.steps_per_epoch(len(x_train), config.batch_size)
    with strategy.scope():
        model = build_for_training(config, dataset.num_classes, x_train)
        model.compile(optimizer=make_optimizer(config, steps_per_epoch), loss=make_loss(config), metrics=["accuracy"])
    fit_train_targets, fit_val_targets = y_train, y_val
    if config.label_smoothing:  # smoothing needs one-hot targets
        fit_train_targets, fit_val_targets = (keras.utils.to_categorical(y, dataset.num_classes) for y in (y_train, y_val))
    if config.batch_size < strategy.num_replicas_in_sync:
        raise ConfigError(f"A batch of {config.batch_size} cannot be split over {strategy.num_replicas_in_sync} devices; use a larger batch size.")
    budget = None
    if config.minutes:
        schedule = None if config.schedule == "constant" else schedule_over_budget(learning_rate_schedule(config, steps_per_epoch))
        budget = TimeBudget(config.minutes, schedule, total_steps=config.epochs * steps_per_epoch)
    if config.lookahead:
        callbacks.append(Lookahead(budget.fraction_used) if budget else Lookahead(total_steps=config.epochs * steps_per_epoch))
    images_per_epoch = min(len(x_train), steps_per_epoch * config.batch_size)
    live_metrics = LiveMetrics(live, config.epochs, images_per_epoch, config.batch_size, budget,
                               read_interval_s=LIVE_READ_INTERVAL_ON_GPU_S if devices.gpus() else 0.0)
    calibration_images = x_train[np.random.default_rng(config.seed).permutation(len(x_train))[:BATCHNORM_CALIBRATION_IMAGES]]
    # Made outside the strategy's scope: the alternating flips' tf.Variable must not be mirrored.
    training_batches = pipeline.training_dataset(x_train, fit_train_targets, config.batch_size, augment=config.augment,
                                                 crop_padding=config.crop_padding, alternate_flips=config.alternate_flips,
                                                 seed=config.seed)
    with strategy.scope():  # a keras.distribution shards the batches only while it is current
        model.fit(
            training_batches,
            validation_data=pipeline.evaluation_dataset(x_val, fit_val_targets),
            epochs=config.epochs,
            # Stop checks come last in each batch.
            # The budget comes first, so that it pauses its clock before the BatchNorm re-estimation that precedes each validation.
            callbacks=[*([budget] if budget else []), *callbacks, RecalibrateBatchNorm(calibration_images), live_metrics, _HistoryWriter(run_dir, live)],
            verbose=verbose,
            shuffle=False,  # the pipeline shuffles
        )
    runs.write_history(run_dir, live.epoch_rows)
    if live_metrics.diverged:
        runs.update_status(run_dir, "failed", live_metrics.diverged)
        return TrainResult(run_dir, "failed", live_metrics.diverged)

    recalibrate_batchnorm(model, calibration_images)
    runs.save_model(run_dir, model)
    _, train_loss, train_accuracy = score(model, x_train, y_train)
    test_probabilities, test_loss, test_accuracy = score(model, dataset.x_test, dataset.y_test,
                                                         flip_tta=config.flip_tta, shift_tta=config.shift_tta)
    metrics = {"train_accuracy": train_accuracy, "train_loss": train_loss, "test_accuracy": test_accuracy, "test_loss": test_loss}
    runs.write_metrics(run_dir, metrics)
    runs.write_predictions(run_dir, test_probabilities, dataset.y_test)
    state = "stopped" if live.stop_requested else "completed"
    epochs_done = len(live.epoch_rows)
    planned = f"epochs of a {config.minutes:g}-minute budget" if config.minutes else f"of {config.epochs} epochs"
    message = f"Stopped by request after {epochs_done} {planned}." if state == "stopped" else ""
    runs.update_status(run_dir, state, message)
    return TrainResult(run_dir, state, message, metrics)


def _failure_message(error: BaseException) -> str:
    if isinstance(error, MemoryError) or _is_device_out_of_memory(error):
        return "Training ran out of memory. Try a smaller batch size or a smaller train subset."
    if isinstance(error, KeyboardInterrupt):
        return "Training was interrupted."
    return f"Training failed: {type(error).__name__}: {error}"


def _is_device_out_of_memory(error: BaseException) -> bool:
    """TensorFlow's ResourceExhaustedError, JAX's RESOURCE_EXHAUSTED runtime error, PyTorch's OutOfMemoryError."""
    name = type(error).__name__
    return name in ("ResourceExhaustedError", "OutOfMemoryError") or str(error).startswith("RESOURCE_EXHAUSTED")
