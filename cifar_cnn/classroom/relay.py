"""Live metrics and stop requests between a training worker and the app, through one small Ray actor.

The worker's `RelayedLiveHistory` is the `LiveHistory` that `train` fills: besides keeping its rows, it sends the new
ones to the `LiveRelay` actor a few times a second (never once per batch), and the answer to each send says whether a
stop was asked for, which sets the stop event that `LiveMetrics` checks after every batch. The app's queue drains the
relay into a `LiveMirror` per job, a `LiveHistory` the pages read with `snapshot()` exactly as they read an in-process
training's. A stop goes app -> relay -> worker: the training ends after the current batch and the run is kept, as today.

Nothing here touches a disk: the worker and the app may be on different machines.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import replace

import ray

from cifar_cnn.training.live import TRAINING, LiveHistory, LiveSnapshot, WatchGuesses

# How often a worker sends its new rows (and learns of a stop request): a few times a second.
SEND_INTERVAL_S = 0.25
SEND_TIMEOUT_S = 30.0

logger = logging.getLogger(__name__)


def merge_updates(older: dict, newer: dict) -> dict:
    """One update holding both: rows appended in order, every other value the newer one's where it has it."""
    merged = {**older, **newer}
    for rows in ("batches", "epochs"):
        merged[rows] = [*older.get(rows, []), *newer.get(rows, [])]
    return merged


@ray.remote(num_cpus=0, max_restarts=0)
class LiveRelay:
    """Holds each job's rows until the app drains them, and the jobs asked to stop. One per queue, shared by its jobs."""

    def __init__(self):
        self._pending: dict[str, dict] = {}
        self._stops: set[str] = set()

    def push(self, job_id: str, update: dict) -> bool:
        """A worker's new rows and state; returns whether the job was asked to stop."""
        self._pending[job_id] = merge_updates(self._pending[job_id], update) if job_id in self._pending else update
        return job_id in self._stops

    def drain(self, job_ids: list[str]) -> dict[str, dict]:
        """Every update of these jobs since the last drain, one merged update per job that sent any."""
        return {job_id: self._pending.pop(job_id) for job_id in job_ids if job_id in self._pending}

    def request_stop(self, job_id: str) -> None:
        self._stops.add(job_id)

    def stop_requested(self, job_id: str) -> bool:
        return job_id in self._stops

    def forget(self, job_id: str) -> None:
        self._stops.discard(job_id)
        self._pending.pop(job_id, None)


class RelayedLiveHistory(LiveHistory):
    """The worker's LiveHistory: keeps its rows as usual and sends the new ones to a `LiveRelay` a few times a second.

    `begin()` before training (it learns of a stop asked for while the worker started), `close()` after it (it sends
    the last rows). The first send after `train` created its run carries the run's config.json, so the app can
    create the same run folder on its side while the training runs."""

    def __init__(self, relay, job_id: str, worker: dict | None = None, interval_s: float = SEND_INTERVAL_S):
        super().__init__()
        self._relay, self._job_id, self._interval_s = relay, job_id, interval_s
        self._worker = worker or {"pid": os.getpid(), "host": socket.gethostname()}
        self._outbox: dict = {"batches": [], "epochs": []}
        self._config_sent = False
        self._send_lock = threading.Lock()
        self._closing = threading.Event()
        self._sender: threading.Thread | None = None

    def begin(self) -> None:
        self._send({"worker": self._worker})
        self._sender = threading.Thread(target=self._send_regularly, name="cifar-cnn-live-relay", daemon=True)
        self._sender.start()

    def close(self) -> None:
        self._closing.set()
        if self._sender:
            self._sender.join(timeout=SEND_TIMEOUT_S)
        self._send()

    # LiveHistory, called by the training thread: the rows go to the outbox too.

    def start(self, total_epochs: int, steps_per_epoch: int, batch_size: int) -> None:
        super().start(total_epochs, steps_per_epoch, batch_size)
        self._send()  # at once: the app shows the run and the plan, and a stop asked for by now takes effect before batch 1

    def add_batch(self, row: dict, images_per_s: float, budget_fraction: float | None = None) -> None:
        super().add_batch(row, images_per_s, budget_fraction)
        with self._lock:
            self._outbox["batches"].append(row)

    def add_epoch(self, row: dict) -> None:
        super().add_epoch(row)
        with self._lock:
            self._outbox["epochs"].append(row)

    # Sending.

    def _send_regularly(self) -> None:
        while not self._closing.wait(self._interval_s):
            self._send()

    def _take_outbox(self) -> dict:
        with self._lock:
            update = {**self._outbox, **self._state()}
            self._outbox = {"batches": [], "epochs": []}
        if not self._config_sent and self.run_dir is not None:
            update["run_config"] = json.loads((self.run_dir / "config.json").read_text())
        return update

    def _state(self) -> dict:
        elapsed = time.monotonic() - self._started_at if self._started_at else 0.0
        # The watch set's guesses go with the state in every send (a few dozen numbers), not as rows: a send that fails
        # then loses nothing, and the app always holds the latest.
        return {"epoch": self._epoch, "batch": self._batch, "total_epochs": self.total_epochs, "steps_per_epoch": self.steps_per_epoch,
                "batch_size": self.batch_size, "images_per_s": self._images_per_s, "budget_fraction": self._budget_fraction,
                "elapsed_s": elapsed, "started": self._started_at is not None, "phase": self._phase,
                "watch": self._watch.to_dict() if self._watch else None}

    def _send(self, extra: dict | None = None) -> None:
        with self._send_lock:
            update = {**self._take_outbox(), **(extra or {})}
            try:
                stop = ray.get(self._relay.push.remote(self._job_id, update), timeout=SEND_TIMEOUT_S)
            except Exception as error:  # the relay is gone or slow: keep the rows for the next try, keep training
                logger.warning("Could not send live metrics: %s", error)
                with self._lock:
                    self._outbox = merge_updates({key: update[key] for key in ("batches", "epochs")}, self._outbox)
                return
            self._config_sent = self._config_sent or "run_config" in update
            if stop:
                self._stop.set()


class LiveMirror(LiveHistory):
    """The app's copy of a worker's LiveHistory, filled from the relay's updates; read it with `snapshot()`."""

    def __init__(self):
        super().__init__()
        self._final_elapsed: float | None = None

    def apply(self, update: dict) -> None:
        with self._lock:
            self._batches.extend(update.get("batches", ()))
            self._epochs.extend(update.get("epochs", ()))
            if not update.get("started"):
                return
            self.total_epochs, self.steps_per_epoch, self.batch_size = (update[key] for key in ("total_epochs", "steps_per_epoch", "batch_size"))
            self._epoch, self._batch = update["epoch"], update["batch"]
            self._images_per_s, self._budget_fraction = update["images_per_s"], update["budget_fraction"]
            if update.get("watch"):
                self._watch = WatchGuesses.from_dict(update["watch"])
            self._phase = update.get("phase", TRAINING)
            # The worker's clock may be another machine's: keep its elapsed time, counted on from here.
            self._started_at = time.monotonic() - update["elapsed_s"]

    def finish(self) -> None:
        """The training ended: the elapsed time stops counting."""
        with self._lock:
            self._final_elapsed = time.monotonic() - self._started_at if self._started_at else 0.0

    def forget_batches(self) -> None:
        """Drop the per-batch rows of a finished job (its epochs stay): the run folder holds its history."""
        with self._lock:
            self._batches = []

    def snapshot(self) -> LiveSnapshot:
        snapshot = super().snapshot()
        with self._lock:
            final = self._final_elapsed
        return snapshot if final is None else replace(snapshot, elapsed_s=final)

