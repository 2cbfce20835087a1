"""Training runs on disk: one folder per run under `artifacts/runs/<id>/`.

A run folder holds:

- `config.json`      the training settings and the dataset they ran on
- `status.json`      running, completed, stopped, failed (with its message)
- `history.csv`      one row per epoch: epoch, loss, accuracy, val_loss, val_accuracy, seconds
- `model.keras`      the trained model (takes raw uint8 images)
- `metrics.json`     final train and test accuracy and loss
- `predictions.npz`  test-set class probabilities and labels
- `epochs.npz`       per epoch: the validation set's confusion matrix and a watch set's predicted classes
                     (`EpochRecords`; runs of older versions lack it)

Every file is written atomically (temporary file, then rename), so a crash
never leaves a half-written file behind. A run whose process died while it
was running is reported as `interrupted`. Every file is checked when it is
read (`run_schema`): a run with a file that is missing or holds a wrong value
is listed as `damaged`, with what is wrong, and never breaks a listing.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from cifar_cnn import run_schema
from cifar_cnn.paths import default_runs_dir, describe_os_error, shorten

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
HISTORY_FILE = "history.csv"
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.npz"
EPOCHS_FILE = "epochs.npz"

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
STATES = run_schema.STATES
DAMAGED = "damaged"  # a listed run whose files cannot be used; never written to status.json

# Runs that a thread of this process is training right now. A run file that
# says "running" for this process but is not listed here lost its trainer.
_active_here: set[str] = set()
_active_lock = threading.Lock()


class RunError(Exception):
    """A run folder is missing or damaged."""


@dataclass
class Run:
    run_id: str
    path: Path
    config: dict[str, Any]
    status: dict[str, Any]
    metrics: dict[str, Any] | None = None
    history: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=HISTORY_COLUMNS))

    @property
    def state(self) -> str:
        return self.status["state"]

    @property
    def message(self) -> str:
        return self.status.get("message", "")

    @property
    def has_model(self) -> bool:
        return (self.path / MODEL_FILE).is_file()

    @property
    def has_predictions(self) -> bool:
        return (self.path / PREDICTIONS_FILE).is_file()

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    @property
    def progress(self) -> str:
        """Epochs done against the plan: "3 of 10", or "5 in 10 min" for a run trained for a time budget."""
        if self.state == DAMAGED:
            return "-"
        if self.config.get("minutes"):
            return f"{self.epochs_done} in {self.config['minutes']:g} min"
        return f"{self.epochs_done} of {self.config.get('epochs', '?')}"

    @property
    def duration_s(self) -> float | None:
        started, finished = self.status.get("started_at"), self.status.get("finished_at")
        if started is None or self.state == DAMAGED:
            return None
        return (finished or self.status.get("updated_at") or started) - started


# ---------------------------------------------------------------- writing


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(temporary_path)`, then rename the result onto `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        write(temporary_path)
        os.replace(temporary_path, path)
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        raise


def _write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2, default=_json_default)))


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot store {type(value).__name__} in JSON")


def create_run(config: dict[str, Any], runs_dir: Path | None = None) -> Path:
    """Make a new run folder with its config and a `running` status.

    The folder is filled under a hidden name and then renamed to its id, `<date>-<time>-<arch>`, with `-2`, `-3`...
    after it when trainings start in the same second. Renaming onto a folder that holds files fails, so two processes
    can never get the same id, and a listing never sees a run without its files."""
    runs_dir = Path(runs_dir or default_runs_dir())
    runs_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=runs_dir, prefix=".new-run-"))
    try:
        _write_json(staging / CONFIG_FILE, config)
        _write_json(staging / STATUS_FILE, _running_status())
        # Held while renaming: a thread of this process that reads the new run waits until it is registered as ours.
        with _active_lock:
            run_dir = _claim_run_id(staging, runs_dir, str(config.get("arch", "run")))
            _active_here.add(str(run_dir.resolve()))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return run_dir


def _running_status() -> dict[str, Any]:
    now = time.time()
    return {
        "state": "running",
        "message": "",
        "pid": os.getpid(),
        "process_start": _process_start(os.getpid()),  # with the pid, names this process even after the pid is reused
        "host": socket.gethostname(),
        "started_at": now,
        "updated_at": now,
        "finished_at": None,
    }


def _claim_run_id(staging: Path, runs_dir: Path, arch: str) -> Path:
    """Rename `staging` to the first free id of this second; returns the run folder."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{re.sub(r'[^A-Za-z0-9_-]', '_', arch)[:40]}"
    for number in itertools.count(1):
        run_dir = runs_dir / (base if number == 1 else f"{base}-{number}")
        try:
            os.rename(staging, run_dir)  # replaces only an empty folder; fails on a run (ENOTEMPTY) or a file (ENOTDIR)
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise
            continue
        return run_dir


def update_status(run_dir: Path, state: str, message: str = "") -> None:
    """Record a new state. A final state also marks the run inactive here."""
    if state not in STATES:
        raise ValueError(f"Unknown run state {state!r}")
    status = _read_json(run_dir / STATUS_FILE)
    now = time.time()
    status.update(state=state, message=message, updated_at=now)
    if state != "running":
        status["finished_at"] = now
    _write_json(run_dir / STATUS_FILE, status)
    if state != "running":
        with _active_lock:
            _active_here.discard(str(run_dir.resolve()))


def record_queue_times(run_dir: Path, times: dict[str, float | None]) -> None:
    """Keep in status.json what the classroom queue measured of the run's job ("queue": when it was submitted, left
    the line and trained its first batch; its training and overhead seconds): a class round's figures come from them."""
    status = _read_json(run_dir / STATUS_FILE)
    status["queue"] = {name: round(value, 3) for name, value in times.items() if value is not None}
    _write_json(run_dir / STATUS_FILE, status)


def write_history(run_dir: Path, rows: list[dict[str, float]]) -> None:
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    atomic_write(run_dir / HISTORY_FILE, lambda p: frame.to_csv(p, index=False))


def write_metrics(run_dir: Path, metrics: dict[str, float]) -> None:
    _write_json(run_dir / METRICS_FILE, metrics)


def write_predictions(run_dir: Path, probabilities: np.ndarray, labels: np.ndarray) -> None:
    def save(path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez_compressed(handle, probabilities=probabilities.astype(np.float32), labels=labels.astype(np.int64))

    atomic_write(run_dir / PREDICTIONS_FILE, save)


@dataclass(frozen=True)
class EpochRecords:
    """What the model predicted after each epoch of training (`epochs.npz`), as plain arrays.

    `confusion[e]` is the validation set's confusion matrix after epoch e + 1 (rows true, columns predicted; the
    holdout where the run validated on one, else the test set); `watch_predictions[e]` the classes predicted then for
    the test images `watch_indices`, whose true classes are `watch_labels`."""

    confusion: np.ndarray  # epochs x classes x classes, counts
    watch_indices: np.ndarray  # watched test images
    watch_labels: np.ndarray  # their true classes
    watch_predictions: np.ndarray  # epochs x watched images, predicted classes

    @property
    def epochs(self) -> int:
        return len(self.confusion)


def write_epoch_records(run_dir: Path, records: EpochRecords) -> None:
    def save(path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, confusion=records.confusion.astype(np.int64), watch_indices=records.watch_indices.astype(np.int64),
                     watch_labels=records.watch_labels.astype(np.int64), watch_predictions=records.watch_predictions.astype(np.int64))

    atomic_write(run_dir / EPOCHS_FILE, save)


def save_model(run_dir: Path, model):
    """Save the architecture and every weight, but not the optimizer: runs are for inference, and
    without the optimizer any Keras loads them, whatever custom optimizer trained them. Returns the model as saved
    (uncompiled, outside any distribution strategy)."""
    import keras

    inference_copy = keras.Model.from_config(model.get_config())  # uncompiled, unlike keras.models.clone_model
    inference_copy.set_weights(model.get_weights())
    atomic_write(run_dir / MODEL_FILE, lambda p: inference_copy.save(p))
    return inference_copy


# ---------------------------------------------------------------- reading


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path.name} is missing") from None
    except OSError as error:
        raise RunError(f"{path.name} cannot be read ({error.strerror or error})") from None
    except ValueError as error:  # also UnicodeDecodeError
        raise RunError(f"{path.name} is not valid JSON ({shorten(str(error), 80)})") from None
    if not isinstance(data, dict):
        raise RunError(f"{path.name} holds a JSON {type(data).__name__} where an object belongs")
    return data


def _read_checked_json(path: Path, schema: dict[str, run_schema.Field]) -> dict[str, Any]:
    data = _read_json(path)
    problem = run_schema.object_problem(data, schema)
    if problem:
        raise RunError(f"{path.name}: {problem}")
    return data


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat from the third on (the process' name, which may hold spaces, cut off); None
    where there is no such process or no /proc (not Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return stat[stat.rindex(")") + 2:].split()


def _process_start(pid: int) -> int | None:
    """When process `pid` started, in clock ticks after boot (field 22 of /proc/<pid>/stat), or None where unknown.

    An ended process' id is soon given to another one; the id and its start time together name one process."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None


def _is_python_started_before(pid: int, start_ticks: int, moment: float) -> bool:
    """Whether process `pid` runs Python and started no later than `moment` (a time.time()), as the trainer of a run
    started at `moment` did. For runs of older versions, which recorded the process id alone."""
    try:
        program = os.path.basename(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
    except (OSError, ValueError, StopIteration, IndexError):
        return True  # cannot tell: keep the old answer, that a live id is the trainer
    started = boot + start_ticks / os.sysconf("SC_CLK_TCK")
    # /proc's boot time is in whole seconds and moves when the clock is set: allow a little slack.
    return b"python" in program and started <= moment + 2.0


def _trainer_alive(run_dir: Path, status: dict[str, Any]) -> bool:
    pid = status.get("pid")
    if pid is None:
        return False
    if pid == os.getpid():
        with _active_lock:
            return str(run_dir.resolve()) in _active_here
    if not _process_alive(pid):
        return False
    current_start = _process_start(pid)
    if current_start is None:
        return True  # no /proc: the live id is all there is to go by
    recorded_start = status.get("process_start")
    if recorded_start is None:
        return _is_python_started_before(pid, current_start, status["started_at"])
    return recorded_start == current_start


def _effective_status(run_dir: Path, status: dict[str, Any]) -> dict[str, Any]:
    """Turn a stale `running` into `interrupted` when its trainer is gone, or its process id now names another process."""
    if status["state"] != "running" or status.get("host") != socket.gethostname():
        return status
    if _trainer_alive(run_dir, status):
        return status
    return {**status, "state": "interrupted", "message": "The training process ended before the run finished."}


def _read_history(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as error:  # pandas' parser errors are ValueErrors
        raise RunError(f"{path.name} is not a readable CSV file ({shorten(str(error), 80)})") from None
    problem = run_schema.history_problem(frame, HISTORY_COLUMNS)
    if problem:
        raise RunError(f"{path.name}: {problem}")
    return frame


def _read_run(run_dir: Path) -> Run:
    """The run in `run_dir`, every file checked. Raises RunError with one line naming the file and what is wrong."""
    status = _read_checked_json(run_dir / STATUS_FILE, run_schema.STATUS)
    config = _read_checked_json(run_dir / CONFIG_FILE, run_schema.CONFIG)
    metrics = _read_checked_json(run_dir / METRICS_FILE, run_schema.METRICS) if (run_dir / METRICS_FILE).exists() else None
    return Run(
        run_id=run_dir.name,
        path=run_dir,
        config=config,
        status=_effective_status(run_dir, status),
        metrics=metrics,
        history=_read_history(run_dir / HISTORY_FILE),
    )


def _damaged_run(run_dir: Path, problem: str) -> Run:
    """A listing's entry for a run whose files cannot be used: it shows, with what is wrong, and can be deleted."""
    try:
        modified = run_dir.stat().st_mtime  # when its files last changed: near enough to sort it among the others
    except OSError:
        modified = None
    return Run(run_id=run_dir.name, path=run_dir, config={}, status={"state": DAMAGED, "message": problem, "started_at": modified})


def load_run(run: str | Path, runs_dir: Path | None = None) -> Run:
    """Load a run by id (a folder name under `runs_dir`) or by folder path (see `resolve_run_dir`).

    Raises RunError, one line, for a run that is missing or damaged."""
    run_dir = resolve_run_dir(run, runs_dir)
    try:
        return _read_run(run_dir)
    except RunError as error:
        raise RunError(f"Run {shorten(run_dir.name, 80)} is damaged: {error}.") from None


def resolve_run_dir(run: str | Path, runs_dir: Path | None = None) -> Path:
    """The folder of a run given by id or by path.

    With `runs_dir` given, only its own folders are runs, after resolving symbolic links and `..`: a command line
    must not make the program read any folder on the machine as a run. Without it, a folder path is taken as it is
    (the app and the library pass folders that `list_runs` and `train` gave them), and an id is looked up in the
    default runs folder."""
    try:
        if runs_dir is None and Path(run).is_dir():
            return Path(run)
        return _run_dir_inside(str(run), Path(runs_dir or default_runs_dir()))
    except OSError as error:
        raise RunError(f"{shorten(repr(str(run)), 80)} is not a run: {describe_os_error(error)}") from None


def _run_dir_inside(run: str, runs_dir: Path) -> Path:
    shown = shorten(repr(run), 80)
    how_to_list = "List runs with `python -m cifar_cnn runs`."
    if run:
        root = runs_dir.resolve()
        for candidate in (runs_dir / run, Path(run)):  # an id first; then a path, relative to the working folder
            if candidate.is_dir():
                if candidate.resolve().parent != root:
                    raise RunError(f"{shown} is not a run: runs are the folders in {shorten(str(runs_dir))}. {how_to_list}")
                return candidate
    raise RunError(f"No run {shown} in {shorten(str(runs_dir))}. {how_to_list}")


def list_runs(runs_dir: Path | None = None) -> tuple[list[Run], list[str]]:
    """Every run, newest first, damaged ones included (state `damaged`, message saying what is wrong), and one line
    per damaged run. Raises RunError when the runs folder itself cannot be read."""
    runs_dir = Path(runs_dir or default_runs_dir())
    try:
        if not runs_dir.is_dir():
            return [], []
        folders = sorted(entry for entry in runs_dir.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    except OSError as error:
        raise RunError(f"Cannot read the runs folder: {describe_os_error(error)}") from None
    runs: list[Run] = []
    problems: list[str] = []
    for run_dir in folders:
        try:
            runs.append(_read_run(run_dir))
        except RunError as error:
            runs.append(_damaged_run(run_dir, str(error)))
            problems.append(f"Run {shorten(run_dir.name, 80)} is damaged: {error}.")
    runs.sort(key=lambda run: run.status.get("started_at") or 0, reverse=True)
    return runs, problems


def load_model(run: Run):
    """The run's Keras model, loaded in Keras' safe mode (no arbitrary code)."""
    import keras

    path = run.path / MODEL_FILE
    if not path.is_file():
        raise RunError(f"Run {run.run_id} has no saved model ({path} is missing); it may have failed or been interrupted.")
    # Keras calls a file that is not a zip archive "not found": say what it is.
    if not zipfile.is_zipfile(path):
        raise RunError(_damaged_model_message(run, path, "it is not a Keras model archive"))
    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise RunError(_damaged_model_message(run, path, shorten(str(error), 100))) from None
    except Exception as error:  # Keras raises many types for a file it cannot use
        raise RunError(f"The model file {path} of run {run.run_id} could not be loaded ({shorten(str(error), 200)}); it may be "
                       "damaged or saved by another Keras version. Train the run again, or delete it.") from None


def _damaged_model_message(run: Run, path: Path, detail: str) -> str:
    return f"The model file {path} of run {run.run_id} is damaged ({detail}). Train the run again, or delete it."


def class_names(run: Run, count: int) -> list[str]:
    """The names of the run's `count` classes; their numbers where its config has none (runs of old versions).

    Raises RunError where it names another number of classes than its predictions or model have."""
    names = run.config.get("class_names")
    if not names:
        return [str(index) for index in range(count)]
    if len(names) != count:
        raise RunError(f"Run {run.run_id} names {len(names)} classes but its model has {count}.")
    return [str(name) for name in names]


def dataset_mismatch(run: Run, dataset, labels: np.ndarray | None = None) -> str | None:
    """Why `dataset` is not the one the run was tested on (other class names, other test labels), or None if it is.

    The caller adds how to load the right one (the sidebar, or --data)."""
    same = list(dataset.class_names) == list(run.config.get("class_names", dataset.class_names))
    if labels is not None:
        same = same and len(dataset.y_test) == len(labels) and np.array_equal(dataset.y_test, labels)
    if same:
        return None
    return f"{dataset.source} is not the dataset run {run.run_id} was tested on ({run.config.get('dataset', 'unknown')})"


def load_predictions(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """Test-set class probabilities (N x classes) and true labels (N)."""
    path = run.path / PREDICTIONS_FILE
    if not path.is_file():
        raise RunError(f"Run {run.run_id} has no test predictions ({path} is missing); it may have failed or been interrupted.")
    if path.stat().st_size == 0:  # NumPy would say "No data left in file"
        raise RunError(f"The test predictions of run {run.run_id} are empty ({path} has 0 bytes). Train the run again, or delete it.")
    try:
        with np.load(path, allow_pickle=False) as data:
            probabilities, labels = data["probabilities"], data["labels"]
    except Exception as error:  # NumPy and zipfile raise many types for a damaged file
        raise RunError(f"{path} could not be read ({shorten(str(error), 100)}). Train the run again, or delete it.") from None
    problem = run_schema.predictions_problem(probabilities, labels)
    if problem:
        raise RunError(f"{path} {problem}. Train the run again, or delete it.")
    if len(labels) == 0:
        raise RunError(f"The test set of run {run.run_id} is empty: {path} holds predictions for 0 test images, so there is "
                       "nothing to evaluate. Train it on a dataset with test images, or delete it.")
    return probabilities, labels


def load_epoch_records(run: Run) -> EpochRecords | None:
    """The run's per-epoch records, or None for a run without them (trained by an older version, or that ended before
    its first epoch did). Raises RunError for a file that cannot be read or holds wrong arrays."""
    path = run.path / EPOCHS_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            records = EpochRecords(**{name: data[name] for name in ("confusion", "watch_indices", "watch_labels", "watch_predictions")})
    except Exception as error:  # NumPy and zipfile raise many types for a damaged file
        raise RunError(f"{path} could not be read ({shorten(str(error), 100)}).") from None
    problem = run_schema.epoch_records_problem(records.confusion, records.watch_indices, records.watch_labels, records.watch_predictions)
    if problem:
        raise RunError(f"{path} {problem}.")
    return records


def delete_run(run: str | Path, runs_dir: Path | None = None) -> None:
    """Delete a run folder of `runs_dir` (the default runs folder if None), damaged or not. Refuses a run that is
    still training. Raises RunError, also for what the operating system refuses."""
    run_dir = resolve_run_dir(run, Path(runs_dir or default_runs_dir()))  # never a folder outside the runs
    if not (run_dir / CONFIG_FILE).exists() and not (run_dir / STATUS_FILE).exists():
        raise RunError(f"{run_dir} does not look like a run folder; not deleting it.")
    try:
        status = _effective_status(run_dir, _read_checked_json(run_dir / STATUS_FILE, run_schema.STATUS))
    except RunError:
        status = {}  # a damaged status names no trainer to wait for
    if status.get("state") == "running":
        raise RunError(f"Run {run_dir.name} is still training; stop it before deleting it.")
    try:
        shutil.rmtree(run_dir)
    except OSError as error:
        raise RunError(f"Run {run_dir.name} could not be deleted: {describe_os_error(error)}") from None
