import numpy as np
import pytest

from cifar_cnn import evaluation

# Four images, three classes. Rows: probabilities; true labels below.
PROBABILITIES = np.array(
    [
        [0.7, 0.2, 0.1],  # true 0, predicted 0
        [0.1, 0.6, 0.3],  # true 0, predicted 1 (confidence 0.6)
        [0.05, 0.9, 0.05],  # true 0, predicted 1 (confidence 0.9)
        [0.2, 0.3, 0.5],  # true 2, predicted 2
    ]
)
LABELS = np.array([0, 0, 0, 2])


def test_confusion_matrix_rows_are_true_classes():
    matrix = evaluation.confusion(PROBABILITIES, LABELS)
    np.testing.assert_array_equal(matrix, [[1, 2, 0], [0, 0, 0], [0, 0, 1]])


def test_normalize_rows_leaves_empty_rows_at_zero():
    shares = evaluation.normalize_rows(np.array([[1, 3], [0, 0]]))
    np.testing.assert_allclose(shares, [[0.25, 0.75], [0, 0]])


def test_accuracy():
    assert evaluation.accuracy(PROBABILITIES, LABELS) == pytest.approx(0.5)


def test_per_class_metrics():
    table = evaluation.per_class_metrics(PROBABILITIES, LABELS, ["a", "b", "c"])
    assert list(table.columns) == ["class", "precision", "recall", "f1", "support"]
    a = table.set_index("class").loc["a"]
    assert a.precision == pytest.approx(1.0) and a.recall == pytest.approx(1 / 3) and a.support == 3
    assert table.set_index("class").loc["b"].precision == 0  # predicted twice, never right


def test_cell_examples_most_confident_first():
    np.testing.assert_array_equal(evaluation.cell_examples(PROBABILITIES, LABELS, 0, 1), [2, 1])
    np.testing.assert_array_equal(evaluation.cell_examples(PROBABILITIES, LABELS, 0, 0), [0])
    assert evaluation.cell_examples(PROBABILITIES, LABELS, 1, 1).size == 0


def test_top_losses_are_mistakes_by_loss():
    np.testing.assert_array_equal(evaluation.top_losses(PROBABILITIES, LABELS, count=5), [2, 1])
    np.testing.assert_allclose(evaluation.per_image_loss(PROBABILITIES, LABELS)[0], -np.log(0.7))


def test_most_confused_pairs_skip_the_diagonal_and_zeros():
    matrix = np.array([[9, 1, 4], [0, 8, 0], [2, 0, 7]])
    pairs = evaluation.most_confused_pairs(matrix, count=5)
    assert [(p.true_class, p.predicted_class, p.count) for p in pairs] == [(0, 2, 4), (2, 0, 2), (0, 1, 1)]

