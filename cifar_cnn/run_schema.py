"""What each file of a run folder must hold, checked when it is read.

A run folder is data from disk: an older version, a crash, a hand edit or a
hostile user may have left any value in any field, and one bad value used to
take down `python -m cifar_cnn runs` and every page of the app. Each file kind
has one checker here. A checker returns None when the content is usable and
otherwise one line that names the field and what is wrong with it; `runs`
adds the file's name and lists the run as damaged.

Fields a file lacks are allowed unless marked required: runs written by older
versions lack newer fields, and readers fall back to defaults for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

STATES = ("running", "completed", "stopped", "failed", "interrupted")

# The start of year 3000 as a time: far beyond any real run, and far enough from year 9999 that `datetime.fromtimestamp`,
# which the pages call, cannot overflow in any time zone.
_LAST_TIME = 32503680000
# Linux's largest process id is 2**22; above 2**31 `os.kill` raises OverflowError instead of answering.
_LARGEST_PID = 2**31 - 1


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)  # JSON's true is a Python int


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Kind:
    """A type a field may have: the test, and its name for messages ("... is not a time")."""

    accepts: Callable[[Any], bool]
    name: str


TEXT = Kind(lambda value: isinstance(value, str), "a text")
FLAG = Kind(lambda value: isinstance(value, bool), "true or false")
NUMBER = Kind(_is_number, "a number")
NON_NEGATIVE = Kind(lambda value: _is_number(value) and value >= 0, "a number of at least 0")
SHARE = Kind(lambda value: _is_number(value) and 0 <= value <= 1, "a number from 0 to 1")
WHOLE = Kind(_is_whole, "a whole number")
COUNT = Kind(lambda value: _is_whole(value) and value >= 0, "a whole number of at least 0")
TIME = Kind(lambda value: _is_number(value) and 0 <= value <= _LAST_TIME, "a time (seconds since 1970)")
PROCESS_ID = Kind(lambda value: _is_whole(value) and 0 < value <= _LARGEST_PID, "a process id")  # 0 and -1 would signal whole groups
TEXTS = Kind(lambda value: isinstance(value, list) and all(isinstance(item, str) for item in value), "a list of texts")
OBJECT = Kind(lambda value: isinstance(value, dict), "a JSON object")
STATE = Kind(lambda value: isinstance(value, str) and value in STATES, f"one of {', '.join(STATES)}")


@dataclass(frozen=True)
class Field:
    kind: Kind
    required: bool = False
    nullable: bool = False  # JSON null allowed


# Every setting of TrainConfig (a test checks none is left out), then what `train` adds about the data.
CONFIG = {
    "arch": Field(TEXT),
    "arch_options": Field(OBJECT),
    "epochs": Field(COUNT),
    "minutes": Field(NON_NEGATIVE, nullable=True),
    "batch_size": Field(COUNT),
    "optimizer": Field(TEXT),
    "learning_rate": Field(NUMBER),
    "augment": Field(FLAG),
    "crop_padding": Field(COUNT),
    "alternate_flips": Field(FLAG),
    "validation": Field(TEXT),
    "holdout_fraction": Field(SHARE),
    "subset": Field(COUNT, nullable=True),
    "seed": Field(WHOLE),
    "label_smoothing": Field(NUMBER),
    "schedule": Field(TEXT),
    "shift_lr_scale": Field(NUMBER),
    "weight_decay": Field(NUMBER),
    "lookahead": Field(FLAG),
    "precision": Field(TEXT),
    "flip_tta": Field(FLAG),
    "shift_tta": Field(FLAG),
    "strategy": Field(TEXT),
    "name": Field(TEXT),
    "owner": Field(TEXT),
    "class_names": Field(TEXTS),
    "dataset": Field(TEXT),
    "train_images": Field(COUNT),
    "validation_images": Field(COUNT),
    "test_images": Field(COUNT),
}

STATUS = {
    "state": Field(STATE, required=True),
    "message": Field(TEXT),
    "pid": Field(PROCESS_ID, nullable=True),
    "process_start": Field(COUNT, nullable=True),
    "host": Field(TEXT, nullable=True),
    "started_at": Field(TIME, required=True),
    "updated_at": Field(TIME, nullable=True),
    "finished_at": Field(TIME, nullable=True),
    "queue": Field(OBJECT),  # what the classroom queue measured of the run's job (runs.record_queue_times)
}

METRICS = {
    "train_accuracy": Field(SHARE),  # missing for a training stopped by request, which is measured quickly
    "train_loss": Field(NUMBER),
    "train_accuracy_images": Field(COUNT),  # the sample of training images measured (older runs: all of them)
    "test_accuracy": Field(SHARE, required=True),
    "test_loss": Field(NUMBER, required=True),
    "test_tta": Field(TEXT),  # how the test accuracy was measured, as inference.describe_tta says ("" plainly)
    "pending": Field(TEXTS),  # what training left to `loop.finishing_touches`
}


def shown(value: Any, limit: int = 40) -> str:
    """A value as a message quotes it: its repr (control characters escaped, so it stays on one line), cut short."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def object_problem(data: Any, schema: dict[str, Field]) -> str | None:
    """What is wrong with a JSON file's content against `schema`, or None."""
    if not isinstance(data, dict):
        return f"holds {type(data).__name__} where a JSON object belongs"
    for name, spec in schema.items():
        if name not in data:
            if spec.required:
                return f"{name} is missing"
            continue
        value = data[name]
        if value is None and spec.nullable:
            continue
        if not spec.kind.accepts(value):
            return f"{name} is not {spec.kind.name} ({shown(value)})"
    return None


def history_problem(frame: pd.DataFrame, columns: list[str]) -> str | None:
    """What is wrong with history.csv as read by pandas, or None. Empty cells are allowed (an epoch without validation)."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        return f"lacks the columns {', '.join(missing)}"
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        words = values.isna() & frame[column].notna()
        if words.any():
            row = int(np.flatnonzero(words.to_numpy())[0])
            return f"{column} in row {row + 1} is not a number ({shown(frame[column].iloc[row])})"
    return None


def predictions_problem(probabilities: np.ndarray, labels: np.ndarray) -> str | None:
    """What is wrong with the arrays of predictions.npz, or None."""
    if probabilities.ndim != 2 or labels.shape != (probabilities.shape[0],):
        return f"holds arrays of unexpected shapes {probabilities.shape} and {labels.shape}"
    if not np.issubdtype(probabilities.dtype, np.floating) or not np.issubdtype(labels.dtype, np.integer):
        return f"holds {probabilities.dtype} probabilities and {labels.dtype} labels, not numbers and whole numbers"
    if len(labels) and (labels.min() < 0 or labels.max() >= probabilities.shape[1]):
        return f"holds labels from {labels.min()} to {labels.max()} for {probabilities.shape[1]} classes"
    return None


def epoch_records_problem(confusion: np.ndarray, indices: np.ndarray, labels: np.ndarray, predictions: np.ndarray) -> str | None:
    """What is wrong with the arrays of epochs.npz, or None: per epoch a square matrix of counts and the watch set's
    predicted classes, one row each."""
    if confusion.ndim != 3 or confusion.shape[1] != confusion.shape[2] or 0 in confusion.shape:
        return f"holds a confusion array of shape {confusion.shape}, not one square matrix per epoch"
    if indices.ndim != 1 or labels.shape != indices.shape or predictions.shape != (confusion.shape[0], len(indices)):
        return (f"holds watch-set arrays of shapes {indices.shape}, {labels.shape} and {predictions.shape} "
                f"for {confusion.shape[0]} epochs")
    arrays = (confusion, indices, labels, predictions)
    if not all(np.issubdtype(array.dtype, np.integer) for array in arrays):
        return "holds arrays that are not whole numbers"
    classes = confusion.shape[1]
    if confusion.min() < 0 or (len(indices) and (indices.min() < 0 or min(labels.min(), predictions.min()) < 0
                                                 or max(labels.max(), predictions.max()) >= classes)):
        return f"holds counts, indices or classes outside their range (negative, or a class past the {classes} classes)"
    return None
