"""Read a .tar, .tar.gz, .tgz or .zip in one pass, keeping what a dataset needs.

A compressed tar can only be read front to back efficiently, so each member
is read as it comes: the official batch files by name, and the images of an
image-folder tree by their `[top/]train|test/<class>/<file>` path. Nothing is
extracted to disk.

What is kept is bounded (`UnpackLimits`): a few MB of archive can unpack to
gigabytes of zeros, and the app reads whatever path a visitor types.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cifar_cnn.data.dataset import DataError, Progress
from cifar_cnn.data.image_folder import SPLITS, ImageFile, is_image_name, is_visible
from cifar_cnn.data.official import BATCH_FILES

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
ZIP_SUFFIXES = (".zip",)
BROKEN_ARCHIVE = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error)
PROGRESS_EVERY = 1000  # members
MB = 1024 * 1024
MAX_UNPACKED_ENV = "CIFAR_CNN_MAX_UNPACKED_MB"
MAX_MEMBER_ENV = "CIFAR_CNN_MAX_MEMBER_MB"
CHUNK = 1024 * 1024  # bytes read at a time, so that no single read can unpack more than this past a limit
# zipfile unpacks a bzip2 or LZMA member's compressed bytes in one call, however much they expand to, so no
# reader can stop such a member at a limit; deflate (what zip tools write by default) it unpacks bit by bit.
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


@dataclass(frozen=True)
class UnpackLimits:
    """How much of an archive is read into memory: in all, and for any one member.

    The defaults are well above CIFAR-10's needs (about 180 MB in all; the largest file, a batch, about 31 MB).
    """

    total_mb: float = 2048
    member_mb: float = 64

    @classmethod
    def from_environment(cls) -> UnpackLimits:
        """The defaults, or $CIFAR_CNN_MAX_UNPACKED_MB and $CIFAR_CNN_MAX_MEMBER_MB where set."""
        return cls(total_mb=_megabytes_from(MAX_UNPACKED_ENV, cls.total_mb), member_mb=_megabytes_from(MAX_MEMBER_ENV, cls.member_mb))


def _megabytes_from(variable: str, default: float) -> float:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise DataError(f"{variable}={text!r} is not a size in megabytes; set it to a number above 0 (default: {default:g}).")
    return value


class _BoundedReader:
    """Reads archive members into memory, counting the bytes as they come out of the decompressor rather than
    trusting the sizes the headers declare, and stops at the first byte past a limit."""

    def __init__(self, path: Path, limits: UnpackLimits):
        self.path = path
        self.limits = limits
        self.used = 0  # bytes kept so far, all members together

    def read(self, stream: BinaryIO, member: str) -> bytes:
        member_limit, total_left = self.limits.member_mb * MB, self.limits.total_mb * MB - self.used
        chunks, size = [], 0
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > member_limit:
                raise DataError(
                    f"{self.path}:{member} unpacks to more than {self.limits.member_mb:g} MB, the limit for one file in an "
                    f"archive (CIFAR-10's largest is about 31 MB). If the archive is genuine, raise the limit with {MAX_MEMBER_ENV}, "
                    f"for example {MAX_MEMBER_ENV}={_doubled(self.limits.member_mb)}.")
            if size > total_left:
                raise DataError(
                    f"{self.path} unpacks to more than {self.limits.total_mb:g} MB (reached at {member}), the limit for a whole "
                    f"archive (CIFAR-10 is about 180 MB). If the archive is genuine, raise the limit with {MAX_UNPACKED_ENV}, "
                    f"for example {MAX_UNPACKED_ENV}={_doubled(self.limits.total_mb)}.")
            chunks.append(chunk)
        self.used += size
        return b"".join(chunks)


def _doubled(limit_mb: float) -> int:
    return max(1, round(limit_mb * 2))


@dataclass
class ArchiveContents:
    path: Path
    batches: dict[str, bytes] = field(default_factory=dict)  # official batch files by name
    images: list[ImageFile] = field(default_factory=list)
    classes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # split -> class folders
    tree_roots: set[str] = field(default_factory=set)  # folders holding train/ and test/ ("" for the top)

    def add_folder(self, name: str) -> None:
        parts = _parts(name)
        if len(parts) >= 2 and parts[-2] in SPLITS and is_visible(parts[-1]):
            self.classes[parts[-2]].add(parts[-1])
            self.tree_roots.add("/".join(parts[:-2]))

    def add_file(self, name: str, read: Callable[[], bytes]) -> None:
        parts = _parts(name)
        if not parts:
            return
        if parts[-1] in BATCH_FILES:
            self.batches[parts[-1]] = read()
            return
        # An image-folder member: [top/...]train|test/<class>/<file>
        if len(parts) < 3 or parts[-3] not in SPLITS or not is_visible(parts[-2]):
            return
        split, class_name, file_name = parts[-3:]
        self.classes[split].add(class_name)
        self.tree_roots.add("/".join(parts[:-3]))
        if is_image_name(file_name):
            data = read()  # now, while the archive is here: a compressed tar cannot come back cheaply
            self.images.append(ImageFile(split, class_name, file_name, f"{self.path}:{name}", lambda: data))

    def image_tree(self) -> tuple[list[ImageFile], dict[str, set[str]]]:
        """The image files and class folders of the archive's one image-folder tree."""
        if len(self.tree_roots) > 1:
            roots = ", ".join(f"{root or '(top)'}/" for root in sorted(self.tree_roots)[:4])
            raise DataError(f"{self.path} holds more than one train/ and test/ tree ({roots}); pack just one.")
        for split in SPLITS:
            if split not in self.classes:
                raise DataError(f"{self.path} has no {split}/<class>/ folders: an image-folder dataset needs both train/ and test/.")
        return self.images, dict(self.classes)


def is_archive(path: Path) -> bool:
    return path.is_file() and (path.name.lower().endswith(TAR_SUFFIXES + ZIP_SUFFIXES) or zipfile.is_zipfile(path) or tarfile.is_tarfile(path))


def read_archive(path: Path, progress: Progress, limits: UnpackLimits | None = None) -> ArchiveContents:
    """Everything dataset-shaped in the archive. Progress runs from 0 to 0.5: decoding is the other half.

    `limits` bounds what is read into memory (default: `UnpackLimits.from_environment()`); past them, DataError.
    """
    reader = _BoundedReader(path, limits or UnpackLimits.from_environment())
    contents = ArchiveContents(path)
    name = path.name.lower()
    try:
        if name.endswith(ZIP_SUFFIXES) or (not name.endswith(TAR_SUFFIXES) and zipfile.is_zipfile(path)):
            _read_zip(path, contents, reader, progress)
        else:
            _read_tar(path, contents, reader, progress)
    except DataError:
        raise
    except PermissionError as error:
        raise DataError(f"{path} could not be read ({error.strerror}); check its permissions.") from None
    except BROKEN_ARCHIVE as error:
        raise DataError(f"{path} is truncated or corrupt ({type(error).__name__}: {error}). Download or pack it again.") from None
    return contents


def _read_tar(path: Path, contents: ArchiveContents, reader: _BoundedReader, progress: Progress) -> None:
    size = path.stat().st_size or 1
    with open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r:*") as archive:
        for count, member in enumerate(archive):
            if member.isdir():
                contents.add_folder(member.name)
            elif member.isfile():
                contents.add_file(member.name, lambda member=member: reader.read(archive.extractfile(member), member.name))
            if count % PROGRESS_EVERY == 0:
                progress(0.5 * raw.tell() / size, f"Reading {path.name}")
        if archive.fileobj is raw:
            _check_tar_end(archive, path)


def _check_tar_end(archive: tarfile.TarFile, path: Path) -> None:
    """tarfile stops quietly at a damaged or missing header, so a plain .tar cut short between two
    members would look whole; a whole one ends with a block of zeros. (A compressed tar cut short
    fails in the decompressor instead.)"""
    archive.fileobj.seek(archive.offset)
    end = archive.fileobj.read(tarfile.BLOCKSIZE)
    if len(end) < tarfile.BLOCKSIZE or end.count(0) != tarfile.BLOCKSIZE:
        raise DataError(f"{path} is truncated or corrupt: it stops at byte {archive.offset:,} without the end-of-archive marker. Download or pack it again.")


def _read_zip(path: Path, contents: ArchiveContents, reader: _BoundedReader, progress: Progress) -> None:
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        for count, member in enumerate(members):
            if member.is_dir():
                contents.add_folder(member.filename)
            else:
                contents.add_file(member.filename, lambda member=member: _read_zip_member(archive, member, reader))
            if count % PROGRESS_EVERY == 0:
                progress(0.5 * count / len(members), f"Reading {path.name}")


def _read_zip_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, reader: _BoundedReader) -> bytes:
    where = f"{reader.path}:{member.filename}"
    if member.flag_bits & 0x1:
        raise DataError(f"{where} is encrypted; pack the archive again without a password.")
    if member.compress_type not in ZIP_METHODS:
        raise DataError(
            f"{where} is compressed with method {member.compress_type} ({_method_name(member.compress_type)}), which this loader "
            "does not unpack: it cannot bound the memory that takes. Pack the archive again with ordinary zip compression "
            "(deflate, every zip tool's default).")
    with archive.open(member) as stream:
        return reader.read(stream, member.filename)


def _method_name(method: int) -> str:
    names = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA", 9: "deflate64", 93: "zstandard", 99: "AES encryption"}
    return names.get(method, "unknown")


def _parts(name: str) -> list[str]:
    """A member name's folders and file name (str.split: pathlib is slow for 60,000 names)."""
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]  # Windows zips may use backslashes
    return [] if "__MACOSX" in parts else parts  # macOS zips add resource forks under __MACOSX/
