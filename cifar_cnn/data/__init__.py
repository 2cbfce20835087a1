"""CIFAR-10 as uint8 arrays, from Keras' download or a local copy.

    dataset = load_dataset()                                  # Keras' download (or $CIFAR10_DATA)
    dataset = load_dataset("~/data/cifar-10-python.tar.gz")   # a local copy
    dataset.x_train.shape  # (50000, 32, 32, 3), uint8

A local copy may be the official `cifar-10-python.tar.gz` or its extracted
`cifar-10-batches-py/` folder; an image-folder tree `train/<class>/*.png|jpg`
plus `test/<class>/*`; or a .tar, .tar.gz, .tgz or .zip holding such a tree.
Decoded local copies are cached as .npz files. Anything wrong raises
`DataError`, whose message names the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from cifar_cnn.data import cache, image_folder, official
from cifar_cnn.data.archive import is_archive, read_archive
from cifar_cnn.data.dataset import CIFAR10_CLASSES, DataError, Dataset
from cifar_cnn.data.keras_download import load_keras_cifar10
from cifar_cnn.paths import default_cache_dir

__all__ = ["CIFAR10_CLASSES", "DataError", "Dataset", "load_dataset"]

Progress = Callable[[float, str], None]

ACCEPTED_LAYOUTS = (
    "cifar-10-python.tar.gz, its cifar-10-batches-py/ folder, a folder with train/<class>/ and test/<class>/ "
    "image folders, or a .tar, .tar.gz, .tgz or .zip holding such folders"
)


def load_dataset(source: str | os.PathLike | None = None, *, cache_dir: Path | None = None, progress: Progress | None = None) -> Dataset:
    """Load CIFAR-10 (or any dataset in one of its layouts) from `source`.

    `source=None` uses $CIFAR10_DATA when set, else Keras' download.
    `progress(fraction, message)` is called from this thread while loading.
    """
    progress = progress or (lambda fraction, message: None)
    if source is None or str(source) == "":
        source = os.environ.get("CIFAR10_DATA") or None
    if source is None:
        return load_keras_cifar10()
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist. Check the path, or give a local copy: {ACCEPTED_LAYOUTS}.")

    cache_file = cache.cache_path(Path(cache_dir or default_cache_dir()), path)
    cached = cache.read(cache_file)
    if cached is not None:
        progress(1.0, "Loaded from the cache")
        return cached
    dataset = _decode(path, progress)
    cache.write(cache_file, dataset)
    return dataset


def _decode(path: Path, progress: Progress) -> Dataset:
    if path.is_dir():
        batches = official.batches_folder(path)
        if batches is not None:
            return official.read_folder(batches, progress)
        root = image_folder.tree_root(path)
        if root is not None:
            files, classes = image_folder.files_in_folder(root)
            return image_folder.assemble(files, classes, str(path), progress)
        raise DataError(f"{path} is not a dataset folder I know. Accepted: {ACCEPTED_LAYOUTS}.")
    if is_archive(path):
        contents = read_archive(path, progress)
        second_half = lambda fraction, message: progress(0.5 + fraction / 2, message)  # noqa: E731
        if contents.batches:
            return official.assemble(contents.batches.get, str(path), second_half)
        if contents.images or contents.classes:
            return image_folder.assemble(contents.images, _both_splits(contents.classes, path), str(path), second_half)
        raise DataError(f"{path} holds neither CIFAR-10 batches nor train/<class>/ and test/<class>/ images. Accepted: {ACCEPTED_LAYOUTS}.")
    raise DataError(f"{path} is not a folder or an archive I can read. Accepted: {ACCEPTED_LAYOUTS}.")


def _both_splits(classes: dict[str, set[str]], path: Path) -> dict[str, set[str]]:
    for split in image_folder.SPLITS:
        if split not in classes:
            raise DataError(f"{path} has no {split}/<class>/ folders: an image-folder archive needs both train/ and test/.")
    return classes
