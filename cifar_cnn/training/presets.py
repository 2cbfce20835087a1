"""Named training recipes: `TrainConfig`s that are known to train well.

    config = build_config("seed", epochs=12)
    config = build_config("fast", minutes=10)  # as many epochs as 10 minutes buy
    configs = sweep_configs("fast", "learning_rate", [0.1, 0.2, 0.4], minutes=1)  # one run per value, named after it

- `seed`: the seed notebook's network with a recipe that converges faster
  than the notebook's (no dropout after the conv blocks and 0.1 after the dense layers,
  augmentation by crops shifted up to 2 pixels and flips, a one-cycle learning rate, label
  smoothing, a larger batch that keeps both CPU cores busy, bfloat16 compute where
  the hardware has it, flip test-time augmentation for the final test predictions).
- `fast`: the most test accuracy per CPU-minute we found: `fast_cnn` (after
  airbench94 and ResNet-9: whitening first layer, shift-only BatchNorm with
  fast-moving statistics, scaled-down logits), Nesterov SGD with a one-cycle
  learning rate and 64 times faster BatchNorm shifts, weight decay, crops
  shifted by at most 2 pixels, label smoothing 0.2, bfloat16 compute where the
  hardware has it (with the wide net at batch 512; in float32 the narrow net at batch 256), and flip
  and 1-pixel shift test-time augmentation for the final test predictions. Where Keras trains on a GPU,
  airbench94's widths and batch instead (`ON_GPU`). bench/RESULTS.md has the measurements behind each choice.
"""

from __future__ import annotations

import copy
import dataclasses
import math

from cifar_cnn import devices
from cifar_cnn.training.precision import resolve_precision
from cifar_cnn.training import (LEARNING_RATE_RANGE, MAX_BATCH_SIZE, MAX_EPOCHS, MAX_MINUTES, MAX_NAME_LENGTH, MAX_SEED, UNCAPPED_EPOCHS,
                                ConfigError, TrainConfig)

PRESETS: dict[str, dict] = {
    "seed": dict(
        arch="seed_cnn",
        # Far lighter dropout than the notebook's 0.25 / 0.5, which a short training cannot afford, and
        # crops shifted by at most 2 pixels: 80.5% in 15 minutes against 74.2% with dropout 0.1 / 0.25 and
        # 4-pixel shifts (bench/RESULTS.md).
        arch_options={"conv_dropout": 0.0, "dense_dropout": 0.1},
        optimizer="adam",
        learning_rate=3e-3,
        batch_size=128,
        augment=True,
        crop_padding=2,
        label_smoothing=0.1,
        schedule="one_cycle",
        precision="auto",
        flip_tta=True,
    ),
    # Everything `fast` trains with, in one place (bench/RESULTS.md has the measurements behind each value). The
    # variants below change a few of these by hardware. Fixed in the code for every recipe: SGD's momentum 0.9 with
    # Nesterov (`loop.make_optimizer`), the one-cycle warm-up over the first 20% of the steps from a tenth of the
    # rate (`schedules.OneCycle`), the whitening layer set from 5,000 training images and the BatchNorm statistics
    # re-estimated from 1,024 (`loop.WHITENING_IMAGES`, `loop.BATCHNORM_CALIBRATION_IMAGES`).
    "fast": dict(
        arch="fast_cnn",  # after airbench94 and ResNet-9: the most test accuracy per CPU-minute found here
        arch_options={
            "widths": [64, 128, 256],  # in bfloat16; narrower in float32 and wider on GPUs, see below
            "activation": "relu",  # airbench uses GELU, which costs 20% of the speed on a CPU for no gain measured
            "whitening_filters": 24,  # the 12 eigen-patches of 2x2x3 pixels and their negatives, as airbench
            "whitening_stride": 1,  # 2 makes the rest 4 times cheaper but ended lower in the same 10 minutes
            "batchnorm_momentum": 0.6,  # fast-moving statistics suit short trainings (re-estimated before use anyway)
            "batchnorm_epsilon": 1e-5,  # Keras' 1e-3 damps the last BatchNorm, whose variance falls to about 0.01
            "logit_scale": 1 / 9,  # airbench's: soft early predictions
        },
        optimizer="sgd",  # with Nesterov momentum, as airbench and ResNet-9
        learning_rate=0.4,  # the one-cycle peak at batch 512
        shift_lr_scale=64.0,  # BatchNorm shifts learn 64 times faster, as airbench: 76.3% against 75.1% at 3 epochs
        weight_decay=0.005,  # decoupled, times the rate; 0.015 made no clear change in 30-minute float32 runs
        batch_size=512,
        schedule="one_cycle",
        augment=True,
        crop_padding=2,  # shifts of at most 2 pixels: the small net cannot afford harder crops in minutes
        alternate_flips=False,  # airbench's derandomised flips: no measurable gain in 5-epoch CPU runs
        lookahead=False,  # airbench's slow weights: no measurable gain in 5-epoch CPU runs
        label_smoothing=0.2,  # airbench's
        precision="auto",  # bfloat16 only where the hardware computes it natively
        flip_tta=True,  # the final test predictions average each image and its mirror image
        shift_tta=True,  # and copies shifted by a pixel: +0.4 points at 10 minutes, +0.3 at 30
        validation="test",  # as the seed notebook; the curves show test accuracy after every epoch
    ),
}


# Settings that depend on the precision the hardware trains in ("auto" resolved). fast_cnn's
# widths 64/128/256 train 3 times slower than 32/64/128 in float32 on a 2-core CPU without
# AVX-512 (150 against 440 images/s), so the narrow net gets far more epochs into a budget; where
# bfloat16 is native the wide net is only 2 times slower and won (84.4% in 9.4 minutes against
# 84.0% in 13.5). See bench/RESULTS.md.
BY_PRECISION: dict[str, dict[str, dict]] = {
    "fast": {
        # Batch 256 runs 14% faster than 512 here and makes twice the steps: 82.5% against 81.9% in 10 minutes.
        "float32": dict(arch_options={"widths": [32, 64, 128]}, batch_size=256, learning_rate=0.2),
    },
}


# Settings where Keras trains on a GPU, which has compute to spare for a wider net and a bigger batch. Measured on
# one H100 with Keras on JAX (bench/RESULTS.md, "On a GPU"): 91.2% test accuracy with TTA in 30 s of training (47
# epochs), against 78.6% for the CPU settings (64/128/256 at batch 512), whose steps are too small to keep it busy.
ON_GPU: dict[str, dict] = {
    "fast": dict(
        # airbench94's widths and activation; GELU costs a GPU nothing (20% of the speed on a CPU).
        # airbench94's widths, activation and BatchNorm momentum (PyTorch's 0.6 for the new batch is Keras' 0.4).
        arch_options={"widths": [64, 256, 256], "activation": "gelu", "batchnorm_momentum": 0.4},
        # airbench94's batch; about airbench's learning rate (11.5 per 1,024 summed losses at momentum 0.85)
        # for Keras' mean loss at momentum 0.9.
        batch_size=1024,
        learning_rate=1.0,
        # airbench's decay per step (its decay goes through the momentum; Keras' is decoupled, times the rate):
        # 91.1% against 0.005's 89.7 to 90.5% in 30 s on an H100.
        weight_decay=0.0133,
        # airbench's slow weights and derandomised flips: cheap per step, and a GPU makes many steps.
        lookahead=True,
        alternate_flips=True,
    ),
}


def preset_settings(name: str, precision: str | None = None) -> dict:
    """The settings preset `name` makes on this machine, in `precision` (default: the preset's, "auto" resolved)."""
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}.")
    settings = copy.deepcopy(PRESETS[name])  # a caller may change the lists inside; the recipes must not change
    settings["precision"] = resolve_precision(precision or settings.get("precision", "float32"))
    variants = copy.deepcopy([BY_PRECISION.get(name, {}).get(settings["precision"], {}), ON_GPU.get(name, {}) if devices.gpus() else {}])
    for variant in variants:
        # a variant changes some architecture options and keeps the others
        settings = {**settings, **variant, "arch_options": {**settings.get("arch_options", {}), **variant.get("arch_options", {})}}
    return settings


CUSTOM = "custom"  # the recipe of TrainConfig's own defaults, with the user's choices on top


def build_config(recipe: str = CUSTOM, **choices) -> TrainConfig:
    """The settings a user's choices make: what the CLI, the Train page and the benches all train with.

    `recipe` is "custom" or a preset name; `choices` are `TrainConfig` fields, where None means "not
    chosen" (the recipe's value stays). The rules, all of them here:

    - the recipe's settings come first and every choice made replaces one of them;
    - a precision chosen with a preset brings the settings that go with it (`BY_PRECISION`);
    - an architecture other than the recipe's drops the recipe's architecture options, which belong to its
      own architecture; `arch_options` chosen are added on top of what is left;
    - a time budget (`minutes`) with no epochs chosen trains until the time is up (`UNCAPPED_EPOCHS`); with
      epochs chosen, they cap the passes.
    """
    chosen = {name: value for name, value in choices.items() if value is not None}
    unknown = sorted(set(chosen) - {field.name for field in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ConfigError(f"Unknown setting {', '.join(map(repr, unknown))}.")
    extra_options = chosen.pop("arch_options", {})
    base = {} if recipe == CUSTOM else preset_settings(recipe, chosen.get("precision"))
    if "arch" in chosen and chosen["arch"] != base.get("arch"):
        base.pop("arch_options", None)
    if chosen.get("minutes") and "epochs" not in chosen:
        chosen["epochs"] = UNCAPPED_EPOCHS
    return TrainConfig(**{**base, **chosen, "arch_options": {**base.get("arch_options", {}), **extra_options}})


# Settings a sweep may vary: the numbers a class asks about ("what does the learning rate do?"), each of which changes
# nothing else. Not the architecture or the optimizer, which bring their own learning rates and options (a sweep over
# them compares recipes, which the Train page does one by one), nor the booleans, which have only two values.
SWEEPABLE = ("learning_rate", "batch_size", "epochs", "minutes", "seed", "subset", "label_smoothing", "weight_decay")
_WHOLE_NUMBERS = ("batch_size", "epochs", "seed", "subset")
MIN_SWEEP_RUNS = 2  # one run is a training, not a comparison
MAX_SWEEP_RUNS = 10  # every run of a sweep waits in the class's one queue: ten is a lesson's worth for one student


def sweep_words(setting: str, value: float) -> str:
    """What one run of a sweep over `setting` differs in, as its name says it: "learning rate 0.01", "5,000 images"."""
    if setting == "epochs":
        return f"{value} epoch{'' if value == 1 else 's'}"
    if setting == "minutes":
        return f"{value:g} minute{'' if value == 1 else 's'}"
    if setting == "subset":
        return f"{value:,} image{'' if value == 1 else 's'}"
    return f"{setting.replace('_', ' ')} {value:g}"


def _sweep_name(base: str, words: str) -> str:
    base = " ".join(str(base or "").split())
    if not base:
        return words[:MAX_NAME_LENGTH]
    room = MAX_NAME_LENGTH - len(words) - len(" · ")
    if room < 2:  # no room for a useful part of the base: what differs matters more
        return words[:MAX_NAME_LENGTH]
    return f"{base if len(base) <= room else base[:room - 1] + '…'} · {words}"


def _check_setting(setting: str) -> None:
    if setting in SWEEPABLE:
        return
    known = {field.name for field in dataclasses.fields(TrainConfig)}
    listed = ", ".join(name.replace("_", " ") for name in SWEEPABLE)
    if setting in known:
        raise ConfigError(f"A sweep cannot vary {setting.replace('_', ' ')}: it varies one number, one of {listed}.")
    raise ConfigError(f"Unknown setting {setting!r} to sweep; choose one of {listed}.")


def parse_sweep_values(setting: str, text: str) -> list[float | int]:
    """The numbers in `text` ("0.001, 0.003 0.01"), whole numbers for the settings that take them.

    Raises ConfigError naming what is not a number (or not a whole one)."""
    _check_setting(setting)
    values: list[float | int] = []
    for word in str(text).replace(",", " ").replace(";", " ").split():
        try:
            number = float(word.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{word!r} is not a number: give the {setting.replace('_', ' ')} values as numbers "
                              "separated by commas, for example 0.001, 0.003, 0.01.") from None
        if setting in _WHOLE_NUMBERS:
            if not number.is_integer():
                raise ConfigError(f"{setting.replace('_', ' ').capitalize()} takes whole numbers, not {word}.")
            number = int(number)
        values.append(number)
    return values


def sweep_configs(recipe: str, setting: str, values, **choices) -> list[TrainConfig]:
    """One config per value of `setting`, the rest as `build_config(recipe, **choices)` makes it; each named after
    what differs ("learning rate 0.01", after the name chosen, if any).

    Raises ConfigError for a setting that cannot be swept (SWEEPABLE), fewer than MIN_SWEEP_RUNS or more than
    MAX_SWEEP_RUNS values, a value given twice, or a value the config builder refuses (the message names it)."""
    _check_setting(setting)
    values = list(values)
    words = setting.replace("_", " ")
    if not MIN_SWEEP_RUNS <= len(values) <= MAX_SWEEP_RUNS:
        raise ConfigError(f"A sweep needs from {MIN_SWEEP_RUNS} to {MAX_SWEEP_RUNS} values of the {words}, not {len(values)}.")
    for value in values:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"The {words} value {value!r} is not a number.")
    repeated = sorted({value for index, value in enumerate(values) if value in values[:index]})
    if repeated:
        several = len(repeated) > 1
        raise ConfigError(f"The {words} value{'s' if several else ''} {', '.join(f'{value:g}' for value in repeated)} "
                          f"appear{'' if several else 's'} more than once: each run of a sweep must differ from the others.")
    base_name = choices.pop("name", None) or ""
    configs = []
    for value in values:
        try:
            configs.append(build_config(recipe, **{**choices, setting: value, "name": _sweep_name(base_name, sweep_words(setting, value))}))
        except ConfigError as error:
            raise ConfigError(f"The {words} value {value:g} cannot train: {error}") from None
    return configs


def suggested_values(setting: str, current: float | int | None, count: int = 5, highest: float | None = None) -> list[float | int]:
    """`count` values of `setting` around `current` to sweep over, smallest first, all of which the config accepts:
    learning rates a factor of about 3 apart (1, 3, 10, ...), batch sizes, epochs, minutes and subsets a factor of 2
    apart, the next seeds; fixed ladders for label smoothing and weight decay, whose useful values do not scale.
    `highest` caps the counted ones further (a subset: the dataset's training images); a `current` of None picks a usual centre."""
    _check_setting(setting)
    if setting == "label_smoothing":
        return [0.0, 0.05, 0.1, 0.2, 0.3][:count]
    if setting == "weight_decay":
        return [0.0, 0.0001, 0.0005, 0.001, 0.005][:count]
    if setting == "seed":
        start = min(int(current or 0), MAX_SEED - count + 1)
        return list(range(start, start + count))
    defaults = {"learning_rate": 1e-3, "batch_size": 64, "epochs": 4, "minutes": 1.0, "subset": 5000}
    current = current if isinstance(current, (int, float)) and current > 0 else defaults[setting]
    current = int(current) if setting in _WHOLE_NUMBERS else float(current)
    if setting == "learning_rate":
        low, high = LEARNING_RATE_RANGE
        factor, rounded = math.sqrt(10), lambda value: float(f"{value:.1g}")  # 1, 3, 10, 30: round numbers a class reads
    else:
        low, high = {"batch_size": (1, MAX_BATCH_SIZE), "epochs": (1, MAX_EPOCHS), "minutes": (0.25, MAX_MINUTES),
                     "subset": (1, None)}[setting]
        if highest is not None:
            high = min(high, highest) if high is not None else highest
            current = min(current, high)
        factor = 2
        rounded = (lambda value: int(round(value))) if setting in _WHOLE_NUMBERS else (lambda value: float(f"{value:.2g}"))
    chosen: dict[float, int] = {}
    # Steps outwards from the current value, nearer ones first, so that a value at a bound still gets `count` neighbours.
    for step in sorted(range(-4 * count, 4 * count + 1), key=lambda step: (abs(step), -step)):
        value = current if step == 0 else rounded(current * factor ** step)
        if value >= low and (high is None or value <= high) and value not in chosen:
            chosen[value] = step
        if len(chosen) == count:
            break
    return sorted(chosen)
