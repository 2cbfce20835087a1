"""The watch set on the Train page: a few test images, each captioned with the network's current guess.

The guesses come from the live state (`LiveSnapshot.watch`, set after every epoch by
`cifar_cnn.training.epoch_records.EpochRecords`); the images from the loaded dataset's test set.
"""

from __future__ import annotations

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

COLUMNS = 4  # with two images per class, a row holds two classes
SCALE = 3
FRAME = 3  # pixels of the coloured frame, seen from the back of a classroom
_COLOURS = {True: (33, 160, 72), False: (214, 39, 40), None: (200, 200, 200)}  # right, wrong, not guessed yet

EXPLANATION = ("Two test images of each class, which the network never trains on. Under each, what it guesses after the "
               "latest epoch: green when right, red when wrong.")
BEFORE_FIRST_EPOCH = "The network's guesses appear here after the first epoch."


def watch_set_panel(snapshot: LiveSnapshot, dataset: Dataset | None, columns: int = COLUMNS) -> None:
    """Draw the watch set of the training that `snapshot` follows, with its latest guesses (or none yet)."""
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
    for start in range(0, len(indices), columns):
        for position, column in enumerate(st.columns(columns)):
            slot = start + position
            if slot >= len(indices):
                break
            index = int(indices[slot])
            with column:
                if predicted is None:
                    st.image(_framed_png(_key(dataset.x_test[index]), None))
                    st.caption(names[int(dataset.y_test[index])])
                    continue
                guess, truth = int(predicted[slot]), int(labels[slot])
                right = guess == truth
                st.image(_framed_png(_key(dataset.x_test[index]), right))
                guessed = _name(names, guess)
                st.markdown(f":green[✓ {guessed}]" if right else f":red[✗ {guessed}]  \n:gray[is {_name(names, truth)}]")


def _name(names: list[str], label: int) -> str:
    return names[label] if 0 <= label < len(names) else plain(label)


def _mismatch(dataset: Dataset, indices: np.ndarray, labels: np.ndarray) -> str | None:
    """Why the loaded dataset's test images are not the ones the training watches, or None when they are."""
    if len(indices) and (indices.max() >= len(dataset.y_test) or not np.array_equal(dataset.y_test[indices], labels)):
        return (f"The loaded dataset ({plain(dataset.source)}) is not the one this training watches: choose the training's "
                "data source in the sidebar to see its watch set.")
    return None


# Every viewer's Train tab redraws this every second: encode each picture once, not 20 per viewer per second.
def _key(image: np.ndarray) -> tuple[bytes, tuple[int, ...]]:
    return np.ascontiguousarray(image, np.uint8).tobytes(), image.shape


@functools.lru_cache(maxsize=256)
def _framed_png(image_key: tuple[bytes, tuple[int, ...]], right: bool | None) -> bytes:
    pixels, shape = image_key
    image = enlarge(np.frombuffer(pixels, np.uint8).reshape(shape), SCALE)
    framed = np.empty((image.shape[0] + 2 * FRAME, image.shape[1] + 2 * FRAME, 3), np.uint8)
    framed[:] = _COLOURS[right]
    framed[FRAME:-FRAME, FRAME:-FRAME] = image
    buffer = io.BytesIO()
    Image.fromarray(framed).save(buffer, format="PNG")
    return buffer.getvalue()
