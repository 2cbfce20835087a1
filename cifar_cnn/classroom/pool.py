"""The queue's warm workers: Ray actors kept between jobs, each holding its share of the cluster.

At most as many workers exist as trainings may run at once (the queue's concurrency); each is made with the share of
CPUs and GPUs one training gets, and Ray keeps that share reserved while the worker waits for its next job, so a
waiting worker never makes another one wait for CPUs. A worker whose share no longer fits (the teacher changed how
many trainings run at once), that has run `MAX_JOBS_PER_WORKER` jobs, or that died is ended, and a new one is made
when a job needs it. Used by the queue's own thread only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import ray

from cifar_cnn.classroom.worker import MAX_JOBS_PER_WORKER, TrainingWorker

# A waiting worker answers a ping within this many seconds, or it is taken for dead and replaced.
PING_TIMEOUT_S = 10.0

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Worker:
    actor: Any
    cpus: float
    gpus: float
    jobs: int = 0  # jobs handed to it (finishing touches not counted)

    def fits(self, cpus: float, gpus: float) -> bool:
        return (self.cpus, self.gpus) == (cpus, gpus)


class WorkerPool:
    def __init__(self):
        self._idle: list[Worker] = []
        self.busy = 0  # workers handed out and not yet given back

    @property
    def idle(self) -> int:
        return len(self._idle)

    def warm_up(self, count: int, cpus: float, gpus: float) -> None:
        """Start workers (up to `count` in all) now, so that the first jobs find them ready."""
        while self.busy + len(self._idle) < count:
            self._idle.append(self._new(cpus, gpus))

    def take(self, cpus: float, gpus: float, limit: int) -> Worker | None:
        """A worker for one job with this share: a waiting one, else a new one while fewer than `limit` exist; None
        when `limit` are busy."""
        self.trim(limit, cpus, gpus)
        while self._idle:
            worker = self._idle.pop()
            if worker.jobs == 0 or self._answers(worker):  # a new worker is still starting: the job waits for it
                self.busy += 1
                return worker
            self._end(worker)  # died while it waited: its process is gone, a new one takes its place
        if self.busy >= limit:
            return None
        self.busy += 1
        return self._new(cpus, gpus)

    def give_back(self, worker: Worker, alive: bool = True) -> None:
        """A worker whose job ended: kept for the next job, or ended (dead, or it has run enough jobs)."""
        self.busy = max(0, self.busy - 1)
        if alive and worker.jobs < MAX_JOBS_PER_WORKER:
            self._idle.append(worker)
        else:
            self._end(worker)

    def trim(self, limit: int, cpus: float, gpus: float) -> None:
        """End the waiting workers of another share, and those beyond `limit` workers in all."""
        keep = []
        for worker in self._idle:
            if worker.fits(cpus, gpus) and self.busy + len(keep) < limit:
                keep.append(worker)
            else:
                self._end(worker)
        self._idle = keep

    def close(self) -> None:
        for worker in self._idle:
            self._end(worker)
        self._idle = []

    @staticmethod
    def _new(cpus: float, gpus: float) -> Worker:
        options = {"num_cpus": cpus, **({"num_gpus": gpus} if gpus else {})}
        return Worker(TrainingWorker.options(**options).remote(cpus, gpus), cpus, gpus)

    @staticmethod
    def _answers(worker: Worker) -> bool:
        try:
            ray.get(worker.actor.describe.remote(), timeout=PING_TIMEOUT_S)
            return True
        except Exception as error:  # RayActorError, GetTimeoutError: gone or hung
            logger.warning("A waiting training worker did not answer (%s); starting a new one", error)
            return False

    @staticmethod
    def _end(worker: Worker) -> None:
        try:
            if ray.is_initialized():
                ray.kill(worker.actor)
        except Exception as error:  # Ray is shutting down
            logger.debug("Could not end a training worker: %s", error)
