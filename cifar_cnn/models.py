"""Network architectures, by name.

Every model takes raw uint8 images of shape (32, 32, 3): scaling to [0, 1]
happens inside the model, so a saved `model.keras` can be loaded with plain
Keras and fed images straight from disk.

To add an architecture, write a builder `(num_classes, **options) -> keras.Model`
and decorate it with `@register("name")`; the trainer looks it up by name.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

import keras
from keras import layers

IMAGE_SHAPE = (32, 32, 3)

ModelBuilder = Callable[..., keras.Model]
ARCHITECTURES: dict[str, ModelBuilder] = {}


def register(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    def add(builder: ModelBuilder) -> ModelBuilder:
        ARCHITECTURES[name] = builder
        return builder

    return add


def build_model(name: str, num_classes: int, **options) -> keras.Model:
    """Build the architecture registered as `name`."""
    if name not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ValueError(f"Unknown architecture {name!r}. Choose one of: {known}.")
    return ARCHITECTURES[name](num_classes, **options)


def _image_input() -> tuple[keras.KerasTensor, keras.KerasTensor]:
    inputs = keras.Input(shape=IMAGE_SHAPE, dtype="uint8", name="image")
    scaled = layers.Rescaling(1.0 / 255, name="scale_to_unit")(inputs)
    return inputs, scaled


@register("seed_cnn")
def seed_cnn(
    num_classes: int = 10,
    filters: tuple[int, ...] = (32, 64, 128, 256),
    dense_units: tuple[int, ...] = (512, 256, 128),
    conv_dropout: float = 0.25,
    dense_dropout: float = 0.5,
) -> keras.Model:
    """The seed notebook's CNN.

    Args:
        num_classes: size of the softmax output.
        filters: one 3x3 ReLU Conv2D per entry, each followed by 2x2
            MaxPooling, Dropout(`conv_dropout`) and BatchNormalization.
            Four blocks halve 32x32 down to 2x2. Default (32, 64, 128, 256).
        dense_units: one ReLU Dense per entry after Flatten, each followed by
            Dropout(`dense_dropout`) and BatchNormalization. Default (512, 256, 128).
        conv_dropout: dropout rate after each conv block. Default 0.25.
        dense_dropout: dropout rate after each dense block. Default 0.5.
    """
    inputs, x = _image_input()
    for index, width in enumerate(filters, start=1):
        x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{index}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{index}")(x)
        x = layers.Dropout(conv_dropout, name=f"conv_dropout{index}")(x)
        x = layers.BatchNormalization(name=f"conv_bn{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    for index, units in enumerate(dense_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"dense{index}")(x)
        x = layers.Dropout(dense_dropout, name=f"dense_dropout{index}")(x)
        x = layers.BatchNormalization(name=f"dense_bn{index}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="seed_cnn")


@register("tiny_cnn")
def tiny_cnn(num_classes: int = 10, filters: tuple[int, ...] = (8, 16)) -> keras.Model:
    """A very small CNN for smoke tests and instant classroom demos (not accurate)."""
    inputs, x = _image_input()
    for index, width in enumerate(filters, start=1):
        x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{index}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{index}")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="tiny_cnn")


def last_conv_layer_name(model: keras.Model) -> str:
    """Name of the last Conv2D layer (what Grad-CAM looks at)."""
    convs = [layer.name for layer in model.layers if isinstance(layer, layers.Conv2D)]
    if not convs:
        raise ValueError(f"Model {model.name!r} has no Conv2D layer.")
    return convs[-1]


def predict_probabilities(model: keras.Model, images) -> np.ndarray:
    """Class probabilities for a few uint8 images (faster than `model.predict` for a handful)."""
    return keras.ops.convert_to_numpy(model(images, training=False))
