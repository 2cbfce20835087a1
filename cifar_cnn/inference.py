"""Class probabilities from a trained model, optionally with flip test-time augmentation.

Flip TTA averages the prediction of each image and of its mirror image: a
horizontally flipped cat is still a cat, and the average is usually a little
more accurate than either alone.
"""

from __future__ import annotations

import keras
import numpy as np

from cifar_cnn import pipeline


def predict(model: keras.Model, images: np.ndarray, batch_size: int = 256, flip_tta: bool = False) -> np.ndarray:
    """Class probabilities (N x classes) for uint8 images (N x 32 x 32 x 3)."""
    probabilities = model.predict(pipeline.evaluation_dataset(images, batch_size=batch_size), verbose=0)
    if flip_tta:
        mirrored = model.predict(pipeline.evaluation_dataset(images[:, :, ::-1], batch_size=batch_size), verbose=0)
        probabilities = (probabilities + mirrored) / 2
    return probabilities
