"""Decoded datasets cached as .npz files, keyed by the source's path, size and modification time.

Decoding 60,000 JPEGs takes a while; loading the arrays back takes a moment.
A changed source gets a new key, so a stale cache is never used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from cifar_cnn.data.dataset import Dataset

FORMAT_VERSION = 1


def fingerprint(source: Path) -> str:
    """A short hash of the source's resolved path, sizes and modification times."""
    digest = hashlib.sha256(f"v{FORMAT_VERSION}".encode())
    source = source.resolve()
    if source.is_file():
        entries = [(source, source.stat())]
    else:
        entries = [(Path(root) / name, None) for root, _, names in os.walk(source) for name in names]
        entries = [(path, path.stat()) for path, _ in sorted(entries)]
    digest.update(str(source).encode())
    for path, stat in entries:
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def cache_path(cache_dir: Path, source: Path) -> Path:
    return cache_dir / f"{source.name}-{fingerprint(source)}.npz"


def read(path: Path) -> Dataset | None:
    """The cached dataset, or None if there is none or it is unreadable (it is then rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return Dataset(
                x_train=data["x_train"],
                y_train=data["y_train"],
                x_test=data["x_test"],
                y_test=data["y_test"],
                class_names=tuple(str(name) for name in data["class_names"]),
                source=str(data["source"]),
                notes=tuple(str(note) for note in data["notes"]),
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def write(path: Path, dataset: Dataset) -> None:
    """Write atomically, so a crash or a second process never leaves half a cache file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(
                file,
                x_train=dataset.x_train,
                y_train=dataset.y_train,
                x_test=dataset.x_test,
                y_test=dataset.y_test,
                class_names=np.array(dataset.class_names, dtype=str),
                source=np.array(dataset.source),
                notes=np.array(dataset.notes, dtype=str),
            )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
