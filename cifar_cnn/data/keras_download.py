"""The default source: Keras downloads CIFAR-10 once and keeps it in ~/.keras/datasets."""

from __future__ import annotations

import numpy as np

from cifar_cnn.data.dataset import (
    ACCEPTED_LAYOUTS,
    CIFAR10_CLASSES,
    DataError,
    Dataset,
    Progress,
    check_label_range,
    integer_labels,
)

SOURCE = "Keras CIFAR-10 download"
HOW_TO_USE_A_LOCAL_COPY = (
    "Without internet, point at a local copy instead: `--data PATH` on the command line, "
    f"CIFAR10_DATA=PATH in the environment, or a local path in the app's sidebar. PATH may be {ACCEPTED_LAYOUTS}."
)


def load_keras_cifar10(progress: Progress) -> Dataset:
    progress(0.0, "Loading CIFAR-10 through Keras (it downloads about 170 MB the first time)")
    try:
        import keras  # slow to import: only when this source is wanted

        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as error:  # no network, a proxy, a half-downloaded file...
        raise DataError(f"Downloading CIFAR-10 through Keras failed ({type(error).__name__}: {error}). {HOW_TO_USE_A_LOCAL_COPY}") from None
    progress(1.0, "Loaded CIFAR-10")
    # The labels get the checks a local copy's get: the download is a file in ~/.keras/datasets that anything may
    # have replaced. (Its class names are CIFAR10_CLASSES: Keras returns none.)
    labels = {}
    for split, values in (("train", y_train), ("test", y_test)):
        where = f"The {split} split of {SOURCE} (~/.keras/datasets/cifar-10-batches-py)"
        labels[split] = integer_labels(values, where)  # Keras gives labels as (N, 1); these are (N,)
        check_label_range(labels[split], len(CIFAR10_CLASSES), where)
    return Dataset(
        x_train=np.asarray(x_train, dtype=np.uint8),
        y_train=labels["train"],
        x_test=np.asarray(x_test, dtype=np.uint8),
        y_test=labels["test"],
        class_names=CIFAR10_CLASSES,
        source=SOURCE,
    )
