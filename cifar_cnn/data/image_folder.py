"""Image-folder trees: `train/<class>/*.png|jpg|jpeg` and `test/<class>/*`, on disk or in a .tar/.tar.gz/.zip.

This is the layout `keras.utils.image_dataset_from_directory` reads; class
names come from the folder names. Images of other sizes are resized to 32x32.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

import numpy as np
from PIL import Image, UnidentifiedImageError

from cifar_cnn.data.dataset import DataError, Dataset

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
SPLITS = ("train", "test")
SIZE = (32, 32)

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ImageFile:
    split: str
    class_name: str
    name: str  # shown in messages: the path inside the tree or archive
    read: Callable[[], bytes]


def tree_root(path: Path) -> Path | None:
    """`path` if it holds train/ and test/ (or one of them), else its single subfolder that does."""
    if any((path / split).is_dir() for split in SPLITS):
        return path
    children = [child for child in path.iterdir() if child.is_dir() and not child.name.startswith((".", "__"))]
    if len(children) == 1 and any((children[0] / split).is_dir() for split in SPLITS):
        return children[0]
    return None


def files_in_folder(root: Path) -> tuple[list[ImageFile], dict[str, set[str]]]:
    """Image files under `root`, and the class folders of each split (empty ones too)."""
    files, classes = [], {}
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            raise DataError(f"{root} has no {split}/ folder: an image-folder dataset needs train/<class>/ and test/<class>/ folders.")
        classes[split] = {child.name for child in split_dir.iterdir() if child.is_dir() and not child.name.startswith(".")}
        for class_name in sorted(classes[split]):
            for file in sorted((split_dir / class_name).iterdir()):
                if is_image_name(file.name) and file.is_file():
                    files.append(ImageFile(split, class_name, str(file), file.read_bytes))
    return files, classes


def is_image_name(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES


def split_parts(name: str) -> tuple[str, str, str] | None:
    """(split, class, file) of an archive member path like `top/train/cat/0001.jpg`."""
    parts = PurePosixPath(name).parts
    if len(parts) < 3 or "__MACOSX" in parts or parts[-3] not in SPLITS:
        return None
    return parts[-3], parts[-2], parts[-1]


def assemble(files: list[ImageFile], classes: dict[str, set[str]], source: str, progress: Progress) -> Dataset:
    """Decode every image and label it by its class folder."""
    _check_classes(files, classes, source)
    class_names = tuple(sorted(classes["train"]))
    label_of = {name: index for index, name in enumerate(class_names)}
    arrays = {split: [] for split in SPLITS}
    labels = {split: [] for split in SPLITS}
    resized: list[str] = []
    step = max(1, len(files) // 100)
    for count, file in enumerate(files):
        if count % step == 0:
            progress(count / len(files), f"Decoding images ({count:,} of {len(files):,})")
        arrays[file.split].append(decode(file, resized))
        labels[file.split].append(label_of[file.class_name])
    progress(1.0, f"Decoded {len(files):,} images")
    notes = ()
    if resized:
        notes = (f"Resized {len(resized):,} images that were not 32x32 to 32x32 (first: {resized[0]}).",)
    return Dataset(
        x_train=np.stack(arrays["train"]),
        y_train=np.array(labels["train"], dtype=np.int64),
        x_test=np.stack(arrays["test"]),
        y_test=np.array(labels["test"], dtype=np.int64),
        class_names=class_names,
        source=source,
        notes=notes,
    )


def _check_classes(files: Iterable[ImageFile], classes: dict[str, set[str]], source: str) -> None:
    train, test = classes["train"], classes["test"]
    if not train:
        raise DataError(f"{source}: train/ has no class folders; put each class's images in train/<class>/.")
    if train != test:
        only_train, only_test = sorted(train - test), sorted(test - train)
        details = []
        if only_train:
            details.append(f"only in train: {', '.join(only_train)}")
        if only_test:
            details.append(f"only in test: {', '.join(only_test)}")
        raise DataError(f"{source}: train and test have different class folders ({'; '.join(details)}). Give both the same classes.")
    counts = defaultdict(int)
    for file in files:
        counts[(file.split, file.class_name)] += 1
    for split in SPLITS:
        for class_name in sorted(classes[split]):
            if counts[(split, class_name)] == 0:
                raise DataError(f"{source}: {split}/{class_name}/ has no images (.png, .jpg or .jpeg).")


def decode(file: ImageFile, resized: list[str]) -> np.ndarray:
    try:
        data = file.read()
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
        raise DataError(f"{file.name} could not be read: the archive is truncated or corrupt ({error}).") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.size != SIZE:
                resized.append(f"{file.name} was {image.size[0]}x{image.size[1]}")
                image = image.resize(SIZE, Image.Resampling.BOX if image.size[0] >= 32 else Image.Resampling.BICUBIC)
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise DataError(f"{file.name} could not be decoded as an image ({error}). Remove or replace it.") from None
