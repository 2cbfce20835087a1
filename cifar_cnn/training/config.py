"""The settings of a training: `TrainConfig`, checked when it is made, and the bounds it enforces.

Make one with `cifar_cnn.training.presets.build_config`, which owns the rules for turning a user's choices
(a preset, overrides, a time budget) into settings.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import unicodedata
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from cifar_cnn.data import Dataset
from cifar_cnn.models import ARCHITECTURES, build_model
from cifar_cnn.training.precision import PRECISIONS

OPTIMIZERS = ("adam", "adamw", "sgd")
VALIDATION_CHOICES = ("test", "holdout")
STRATEGIES = ("default", "mirrored")
SCHEDULES = ("constant", "one_cycle")
# Bounds of the settings, shown by the Train page's widgets and enforced by TrainConfig.
MAX_MINUTES = 7 * 24 * 60  # a week: longer than any class waits, short enough to catch a unit slip (seconds typed as minutes)
# Below it nothing moves in the epochs a class can wait for; above it every optimizer here diverges (the fast preset
# on a GPU uses 1.0, on a CPU 0.4).
LEARNING_RATE_RANGE = (1e-5, 10.0)
MAX_BATCH_SIZE = 8192  # 8 times airbench's batch; bigger ones only fill a GPU's memory
MAX_SEED = 2**31 - 1  # the largest seed every backend's random generator takes
# `epochs` for a time budget that should end training on its own, and the most epochs one can ask for.
UNCAPPED_EPOCHS = 1000
MAX_EPOCHS = UNCAPPED_EPOCHS
MAX_NAME_LENGTH = 60  # a run's name is a label beside its settings and accuracy, on one line of the sidebar


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
            BatchNorm shift (beta); airbench uses 64 (see `cifar_cnn.training.optimizers`).
        weight_decay: shrinks every weight by `learning rate x weight_decay`
            each step (decoupled from the gradient, as in AdamW); 0 turns it off.
        lookahead: train slow weights that trail the trained ones more and more closely
            towards the end, and keep them (airbench's Lookahead, see `cifar_cnn.training.lookahead`).
        precision: "float32"; "mixed_bfloat16": compute in bfloat16 and keep
            the weights in float32, faster on CPUs with AVX-512 BF16 and on
            recent GPUs, a little less precise, and much slower elsewhere; or "auto":
            bfloat16 where the hardware computes it natively (see `cifar_cnn.training.precision`).
            A run's config.json records the precision it actually used.
        flip_tta: the final test predictions (metrics.json, predictions.npz)
            average each test image and its mirror image; validation during
            training stays plain.
        shift_tta: the final test predictions also average in copies of each test
            image shifted by one pixel diagonally each way (with `flip_tta`, and their mirror images too).
        strategy: "default" trains on one device; "mirrored" copies the model
            onto every local GPU (`tf.distribute.MirroredStrategy`) and splits
            each batch between them; without GPUs, onto every logical CPU device.
        name: an optional label the user gives the run ("" for none), shown with it on every page.
        owner: who started the training ("" for nobody in particular): the name a student typed in the app's
            "Your name" box, a label and not a login. The class page groups runs by it; with a teacher key, a student
            may stop or delete only their own.
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
    name: str = ""
    owner: str = ""

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
        self._check_name()

    def _check_name(self) -> None:
        for what, label in (("run name", self.name), ("owner's name", self.owner)):
            problem = label_problem(label, what)
            if problem:
                raise ConfigError(problem)

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


def label_problem(label: Any, what: str = "name") -> str:
    """Why `label` cannot name a run or a student ("" when it can): text of at most MAX_NAME_LENGTH characters, without
    invisible characters (a right-to-left override, a newline), which would make one label pass for another."""
    if not isinstance(label, str) or len(label) > MAX_NAME_LENGTH:
        return f"A {what} must be text of at most {MAX_NAME_LENGTH} characters, not {label!r}."
    hidden = [character for character in label if unicodedata.category(character) in ("Cc", "Cf")]
    if hidden:
        return (f"The {what} {label!r} holds invisible control characters ({', '.join(map(repr, hidden))}); "
                "type it again with letters, digits, spaces and punctuation only.")
    return ""


@functools.lru_cache(maxsize=64)  # configs are made often (every replace), and the same options build the same way
def _arch_options_problem(arch: str, options_json: str) -> str:
    try:
        build_model(arch, 10, **json.loads(options_json))
    except Exception as error:  # noqa: BLE001 - any builder error means these options cannot work
        return str(error)
    return ""


def describe_config(config: TrainConfig) -> str:
    """The settings a person asks about first, on one line: "fast_cnn · 1-minute budget · all training images · sgd at 0.4 · batch 512"."""
    length = f"{config.minutes:g}-minute budget" if config.minutes else f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}"
    images = f"{config.subset:,} training images" if config.subset else "all training images"
    parts = [config.name] if config.name else []
    parts += [config.arch, length, images, f"{config.optimizer} at {config.learning_rate:g}", f"batch {config.batch_size}"]
    if config.precision != "float32":
        parts.append(config.precision.replace("mixed_", ""))
    return " · ".join(parts)


def setting_in_words(value: Any) -> str:
    """A setting's value as a person reads it: numbers to 4 significant digits, lists as "64, 128, 256", yes or no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(setting_in_words(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key.replace('_', ' ')} {setting_in_words(item)}" for key, item in value.items())
    return "none" if value is None else str(value)


def settings_rows(settings: dict[str, Any]) -> list[dict[str, str]]:
    """Every setting and its value in words, as rows for a table (the network's options one row each)."""
    rows = []
    for name, value in settings.items():
        if name == "arch_options" and isinstance(value, dict):
            rows += [{"setting": f"network: {key.replace('_', ' ')}", "value": setting_in_words(item)} for key, item in value.items()]
        else:
            rows.append({"setting": name.replace("_", " "), "value": setting_in_words(value)})
    return rows


def recipe_in_words(settings: dict[str, Any]) -> str:
    """What a recipe sets, in one sentence: "fast_cnn, sgd at 0.4 in batches of 512, bfloat16, a one_cycle schedule,
    label smoothing 0.2, flip test-time augmentation"."""
    parts = [str(settings.get("arch", "seed_cnn"))]
    if "optimizer" in settings or "learning_rate" in settings:
        parts.append(f"{settings.get('optimizer', 'adam')} at {setting_in_words(float(settings.get('learning_rate', 1e-3)))}"
                     + (f" in batches of {settings['batch_size']}" if "batch_size" in settings else ""))
    if settings.get("precision", "float32") != "float32":
        parts.append(str(settings["precision"]).replace("mixed_", ""))
    if settings.get("schedule", "constant") != "constant":
        parts.append(f"a {settings['schedule'].replace('_', '-')} schedule")
    if settings.get("label_smoothing"):
        parts.append(f"label smoothing {setting_in_words(float(settings['label_smoothing']))}")
    if settings.get("weight_decay"):
        parts.append(f"weight decay {setting_in_words(float(settings['weight_decay']))}")
    augmentation = [name for name, key in (("flip", "flip_tta"), ("shift", "shift_tta")) if settings.get(key)]
    if augmentation:
        parts.append(f"{' and '.join(augmentation)} test-time augmentation")
    return ", ".join(parts)


def settings_table(config: TrainConfig) -> list[dict[str, str]]:
    """Every setting and its value, as rows for a table."""
    return settings_rows(config.to_dict())
