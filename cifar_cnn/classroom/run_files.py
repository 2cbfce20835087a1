"""A finished run's files as one object: collected by the worker from its temporary run folder, written by the app.

A worker may run on another machine than the app, so it never writes into `artifacts/runs/`: `train` writes the run
into a temporary folder of the worker, `collect` reads it into a `RunFiles` (the file contents, the final state and
message), Ray carries that back, and `write_into` writes every file into the app's run folder with the project's
atomic writes (`runs.atomic_write`), the status last, so a listing never sees a finished run without its files.
The result is the folder that `train(config, dataset, runs_dir=...)` writes in-process: the same files, with the same
contents, except the status, which names the app's process as the run's owner (a run whose app ended shows as
interrupted, as an in-process run whose process ended does).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from cifar_cnn import runs


# What a worker needs of a finished run to do its finishing touches (`loop.finishing_touches`).
TOUCH_UP_INPUTS = (runs.MODEL_FILE, runs.METRICS_FILE, runs.CONFIG_FILE)


@dataclass(frozen=True)
class RunFiles:
    state: str  # completed, stopped or failed
    message: str
    metrics: dict[str, float]
    files: dict[str, bytes] = field(default_factory=dict)  # path inside the run folder ("model.keras") -> contents; no status.json
    seconds: float | None = None  # of training (its batches, as the worker timed them), or of the finishing touches

    @property
    def run_config(self) -> dict | None:
        """The run's config.json, as `train` wrote it in the worker."""
        data = self.files.get(runs.CONFIG_FILE)
        return json.loads(data) if data is not None else None

    @property
    def size(self) -> int:
        return sum(len(data) for data in self.files.values())


def collect(run_dir: Path, state: str, message: str = "", metrics: dict[str, float] | None = None,
            only: Sequence[str] | None = None) -> RunFiles:
    """Every file of the run folder `run_dir` but its status (the app keeps its own), read into memory; with `only`,
    the files whose paths match one of those patterns (fnmatch's, "inside/*")."""
    files = {}
    for path in sorted(run_dir.rglob("*")):
        name = path.relative_to(run_dir).as_posix()
        wanted = only is None or any(fnmatch.fnmatchcase(name, pattern) for pattern in only)
        if path.is_file() and name != runs.STATUS_FILE and _safe_name(name) and wanted:
            files[name] = path.read_bytes()
    return RunFiles(state, message, dict(metrics or {}), files)


def with_timing(run_files: RunFiles, seconds: float) -> RunFiles:
    return replace(run_files, seconds=round(float(seconds), 3))


def write_into(run_dir: Path, run_files: RunFiles, with_status: bool = True) -> None:
    """Write the files into the app's `run_dir` (each atomically), then its final state and message (unless
    `with_status` is False: the finishing touches of a run already finished change none)."""
    for name, data in run_files.files.items():
        if not _safe_name(name):
            raise ValueError(f"A worker sent a run file named {name!r}, which is not a file name inside a run folder.")
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        runs.atomic_write(run_dir / name, lambda path, data=data: path.write_bytes(data))
    if with_status:
        runs.update_status(run_dir, run_files.state, run_files.message)


def _safe_name(name: str) -> bool:
    """A relative path that stays inside the run folder and is no hidden (half-written) file."""
    path = PurePosixPath(name)
    return bool(path.parts) and not path.is_absolute() and not any(part in ("", ".", "..") or part.startswith(".") for part in path.parts)
