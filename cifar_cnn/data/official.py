"""The official "CIFAR-10 python version": `cifar-10-python.tar.gz` or its `cifar-10-batches-py/` folder."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from cifar_cnn.data.dataset import CIFAR10_CLASSES, DataError, Dataset
from cifar_cnn.data.safe_pickle import load_batch

TRAIN_BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
IMAGE_VALUES = 32 * 32 * 3

Progress = Callable[[float, str], None]


def batches_folder(path: Path) -> Path | None:
    """The folder holding the batch files, if `path` is one or contains `cifar-10-batches-py/`."""
    for candidate in (path, path / "cifar-10-batches-py"):
        if (candidate / TRAIN_BATCHES[0]).is_file() or (candidate / TEST_BATCH).is_file():
            return candidate
    return None


def read_folder(folder: Path, progress: Progress) -> Dataset:
    def read(name: str) -> bytes | None:
        file = folder / name
        return file.read_bytes() if file.is_file() else None

    return assemble(read, str(folder), progress)


def assemble(read: Callable[[str], bytes | None], source: str, progress: Progress) -> Dataset:
    parts = []
    for step, name in enumerate((*TRAIN_BATCHES, TEST_BATCH)):
        progress(step / 7, f"Reading {name}")
        data = read(name)
        if data is None:
            raise DataError(f"{source} has no {name}: an official CIFAR-10 copy has {', '.join(TRAIN_BATCHES)} and {TEST_BATCH}.")
        parts.append(_images_and_labels(load_batch(data, f"{name} in {source}"), f"{name} in {source}"))
    meta = read(META)
    class_names = CIFAR10_CLASSES
    if meta is not None:
        labels = load_batch(meta, f"{META} in {source}").get(b"label_names")
        if labels:
            class_names = tuple(name.decode() if isinstance(name, bytes) else str(name) for name in labels)
    progress(1.0, "Decoded")
    x_train = np.concatenate([images for images, _ in parts[:5]])
    y_train = np.concatenate([labels for _, labels in parts[:5]])
    x_test, y_test = parts[5]
    for labels, name in ((y_train, "the training batches"), (y_test, TEST_BATCH)):
        if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise DataError(f"{name} in {source} has labels outside 0..{len(class_names) - 1}.")
    return Dataset(x_train, y_train, x_test, y_test, class_names, source)


def _images_and_labels(batch, source: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{source} is not a CIFAR-10 batch (it lacks 'data' or 'labels').")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != IMAGE_VALUES:
        raise DataError(
            f"{source} holds images of {data.shape[1:] or 'no'} values, not 3072 (32x32 pixels x 3 colours): "
            "it is not a 32x32 CIFAR-10 batch."
        )
    if data.dtype != np.uint8 or len(labels) != len(data):
        raise DataError(f"{source} has {len(data)} images of type {data.dtype} but {len(labels)} labels; expected uint8 and one label each.")
    # Rows are channel-planar: 1024 red, then 1024 green, then 1024 blue values.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels
