"""The training queue's file (`artifacts/queue.json`): its unfinished jobs, and the lock that makes it one queue's.

One artifacts folder has one queue. A queue holds `QueueFileLock` on `queue.json.lock` for its life: an exclusive
`flock`, which the operating system lets go when its process ends however it ends (so a lock is never stale), and in
the file the holder's process id, host and start time, for the message a second server gets.

`read_jobs` checks every entry: a file that is not JSON, too deep to read, or that holds entries that cannot be a job
is kept aside as `queue.json.damaged-<time>` (never silently emptied), the entries that can be read are kept, and
each problem is reported (to the entry's owner where its owner can be read).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cifar_cnn import runs
from cifar_cnn.classroom.cluster import QueueError
from cifar_cnn.training import TrainConfig

logger = logging.getLogger(__name__)

UNFINISHED_STATES = ("queued", "running")
MAX_JOB_ID_LENGTH = 64


@dataclass(frozen=True)
class SavedJob:
    """An unfinished job as the file lists it."""

    job_id: str
    owner: str
    state: str  # "queued" or "running"
    submitted_at: float
    started_at: float | None
    run: str | None  # the run folder's name, once the worker started training
    config: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "owner": self.owner, "state": self.state, "submitted_at": self.submitted_at,
                "started_at": self.started_at, "run": self.run, "config": self.config.to_dict()}


@dataclass
class ReadOutcome:
    jobs: list[SavedJob] = field(default_factory=list)
    problems: list[tuple[str | None, str]] = field(default_factory=list)  # (owner where known, what was wrong)
    kept_aside: Path | None = None  # where the damaged file went


def write_jobs(path: Path, jobs: list[SavedJob]) -> None:
    """Replace the file with these jobs, atomically (a reader sees the old file or the new, never half of one)."""
    text = json.dumps({"jobs": [job.to_dict() for job in jobs]}, indent=1)
    runs.atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def mark_running_jobs_failed(path: Path, runs_dir: Path, message: str) -> int:
    """Mark the run folders of the jobs the file lists as running failed, with `message` (their engine is gone);
    the file itself is left for the next engine to take over. Returns how many were marked."""
    return sum(mark_run_failed(runs_dir / job.run, message)
               for job in read_jobs(path, keep_aside=False).jobs if job.state == "running" and job.run)


def mark_run_failed(run_dir: Path, message: str) -> bool:
    """Mark a run folder failed with `message`; False (logged) when it is gone or its disk refuses."""
    if not run_dir.is_dir():
        return False
    try:
        runs.update_status(run_dir, "failed", message)
        return True
    except (OSError, runs.RunError) as error:
        logger.warning("Could not mark run %s failed: %s", run_dir, error)
        return False


def read_jobs(path: Path, keep_aside: bool = True) -> ReadOutcome:
    """The file's unfinished jobs, each checked; a damaged file is renamed aside (see the module's docstring) unless
    `keep_aside` is False. A missing file is an empty queue."""
    outcome = ReadOutcome()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return outcome
    except (OSError, UnicodeDecodeError) as error:
        outcome.problems.append((None, f"it could not be read ({error})"))
        _keep_aside(path, outcome, keep_aside)
        return outcome
    try:
        data = json.loads(text)
    except RecursionError:
        data, problem = None, "it is nested too deeply to read"
    except ValueError as error:
        data, problem = None, f"it is not JSON ({error})"
    else:
        problem = "" if isinstance(data, dict) and isinstance(data.get("jobs"), list) else 'it does not hold a "jobs" list'
    if problem:
        outcome.problems.append((None, problem))
        _keep_aside(path, outcome, keep_aside)
        return outcome
    seen: set[str] = set()
    for number, entry in enumerate(data["jobs"], start=1):
        try:
            job = _checked_entry(entry)
            if job.job_id in seen:
                raise ValueError(f"job id {job.job_id!r} is listed twice")
        except Exception as error:  # noqa: BLE001 - any entry that cannot be a job is skipped, saying why
            owner = entry.get("owner") if isinstance(entry, dict) and isinstance(entry.get("owner"), str) else None
            outcome.problems.append((owner, f"entry {number}: {_short(error)}"))
            continue
        seen.add(job.job_id)
        outcome.jobs.append(job)
    if outcome.problems:
        _keep_aside(path, outcome, keep_aside)
    return outcome


def _checked_entry(entry: Any) -> SavedJob:
    if not isinstance(entry, dict):
        raise ValueError(f"it is {type(entry).__name__}, not an object")
    job_id, owner, state = entry.get("job_id"), entry.get("owner", ""), entry.get("state")
    if not isinstance(job_id, str) or not job_id.isalnum() or len(job_id) > MAX_JOB_ID_LENGTH:
        raise ValueError(f"its job id {job_id!r} is not a short string of letters and digits")
    if not isinstance(owner, str):
        raise ValueError(f"its owner {owner!r} is not text")
    if state not in UNFINISHED_STATES:
        raise ValueError(f"its state {state!r} is not one of {', '.join(UNFINISHED_STATES)}")
    submitted_at, started_at = entry.get("submitted_at"), entry.get("started_at")
    if not _is_time(submitted_at):
        raise ValueError(f"its submission time {submitted_at!r} is not a time")
    started_at = float(started_at) if state == "running" and _is_time(started_at) else None
    run = entry.get("run")
    run = run if state == "running" and isinstance(run, str) and _is_folder_name(run) else None
    config = entry.get("config")
    if not isinstance(config, dict):
        raise ValueError(f'its "config" is {type(config).__name__}, not an object of settings')
    return SavedJob(job_id, owner, state, float(submitted_at), started_at, run, TrainConfig.from_dict(config))


def _is_folder_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and "\0" not in name and name not in (".", "..")


def _is_time(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e11


def _short(error: Exception) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


def _keep_aside(path: Path, outcome: ReadOutcome, wanted: bool = True) -> None:
    if not wanted:
        return
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        os.replace(path, aside)
        outcome.kept_aside = aside
    except OSError as error:
        outcome.problems.append((None, f"it could not be kept aside as {aside.name} ({error})"))


class QueueFileLock:
    """The exclusive right to run the queue of one artifacts folder (see the module's docstring)."""

    def __init__(self, state_file: Path, app_pid: int | None = None):
        """`app_pid`: the app this process works for, when it is the app's training engine (named to a second app)."""
        self.path = Path(f"{state_file}.lock")
        self.app_pid = app_pid
        self._handle = None

    def acquire(self) -> None:
        """Take the lock, or raise QueueError naming the process that holds it and what to do."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")  # not truncated: the holder's details stay readable
        except OSError as error:
            raise QueueError(f"Cannot open the training queue's lock {self.path}: {error.strerror or error}. Check that "
                             "the artifacts folder is writable by the user who runs the app, or start the app with "
                             "another folder (CIFAR_CNN_ARTIFACTS=/some/other/folder).") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read()
            handle.close()
            raise QueueError(_held_message(self.path, holder)) from None
        except OSError:
            handle.close()
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "app_pid": self.app_pid, "host": socket.gethostname(),
                                 "started_at": time.time()}))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing lets the lock go
            self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None


def _held_message(path: Path, holder: str) -> str:
    try:
        details = json.loads(holder)
        app = f" (the training engine of the app in process {int(details['app_pid'])})" if details.get("app_pid") else ""
        who = (f"process {int(details['pid'])}{app} on {details.get('host', 'this machine')}, "
               f"started {time.strftime('%Y-%m-%d %H:%M', time.localtime(float(details['started_at'])))}")
    except (ValueError, KeyError, TypeError):
        who = "another process"
    return (f"Another app already runs the training queue of {path.parent} ({who}): one artifacts folder has one "
            "queue. Train from that app's address, stop it first, or start this one with another folder "
            "(CIFAR_CNN_ARTIFACTS=/some/other/folder streamlit run streamlit_app.py).")
