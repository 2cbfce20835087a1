"""Input pipelines: in-memory uint8 images, shuffled, batched, augmented.

With Keras on TensorFlow they are tf.data pipelines; on the other backends
(JAX, PyTorch), where TensorFlow may not be installed, the same batches come
from `cifar_cnn.array_batches`. `training_dataset` and `evaluation_dataset`
pick by the backend.

Augmentation works on whole batches at once (vectorised), but draws a
separate crop offset and flip for every image. Keras 3's `RandomCrop` layer
draws one offset per batch, which makes much weaker augmentation.
"""

from __future__ import annotations

import keras
import numpy as np

from cifar_cnn import array_batches

try:
    import tensorflow as tf
except ImportError:  # Keras on JAX or PyTorch alone
    tf = None


def uses_tf_data() -> bool:
    return keras.backend.backend() == "tensorflow"


def steps_per_epoch(image_count: int, batch_size: int) -> int:
    """Training steps in one pass of `training_dataset`: the NumPy batches leave out a last, smaller batch
    (see `array_batches.TrainingBatches`); tf.data keeps it."""
    return array_batches.batches_per_epoch(image_count, batch_size, drop_remainder=not uses_tf_data())


def random_crop(images: tf.Tensor, seed: tf.Tensor, padding: int = 4) -> tf.Tensor:
    """Pad each image by `padding` pixels (zeros) and crop it back at its own random offset.

    `images` is a (batch, height, width, channels) tensor; `seed` a shape-(2,)
    int tensor for the stateless random ops, so a given seed gives the same batch.
    """
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    offsets = tf.random.stateless_uniform([batch, 2], seed, minval=0, maxval=2 * padding + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(height)[tf.newaxis, :]
    cols = offsets[:, 1:] + tf.range(width)[tf.newaxis, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(cropped, cols, axis=2, batch_dims=1)


def mirror_where(images: tf.Tensor, flip: tf.Tensor) -> tf.Tensor:
    """Each image mirrored left to right where `flip` (one bool per image) is true."""
    return tf.where(flip[:, tf.newaxis, tf.newaxis, tf.newaxis], tf.reverse(images, axis=[2]), images)


def random_crop_and_flip(images: tf.Tensor, seed: tf.Tensor, padding: int = 4, flip: tf.Tensor | None = None) -> tf.Tensor:
    """`random_crop`, then mirror the images where `flip` (one bool per image) is true; by default half of
    them, drawn from the same `seed`."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if flip is None:
        flip = _random_flips(tf.shape(images)[0], flip_seed)
    return mirror_where(random_crop(images, crop_seed, padding), flip)


def _random_flips(count, seed) -> tf.Tensor:
    return tf.random.stateless_uniform([count], seed) < 0.5


def _alternating_flips(image_count: int, seed: int):
    """A function from the indices of a batch's images to whether to flip each: at random the first time an
    image is drawn, then the other way round each time."""
    # One flag per image, toggled each time the image is drawn. Every image is drawn once per epoch, so the
    # order in which parallel map calls run cannot change the result.
    flipped = tf.Variable(_random_flips(image_count, [seed, 1]), trainable=False)

    def flips(indices: tf.Tensor) -> tf.Tensor:
        flip = tf.gather(flipped, indices)
        flipped.scatter_nd_update(indices[:, tf.newaxis], tf.logical_not(flip))
        return flip

    return flips


def training_dataset(
    images: np.ndarray, labels: np.ndarray, batch_size: int, *, augment: bool, seed: int, crop_padding: int = 4,
    alternate_flips: bool = False,
):
    """Reshuffled every epoch; the same seed gives the same batches in the same order.

    With `augment`, every image is shifted by up to `crop_padding` pixels (see `random_crop_and_flip`) and flipped
    half the time. With `alternate_flips` too (airbench's derandomised flipping), an image is flipped at
    random in the first epoch and the other way round in each later one, so any two epochs in a row show it
    both ways, where independent flips show a quarter of the images the same way twice.
    """
    if not uses_tf_data():
        return array_batches.TrainingBatches(images, labels, batch_size, augment=augment, seed=seed,
                                             crop_padding=crop_padding, alternate_flips=alternate_flips, drop_remainder=True)
    data = tf.data.Dataset.from_tensor_slices((images, labels, np.arange(len(images))))
    data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if not augment:
        return data.map(lambda batch_images, batch_labels, _: (batch_images, batch_labels)).prefetch(tf.data.AUTOTUNE)
    alternating = _alternating_flips(len(images), seed) if alternate_flips else None

    def augment_batch(batch, batch_seed):
        batch_images, batch_labels, indices = batch
        flip = alternating(indices) if alternating else None
        return random_crop_and_flip(batch_images, batch_seed, crop_padding, flip), batch_labels

    batch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    data = tf.data.Dataset.zip(data, batch_seeds).map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return data.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(images: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 256):
    if not uses_tf_data():
        return array_batches.EvaluationBatches(images, labels, batch_size)
    data = tf.data.Dataset.from_tensor_slices(images if labels is None else (images, labels))
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)
