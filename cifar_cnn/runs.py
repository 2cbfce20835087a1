"""Training runs on disk: one folder per run under `artifacts/runs/<id>/`.

A run folder holds:

- `config.json`      the training settings and the dataset they ran on
- `status.json`      running, completed, stopped, failed (with its message)
- `history.csv`      one row per epoch: epoch, loss, accuracy, val_loss, val_accuracy, seconds
- `model.keras`      the trained model (takes raw uint8 images)
- `metrics.json`     final train and test accuracy and loss
- `predictions.npz`  test-set class probabilities and labels

Every file is written atomically (temporary file, then rename), so a crash
never leaves a half-written file behind. A run whose process died while it
was running is reported as `interrupted`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from cifar_cnn.paths import default_runs_dir

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
HISTORY_FILE = "history.csv"
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.npz"

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
STATES = ("running", "completed", "stopped", "failed", "interrupted")

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
        if self.config.get("minutes"):
            return f"{self.epochs_done} in {self.config['minutes']:g} min"
        return f"{self.epochs_done} of {self.config.get('epochs', '?')}"

    @property
    def duration_s(self) -> float | None:
        started, finished = self.status.get("started_at"), self.status.get("finished_at")
        if started is None:
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


def new_run_id(arch: str, runs_dir: Path) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_id = f"{stamp}-{arch}"
    suffix = 2
    while (runs_dir / run_id).exists():
        run_id = f"{stamp}-{arch}-{suffix}"
        suffix += 1
    return run_id


def create_run(config: dict[str, Any], runs_dir: Path | None = None) -> Path:
    """Make a new run folder with its config and a `running` status."""
    runs_dir = Path(runs_dir or default_runs_dir())
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id(str(config.get("arch", "run")), runs_dir)
    run_dir = runs_dir / run_id
    run_dir.mkdir()
    _write_json(run_dir / CONFIG_FILE, config)
    now = time.time()
    with _active_lock:
        _active_here.add(str(run_dir.resolve()))
    _write_json(
        run_dir / STATUS_FILE,
        {
            "state": "running",
            "message": "",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": now,
            "updated_at": now,
            "finished_at": None,
        },
    )
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


def save_model(run_dir: Path, model) -> None:
    """Save the architecture and every weight, but not the optimizer: runs are for inference, and
    without the optimizer any Keras loads them, whatever custom optimizer trained them."""
    import keras

    inference_copy = keras.Model.from_config(model.get_config())  # uncompiled, unlike keras.models.clone_model
    inference_copy.set_weights(model.get_weights())
    atomic_write(run_dir / MODEL_FILE, lambda p: inference_copy.save(p))


# ---------------------------------------------------------------- reading


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path} is missing.") from None
    except (OSError, ValueError) as error:
        raise RunError(f"{path} is not valid JSON ({error}).") from None
    if not isinstance(data, dict):
        raise RunError(f"{path} does not hold a JSON object.")
    return data


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _effective_status(run_dir: Path, status: dict[str, Any]) -> dict[str, Any]:
    """Turn a stale `running` into `interrupted` when its trainer is gone."""
    if status.get("state") != "running" or status.get("host") != socket.gethostname():
        return status
    pid = status.get("pid")
    if pid == os.getpid():
        with _active_lock:
            alive = str(run_dir.resolve()) in _active_here
    else:
        alive = isinstance(pid, int) and _process_alive(pid)
    if alive:
        return status
    return {**status, "state": "interrupted", "message": "The training process ended before the run finished."}


def _read_history(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise RunError(f"{path} is not a readable CSV file ({error}).") from None
    missing = [column for column in HISTORY_COLUMNS if column not in frame.columns]
    if missing:
        raise RunError(f"{path} lacks the columns {', '.join(missing)}.")
    return frame


def load_run(run: str | Path, runs_dir: Path | None = None) -> Run:
    """Load a run by folder path or by id (a folder name under `runs_dir`)."""
    run_dir = resolve_run_dir(run, runs_dir)
    status = _read_json(run_dir / STATUS_FILE)
    if status.get("state") not in STATES:
        raise RunError(f"{run_dir / STATUS_FILE} has an unknown state {status.get('state')!r}.")
    metrics = _read_json(run_dir / METRICS_FILE) if (run_dir / METRICS_FILE).exists() else None
    return Run(
        run_id=run_dir.name,
        path=run_dir,
        config=_read_json(run_dir / CONFIG_FILE),
        status=_effective_status(run_dir, status),
        metrics=metrics,
        history=_read_history(run_dir / HISTORY_FILE),
    )


def resolve_run_dir(run: str | Path, runs_dir: Path | None = None) -> Path:
    candidate = Path(run)
    if not candidate.is_dir():
        runs_dir = Path(runs_dir or default_runs_dir())
        candidate = runs_dir / str(run)
        if str(run) in ("", ".", "..") or candidate.resolve().parent != runs_dir.resolve():
            raise RunError(f"{run!r} is not a run id. List runs with `python -m cifar_cnn runs`.")
    if not candidate.is_dir():
        raise RunError(f"No run {str(run)!r} in {runs_dir}. List runs with `python -m cifar_cnn runs`.")
    return candidate


def list_runs(runs_dir: Path | None = None) -> tuple[list[Run], list[str]]:
    """All readable runs, newest first, and one message per damaged run folder."""
    runs_dir = Path(runs_dir or default_runs_dir())
    runs: list[Run] = []
    problems: list[str] = []
    if not runs_dir.is_dir():
        return runs, problems
    for run_dir in sorted(runs_dir.iterdir()):
        if not run_dir.is_dir() or run_dir.name.startswith("."):
            continue
        try:
            runs.append(load_run(run_dir))
        except RunError as error:
            problems.append(f"Skipped damaged run {run_dir.name}: {error}")
    runs.sort(key=lambda run: run.status.get("started_at") or 0, reverse=True)
    return runs, problems


def load_model(run: Run):
    """The run's Keras model, loaded in Keras' safe mode (no arbitrary code)."""
    import keras

    path = run.path / MODEL_FILE
    if not path.is_file():
        raise RunError(f"Run {run.run_id} has no saved model ({path} is missing); it may have failed or been interrupted.")
    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many types for a damaged file
        raise RunError(f"{path} could not be loaded: {error}") from None


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
    try:
        with np.load(path, allow_pickle=False) as data:
            probabilities, labels = data["probabilities"], data["labels"]
    except Exception as error:
        raise RunError(f"{path} could not be read: {error}") from None
    if probabilities.ndim != 2 or labels.shape != (probabilities.shape[0],):
        raise RunError(f"{path} holds arrays of unexpected shapes {probabilities.shape} and {labels.shape}.")
    return probabilities, labels


def delete_run(run: str | Path, runs_dir: Path | None = None) -> None:
    """Delete a run folder. Refuses a run that is still training."""
    run_dir = resolve_run_dir(run, runs_dir)
    if not (run_dir / CONFIG_FILE).exists() and not (run_dir / STATUS_FILE).exists():
        raise RunError(f"{run_dir} does not look like a run folder; not deleting it.")
    try:
        status = _effective_status(run_dir, _read_json(run_dir / STATUS_FILE))
    except RunError:
        status = {}
    if status.get("state") == "running":
        raise RunError(f"Run {run_dir.name} is still training; stop it before deleting it.")
    shutil.rmtree(run_dir)
