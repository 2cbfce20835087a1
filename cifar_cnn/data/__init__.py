"""CIFAR-10 as uint8 arrays, from Keras' download or a local copy.

    dataset = load_dataset()                                  # $CIFAR10_DATA, else Keras' download
    dataset = load_dataset("~/data/cifar-10-python.tar.gz")   # a local copy
    dataset.x_train.shape  # (50000, 32, 32, 3), uint8

A local copy may be the official `cifar-10-python.tar.gz` or its extracted
`cifar-10-batches-py/` folder; an image-folder tree `train/<class>/*.png|jpg`
plus `test/<class>/*`; or a .tar, .tar.gz, .tgz or .zip holding such a tree.
Decoded local copies are cached as .npz files. Anything wrong raises
`DataError`, whose message names the file and the problem. `source_key`
tells which spellings of a path name the same, unchanged source.

This package imports neither TensorFlow nor Keras (Keras only to download).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from cifar_cnn.data import cache, image_folder, official
from cifar_cnn.data.archive import UnpackLimits, is_archive, read_archive
from cifar_cnn.data.dataset import ACCEPTED_LAYOUTS, CIFAR10_CLASSES, DataError, Dataset, Progress
from cifar_cnn.data.keras_download import load_keras_cifar10
from cifar_cnn.paths import default_cache_dir

__all__ = ["ACCEPTED_LAYOUTS", "CIFAR10_CLASSES", "DATA_ENV_VAR", "DataError", "Dataset", "UnpackLimits", "load_dataset", "source_key"]

DATA_ENV_VAR = "CIFAR10_DATA"
KERAS_DOWNLOAD = "keras-download"  # the source_key of Keras' download


def load_dataset(
    source: str | os.PathLike | None = None,
    *,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Load CIFAR-10, or any dataset in one of its layouts, from `source`.

    `source=None` uses $CIFAR10_DATA when set, else Keras' download.
    `progress(fraction, message)` is called from this thread while loading.
    """
    progress = progress or _no_progress
    path = _local_path(source)
    if path is None:
        return load_keras_cifar10(progress)

    try:
        local = _locate(path)
        cache_file = cache.cache_file(Path(cache_dir) if cache_dir else default_cache_dir(), local.data_path)
        fingerprint = cache.fingerprint(local.watched)  # before decoding: a source changed meanwhile is decoded again next time
        cached = cache.read(cache_file, fingerprint)
        if cached is not None:
            progress(1.0, f"Loaded {local.data_path.name} from the cache")
            return cached
        dataset = local.decode(progress)
    except OSError as error:  # unreadable files and folders: callers need only handle DataError
        raise _unreadable(error, path) from None

    try:
        cache.write(cache_file, dataset, fingerprint)
    except OSError as error:  # a read-only or full disk costs speed next time, not this load
        dataset = replace(dataset, notes=(*dataset.notes, f"Could not write the cache file {cache_file} ({error}); the next load decodes again."))
    return dataset


def source_key(source: str | os.PathLike | None) -> tuple:
    """Equal for every spelling of one source (`/data/x`, `/data/x/`, `/data//x`, `/data/./x`, a link to it)
    while it stays unchanged: its resolved path, size and modification time. For keeping decoded datasets in memory.

    Cheap, as it stats one path: a folder counts as changed when files are added to it or removed, not when
    one inside it is rewritten. Raises DataError, as `load_dataset` would, for a path that cannot be loaded.
    """
    path = _local_path(source)
    if path is None:
        return (KERAS_DOWNLOAD,)
    try:
        stat = path.stat()
    except OSError as error:
        raise _unreadable(error, path) from None
    return (str(path), stat.st_size, stat.st_mtime_ns)


def _local_path(source: str | os.PathLike | None) -> Path | None:
    """The resolved path `source` names ($CIFAR10_DATA when None or empty), or None for Keras' download.

    Resolved, so that each source has one spelling: for the cache keys and `Dataset.source`.
    """
    named_as = None
    if source is None or str(source) == "":
        from_environment = os.environ.get(DATA_ENV_VAR, "").strip()
        if not from_environment:
            return None
        source, named_as = from_environment, f"{from_environment} (from {DATA_ENV_VAR})"
    path = Path(source).expanduser()
    try:
        if not path.exists():
            raise DataError(f"{named_as or path} does not exist. Check the path; a local copy may be {ACCEPTED_LAYOUTS}.")
        return path.resolve()
    except OSError as error:  # a name too long for the system, a folder on the way that may not be entered
        raise _unreadable(error, named_as or path) from None


def _unreadable(error: OSError, path: Path | str) -> DataError:
    """What went wrong, in words, with the fix; never the operating system's traceback."""
    if error.errno == errno.ENAMETOOLONG:
        return DataError(
            f"The path {_shortened(str(path))} is too long for this system: it has {len(str(path)):,} characters, and most systems "
            "allow 4,096 in all and 255 bytes per file or folder name. Check the path you entered.")
    shown = _shortened(str(error.filename or path))
    if isinstance(error, PermissionError):
        return DataError(f"{shown} could not be read (permission denied). Check its permissions, or copy the data where you may read it.")
    return DataError(f"{shown} could not be read ({error.strerror or error}).")


def _shortened(text: str, keep: int = 80) -> str:
    """Long paths cut in the middle: a message stays one readable line."""
    return text if len(text) <= 2 * keep else f"{text[:keep]}...{text[-keep:]}"


@dataclass(frozen=True)
class _LocalSource:
    data_path: Path  # the folder or archive that holds the data
    watched: tuple[Path, ...]  # what the cache fingerprint covers
    decode: Callable[[Progress], Dataset]


def _locate(path: Path) -> _LocalSource:
    """Which layout `path` holds, without decoding anything yet."""
    if path.is_dir():
        batches = official.batches_folder(path)
        if batches is not None:
            return _LocalSource(batches, (batches,), lambda progress: official.read_folder(batches, progress))
        root = image_folder.tree_root(path)
        if root is not None:
            splits = tuple(root / split for split in image_folder.SPLITS)
            return _LocalSource(root, splits, lambda progress: _read_image_folder(root, progress))
        raise DataError(f"{path} is not a dataset folder I know. Accepted: {ACCEPTED_LAYOUTS}.")
    if is_archive(path):
        return _LocalSource(path, (path,), lambda progress: _read_archive(path, progress))
    raise DataError(f"{path} is neither a folder nor an archive I can read. Accepted: {ACCEPTED_LAYOUTS}.")


def _read_image_folder(root: Path, progress: Progress) -> Dataset:
    files, classes = image_folder.files_in_folder(root)
    return image_folder.assemble(files, classes, str(root), progress)


def _read_archive(path: Path, progress: Progress) -> Dataset:
    contents = read_archive(path, progress)

    def second_half(fraction: float, message: str) -> None:
        progress(0.5 + fraction / 2, message)

    if contents.batches:
        return official.assemble(contents.batches.get, str(path), second_half)
    if contents.images or contents.classes:
        files, classes = contents.image_tree()
        return image_folder.assemble(files, classes, str(path), second_half)
    raise DataError(f"{path} holds neither CIFAR-10 batches nor train/<class>/ and test/<class>/ images. Accepted: {ACCEPTED_LAYOUTS}.")


def _no_progress(fraction: float, message: str) -> None:
    pass
