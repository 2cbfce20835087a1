"""What the Inside page loads and computes, cached per run and model file (keys hold its modification time, as in
`cached`), so a rewritten run is read afresh. Figures over the whole test set are also stored in the run folder
(`cifar_cnn.inside.store`): a restarted server reads them instead of computing them again.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from cifar_cnn import runs
from cifar_cnn.data import Dataset
from cifar_cnn.inside import channels, embeddings, store
from cifar_cnn.inside.layers import LayerWalk
from cifar_cnn.inside.visualise import FeatureVisualiser
from cifar_cnn.ui import cached
from cifar_cnn.ui.cached import model_at, model_stamp


@st.cache_resource(show_spinner="Reading the model's layers...", max_entries=4)
def _walk(path: str, stamp: float) -> LayerWalk:
    return LayerWalk(model_at(path, stamp))


def layer_walk(run: runs.Run) -> LayerWalk:
    """Every layer's output for an image, from one Keras call. Raises RunError (the model cannot be read) or
    ValueError (a model this page cannot show)."""
    return _walk(str(run.path), model_stamp(run))


@st.cache_resource(max_entries=2)
def _visualiser(path: str, stamp: float) -> FeatureVisualiser:
    return FeatureVisualiser(model_at(path, stamp))


@st.cache_data(show_spinner=False, max_entries=64)
def _visualisation(path: str, stamp: float, layer: str, channel: int) -> np.ndarray:
    return _visualiser(path, stamp)(layer, channel)


def visualisation(run: runs.Run, layer: str, channel: int) -> np.ndarray:
    return _visualisation(str(run.path), model_stamp(run), layer, int(channel))


def test_set_key(run: runs.Run, dataset: Dataset) -> str:
    """The key of the run's stored figures for this model file and test set (hashing the test set takes ~30 ms)."""
    return store.test_set_key(run.path / runs.MODEL_FILE, dataset.x_test, dataset.y_test)


@st.cache_resource(show_spinner=False, max_entries=16)
def _maxima(path: str, stamp: float, layer: str, key: str, _images: np.ndarray) -> tuple[np.ndarray, bool]:
    maxima, read = channels.stored_maxima(path, key, model_at(path, stamp), layer, _images)
    maxima.setflags(write=False)
    return maxima, read


def maxima(run: runs.Run, layer: str, dataset: Dataset, key: str) -> tuple[np.ndarray, bool]:
    """Each channel's strongest value on every test image (N x channels), and whether they came from the run folder."""
    return _maxima(str(run.path), model_stamp(run), layer, key, dataset.x_test)


def pca(run: runs.Run, dataset: Dataset, key: str) -> tuple[embeddings.Projection, bool]:
    return embeddings.stored_pca(run.path, key, cached.model(run), dataset.x_test)


def tsne(run: runs.Run, dataset: Dataset, key: str, compute: bool) -> tuple[embeddings.Projection | None, bool]:
    return embeddings.stored_tsne(run.path, key, cached.model(run), dataset.x_test, compute=compute)
