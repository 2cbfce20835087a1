"""Inside the network in a real browser: clicking a channel's map opens that channel (its map over the image, its top
test images, its feature visualisation), and the Channel box, the keyboard's way, stays in step with the clicks; an
image uploaded on Predict opens there."""

import re

import keras
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from browser import browser_page, click_centre, needs_chromium, streamlit_server, wait_until_idle
from cifar_cnn import runs
from cifar_cnn.data import load_dataset
from cifar_cnn.inside import channels, layers
from synthetic_data import write_image_folder
from test_inside import make_run

pytestmark = needs_chromium

CLASSES = ("cat", "dog", "frog")
LAYER = "conv2"  # the page opens tiny_cnn's last convolution: 16 channels, all of them in the grid


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app with an untrained tiny_cnn run (no training), and what the page should show for it."""
    root = tmp_path_factory.mktemp("inside-browser")
    data = write_image_folder(root / "data", classes=CLASSES, n_train=2, n_test=4)
    keras.utils.set_random_seed(3)
    run_dir = make_run(root / "artifacts", "tiny_cnn", data)
    model = runs.load_model(runs.load_run(run_dir))
    dataset = load_dataset(data, cache_dir=root / "scratch-cache")
    first_cat = int(np.flatnonzero(dataset.y_test == 0)[0])  # the page opens on the first test image of the first class
    maps = layers.LayerWalk(model).outputs(dataset.x_test[[first_cat]])[LAYER][0]
    tops = channels.layers_top_images(model, [LAYER], dataset.x_test)[LAYER]
    predicted = np.argmax(model.predict(dataset.x_test, verbose=0), axis=-1)
    with streamlit_server(data, root / "artifacts") as url:
        yield url, layers.channel_order(maps), tops, dataset.y_test, predicted


def opened_channel(page) -> int:
    caption = page.get_by_text(re.compile(rf"^Channel \d+ of {LAYER} over the image"))
    caption.wait_for()
    return int(re.search(r"Channel (\d+)", caption.inner_text()).group(1))


def wait_for_channel(page, channel: int, tops, labels) -> None:
    """Wait until the page shows `channel`: its map over the image, its best test image first, the box naming it."""
    page.get_by_text(re.compile(rf"^Channel {channel} of {LAYER} over the image")).wait_for()
    # All nine top images in order (a stale row of the channel before could share its first image).
    top_captions = page.locator("[data-testid=stImageCaption]").filter(has_text=re.compile(r"^#\d+ (cat|dog|frog) \("))
    expect(top_captions).to_have_text([re.compile(rf"^#{index} {CLASSES[labels[index]]} \(") for index in tops.indices[channel]],
                                      timeout=60_000)
    wait_until_idle(page)  # the previous channel's visualisation stays on the page until the script run ends
    page.get_by_text("Feature visualisation: a grey image").wait_for()
    expect(page.get_by_role("combobox", name="Channel")).to_have_value(re.compile(rf"^#{channel}( |$)"))


def click_map(page, position: int) -> None:
    grid = page.locator(".js-plotly-plot").filter(has=page.locator("image"))
    click_centre(page, grid.locator(".scatterlayer .point").nth(position))


# True once the grid's one red frame surrounds the centre of the map at `position` (its invisible click marker).
FRAMED = """position => {
    const grid = [...document.querySelectorAll('.js-plotly-plot')].find(plot => plot.querySelector('image'));
    const frames = grid ? grid.querySelectorAll('.shapelayer path') : [];
    const markers = grid ? grid.querySelectorAll('.scatterlayer .point') : [];
    if (frames.length !== 1 || markers.length <= position) return false;
    const frame = frames[0].getBoundingClientRect(), marker = markers[position].getBoundingClientRect();
    const x = marker.left + marker.width / 2, y = marker.top + marker.height / 2;
    return frame.left < x && x < frame.right && frame.top < y && y < frame.bottom;
}"""


def wait_until_framed(page, position: int) -> None:
    page.wait_for_function(FRAMED, arg=position, timeout=60_000)


def test_clicking_a_channel_opens_its_top_images_and_the_channel_box_follows(app):
    url, order, tops, labels, _ = app
    with browser_page() as page:
        page.goto(f"{url}/inside")
        page.get_by_text("What this channel looks for").wait_for(timeout=180_000)
        strongest = int(order[0])
        assert opened_channel(page) == strongest  # before any click: the strongest channel for this image
        wait_until_framed(page, 0)
        grid = page.locator(".js-plotly-plot").filter(has=page.locator("image"))
        expect(grid.locator(".scatterlayer .point")).to_have_count(len(order), timeout=60_000)  # every map, clickable

        clicked = int(order[3])  # the fourth strongest: its map is the fourth in the grid
        click_map(page, 3)
        wait_for_channel(page, clicked, tops, labels)
        wait_until_framed(page, 3)  # the open channel's map is framed

        # The keyboard's way: choose another channel in the Channel box; the grid's frame and the page follow.
        other = int(order[1])
        page.get_by_role("combobox", name="Channel").click()
        page.get_by_role("option", name=f"#{other}", exact=True).click()
        wait_for_channel(page, other, tops, labels)
        wait_until_framed(page, 1)

        # A map clicked before counts again after the box changed the channel.
        click_map(page, 3)
        wait_for_channel(page, clicked, tops, labels)


def test_an_image_uploaded_on_predict_opens_inside_the_network(app, tmp_path):
    url, *_ = app
    picture = tmp_path / "my [photo](http:x).png"  # a file name is user text: shown as its characters
    Image.new("RGB", (48, 40), (30, 160, 40)).save(picture)
    with browser_page() as page:
        page.goto(f"{url}/predict")
        page.locator("input[type=file]").set_input_files(str(picture))
        page.get_by_role("button", name="Look inside the network with it").click()
        page.get_by_text(f"{picture.name}, uploaded on Predict; the model says").wait_for(timeout=180_000)
        expect(page.get_by_role("radio", name="Uploaded on Predict")).to_be_checked(timeout=60_000)
        page.get_by_text("What this channel looks for").wait_for()
        assert page.locator("a[href='http:x']").count() == 0


# Where the embeddings' first point is drawn, from Plotly's own axes (a WebGL scatter has no element per point).
FIRST_POINT = """() => {
    const plot = [...document.querySelectorAll('.js-plotly-plot')].pop();
    const layout = plot._fullLayout, box = plot.getBoundingClientRect(), trace = plot._fullData[0];
    return [box.left + layout.margin.l + layout.xaxis.l2p(trace.x[0]), box.top + layout.margin.t + layout.yaxis.l2p(trace.y[0])];
}"""


def test_clicking_a_point_of_the_embeddings_shows_its_image_and_classes(app):
    url, _, _, labels, predicted = app
    with browser_page() as page:
        page.goto(f"{url}/inside")
        page.get_by_text("Hover over a point to see its classes; click it to see its image here.").wait_for(timeout=180_000)
        page.locator(".js-plotly-plot").last.scroll_into_view_if_needed()
        page.wait_for_function("() => { const plot = [...document.querySelectorAll('.js-plotly-plot')].pop();"
                               " return plot._fullData && plot._fullData.length > 0; }")
        x, y = page.evaluate(FIRST_POINT)
        page.mouse.click(x, y)
        caption = page.get_by_text(re.compile(r"^Test image #\d+, \w+; the model says \w+ \((right|wrong)\)$"))
        caption.wait_for()
        index, true, said, verdict = re.match(r"Test image #(\d+), (\w+); the model says (\w+) \((\w+)\)", caption.inner_text()).groups()
        index = int(index)
        assert (true, said) == (CLASSES[labels[index]], CLASSES[predicted[index]])
        assert verdict == ("right" if labels[index] == predicted[index] else "wrong")
