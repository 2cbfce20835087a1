"""Read a .tar, .tar.gz, .tgz or .zip in one pass, keeping what a dataset needs.

A compressed tar can only be read front to back efficiently, so every member
is read as it comes: the official batch files by name, and the images of an
image-folder tree by their `train|test/<class>/<file>` path.
"""

from __future__ import annotations

import tarfile
import zipfile
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from cifar_cnn.data.dataset import DataError
from cifar_cnn.data.image_folder import SPLITS, ImageFile, is_image_name, split_parts
from cifar_cnn.data.official import META, TEST_BATCH, TRAIN_BATCHES

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")
BATCH_NAMES = {*TRAIN_BATCHES, TEST_BATCH, META}
BROKEN_ARCHIVE = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error)


@dataclass
class ArchiveContents:
    batches: dict[str, bytes] = field(default_factory=dict)  # official batch files by name
    images: list[ImageFile] = field(default_factory=list)
    classes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def is_archive(path: Path) -> bool:
    return path.is_file() and (path.name.lower().endswith(ARCHIVE_SUFFIXES) or tarfile.is_tarfile(path) or zipfile.is_zipfile(path))


def read_archive(path: Path, progress: Callable[[float, str], None]) -> ArchiveContents:
    contents = ArchiveContents()
    total = path.stat().st_size or 1
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    _keep(contents, path, info.filename, info.is_dir(), lambda info=info: archive.read(info))
        else:
            with open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r:*") as archive:
                for member in archive:
                    _keep(contents, path, member.name, member.isdir(), lambda member=member: archive.extractfile(member).read())
                    if len(contents.images) % 2000 == 1:
                        progress(0.5 * raw.tell() / total, f"Reading {path.name}")
    except DataError:
        raise
    except BROKEN_ARCHIVE as error:
        raise DataError(f"{path} is truncated or corrupt ({type(error).__name__}: {error}); download or pack it again.") from None
    return contents


def _keep(contents: ArchiveContents, path: Path, name: str, is_dir: bool, read: Callable[[], bytes]) -> None:
    parts = PurePosixPath(name).parts
    if not parts or "__MACOSX" in parts:
        return
    if is_dir:
        if len(parts) >= 2 and parts[-2] in SPLITS and not parts[-1].startswith("."):
            contents.classes[parts[-2]].add(parts[-1])
        return
    if parts[-1] in BATCH_NAMES:
        contents.batches[parts[-1]] = read()
        return
    located = split_parts(name)
    if located is None:
        return
    split, class_name, file_name = located
    if class_name.startswith("."):
        return
    contents.classes[split].add(class_name)
    if is_image_name(file_name):
        data = read()  # now, while the archive is positioned here
        contents.images.append(ImageFile(split, class_name, f"{path}:{name}", lambda data=data: data))
