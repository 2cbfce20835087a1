"""The watch set on the Train page: a few test images, each captioned with the network's current guess.

The guesses come from the live state (`LiveSnapshot.watch`, set after every epoch by
`cifar_cnn.training.epoch_records.EpochRecords`); the images from the loaded dataset's test set.
"""

from __future__ import annotations

import base64
import functools
import io

import numpy as np
import streamlit as st
from PIL import Image

from cifar_cnn.data import Dataset
from cifar_cnn.images import enlarge
from cifar_cnn.training.epoch_records import watch_indices
from cifar_cnn.training.live import LiveSnapshot
from cifar_cnn.ui.text import plain

SCALE = 3
WIDTH = 60  # pixels: three or four to a row of the watch column; each caption names its class, so rows need not pair them
FRAME = 3  # pixels of the coloured frame, seen from the back of a classroom
_COLOURS = {True: (33, 160, 72), False: (214, 39, 40), None: (200, 200, 200)}  # right, wrong, not guessed yet

EXPLANATION = ("Two test images of each class, which the network never trains on. Under each, what it guesses after the "
               "latest epoch: green when right, red when wrong.")
BEFORE_FIRST_EPOCH = "The network's guesses appear here after the first epoch."


def watch_set_panel(snapshot: LiveSnapshot, dataset: Dataset | None) -> None:
    """Draw the watch set of the training that `snapshot` follows, with its latest guesses (or none yet).

    One image-list element with a caption under each picture: every viewer's Train tab redraws it every second, and
    one element with ready-made data URLs costs the server a fraction of a millisecond, where an element per picture
    and caption (Streamlit decoding and re-encoding each picture) cost about a third of its time with 10 viewers."""
    watch = snapshot.watch
    if dataset is None:
        st.caption("Load the training's dataset in the sidebar to see the watch set.")
        return
    if watch is None:
        indices, labels, predicted = watch_indices(dataset.y_test, dataset.num_classes), None, None
        st.caption(BEFORE_FIRST_EPOCH)
    else:
        indices, labels, predicted = np.asarray(watch.indices), np.asarray(watch.labels), np.asarray(watch.predicted)
        problem = _mismatch(dataset, indices, labels)
        if problem:
            st.caption(problem)
            return
        st.caption(f"After epoch {watch.epoch}: {int(np.sum(predicted == labels))} of {len(indices)} right. {EXPLANATION}")
    names = [plain(name) for name in dataset.class_names]
    pictures, captions = [], []
    for slot, index in enumerate(int(index) for index in indices):
        truth = int(dataset.y_test[index]) if predicted is None else int(labels[slot])
        right = None if predicted is None else int(predicted[slot]) == truth
        pictures.append(_framed_data_url(_key(dataset.x_test[index]), right))
        if right is None:
            captions.append(_name(names, truth))
        else:
            guessed = _name(names, int(predicted[slot]))
            captions.append(f":green[✓ {guessed}]" if right else f":red[✗ {guessed}] :gray[(is {_name(names, truth)})]")
    st.image(pictures, caption=captions, width=WIDTH)


def _name(names: list[str], label: int) -> str:
    return names[label] if 0 <= label < len(names) else plain(label)


def _mismatch(dataset: Dataset, indices: np.ndarray, labels: np.ndarray) -> str | None:
    """Why the loaded dataset's test images are not the ones the training watches, or None when they are."""
    if len(indices) and (indices.max() >= len(dataset.y_test) or not np.array_equal(dataset.y_test[indices], labels)):
        return (f"The loaded dataset ({plain(dataset.source)}) is not the one this training watches: choose the training's "
                "data source in the sidebar to see its watch set.")
    return None


# Every viewer's Train tab redraws this every second: encode each picture once, not 20 per viewer per second, as a
# data URL, which Streamlit passes to the browser as it is.
def _key(image: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
    return np.ascontiguousarray(image, np.uint8).tobytes(), image.shape


@functools.lru_cache(maxsize=256)
def _framed_data_url(image_key: tuple[bytes, tuple[int, ...]], right: bool | None) -> str:
    pixels, shape = image_key
    image = enlarge(np.frombuffer(pixels, np.uint8).reshape(shape), SCALE)
    framed = np.empty((image.shape[0] + 2 * FRAME, image.shape[1] + 2 * FRAME, 3), np.uint8)
    framed[:] = _COLOURS[right]
    framed[FRAME:-FRAME, FRAME:-FRAME] = image
    buffer = io.BytesIO()
    Image.fromarray(framed).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
