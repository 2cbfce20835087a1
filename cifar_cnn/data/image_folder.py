"""Image-folder trees: `train/<class>/*.png|jpg|jpeg` plus `test/<class>/*`, on disk or in an archive.

This is the layout `keras.utils.image_dataset_from_directory` reads; class
names are the sorted folder names. Images that are not 32x32 RGB are
converted, and the dataset's notes say so.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cifar_cnn.data.dataset import DataError, Dataset, Progress, check_class_names

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "test")
SIZE = (32, 32)
WHITE = (255, 255, 255, 255)


@dataclass(frozen=True)
class ImageFile:
    split: str
    class_name: str
    file_name: str
    where: str  # names the file in messages: its path on disk, or "archive:member"
    read: Callable[[], bytes]

    @property
    def tree_path(self) -> str:
        return f"{self.split}/{self.class_name}/{self.file_name}"


def is_visible(name: str) -> bool:
    return not name.startswith(".")


def is_image_name(name: str) -> bool:
    return is_visible(name) and name.lower().endswith(IMAGE_SUFFIXES)


def tree_root(path: Path) -> Path | None:
    """`path` if it holds train/ or test/, else its single visible subfolder if that does."""
    if any((path / split).is_dir() for split in SPLITS):
        return path
    children = [child for child in path.iterdir() if child.is_dir() and is_visible(child.name) and child.name != "__MACOSX"]
    if len(children) == 1 and any((children[0] / split).is_dir() for split in SPLITS):
        return children[0]
    return None


def files_in_folder(root: Path) -> tuple[list[ImageFile], dict[str, set[str]]]:
    """The image files under `root`, and each split's class folders (empty ones too)."""
    files: list[ImageFile] = []
    classes: dict[str, set[str]] = {}
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            raise DataError(f"{root} has no {split}/ folder: an image-folder dataset needs both train/<class>/ and test/<class>/ folders.")
        class_dirs = [entry for entry in os.scandir(split_dir) if entry.is_dir() and is_visible(entry.name)]
        classes[split] = {entry.name for entry in class_dirs}
        for class_dir in class_dirs:
            for entry in os.scandir(class_dir.path):
                if is_image_name(entry.name) and entry.is_file():
                    files.append(ImageFile(split, class_dir.name, entry.name, entry.path, Path(entry.path).read_bytes))
    return files, classes


def assemble(files: list[ImageFile], classes: dict[str, set[str]], source: str, progress: Progress) -> Dataset:
    """Decode every image and label it by its class folder."""
    # The names first: the other checks' messages show them.
    check_class_names(sorted(set().union(*classes.values())), source, "Class names are folder names: rename that folder in train/ and test/.")
    check_classes(files, classes, source)
    class_names = tuple(sorted(classes["train"]))
    label_of = {name: label for label, name in enumerate(class_names)}
    # A deterministic order whatever order the disk or the archive listed the files in.
    files = sorted(files, key=lambda file: (file.split, file.class_name, file.file_name))

    counts = {split: sum(file.split == split for file in files) for split in SPLITS}
    images = {split: np.empty((counts[split], *SIZE, 3), np.uint8) for split in SPLITS}
    labels = {split: np.empty(counts[split], np.int64) for split in SPLITS}
    next_row = dict.fromkeys(SPLITS, 0)
    resized: list[str] = []
    converted: list[str] = []
    every = max(1, len(files) // 100)
    for done, file in enumerate(files):
        if done % every == 0:
            progress(done / len(files), f"Decoding images ({done:,} of {len(files):,})")
        pixels, size, mode = decode(file)
        row = next_row[file.split]
        next_row[file.split] += 1
        images[file.split][row] = pixels
        labels[file.split][row] = label_of[file.class_name]
        if size != SIZE:
            resized.append(f"{file.tree_path} was {size[0]}x{size[1]}")
        if mode != "RGB":
            converted.append(f"{file.tree_path} was {mode}")
    progress(1.0, f"Decoded {len(files):,} images")

    notes = []
    if resized:
        notes.append(f"Resized {len(resized):,} images that were not 32x32 to 32x32 (first: {resized[0]}).")
    if converted:
        notes.append(f"Converted {len(converted):,} images that were not RGB to RGB (first: {converted[0]}).")
    return Dataset(images["train"], labels["train"], images["test"], labels["test"], class_names, source, tuple(notes))


def check_classes(files: list[ImageFile], classes: dict[str, set[str]], source: str) -> None:
    """Both splits need the same, non-empty class folders."""
    train, test = classes["train"], classes["test"]
    if not train:
        raise DataError(f"{source}: train/ has no class folders; put each class's images in train/<class>/ and test/<class>/.")
    if train != test:
        details = []
        if train - test:
            details.append(f"only in train: {', '.join(sorted(train - test))}")
        if test - train:
            details.append(f"only in test: {', '.join(sorted(test - train))}")
        raise DataError(f"{source}: train/ and test/ have different class folders ({'; '.join(details)}). Give both the same classes.")
    filled = {(file.split, file.class_name) for file in files}
    for split in SPLITS:
        for class_name in sorted(classes[split]):
            if (split, class_name) not in filled:
                raise DataError(f"{source}: {split}/{class_name}/ has no images (.png, .jpg or .jpeg). Add some or remove the folder from both splits.")


def decode(file: ImageFile) -> tuple[np.ndarray, tuple[int, int], str]:
    """The image as 32x32 RGB pixels, with its original size and colour mode."""
    try:
        data = file.read()
    except OSError as error:
        raise DataError(f"{file.where} could not be read ({error}).") from None
    except MemoryError:
        raise DataError(f"{file.where} is too large to read into this computer's memory; CIFAR-10 images are 32x32 pixels. "
                        "Remove it or shrink it.") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            size, mode = image.size, image.mode
            if size != SIZE:
                image.draft("RGB", SIZE)  # a big JPEG decodes straight to a smaller scale: much faster
            image = _as_rgb(image)
            if image.size != SIZE:
                image = image.resize(SIZE, Image.Resampling.BICUBIC)
            return np.asarray(image, dtype=np.uint8), size, mode
    except UnidentifiedImageError:  # its message shows the in-memory buffer's repr, which helps nobody
        raise DataError(f"{file.where} could not be decoded as an image: its contents are not PNG, JPEG or any other image "
                        "format Pillow reads. Remove or replace it.") from None
    except MemoryError:
        raise DataError(f"{file.where} ({len(data):,} bytes) is too large to decode in this computer's memory; "
                        "CIFAR-10 images are 32x32 pixels. Remove it or shrink it.") from None
    except Exception as error:  # Pillow raises many kinds of error for damaged files
        raise DataError(f"{file.where} could not be decoded as an image ({type(error).__name__}: {error}). Remove or replace it.") from None


def _as_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Transparent pixels become the white a viewer shows, not whatever colour they hide.
        return Image.alpha_composite(Image.new("RGBA", image.size, WHITE), image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")
