"""What a trained model gets right and wrong, from its test-set probabilities.

All functions take plain arrays: `probabilities` (N x classes) and integer
`labels` (N), as saved in a run's `predictions.npz`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    return np.argmax(probabilities, axis=1)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predicted_classes(probabilities) == labels))


def confusion(probabilities: np.ndarray, labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    num_classes = num_classes or probabilities.shape[1]
    return confusion_matrix(labels, predicted_classes(probabilities), labels=np.arange(num_classes))


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total (the share of a true class given each prediction)."""
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)


def per_class_metrics(probabilities: np.ndarray, labels: np.ndarray, class_names: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """Precision, recall, F1 and support per class, one row each."""
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted_classes(probabilities), labels=np.arange(len(class_names)), zero_division=0
    )
    return pd.DataFrame(
        {"class": list(class_names), "precision": precision, "recall": recall, "f1": f1, "support": support}
    )


def cell_examples(probabilities: np.ndarray, labels: np.ndarray, true_class: int, predicted_class: int) -> np.ndarray:
    """Indices of the images of one confusion-matrix cell, most confident first.

    Off the diagonal these are the mistakes the model was surest of; on the
    diagonal, the correct answers it was surest of.
    """
    predicted = predicted_classes(probabilities)
    indices = np.flatnonzero((labels == true_class) & (predicted == predicted_class))
    confidence = probabilities[indices, predicted_class]
    return indices[np.argsort(-confidence, kind="stable")]


def per_image_loss(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of each image: -log p(true class)."""
    true_probability = probabilities[np.arange(len(labels)), labels]
    return -np.log(np.clip(true_probability, 1e-7, 1.0))


def top_losses(probabilities: np.ndarray, labels: np.ndarray, count: int = 16) -> np.ndarray:
    """Indices of the misclassified images with the highest loss: the most confident mistakes."""
    wrong = np.flatnonzero(predicted_classes(probabilities) != labels)
    losses = per_image_loss(probabilities[wrong], labels[wrong])
    return wrong[np.argsort(-losses, kind="stable")][:count]


@dataclass(frozen=True)
class ConfusedPair:
    true_class: int
    predicted_class: int
    count: int


def most_confused_pairs(matrix: np.ndarray, count: int = 5) -> list[ConfusedPair]:
    """The largest off-diagonal cells, largest first (ties in row-major order)."""
    off_diagonal = matrix.astype(float).copy()
    np.fill_diagonal(off_diagonal, -1)
    order = np.argsort(-off_diagonal, axis=None, kind="stable")[:count]
    pairs = [ConfusedPair(int(row), int(col), int(matrix[row, col])) for row, col in zip(*np.unravel_index(order, matrix.shape))]
    return [pair for pair in pairs if pair.count > 0]
