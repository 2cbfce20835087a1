"""What the Evaluate and Predict pages load from a run, cached at the data boundary.

Keys include the file's modification time, so a rewritten run is reloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from cifar_cnn import evaluation, runs
from cifar_cnn.gradcam import GradCam


def _stamp(run: runs.Run, file_name: str) -> float:
    path = run.path / file_name
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(show_spinner="Loading the model...", max_entries=4)
def _model(path: str, stamp: float):
    return runs.load_model(runs.load_run(Path(path)))


def model(run: runs.Run):
    return _model(str(run.path), model_stamp(run))


def model_stamp(run: runs.Run) -> float:
    """The model file's modification time: part of the key of everything cached from the model."""
    return _stamp(run, runs.MODEL_FILE)


def model_at(path: str, stamp: float):
    """The cached model, for another cached function keyed on (path, `model_stamp`)."""
    return _model(path, stamp)


@st.cache_resource(max_entries=4)
def _gradcam(path: str, stamp: float) -> GradCam:
    return GradCam(_model(path, stamp))


def gradcam(run: runs.Run) -> GradCam:
    return _gradcam(str(run.path), _stamp(run, runs.MODEL_FILE))


@st.cache_resource(max_entries=8)
def _predictions(path: str, stamp: float):
    probabilities, labels = runs.load_predictions(runs.load_run(Path(path)))
    probabilities.setflags(write=False)
    labels.setflags(write=False)
    return probabilities, labels, evaluation.predicted_classes(probabilities)


def predictions(run: runs.Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities, true labels, predicted classes) of the run's test set."""
    return _predictions(str(run.path), _stamp(run, runs.PREDICTIONS_FILE))


@st.cache_data(max_entries=8)
def _confusion(path: str, stamp: float) -> np.ndarray:
    probabilities, labels, _ = _predictions(path, stamp)
    return evaluation.confusion(probabilities, labels)


def confusion(run: runs.Run) -> np.ndarray:
    return _confusion(str(run.path), _stamp(run, runs.PREDICTIONS_FILE))


@st.cache_data(max_entries=8)
def _epoch_records(path: str, stamp: float) -> runs.EpochRecords | None:
    return runs.load_epoch_records(runs.load_run(Path(path)))


def epoch_records(run: runs.Run) -> runs.EpochRecords | None:
    """The run's per-epoch records (None for a run without them); raises RunError for a damaged file."""
    return _epoch_records(str(run.path), _stamp(run, runs.EPOCHS_FILE))
