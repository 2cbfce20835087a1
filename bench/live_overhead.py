"""Does watching training live slow it down?

Trains the seed CNN twice on the same images with the same pipeline:

- plain: `model.fit` with no live metrics;
- live: `cifar_cnn.training.train`, with the live-metrics callback, while a
  second thread does what the app's Train page does every second: take a
  snapshot and build both live Plotly figures.

The two alternate for several rounds, since a shared machine's speed drifts;
prints training images/s of each (epochs after the first, validation
excluded), their medians and the ratio of medians; the last line is a JSON
object.

    python bench/live_overhead.py --data ../shared/data/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path


import cifar_cnn  # noqa: E402, F401, I001  (before TensorFlow: it sets TensorFlow's CPU options)
import keras  # noqa: E402

from cifar_cnn import pipeline, plots  # noqa: E402
from cifar_cnn.training.budget import wait_for_training_steps  # noqa: E402
from cifar_cnn.data import load_dataset  # noqa: E402
from cifar_cnn.training.live import LiveHistory  # noqa: E402
from cifar_cnn.models import build_model  # noqa: E402
from cifar_cnn.training.presets import build_config  # noqa: E402
from cifar_cnn.training import TrainConfig, make_optimizer, split_training_data, train  # noqa: E402


class TrainingTimer(keras.callbacks.Callback):
    """Seconds spent on training batches per epoch (validation excluded).

    An epoch's training ends when the device has finished its last step, not when Python launched it: on a
    GPU the two differ (see `cifar_cnn.training.budget.wait_for_training_steps`)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._started, self._ended = time.perf_counter(), None

    def _end_of_training_steps(self) -> None:
        if self._ended is None:
            wait_for_training_steps(self.model)
            self._ended = time.perf_counter()

    def on_test_begin(self, logs=None):
        self._end_of_training_steps()

    def on_epoch_end(self, epoch, logs=None):
        self._end_of_training_steps()  # where no validation came first
        self.seconds.append(self._ended - self._started)


def images_per_s(timer: TrainingTimer, images: int) -> float:
    steady = timer.seconds[1:]  # the first epoch includes tracing
    return images * len(steady) / sum(steady)


def plain_fit(config: TrainConfig, dataset) -> float:
    keras.utils.set_random_seed(config.seed)
    x_train, y_train, x_val, y_val = split_training_data(config, dataset)
    model = build_model(config.arch, dataset.num_classes)
    model.compile(optimizer=make_optimizer(config), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = TrainingTimer()
    model.fit(
        pipeline.training_dataset(x_train, y_train, config.batch_size, augment=config.augment, seed=config.seed),
        validation_data=pipeline.evaluation_dataset(x_val, y_val),
        epochs=config.epochs, callbacks=[timer], verbose=0, shuffle=False,
    )
    return images_per_s(timer, len(x_train))


def live_train(config: TrainConfig, dataset, runs_dir: Path) -> tuple[float, int]:
    live, timer, done = LiveHistory(), TrainingTimer(), threading.Event()
    redraws = 0

    def poll_like_the_train_page():
        nonlocal redraws
        while not done.wait(1.0):
            snapshot = live.snapshot()
            json.dumps([plots.live_curve_series(snapshot.batches, snapshot.epochs, snapshot.steps_per_epoch, metric)
                        for metric in ("loss", "accuracy")])
            redraws += 1

    poller = threading.Thread(target=poll_like_the_train_page)
    poller.start()
    try:
        train(config, dataset, runs_dir=runs_dir, live=live, callbacks=[timer])
    finally:
        done.set()
        poller.join()
    return images_per_s(timer, config.subset or len(dataset.x_train)), redraws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="local CIFAR-10 copy (see README)")
    parser.add_argument("--subset", type=int, default=10_000, help="training images per epoch (default 10000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per measurement, the first not counted (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both (default 3)")
    args = parser.parse_args()

    dataset = load_dataset(args.data)
    config = build_config(arch="seed_cnn", epochs=args.epochs, subset=args.subset, batch_size=64, augment=True)
    plain_runs, live_runs = [], []
    with tempfile.TemporaryDirectory() as runs_dir:
        for round_number in range(1, args.rounds + 1):
            plain_runs.append(plain_fit(config, dataset))
            live, redraws = live_train(config, dataset, Path(runs_dir))
            live_runs.append(live)
            print(f"round {round_number}: plain model.fit {plain_runs[-1]:6.0f} images/s, "
                  f"train() + live polling {live:6.0f} images/s ({redraws} redraws)", flush=True)
    plain, live = statistics.median(plain_runs), statistics.median(live_runs)
    print(f"median: plain {plain:.0f} images/s, live {live:.0f} images/s, ratio {live / plain:.3f}")
    print(json.dumps({"plain_images_per_s": round(plain, 1), "live_images_per_s": round(live, 1), "ratio": round(live / plain, 4),
                      "rounds": args.rounds}))


if __name__ == "__main__":
    main()
