"""The app in a real browser: train with live curves, reload mid-training, see the run complete."""

import re

import pytest

from browser import browser_page, needs_chromium, streamlit_server
from synthetic_data import write_image_folder

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    # Enough images that two epochs of the seed CNN take several seconds: time to reload mid-training.
    data = write_image_folder(root / "data", classes=("cat", "dog", "frog"), n_train=400, n_test=30)
    with streamlit_server(data, root / "artifacts") as url:
        yield url


def test_train_shows_live_curves_survives_a_reload_and_completes(app_url):
    with browser_page() as page:
        page.goto(f"{app_url}/train")
        page.get_by_text("Quick demo").click()
        epochs = page.get_by_role("spinbutton", name="Epochs")
        epochs.fill("2")
        epochs.press("Enter")
        page.get_by_role("button", name=re.compile(r"Train$")).click()

        page.get_by_text(re.compile(r"Epoch \d/2 · batch")).wait_for()
        page.locator(".js-plotly-plot").first.wait_for()

        page.reload()
        progress = page.get_by_text(re.compile(r"Epoch \d/2 · batch \d+/"))
        before = progress.inner_text()
        page.locator(".js-plotly-plot").nth(1).wait_for()  # both curves are back after the reload
        page.wait_for_function(  # and they keep moving: the progress text changes as batches go by
            "before => [...document.querySelectorAll('p')].every(p => !p.innerText.includes(before))", arg=before
        )

        page.get_by_text("Training finished").wait_for(timeout=180_000)
        page.goto(f"{app_url}/runs")
        page.get_by_text("Compare", exact=False).or_(page.get_by_text("Latest run", exact=False)).first.wait_for()
