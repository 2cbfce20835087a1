"""Where a queued job's seconds go: its overhead before the first batch and after the last, against its training.

Submits `--jobs` trainings of one kind to a `cifar_cnn.classroom.TrainingQueue` on an embedded local Ray (one at a
time on every CPU of this machine, or `--at-once N` sharing them), all at once, as a class does, and watches them from
outside the queue (every 0.1 s):

- start overhead: from the job leaving the line (`JobInfo.started_at`) to its first batch showing in its live
  snapshot (a worker starting, TensorFlow's import, the dataset from the object store, the model's build and first
  step's tracing);
- training: from the first batch seen to the last;
- end overhead: from the last batch seen to the job being finished with its run listed (the last validation, the
  final evaluation, writing the run back).

The overhead per job is the start plus the end; reported as median and p95 (targets on machine A: 10 s and 20 s),
with the median of each part, and the time the whole line took (`line_s`). It uses only what every version of the queue offers, so the same script measures an
older checkout (`git worktree add /tmp/old COMMIT`, then `python /path/to/bench/job_phases.py --root /tmp/old ...`).

    python bench/job_phases.py --data ../shared/data/cifar10-jpeg.tar.gz --kind fast     # fast preset, 0.5-minute budget
    python bench/job_phases.py --data ../shared/data/cifar10-jpeg.tar.gz --kind tiny     # tiny_cnn, 5,000 images, 1 epoch
    python bench/job_phases.py --data ../shared/data/cifar10-jpeg.tar.gz --kind demo --jobs 1  # the Quick demo, start to end
    python bench/job_phases.py --synthetic --kind tiny --jobs 2                          # a check that the bench runs

`--part end` instead trains one job in-process and times each step after its last batch (`cifar_cnn.training.loop`'s
functions, wrapped), for the table in bench/RESULTS.md. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
source = parser.add_mutually_exclusive_group(required=True)
source.add_argument("--data", help="local CIFAR-10 copy (see README)")
source.add_argument("--synthetic", action="store_true", help="random images (a check that the bench runs)")
parser.add_argument("--kind", choices=("fast", "tiny", "demo"), default="fast",
                    help="fast: the fast preset with a 0.5-minute budget; tiny: tiny_cnn on 5,000 images for 1 epoch; "
                         "demo: the Train page's Quick demo (the fast preset for 1 minute)")
parser.add_argument("--jobs", type=int, default=5, help="jobs in line (default 5)")
parser.add_argument("--at-once", type=int, default=1, help="trainings at once, sharing the CPUs (default 1)")
parser.add_argument("--part", choices=("queue", "end"), default="queue", help="queue (default) or end (in-process steps)")
parser.add_argument("--touches-later", action="store_true",
                    help="with --part end: leave test-time augmentation and top images for later, as the queue does")
parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent),
                    help="the checkout whose cifar_cnn to measure (default: this one)")
args = parser.parse_args()
sys.path.insert(0, args.root)

import cifar_cnn  # noqa: E402, F401, I001 - from --root; before TensorFlow: it sets TensorFlow's CPU options
import numpy as np  # noqa: E402

from cifar_cnn.data import Dataset, load_dataset  # noqa: E402
from cifar_cnn.training.presets import build_config  # noqa: E402
from measure import cpu_flags  # noqa: E402 - bench/measure.py


def the_config():
    if args.kind in ("fast", "demo"):
        return build_config("fast", minutes=0.5 if args.kind == "fast" else 1.0)
    return build_config(arch="tiny_cnn", epochs=1, subset=5000)


def synthetic_dataset(n_train: int = 6000, n_test: int = 2000) -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n_train).astype(np.int64),
                   rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n_test).astype(np.int64),
                   tuple(f"class{index}" for index in range(10)), "random images")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def watch_queue(dataset: Dataset) -> dict:
    from cifar_cnn.classroom import TrainingQueue, start_ray, stop_ray

    print(start_ray(), flush=True)
    seen: dict[str, dict] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            queue = TrainingQueue(Path(folder) / "runs", concurrency=args.at_once)
            try:
                time.sleep(5)  # as in the app: the queue exists (and warms its workers) once a page has opened it
                config = the_config()
                job_ids = [queue.submit(config, dataset, owner=f"student-{index:02d}") for index in range(args.jobs)]
                submitted = time.time()
                while not all(queue.job(job_id).is_finished for job_id in job_ids):
                    now = time.time()
                    for job_id in job_ids:
                        info, mark = queue.job(job_id), seen.setdefault(job_id, {"batches": 0})
                        batches = len(queue.snapshot(job_id).batches) if info.state == "running" else 0
                        if batches and "first" not in mark:
                            mark["first"] = now
                        if batches > mark["batches"]:
                            mark["batches"], mark["last"] = batches, now
                    time.sleep(0.1)
                line_s = time.time() - submitted
                jobs = [queue.job(job_id) for job_id in job_ids]
            finally:
                queue.close()
    finally:
        stop_ray()
    rows = []
    for job in jobs:
        mark = seen.get(job.job_id, {})
        if job.state != "completed" or "first" not in mark:
            print(f"{job.owner}: {job.state} {job.message}", flush=True)
            continue
        start, end = mark["first"] - job.started_at, job.finished_at - mark["last"]
        rows.append({"start_s": start, "training_s": mark["last"] - mark["first"], "end_s": end, "overhead_s": start + end,
                     "accuracy": (job.metrics or {}).get("test_accuracy")})
        print(f"{job.owner}: start {start:5.1f} s, training {rows[-1]['training_s']:5.1f} s, end {end:5.1f} s, "
              f"overhead {start + end:5.1f} s, test accuracy {rows[-1]['accuracy']:.1%}", flush=True)
    overheads = [row["overhead_s"] for row in rows]
    return {"kind": args.kind, "jobs": args.jobs, "at_once": args.at_once, "completed": len(rows), "line_s": round(line_s, 1),
            "accuracy_median": statistics.median(row["accuracy"] for row in rows),
            "overhead_median_s": round(statistics.median(overheads), 2), "overhead_p95_s": round(percentile(overheads, 0.95), 2),
            "start_median_s": round(statistics.median(row["start_s"] for row in rows), 2),
            "end_median_s": round(statistics.median(row["end_s"] for row in rows), 2),
            "training_median_s": round(statistics.median(row["training_s"] for row in rows), 2),
            "first_job_overhead_s": round(overheads[0], 2)}


def time_the_end(dataset: Dataset) -> dict:
    """One in-process training, each step after its last batch timed (the loop's functions wrapped)."""
    import keras

    from cifar_cnn import runs
    from cifar_cnn.training import loop, train

    marks: dict[str, float] = {}

    def timed(owner, name):
        original = getattr(owner, name)

        def wrapper(*positional, **named):
            started = time.monotonic()
            try:
                return original(*positional, **named)
            finally:
                marks[name] = marks.get(name, 0.0) + time.monotonic() - started
        setattr(owner, name, wrapper)

    for name in ("recalibrate_batchnorm", "_score_and_save", "_store_top_images", "score"):
        if hasattr(loop, name):
            timed(loop, name)
    timed(runs, "save_model")

    class LastBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            marks["last_batch"] = time.monotonic()

        def on_test_begin(self, logs=None):
            marks["validation_began"] = time.monotonic()

        def on_test_end(self, logs=None):
            marks["validation"] = time.monotonic() - marks["validation_began"]

    with tempfile.TemporaryDirectory() as folder:
        later = {"touches_later": True} if args.touches_later else {}  # older checkouts lack the option
        result = train(the_config(), dataset, runs_dir=Path(folder), callbacks=[LastBatch()], **later)
        ended = time.monotonic()
    steps = {name: round(marks.get(name, 0.0), 2) for name in
             ("validation", "recalibrate_batchnorm", "save_model", "_score_and_save", "score", "_store_top_images")}
    steps["after_last_batch_s"] = round(ended - marks["last_batch"], 2)
    steps["test_accuracy"] = result.metrics.get("test_accuracy")
    print(steps, flush=True)
    return {"kind": args.kind, "part": "end", "touches_later": args.touches_later, **steps}


def main() -> None:
    dataset = synthetic_dataset() if args.synthetic else load_dataset(args.data)
    figures = watch_queue(dataset) if args.part == "queue" else time_the_end(dataset)
    print(json.dumps({**figures, "root": args.root, "cpu": cpu_flags(), "data": dataset.source}))


if __name__ == "__main__":
    main()
