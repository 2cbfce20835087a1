"""Where the network puts each test image: its last hidden layer projected to 2-D.

The last hidden layer is what the classifier at the end reads: images the network finds alike lie close together.
PCA keeps the two directions along which the test images differ most (a second or two for 10,000 images); t-SNE
(van der Maaten and Hinton, 2008) keeps neighbours as neighbours, on a sample of 2,000 (tens of seconds). Each is
computed once per run and test set and stored in the run folder (`store`).

    pca = stored_pca(run_dir, key, model, x_test)          # Projection of every test image
    tsne = stored_tsne(run_dir, key, model, x_test)        # of a sample of 2,000; None when not stored and compute=False
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from cifar_cnn.inside import layers as layer_info
from cifar_cnn.inside import store
from cifar_cnn.inside.channels import producers

TSNE_SAMPLE = 2000
BATCH_SIZE = 500


@dataclass(frozen=True)
class Projection:
    """2-D points of test images: `points[i]` is test image `indices[i]`, which the model predicted as `predicted[i]`."""

    method: str  # "PCA" or "t-SNE"
    layer: str
    points: np.ndarray  # M x 2
    indices: np.ndarray  # M
    predicted: np.ndarray  # M


def hidden_layer(model: keras.Model) -> str:
    """The last hidden layer: the layer the last Dense layer (the classifier) reads, else the one before the output."""
    feeds = producers(model)
    dense = [layer.name for layer in model.layers if layer_info.family(layer) == layer_info.DENSE and feeds.get(layer.name)]
    last = dense[-1] if dense else model.layers[-1].name
    parents = feeds.get(last) or []
    if not parents or layer_info.family(model.get_layer(parents[0])) == layer_info.INPUT:
        raise ValueError(f"Model {model.name!r} has no hidden layer before its output.")
    return parents[0]


def features(model: keras.Model, layer_name: str, images: np.ndarray, batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(the layer's output flattened, N x D float32; the predicted class, N) for `images`, in one pass per batch."""
    both = keras.Model(model.inputs, [model.get_layer(layer_name).output, model.outputs[0]])
    spec = layer_info.image_input(model)
    # A graph rather than Keras' layer-by-layer eager calls: a seventh (fast_cnn) to a third (seed CNN) less CPU time.
    both_graph = tf.function(lambda batch: both(batch, training=False),
                             input_signature=[tf.TensorSpec((None, *spec.shape[1:]), spec.dtype)])
    hidden, predicted = [], []
    for start in range(0, len(images), batch_size):
        values, probabilities = both_graph(tf.constant(images[start:start + batch_size]))
        hidden.append(keras.ops.convert_to_numpy(keras.ops.cast(values, "float32")).reshape(len(probabilities), -1))
        predicted.append(np.argmax(keras.ops.convert_to_numpy(keras.ops.cast(probabilities, "float32")), axis=-1))
    return np.concatenate(hidden), np.concatenate(predicted).astype(np.int64)


def pca_points(values: np.ndarray) -> np.ndarray:
    if len(values) < 2:
        return np.zeros((len(values), 2), np.float32)
    points = PCA(n_components=min(2, values.shape[1]), random_state=0).fit_transform(values)
    return np.pad(points, ((0, 0), (0, 2 - points.shape[1]))).astype(np.float32)  # a 1-wide layer gives one axis


def tsne_points(values: np.ndarray, seed: int = 0) -> np.ndarray:
    if len(values) < 3:
        return np.zeros((len(values), 2), np.float32)
    if values.shape[1] > 50:  # the usual first step: PCA to 50 dimensions keeps the neighbours and is much faster
        values = PCA(n_components=min(50, len(values)), random_state=seed).fit_transform(values)
    perplexity = min(30.0, (len(values) - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed).fit_transform(values).astype(np.float32)


def sample(count: int, size: int = TSNE_SAMPLE, seed: int = 0) -> np.ndarray:
    """Sorted indices of `size` of `count` images, the same every time."""
    if count <= size:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=size, replace=False))


def stored_pca(run_dir: Path, key: str, model: keras.Model, images: np.ndarray) -> tuple[Projection, bool]:
    """PCA of every test image's last hidden layer: read from the run folder, or computed and stored. (projection, read?)"""
    return _stored(run_dir, key, model, images, "PCA", np.arange(len(images)), pca_points)


def stored_tsne(run_dir: Path, key: str, model: keras.Model, images: np.ndarray, compute: bool = True) -> tuple[Projection | None, bool]:
    """t-SNE of a sample of `TSNE_SAMPLE` test images, as `stored_pca`; (None, False) when not stored and not `compute`."""
    return _stored(run_dir, key, model, images, "t-SNE", sample(len(images)), tsne_points, compute)


def _stored(run_dir, key, model, images, method, indices, project, compute: bool = True) -> tuple[Projection | None, bool]:
    layer = hidden_layer(model)
    file = store.path(run_dir, method.lower().replace("-", ""), layer, key, ".npz")
    data = store.load_arrays(file)
    if data is not None and set(data) >= {"points", "indices", "predicted"} and np.array_equal(data["indices"], indices):
        return Projection(method, layer, data["points"], data["indices"], data["predicted"]), True
    if not compute:
        return None, False
    values, predicted = features(model, layer, images[indices])
    projection = Projection(method, layer, project(values), indices, predicted)
    store.save_arrays(file, points=projection.points, indices=projection.indices, predicted=projection.predicted)
    return projection, False
