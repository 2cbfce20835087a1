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
WHITENING_LAYER = "whiten"  # see initialize_whitening

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


@register("fast_cnn")
def fast_cnn(
    num_classes: int = 10,
    widths: tuple[int, ...] = (64, 128, 256),
    activation: str = "relu",
    whitening_filters: int = 24,
    whitening_stride: int = 1,
    batchnorm_momentum: float = 0.6,
    batchnorm_epsilon: float = 1e-5,
    logit_scale: float = 1 / 9,
) -> keras.Model:
    """A small, fast network after Keller Jordan's airbench94 (itself after David Page's ResNet-9).

    A fixed 2x2 "whitening" convolution (set from the training images by
    `initialize_whitening`), then one group per entry of `widths`: 3x3 conv,
    2x2 max-pool, BatchNorm, activation, 3x3 conv, BatchNorm, activation. Global max-pool,
    a bias-free Dense, and logits scaled down by `logit_scale` before the softmax.
    BatchNorm learns only a shift (no scale) and forgets old batches fast
    (`batchnorm_momentum`), which suits short trainings. The first filters of
    each conv start as the identity, so early training sees a near-residual net.

    Args:
        num_classes: size of the softmax output.
        widths: filters of each conv group; each group halves the resolution. Default (64, 128, 256):
            on 2 CPU cores, 7 epochs of it beat 24 epochs of (32, 64, 128) in the same 10 minutes.
        activation: after the whitening conv and every BatchNorm. airbench uses GELU; ReLU
            trains about 40% faster on CPU.
        whitening_filters: outputs of the whitening conv: the 12 eigen-patches of 2x2x3 pixels, and their negatives.
        whitening_stride: 1 whitens every 2x2 patch (as airbench); 2 whitens non-overlapping patches, which
            halves the resolution before the first group and costs the rest of the network 4 times less.
        batchnorm_momentum: Keras momentum of every BatchNorm (the share of the old running statistics kept per batch).
        batchnorm_epsilon: added to each variance before dividing by its root. Keras' default 1e-3 is
            not small beside the variance that reaches the last BatchNorm (about 0.01 after a 30-minute
            training), so it damps that layer's output; airbench uses 1e-12.
        logit_scale: factor on the logits; a small one keeps early predictions soft.
    """
    inputs, x = _image_input()
    x = layers.Conv2D(whitening_filters, 2, strides=whitening_stride, padding="valid", trainable=False, name=WHITENING_LAYER)(x)
    x = layers.Activation(activation, name="whiten_activation")(x)
    for group, width in enumerate(widths, start=1):
        for index in (1, 2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"group{group}_conv{index}")(x)
            if index == 1:
                x = layers.MaxPooling2D(2, name=f"group{group}_pool")(x)
            x = layers.BatchNormalization(momentum=batchnorm_momentum, epsilon=batchnorm_epsilon, scale=False, name=f"group{group}_bn{index}")(x)
            x = layers.Activation(activation, name=f"group{group}_activation{index}")(x)
    x = layers.GlobalMaxPooling2D(name="global_pool")(x)
    x = layers.Dense(num_classes, use_bias=False, name="logits")(x)
    x = layers.Rescaling(logit_scale, name="logit_scale")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="fast_cnn")
    _start_convs_as_identity(model)
    return model



def _start_convs_as_identity(model: keras.Model) -> None:
    """Set the first min(inputs, outputs) filters of every trainable 3x3 conv to pass their input channel through."""
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D) and layer.trainable and layer.kernel_size == (3, 3):
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            channels = min(kernel.shape[2], kernel.shape[3])
            kernel[:, :, :, :channels] = 0.0
            kernel[1, 1, np.arange(channels), np.arange(channels)] = 1.0
            layer.kernel.assign(kernel)


def initialize_whitening(model: keras.Model, images: np.ndarray, epsilon: float = 5e-4) -> None:
    """Set the model's whitening conv (if it has one) from `images`, uint8 N x 32 x 32 x 3.

    Its filters become the eigenvectors of the covariance of all 2x2 pixel
    patches (centred on the mean patch), scaled by 1/sqrt(eigenvalue), and their negatives: every output
    channel then has unit variance and none is correlated with another, which
    makes the first layers train much faster.
    """
    layer = next((layer for layer in model.layers if layer.name == WHITENING_LAYER), None)
    if layer is None:
        return
    height, width, channels, filters = layer.kernel.shape
    mean, covariance = _patch_statistics(images, height, width)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]  # largest first
    filters_half = eigenvectors / np.sqrt(eigenvalues + epsilon)
    kernel = np.concatenate([filters_half, -filters_half], axis=1)[:, :filters]
    layer.kernel.assign(kernel.reshape(height, width, channels, -1).astype(np.float32))
    layer.bias.assign((-mean @ kernel).astype(np.float32))  # centre every output on zero


def _patch_statistics(images: np.ndarray, height: int, width: int, chunk: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (as `np.cov` gives it) of every `height` x `width` patch of `images` scaled to [0, 1], over
    a few images at a time: the 5,000 images' 4.8 million patches at once took 1 to 3 s of copying into float64,
    at the start of every training, where these chunks take a fraction of that."""
    size = height * width * images.shape[-1]
    products, sums, count = np.zeros((size, size)), np.zeros(size), 0
    for start in range(0, len(images), chunk):
        scaled = images[start : start + chunk].astype(np.float64) / 255
        patches = np.lib.stride_tricks.sliding_window_view(scaled, (height, width), axis=(1, 2))  # N, H', W', C, h, w
        patches = patches.transpose(0, 1, 2, 4, 5, 3).reshape(-1, size)
        products += patches.T @ patches
        sums += patches.sum(axis=0)
        count += len(patches)
    mean = sums / count
    return mean, (products - count * np.outer(mean, mean)) / (count - 1)


def last_conv_layer_name(model: keras.Model) -> str:
    """Name of the last Conv2D layer (what Grad-CAM looks at)."""
    convs = [layer.name for layer in model.layers if isinstance(layer, layers.Conv2D)]
    if not convs:
        raise ValueError(f"Model {model.name!r} has no Conv2D layer.")
    return convs[-1]


def forward_flops(model: keras.Model) -> int:
    """Floating-point operations of one image's forward pass through the convolutions and dense layers (a multiply
    and an add each per weight use); the rest (BatchNorm, pooling, activations) is small beside them."""
    total = 0
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            height, width, channels_out = layer.output.shape[1:4]
            kernel_height, kernel_width = layer.kernel_size
            channels_in = layer.input.shape[-1] // max(1, layer.groups)
            total += 2 * height * width * channels_out * kernel_height * kernel_width * channels_in
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return int(total)


def all_layers(model: keras.Model):
    """Every layer of `model`, those of the models nested in it included (not the nested models themselves)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)
        else:
            yield layer
