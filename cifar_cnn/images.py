"""Small image helpers for showing 32x32 pictures to people."""

from __future__ import annotations

import numpy as np


def enlarge(image: np.ndarray, scale: int = 4) -> np.ndarray:
    """Nearest-neighbour upscaling, so every pixel stays a crisp square."""
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def sample_per_class(labels: np.ndarray, num_classes: int, per_class: int, seed: int) -> list[np.ndarray]:
    """For each class, up to `per_class` random indices of its images."""
    rng = np.random.default_rng(seed)
    samples = []
    for label in range(num_classes):
        indices = np.flatnonzero(labels == label)
        samples.append(np.sort(rng.choice(indices, size=min(per_class, len(indices)), replace=False)))
    return samples


def class_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(labels, minlength=num_classes)
