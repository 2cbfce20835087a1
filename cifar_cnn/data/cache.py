"""Decoded datasets cached as .npz files, one per source location.

Decoding 60,000 JPEGs takes seconds; loading the arrays back takes a fraction
of one. Each cache file records a fingerprint of its source (paths, sizes and
modification times), so a source that changed is decoded again and its cache
file replaced rather than used stale.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from cifar_cnn.data.dataset import (
    DataError,
    Dataset,
    check_class_names,
    check_label_range,
)

FORMAT_VERSION = 2  # bump when decoding changes, so that caches of the old decoding are rebuilt


def cache_file(cache_dir: Path, source: Path) -> Path:
    """Where `source`'s decoded arrays are cached."""
    resolved = source.resolve()
    key = hashlib.sha256(str(resolved).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{resolved.name}-{key}.npz"


def fingerprint(paths: Iterable[Path]) -> str:
    """A hash of the names, sizes and modification times of the files at or under `paths`.

    Cheap: it stats files and never reads them (about half a second for 60,000 files).
    """
    digest = hashlib.sha256(f"format {FORMAT_VERSION}\n".encode())
    for path in paths:
        for name, size, mtime_ns in sorted(_file_stats(Path(path).resolve())):
            digest.update(f"{name}\0{size}\0{mtime_ns}\n".encode())
    return digest.hexdigest()


def _file_stats(path: Path) -> Iterator[tuple[str, int, int]]:
    if path.is_file():
        stat = path.stat()
        yield str(path), stat.st_size, stat.st_mtime_ns
        return
    folders = [str(path)] if path.is_dir() else []
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                elif entry.is_file():
                    stat = entry.stat()
                    yield entry.path, stat.st_size, stat.st_mtime_ns


def read(file: Path, expected_fingerprint: str) -> Dataset | None:
    """The cached dataset, or None when there is none, it is stale, or it is unreadable (it is then rebuilt)."""
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as stored:
            if str(stored["fingerprint"]) != expected_fingerprint:
                return None
            dataset = Dataset(
                x_train=stored["x_train"],
                y_train=stored["y_train"],
                x_test=stored["x_test"],
                y_test=stored["y_test"],
                class_names=tuple(str(name) for name in stored["class_names"]),
                source=str(stored["source"]),
                notes=tuple(str(note) for note in stored["notes"]),
            )
    except Exception:  # a damaged .npz fails in many ways; any of them means "decode again"
        return None
    return dataset if _looks_whole(dataset) else None


def _looks_whole(dataset: Dataset) -> bool:
    """Whether the cached arrays pass the checks the source's did: a cache file is only a file, which anything
    may have damaged or replaced, and labels beyond the classes would fail far from here, in training."""
    def split_ok(images: np.ndarray, labels: np.ndarray) -> bool:
        return (images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
                and labels.dtype == np.int64 and labels.shape == (len(images),))

    if not (split_ok(dataset.x_train, dataset.y_train) and split_ok(dataset.x_test, dataset.y_test) and dataset.class_names):
        return False
    try:
        check_class_names(dataset.class_names, str(dataset.source), "")
        for labels in (dataset.y_train, dataset.y_test):
            check_label_range(labels, dataset.num_classes, str(dataset.source))
    except DataError:
        return False
    return True


def write(file: Path, dataset: Dataset, source_fingerprint: str) -> None:
    """Write atomically (a temporary file, then a rename), so no reader ever sees half a cache file."""
    file.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=file.parent, prefix=f".{file.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(
                stream,
                fingerprint=np.array(source_fingerprint),
                x_train=dataset.x_train,
                y_train=dataset.y_train,
                x_test=dataset.x_test,
                y_test=dataset.y_test,
                class_names=np.array(dataset.class_names, dtype=str),
                source=np.array(dataset.source),
                notes=np.array(dataset.notes, dtype=str),
            )
        os.replace(temporary, file)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
