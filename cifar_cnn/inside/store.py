"""The run folder's `inside/` files: what the Inside page computed once over the test set, kept for next time.

Each file's name holds a key made from the model file's contents and the test set (`test_set_key`), so a retrained
model or another test set never reads stale figures: it computes and stores anew, and the file with the old key is
removed. Files are written atomically (`runs.atomic_write`); one that cannot be read counts as not stored, and one
that cannot be written (a read-only run folder) is skipped: the page then computes again next time.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

import numpy as np

from cifar_cnn import runs

FOLDER = "inside"


def test_set_key(model_file: Path, images: np.ndarray, labels: np.ndarray) -> str:
    """A short key naming this model file (its contents) and these test images and labels.

    The contents rather than the file's time: a queued training stores its figures in the worker's run folder, and the
    app writes the file again into its own; the same model must find them there."""
    digest = hashlib.blake2b(digest_size=8)
    stat = Path(model_file).stat()
    digest.update(_contents_digest(str(model_file), stat.st_size, stat.st_mtime_ns))
    digest.update(f"{images.shape}:{labels.shape}".encode())
    digest.update(np.ascontiguousarray(images).data)
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).data)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _contents_digest(file: str, size: int, modified_ns: int) -> bytes:
    """The digest of a file's bytes, read once per size and modification time (the Inside page asks on every rerun)."""
    with open(file, "rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=16)).digest()


def _stem(kind: str, name: str) -> str:
    """A file-name-safe stem for `kind` and a name from the model (a layer's name may hold any character)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)[:60]
    if cleaned != name:  # two names that clean to the same text keep apart
        cleaned += "_" + hashlib.blake2b(name.encode(), digest_size=4).hexdigest()
    return f"{kind}_{cleaned}" if cleaned else kind


def path(run_dir: Path, kind: str, name: str, key: str, suffix: str) -> Path:
    """Where the `kind` file of `name` (a layer, or "" for the whole model) computed under `key` lives."""
    return Path(run_dir) / FOLDER / f"{_stem(kind, name)}-{key}{suffix}"


def load_array(file: Path) -> np.ndarray | None:
    """The array stored in `file` (.npy), or None when it is missing or cannot be read."""
    try:
        return np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None


def load_arrays(file: Path) -> dict[str, np.ndarray] | None:
    """The arrays stored in `file` (.npz), or None when it is missing or cannot be read."""
    try:
        with np.load(file, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except Exception:  # NumPy and zipfile raise many types for a damaged file
        return None


def save_array(file: Path, array: np.ndarray) -> bool:
    """Store `array` in `file` (.npy) and remove the files of the same stem with other keys. False where it cannot be written."""
    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:
            np.save(handle, array, allow_pickle=False)

    return _save(file, write)


def save_arrays(file: Path, **arrays: np.ndarray) -> bool:
    """Store `arrays` in `file` (.npz), as `save_array` does."""
    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)

    return _save(file, write)


def _save(file: Path, write) -> bool:
    try:
        runs.atomic_write(file, write)
    except OSError:
        return False
    stem = file.name.rsplit("-", 1)[0]
    for old in file.parent.glob(f"{stem}-*{file.suffix}"):
        if old != file and old.name.rsplit("-", 1)[0] == stem:
            old.unlink(missing_ok=True)
    return True
