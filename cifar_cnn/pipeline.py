"""tf.data input pipelines: in-memory uint8 images, shuffled, batched, augmented.

Augmentation works on whole batches at once (vectorised), but draws a
separate crop offset and flip for every image. Keras 3's `RandomCrop` layer
draws one offset per batch, which makes much weaker augmentation.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def random_crop_and_flip(images: tf.Tensor, seed: tf.Tensor, padding: int = 4) -> tf.Tensor:
    """Pad each image by `padding` pixels (zeros), crop back at a random offset, flip half of them.

    `images` is a (batch, height, width, channels) tensor; `seed` a shape-(2,)
    int tensor for the stateless random ops, so a given seed gives the same batch.
    """
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    offset_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    offsets = tf.random.stateless_uniform([batch, 2], offset_seed, minval=0, maxval=2 * padding + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(height)[tf.newaxis, :]
    cols = offsets[:, 1:] + tf.range(width)[tf.newaxis, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    cropped = tf.gather(cropped, cols, axis=2, batch_dims=1)
    flip = tf.random.stateless_uniform([batch], flip_seed) < 0.5
    return tf.where(flip[:, tf.newaxis, tf.newaxis, tf.newaxis], tf.reverse(cropped, axis=[2]), cropped)


def training_dataset(
    images: np.ndarray, labels: np.ndarray, batch_size: int, *, augment: bool, seed: int, crop_padding: int = 4
) -> tf.data.Dataset:
    """Reshuffled every epoch; the same seed gives the same batches in the same order.

    With `augment`, every image is shifted by up to `crop_padding` pixels (see `random_crop_and_flip`) and flipped half the time.
    """
    data = tf.data.Dataset.from_tensor_slices((images, labels))
    data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augment:
        batch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        data = tf.data.Dataset.zip(data, batch_seeds).map(
            lambda batch, seeds: (random_crop_and_flip(batch[0], seeds, crop_padding), batch[1]), num_parallel_calls=AUTOTUNE, deterministic=True
        )
    return data.prefetch(AUTOTUNE)


def evaluation_dataset(images: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 256) -> tf.data.Dataset:
    data = tf.data.Dataset.from_tensor_slices(images if labels is None else (images, labels))
    return data.batch(batch_size).prefetch(AUTOTUNE)
