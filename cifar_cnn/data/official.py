"""The official "CIFAR-10 python version": `cifar-10-python.tar.gz` or its `cifar-10-batches-py/` folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from cifar_cnn.data.dataset import (
    CIFAR10_CLASSES,
    DataError,
    Dataset,
    Progress,
    check_class_names,
    check_label_range,
    integer_labels,
)
from cifar_cnn.data.safe_pickle import load_batch

TRAIN_BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
BATCH_FILES = (*TRAIN_BATCHES, TEST_BATCH, META)
FOLDER_NAME = "cifar-10-batches-py"
IMAGE_VALUES = 32 * 32 * 3
FIX_NAMES = f"Fix label_names in {META}, or delete {META} to use CIFAR-10's class names."


def batches_folder(path: Path) -> Path | None:
    """The folder holding the batch files, if `path` is one or contains `cifar-10-batches-py/`."""
    for candidate in (path, path / FOLDER_NAME):
        if (candidate / TRAIN_BATCHES[0]).is_file() or (candidate / TEST_BATCH).is_file():
            return candidate
    return None


def read_folder(folder: Path, progress: Progress) -> Dataset:
    def read(name: str) -> bytes | None:
        file = folder / name
        return file.read_bytes() if file.is_file() else None

    return assemble(read, str(folder), progress)


def assemble(read: Callable[[str], bytes | None], source: str, progress: Progress) -> Dataset:
    """Build the dataset from batch files; `read(name)` returns a file's bytes, or None if it is missing."""
    parts = []
    names = (*TRAIN_BATCHES, TEST_BATCH)
    for step, name in enumerate(names):
        progress(step / len(names), f"Reading {name}")
        data = read(name)
        if data is None:
            raise DataError(
                f"{source} has no {name}: an official CIFAR-10 copy has {', '.join(TRAIN_BATCHES)} and {TEST_BATCH}. "
                "Download cifar-10-python.tar.gz again."
            )
        where = f"{name} in {source}"
        if not data:
            raise DataError(f"{where} is an empty file (0 bytes), so it holds no images. Download cifar-10-python.tar.gz again.")
        parts.append(_images_and_labels(load_batch(data, where), where))

    class_names = _class_names(read(META), f"{META} in {source}")
    x_train = np.concatenate([images for images, _ in parts[:-1]])
    y_train = np.concatenate([labels for _, labels in parts[:-1]])
    x_test, y_test = parts[-1]
    if len(x_test) == 0:
        raise DataError(f"{TEST_BATCH} in {source} holds no images: the test set is empty, so no run could be evaluated. "
                        "Download cifar-10-python.tar.gz again.")
    for labels, name in ((y_train, "the data_batch files"), (y_test, TEST_BATCH)):
        check_label_range(labels, len(class_names), f"{name} in {source}")
    progress(1.0, f"Read {len(x_train) + len(x_test):,} images")
    return Dataset(x_train, y_train, x_test, y_test, class_names, source)


def _class_names(meta: bytes | None, where: str) -> tuple[str, ...]:
    """The names in batches.meta, or CIFAR-10's when the file is missing."""
    if meta is None:
        return CIFAR10_CLASSES
    labels = load_batch(meta, where)
    names = labels.get(b"label_names") if isinstance(labels, dict) else None
    if not isinstance(names, list) or not names:
        raise DataError(f"{where} has no label_names list; delete the file to use CIFAR-10's class names.")
    try:
        class_names = tuple(name.decode() if isinstance(name, bytes) else str(name) for name in names)
    except UnicodeDecodeError as error:
        raise DataError(f"{where} has a class name that is not UTF-8 text ({error}). {FIX_NAMES}") from None
    check_class_names(class_names, where, FIX_NAMES)
    return class_names


def _images_and_labels(batch, where: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{where} is not a CIFAR-10 batch: it lacks 'data' or 'labels'.")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != IMAGE_VALUES:
        shape = getattr(data, "shape", type(data).__name__)
        raise DataError(
            f"{where} holds image data of shape {shape}, not rows of 3072 values (32x32 pixels x 3 colours): "
            "it is not a CIFAR-10 batch of 32x32 images."
        )
    labels = integer_labels(batch[b"labels"], where)
    if data.dtype != np.uint8 or len(labels) != len(data):
        raise DataError(f"{where} has {len(data)} images of type {data.dtype} and {len(labels)} labels; expected uint8 and one label each.")
    # Each row is channel-planar: 1024 red values, then 1024 green, then 1024 blue.
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), labels
