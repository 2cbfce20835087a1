"""The Train page's live panel (cifar_cnn/ui/live_panel.js) in a real browser, fed a made-up stream: what it draws, that
class names stay text, and when it asks Streamlit for a rerun. Fast: no server, no training."""

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from browser import browser_page, needs_chromium

pytestmark = needs_chromium

PANEL_JS = Path(__file__).resolve().parent.parent / "cifar_cnn" / "ui" / "live_panel.js"
CSS = (PANEL_JS.parent / "live_panel.css").read_text()
ORIGIN = "http://panel.test"
NAMES = ["cat", '<a href="http://example.invalid/">html link</a>', "![pixel](http://example.invalid/pixel.png)"]
PICTURE = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

PAGE = """<!doctype html><html><head><style>{css}</style></head><body><div id="host"><div class="cc-live"></div></div>
<script type="module">
import mount from './live_panel.js';
window.triggers = [];
window.mountPanel = data => mount({{data, parentElement: document.getElementById('host'),
                                   setTriggerValue: (name, value) => window.triggers.push(name)}});
window.ready = true;
</script></body></html>"""


def series(title: str, percent: bool) -> dict:
    return {"title": title, "y_title": title.lower(), "percent": percent,
            "names": {"batch": "training, each batch", "smoothed": "training, smoothed", "epoch": "training, epoch mean",
                      "validation": "validation"},
            "batch_x": [0.25, 0.5, 0.75, 1.0, 1.25], "batch_y": [0.9, 0.7, None, 0.5, 0.45],
            "smoothed_y": [0.9, 0.8, 0.8, 0.7, 0.6], "epoch_x": [1], "epoch_y": [0.6], "validation_y": [0.55]}


def update(state: str = "running", predicted=(0, 2, 1)) -> dict:
    return {"state": state, "stopping": False, "queue": "q1", "fraction": 0.25,
            "line": "Epoch 2/4 · batch 1/4 · 900 images/s · 0:03 left",
            "charts": {"loss": series("Loss", False), "accuracy": series("Accuracy", True)},
            "watch": {"epoch": 1, "indices": [5, 7, 9], "labels": [0, 1, 2], "predicted": list(predicted)}}


def panel_data(state: str = "running") -> dict:
    return {"feed": f"{ORIGIN}/feed", "mode": "training", "job": "job1", "lost": "lost", "starting": "Starting...",
            "drawn": {"state": state, "stopping": False},
            "watch_set": {"pictures": [PICTURE] * 3, "indices": [5, 7, 9], "truths": [0, 1, 2], "names": NAMES,
                          "explanation": "Explained.", "before_first": "Guesses come after the first epoch.",
                          "mismatch": "Another dataset."}}


def open_panel(page, job_update: dict, data: dict) -> None:
    """The panel on a blank page whose feed sends `job_update` once (then the browser reconnects, and it comes again)."""
    page.route(f"{ORIGIN}/page.html", lambda route: route.fulfill(body=PAGE.format(css=CSS), content_type="text/html"))
    page.route(f"{ORIGIN}/live_panel.js", lambda route: route.fulfill(body=PANEL_JS.read_text(), content_type="text/javascript"))
    event = f"retry: 5000\nid: q1.u1\ndata: {json.dumps({'': {'queue': 'q1'}, 'job1': job_update})}\n\n"
    page.route(f"{ORIGIN}/feed*", lambda route: route.fulfill(body=event, content_type="text/event-stream"))
    page.goto(f"{ORIGIN}/page.html")
    page.wait_for_function("() => window.ready")
    page.evaluate("data => window.mountPanel(data)", data)


def test_the_panel_draws_progress_curves_and_guesses_with_class_names_as_text():
    with browser_page() as page:
        fetched = []
        page.on("request", lambda request: fetched.append(request.url) if "example.invalid" in request.url else None)
        open_panel(page, update(), panel_data())
        page.locator(".cc-progress-line", has_text="Epoch 2/4 · batch 1/4").wait_for()
        assert page.locator(".cc-bar").evaluate("bar => bar.style.width") == "25%"
        assert page.locator(".cc-chart .cc-title").all_text_contents() == ["Loss", "Accuracy"]
        faint = page.locator(".cc-chart").first.locator("polyline.cc-line-batch").get_attribute("points")
        assert len(faint.split()) == 4  # five batches, one with no loss (a gap, not a point at zero)
        assert page.locator(".cc-chart").nth(1).locator(".cc-tick-y").first.text_content().endswith("%")
        captions = page.locator(".cc-watch-item figcaption").all_inner_texts()
        assert captions == ["✓ cat", f"✗ {NAMES[2]} (is {NAMES[1]})", f"✗ {NAMES[1]} (is {NAMES[2]})"]
        assert page.locator(".cc-watch-heading").inner_text() == "After epoch 1: 1 of 3 right. Explained."
        assert page.locator(".cc-right").count() == 1 and page.locator(".cc-wrong").count() == 2
        assert page.evaluate("() => document.querySelectorAll('a, img[src*=\"example.invalid\"]').length") == 0
        assert page.evaluate("() => window.triggers") == []  # the page shows the job as it is: no rerun
    assert fetched == []


def test_the_panel_asks_for_one_rerun_when_the_job_ends():
    with browser_page() as page:
        open_panel(page, {"state": "completed", "stopping": False, "queue": "q2"}, panel_data())
        page.wait_for_function("() => window.triggers.length > 0")
        page.wait_for_timeout(1500)  # the feed sends the same update again after each reconnection
        assert page.evaluate("() => window.triggers") == ["changed"]


def test_guesses_for_other_images_say_the_loaded_dataset_is_another():
    with browser_page() as page:
        other = update()
        other["watch"]["labels"] = [2, 1, 0]  # the viewer's dataset has other classes at those indices
        open_panel(page, other, panel_data())
        page.locator(".cc-watch-heading", has_text="Another dataset.").wait_for()
        assert page.locator(".cc-watch-item").count() == 0


@pytest.mark.parametrize("data_change", [{"watch_set": {"message": "Load the dataset."}}])
def test_without_a_dataset_the_watch_set_says_what_to_load(data_change):
    with browser_page() as page:
        open_panel(page, update(), panel_data() | data_change)
        page.locator(".cc-watch-heading", has_text="Load the dataset.").wait_for()
        page.locator(".cc-progress-line", has_text="Epoch 2/4").wait_for()


def test_pointing_at_a_chart_reads_out_the_batch_under_the_pointer():
    with browser_page() as page:
        open_panel(page, update(), panel_data())
        page.locator(".cc-progress-line", has_text="Epoch 2/4").wait_for()
        loss, accuracy = page.locator(".cc-chart svg").all()
        box = loss.bounding_box()
        # The plot spans epochs 0 to 2 between the margins (58 and 14 px): epoch 1 is the batch at 1.0.
        page.mouse.move(box["x"] + 58 + (box["width"] - 58 - 14) / 2, box["y"] + box["height"] / 2)
        readout = page.locator(".cc-chart").first.locator(".cc-readout")
        expect(readout).to_have_text("epoch 1.00: batch 0.500, smoothed 0.700")
        assert page.locator(".cc-chart").first.locator(".cc-hover").get_attribute("visibility") == "visible"
        page.mouse.move(box["x"] + 2, box["y"] + box["height"] + 200)  # off the chart: the readout goes
        expect(page.locator(".cc-chart").first.locator(".cc-hover")).to_have_attribute("visibility", "hidden")
        accuracy_box = accuracy.bounding_box()
        page.mouse.move(accuracy_box["x"] + 58 + 1, accuracy_box["y"] + accuracy_box["height"] / 2)  # epoch 0: the first batch
        expect(page.locator(".cc-chart").nth(1).locator(".cc-readout")).to_have_text("epoch 0.25: batch 90.0%, smoothed 90.0%")
