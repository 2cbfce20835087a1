"""The presets' figures on one GPU, in one run.

    KERAS_BACKEND=jax python bench/gpu.py --data ../shared/data/cifar10-jpeg.tar.gz --out gpu-results

(with the project installed, as the README's commands do; on a machine where it is not, prefix `PYTHONPATH=.`)

Written for a lent GPU machine with little time on it: every section checks
the time left (`--seconds`) before it starts and is skipped, saying so, when
it would not fit; every figure is printed and appended to OUT/gpu.jsonl as
soon as it is measured, so a run cut short keeps what it measured. Sections,
most important first:

1. environment: the GPU, the Keras backend, the precision "auto" picks;
2. the live dashboard's cost (bench/live_overhead.py's two contenders);
3. the seed CNN's throughput against the seed notebook's model.fit (bench/throughput.py's headline pair);
4. the fast preset for 30 seconds of training: as it resolves on a GPU (airbench94's
   widths and batch), the same with airbench94's weight decay and BatchNorm momentum, and its CPU form
   (`--variants` picks some);
5. the best GPU-form variant of 4 at another budget (15 s if it reached 94%, 60 s if not);
6. the input pipeline alone (augmented batches made on the host), images/s;
7. the seed preset: time to 80% test accuracy (first epoch at or above it);
8. `strategy="mirrored"` on the one GPU against the default, 5 epochs of the fast preset: the same accuracy?
9. the fast net alone at batch 1,024: images/s with one step per Python call and with 16.

Training times are measured the way `time_to_accuracy.py` measures them
(validation and the BatchNorm re-estimation before it excluded), waiting for
the GPU to finish each epoch's last step before the clock stops.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import tempfile
import time
import traceback
from pathlib import Path


import cifar_cnn  # noqa: E402, F401, I001  (before any backend: it sets TensorFlow's options)
import keras  # noqa: E402
import numpy as np  # noqa: E402

import live_overhead  # noqa: E402
import throughput  # noqa: E402
from cifar_cnn import devices  # noqa: E402
from cifar_cnn.array_batches import TrainingBatches  # noqa: E402
from cifar_cnn.training.budget import TimeBudget  # noqa: E402
from cifar_cnn.data import load_dataset  # noqa: E402
from cifar_cnn.training.precision import resolve_precision  # noqa: E402
from cifar_cnn.training.presets import build_config  # noqa: E402
from cifar_cnn.training import TrainConfig, build_for_training, make_loss, make_optimizer, train  # noqa: E402

# The fast preset as it resolves on a GPU (`ON_GPU` in cifar_cnn/training/presets.py: airbench94's widths and batch), its CPU
# form for comparison, and its GPU form with airbench94's weight decay: airbench's, applied through the momentum,
# shrinks each weight by about 1.3% per step at the peak rate, which Keras' decoupled decay gives with 0.0133 at rate 1.0.
FAST_VARIANTS = {
    "gpu_form": {},
    "gpu_form_wd0.0133": {"weight_decay": 0.0133},
    # and airbench's BatchNorm momentum: PyTorch's 0.6 (the new batch's share) is Keras' 0.4
    "gpu_form_wd0.0133_bn0.4": {"weight_decay": 0.0133, "arch_options": {"widths": [64, 256, 256], "activation": "gelu",
                                                                          "batchnorm_momentum": 0.4}},
    "cpu_form": {"arch_options": {"widths": [64, 128, 256], "activation": "relu"}, "batch_size": 512, "learning_rate": 0.4,
                 "lookahead": False, "alternate_flips": False},
}
TARGET = 0.94
FAST_RESULTS: dict[str, dict] = {}  # fast_preset's, for fast_other_budget
FAST_MINUTES = 0.5


class Report:
    def __init__(self, out: Path, seconds: float, only: set[str] | None = None):
        self.path = out / "gpu.jsonl"
        self.only = only
        out.mkdir(parents=True, exist_ok=True)
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def add(self, section: str, **figures) -> None:
        line = json.dumps({"section": section, **figures})
        print(line, flush=True)
        with self.path.open("a") as file:
            file.write(line + "\n")

    def run(self, section: str, needs_s: float, measure, *args) -> None:
        if self.only and section not in self.only:
            return
        if self.left() < needs_s:
            self.add(section, skipped=f"needs about {needs_s:.0f} s, {self.left():.0f} s left")
            return
        started = time.monotonic()
        try:
            measure(self, *args)
        except Exception as error:  # noqa: BLE001 - one failed section must not cost the others
            self.add(section, failed=f"{type(error).__name__}: {error}", traceback=traceback.format_exc()[-2000:])
        print(f"-- {section}: {time.monotonic() - started:.1f} s wall, {self.left():.0f} s left", flush=True)


class EpochClock(TimeBudget):
    """(seconds of training, plain test accuracy) after every epoch; `TimeBudget`'s clock, never stopping training."""

    def __init__(self):
        super().__init__(math.inf)
        self.points: list[tuple[float, float]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.points.append((round(self.training_seconds(), 2), round(float(logs["val_accuracy"]), 4)))


def trained(config: TrainConfig, dataset) -> dict:
    clock = EpochClock()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as runs_dir:
        result = train(config, dataset, runs_dir=Path(runs_dir), callbacks=[clock])
    first_at_target = next((seconds for seconds, accuracy in clock.points if accuracy >= TARGET), None)
    return {"state": result.state, "message": result.message, "test_accuracy_tta": round(result.metrics.get("test_accuracy", math.nan), 4),
            "training_s": clock.points[-1][0] if clock.points else None, "epochs": len(clock.points),
            "wall_s": round(time.monotonic() - started, 1), "plain_points": clock.points,
            "first_plain_at_94_s": first_at_target, "precision": config.precision, "batch_size": config.batch_size,
            "arch_options": config.arch_options, "learning_rate": config.learning_rate, "weight_decay": config.weight_decay}


def environment(report: Report, dataset_seconds: float) -> None:
    import jax

    report.add("environment", device=devices.describe(), jax=jax.__version__, jax_devices=[str(d) for d in jax.devices()],
               auto_precision=resolve_precision("auto"), dataset_load_s=round(dataset_seconds, 1))


def input_pipeline(report: Report, dataset) -> None:
    batches = TrainingBatches(dataset.x_train, dataset.y_train, 1024, augment=True, seed=0, crop_padding=2, alternate_flips=True)
    started = time.perf_counter()
    for index in range(len(batches)):
        batches[index]
    seconds = time.perf_counter() - started
    report.add("input_pipeline", images_per_s_one_thread=round(len(dataset.x_train) / seconds), batch=1024)


def fast_preset(report: Report, dataset) -> None:
    results = {}
    for name, overrides in FAST_VARIANTS.items():
        if report.left() < 120:
            report.add("fast_30s", variant=name, skipped=f"{report.left():.0f} s left")
            continue
        config = build_config("fast", **overrides, minutes=FAST_MINUTES)
        results[name] = trained(config, dataset)
        report.add("fast_30s", variant=name, **results[name])
    FAST_RESULTS.update(results)


def fast_other_budget(report: Report, dataset) -> None:
    candidates = {name: result for name, result in FAST_RESULTS.items() if name != "cpu_form"} or FAST_RESULTS
    if not candidates:
        return
    best = max(candidates, key=lambda name: candidates[name]["test_accuracy_tta"])
    minutes = FAST_MINUTES / 2 if candidates[best]["test_accuracy_tta"] >= TARGET else FAST_MINUTES * 2
    if report.left() < 60 * minutes + 60:
        report.add("fast_other_budget", variant=best, skipped=f"{report.left():.0f} s left")
        return
    config = build_config("fast", **FAST_VARIANTS[best], minutes=minutes)
    report.add("fast_other_budget", variant=best, budget_s=60 * minutes, **trained(config, dataset))


def seed_preset(report: Report, dataset) -> None:
    result = trained(build_config("seed", epochs=20), dataset)
    first_80 = next((seconds for seconds, accuracy in result["plain_points"] if accuracy >= 0.80), None)
    report.add("seed_time_to_80", first_plain_at_80_s=first_80, **result)


def live_cost(report: Report, dataset) -> None:
    config = build_config(arch="seed_cnn", epochs=3, subset=min(20_000, len(dataset.x_train)), batch_size=64, augment=True)
    plain, live = [], []
    with tempfile.TemporaryDirectory() as runs_dir:
        for _ in range(2):
            plain.append(live_overhead.plain_fit(config, dataset))
            live.append(live_overhead.live_train(config, dataset, Path(runs_dir))[0])
    report.add("live_overhead", plain_images_per_s=[round(v) for v in plain], live_images_per_s=[round(v) for v in live],
               ratio=round(statistics.median(live) / statistics.median(plain), 4))


def notebook_throughput(report: Report, dataset) -> None:
    subset, epochs = min(20_000, len(dataset.x_train)), 2
    order = np.random.default_rng(0).permutation(len(dataset.x_train))[:subset]
    notebook = throughput.notebook_fit(dataset.x_train[order], dataset.y_train[order], epochs, dataset.num_classes)
    with tempfile.TemporaryDirectory() as runs_dir:
        library = throughput.library_train(dataset, subset, epochs, throughput.LIBRARY_VARIANTS["library"], Path(runs_dir))
    report.add("throughput", notebook_images_per_s=round(notebook), library_images_per_s=round(library),
               ratio=round(library / notebook, 3), library_settings=throughput.LIBRARY_VARIANTS["library"])


def steps_per_execution(report: Report, dataset) -> None:
    config = build_config("fast")
    figures = {}
    for steps in (1, 16):
        model = build_for_training(config, dataset.num_classes, dataset.x_train)
        model.compile(optimizer=make_optimizer(config, 49), loss=make_loss(config), steps_per_execution=steps)
        targets = keras.utils.to_categorical(dataset.y_train, dataset.num_classes)
        timer = live_overhead.TrainingTimer()
        batches = TrainingBatches(dataset.x_train, targets, config.batch_size, augment=True, seed=0, crop_padding=2, drop_remainder=True)
        model.fit(batches, epochs=3, callbacks=[timer], verbose=0)
        figures[f"steps_per_execution_{steps}"] = round(live_overhead.images_per_s(timer, len(dataset.x_train)))
    report.add("fast_net_alone", images_per_s=figures, batch=config.batch_size)


def mirrored(report: Report, dataset) -> None:
    accuracies = {}
    for strategy in ("default", "mirrored"):
        config = build_config("fast", **FAST_VARIANTS["cpu_form"], epochs=5, strategy=strategy)
        result = trained(config, dataset)
        accuracies[strategy] = result["test_accuracy_tta"]
        report.add("strategy", strategy=strategy, **result)
    report.add("strategy_compared", difference=round(accuracies["mirrored"] - accuracies["default"], 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a local CIFAR-10 copy (see README)")
    parser.add_argument("--out", type=Path, default=Path("gpu-results"), help="folder for gpu.jsonl")
    parser.add_argument("--seconds", type=float, default=520, help="stop starting sections after this long")
    parser.add_argument("--limit", type=int, help="a dry run on the first N training and N/5 test images")
    parser.add_argument("--fast-minutes", type=float, default=0.5, help="the fast preset's training budget (default 0.5)")
    parser.add_argument("--only", help="comma-separated sections to run (default: all)")
    parser.add_argument("--variants", help=f"comma-separated variants of the fast preset to train (default: all of {', '.join(FAST_VARIANTS)})")
    args = parser.parse_args()
    global FAST_MINUTES
    FAST_MINUTES = args.fast_minutes
    if args.variants:
        unknown = set(args.variants.split(",")) - set(FAST_VARIANTS)
        if unknown:
            parser.error(f"unknown variants {', '.join(sorted(unknown))}; choose from {', '.join(FAST_VARIANTS)}")
        for name in set(FAST_VARIANTS) - set(args.variants.split(",")):
            del FAST_VARIANTS[name]

    report = Report(args.out, args.seconds, set(args.only.split(",")) if args.only else None)
    started = time.monotonic()
    dataset = load_dataset(args.data)
    if args.limit:
        dataset = dataclasses.replace(dataset, x_train=dataset.x_train[: args.limit], y_train=dataset.y_train[: args.limit],
                                      x_test=dataset.x_test[: args.limit // 5], y_test=dataset.y_test[: args.limit // 5])
    report.run("environment", 0, environment, time.monotonic() - started)
    report.run("live_overhead", 50, live_cost, dataset)
    report.run("throughput", 25, notebook_throughput, dataset)
    report.run("fast_30s", 120, fast_preset, dataset)
    report.run("fast_other_budget", 75, fast_other_budget, dataset)
    report.run("input_pipeline", 10, input_pipeline, dataset)
    report.run("seed_time_to_80", 60, seed_preset, dataset)
    report.run("strategy", 40, mirrored, dataset)
    report.run("fast_net_alone", 30, steps_per_execution, dataset)


if __name__ == "__main__":
    main()
