"""Test accuracy a preset reaches within a wall-clock budget.

    python bench/time_to_accuracy.py --preset seed --minutes 15 --data ../shared/data/cifar10-jpeg.tar.gz

First measures the preset's training speed on this machine for a few dozen
batches and times a validation pass, then picks the number of epochs that fits the budget (the learning
rate schedule spans exactly those epochs), trains on the full training set and
validates on the test set after every epoch. Prints one (minutes, test
accuracy) point per epoch; the last line is a JSON object with `minutes`
(training time, from the first batch to the end of the last validation) and
`test_accuracy` (the final model on the test set, with flip test-time
augmentation where the preset asks for it: `flip_tta`; the points are plain).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402

from cifar_cnn import pipeline  # noqa: E402
from cifar_cnn.data import load_dataset  # noqa: E402
from cifar_cnn.precision import resolve_precision  # noqa: E402
from cifar_cnn.presets import preset_config  # noqa: E402
from cifar_cnn.training import TrainConfig, build_for_training, make_loss, make_optimizer, train  # noqa: E402

CALIBRATION_BATCHES = 40
SPEED_MARGIN = 1.15


class BatchClock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.ends: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def measure_epoch_seconds(config: TrainConfig, dataset) -> tuple[float, float]:
    """(training images/s, seconds per epoch with its validation) of this preset here, from a throwaway model.

    Trains a few dozen batches drawn from the whole shuffled training set (the
    first batches trace, so they are skipped), then times one validation pass.
    """
    model = build_for_training(config, dataset.num_classes, dataset.x_train)
    model.compile(optimizer=make_optimizer(config), loss=make_loss(config), metrics=["accuracy"])
    targets, test_targets = dataset.y_train, dataset.y_test
    if config.label_smoothing:
        targets, test_targets = (keras.utils.to_categorical(labels, dataset.num_classes) for labels in (targets, test_targets))
    batches = pipeline.training_dataset(dataset.x_train, targets, config.batch_size, augment=config.augment,
                                        crop_padding=config.crop_padding, seed=0)
    clock = BatchClock()
    model.fit(batches.take(CALIBRATION_BATCHES + 5), callbacks=[clock], verbose=0)
    measured = clock.ends[5:]
    speed = config.batch_size * (len(measured) - 1) / (measured[-1] - measured[0])
    validation = pipeline.evaluation_dataset(dataset.x_test, test_targets)
    model.evaluate(validation.take(2), verbose=0)  # traces
    started = time.perf_counter()
    model.evaluate(validation, verbose=0)
    validation_seconds = time.perf_counter() - started
    return speed, len(dataset.x_train) / speed + validation_seconds


class AccuracyClock(keras.callbacks.Callback):
    """(minutes since the first batch, validation accuracy) after every epoch."""

    def __init__(self):
        super().__init__()
        self.points: list[tuple[float, float]] = []
        self.started: float | None = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.started is None:
            self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        minutes = (time.perf_counter() - self.started) / 60
        self.points.append((minutes, float(logs["val_accuracy"])))
        print(f"epoch {epoch + 1}: {minutes:6.2f} min, test accuracy {logs['val_accuracy']:.2%}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True, help="a preset name (see cifar_cnn/presets.py)")
    parser.add_argument("--minutes", type=float, required=True, help="wall-clock budget for training")
    parser.add_argument("--data", required=True, help="a local CIFAR-10 copy (see README)")
    args = parser.parse_args()

    dataset = load_dataset(args.data)
    config = preset_config(args.preset)
    config = dataclasses.replace(config, precision=resolve_precision(config.precision))
    speed, epoch_seconds = measure_epoch_seconds(config, dataset)
    # This VM slows down by 10-30% now and then, and a long run pays for it: keep a margin.
    epochs = max(1, int(args.minutes * 60 / (epoch_seconds * SPEED_MARGIN)))
    config = dataclasses.replace(config, epochs=epochs)
    print(f"preset {args.preset} ({config.precision}): {speed:.0f} images/s measured, {epoch_seconds:.0f} s per epoch with validation, "
          f"so {epochs} epochs fit {args.minutes:g} minutes", flush=True)

    clock = AccuracyClock()
    with tempfile.TemporaryDirectory() as runs_dir:
        result = train(config, dataset, runs_dir=Path(runs_dir), callbacks=[clock])
        if result.state != "completed":
            sys.exit(f"training {result.state}: {result.message}")
    minutes = clock.points[-1][0]
    if config.flip_tta:
        print(f"final test accuracy with flip test-time augmentation: {result.metrics['test_accuracy']:.2%}", flush=True)
    print(json.dumps({"preset": args.preset, "budget_minutes": args.minutes, "epochs": epochs, "minutes": round(minutes, 2),
                      "test_accuracy": round(result.metrics["test_accuracy"], 4),
                      "flip_tta": config.flip_tta, "precision": config.precision, "points": [[round(m, 2), round(a, 4)] for m, a in clock.points]}))


if __name__ == "__main__":
    main()
