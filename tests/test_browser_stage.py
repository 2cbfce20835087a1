"""What a projector shows at 1280x720, in Chromium: after a click on Train the running training's progress line and
both curves are in view without anyone scrolling; after it ends its curves stay; the Class page's leaderboard shows
its test accuracy inside 1280 pixels."""

import re

from playwright.sync_api import expect

from browser import browser_page, choose_tiny_cnn, needs_chromium, streamlit_server, wait_until_idle
from synthetic_data import write_image_folder

pytestmark = needs_chromium

QUEUE_TIMEOUT_MS = 240_000
CHARTS_IN_VIEW = """() => { const charts = [...document.querySelectorAll('.cc-chart')];
    return charts.length === 2 && charts.every(chart => { const box = chart.getBoundingClientRect();
        return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight; }); }"""
IN_VIEW = """selector => { const box = document.querySelector(selector)?.getBoundingClientRect();
    return Boolean(box) && box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight; }"""


def test_the_stage_keeps_the_training_in_view_and_the_leaderboard_fits(tmp_path, monkeypatch):
    data = write_image_folder(tmp_path / "data", classes=("cat", "dog", "frog"), n_train=300, n_test=30)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("CIFAR_CNN_TEACHER_KEY", raising=False)
    with streamlit_server(data, tmp_path / "artifacts") as url, browser_page() as page:
        page.goto(f"{url}/train")
        choose_tiny_cnn(page, 40)
        train = page.get_by_role("button", name="Train", exact=True)
        assert train.bounding_box()["y"] > 720  # below the fold on a projector: the viewer scrolls down to click it
        train.click()  # Playwright scrolls it into view first, as the viewer would
        # Without any scrolling by the viewer: the progress line and both charts come into view.
        page.locator(".cc-progress-line").filter(has_text=re.compile(r"batch \d+/")).first.wait_for(timeout=QUEUE_TIMEOUT_MS)
        page.wait_for_function(f"() => ({IN_VIEW})('.cc-progress-line')", timeout=10_000)
        page.wait_for_function(CHARTS_IN_VIEW, timeout=10_000)
        page.screenshot(path=str(tmp_path / "after-train.png"))
        page.get_by_role("button", name="Stop", exact=True).first.click()
        page.get_by_text(re.compile(r"^Training stopped\.")).first.wait_for(timeout=QUEUE_TIMEOUT_MS)
        # The finished training keeps its curves (two charts) and the way to Evaluate.
        charts = page.locator("[data-testid=stMain] .js-plotly-plot")
        expect(charts).to_have_count(2, timeout=30_000)
        expect(page.get_by_role("button", name="Open this run in Evaluate")).to_be_visible()

        page.goto(f"{url}/class")
        heading = page.get_by_role("heading", name="Class", level=1)
        heading.wait_for()
        grid = page.locator("[data-testid=stMain] [data-testid=stDataFrame]").first
        grid.wait_for()
        wait_until_idle(page)
        box = grid.bounding_box()
        assert box["x"] + box["width"] <= 1280
        # The grid's accessible copy of its cells, which it fills in once the grid is drawn.
        page.wait_for_function("() => document.querySelectorAll('[data-testid=stMain] table[role=grid] th').length >= 4")
        headers = page.evaluate("""() => { const table = document.querySelector('[data-testid=stMain] table[role=grid]');
            return [...table.querySelectorAll('th')].map(th => [th.innerText, th.getBoundingClientRect().right]); }""")
        names = [name for name, _ in headers]
        assert names[:4] == ["place", "owner", "training", "test accuracy"], headers
        assert all(right <= 1280 for name, right in headers if name == "test accuracy"), headers
        page.screenshot(path=str(tmp_path / "class.png"))
