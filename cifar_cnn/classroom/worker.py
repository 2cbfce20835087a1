"""The Ray actor that runs one training in a worker process of its own.

The queue makes one `TrainingWorker` per job and kills it when the job ends, so TensorFlow's state and memory go
with the process (a reused worker would keep them), and a crash inside TensorFlow ends that process, not the app.

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
from pathlib import Path

import ray

from cifar_cnn.classroom import run_files
from cifar_cnn.classroom.relay import RelayedLiveHistory


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


# max_concurrency=2: `describe` answers while `train` runs. max_restarts=0: a worker that dies is not started again;
# its job fails (the queue says why) and the queue goes on.
@ray.remote(max_restarts=0, max_task_retries=0, max_concurrency=2)
class TrainingWorker:
    def __init__(self, cpus: float, gpus: float = 0.0):
        self._cpus, self._gpus = cpus, gpus
        self._threads = limit_tensorflow(cpus, gpus)

    def describe(self) -> dict:
        """Where this worker runs and what it was given: pid, host, CPUs, GPUs and TensorFlow's thread counts."""
        info = {"pid": os.getpid(), "host": socket.gethostname(), "cpus": self._cpus, "gpus": self._gpus}
        if self._threads:  # what TensorFlow says it uses, not what was asked
            import tensorflow as tf

            info["intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
            info["inter_op_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
        return info

    def train(self, config, dataset, relay, job_id: str) -> run_files.RunFiles:
        """Train as `config` says on `dataset` (Ray resolves the object-store reference the queue passes), sending
        live metrics to `relay`; returns the run's files. Failures during training are in the result (state failed),
        as `train` records them; what fails before a run exists is raised, and the queue reports it."""
        from cifar_cnn.training import train

        live = RelayedLiveHistory(relay, job_id, worker={"pid": os.getpid(), "host": socket.gethostname()})
        live.begin()
        with tempfile.TemporaryDirectory(prefix="cifar-cnn-job-") as folder:
            try:
                result = train(config, dataset, runs_dir=Path(folder), live=live)
            finally:
                live.close()
            return run_files.collect(result.run_dir, result.state, result.message, result.metrics)
