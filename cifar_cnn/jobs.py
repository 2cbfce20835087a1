"""Background training: one job at a time, in a thread, observable from anywhere.

    runner = JobRunner()
    job = runner.start(TrainConfig(epochs=5), dataset)
    job.live.snapshot()   # from any thread, while it trains
    job.stop()            # ends after the current batch; the run is kept
    job.wait()

The app keeps one `JobRunner` per process, so every browser tab and every
rerun sees the same job.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from cifar_cnn.data import Dataset
from cifar_cnn.paths import describe_os_error
from cifar_cnn.training.live import LiveHistory
from cifar_cnn.training import TrainConfig, TrainResult, train


class JobBusyError(RuntimeError):
    """A training job is already running."""

    def __init__(self, job: "TrainingJob"):
        super().__init__("A training job is already running; stop it or wait for it to finish before starting another.")
        self.job = job


@dataclass
class TrainingJob:
    config: TrainConfig
    live: LiveHistory = field(default_factory=LiveHistory)
    result: TrainResult | None = None
    error: str | None = None  # set when training could not even start
    _done: threading.Event = field(default_factory=threading.Event)

    @property
    def is_running(self) -> bool:
        return not self._done.is_set()

    @property
    def run_dir(self) -> Path | None:
        return self.live.run_dir

    @property
    def state(self) -> str:
        if self.is_running:
            return "running"
        return self.result.state if self.result else "failed"

    @property
    def message(self) -> str:
        if self.result:
            return self.result.message
        return self.error or ""

    def stop(self) -> None:
        self.live.request_stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends; False if `timeout` seconds passed first."""
        return self._done.wait(timeout)


class JobRunner:
    """Runs at most one training job at a time in a background thread."""

    def __init__(self, runs_dir: Path | None = None):
        self.runs_dir = runs_dir
        self._lock = threading.Lock()
        self._job: TrainingJob | None = None

    @property
    def job(self) -> TrainingJob | None:
        """The running job, or the last one to finish (None before the first)."""
        return self._job

    def start(self, config: TrainConfig, dataset: Dataset, runs_dir: Path | None = None) -> TrainingJob:
        """Start training in the background. Raises JobBusyError if a job runs,
        ConfigError if the settings cannot work."""
        config.check(dataset)
        with self._lock:
            if self._job is not None and self._job.is_running:
                raise JobBusyError(self._job)
            job = TrainingJob(config)
            self._job = job
        thread = threading.Thread(
            target=self._run, args=(job, dataset, runs_dir or self.runs_dir), name="cifar-cnn-training", daemon=True
        )
        thread.start()
        return job

    @staticmethod
    def _run(job: TrainingJob, dataset: Dataset, runs_dir: Path | None) -> None:
        try:
            job.result = train(job.config, dataset, runs_dir=runs_dir, live=job.live)
        except OSError as error:  # a runs folder that cannot be written, a full disk: say what to do about it
            job.error = f"Training could not start: {describe_os_error(error)}"
        except Exception as error:  # training records its own failures; this is what happens before a run exists
            job.error = f"Training could not start: {error}"
        finally:
            job._done.set()
