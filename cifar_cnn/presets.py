"""Named training recipes: `TrainConfig`s that are known to train well.

    config = preset_config("seed", epochs=12)

- `seed`: the seed notebook's network with a recipe that converges faster
  than the notebook's (augmentation, a one-cycle learning rate, label
  smoothing, a larger batch that keeps both CPU cores busy, bfloat16 compute where
  the hardware has it).
- `fast`: the most test accuracy per CPU-minute we found: `fast_cnn` (after
  airbench94 and ResNet-9: whitening first layer, shift-only BatchNorm with
  fast-moving statistics, scaled-down logits), Nesterov SGD with a one-cycle
  learning rate, weight decay, label smoothing 0.2, bfloat16 compute where the hardware has it, and flip test-time augmentation
  for the final test predictions.
"""

from __future__ import annotations

import dataclasses

from cifar_cnn.training import ConfigError, TrainConfig

PRESETS: dict[str, dict] = {
    "seed": dict(
        arch="seed_cnn",
        optimizer="adam",
        learning_rate=3e-3,
        batch_size=128,
        augment=True,
        label_smoothing=0.1,
        schedule="one_cycle",
        precision="auto",
    ),
    "fast": dict(
        arch="fast_cnn",
        optimizer="sgd",
        learning_rate=0.4,
        weight_decay=0.005,
        batch_size=512,
        augment=True,
        label_smoothing=0.2,
        schedule="one_cycle",
        precision="auto",
        flip_tta=True,
    ),
}


def preset_config(name: str, **overrides) -> TrainConfig:
    """The preset's settings, with `overrides` on top."""
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}.")
    return dataclasses.replace(TrainConfig(**PRESETS[name]), **overrides)
