"""Test accuracy a preset reaches within a wall-clock budget.

    python bench/time_to_accuracy.py --preset seed --minutes 15 --data ../shared/data/cifar10-jpeg.tar.gz

Trains the preset on the full training set for M minutes of training
(`TrainConfig.minutes`: the learning-rate schedule follows the share of the
time used, so it ends when the time does) and validates on the test set after
every epoch. Validation passes do not count as training time. Prints one
(minutes, test accuracy) point per epoch, the last one at the end of the
budget (part of an epoch); the last line is a JSON object with `minutes`
(training time) and `test_accuracy` (the final model on the test set, with
the test-time augmentation the preset asks for: `flip_tta`, `shift_tta`; the
points are plain). `--set NAME=VALUE` changes one setting of the preset
(VALUE in JSON, e.g. --set 'arch_options={"widths": [32, 64, 128]}').
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from pathlib import Path


from cifar_cnn.training.budget import TimeBudget  # noqa: E402
from cifar_cnn.data import load_dataset  # noqa: E402
from cifar_cnn.inference import describe_tta  # noqa: E402
from cifar_cnn.training.precision import resolve_precision  # noqa: E402
from cifar_cnn.training.presets import build_config  # noqa: E402
from cifar_cnn.training import train  # noqa: E402


class AccuracyClock(TimeBudget):
    """(minutes of training, validation accuracy) after every epoch; the clock stops during validation, as the budget's does."""

    def __init__(self):
        super().__init__(math.inf)
        self.points: list[tuple[float, float]] = []

    def on_epoch_end(self, epoch, logs=None):
        minutes = self.training_seconds() / 60
        self.points.append((minutes, float(logs["val_accuracy"])))
        print(f"epoch {epoch + 1}: {minutes:6.2f} min, test accuracy {logs['val_accuracy']:.2%}", flush=True)


def parse_setting(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"--set wants NAME=VALUE with VALUE in JSON, not {text!r}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True, help="a preset name (see cifar_cnn/training/presets.py)")
    parser.add_argument("--minutes", type=float, required=True, help="training time budget")
    parser.add_argument("--data", required=True, help="a local CIFAR-10 copy (see README)")
    parser.add_argument("--set", type=parse_setting, action="append", default=[], metavar="NAME=VALUE",
                        help="change a setting of the preset (repeatable)")
    parser.add_argument("--keep-runs", type=Path, metavar="DIR",
                        help="save the run (model, predictions) in DIR/runs to look at later; default: discard it")
    args = parser.parse_args()

    dataset = load_dataset(args.data)
    config = build_config(args.preset, **{**dict(args.set), "minutes": args.minutes})
    config = dataclasses.replace(config, precision=resolve_precision(config.precision))
    changed = "".join(f", {name}={value}" for name, value in args.set)
    print(f"preset {args.preset} ({config.precision}{changed}): {args.minutes:g} minutes of training", flush=True)

    clock = AccuracyClock()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        runs_dir = args.keep_runs / "runs" if args.keep_runs else Path(scratch)
        result = train(config, dataset, runs_dir=runs_dir, callbacks=[clock])
        if result.state != "completed":
            sys.exit(f"training {result.state}: {result.message}")
    wall_minutes = (time.monotonic() - started) / 60
    if args.keep_runs:
        print(f"run saved in {result.run_dir}", flush=True)
    minutes = clock.points[-1][0]
    if config.flip_tta or config.shift_tta:
        print(f"final test accuracy with {describe_tta(config.flip_tta, config.shift_tta)}: {result.metrics['test_accuracy']:.2%}", flush=True)
    print(json.dumps({"preset": args.preset, "settings": dict(args.set), "budget_minutes": args.minutes,
                      "epochs": round(clock.steps / math.ceil(len(dataset.x_train) / config.batch_size), 2),
                      "minutes": round(minutes, 2), "wall_minutes": round(wall_minutes, 2),
                      "test_accuracy": round(result.metrics["test_accuracy"], 4),
                      "flip_tta": config.flip_tta, "shift_tta": config.shift_tta, "precision": config.precision, "points": [[round(m, 2), round(a, 4)] for m, a in clock.points]}))


if __name__ == "__main__":
    main()
