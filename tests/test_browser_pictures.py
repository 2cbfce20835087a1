"""Pictures in a real browser: Dataset samples big enough to see, named by class; on Predict, a tiny upload is
warned about and a wide one can be padded instead of cropped."""

import pytest
from PIL import Image

from browser import browser_page, needs_chromium, streamlit_server, wait_until_idle
from cifar_cnn import runs
from synthetic_data import write_image_folder
from test_gradcam import red_detector

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app with one run: a model that tells red from blue, built by hand (no training)."""
    root = tmp_path_factory.mktemp("upload")
    data = write_image_folder(root / "data", classes=("red", "blue"), n_train=2, n_test=2)
    run_dir = runs.create_run({"arch": "detector", "class_names": ["red", "blue"]}, root / "artifacts" / "runs")
    runs.save_model(run_dir, red_detector())
    runs.update_status(run_dir, "completed")
    with streamlit_server(data, root / "artifacts") as url:
        yield url


def test_a_wide_upload_can_be_padded_and_a_tiny_one_is_warned_about(app_url, tmp_path):
    wide = Image.new("RGB", (300, 100), (0, 200, 0))
    wide.paste((255, 0, 0), (0, 0, 50, 100))
    wide.paste((0, 0, 255), (250, 0, 300, 100))
    wide.save(tmp_path / "wide.png")
    Image.new("RGB", (1, 1), (250, 0, 0)).save(tmp_path / "dot.png")
    with browser_page() as page:
        page.set_viewport_size({"width": 1280, "height": 720})
        page.goto(f"{app_url}/predict")
        page.locator("input[type=file]").set_input_files(str(tmp_path / "wide.png"))
        page.get_by_text("Cropped the central 100x100 square").wait_for()
        page.get_by_text("Pad: keep all of it, add grey bars").click()
        page.get_by_text("Padded to a 300x300 square").wait_for()
        page.get_by_text("Prediction:").first.wait_for()
        assert page.get_by_text("This image is only").count() == 0

        page.locator("input[type=file]").set_input_files(str(tmp_path / "dot.png"))
        page.get_by_text("This image is only 1x1 pixels; the model sees 32x32").wait_for()
        wait_until_idle(page)  # the wide picture's choice stays on the page until the run that drops it has ended
        assert page.get_by_text("Pad: keep all of it").count() == 0  # a square picture: nothing to choose


def test_dataset_samples_are_96_pixels_wide_and_named_by_class(app_url):
    with browser_page() as page:
        page.set_viewport_size({"width": 1280, "height": 720})
        page.goto(f"{app_url}/dataset")
        page.get_by_text("Random training images per class").wait_for()
        first = page.locator("[data-testid=stImage] img").first  # the first of the random images of the first class
        first.wait_for()
        assert first.bounding_box()["width"] == 96
        captions = page.locator("[data-testid=stImageCaption]")
        # the folders' classes in name order: blue first, with its two training images
        assert [captions.nth(index).inner_text().strip() for index in range(3)] == ["blue", "blue", "red"]
