"""Tiny in-memory datasets for tests that do not need files on disk."""

import numpy as np

from cifar_cnn.data import Dataset


def make_dataset(n_train: int = 240, n_test: int = 60, num_classes: int = 3, seed: int = 0) -> Dataset:
    """Noise images whose class shows in one colour channel, so a small CNN can learn it in one epoch."""
    rng = np.random.default_rng(seed)

    def images_for(labels: np.ndarray) -> np.ndarray:
        images = rng.integers(0, 80, (len(labels), 32, 32, 3), dtype=np.uint8)
        for label in range(num_classes):
            images[labels == label, :, :, label % 3] += 150
        return images

    y_train = np.arange(n_train) % num_classes
    y_test = np.arange(n_test) % num_classes
    return Dataset(
        x_train=images_for(y_train),
        y_train=y_train.astype(np.int64),
        x_test=images_for(y_test),
        y_test=y_test.astype(np.int64),
        class_names=tuple(f"class{index}" for index in range(num_classes)),
        source="synthetic",
    )
