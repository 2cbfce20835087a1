"""Does training through the classroom queue (a Ray worker process per job) train as fast as training in-process?

Trains the same job both ways, alternating for several rounds (and which goes first) since a shared machine's speed drifts:

- in-process: `cifar_cnn.training.train` in this process, as the CLI and today's Train page do;
- queued: the same settings through `cifar_cnn.classroom.TrainingQueue` on an embedded local Ray, one job at a time,
  so the job gets every CPU of this machine (its TensorFlow threads set to them).

Both are measured the same way, from the run's history: training images over the seconds of each epoch after the
first (the first includes tracing; the seconds include each epoch's validation on both sides). Prints each round,
the medians and their ratio (target: at least 0.9); the last line is a JSON object.

Ray runs its workers at a lower priority (nice 15) than this process: on a machine busy with other work they get
less of the CPUs than the in-process training, whatever the queue does. `--worker-niceness 0` compares the two at
the same priority; on a machine that does nothing else both give the same.

    python bench/queue_throughput.py --data ../shared/data/cifar10-jpeg.tar.gz
    python bench/queue_throughput.py --synthetic   # random images, a quick check that the bench runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import cifar_cnn  # noqa: F401, I001  (before TensorFlow: it sets TensorFlow's CPU options)
import numpy as np

from cifar_cnn.classroom import TrainingQueue, start_ray, stop_ray
from cifar_cnn.data import Dataset, load_dataset
from cifar_cnn.training import TrainConfig, train
from cifar_cnn.training.presets import build_config


def images_per_s(epoch_seconds: list[float], images: int) -> float:
    steady = epoch_seconds[1:] or epoch_seconds
    return images * len(steady) / sum(steady)


def in_process(config: TrainConfig, dataset: Dataset, runs_dir: Path) -> float:
    from cifar_cnn import runs

    result = train(config, dataset, runs_dir=runs_dir)
    assert result.state == "completed", result.message
    history = runs.load_run(result.run_dir).history
    return images_per_s(list(history["seconds"]), config.subset or len(dataset.x_train))


def queued(queue: TrainingQueue, config: TrainConfig, dataset: Dataset) -> float:
    job_id = queue.submit(config, dataset, owner="bench")
    while not queue.job(job_id).is_finished:
        time.sleep(0.5)
    job = queue.job(job_id)
    assert job.state == "completed", job.message
    seconds = [row["seconds"] for row in queue.snapshot(job_id).epochs]
    return images_per_s(seconds, config.subset or len(dataset.x_train))


def synthetic_dataset(n_train: int = 5000, n_test: int = 1000) -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n_train).astype(np.int64),
                   rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n_test).astype(np.int64),
                   tuple(f"class{index}" for index in range(10)), "random images")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="local CIFAR-10 copy (see README)")
    source.add_argument("--synthetic", action="store_true", help="random images instead of data (a check that the bench runs)")
    parser.add_argument("--arch", default="seed_cnn", help="architecture (default seed_cnn)")
    parser.add_argument("--subset", type=int, default=5_000, help="training images per epoch (default 5000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per measurement, the first not counted (default 3)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of both (default 2)")
    parser.add_argument("--worker-niceness", type=int, default=None,
                        help="priority of Ray's workers (nice); Ray's default 15 yields to every other process, 0 competes "
                             "for the CPUs as the in-process training does (default: Ray's)")
    args = parser.parse_args()

    dataset = synthetic_dataset() if args.synthetic else load_dataset(args.data)
    config = build_config(arch=args.arch, epochs=args.epochs, subset=min(args.subset, len(dataset.x_train)), batch_size=64)
    print(start_ray(worker_niceness=args.worker_niceness), flush=True)
    own_runs, queued_runs = [], []
    try:
        with tempfile.TemporaryDirectory() as folder:
            queue = TrainingQueue(Path(folder) / "queued", concurrency=1)
            try:
                for round_number in range(1, args.rounds + 1):
                    # Which goes first alternates, so that a machine getting busier or quieter favours neither.
                    for way in (("own", "queued") if round_number % 2 else ("queued", "own")):
                        if way == "own":
                            own_runs.append(in_process(config, dataset, Path(folder) / "in_process"))
                        else:
                            queued_runs.append(queued(queue, config, dataset))
                    print(f"round {round_number}: in-process {own_runs[-1]:6.0f} images/s, queued {queued_runs[-1]:6.0f} images/s",
                          flush=True)
            finally:
                queue.close()
    finally:
        stop_ray()
    own, through_queue = statistics.median(own_runs), statistics.median(queued_runs)
    print(f"median: in-process {own:.0f} images/s, queued {through_queue:.0f} images/s, ratio {through_queue / own:.3f}")
    print(json.dumps({"in_process_images_per_s": round(own, 1), "queued_images_per_s": round(through_queue, 1),
                      "ratio": round(through_queue / own, 4), "target": 0.9, "arch": args.arch, "subset": config.subset,
                      "epochs": args.epochs, "rounds": args.rounds, "cpus": os.cpu_count(),
                      "worker_niceness": 15 if args.worker_niceness is None else args.worker_niceness,
                      "data": "random images" if args.synthetic else dataset.source}))


if __name__ == "__main__":
    main()
