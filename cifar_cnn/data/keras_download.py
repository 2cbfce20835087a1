"""The default source: Keras downloads CIFAR-10 once and keeps it in ~/.keras/datasets."""

from __future__ import annotations

import numpy as np

from cifar_cnn.data.dataset import CIFAR10_CLASSES, DataError, Dataset

HOW_TO_USE_A_LOCAL_COPY = (
    "Without internet, point at a local copy: `--data PATH` on the command line, the CIFAR10_DATA environment "
    "variable, or a local path in the app's sidebar. PATH may be cifar-10-python.tar.gz, its cifar-10-batches-py/ "
    "folder, a folder with train/<class>/ and test/<class>/ image folders, or a .tar, .tar.gz or .zip of one."
)


def load_keras_cifar10() -> Dataset:
    import keras  # slow to import: only when the download is wanted

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as error:  # no network, a proxy, a half-downloaded file...
        raise DataError(f"Downloading CIFAR-10 through Keras failed ({type(error).__name__}: {error}). {HOW_TO_USE_A_LOCAL_COPY}") from None
    return Dataset(
        x_train=np.asarray(x_train, dtype=np.uint8),
        y_train=np.asarray(y_train, dtype=np.int64).reshape(-1),
        x_test=np.asarray(x_test, dtype=np.uint8),
        y_test=np.asarray(y_test, dtype=np.int64).reshape(-1),
        class_names=CIFAR10_CLASSES,
        source="Keras CIFAR-10 download",
    )
