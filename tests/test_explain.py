"""Grad-CAM as a class sees it: words that name the colours painted, a legend, an empty map said so, equal sizes."""

import colorsys
import re
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import ImageColor
from streamlit.testing.v1 import AppTest

from browser import browser_page, needs_chromium, streamlit_server
from cifar_cnn import gradcam, runs
from test_gradcam import red_detector

GREY = 128


@pytest.fixture(scope="module")
def detector_run(tmp_path_factory) -> Path:
    """A run whose model sees red (class "red") and blue (class "blue"), built by hand, no training."""
    root = tmp_path_factory.mktemp("explain")
    run_dir = runs.create_run({"arch": "detector", "class_names": ["red", "blue"]}, root / "runs")
    runs.save_model(run_dir, red_detector())
    runs.update_status(run_dir, "completed")
    return run_dir


@pytest.fixture
def fresh_caches():
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def explanation_script(run_dir: str, probabilities: list, class_names: list, true_class: int | None) -> None:
    """An image with a red patch and nothing blue, explained as the Evaluate and Predict pages explain it."""
    from pathlib import Path

    import numpy as np

    from cifar_cnn import runs
    from cifar_cnn.ui.explain import show_explanation

    image = np.full((32, 32, 3), 40, dtype=np.uint8)
    image[4:10, 20:28] = (250, 0, 0)
    show_explanation(runs.load_run(Path(run_dir)), image, np.array(probabilities), class_names, true_class)


def explain_in_app(run_dir: Path, probabilities, class_names=("red", "blue"), true_class=None) -> AppTest:
    app = AppTest.from_function(explanation_script, args=(str(run_dir), list(probabilities), list(class_names), true_class),
                                default_timeout=90)
    app.run()
    assert not app.exception, app.exception
    return app


def hue(rgb) -> float:
    """The hue in degrees (0 red, 60 yellow, 120 green...)."""
    h, _, _ = colorsys.rgb_to_hsv(*(channel / 255 for channel in rgb))
    return h * 360


def hue_distance(a: float, b: float) -> float:
    return min(abs(a - b), 360 - abs(a - b))


def painted_at(heat_value: float) -> tuple[int, int, int]:
    """What the overlay paints on a grey pixel with this heat, the rest of the map cold."""
    image = np.full((32, 32, 3), GREY, dtype=np.uint8)
    heat = np.zeros((32, 32), dtype=np.float32)
    heat[10, 10] = heat_value
    return tuple(int(value) for value in gradcam.overlay(image, heat)[10, 10])


# What the key says each colour means, as the heat that meaning stands for.
MEANINGS = {"raised its score most": 1.0, "less": 0.5, "a little": 0.1}


def test_the_caption_names_the_colours_the_overlay_paints(detector_run, fresh_caches):
    app = explain_in_app(detector_run, [0.9, 0.1])
    key = next(caption.value for caption in app.caption if "raised its score most" in caption.value)
    named = dict((meaning, colour.lower()) for colour, meaning in re.findall(r"(\w+): ([^;.]+)", key) if meaning in MEANINGS)
    assert named["raised its score most"] == "yellow", key  # the test below checks the pixels against whatever it names
    for meaning, colour in named.items():
        painted = painted_at(MEANINGS[meaning])
        assert hue_distance(hue(painted), hue(ImageColor.getrgb(colour))) < 20, (meaning, colour, painted)
        assert max(painted) - min(painted) > 40, f"{painted} is hardly tinted at all"  # a colour, not a grey
    assert "no tint: not at all" in key
    assert painted_at(0.0) == (GREY, GREY, GREY)


def test_the_legend_runs_from_untinted_to_the_colour_of_the_strongest_heat():
    bar = gradcam.legend(width=200, height=10)
    assert bar.shape == (10, 200, 3) and bar.dtype == np.uint8
    assert tuple(bar[5, 0]) == (GREY, GREY, GREY)  # weak: the picture shows through
    assert hue_distance(hue(bar[5, -1]), hue(ImageColor.getrgb("yellow"))) < 20  # strong: yellow
    hues = [hue(bar[5, column]) for column in range(40, 200, 20)]
    assert hues == sorted(hues), hues  # red, through orange, to yellow, in order


def test_the_legend_is_shown_under_the_maps(detector_run, fresh_caches):
    app = explain_in_app(detector_run, [0.9, 0.1])
    assert any(caption.startswith("weak → strong") for image in app.get("image") for caption in image.captions)


def test_an_all_zero_map_is_empty_and_a_map_with_heat_is_not():
    assert gradcam.is_empty(np.zeros((32, 32), dtype=np.float32))
    assert gradcam.is_empty(np.full((32, 32), np.nan, dtype=np.float32))
    one_hot = np.zeros((32, 32), dtype=np.float32)
    one_hot[3, 4] = 1.0
    assert not gradcam.is_empty(one_hot)


def test_an_empty_map_says_so(detector_run, fresh_caches):
    # Nothing in the image is blue, so nothing raised the score of "blue": its map is empty; red's is not.
    app = explain_in_app(detector_run, [0.9, 0.1], true_class=1)
    notes = [info.value for info in app.info]
    assert notes == ["The map is empty: nothing in this image raised the score of blue."], notes


def test_the_class_name_in_the_empty_note_is_plain_text(detector_run, fresh_caches):
    app = explain_in_app(detector_run, [0.9, 0.1], class_names=("red", "*bold* [x](http://e.vil)"), true_class=1)
    (note,) = [info.value for info in app.info]
    assert "*bold*" not in note and "](" not in note and "\\*bold\\*" in note


@needs_chromium
def test_both_maps_of_a_row_are_drawn_the_same_size_in_a_browser(detector_run, tmp_path):
    """Image captions of different lengths made the maps different sizes: each image was as wide as its caption.
    In the pages' wide layout, at 1280x720."""
    import inspect
    import textwrap

    script = tmp_path / "explain_app.py"
    body = textwrap.dedent(inspect.getsource(explanation_script))
    script.write_text(f"{body}\nimport streamlit as st\nst.set_page_config(layout='wide')\nst.title('Explain')\n"
                      f"explanation_script({str(detector_run)!r}, [0.9, 0.1], ['red', 'a blue thing with a much longer name'], 1)\n")
    (tmp_path / "artifacts").mkdir()
    with streamlit_server(tmp_path, tmp_path / "artifacts", app=script) as url, browser_page() as page:
        page.set_viewport_size({"width": 1280, "height": 720})
        page.goto(url)
        maps = [page.locator("[data-testid=stImage]").filter(has_text=f"Grad-CAM, {role} class").locator("img")
                for role in ("predicted", "true")]
        for picture in maps:
            picture.wait_for()
        boxes = [picture.bounding_box() for picture in maps]
        assert boxes[0]["width"] == boxes[1]["width"] and boxes[0]["height"] == boxes[1]["height"], boxes
        assert boxes[0]["width"] >= 192, boxes  # big enough to see the 32x32 pixels
