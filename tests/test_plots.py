import json

import numpy as np
import pytest
import pandas as pd

from cifar_cnn import plots

HISTORY = pd.DataFrame(
    {"epoch": [1, 2], "loss": [1.2, 0.8], "accuracy": [0.5, 0.7], "val_loss": [1.1, 0.9], "val_accuracy": [0.55, 0.65], "seconds": [3, 3]}
)


def test_curves_show_train_and_validation_and_say_what_each_measures():
    metrics = {"train_loss": 0.4, "train_accuracy": 0.9}
    for make, column in [(plots.loss_figure, "loss"), (plots.accuracy_figure, "accuracy")]:
        training, validation = make(HISTORY).data
        assert list(training.y) == list(HISTORY[column]) and list(validation.y) == list(HISTORY[f"val_{column}"])
        assert "dropout" in training.name and "augmentation" in training.name and validation.name.startswith("validation")
        final = make(HISTORY, metrics).data[-1]  # the final evaluation, at the last epoch
        assert (list(final.x), list(final.y)) == ([HISTORY["epoch"].iloc[-1]], [metrics[f"train_{column}"]])
        assert "final evaluation" in final.name


def test_confusion_figure_has_clickable_cell_centres():
    matrix = np.array([[3, 1], [0, 4]])
    figure = plots.confusion_figure(matrix, ["cat", "dog"])
    heatmap, cells = figure.data
    np.testing.assert_array_equal(heatmap.z, matrix)
    assert len(cells.x) == 4
    # customdata of each marker = (true index, predicted index, count, share %) of its cell
    assert {tuple(data[:2]) for data in cells.customdata} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    index = [tuple(data[:2]) for data in cells.customdata].index((0, 1))
    assert tuple(cells.customdata[index][2:]) == (1, 25)
    assert (cells.y[index], cells.x[index]) == ("cat", "dog")


def test_normalized_confusion_figure_shows_row_shares():
    figure = plots.confusion_figure(np.array([[3, 1], [0, 4]]), ["cat", "dog"], normalized=True)
    np.testing.assert_allclose(figure.data[0].z, [[0.75, 0.25], [0, 1]])


def test_write_html_is_self_contained(tmp_path):
    path = tmp_path / "charts.html"
    plots.write_html([plots.loss_figure(HISTORY), plots.accuracy_figure(HISTORY)], path, title="run <1>")
    text = path.read_text()
    assert text.count("Plotly.newPlot") == 2
    assert "run &lt;1&gt;" in text


def test_smoothing_is_a_debiased_moving_average():
    np.testing.assert_allclose(plots.smooth([1.0, 1.0, 1.0]), [1.0, 1.0, 1.0])
    smoothed = plots.smooth([0.0, 10.0], weight=0.5)
    assert smoothed[0] == 0.0 and smoothed[1] == pytest.approx(10 * 0.5 / 0.75)


def test_live_curves_stay_light_for_long_trainings():
    batches = [{"epoch": 1 + step // 100, "batch": 1 + step % 100, "loss": 1.0 + step / 1e5, "accuracy": 0.5} for step in range(20_000)]
    epochs = [{"epoch": e, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4} for e in range(1, 201)]
    series = plots.live_curve_series(batches, epochs, steps_per_epoch=100, metric="loss")
    assert len(series["batch_x"]) == len(series["batch_y"]) == len(series["smoothed_y"]) <= plots.MAX_POINTS_PER_CURVE
    assert series["batch_x"][0] == 0.01 and series["batch_y"][:2] == [1.0, 1.0005]  # every 50th batch: 20,000 / 400
    assert series["epoch_x"][-1] == 200 and series["validation_y"][-1] == 1.1 and len(series["epoch_y"]) == 200
    assert len(json.dumps(series)) < 20_000  # what every viewer's tab receives at each update, per chart


def test_live_curves_leave_a_gap_for_a_loss_that_is_not_a_number():
    batches = [{"epoch": 1, "batch": batch, "loss": loss, "accuracy": 0.1} for batch, loss in enumerate([2.0, float("nan"), float("inf"), 1.0], 1)]
    series = plots.live_curve_series(batches, [], steps_per_epoch=4, metric="loss")
    assert series["batch_y"] == [2.0, None, None, 1.0]
    json.dumps(series, allow_nan=False)  # the browser's JSON.parse refuses NaN
    assert series["epoch_x"] == [] and series["title"] == "Loss"
