"""The Ray actor that runs trainings, one after another, in a worker process that stays warm between them.

A worker process costs seconds to start (a Python process, TensorFlow's import, the training code's), which every
student of a class would wait for: the queue keeps its workers between jobs instead (`cifar_cnn.classroom.pool`).
Each job still starts from a clean Keras state (`keras.backend.clear_session()` and the config's seed), so a job
trains the same in a warm worker as in a new one (tests/test_warm_workers.py). A crash inside TensorFlow ends the
worker's process, not the app: its job fails, saying so, and the queue makes a new worker for the next job; a worker
is also replaced after `MAX_JOBS_PER_WORKER` jobs, so whatever TensorFlow keeps between jobs stays bounded.

The worker assumes nothing about the app's disk: the dataset arrives from Ray's object store, `train` writes the run
into a temporary folder here, and the run goes back to the app as a `RunFiles` object. Live metrics and stop
requests pass through the queue's `LiveRelay` (see `cifar_cnn.classroom.relay`).

Ray does not confine TensorFlow's threads to the CPUs a job was given: each worker sets TensorFlow's thread pools to
its share before TensorFlow runs anything, so that jobs side by side do not fight over the cores.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

import ray

from cifar_cnn import runs
from cifar_cnn.classroom import run_files
from cifar_cnn.classroom.relay import RelayedLiveHistory

# Jobs a worker process runs before the queue replaces it: TensorFlow keeps caches (traced functions' leftovers,
# allocator pools) that `clear_session` does not all release. tests/test_warm_workers.py measures what remains.
MAX_JOBS_PER_WORKER = 20


def limit_tensorflow(cpus: float, gpus: float) -> dict:
    """Set TensorFlow's thread pools to this job's CPUs (at least one thread). Without a GPU share, hide the GPUs:
    Ray 2.60 leaves CUDA_VISIBLE_DEVICES alone for a worker given no GPU, so TensorFlow would take one anyway. With a
    part of a GPU, let TensorFlow take the GPU's memory as it needs it instead of all at once, so jobs can share it.
    Must come before any TensorFlow operation. Returns the thread counts set (empty with another Keras backend)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return {}
    import tensorflow as tf

    threads = max(1, int(cpus))
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    if not gpus:
        tf.config.set_visible_devices([], "GPU")
    elif gpus < 1:
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    return {"intra_op_threads": threads, "inter_op_threads": threads}


def resident_megabytes() -> float:
    """This process' resident memory (Linux; 0 where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# max_concurrency=2: `describe` answers while `train` runs. max_restarts=0: a worker that dies is not started again;
# its job fails (the queue says why) and the queue makes a new worker for the next job.
@ray.remote(max_restarts=0, max_task_retries=0, max_concurrency=2)
class TrainingWorker:
    def __init__(self, cpus: float, gpus: float = 0.0):
        self._cpus, self._gpus = cpus, gpus
        self._threads = limit_tensorflow(cpus, gpus)
        self.jobs_done = 0
        from cifar_cnn.training import loop  # noqa: F401 - imported now, while no student waits for it

    def ready(self) -> dict:
        """Answers once the worker has started (TensorFlow imported): what `describe` says."""
        return self.describe()

    def describe(self) -> dict:
        """Where this worker runs and what it was given: pid, host, CPUs, GPUs, TensorFlow's thread counts, jobs run
        and resident memory."""
        info = {"pid": os.getpid(), "host": socket.gethostname(), "cpus": self._cpus, "gpus": self._gpus,
                "jobs_done": self.jobs_done, "resident_mb": round(resident_megabytes(), 1)}
        if self._threads:  # what TensorFlow says it uses, not what was asked
            import tensorflow as tf

            info["intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
            info["inter_op_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
        return info

    def train(self, config, dataset, relay, job_id: str) -> run_files.RunFiles:
        """Train as `config` says on `dataset` (Ray resolves the object-store reference the queue passes), sending
        live metrics to `relay`; returns the run's files, with the test-time augmentation and the Inside page's top
        images left to `touch_up`. Failures during training are in the result (state failed), as `train` records
        them; what fails before a run exists is raised, and the queue reports it."""
        import keras

        from cifar_cnn.training import train

        keras.backend.clear_session()  # nothing of the previous job's models, names or graphs
        self.jobs_done += 1
        live = RelayedLiveHistory(relay, job_id, worker={"pid": os.getpid(), "host": socket.gethostname()})
        live.begin()
        with tempfile.TemporaryDirectory(prefix="cifar-cnn-job-") as folder:
            try:
                result = train(config, dataset, runs_dir=Path(folder), live=live, touches_later=True)
            finally:
                live.close()
            collected = run_files.collect(result.run_dir, result.state, result.message, result.metrics)
        return run_files.with_timing(collected, live.training_seconds)

    def touch_up(self, files: run_files.RunFiles, dataset, relay, touch_id: str) -> run_files.RunFiles | None:
        """Do what the run in `files` left pending (`loop.finishing_touches`) and return the files that changed; None
        when `relay` says to give way (a student's job waits for this worker) before it was done."""
        import keras

        from cifar_cnn.training import loop

        keras.backend.clear_session()

        def give_way() -> bool:
            return ray.get(relay.stop_requested.remote(touch_id), timeout=30)

        with tempfile.TemporaryDirectory(prefix="cifar-cnn-touch-") as folder:
            run_dir = runs.create_run(files.run_config, Path(folder))
            run_files.write_into(run_dir, files)
            started = time.monotonic()
            try:
                loop.finishing_touches(run_dir, dataset, give_way=give_way)
            except loop.GaveWay:
                return None
            changed = run_files.collect(run_dir, files.state, files.message, files.metrics, only=loop.TOUCHED_FILES)
        return run_files.with_timing(changed, time.monotonic() - started)
