"""Re-estimate BatchNormalization statistics for inference.

The seed CNN puts Dropout before BatchNormalization. While training, each
BatchNormalization layer averages the statistics of inputs that Dropout has
thinned and rescaled; at inference Dropout is off, the inputs' variance is
smaller, and the stored statistics no longer fit ("variance shift", Li et al.
2019, "Understanding the Disharmony between Dropout and Batch
Normalization"). Measured here: a 3-epoch seed CNN scored 35% on test images
with its stored statistics and 55% with statistics of dropout-free inputs.

`recalibrate_batchnorm` recomputes every BatchNormalization layer's moving
mean and variance from a sample of training images with Dropout off, layer by
layer from the input, so each layer sees inputs already normalized the way
inference will normalize them.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from cifar_cnn.models import all_layers


def recalibrate_batchnorm(model: keras.Model, images: np.ndarray) -> int:
    """Set each BatchNormalization layer's moving statistics from `images`; returns how many layers changed.

    One forward pass in training mode over all of `images` as one batch, with Dropout off and every BatchNorm's
    momentum 0: each BatchNorm then normalizes with, and stores, the statistics of its own input over these images,
    its input already normalized by the layers before it with theirs: what setting the layers one after another
    from the input gives (tests/test_batchnorm.py), in one pass instead of one per layer (2.5 s against 0.6 s
    for fast_cnn's 1,024 images on 2 cores)."""
    norms = [layer for layer in all_layers(model) if isinstance(layer, layers.BatchNormalization)]
    if not norms:
        return 0
    dropouts = [layer for layer in all_layers(model) if isinstance(layer, layers.Dropout)]
    momenta, rates = [norm.momentum for norm in norms], [dropout.rate for dropout in dropouts]
    try:
        for norm in norms:
            norm.momentum = 0.0
        for dropout in dropouts:
            dropout.rate = 0.0
        model(images, training=True)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        for dropout, rate in zip(dropouts, rates):
            dropout.rate = rate
    return len(norms)


class RecalibrateBatchNorm(keras.callbacks.Callback):
    """Recalibrates before every validation, so the validation curve shows what inference will do.

    `current` says whether the statistics are still those of the last recalibration (no batch trained since): the end
    of training then need not recalibrate again from the same images."""

    def __init__(self, images: np.ndarray):
        super().__init__()
        self.images = images
        self.current = False

    def on_train_batch_end(self, batch, logs=None):
        self.current = False

    def on_test_begin(self, logs=None):
        recalibrate_batchnorm(self.model, self.images)
        self.current = True
