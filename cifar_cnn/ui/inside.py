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


@st.cache_resource(show_spinner=False, max_entries=4)
def _top_images(path: str, stamp: float, key: str, _images: np.ndarray) -> tuple[dict[str, channels.TopImages], bool]:
    return channels.stored_top_images(path, key, model_at(path, stamp), _images)


def top_images(run: runs.Run, dataset: Dataset, key: str) -> tuple[dict[str, channels.TopImages], bool]:
    """The test images that excite each channel of every layer with feature maps most (one pass over the test set for
    all layers), and whether they came from the run folder."""
    return _top_images(str(run.path), model_stamp(run), key, dataset.x_test)


def channel_key(layer: str) -> str:
    """Session state: the channel chosen in `layer`, shared by its selectbox and its clickable grid."""
    return f"inside_channel_{layer}"


def grid_key(layer: str, channel: int) -> str:
    """The key of `layer`'s clickable grid. It names the chosen channel so that choosing another one (by click or
    selectbox) draws a fresh chart with no selection: a click on a map selected before then still counts."""
    return f"inside_grid_{channel}_{layer}"


def select_clicked_channel(layer: str, chart_key: str) -> None:
    """on_select callback of a layer's channel grid: its clicked marker carries (channel, strongest value)."""
    event = st.session_state.get(chart_key)
    for point in event.selection.points if event else []:
        data = point.get("customdata")
        if isinstance(data, dict):  # the browser sends a typed array as {"0": ..., "1": ...}
            data = [data[index] for index in sorted(data, key=int)]
        if isinstance(data, (list, tuple)) and data:
            st.session_state[channel_key(layer)] = int(data[0])
            return


def clicked_index(event) -> int | None:
    """The test-image index a click on the embeddings' scatter chose (its point's customdata), or None."""
    for point in event.selection.points if event else []:
        data = point.get("customdata")
        if isinstance(data, dict):
            data = [data[index] for index in sorted(data, key=int)]
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if isinstance(data, (int, float)):
            return int(data)
    return None


def pca(run: runs.Run, dataset: Dataset, key: str) -> tuple[embeddings.Projection, bool]:
    return embeddings.stored_pca(run.path, key, cached.model(run), dataset.x_test)


def tsne(run: runs.Run, dataset: Dataset, key: str, compute: bool) -> tuple[embeddings.Projection | None, bool]:
    return embeddings.stored_tsne(run.path, key, cached.model(run), dataset.x_test, compute=compute)
