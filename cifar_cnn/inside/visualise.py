"""Feature visualisation: an input image optimised by gradient ascent to excite one channel as much as possible.

Olah, Mordvintsev and Schubert, "Feature Visualization", Distill (2017). Start from a grey image with a little noise;
at every step move each pixel along the gradient of the channel's mean activation, with the image shifted by a
random pixel or two first (jitter) and blurred a little every few steps: both keep the picture from filling with
high-frequency noise that excites the channel but shows nothing a person can read.

    draw = FeatureVisualiser(model)
    picture = draw("conv3", channel=5)       # 32 x 32 x 3 uint8
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from cifar_cnn.inside import layers as layer_info

STEPS = 100
STEP_SIZE = 2.0  # pixel values per step, the gradient scaled to unit spread
JITTER = 2  # largest random shift, in pixels
BLUR_EVERY = 4  # steps
_BLUR = np.outer([1, 2, 1], [1, 2, 1]).astype(np.float32) / 16


def float_input_copy(model: keras.Model) -> keras.Model:
    """The model with the same layers and weights taking float32 images (0 to 255): the saved model takes uint8,
    and there is no gradient with respect to integers."""
    spec = layer_info.image_input(model)
    copy = keras.models.clone_model(model, input_tensors=keras.Input(shape=tuple(spec.shape[1:]), dtype="float32"))
    copy.set_weights(model.get_weights())
    return copy


class FeatureVisualiser:
    """Pictures of what the channels of one model look for; copies the model once."""

    def __init__(self, model: keras.Model):
        self._model = float_input_copy(model)
        self._gradients: dict[str, object] = {}

    def __call__(self, layer_name: str, channel: int, steps: int = STEPS, seed: int = 0) -> np.ndarray:
        """An image (uint8, the model's input size) that makes `channel` of `layer_name` respond strongly."""
        gradient_of = self._gradient_function(layer_name)
        channels = int(self._model.get_layer(layer_name).output.shape[-1])
        if not 0 <= channel < channels:
            raise ValueError(f"Layer {layer_name} has channels 0 to {channels - 1}, not {channel}.")
        rng = np.random.default_rng(seed)
        shape = (1,) + tuple(int(size) for size in self._model.inputs[0].shape[1:])
        image = tf.constant((128 + rng.normal(0, 8, shape)).clip(0, 255).astype(np.float32))
        blur = tf.constant(np.repeat(_BLUR[:, :, np.newaxis, np.newaxis], shape[-1], axis=2))
        for step in range(steps):
            shift = tf.constant(rng.integers(-JITTER, JITTER + 1, size=2), dtype=tf.int32)
            gradient = gradient_of(image, tf.constant(channel, dtype=tf.int32), shift)
            image = tf.clip_by_value(image + STEP_SIZE * gradient / (tf.math.reduce_std(gradient) + 1e-8), 0.0, 255.0)
            if (step + 1) % BLUR_EVERY == 0 and step + 1 < steps:
                padded = tf.pad(image, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
                image = tf.nn.depthwise_conv2d(padded, blur, strides=[1, 1, 1, 1], padding="VALID")
        return np.clip(np.rint(image.numpy()[0]), 0, 255).astype(np.uint8)

    def _gradient_function(self, layer_name: str):
        """The gradient of the channel's mean activation with respect to the (shifted) image, as a TensorFlow graph per
        layer (five times faster than eager steps); the channel and the shift are arguments, so it is traced once."""
        if layer_name not in self._gradients:
            features = keras.Model(self._model.inputs, self._model.get_layer(layer_name).output)

            @tf.function(reduce_retracing=True)
            def gradient(image, channel, shift):
                with tf.GradientTape() as tape:
                    tape.watch(image)
                    shifted = tf.roll(image, shift=shift, axis=[1, 2])
                    output = tf.cast(features([shifted], training=False), tf.float32)
                    score = tf.reduce_mean(tf.gather(output, channel, axis=-1))
                return tape.gradient(score, image)

            self._gradients[layer_name] = gradient
        return self._gradients[layer_name]
