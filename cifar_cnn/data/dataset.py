"""The in-memory dataset every other module works with, and the error bad data raises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# progress(fraction done in 0..1, message): drives the app's and the CLI's progress bars.
Progress = Callable[[float, str], None]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class DataError(Exception):
    """Data that cannot be loaded; the message names the file, the problem and, where it can, the fix."""


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray  # uint8, (N, 32, 32, 3)
    y_train: np.ndarray  # int64, (N,)
    x_test: np.ndarray  # uint8, (M, 32, 32, 3)
    y_test: np.ndarray  # int64, (M,)
    class_names: tuple[str, ...]
    source: str  # where it came from, for people
    notes: tuple[str, ...] = ()  # what the loader changed, e.g. resized images

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# Every "which layouts are accepted?" message says this.
ACCEPTED_LAYOUTS = (
    "the official cifar-10-python.tar.gz or its extracted cifar-10-batches-py/ folder; "
    "an image-folder tree train/<class>/*.png|jpg|jpeg plus test/<class>/*, or a folder holding one such tree; "
    "or a .tar, .tar.gz, .tgz or .zip of such a tree"
)
