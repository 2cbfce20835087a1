"""Grad-CAM: which parts of an image made the model pick a class.

Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization" (2017). The feature maps of the last conv layer
are weighted by the mean gradient of the class score with respect to each
map; the ReLU of the weighted sum, scaled up to the image, is the heat map.

    explain = GradCam(model)
    heat = explain(image, class_index)   # (32, 32) floats in [0, 1]
    picture = overlay(image, heat)       # the image tinted red (weak) to yellow (strong)
    bar = legend()                       # the colour bar that says so
    is_empty(heat)                       # True where nothing in the image raised the class's score
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from cifar_cnn.models import last_conv_layer_name


class GradCam:
    """Heat maps for one model; builds its gradient model once."""

    def __init__(self, model: keras.Model, layer_name: str | None = None):
        layer = model.get_layer(layer_name or last_conv_layer_name(model))
        self.layer_name = layer.name
        self._features_and_output = keras.Model(model.inputs, [layer.output, model.output])

    def __call__(self, image: np.ndarray, class_index: int) -> np.ndarray:
        """Heat map (same height and width as `image`, values in [0, 1]) for `class_index`."""
        batch = tf.convert_to_tensor(image[np.newaxis])
        features, gradients = self._features_and_gradients(batch, class_index)
        return self._heat_map(features, gradients, image.shape[:2])

    def _features_and_gradients(self, batch: tf.Tensor, class_index: int):
        with tf.GradientTape() as tape:
            features, probabilities = self._features_and_output(batch, training=False)
            # The log of the probability behaves like the pre-softmax score the paper uses,
            # without saturating when the model is very sure.
            score = tf.math.log(probabilities[:, class_index] + 1e-9)
        gradients = tape.gradient(score, features)
        return features, gradients

    @staticmethod
    def _heat_map(features: tf.Tensor, gradients: tf.Tensor, size: tuple[int, int]) -> np.ndarray:
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        heat = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))[0]
        heat = tf.image.resize(heat[..., tf.newaxis], size, method="bilinear")[..., 0].numpy()
        peak = heat.max()
        return heat / peak if peak > 0 else np.zeros(size, dtype=np.float32)


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """The colour map of `overlay`: red where the heat is weak, through orange, to yellow where it is strongest.

    RGB floats in [0, 255], shape `heat.shape + (3,)`."""
    return np.stack([np.ones_like(heat), heat, np.zeros_like(heat)], axis=-1) * 255


def overlay(image: np.ndarray, heat: np.ndarray, opacity: float = 0.7) -> np.ndarray:
    """The image with the heat map blended over it (uint8, same shape as `image`).

    Each pixel gets `heat_colours` at an opacity growing with its heat (as its square root, so that moderate heat
    shows): where the heat is 0 the image shows unchanged, a little heat tints it red, more orange, and the
    strongest heat paints it yellow at `opacity`."""
    weight = opacity * np.sqrt(np.clip(heat, 0, 1))[..., np.newaxis]
    blended = image.astype(np.float32) * (1 - weight) + heat_colours(heat) * weight
    return np.clip(blended, 0, 255).astype(np.uint8)


LEGEND_BACKGROUND = 128  # a mid grey: the legend shows what `overlay` paints on a neutral pixel


def legend(width: int = 256, height: int = 20, opacity: float = 0.7) -> np.ndarray:
    """A colour bar for `overlay`: heat 0 (weak) at the left to 1 (strong) at the right, as `overlay` paints it
    on a grey image (uint8, `height` x `width` x 3)."""
    heat = np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))
    grey = np.full((height, width, 3), LEGEND_BACKGROUND, dtype=np.uint8)
    return overlay(grey, heat, opacity)


def is_empty(heat: np.ndarray, threshold: float = 1e-3) -> bool:
    """Whether the heat map shows nothing: no part of the image raised the class's score (all of it at or
    below `threshold`, or not a number). `overlay` of an empty map is the image unchanged."""
    return not bool(np.any(np.nan_to_num(heat, nan=0.0) > threshold))
