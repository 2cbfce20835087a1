"""Runs told apart: labels a person can read, the settings in which runs differ, a colour per run."""

import colorsys
import json
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from PIL import ImageColor
from streamlit.testing.v1 import AppTest

from cifar_cnn import plots, run_labels, runs

APP = str(Path(__file__).resolve().parent.parent / "overview.py")


def history(epochs: int, accuracy: float = 0.5) -> pd.DataFrame:
    return pd.DataFrame({"epoch": range(1, epochs + 1), "loss": [2.0] * epochs, "accuracy": [accuracy] * epochs,
                         "val_loss": [2.1] * epochs, "val_accuracy": [accuracy] * epochs, "seconds": [1.0] * epochs})


def a_run(run_id="20261127-091153-seed_cnn", state="completed", metrics=None, epochs=3, started_at=1_795_000_000.0, **config) -> runs.Run:
    config = {"arch": "seed_cnn", "epochs": 3, "learning_rate": 0.001, "train_images": 2000, **config}
    return runs.Run(run_id=run_id, path=Path("/nowhere") / run_id, config=config,
                    status={"state": state, "started_at": started_at}, metrics=metrics, history=history(epochs))


def test_a_finished_run_reads_as_what_was_trained_and_how_well():
    run = a_run(metrics={"test_accuracy": 0.2624, "train_accuracy": 0.3})
    assert run_labels.describe(run) == "seed_cnn · 2,000 images · 3 epochs · test 26.2%"


def test_a_named_run_on_a_time_budget():
    run = a_run(name="Ada's demo", arch="fast_cnn", train_images=50000, minutes=1.0, epochs=7, metrics={"test_accuracy": 0.741})
    assert run_labels.describe(run) == "Ada's demo · fast_cnn · 50,000 images · 7 epochs in 1 min · test 74.1%"


def test_a_run_that_did_not_finish_says_so():
    assert run_labels.describe(a_run(state="running", epochs=1)) == "seed_cnn · 2,000 images · 1 epoch · running"
    stopped = a_run(state="stopped", epochs=2, metrics={"test_accuracy": 0.4})
    assert run_labels.describe(stopped) == "seed_cnn · 2,000 images · 2 epochs · stopped · test 40.0%"


def test_an_old_run_without_image_counts_or_architecture_still_gets_a_label():
    run = runs.Run(run_id="old", path=Path("/nowhere/old"), config={}, status={"state": "failed"}, history=history(0))
    assert run_labels.describe(run) == "unknown network · 0 epochs · failed"


def test_runs_that_read_the_same_are_told_apart_by_their_start():
    first, second = a_run("a", started_at=1_795_000_000.0), a_run("b", started_at=1_795_000_061.0)
    labels = run_labels.describe_all([first, second, a_run("c", learning_rate=0.01, epochs=4)])
    assert len(set(labels)) == 3
    assert labels[0].startswith("seed_cnn · 2,000 images · 3 epochs · started ") and labels[0] != labels[1]
    assert labels[2] == "seed_cnn · 2,000 images · 4 epochs"


def test_only_the_settings_that_differ_are_listed():
    table = run_labels.differing_settings([a_run("a", learning_rate=0.001, batch_size=64), a_run("b", learning_rate=0.01, batch_size=64)])
    assert list(table.columns) == ["run", "learning rate"]
    assert list(table["learning rate"]) == ["0.001", "0.01"]


def test_a_setting_one_run_lacks_is_listed_as_not_recorded():
    table = run_labels.differing_settings([a_run("a", weight_decay=0.0005), a_run("b")])
    assert list(table["weight decay"]) == ["0.0005", "not recorded"]


def test_runs_trained_alike_have_no_differing_settings():
    assert list(run_labels.differing_settings([a_run("a"), a_run("b")]).columns) == ["run"]


def hue(colour: str) -> float:
    red, green, blue = ImageColor.getrgb(colour)[:3]
    return colorsys.rgb_to_hsv(red / 255, green / 255, blue / 255)[0] * 360


def test_every_run_of_a_comparison_has_its_own_colour():
    histories = {f"run {index}": history(3) for index in range(4)}
    figure = plots.runs_overlay_figure(histories, "val_accuracy", "Validation accuracy")
    colours = [trace.line.color for trace in figure.data]
    assert None not in colours and len(set(colours)) == 4
    first, second = hue(colours[0]), hue(colours[1])
    assert min(abs(first - second), 360 - abs(first - second)) > 30, colours  # not two blues
    assert [trace.marker.color for trace in figure.data] == colours


def test_more_runs_than_colours_differ_by_dash():
    figure = plots.runs_overlay_figure({f"run {index}": history(2) for index in range(12)}, "loss", "Training loss")
    styles = [(trace.line.color, trace.line.dash) for trace in figure.data]
    assert len(set(styles)) == 12


def test_the_comparison_axes_are_titled_in_words():
    histories = {"one": history(2)}
    assert plots.runs_overlay_figure(histories, "val_accuracy", "Validation accuracy").layout.yaxis.title.text == "validation accuracy"
    assert plots.runs_overlay_figure(histories, "loss", "Training loss").layout.yaxis.title.text == "training loss"


@pytest.fixture
def two_runs_on_disk(tmp_path, monkeypatch):
    """Two finished runs that differ only in their learning rate, written by hand."""
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CIFAR10_DATA", str(tmp_path / "no-data"))
    st.cache_resource.clear()
    ids = []
    for learning_rate, accuracy in ((0.001, 0.262), (0.01, 0.41)):
        run_dir = runs.create_run({"arch": "seed_cnn", "epochs": 3, "learning_rate": learning_rate, "batch_size": 64,
                                   "train_images": 2000}, tmp_path / "artifacts" / "runs")
        runs.write_history(run_dir, history(3, accuracy).to_dict("records"))
        runs.write_metrics(run_dir, {"train_accuracy": accuracy, "train_loss": 1.5, "test_accuracy": accuracy, "test_loss": 1.6})
        runs.update_status(run_dir, "completed")
        ids.append(run_dir.name)
    yield ids
    st.cache_resource.clear()


def test_the_runs_page_lists_the_settings_that_differ_and_labels_the_curves(two_runs_on_disk):
    app = AppTest.from_file(APP, default_timeout=90)
    app.run()
    app.switch_page("pages/3_runs.py").run()
    assert not app.exception, app.exception
    app.multiselect(key="chosen_runs").set_value(two_runs_on_disk).run()
    assert not app.exception, app.exception
    settings = app.dataframe[-1].value
    assert "learning rate" in settings.columns and "arch" not in settings.columns and "epochs" not in settings.columns
    assert sorted(settings["learning rate"]) == ["0.001", "0.01"]
    chart = json.loads(app.get("plotly_chart")[1].proto.spec)
    assert chart["layout"]["yaxis"]["title"]["text"] == "validation accuracy"
    names = sorted(trace["name"] for trace in chart["data"])
    assert names[0].startswith("seed_cnn · 2,000 images · 3 epochs · test 26.2%")
    assert names[1].startswith("seed_cnn · 2,000 images · 3 epochs · test 41.0%")
    assert len({trace["line"]["color"] for trace in chart["data"]}) == 2
