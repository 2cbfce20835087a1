"""A first-in, first-out queue of trainings that run on Ray, in worker processes kept warm between jobs.

    queue = TrainingQueue()                       # after start_ray(); the app keeps one (st.cache_resource)
    job_id = queue.submit(config, dataset, owner="Ada")
    queue.jobs()                                  # every job, in the order submitted: owner, state, place in line, times
    queue.snapshot(job_id).epochs                 # live curves, as an in-process LiveHistory gives them
    queue.stop(job_id)                            # a running job ends after its current batch; the run is kept
    queue.cancel(job_id)                          # a queued job leaves the line
    queue.set_concurrency(3)                      # trainings at once (None: one per two CPU cores of the cluster)

A job is queued, then running, then completed, stopped or failed; or cancelled while queued. The queue's own thread
starts jobs as places free up on its warm workers (`cifar_cnn.classroom.pool`, each holding one job's share of CPUs
and GPUs), drains their live metrics a few times a second, and when a worker returns, writes its run into
`artifacts/runs/<id>/` (`cifar_cnn.classroom.run_files`). A worker process that dies (killed, out of memory, its
machine lost) fails its job with a message saying so, and the queue goes on with the next on a new worker. Every
method but `worker_info` answers from memory, at once: a page may call them on every rerun.

What no student waits for leaves the line: a job's run is finished and listed with its test accuracy measured
plainly, and its finishing touches (the test-time augmentation its config asks for, the Inside page's top images:
`loop.finishing_touches`) run on a waiting worker when no training waits or runs; a job that arrives meanwhile
takes the worker back within one pass over the test set.

Each job's time is split into its training (first batch to last, as the worker timed it) and its overhead (the rest,
from leaving the line to its run being listed); the overheads measured make the waiting jobs' estimated starts.

The dataset goes into Ray's object store once (`put_dataset`, cached per dataset object) and every job reads that copy.

With a `state_file`, the queue keeps its waiting and running jobs there (rewritten atomically at every change). A queue
started on a file that lists jobs (the app was stopped or crashed meanwhile) does not lose them silently: the waiting
ones come back as cancelled and the running ones as failed, each saying that the app restarted, so their students see
what happened (and the running ones' run folders, whose app is gone, show as interrupted).
"""

from __future__ import annotations

import collections
import functools
import json
import logging
import statistics
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
import ray.exceptions

from cifar_cnn import runs
from cifar_cnn.classroom import run_files
from cifar_cnn.classroom.cluster import (QueueError, default_concurrency, job_share, largest_node, local_ray_failure,
                                         require_ray)
from cifar_cnn.classroom.estimate import (GUESS_FLOPS_PER_CPU_S, IMAGE_COST_FLOPS, estimated_starts, expected_seconds,
                                          guessed_images_per_s)
from cifar_cnn.classroom.pool import Worker, WorkerPool
from cifar_cnn.classroom.queue_state import QueueFileLock, SavedJob, mark_run_failed, read_jobs, write_jobs
from cifar_cnn.classroom.relay import LiveMirror, LiveRelay
from cifar_cnn.data import Dataset
from cifar_cnn.models import build_model, forward_flops
from cifar_cnn.paths import default_runs_dir, describe_os_error
from cifar_cnn.training import TrainConfig
from cifar_cnn.training.live import FINISHING, LiveSnapshot

JOB_STATES = ("queued", "running", "completed", "stopped", "failed", "cancelled")
FINISHED_STATES = frozenset({"completed", "stopped", "failed", "cancelled"})
POLL_INTERVAL_S = 0.25
# Finished jobs whose per-batch curves stay in memory (the most recent ones); older ones keep their epochs.
KEEP_BATCHES_OF_FINISHED = 16
MAX_CONCURRENCY = 1024
# Until a job of this queue has shown them: seconds from a job's leaving the line to its first batch (building the
# model, tracing its step; a worker's start for the first job), and from its last batch to its run being listed
# (the last validation, the final evaluation, the run's files written).
START_OVERHEAD_GUESS_S = 8.0
END_OVERHEAD_GUESS_S = 12.0
# The estimates follow the median of the overheads of the last this many completed jobs.
OVERHEADS_KEPT = 9
APP_RESTARTED = "The app restarted"
RESTARTED_WAITING = "{why} before this training started, so it was not run: train it again."
RESTARTED_RUNNING = ("{why} while this training ran: the epochs done are kept in its run, the model is not. "
                     "Train it again.")
# The class's line holds at most this many unfinished trainings by default: so many per student who has trained
# here, plus some (a teacher sets another limit under Queue settings). A line of thousands helps nobody: it would not
# finish in a day, and each waiting job costs every page that lists the line.
CAP_PER_STUDENT = 5
CAP_EXTRA = 20
MAX_CAP = 10_000

# What Ray raises when a worker's process or machine is gone (the process was killed, ran out of memory, crashed).
_PROCESS_DIED = tuple(getattr(ray.exceptions, name) for name in (
    "RayActorError", "WorkerCrashedError", "OutOfMemoryError", "NodeDiedError", "ObjectLostError", "ActorUnschedulableError",
) if hasattr(ray.exceptions, name))

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobInfo:
    """What the queue knows about one job, at one moment."""

    job_id: str
    owner: str
    config: TrainConfig
    state: str  # one of JOB_STATES
    place: int | None  # 1 for the next job to start; None unless queued
    submitted_at: float  # time.time() values
    started_at: float | None
    finished_at: float | None
    message: str  # why it failed, or was stopped or cancelled
    run_dir: Path | None  # the run folder, once the worker has started training
    metrics: dict[str, float] | None
    cpus: float | None  # the share stated to Ray
    gpus: float | None
    worker: str | None  # "host (process 1234)", once the worker has started
    stop_requested: bool
    training_s: float | None = None  # its batches' time, as the worker measured it (once finished)
    overhead_s: float | None = None  # the rest of its time from leaving the line to its run being listed
    touches_pending: bool = False  # its run's finishing touches are still to come (`loop.finishing_touches`)

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES


@dataclass
class _Job:
    job_id: str
    owner: str
    config: TrainConfig
    dataset_ref: Any
    submitted_at: float
    state: str = "queued"
    started_at: float | None = None
    finished_at: float | None = None
    message: str = ""
    run_dir: Path | None = None
    metrics: dict[str, float] | None = None
    cpus: float | None = None
    gpus: float | None = None
    worker: str | None = None
    stop_requested: bool = False
    actor: Any = None
    pool_worker: Worker | None = None
    result_ref: Any = None
    images_per_epoch: int = 0
    forward_flops: float | None = None  # one image's forward pass: the first guess of its speed
    live: LiveMirror = field(default_factory=LiveMirror)
    first_batch_seen_at: float | None = None  # time.time() when the app received its first and its latest batch
    last_batch_seen_at: float | None = None
    training_s: float | None = None
    overhead_s: float | None = None
    touches_pending: bool = False


@dataclass
class _TouchUp:
    """A finished run whose finishing touches are pending, and (while a worker does them) that worker."""

    job_id: str
    run_dir: Path
    dataset_ref: Any
    worker: Worker | None = None
    result_ref: Any = None
    touch_id: str = ""


class TrainingQueue:
    def __init__(self, runs_dir: Path | None = None, concurrency: int | None = None, cpus_per_job: float | None = None,
                 poll_interval_s: float = POLL_INTERVAL_S, state_file: Path | None = None, warm_up: bool = True,
                 max_unfinished: int | None = None, previous_end: str = APP_RESTARTED, app_pid: int | None = None):
        """`runs_dir`: where finished runs go (default: `artifacts/runs`). `concurrency`: trainings at once (None: one
        per two CPU cores of the cluster, see `cluster.default_concurrency`). `cpus_per_job`: each job's CPUs (None:
        an equal share of the cluster for each of `concurrency` jobs). `state_file`: where the queue keeps its
        unfinished jobs across restarts (None: nowhere). `warm_up`: start the workers at once, before the first job
        (False: when the first job needs one). `max_unfinished`: the most trainings waiting or running at once, the
        class's whole line (None: `CAP_PER_STUDENT` per student who has submitted, plus `CAP_EXTRA`). `previous_end`:
        what ended the queue that left unfinished jobs in `state_file` ("The app restarted"), for their owners.
        `app_pid`: the app this queue works for, when it runs in the app's training engine (see `QueueFileLock`).
        Needs Ray started (`start_ray`). Raises QueueError when another queue holds `state_file`."""
        require_ray()
        self._max_unfinished = _checked_cap(max_unfinished)
        self.runs_dir = Path(runs_dir) if runs_dir is not None else None
        self._concurrency = _checked_concurrency(concurrency)
        if cpus_per_job is not None and not (isinstance(cpus_per_job, (int, float)) and cpus_per_job > 0):
            raise QueueError(f"CPUs per job must be a number above 0, not {cpus_per_job!r}.")
        self._cpus_per_job = cpus_per_job
        self.poll_interval_s = poll_interval_s
        self._jobs: dict[str, _Job] = {}  # in the order submitted
        self._line: collections.deque[str] = collections.deque()  # queued job ids, first to start first
        self._finished_with_batches: collections.deque[str] = collections.deque()
        self._datasets: dict[int, tuple[weakref.ref, Any]] = {}  # id(dataset) -> (the dataset, weakly; its object ref)
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closed = False
        self._speeds: dict[tuple[str, int], float] = {}  # (architecture, batch size) -> images/s last seen
        self._overheads: collections.deque[tuple[float, float]] = collections.deque(maxlen=OVERHEADS_KEPT)  # (start, end) s
        self._pool = WorkerPool()
        self._warm_up = warm_up
        self._touch_ups: collections.deque[_TouchUp] = collections.deque()
        self._touching: _TouchUp | None = None
        self._share = job_share(self.concurrency, cpus_per_job)  # (CPUs, GPUs) of the jobs started last
        self._capacity_problem = ""
        self._flops_per_cpu_s = GUESS_FLOPS_PER_CPU_S  # what the last training showed, for the first guesses
        self.state_file = Path(state_file) if state_file is not None else None
        self._state_frozen = False  # once closing: the file keeps the unfinished jobs for the next queue
        self._notices: list[tuple[str | None, str]] = []  # (owner, or None for the teacher; what they should know)
        self._owners: set[str] = set()  # every student who submitted here: the class's line grows with them
        self._file_lock = QueueFileLock(self.state_file, app_pid) if self.state_file is not None else None
        if self._file_lock is not None:
            self._file_lock.acquire()
        try:
            self._take_over_state_file(previous_end)
            self._relay = LiveRelay.remote()
        except BaseException:
            if self._file_lock is not None:
                self._file_lock.release()
            raise
        self._thread = threading.Thread(target=self._run, name="cifar-cnn-training-queue", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ asking

    def put_dataset(self, dataset: Dataset):
        """The object-store reference of `dataset`, put there on the first call for this dataset object only."""
        with self._lock:
            known = self._known_dataset(dataset)
        if known is not None:
            return known
        ref = ray.put(dataset)  # outside the lock: a large dataset takes a moment, and the pages ask the queue meanwhile
        with self._lock:
            known = self._known_dataset(dataset)  # another thread may have put it meanwhile: keep one copy
            if known is not None:
                return known
            self._datasets[id(dataset)] = (weakref.ref(dataset), ref)
            return ref

    def _known_dataset(self, dataset: Dataset):
        for key, (alive, _) in list(self._datasets.items()):
            if alive() is None:  # the app let that dataset go: so does the store, once no job needs it
                del self._datasets[key]
        known = self._datasets.get(id(dataset))
        return known[1] if known and known[0]() is dataset else None

    def submit(self, config: TrainConfig, dataset: Dataset, owner: str = "") -> str:
        """Put a training in line; returns its job id. Raises ConfigError (the settings' own message) for settings that
        cannot train on `dataset`, before anything is queued, and QueueError once the queue is closed."""
        if not isinstance(config, TrainConfig):
            raise TypeError(f"submit takes a TrainConfig (see cifar_cnn.training.presets.build_config), not {type(config).__name__}")
        config.check(dataset)
        dataset_ref = self.put_dataset(dataset)
        job = _Job(uuid.uuid4().hex[:12], str(owner), config, dataset_ref, time.time())
        train_images = min(config.subset or len(dataset.x_train), len(dataset.x_train))
        job.images_per_epoch = train_images - (int(train_images * config.holdout_fraction) if config.validation == "holdout" else 0)
        job.forward_flops = _forward_flops(config.arch, json.dumps(config.arch_options, sort_keys=True), dataset.num_classes)
        with self._lock:
            if self._closed:
                raise QueueError("The training queue is closed; restart the app to train again.")
            room = self._room(job.owner)
            if room < 1:
                raise QueueError(self._full_message())
            self._owners.add(job.owner)
            self._jobs[job.job_id] = job
            self._line.append(job.job_id)
            self._save_state()
        self._wake.set()
        return job.job_id

    @property
    def max_unfinished(self) -> int:
        """The most trainings the class may have waiting or running at once (see `__init__`)."""
        with self._lock:
            return self._cap(self._owners)

    @property
    def cap_is_set(self) -> bool:
        return self._max_unfinished is not None

    def set_max_unfinished(self, limit: int | None) -> None:
        """The teacher's limit on the class's line (None: the default rule). Jobs already in line stay."""
        self._max_unfinished = _checked_cap(limit)

    def room(self, owner: str = "") -> int:
        """How many more trainings `owner` may put in the class's line now (0 when it is full)."""
        with self._lock:
            return self._room(owner)

    def _unfinished(self) -> int:
        return sum(job.state in ("queued", "running") for job in self._jobs.values())

    def _room(self, owner: str) -> int:
        return max(0, self._cap(self._owners | {owner}) - self._unfinished())

    def _cap(self, owners: set[str]) -> int:
        if self._max_unfinished is not None:
            return self._max_unfinished
        return CAP_PER_STUDENT * len(owners) + CAP_EXTRA

    def _full_message(self) -> str:
        unfinished = self._unfinished()
        rule = "the teacher's limit" if self._max_unfinished is not None else \
            f"{CAP_PER_STUDENT} per student who has trained plus {CAP_EXTRA}"
        return (f"The class's line is full: {unfinished} training{'s wait' if unfinished != 1 else ' waits'} or "
                f"run{'s' if unfinished == 1 else ''}, the most allowed ({rule}). Wait until "
                "some finish, or ask the teacher to raise the limit under Queue settings on the Train page.")

    def notices(self, owner: str | None = None) -> list[str]:
        """What the queue found wrong on starting that `owner` should know (None: what the teacher should know)."""
        with self._lock:
            return [text for who, text in self._notices if who == owner]

    def jobs(self, owner: str | None = None) -> list[JobInfo]:
        """Every job (or every job of `owner`), in the order submitted."""
        with self._lock:
            places = {job_id: place for place, job_id in enumerate(self._line, start=1)}
            return [self._info(job, places.get(job.job_id)) for job in self._jobs.values() if owner is None or job.owner == owner]

    def job(self, job_id: str) -> JobInfo:
        with self._lock:
            job = self._job(job_id)
            place = self._line.index(job_id) + 1 if job.state == "queued" else None
            return self._info(job, place)

    def snapshot(self, job_id: str) -> LiveSnapshot:
        """The job's live state: its batches and epochs so far, progress, speed (empty while it waits)."""
        with self._lock:
            live = self._job(job_id).live
        return live.snapshot()

    def estimated_starts(self) -> dict[str, float | None]:
        """Seconds from now until each waiting job starts (None: not known yet), by job id. Running jobs end when their
        live progress says; waiting ones take as long as their time budget, or their epochs at the speed last seen for
        their architecture and batch size."""
        limit = self.concurrency
        with self._lock:
            running = [job for job in self._jobs.values() if job.state == "running"]
            waiting = [self._jobs[job_id] for job_id in self._line]
            left = [self._seconds_left(job) for job in running]
            durations = [self._expected_seconds(job) for job in waiting]
        return dict(zip((job.job_id for job in waiting), estimated_starts(left, durations, limit)))

    def overheads(self) -> tuple[float, float]:
        """(start, end) overhead in seconds the estimates use: the median of the last jobs' (a guess before any)."""
        with self._lock:
            measured = list(self._overheads)
        if not measured:
            return START_OVERHEAD_GUESS_S, END_OVERHEAD_GUESS_S
        return statistics.median(start for start, _ in measured), statistics.median(end for _, end in measured)

    def _expected_seconds(self, job: _Job) -> float | None:
        speed = self._speeds.get((job.config.arch, job.config.batch_size))
        if speed is None and job.forward_flops and not self._share[1]:  # on GPUs arithmetic says little of the speed
            speed = guessed_images_per_s(job.forward_flops, self._share[0], self._flops_per_cpu_s)
        return expected_seconds(job.config.epochs, job.config.minutes, job.images_per_epoch, speed, sum(self.overheads()))

    def _seconds_left(self, job: _Job) -> float | None:
        snapshot = job.live.snapshot()
        now = time.time()
        _, end_overhead = self.overheads()
        if job.first_batch_seen_at is None or snapshot.seconds_left is None:  # its model is still being built
            expected = self._expected_seconds(job)
            return None if expected is None else max(0.0, expected - (now - (job.started_at or now)))
        if snapshot.phase == FINISHING:
            return max(0.0, end_overhead - (now - (job.last_batch_seen_at or now)))
        return snapshot.seconds_left + end_overhead

    @property
    def concurrency(self) -> int:
        """Trainings that run at once: the number set, or one per two CPU cores of the cluster as it is now."""
        return self._concurrency or default_concurrency()

    def set_concurrency(self, concurrency: int | None) -> None:
        """Change how many trainings run at once (None: the cluster's default). Running jobs go on; a larger number
        starts waiting jobs at once, a smaller one lets running jobs finish before the next starts."""
        self._concurrency = _checked_concurrency(concurrency)
        self._wake.set()

    def worker_info(self, job_id: str, timeout_s: float = 60.0) -> dict:
        """Ask a running job's worker where it runs and with what: pid, host, CPUs, GPUs, TensorFlow's threads."""
        with self._lock:
            job = self._job(job_id)
            actor = job.actor
        if actor is None:
            raise QueueError(f"Job {job_id} is {job.state}: only a running job has a worker.")
        return ray.get(actor.describe.remote(), timeout=timeout_s)

    # ------------------------------------------------------------ changing

    def cancel(self, job_id: str) -> bool:
        """Take a queued job out of the line; False if it had already ended. Raises QueueError for a running job."""
        with self._lock:
            job = self._job(job_id)
            if job.state in FINISHED_STATES:
                return False
            if job.state == "running":
                raise QueueError("This training is already running: stop it instead (it ends after the current batch and its run is kept).")
            self._line.remove(job_id)
            self._end(job, "cancelled", "Cancelled before it started.")
            self._save_state()
        return True

    def stop(self, job_id: str) -> bool:
        """Ask a running job to stop after its current batch (the run is kept, with its model); False if it had already
        ended. Raises QueueError for a queued job."""
        with self._lock:
            job = self._job(job_id)
            if job.state in FINISHED_STATES:
                return False
            if job.state == "queued":
                raise QueueError("This training has not started yet: cancel it instead.")
            job.stop_requested = True
            job.live.request_stop()
        self._relay.request_stop.remote(job_id)
        return True

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the queue: waiting jobs are cancelled, running ones ended (their runs marked failed, saying why), the
        workers killed. The runs already written stay. The state file keeps listing the unfinished jobs, so that the
        next queue on it tells their students what became of them."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._state_frozen = True
        self._wake.set()
        self._thread.join(timeout=timeout_s)
        with self._lock:
            for job_id in list(self._line):
                self._end(self._jobs[job_id], "cancelled", "The training queue shut down before this training started.")
            self._line.clear()
            for job in self._jobs.values():
                if job.state == "running":
                    self._fail(job, "The app shut down while this training ran; the epochs done are kept, the model is not.")
                    self._release(job, alive=False)
            if self._touching is not None:
                self._pool.give_back(self._touching.worker, alive=False)
                self._touch_ups.appendleft(self._touching)
                self._touching = None
            self._pool.close()
            for touch in self._touch_ups:  # never to come: the runs keep their plain test accuracy, and say so
                _give_up_touches(touch.run_dir)
                if touch.job_id in self._jobs:
                    self._jobs[touch.job_id].touches_pending = False
            self._touch_ups.clear()
        try:
            if ray.is_initialized():
                ray.kill(self._relay)
        except Exception:  # Ray shutting down meanwhile
            pass
        if self._file_lock is not None:
            self._file_lock.release()

    # ------------------------------------------------------------ the queue's thread

    def _run(self) -> None:
        while not self._closed:
            try:
                if ray.is_initialized():  # after stop_ray() the queue waits, quietly, to be closed
                    self._step()
            except Exception:  # a step that fails (Ray busy, a disk error) must not end the queue
                logger.exception("The training queue's step failed; trying again")
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()

    def _step(self) -> None:
        with self._lock:
            running = [job for job in self._jobs.values() if job.state == "running"]
        ready = set()
        if running:
            refs = [job.result_ref for job in running]
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            ready = {ref.hex() for ref in done}
            # After the wait: a worker sends its last rows before it returns, so a finished job's rows are all here.
            self._take_live_updates(running)
        for job in running:
            if job.result_ref.hex() in ready:
                self._finish(job)
        self._collect_touch_up()
        self._start_waiting_jobs()
        self._start_touch_up()

    def _take_live_updates(self, running: list[_Job]) -> None:
        try:
            updates = ray.get(self._relay.drain.remote([job.job_id for job in running]), timeout=30)
        except Exception as error:  # the relay is gone: the curves stop, but the trainings end and are saved as usual
            logger.warning("Could not read the live metrics: %s", error)
            return
        for job in running:
            update = updates.get(job.job_id)
            if update is None:
                continue
            if update.get("batches"):
                job.first_batch_seen_at = job.first_batch_seen_at or time.time()
                job.last_batch_seen_at = time.time()
            try:
                self._apply(job, update)
            except OSError as error:  # the app's disk refused the run folder: the training goes on, the run is lost
                logger.warning("Could not write the run folder of job %s: %s", job.job_id, describe_os_error(error))
            self._learn_speed(job)

    def _learn_speed(self, job: _Job) -> None:
        """Remember how fast this kind of training goes: the waiting jobs' estimated starts come from it."""
        snapshot = job.live.snapshot()
        if snapshot.images_per_s > 0:
            self._speeds[(job.config.arch, job.config.batch_size)] = snapshot.images_per_s
            if job.forward_flops and job.cpus:
                self._flops_per_cpu_s = snapshot.images_per_s * (3 * job.forward_flops + IMAGE_COST_FLOPS) / max(1.0, job.cpus)

    def _apply(self, job: _Job, update: dict) -> None:
        job.live.apply(update)
        if "worker" in update:
            with self._lock:
                job.worker = f"{update['worker']['host']} (process {update['worker']['pid']})"
        if "run_config" in update and job.run_dir is None:
            # The run appears in the app's run list while it trains, with the config.json the worker's `train` wrote.
            run_dir = runs.create_run(update["run_config"], self.runs_dir)
            with self._lock:
                job.run_dir = job.live.run_dir = run_dir
                self._save_state()
        if update.get("epochs") and job.run_dir is not None:
            runs.write_history(job.run_dir, job.live.epoch_rows)  # a worker that dies later leaves its epochs

    def _finish(self, job: _Job) -> None:
        alive = True
        try:
            result: run_files.RunFiles = ray.get(job.result_ref)
        except _PROCESS_DIED as error:
            if local_ray_failure():  # the worker went with Ray itself: the job stays listed as running, and whoever
                return               # starts Ray again (the app's engine) fails it saying why
            alive = False
            self._fail(job, _died_message(error, job))
        except ray.exceptions.RayTaskError as error:
            cause = error.cause if getattr(error, "cause", None) is not None else error
            self._fail(job, f"Training failed: {type(cause).__name__}: {cause}")
        except Exception as error:
            self._fail(job, f"Training failed: {type(error).__name__}: {error}")
        else:
            self._save(job, result)
        finally:
            self._release(job, alive)

    def _save(self, job: _Job, result: run_files.RunFiles) -> None:
        try:
            if job.run_dir is None:
                if result.run_config is None:
                    raise ValueError("the worker sent no config.json")
                run_dir = runs.create_run(result.run_config, self.runs_dir)
                with self._lock:
                    job.run_dir = job.live.run_dir = run_dir
            run_files.write_into(job.run_dir, result)
        except OSError as error:
            self._fail(job, f"The training ended ({result.state}) but its run could not be saved: {describe_os_error(error)}")
            return
        except (ValueError, runs.RunError) as error:
            self._fail(job, f"The training ended ({result.state}) but its run could not be saved: {error}")
            return
        with self._lock:
            job.metrics = result.metrics or None
            if result.metrics.get("pending"):
                self._touch_ups.append(_TouchUp(job.job_id, job.run_dir, job.dataset_ref))
                job.touches_pending = True
            self._end(job, result.state, result.message)
            self._measure_overhead(job, result.seconds)

    def _measure_overhead(self, job: _Job, training_s: float | None) -> None:
        """Split a finished job's time into training and overhead; completed jobs' overheads make the estimates."""
        if training_s is None or job.started_at is None or job.finished_at is None:
            return
        job.training_s = training_s
        job.overhead_s = max(0.0, job.finished_at - job.started_at - training_s)
        if job.state == "completed" and job.first_batch_seen_at is not None:
            start = max(0.0, job.first_batch_seen_at - job.started_at)
            self._overheads.append((start, max(0.0, job.overhead_s - start)))
        if job.run_dir is not None:
            try:
                runs.record_queue_times(job.run_dir, {"submitted_at": job.submitted_at, "left_line_at": job.started_at,
                                                      "first_batch_at": job.first_batch_seen_at, "training_s": job.training_s,
                                                      "overhead_s": job.overhead_s})
            except (OSError, runs.RunError) as error:  # the figures are a record; the run itself is saved
                logger.warning("Could not record the queue's times in %s: %s", job.run_dir, error)

    def _fail(self, job: _Job, message: str) -> None:
        if job.run_dir is not None:
            try:
                runs.write_history(job.run_dir, job.live.epoch_rows)
                runs.update_status(job.run_dir, "failed", message)
            except (OSError, runs.RunError) as error:
                logger.warning("Could not mark run %s failed: %s", job.run_dir, error)
        with self._lock:
            self._end(job, "failed", message)

    def _end(self, job: _Job, state: str, message: str) -> None:
        """Call with the lock held."""
        job.state, job.message, job.finished_at = state, message, time.time()
        self._save_state()
        job.live.finish()
        job.dataset_ref = None  # the store keeps the dataset while the queue or another job holds it
        if job.live.snapshot().batches:
            self._finished_with_batches.append(job.job_id)
            while len(self._finished_with_batches) > KEEP_BATCHES_OF_FINISHED:
                self._jobs[self._finished_with_batches.popleft()].live.forget_batches()

    def _release(self, job: _Job, alive: bool = True) -> None:
        """Give the job's worker back to the pool (ended if it died or has run its share of jobs), and forget the
        job's relay entry."""
        worker, job.pool_worker, job.actor, job.result_ref = job.pool_worker, None, None, None
        if worker is not None:
            self._pool.give_back(worker, alive)
        try:
            if ray.is_initialized():
                self._relay.forget.remote(job.job_id)
        except Exception as error:  # Ray is shutting down
            logger.debug("Could not release the worker of job %s: %s", job.job_id, error)

    @property
    def capacity_problem(self) -> str:
        """Why no training can start however long the line waits ("" when one can): no machine offers its share."""
        return self._capacity_problem

    def _check_capacity(self, cpus: float, gpus: float) -> bool:
        """Whether some machine of the cluster can take a training of this share; says why not otherwise."""
        largest_cpus, largest_gpus = largest_node("CPU"), largest_node("GPU")
        if largest_cpus >= cpus and largest_gpus >= gpus:
            self._capacity_problem = ""
            return True
        self._capacity_problem = (
            f"No machine in the Ray cluster offers the {cpus:g} CPU{'s' if cpus != 1 else ''} a training needs (the "
            f"largest offers {largest_cpus:g}): start a worker on a machine with CPUs, with `ray start --address=HEAD:6379` "
            "(the head's address). The trainings wait in line and start as soon as one joins.")
        return False

    def _start_waiting_jobs(self) -> None:
        if self._closed:
            return
        limit = self.concurrency  # asks Ray what the cluster holds: outside the lock, which the pages wait for
        cpus, gpus = self._share = job_share(limit, self._cpus_per_job)
        if not self._check_capacity(cpus, gpus):
            return
        if self._warm_up:
            self._pool.warm_up(limit - (self._touching is not None), cpus, gpus)
        while True:
            with self._lock:
                running = sum(job.state == "running" for job in self._jobs.values())
                if not self._line or running >= limit or self._closed:
                    return
            # Outside the lock: taking a waiting worker asks it whether it is still alive.
            worker = self._pool.take(cpus, gpus, limit - (self._touching is not None))
            if worker is None:
                if self._touching is not None:  # the last free worker is doing a run's finishing touches: it gives way
                    self._relay.request_stop.remote(self._touching.touch_id)
                return
            with self._lock:
                if not self._line or self._closed:
                    self._pool.give_back(worker)
                    return
                job = self._jobs[self._line.popleft()]
                worker.jobs += 1
                job.pool_worker, job.actor, job.cpus, job.gpus = worker, worker.actor, worker.cpus, worker.gpus
                job.result_ref = worker.actor.train.remote(job.config, job.dataset_ref, self._relay, job.job_id)
                job.state, job.started_at = "running", time.time()
                self._save_state()

    # ------------------------------------------------------------ finishing touches, when nobody waits

    def _start_touch_up(self) -> None:
        with self._lock:
            busy = self._closed or self._line or any(job.state == "running" for job in self._jobs.values())
            if busy or self._touching is not None or not self._touch_ups or self._capacity_problem:
                return
            touch = self._touch_ups.popleft()
        try:
            files = run_files.collect(touch.run_dir, "completed", only=run_files.TOUCH_UP_INPUTS)
        except OSError as error:  # the run was deleted meanwhile, or its disk refuses: nothing to finish
            logger.info("Skipping the finishing touches of %s: %s", touch.run_dir, describe_os_error(error))
            return
        limit = self.concurrency
        worker = self._pool.take(*job_share(limit, self._cpus_per_job), limit)
        if worker is None:
            self._touch_ups.appendleft(touch)
            return
        touch.worker, touch.touch_id = worker, f"touch-{uuid.uuid4().hex[:12]}"
        touch.result_ref = worker.actor.touch_up.remote(files, touch.dataset_ref, self._relay, touch.touch_id)
        self._touching = touch

    def _collect_touch_up(self) -> None:
        touch = self._touching
        if touch is None or not ray.wait([touch.result_ref], timeout=0)[0]:
            return
        self._touching = None
        alive = True
        try:
            result = ray.get(touch.result_ref)
        except _PROCESS_DIED as error:
            alive, result = False, error
        except Exception as error:
            result = error
        self._pool.give_back(touch.worker, alive)
        self._relay.forget.remote(touch.touch_id)
        if result is None:  # it gave way to a student's job: again when the line is empty
            self._touch_ups.appendleft(touch)
            return
        with self._lock:
            job = self._jobs.get(touch.job_id)
            if job is not None:
                job.touches_pending = False
        metrics = None
        try:
            if isinstance(result, Exception):
                logger.warning("The finishing touches of %s failed: %s", touch.run_dir, result)
                metrics = _give_up_touches(touch.run_dir)
            elif touch.run_dir.is_dir():  # deleted meanwhile: nothing to write into
                run_files.write_into(touch.run_dir, result, with_status=False)
                metrics = json.loads(result.files[runs.METRICS_FILE]) if runs.METRICS_FILE in result.files else None
            else:
                return
        except (OSError, ValueError, runs.RunError) as error:
            logger.warning("Could not write the finishing touches of %s: %s", touch.run_dir, error)
            return
        with self._lock:
            job = self._jobs.get(touch.job_id)
            if job is not None and metrics:
                job.metrics = metrics

    # ------------------------------------------------------------ the state file

    def _save_state(self) -> None:
        """Write the unfinished jobs to the state file (call with the lock held). A disk that refuses is logged, not
        raised: the queue itself lives in memory, and the trainings must go on."""
        if self.state_file is None or self._state_frozen:
            return
        unfinished = [SavedJob(job.job_id, job.owner, job.state, job.submitted_at, job.started_at,
                               job.run_dir.name if job.run_dir else None, job.config)
                      for job in self._jobs.values() if job.state in ("queued", "running")]
        try:
            write_jobs(self.state_file, unfinished)
        except OSError as error:
            logger.warning("Could not save the training queue to %s: %s", self.state_file, describe_os_error(error))

    def _take_over_state_file(self, previous_end: str) -> None:
        """List the jobs a previous queue left unfinished as ended, saying why (see the module's docstring); a damaged
        file is kept aside and its problems told to the owners they concern. One write at the end, however many."""
        if self.state_file is None:
            return
        outcome = read_jobs(self.state_file)
        if outcome.problems:
            aside = f"; the file was kept as {outcome.kept_aside.name}" if outcome.kept_aside else ""
            logger.warning("The training queue's file %s was damaged (%s)%s", self.state_file,
                           "; ".join(problem for _, problem in outcome.problems[:5]), aside)
            for owner in dict.fromkeys(owner for owner, _ in outcome.problems if owner is not None):
                self._notices.append((owner, f"{previous_end}, and one of your trainings could not be read back from "
                                             f"the queue's file, so it was not run: train it again."))
            entries = [problem for _, problem in outcome.problems if problem.startswith("entry ")]
            whole_file = [problem for _, problem in outcome.problems if not problem.startswith("entry ")]
            said = (f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} could not be read ({entries[0]})" if entries
                    else f"{whole_file[0]}, so none of its trainings were run")
            self._notices.append((None, f"The training queue's file {self.state_file.name} was damaged: {said}{aside}."))
        self._state_frozen = True  # one write below, not one per job
        try:
            for saved in outcome.jobs:
                job = _Job(saved.job_id, saved.owner, saved.config, None, saved.submitted_at)
                was_running = saved.state == "running"
                job.started_at = saved.started_at
                if saved.run is not None:
                    job.run_dir = (self.runs_dir or default_runs_dir()) / saved.run
                self._jobs[job.job_id] = job
                message = (RESTARTED_RUNNING if was_running else RESTARTED_WAITING).format(why=previous_end)
                self._end(job, "failed" if was_running else "cancelled", message)
                if was_running and job.run_dir is not None:
                    mark_run_failed(job.run_dir, message)
        finally:
            self._state_frozen = False
        self._save_state()

    # ------------------------------------------------------------ helpers

    def _job(self, job_id: str) -> _Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise QueueError(f"No training job {job_id!r} in the queue.") from None

    @staticmethod
    def _info(job: _Job, place: int | None) -> JobInfo:
        return JobInfo(job.job_id, job.owner, job.config, job.state, place, job.submitted_at, job.started_at, job.finished_at,
                       job.message, job.run_dir, dict(job.metrics) if job.metrics else None, job.cpus, job.gpus, job.worker,
                       job.stop_requested, job.training_s, job.overhead_s, job.touches_pending)


@functools.lru_cache(maxsize=64)
def _forward_flops(arch: str, options: str, num_classes: int) -> float | None:
    """One image's forward-pass arithmetic of this architecture (`options`: its JSON); None where it cannot be told."""
    try:
        return float(forward_flops(build_model(arch, num_classes, **json.loads(options))))
    except Exception:  # a guess only: the settings were checked before
        return None


def _give_up_touches(run_dir: Path) -> dict | None:
    """Drop the "pending" list of a run whose finishing touches will not come; its metrics, or None."""
    try:
        metrics = dict(runs.load_run(run_dir).metrics or {})
        if metrics.pop("pending", None) is not None:
            runs.write_metrics(run_dir, metrics)
        return metrics
    except (OSError, runs.RunError) as error:
        logger.warning("Could not update the metrics of %s: %s", run_dir, error)
        return None


def _checked_cap(limit: int | None) -> int | None:
    return _checked_whole(limit, MAX_CAP, "The most trainings in the class's line")


def _checked_concurrency(concurrency: int | None) -> int | None:
    return _checked_whole(concurrency, MAX_CONCURRENCY, "Trainings at once")


def _checked_whole(value: int | None, highest: int, what: str) -> int | None:
    """`value` when it is None or a whole number from 1 to `highest`; QueueError naming `what` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= highest:
        raise QueueError(f"{what} must be a whole number from 1 to {highest:,}, not {value!r}.")
    return value


def _died_message(error: Exception, job: _Job) -> str:
    epochs = len(job.live.epoch_rows)
    kept = f"the {epochs} epoch{'s' if epochs != 1 else ''} done {'are' if epochs != 1 else 'is'} kept" if epochs else "nothing was saved"
    if isinstance(error, getattr(ray.exceptions, "OutOfMemoryError", ())):
        why = "Ray ended the training process because its machine ran out of memory"
    elif isinstance(error, getattr(ray.exceptions, "NodeDiedError", ())):
        why = "The machine training it left the Ray cluster"
    else:
        why = "The training process died (killed, or out of memory)"
    return f"{why} before the run finished; {kept}, the model is not. Try a smaller batch size or train subset, or train it again."
