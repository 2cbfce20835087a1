"""Read a .tar, .tar.gz, .tgz or .zip in one pass, keeping what a dataset needs.

A compressed tar can only be read front to back efficiently, so each member
is read as it comes: the official batch files by name, and the images of an
image-folder tree by their `[top/]train|test/<class>/<file>` path. Nothing is
extracted to disk.
"""

from __future__ import annotations

import tarfile
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cifar_cnn.data.dataset import DataError, Progress
from cifar_cnn.data.image_folder import SPLITS, ImageFile, is_image_name, is_visible
from cifar_cnn.data.official import BATCH_FILES

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
ZIP_SUFFIXES = (".zip",)
BROKEN_ARCHIVE = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error)
PROGRESS_EVERY = 1000  # members


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


def read_archive(path: Path, progress: Progress) -> ArchiveContents:
    """Everything dataset-shaped in the archive. Progress runs from 0 to 0.5: decoding is the other half."""
    contents = ArchiveContents(path)
    name = path.name.lower()
    try:
        if name.endswith(ZIP_SUFFIXES) or (not name.endswith(TAR_SUFFIXES) and zipfile.is_zipfile(path)):
            _read_zip(path, contents, progress)
        else:
            _read_tar(path, contents, progress)
    except DataError:
        raise
    except PermissionError as error:
        raise DataError(f"{path} could not be read ({error.strerror}); check its permissions.") from None
    except BROKEN_ARCHIVE as error:
        raise DataError(f"{path} is truncated or corrupt ({type(error).__name__}: {error}). Download or pack it again.") from None
    return contents


def _read_tar(path: Path, contents: ArchiveContents, progress: Progress) -> None:
    size = path.stat().st_size or 1
    with open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r:*") as archive:
        for count, member in enumerate(archive):
            if member.isdir():
                contents.add_folder(member.name)
            elif member.isfile():
                contents.add_file(member.name, lambda member=member: archive.extractfile(member).read())
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


def _read_zip(path: Path, contents: ArchiveContents, progress: Progress) -> None:
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        for count, member in enumerate(members):
            if member.is_dir():
                contents.add_folder(member.filename)
            else:
                contents.add_file(member.filename, lambda member=member: archive.read(member))
            if count % PROGRESS_EVERY == 0:
                progress(0.5 * count / len(members), f"Reading {path.name}")


def _parts(name: str) -> list[str]:
    """A member name's folders and file name (str.split: pathlib is slow for 60,000 names)."""
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]  # Windows zips may use backslashes
    return [] if "__MACOSX" in parts else parts  # macOS zips add resource forks under __MACOSX/
