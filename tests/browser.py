"""Start the app with `streamlit run` and drive it in Debian's Chromium through Playwright.

Browser tests skip, saying why, where Chromium is missing; CI installs it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
APP = Path(__file__).resolve().parent.parent / "streamlit_app.py"
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser test: /usr/bin/chromium is missing (install Debian's chromium; .ci/run does)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def streamlit_server(data: Path, artifacts: Path, timeout: float = 90, app: Path = APP):
    """Yield the base URL of `streamlit run streamlit_app.py` (or another script, `app`) serving `data`."""
    port = free_port()
    env = {**os.environ, "CIFAR10_DATA": str(data), "CIFAR_CNN_ARTIFACTS": str(artifacts)}
    log = open(artifacts.parent / "streamlit.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=APP.parent, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start; see {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@contextmanager
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})  # a classroom projector's size
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def choose_tiny_cnn(page, epochs: int) -> None:
    """On the Train page: turn the quick demo off and choose tiny_cnn for `epochs` epochs (Train is the next click)."""
    from playwright.sync_api import expect

    page.get_by_text("Quick demo", exact=True).click()
    architecture = page.get_by_role("combobox", name="Architecture")
    architecture.click()
    page.get_by_role("option", name="tiny_cnn", exact=True).click()
    expect(architecture).to_have_value("tiny_cnn")
    field = page.get_by_role("spinbutton", name="Epochs")
    field.fill(str(epochs))
    field.press("Enter")
    wait_until_idle(page)


def wait_until_idle(page) -> None:
    """Until the page's script run is over: a widget changed during a run may be redrawn with the run's older value, and
    the previous run's elements (a disabled twin of a widget, say) stay on the page until the run ends."""
    page.wait_for_function("() => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState === 'notRunning'")


def click_centre(page, locator) -> None:
    """Click the middle of a Plotly point with the mouse (Plotly ignores synthetic element clicks). The point is
    scrolled into view first: the app scrolls to what a click opens, which can leave the next point off-screen, and a
    click outside the viewport lands nowhere."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
