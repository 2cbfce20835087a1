"""A class in a real browser, on a server with a teacher key: two students, each in a browser session of their own,
follow only their own training (running, or waiting in line), keep their name across a reload, and meet on the
Class page, whose leaderboard lists both runs under their owners' names; the teacher's Class page, open from the start
and never reloaded, fills in as the trainings end."""

import re
from contextlib import contextmanager

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from browser import CHROMIUM, CHROMIUM_ARGS, choose_tiny_cnn, needs_chromium, streamlit_server, wait_until_idle
from synthetic_data import write_image_folder

pytestmark = needs_chromium

TEACHER_KEY = "not-typed-by-any-student"
# A job's Ray worker process imports TensorFlow before its first batch (5-10 s on a quiet machine, far longer on one
# busy with other tests): every wait on the queue gets this long.
QUEUE_TIMEOUT_MS = 240_000
# Ada's training must still run while bob queues, looks and reloads (the most epochs a training may have: minutes of
# training on these images, however fast the machine); she stops it herself. Bob's is short: it runs to the end.
ADA_EPOCHS, BOB_EPOCHS = 1000, 2

# The rows of the page's table that has an "owner" column (the class's queue, or the Class page's leaderboard), read
# from the grid's accessible copy of the cells it draws: true once they are the expected rows, each given as
# {column: regular expression}, in any order.
TABLE_IS = """expected => {
    const grid = [...document.querySelectorAll('[data-testid=stMain] table[role=grid]')]
        .find(table => [...table.querySelectorAll('th')].some(th => th.innerText === 'owner'));
    if (!grid) return false;
    const headers = [...grid.querySelectorAll('th')].map(th => th.innerText);
    const rows = [...grid.querySelectorAll('tbody tr')]
        .map(tr => Object.fromEntries([...tr.querySelectorAll('td')].map((td, i) => [headers[i], td.innerText])));
    window.__tableRows = rows;
    return rows.length === expected.length && expected.every(want => rows.some(row =>
        Object.entries(want).every(([column, pattern]) => new RegExp(pattern).test(row[column] ?? ''))));
}"""


@pytest.fixture(scope="module")
def class_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("classroom")
    data = write_image_folder(root / "data", classes=("cat", "dog", "frog"), n_train=100, n_test=20)
    with pytest.MonkeyPatch.context() as patch:
        # With a teacher key the app serves a class: a name is needed to train, and students control only their own jobs.
        patch.setenv("CIFAR_CNN_TEACHER_KEY", TEACHER_KEY)
        patch.delenv("RAY_ADDRESS", raising=False)  # an embedded Ray of the server's own, never a cluster met by chance
        with streamlit_server(data, root / "artifacts") as url:
            yield url


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_session(browser):
    """A page in a browser context of its own: a Streamlit session that shares no cookies or state with the others."""
    page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    page.set_default_timeout(60_000)
    return page


def sidebar(page):
    return page.locator("[data-testid=stSidebar]")


def one_job_at_a_time(browser, url: str) -> None:
    """The teacher sets the queue to one training at once: the default (one per two cores) would run both students'
    jobs together on a machine with four cores or more, and bob would never wait."""
    teacher = new_session(browser)
    teacher.goto(f"{url}/train")
    key = sidebar(teacher).get_by_label("Teacher key", exact=True)
    key.fill(TEACHER_KEY)
    key.press("Enter")
    sidebar(teacher).get_by_text(re.compile(r"^You are the teacher")).wait_for()
    teacher.get_by_text(re.compile(r"^Queue settings")).click()
    at_once = teacher.get_by_role("spinbutton", name="Trainings at once")
    at_once.fill("1")
    at_once.press("Enter")
    wait_until_idle(teacher)
    teacher.get_by_role("button", name="Apply", exact=True).click()
    teacher.get_by_text(re.compile(r"^1 training runs at once\b")).wait_for()
    teacher.context.close()


def sign_in(page, url: str, name: str) -> None:
    page.goto(f"{url}/train")
    box = sidebar(page).get_by_role("textbox", name="Your name")
    box.fill(name)
    box.press("Enter")
    # The app keeps the name in the page's address: a reload finds it there.
    page.wait_for_url(re.compile(rf"[?&]name={name}(&|$)"))


def train_tiny_cnn(page, epochs: int) -> None:
    """Turn the quick demo off, choose tiny_cnn for `epochs` epochs, and click Train."""
    choose_tiny_cnn(page, epochs)
    page.get_by_role("button", name="Train", exact=True).click()


def settings_caption(page, epochs: int):
    """The caption of a job's settings in the visitor's own trainings (the class's queue table says it too, in a cell)."""
    return page.locator("[data-testid=stMain] [data-testid=stCaptionContainer]").filter(
        has_text=re.compile(rf"^tiny_cnn · {epochs} epochs · "))


def expect_table(page, heading: str, rows: list[dict[str, str]]) -> None:
    """Wait until the table under `heading` holds `rows`. The grid fills in its cells only once it is on screen."""
    page.get_by_role("heading", name=heading, exact=True).evaluate("heading => heading.scrollIntoView({block: 'start'})")
    try:
        page.wait_for_function(TABLE_IS, arg=rows, timeout=QUEUE_TIMEOUT_MS)
    except PlaywrightError:
        raise AssertionError(f"expected the table's rows to be {rows}, the page shows {page.evaluate('() => window.__tableRows')}") from None


def test_two_students_each_follow_their_own_training_and_meet_on_the_class_page(class_url):
    with chromium() as browser:
        one_job_at_a_time(browser, class_url)
        # The teacher's Class page, open before anyone trains and never reloaded, fills in as trainings end.
        teacher = new_session(browser)
        teacher.goto(f"{class_url}/class")
        teacher.get_by_text(re.compile(r"^No runs yet\.")).wait_for()
        ada, bob = new_session(browser), new_session(browser)

        sign_in(ada, class_url, "ada")
        train_tiny_cnn(ada, ADA_EPOCHS)
        ada.get_by_text("Your trainings, ada", exact=True).wait_for()
        settings_caption(ada, ADA_EPOCHS).wait_for()
        ada.get_by_text(re.compile(rf"^Epoch \d+/{ADA_EPOCHS} · ")).wait_for(timeout=QUEUE_TIMEOUT_MS)

        sign_in(bob, class_url, "bob")
        train_tiny_cnn(bob, BOB_EPOCHS)
        bob.get_by_text("Your trainings, bob", exact=True).wait_for()
        bob.get_by_text(re.compile(r"^Waiting: number 1 in line\. Estimated start: ")).wait_for(timeout=QUEUE_TIMEOUT_MS)
        settings_caption(bob, BOB_EPOCHS).wait_for()
        # Bob sees the whole class's line...
        expect_table(bob, "The class's queue", [{"place": "^running$", "owner": "^ada$"}, {"place": "^1$", "owner": "^bob$"}])
        # ...but follows only his own job: no progress of Ada's, and no Stop for it;
        assert settings_caption(bob, ADA_EPOCHS).count() == 0
        assert bob.get_by_text("Training now", exact=True).count() == 0
        assert bob.get_by_text(re.compile(r"^Epoch \d+/")).count() == 0
        assert bob.get_by_role("button", name="Stop").count() == 0
        # and Ada, still training, sees her job alone: not bob's place in line.
        ada.get_by_text(re.compile(rf"^Epoch \d+/{ADA_EPOCHS} · ")).wait_for()
        assert settings_caption(ada, BOB_EPOCHS).count() == 0
        assert ada.get_by_text(re.compile(r"^Waiting: number")).count() == 0
        expect(ada.get_by_role("button", name="Stop")).to_have_count(1)

        bob.reload()  # a new session: the name comes back from the address, and with it bob's job
        bob.get_by_text(re.compile(r"^Waiting: number 1 in line\. ")).wait_for(timeout=QUEUE_TIMEOUT_MS)
        settings_caption(bob, BOB_EPOCHS).wait_for()
        expect(sidebar(bob).get_by_role("textbox", name="Your name")).to_have_value("bob")

        ada.get_by_role("button", name="Stop").click()
        ada.get_by_text(re.compile(r"^Training stopped\. Train accuracy")).wait_for(timeout=QUEUE_TIMEOUT_MS)
        # Ada's place is free: bob's job runs, on his page, to its end.
        bob.get_by_text(re.compile(r"^Training finished\. Train accuracy")).wait_for(timeout=QUEUE_TIMEOUT_MS)

        for page in (ada, bob):
            sidebar(page).get_by_role("link", name="Class").click()
        for page in (ada, bob, teacher):
            page.get_by_role("heading", name="Class", level=1).wait_for()
            page.get_by_text("2 runs by ada, bob.", exact=True).wait_for()
            # Ada's run stopped after some of its epochs; bob's ran both of his.
            # The leaderboard at a glance: place, owner, the training in words (ada's stopped early), test accuracy.
            expect_table(page, "Class", [{"owner": "^ada$", "training": r"^tiny_cnn · lr 0\.001 · \d+ epochs?$"},
                                         {"owner": "^bob$", "training": rf"^tiny_cnn · lr 0\.001 · {BOB_EPOCHS} epochs$"}])
