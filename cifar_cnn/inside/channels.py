"""What one channel looks for: its receptive field, the test images that excite it most, cropped around its peak.

    field = receptive_field(model, "conv3")           # from the kernel sizes, strides and padding of the layers before
    maxima = activation_maxima(model, "conv3", x_test)   # N x channels: each channel's strongest value on each image
    best = top_images(maxima, channel=5)              # indices of the 9 test images it likes most
    peaks = peak_positions(model, "conv3", x_test[best], channel=5)
    crops = [crop(x_test[i], field, row, col) for i, (row, col) in zip(best, peaks)]

    tops = stored_top_images(run_dir, key, model, x_test)   # every layer's, in one pass, kept in the run folder
    tops["conv3"].indices[5], tops["conv3"].values[5]       # the same 9 images, and their maxima

`layers_top_images` finds the top images of every layer with feature maps in one pass over the test set: the first
look at a layer costs one forward pass of the whole network, and every other layer is then free. Only each
channel's best `TOP_COUNT` images are kept (a few hundred kilobytes per run, where every maximum of every layer of
`fast_cnn` would take 160 MB).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cifar_cnn.inside import layers as layer_info
from cifar_cnn.inside import store

TOP_COUNT = 9
BATCH_SIZE = 500


@dataclass(frozen=True)
class ReceptiveField:
    """Which input pixels one value of a layer's output sees, per axis (height, width).

    The value at output position (row, col) sees the input pixels within `size` of it, centred on
    `start + (row, col) * jump` (in input pixel coordinates, the first pixel's centre at 0)."""

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[float, float]

    def centre(self, row: int, col: int) -> tuple[float, float]:
        return self.start[0] + row * self.jump[0], self.start[1] + col * self.jump[1]

    def box(self, row: int, col: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) of the input pixels output (row, col) sees, inside a `height` x `width` image
        (bottom and right exclusive)."""
        centre = self.centre(row, col)
        top = math.ceil(centre[0] - (self.size[0] - 1) / 2 - 1e-9)
        left = math.ceil(centre[1] - (self.size[1] - 1) / 2 - 1e-9)
        return max(top, 0), min(top + self.size[0], height), max(left, 0), min(left + self.size[1], width)


PIXEL = ReceptiveField(size=(1, 1), jump=(1, 1), start=(0.0, 0.0))


def producers(model: keras.Model) -> dict[str, list[str]]:
    """For every layer, the names of the layers whose outputs it takes (none for an input layer)."""
    made_by = {}
    for layer in model.layers:
        try:
            made_by[id(layer.output)] = layer.name
        except (AttributeError, ValueError):
            continue
    feeds: dict[str, list[str]] = {}
    for layer in model.layers:
        if layer_info.family(layer) == layer_info.INPUT:
            feeds[layer.name] = []
            continue
        try:
            tensors = layer.input
        except (AttributeError, ValueError):
            tensors = []
        tensors = tensors if isinstance(tensors, (list, tuple)) else [tensors]
        feeds[layer.name] = [made_by[id(tensor)] for tensor in tensors if id(tensor) in made_by]
    return feeds


def receptive_field(model: keras.Model, layer_name: str) -> ReceptiveField:
    """The receptive field of `layer_name`'s output, walking back through the layers before it to the input.

    Kernel sizes, strides, dilation and padding come from each layer's config; layers that keep the map's geometry
    (activations, BatchNorm, dropout, additions) pass it through; where branches meet, the widest field wins.
    Raises NotSpatialError for a layer without feature maps, ValueError for a layer whose geometry is unknown."""
    layer_info.require_spatial(layer_info.info(model.get_layer(layer_name)))
    feeds = producers(model)
    known: dict[str, ReceptiveField] = {}

    def field_of(name: str) -> ReceptiveField:
        if name in known:
            return known[name]
        layer = model.get_layer(name)
        if layer_info.family(layer) == layer_info.INPUT:
            field = PIXEL
        else:
            before = [field_of(parent) for parent in feeds[name] if len(layer_info.output_shape(model.get_layer(parent))) == 3]
            if not before:
                raise ValueError(f"Layer {name} takes no feature maps, so its receptive field is unknown.")
            widest = max(before, key=lambda field: (field.size[0] * field.size[1], field.jump))
            field = _through(layer, widest)
        known[name] = field
        return field

    return field_of(layer_name)


def _through(layer, field: ReceptiveField) -> ReceptiveField:
    """The receptive field after `layer`, given the one of its input."""
    config = layer.get_config()
    kind = type(layer).__name__
    shape_in, shape_out = layer_info.input_shape(layer), layer_info.output_shape(layer)
    kernel = config.get("kernel_size") or config.get("pool_size")
    if kind.endswith("Transpose"):
        raise ValueError(f"Layer {layer.name} ({kind}) enlarges its maps; receptive fields through it are not computed.")
    if kernel is None:
        if kind == "ZeroPadding2D":
            (top, _), (left, _) = config["padding"]
            return ReceptiveField(field.size, field.jump, (field.start[0] - top * field.jump[0], field.start[1] - left * field.jump[1]))
        if kind == "Cropping2D":
            (top, _), (left, _) = config["cropping"]
            return ReceptiveField(field.size, field.jump, (field.start[0] + top * field.jump[0], field.start[1] + left * field.jump[1]))
        if shape_in[:2] == shape_out[:2]:
            return field  # a layer that works value by value, or channel by channel
        raise ValueError(f"Layer {layer.name} ({kind}) changes its maps' size in a way not known here; its receptive field is not computed.")
    kernel = layer_info.pair(kernel)
    strides = layer_info.pair(config.get("strides") or kernel)
    dilation = layer_info.pair(config.get("dilation_rate", 1))
    padding = config.get("padding", "valid")
    size, jump, start = [], [], []
    for axis in (0, 1):
        span = (kernel[axis] - 1) * dilation[axis] + 1
        before = 0
        if padding == "same":
            out = -(-shape_in[axis] // strides[axis])
            before = max((out - 1) * strides[axis] + span - shape_in[axis], 0) // 2
        size.append(field.size[axis] + (span - 1) * field.jump[axis])
        start.append(field.start[axis] + ((span - 1) / 2 - before) * field.jump[axis])
        jump.append(field.jump[axis] * strides[axis])
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


def _feature_model(model: keras.Model, layer_name: str) -> keras.Model:
    layer = model.get_layer(layer_name)
    layer_info.require_spatial(layer_info.info(layer))
    return keras.Model(model.inputs, layer.output)


def _maps(feature_model: keras.Model, images: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(keras.ops.cast(feature_model([images], training=False), "float32"))


def activation_maxima(model: keras.Model, layer_name: str, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Each channel's largest value over its map, for every image: N x channels float32, in batches."""
    features = _feature_model(model, layer_name)
    parts = [_maps(features, images[start:start + batch_size]).max(axis=(1, 2)) for start in range(0, len(images), batch_size)]
    channels = layer_info.output_shape(model.get_layer(layer_name))[-1]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, channels), np.float32)


def top_images(maxima: np.ndarray, channel: int, count: int = TOP_COUNT) -> np.ndarray:
    """Indices of the `count` images whose strongest value in `channel` is highest, highest first (ties: lower index first)."""
    return np.argsort(-maxima[:, channel], kind="stable")[:count]


@dataclass(frozen=True)
class TopImages:
    """The images that excite each channel of one layer most, highest first (ties: lower index first), as
    `top_images` ranks them."""

    indices: np.ndarray  # channels x count (count: TOP_COUNT, or fewer images): image indices
    values: np.ndarray  # channels x count float32: the channel's strongest value on each of those images


def layers_top_images(model: keras.Model, layer_names, images: np.ndarray, count: int = TOP_COUNT,
                      batch_size: int = BATCH_SIZE) -> dict[str, TopImages]:
    """`TopImages` of every layer in `layer_names` (each with feature maps), in one pass over `images`.

    One TensorFlow graph per batch computes every layer's maps and each channel's maximum over its map, so only one
    number per image and channel leaves it; the best `count` so far are kept per channel. A graph rather than Keras'
    layer-by-layer eager calls: a seventh (fast_cnn) to a quarter (seed CNN) less CPU time for the same maps."""
    names = list(dict.fromkeys(layer_names))
    for name in names:
        layer_info.require_spatial(layer_info.info(model.get_layer(name)))
    widths = [layer_info.output_shape(model.get_layer(name))[-1] for name in names]
    features = keras.Model(model.inputs, [model.get_layer(name).output for name in names])
    spec = layer_info.image_input(model)

    @tf.function(input_signature=[tf.TensorSpec((None, *spec.shape[1:]), spec.dtype)])
    def maxima_of_batch(batch):
        outputs = features(batch, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        # One axis to reduce rather than two: a third faster on CPU, and these reductions are most of what the pass
        # costs beyond the network itself.
        return [tf.cast(tf.reduce_max(tf.reshape(maps, [tf.shape(maps)[0], -1, width]), axis=1), tf.float32)
                for maps, width in zip(outputs, widths)]

    kept = {name: (np.zeros((width, 0), np.float32), np.zeros((width, 0), np.int64)) for name, width in zip(names, widths)}
    for start in range(0, len(images), batch_size):
        for name, maxima in zip(names, maxima_of_batch(tf.constant(images[start:start + batch_size]))):
            values, indices = _best_in_rows(np.ascontiguousarray(maxima.numpy().T), count)
            old_values, old_indices = kept[name]
            # Earlier images come first in each row, so a stable sort keeps the lower index first among equal values.
            values, indices = np.concatenate([old_values, values], axis=1), np.concatenate([old_indices, indices + start], axis=1)
            order = np.argsort(-values, axis=1, kind="stable")[:, :count]
            kept[name] = np.take_along_axis(values, order, axis=1), np.take_along_axis(indices, order, axis=1)
    return {name: TopImages(indices, values) for name, (values, indices) in kept.items()}


def _best_in_rows(values: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The `count` highest values of each row and their column indices, in column order (ties at the cut: the lower
    columns). A partition and a few passes over the rows: several times faster than sorting them, or TensorFlow's top_k."""
    values = np.where(np.isnan(values), -np.inf, values)  # a diverged model's NaN ranks last, and counts once
    if values.shape[1] <= count:
        return values, np.broadcast_to(np.arange(values.shape[1]), values.shape).astype(np.int64)
    cut = np.partition(values, values.shape[1] - count, axis=1)[:, values.shape[1] - count, np.newaxis]  # each row's count-th highest
    above, at = values > cut, values == cut
    chosen = above | (at & (np.cumsum(at, axis=1) <= count - above.sum(axis=1, keepdims=True)))
    return values[chosen].reshape(len(values), count), np.nonzero(chosen)[1].reshape(len(values), count).astype(np.int64)


def stored_top_images(run_dir: Path, key: str, model: keras.Model, images: np.ndarray) -> tuple[dict[str, TopImages], bool]:
    """`layers_top_images` of every layer with feature maps (`layers.spatial_layer_names`) over the test images, read
    from the run folder when stored under `key` (see `store.test_set_key`), otherwise computed and stored.
    Returns (top images by layer name, whether they were read)."""
    names = layer_info.spatial_layer_names(model)
    file = store.path(run_dir, "top_images", "", key, ".npz")
    stored = _read_top_images(file, names, len(images))
    if stored is not None:
        return stored, True
    tops = layers_top_images(model, names, images)
    if tops and store.save_arrays(file, layers=np.array(names), offsets=np.cumsum([0] + [len(tops[name].indices) for name in names]),
                                  indices=np.concatenate([tops[name].indices for name in names]),
                                  values=np.concatenate([tops[name].values for name in names])):
        for old in file.parent.glob("maxima_*-*.npy"):  # every maximum of one layer, stored before: no longer read
            with contextlib.suppress(OSError):
                old.unlink()
    return tops, False


def _read_top_images(file: Path, names: list[str], image_count: int) -> dict[str, TopImages] | None:
    """The stored top images of the layers `names`, or None when the file is missing, damaged or of other layers."""
    data = store.load_arrays(file)
    if data is None or set(data) < {"layers", "offsets", "indices", "values"} or data["layers"].tolist() != names:
        return None
    offsets, indices, values = data["offsets"], data["indices"], data["values"]
    if (len(offsets) != len(names) + 1 or indices.shape != values.shape or indices.ndim != 2 or offsets[-1] != len(indices)
            or indices.shape[1] != min(TOP_COUNT, image_count) or (indices.size and not 0 <= indices.min() <= indices.max() < image_count)):
        return None
    return {name: TopImages(indices[offsets[position]:offsets[position + 1]], values[offsets[position]:offsets[position + 1]])
            for position, name in enumerate(names)}


def peak_positions(model: keras.Model, layer_name: str, images: np.ndarray, channel: int) -> list[tuple[int, int]]:
    """(row, col) of `channel`'s strongest value in each image's map."""
    maps = _maps(_feature_model(model, layer_name), images)[..., channel]
    return [tuple(int(i) for i in np.unravel_index(np.argmax(one), one.shape)) for one in maps]


def crop(image: np.ndarray, field: ReceptiveField, row: int, col: int) -> np.ndarray:
    """The part of `image` that the output at (row, col) sees (cut off at the image's edges)."""
    top, bottom, left, right = field.box(row, col, image.shape[0], image.shape[1])
    return image[top:bottom, left:right]
