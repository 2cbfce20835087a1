"""The watch set on the Train page: a few test images, which the live panel captions with the network's current guess.

The guesses come from the live feed (`LiveSnapshot.watch`, set after every epoch by
`cifar_cnn.training.epoch_records.EpochRecords`); the images from the dataset loaded in the viewer's session, sent to
the panel once when the page draws it.
"""

from __future__ import annotations

import base64
import functools
import io

import numpy as np
from PIL import Image

from cifar_cnn.data import Dataset
from cifar_cnn.images import enlarge
from cifar_cnn.training.epoch_records import watch_indices

SCALE = 3
EXPLANATION = ("Two test images of each class, which the network never trains on. Under each, what it guesses after the "
               "latest epoch: green when right, red when wrong.")
BEFORE_FIRST_EPOCH = "The network's guesses appear here after the first epoch."
NO_DATASET = "Load the training's dataset in the sidebar to see the watch set."


def watch_set_data(dataset: Dataset | None) -> dict:
    """What the live panel needs to show the watch set of `dataset`: its pictures (as data URLs), their classes and
    test-set indices, the class names, and the texts around them. The panel shows `mismatch` instead when the
    training's guesses are for other images (the viewer loaded another dataset)."""
    if dataset is None:
        return {"message": NO_DATASET}
    indices = [int(index) for index in watch_indices(dataset.y_test, dataset.num_classes)]
    return {
        "pictures": [_picture_data_url(_key(dataset.x_test[index])) for index in indices],
        "indices": indices,
        "truths": [int(dataset.y_test[index]) for index in indices],
        "names": [str(name) for name in dataset.class_names],
        "explanation": EXPLANATION,
        "before_first": BEFORE_FIRST_EPOCH,
        "mismatch": (f"The loaded dataset ({dataset.source}) is not the one this training watches: choose the training's "
                     "data source in the sidebar to see its watch set."),
    }


# Every viewer's page sends the same 20 pictures: encode each once.
def _key(image: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
    return np.ascontiguousarray(image, np.uint8).tobytes(), image.shape


@functools.lru_cache(maxsize=256)
def _picture_data_url(image_key: tuple[bytes, tuple[int, ...]]) -> str:
    pixels, shape = image_key
    buffer = io.BytesIO()
    Image.fromarray(enlarge(np.frombuffer(pixels, np.uint8).reshape(shape), SCALE)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
