"""Class probabilities from a trained model, optionally with test-time augmentation (TTA).

Flip TTA averages the prediction of each image and of its mirror image: a
horizontally flipped cat is still a cat, and the average is usually a little
more accurate than either alone. Shift TTA also averages in copies of the image
moved by one pixel down-right and up-left (edges mirrored), as airbench94 does:
the network trained on shifted crops, so those views are as familiar to it as the original.
"""

from __future__ import annotations

import keras
import numpy as np

from cifar_cnn import pipeline


def shifted(images: np.ndarray, down: int, right: int) -> np.ndarray:
    """`images` (N x H x W x C) moved by `down` and `right` pixels (each -1, 0 or 1), the uncovered edge mirrored."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    height, width = images.shape[1:3]
    return padded[:, 1 - down : 1 - down + height, 1 - right : 1 - right + width]


def tta_views(images: np.ndarray, flip_tta: bool = False, shift_tta: bool = False) -> list[np.ndarray]:
    """The versions of `images` whose predictions `predict` averages."""
    views = [images]
    if shift_tta:
        views += [shifted(images, 1, 1), shifted(images, -1, -1)]
    if flip_tta:
        views += [view[:, :, ::-1] for view in views]
    return views


def describe_tta(flip_tta: bool = False, shift_tta: bool = False) -> str:
    """How the predictions were made, for a note beside an accuracy ("" when plainly)."""
    kinds = [kind for kind, used in (("flip", flip_tta), ("1-pixel shift", shift_tta)) if used]
    return f"{' and '.join(kinds)} test-time augmentation" if kinds else ""


# Up to this many images go through the model in one call: `model.predict` sets up a whole prediction loop,
# which costs more than the prediction itself for the one image the Predict page shows.
FEW_IMAGES = 32


def predict(model: keras.Model, images: np.ndarray, batch_size: int = 256,
            flip_tta: bool = False, shift_tta: bool = False) -> np.ndarray:
    """Class probabilities (N x classes) for uint8 images (N x 32 x 32 x 3), averaged over the TTA views asked for."""
    views = tta_views(images, flip_tta, shift_tta)
    return sum(_probabilities(model, view, batch_size) for view in views) / len(views)


def _probabilities(model: keras.Model, images: np.ndarray, batch_size: int) -> np.ndarray:
    if len(images) <= FEW_IMAGES:
        return keras.ops.convert_to_numpy(model(images, training=False)).astype(np.float32)
    return model.predict(pipeline.evaluation_dataset(images, batch_size=batch_size), verbose=0)
