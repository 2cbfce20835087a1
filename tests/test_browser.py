"""The app in a real browser: live training, the clickable confusion matrix, predictions on an upload."""

import re
import time

import pytest
from PIL import Image
from playwright.sync_api import expect

from browser import browser_page, click_centre, needs_chromium, streamlit_server, wait_until_idle
from cifar_cnn.data import load_dataset
from cifar_cnn.training import TrainConfig, train
from synthetic_data import pattern_image, write_image_folder

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    # Enough images that two epochs of the seed CNN take several seconds: time to reload mid-training.
    data = write_image_folder(root / "data", classes=("cat", "dog", "frog"), n_train=400, n_test=30)
    # A finished run, so the Evaluate and Predict tests do not depend on the training test.
    dataset = load_dataset(data, cache_dir=root / "artifacts" / "cache")
    train(TrainConfig(arch="tiny_cnn", epochs=1), dataset, runs_dir=root / "artifacts" / "runs")
    with streamlit_server(data, root / "artifacts") as url:
        yield url


def test_train_shows_live_curves_survives_a_reload_and_completes(app_url):
    with browser_page() as page:
        page.goto(f"{app_url}/train")
        page.get_by_text("Quick demo", exact=True).click()
        wait_until_idle(page)  # the quick demo's disabled Epochs box stays until the run that replaces it ends
        epochs = page.get_by_role("spinbutton", name="Epochs", disabled=False)
        epochs.fill("3")
        epochs.press("Enter")
        page.get_by_role("button", name=re.compile(r"Train$")).click()

        # A batch, or validating between epochs. The worker process imports TensorFlow first: a busy machine takes a minute.
        page.get_by_text(re.compile(r"Epoch \d/3 · ")).wait_for(timeout=180_000)
        page.locator(".cc-chart polyline").first.wait_for()
        # On a 1280x720 projector the running job's curves are in the first screen, under the visitor's trainings.
        assert page.locator(".cc-chart").first.bounding_box()["y"] < 720 - 200
        page.get_by_role("heading", name="Your trainings", exact=True).wait_for()

        # What Streamlit's websocket brings: the live panel's updates come from the live feed instead, without a rerun.
        frames = []
        page.on("websocket", lambda socket: socket.on("framereceived", lambda payload: frames.append(time.monotonic())))
        page.reload()
        line = page.locator(".cc-progress-line")
        line.filter(has_text=re.compile(r"Epoch \d/3 · ")).wait_for()
        wait_until_idle(page)
        expect(page.locator(".cc-chart")).to_have_count(2)  # both curves are back after the reload
        expect(page.locator(".cc-chart").first.locator("polyline").first).to_have_attribute("points", re.compile(r"\d"))
        lines, watching_since = {line.inner_text()}, time.monotonic()
        while len(lines) < 3 and time.monotonic() - watching_since < 60 and "3/3 done" not in line.inner_text():
            page.wait_for_timeout(200)  # the progress text changes as batches go by
            lines.add(line.inner_text())
        assert len(lines) >= 3, lines
        assert len([moment for moment in frames if moment > watching_since]) < 2, "the live panel reran the page"

        second_tab = page.context.browser.new_page()  # another browser session sees the same job
        second_tab.goto(f"{app_url}/train")
        second_tab.get_by_text(re.compile(r"Epoch \d/3 · ")).or_(second_tab.get_by_text("Training finished")).first.wait_for()
        # The second tab shows the job's own settings, not its own widgets' defaults (the quick demo's fast preset).
        second_tab.get_by_text(re.compile(r"^seed_cnn · 3 epochs · all training images")).first.wait_for()

        page.get_by_text("Training finished").wait_for(timeout=180_000)
        # The finished run is now the selected one, labelled for people in the sidebar.
        page.locator("[data-testid=stSidebar]").get_by_text(re.compile(r"^seed_cnn · .*3 epochs · test ")).wait_for()
        page.goto(f"{app_url}/runs")
        page.get_by_text("Compare", exact=False).or_(page.get_by_text("Latest run", exact=False)).first.wait_for()


def test_clicking_a_confusion_cell_opens_its_images_and_predict_takes_an_upload(app_url, tmp_path):
    with browser_page() as page:
        # The newest finished run is selected by default.
        page.goto(f"{app_url}/evaluate")
        page.get_by_text("Confusion matrix").first.wait_for()
        matrix = page.locator(".js-plotly-plot").nth(2)
        matrix.wait_for()
        cells = matrix.locator(".scatterlayer .point")
        assert cells.count() == 9
        click_centre(page, cells.nth(1))  # row 0, column 1: true cat, predicted dog
        page.get_by_text(re.compile(r"True cat, predicted dog: [\d,]+ images")).wait_for()
        # The chosen cell is framed on the matrix, and its images' heading scrolls into view (off-screen before).
        assert matrix.locator(".shapelayer path").count() == 1
        page.wait_for_function("() => { const box = document.getElementById('cell-images').getBoundingClientRect();"
                               " return box.top >= 0 && box.bottom <= window.innerHeight; }")

        # The diagonal cells hold the correct answers; a two-epoch model may still get none of one class
        # right, so open the diagonal cells in turn until one shows images, each with its Inspect button.
        correct_counts = {}
        for class_name, cell in (("cat", 0), ("dog", 4), ("frog", 8)):
            click_centre(page, cells.nth(cell))  # the matrix may be above the viewport after the previous click
            heading = page.get_by_text(re.compile(rf"{class_name}, predicted correctly: [\d,]+ images"))
            heading.wait_for()
            correct_counts[class_name] = int(re.search(r"([\d,]+) images", heading.inner_text()).group(1).replace(",", ""))
            if correct_counts[class_name]:
                page.get_by_role("button", name="Inspect").first.wait_for()  # the grid renders after its heading
                break
        assert any(correct_counts.values()), f"no class predicted correctly: {correct_counts}"

        image = tmp_path / "upload.png"
        Image.fromarray(pattern_image(2, 0, size=48)).save(image)
        page.goto(f"{app_url}/predict")
        page.locator("input[type=file]").set_input_files(str(image))
        page.get_by_text(re.compile(r"Prediction: (cat|dog|frog)")).wait_for()
        page.get_by_text("Top 5 classes").first.wait_for()


def test_no_page_asks_anything_of_another_machine(app_url):
    """A classroom may have no internet: the pages, their icons and the tab's icon all come from the app."""
    with browser_page() as page:
        elsewhere = []
        page.on("request", lambda request: elsewhere.append(request.url)
                if not request.url.startswith((app_url, "data:", "blob:")) else None)
        for path in ("", "/dataset", "/train", "/runs", "/evaluate", "/predict", "/inside"):
            page.goto(f"{app_url}{path}")
            page.get_by_role("heading", level=1).first.wait_for()
            page.wait_for_load_state("networkidle")
        assert elsewhere == []
