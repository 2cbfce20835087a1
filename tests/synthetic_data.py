"""Tiny datasets on disk, in every layout the loader reads. Each image's pixels follow from its
class and index (`pattern_image`), so tests can check that pixels and labels arrive where they belong."""

from __future__ import annotations

import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def pattern_image(label: int, index: int, size: int = 32) -> np.ndarray:
    """A distinct, learnable image: the class shows in one bright colour channel, the index in a corner."""
    rng = np.random.default_rng(label * 1000 + index)
    image = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
    image[..., label % 3] += 150
    image[0, 0] = (label, index % 256, index // 256)
    return image


def write_image_folder(root: Path, classes=("cat", "dog", "frog"), n_train: int = 4, n_test: int = 2,
                       size: int = 32, ext: str = "png") -> Path:
    """train/<class>/NNNN.<ext> and test/<class>/NNNN.<ext> under `root`; returns `root`."""
    root = Path(root)
    for split, count in (("train", n_train), ("test", n_test)):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                Image.fromarray(pattern_image(label, index, size)).save(folder / f"{index:04d}.{ext}")
    return root


def expected_arrays(classes, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels `write_image_folder` wrote for one split, in the loader's order."""
    images = [pattern_image(label, index) for label in range(len(classes)) for index in range(count)]
    labels = [label for label in range(len(classes)) for _ in range(count)]
    return np.stack(images), np.array(labels)


def official_rows(images: np.ndarray) -> np.ndarray:
    """NHWC images as CIFAR's channel-planar rows of 3072 values."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def write_official_batches(root: Path, n_per_batch: int = 6, num_classes: int = 10, row_length: int = 3072,
                           legacy_numpy_names: bool = True, label_names: list[str] | None = None) -> Path:
    """A real-format `cifar-10-batches-py/` folder under `root`: protocol-2 pickles of the official dicts.

    Batch `number` (0-4 train, 5 test) holds images `pattern_image(label, number * 100 + index)` with
    labels `(number + index) % num_classes`. With `legacy_numpy_names`, the pickles name
    `numpy.core.multiarray` as the official files (written by NumPy 1) do, not NumPy 2's `numpy._core`.
    """
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]
    for number, name in enumerate(names):
        labels = [(number + index) % num_classes for index in range(n_per_batch)]
        images = np.stack([pattern_image(label, number * 100 + index) for index, label in enumerate(labels)])
        rows = official_rows(images) if row_length == 3072 else np.zeros((n_per_batch, row_length), dtype=np.uint8)
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": rows, b"filenames": [b"x.png"] * n_per_batch}
        data = pickle.dumps(batch, protocol=2)
        if legacy_numpy_names:
            data = data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
        (folder / name).write_bytes(data)
    label_names = label_names or [f"class{index}" for index in range(num_classes)]
    meta = {b"label_names": [name.encode() for name in label_names], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def make_tar(folder: Path, destination: Path) -> Path:
    """Pack `folder` (as its top-level entry) into a .tar, .tar.gz or .tgz chosen by `destination`'s name."""
    mode = "w:gz" if destination.name.endswith((".tar.gz", ".tgz")) else "w"
    with tarfile.open(destination, mode) as archive:
        archive.add(folder, arcname=folder.name)
    return destination


def make_zip(folder: Path, destination: Path, reverse_order: bool = False) -> Path:
    """Pack `folder` (as its top-level entry) into a .zip; `reverse_order` lists the members backwards."""
    paths = sorted(folder.rglob("*"), reverse=reverse_order)
    with zipfile.ZipFile(destination, "w") as archive:
        for path in paths:
            archive.write(path, Path(folder.name) / path.relative_to(folder))
    return destination
