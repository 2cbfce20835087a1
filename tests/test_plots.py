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
    batches = [{"epoch": 1 + step // 100, "batch": 1 + step % 100, "loss": 1.0, "accuracy": 0.5} for step in range(20_000)]
    epochs = [{"epoch": e, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4} for e in range(1, 201)]
    figure = plots.live_curve_figure(batches, epochs, steps_per_epoch=100, metric="loss")
    assert all(len(trace.x) <= plots.MAX_POINTS_PER_CURVE for trace in figure.data)
    assert [trace.name.split(" (")[0].split(",")[0] for trace in figure.data] == ["training batches"] * 3 + ["validation"]
    assert figure.data[0].x[0] == pytest.approx(0.01) and figure.data[3].x[-1] == 200
    # What every viewer's tab receives at each redraw: no Plotly template (Streamlit's theme replaces it in the
    # browser), the curves as float32. It was 29 kB.
    assert figure.layout.template.layout.to_plotly_json() == {}
    assert len(figure.to_json()) < 15_000
