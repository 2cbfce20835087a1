"""The Class page (issue 18): the leaderboard, the settings chart and the sweep, in the core and on the page."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cifar_cnn import class_results, plots, runs
from cifar_cnn.training import LEARNING_RATE_RANGE, MAX_NAME_LENGTH, ConfigError, TrainConfig, train
from cifar_cnn.training.presets import (MAX_SWEEP_RUNS, SWEEPABLE, build_config, parse_sweep_values, suggested_values,
                                        sweep_configs)
from browser import browser_page, needs_chromium
from synthetic_arrays import make_dataset
from synthetic_data import write_image_folder

APP = str(Path(__file__).resolve().parent.parent / "overview.py")
PAGE = "pages/7_class.py"
LINK_OWNER = "[x](http://e.com)"
HTML_OWNER = '<a href="http://e.invalid/">html link</a>'


def written_run(runs_dir: Path, test_accuracy: float | None, state: str = "completed", **config) -> runs.Run:
    """A run as `train` leaves one, written directly (quick, every value known)."""
    settings = {**TrainConfig(arch="tiny_cnn", epochs=2).to_dict(), "class_names": ["a", "b", "c"], "dataset": "tiny",
                "train_images": 240, **config}
    run_dir = runs.create_run(settings, runs_dir)
    runs.write_history(run_dir, [{"epoch": epoch, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5, "seconds": 1.0}
                                 for epoch in (1, 2)])
    if test_accuracy is not None:
        runs.write_metrics(run_dir, {"train_accuracy": min(1.0, test_accuracy + 0.1), "train_loss": 0.5,
                                     "test_accuracy": test_accuracy, "test_loss": 0.7})
    runs.update_status(run_dir, state, "" if state == "completed" else "it went wrong")
    return runs.load_run(run_dir)


def damaged_run(runs_dir: Path) -> runs.Run:
    run_dir = runs_dir / "20250101-000000-broken"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text("{not json")
    found, _ = runs.list_runs(runs_dir)
    return next(run for run in found if run.run_id == run_dir.name)


@pytest.fixture
def class_runs(tmp_path):
    runs_dir = tmp_path / "runs"
    return [
        damaged_run(runs_dir),
        written_run(runs_dir, 0.40, owner="Ada", learning_rate=0.01, name="high rate"),
        written_run(runs_dir, None, state="failed", owner="Bob"),
        written_run(runs_dir, 0.70, owner="Bob", learning_rate=1e-3, optimizer="sgd", batch_size=128),
        written_run(runs_dir, 0.55, owner="", learning_rate=3e-4, subset=100, train_images=100),
    ]


# ---------------------------------------------------------------- leaderboard and chart data


def test_the_leaderboard_ranks_by_test_accuracy_with_owners(class_runs):
    table = class_results.leaderboard(class_runs)
    assert list(table.columns) == class_results.LEADERBOARD_COLUMNS
    assert list(table["test accuracy"][:3]) == [0.70, 0.55, 0.40]
    assert list(table["owner"]) == ["Bob", class_results.NO_OWNER, "Ada", "Bob", class_results.NO_OWNER]
    assert list(table["place"][:3]) == [1, 2, 3] and table["place"][3:].isna().all()
    assert list(table["state"][3:]) == ["failed", runs.DAMAGED]  # unfinished runs, then damaged ones, last
    best = table.iloc[0]
    assert (best["optimizer"], best["batch size"], best["learning rate"], best["images"]) == ("sgd", 128, 1e-3, 240)
    assert best["epochs"] == "2 of 2" and best["train accuracy"] == pytest.approx(0.8) and best["seconds"] >= 0
    assert table.iloc[2]["name"] == "high rate"


def test_the_leaderboard_of_damaged_runs_and_of_no_runs(tmp_path):
    table = class_results.leaderboard([damaged_run(tmp_path / "runs")])
    row = table.iloc[0]
    assert (row["owner"], row["state"], row["epochs"]) == (class_results.NO_OWNER, runs.DAMAGED, "-")
    assert row["architecture"] is None and pd.isna(row["test accuracy"]) and pd.isna(row["place"])
    assert class_results.leaderboard([]).empty


def test_settings_frame_gives_the_chart_numbers_of_runs_with_an_accuracy(class_runs):
    frame = class_results.settings_frame(class_runs)
    assert list(frame["test accuracy"]) == [0.70, 0.55, 0.40]  # neither the failed nor the damaged run
    assert list(frame["log10 learning rate"]) == pytest.approx([-3, math.log10(3e-4), -2])
    assert list(frame["batch size"]) == [128, 64, 64] and list(frame["train images"]) == [240, 100, 240]
    assert list(frame["epochs"]) == [2, 2, 2]
    assert class_results.category_names(frame, "optimizer") == ["adam", "sgd"]
    assert list(frame["optimizer code"]) == [1, 0, 0] and list(frame["architecture code"]) == [0, 0, 0]
    assert list(frame["label"]) == [class_runs[3].run_id, class_runs[4].run_id, "high rate"]
    for column in ("log10 learning rate", "batch size", "epochs", "train images", "test accuracy", "optimizer code"):
        assert frame[column].dtype.kind in "fi", column
    assert class_results.settings_frame([]).empty


@pytest.mark.parametrize("chart", plots.CLASS_CHARTS)
@pytest.mark.parametrize("colour_by", plots.CLASS_COLOURS)
def test_the_settings_chart_with_many_runs(class_runs, chart, colour_by):
    figure = plots.class_settings_figure(class_results.settings_frame(class_runs), colour_by, chart)
    kinds = {trace.type for trace in figure.data}
    assert kinds == ({"parcoords"} if chart == plots.CLASS_PARALLEL else {"scatter"})
    if chart == plots.CLASS_SCATTER:
        assert figure.layout.xaxis.type == "log"
        assert sum(len(trace.x) for trace in figure.data) == 3


def test_the_settings_chart_with_one_run_and_none(tmp_path):
    one = class_results.settings_frame([written_run(tmp_path / "runs", 0.5)])
    figure = plots.class_settings_figure(one, "optimizer", plots.CLASS_PARALLEL)
    assert [trace.type for trace in figure.data] == ["scatter"]  # one line connects nothing: the scatter instead
    empty = plots.class_settings_figure(class_results.settings_frame([]), "owner", plots.CLASS_PARALLEL)
    assert not empty.data and "No run" in empty.layout.annotations[0].text
    with pytest.raises(ValueError):
        plots.class_settings_figure(one, "colour of the sky")


def test_the_settings_chart_shows_user_names_as_text(tmp_path):
    runs_dir = tmp_path / "runs"
    found = [written_run(runs_dir, 0.5, owner=HTML_OWNER, name="<b>bold</b>"), written_run(runs_dir, 0.6, owner="Ada")]
    frame = class_results.settings_frame(found)
    for chart in plots.CLASS_CHARTS:
        spec = plots.class_settings_figure(frame, "owner", chart).to_json()
        assert "<a href" not in spec and "<b>bold" not in spec
    scatter = plots.class_settings_figure(frame, "owner")
    assert "&lt;a href" in " ".join(trace.name for trace in scatter.data)


def hostile_frame(runs_dir: Path):
    found = [written_run(runs_dir, 0.5, owner=HTML_OWNER, name="<b>bold</b>"), written_run(runs_dir, 0.6, owner=LINK_OWNER)]
    found.append(written_run(runs_dir, 0.7, owner="Ada"))
    (found[2].path / "config.json").write_text(json.dumps({**found[2].config, "arch": HTML_OWNER}))  # a tampered run
    return class_results.settings_frame(runs.load_run(run.path) for run in found)


@needs_chromium
def test_user_names_in_the_settings_charts_show_as_their_characters_in_a_browser(tmp_path):
    frame = hostile_frame(tmp_path / "runs")
    report = tmp_path / "charts.html"
    plots.write_html([plots.class_settings_figure(frame, "owner"), plots.class_settings_figure(frame, "architecture", plots.CLASS_PARALLEL)], report)
    with browser_page() as page:
        page.goto(report.as_uri())
        page.locator(".js-plotly-plot").nth(1).wait_for()
        page.wait_for_timeout(1000)  # parcoords draws its axes after the plot appears
        labels = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot text')].map(t => t.textContent)")
        assert HTML_OWNER in labels and LINK_OWNER in labels  # legend entries (the scatter) and axis ticks (parcoords)
        assert labels.count(HTML_OWNER) == 2, labels
        assert page.evaluate("() => document.querySelectorAll('a[href*=\"e.invalid\"], a[href*=\"e.com\"]').length") == 0


# ---------------------------------------------------------------- sweep


def test_a_sweep_makes_one_config_per_value_named_after_it():
    configs = sweep_configs("fast", "learning_rate", [0.1, 0.2, 0.4], minutes=1.0)
    base = build_config("fast", minutes=1.0)
    assert [config.learning_rate for config in configs] == [0.1, 0.2, 0.4]
    assert [config.name for config in configs] == ["learning rate 0.1", "learning rate 0.2", "learning rate 0.4"]
    for config in configs:
        assert config.to_dict() | {"learning_rate": 0, "name": ""} == base.to_dict() | {"learning_rate": 0, "name": ""}
    assert [config.name for config in sweep_configs("custom", "subset", [1000, 2000])] == ["1,000 images", "2,000 images"]
    assert [config.epochs for config in sweep_configs("custom", "epochs", [1, 3])] == [1, 3]


def test_a_sweep_name_keeps_what_differs_within_the_length_limit():
    configs = sweep_configs("custom", "weight_decay", [0.0, 0.0005], name="x" * MAX_NAME_LENGTH)
    assert all(len(config.name) <= MAX_NAME_LENGTH and config.name.endswith(f"weight decay {config.weight_decay:g}") for config in configs)
    assert sweep_configs("custom", "seed", [1, 2], name="mine")[1].name == "mine · seed 2"


@pytest.mark.parametrize("setting, values, message", [
    ("arch", [1, 2], "A sweep cannot vary arch"),
    ("colour", [1, 2], "Unknown setting 'colour' to sweep"),
    ("learning_rate", [0.1], "from 2 to 10 values of the learning rate, not 1"),
    ("learning_rate", [0.001 * (index + 1) for index in range(MAX_SWEEP_RUNS + 1)], "not 11"),
    ("learning_rate", [0.1, 0.2, 0.1], "value 0.1 appears more than once"),
    ("batch_size", [32, 64, 32, 64], "values 32, 64 appear more than once"),
    ("learning_rate", [0.1, 20.0], "The learning rate value 20 cannot train: Learning rate must be a number from"),
    ("batch_size", [64, 0], "The batch size value 0 cannot train"),
    ("label_smoothing", [0.1, "lots"], "'lots' is not a number"),
])
def test_a_sweep_refuses_with_a_clear_message(setting, values, message):
    with pytest.raises(ConfigError) as refused:
        sweep_configs("custom", setting, values)
    assert message in str(refused.value)


def test_sweep_values_are_parsed_from_text():
    assert parse_sweep_values("learning_rate", "0.001, 0.003 ;0.01") == [0.001, 0.003, 0.01]
    assert parse_sweep_values("batch_size", "32, 64.0") == [32, 64] and isinstance(parse_sweep_values("batch_size", "64.0")[0], int)
    with pytest.raises(ConfigError, match="'fast' is not a number"):
        parse_sweep_values("learning_rate", "0.1, fast")
    with pytest.raises(ConfigError, match="whole numbers, not 1.5"):
        parse_sweep_values("epochs", "1.5, 2")


@pytest.mark.parametrize("current", [None, 1e-5, 3e-4, 1e-3, 0.4, 10.0])
def test_suggested_learning_rates_are_five_within_range_about_three_apart(current):
    values = suggested_values("learning_rate", current)
    assert len(values) == 5 and values == sorted(set(values))
    assert all(LEARNING_RATE_RANGE[0] <= value <= LEARNING_RATE_RANGE[1] for value in values)
    assert all(2 <= high / low <= 4 for low, high in zip(values, values[1:]))
    if current is not None:
        assert current in values


@pytest.mark.parametrize("setting", SWEEPABLE)
def test_suggested_values_of_every_setting_make_a_sweep(setting):
    current = getattr(build_config("custom"), setting)
    sweep_configs("custom", setting, suggested_values(setting, current))  # the config builder takes every one
    assert max(suggested_values("subset", None, highest=24)) <= 24


# ---------------------------------------------------------------- the page


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    """A fresh artifacts folder and a tiny image-folder dataset, with Streamlit's caches emptied."""
    data = write_image_folder(tmp_path / "data", classes=("cat", "dog", "frog"), n_train=24, n_test=9)
    monkeypatch.setenv("CIFAR10_DATA", str(data))
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.delenv("CIFAR_CNN_TEACHER_KEY", raising=False)
    st.cache_resource.clear()
    yield tmp_path / "artifacts"
    st.cache_resource.clear()


def open_class_page() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=90)
    app.run()
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    return app


def values_input(app: AppTest):
    """The sweep's values box (its key names the setting, recipe and centre, which depend on this machine's precision)."""
    return next(box for box in app.text_input if box.label.startswith("Values of"))


def shown_markup(app: AppTest) -> list[str]:
    kinds = ("markdown", "caption", "info", "warning", "error", "success", "title", "header", "subheader", "button")
    return [str(getattr(element, "label", None) or element.value) for kind in kinds for element in getattr(app, kind)]


def test_an_empty_class_says_so_and_offers_a_sweep(artifacts):
    app = open_class_page()
    assert [title.value for title in app.title] == ["Class"]
    assert any("No runs yet" in info.value for info in app.info)
    assert app.button(key="queue_sweep").label == "Queue 5 trainings"
    rates = parse_sweep_values("learning_rate", values_input(app).value)
    assert build_config("fast").learning_rate in rates and len(rates) == 5  # prefilled around the preset's own rate


def test_the_class_page_ranks_runs_and_charts_them(artifacts):
    runs_dir = artifacts / "runs"
    train(TrainConfig(arch="tiny_cnn", epochs=1, owner="Ada"), make_dataset(num_classes=3), runs_dir=runs_dir)
    written_run(runs_dir, 0.99, owner="Bob")
    damaged_run(runs_dir)
    app = open_class_page()
    table = app.dataframe[0].value
    assert list(table["owner"]) == ["Bob", "Ada", class_results.NO_OWNER]
    assert table["state"].iloc[-1] == runs.DAMAGED
    assert len(app.get("plotly_chart")) == 1
    app.radio(key="class_chart").set_value(plots.CLASS_PARALLEL).run()
    assert not app.exception
    assert "parcoords" in app.get("plotly_chart")[0].proto.spec


def test_owner_names_show_as_text_on_the_class_page(artifacts):
    written_run(artifacts / "runs", 0.5, owner=LINK_OWNER)
    written_run(artifacts / "runs", 0.6, owner=HTML_OWNER)
    app = open_class_page()
    assert set(app.dataframe[0].value["owner"]) == {LINK_OWNER, HTML_OWNER}  # the table's cells hold the characters
    shown = shown_markup(app)
    assert any("e.com" in text.replace("\\", "") for text in shown), "the page shows no owner at all: the test checks nothing"
    for name in (LINK_OWNER, HTML_OWNER):
        assert not [text for text in shown if name in text], f"{name!r} reached the page as Markdown"
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert "<a href" not in json.dumps(spec)


def test_the_sweep_form_follows_the_setting_and_refuses_bad_values(artifacts):
    app = open_class_page()
    app.selectbox(key="sweep_setting").set_value("batch_size").run()
    batch = build_config("fast").batch_size
    assert parse_sweep_values("batch_size", values_input(app).value) == [batch // 4, batch // 2, batch, batch * 2, batch * 4]
    values_input(app).set_value("64, 64").run()
    assert [error.value.replace("\\", "") for error in app.error] == [
        "The batch size value 64 appears more than once: each run of a sweep must differ from the others."]
    assert app.button(key="queue_sweep").disabled
    values_input(app).set_value("64, 128").run()
    assert not app.error and app.button(key="queue_sweep").label == "Queue 2 trainings"
    app.selectbox(key="sweep_setting").set_value("subset").run()
    assert max(parse_sweep_values("subset", values_input(app).value)) == 3 * 24  # no more images than the dataset has
