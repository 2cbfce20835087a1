"""Class names a dataset's author chose reach every page and the HTML report as text: no links, images or markup."""

import re
import subprocess
import sys

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from browser import browser_page, needs_chromium, streamlit_server
from cifar_cnn.data import load_dataset
from cifar_cnn.training import TrainConfig, train
from cifar_cnn.ui.text import plain
from synthetic_data import write_official_batches
from test_app import APP

# Names a hostile dataset could carry in its metadata: a Markdown image (every viewer's browser would fetch it),
# a Markdown link, an HTML link (Plotly renders some HTML), and Streamlit's own markup.
HOSTILE_NAMES = [
    "![pixel](http://example.invalid/pixel.png)",
    "[click me](http://example.invalid/)",
    '<a href="http://example.invalid/">html link</a>',
    "**bold** :red[red] $x$ www.example.invalid",
]


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A dataset whose class names are hostile, and a finished run trained on it."""
    root = tmp_path_factory.mktemp("hostile")
    data = write_official_batches(root / "data", n_per_batch=8, num_classes=len(HOSTILE_NAMES), label_names=HOSTILE_NAMES)
    dataset = load_dataset(data, cache_dir=root / "artifacts" / "cache")
    assert list(dataset.class_names) == HOSTILE_NAMES
    train(TrainConfig(arch="tiny_cnn", epochs=1), dataset, runs_dir=root / "artifacts" / "runs")
    return data, root / "artifacts"


def test_plain_keeps_every_character_and_escapes_the_markup():
    for name in HOSTILE_NAMES:
        escaped = plain(name)
        assert escaped.replace("\\", "").replace("\u2060", "") == name.replace("\\", "")
        assert not re.search(r"(?<!\\)[\[\]()*<>!:$]", escaped), escaped  # each markup character escaped
        assert "://" not in escaped.replace("\\", "") and "www." not in escaped.replace("\\", "")  # nor a bare link
    assert plain("two\nlines") == "two lines"  # a newline would end a heading or open a Markdown block


def markup_of_every_element(app: AppTest) -> list[str]:
    kinds = ("markdown", "caption", "info", "warning", "error", "success", "title", "header", "subheader", "button")
    return [str(getattr(element, "label", None) or element.value) for kind in kinds for element in getattr(app, kind)]


@pytest.mark.parametrize("page", ["overview.py", "pages/1_dataset.py", "pages/4_evaluate.py", "pages/5_predict.py"])
def test_hostile_class_names_never_reach_a_page_as_markup(hostile_run, page, monkeypatch):
    data, artifacts = hostile_run
    monkeypatch.setenv("CIFAR10_DATA", str(data))
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(artifacts))
    st.cache_resource.clear()
    app = AppTest.from_file(APP, default_timeout=90)
    app.run()
    if page != "overview.py":
        app.switch_page(page).run()
    if page == "pages/5_predict.py":
        app.radio(key="predict_source").set_value("A random test image").run()
    assert not app.exception, app.exception
    shown = markup_of_every_element(app)
    assert any("example" in text for text in shown), "the page shows no class name at all: the test checks nothing"
    for name in HOSTILE_NAMES:
        assert not [text for text in shown if name in text], f"{name!r} reached the page as Markdown"


@needs_chromium
def test_hostile_class_names_show_as_text_in_a_browser_and_fetch_nothing(hostile_run, tmp_path):
    data, artifacts = hostile_run
    with streamlit_server(data, artifacts) as url, browser_page() as page:
        elsewhere = []
        page.on("request", lambda request: elsewhere.append(request.url) if "example.invalid" in request.url else None)
        for path in ("", "/dataset", "/evaluate", "/predict"):
            page.goto(f"{url}{path}")
            page.get_by_role("heading", level=1).first.wait_for()
            page.wait_for_load_state("networkidle")
            if path == "/predict":
                page.get_by_text("A random test image").click()
                page.get_by_text("Prediction:").first.wait_for()
            if path == "/dataset":  # the names themselves, shown as their characters
                for name in HOSTILE_NAMES:
                    page.get_by_text(name).first.wait_for()
            live = page.evaluate("() => document.querySelectorAll('a[href*=\"example.invalid\"], img[src*=\"example.invalid\"]').length")
            assert live == 0, f"{path}: {live} links or images made from class names"
        assert elsewhere == []


@needs_chromium
@pytest.mark.slow
def test_the_html_report_shows_hostile_class_names_as_text(hostile_run, tmp_path):
    data, artifacts = hostile_run
    run_id = sorted((artifacts / "runs").iterdir())[0].name
    report = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "cifar_cnn", "evaluate", run_id, "--artifacts", str(artifacts), "--html", str(report)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with browser_page() as page:
        fetched = []
        page.on("request", lambda request: fetched.append(request.url) if "example.invalid" in request.url else None)
        page.goto(report.as_uri())
        page.locator(".js-plotly-plot").nth(2).wait_for()
        labels = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot text')].map(t => t.textContent)")
        assert HOSTILE_NAMES[2] in labels  # the HTML link's markup, shown as characters on an axis
        assert page.evaluate("() => document.querySelectorAll('a[href*=\"example.invalid\"]').length") == 0
    assert fetched == []
