"""The in-memory dataset every other module works with, and the error bad data raises."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

# progress(fraction done in 0..1, message): drives the app's and the CLI's progress bars.
Progress = Callable[[float, str], None]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class DataError(Exception):
    """Data that cannot be loaded; the message names the file, the problem and, where it can, the fix."""


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray  # uint8, (N, 32, 32, 3)
    y_train: np.ndarray  # int64, (N,)
    x_test: np.ndarray  # uint8, (M, 32, 32, 3)
    y_test: np.ndarray  # int64, (M,)
    class_names: tuple[str, ...]
    source: str  # where it came from, for people
    notes: tuple[str, ...] = ()  # what the loader changed, e.g. resized images

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def check_class_names(names: Iterable[str], where: str, fix: str) -> None:
    """Refuse class names a person could not read or tell apart; every source checks its names here.

    A dataset's author picks its class names (folder names, batches.meta), and they reach every page, chart
    and report: an empty name shows as nothing, and a control character such as a right-to-left override
    (U+202E) can make a name display as another. `fix` says how to correct them at this source.
    """
    seen = set()
    for name in names:
        problem = _class_name_problem(name)
        if problem is None and name in seen:
            problem = "appears twice"
        if problem:
            raise DataError(f"{where}: the class name {name!r} {problem}. {fix}")
        seen.add(name)


def _class_name_problem(name: str) -> str | None:
    if name == "":
        return "is empty"
    if name.isspace():
        return "is only whitespace"
    for character in name:
        category = unicodedata.category(character)
        if category in ("Cc", "Cf"):  # control and format characters, all invisible
            label = unicodedata.name(character, "a control character")
            return f"holds U+{ord(character):04X} ({label}), an invisible character"
        if category == "Cs":  # how Python keeps the bytes of a file name that is not UTF-8
            return "holds bytes that are not UTF-8 text"
    return None


def integer_labels(values, where: str) -> np.ndarray:
    """`values` as int64 labels, refusing anything but integers: a float label such as 0.5 would
    otherwise become class 0 without a word."""
    try:
        labels = np.asarray(values)
    except (TypeError, ValueError) as error:  # ragged or otherwise unreadable lists
        raise DataError(f"{where} has labels that are not integers ({error}).") from None
    if labels.size == 0:
        return np.empty(0, np.int64)
    if labels.dtype.kind not in "iu":
        raise DataError(f"{where} has labels that are not integers (of type {labels.dtype}, for example "
                        f"{_example(labels.reshape(-1).tolist())!r}); a label is a class number 0, 1, 2, ... Fix the labels in the file.")
    return labels.astype(np.int64).reshape(-1)


def _example(values: list):
    """The first value that is not a class number, preferring one that is plainly so (0.5 over 1.0)."""
    wrong = [value for value in values if not isinstance(value, int) or isinstance(value, bool)]
    plainly_wrong = (value for value in wrong if not (isinstance(value, float) and value.is_integer()))
    return next(plainly_wrong, wrong[0] if wrong else values[0])  # all ints here: too big for int64


def check_label_range(labels: np.ndarray, num_classes: int, where: str) -> None:
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{where} has labels outside 0..{num_classes - 1}, one per class.")


# Every "which layouts are accepted?" message says this.
ACCEPTED_LAYOUTS = (
    "the official cifar-10-python.tar.gz or its extracted cifar-10-batches-py/ folder; "
    "an image-folder tree train/<class>/*.png|jpg|jpeg plus test/<class>/*, or a folder holding one such tree; "
    "or a .tar, .tar.gz, .tgz or .zip of such a tree"
)
