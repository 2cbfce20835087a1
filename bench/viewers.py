"""Training speed while a class watches: images/s with N Train-page tabs open against none.

    python bench/viewers.py --data ../shared/data/cifar10-jpeg.tar.gz [--tabs 30]

Starts `streamlit run streamlit_app.py` on a fresh artifacts folder, starts a training from one
tab (the Quick demo turned off: the seed CNN, on `--subset` images with a 10% holdout, so that
epochs are short), measures its images/s over `--epochs` epochs alone, then opens `--tabs` more
tabs on the Train page (each its own browser session, in Debian's Chromium) and measures again.
Each tab records when its progress line changes; the report gives the longest gap between two
updates in any tab, and the longest between two batches of one epoch (`longest_gap_while_batches_come_s`: at an
epoch's end no batch comes for a while, whoever watches). `--page runs` opens the viewers on the Runs page instead, where nothing
is live: what any tab of the app costs. The last line is a JSON object; `ratio` is images/s with the viewers over
images/s without, and `server_ms_per_tab_s` the server's CPU time per tab per second meanwhile (`browser_ms_per_tab_s`:
the browsers', over the viewers and the trainer's tab, which shows the Runs page).

The browsers run on the machine that serves the app, as in a demonstration where the teacher's
laptop also renders every tab: the ratio counts their rendering too (on 2 cores, more than the
server's work). In a class the tabs render on the students' computers, and `server_ms_per_tab_s`
is what each costs the server. `--browsers idle` runs them under SCHED_IDLE (see
measure.idle_priority_chromium).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from measure import cpu_flags, cpu_seconds, idle_priority_chromium, processes_cpu_seconds, start_app, stop_app  # bench/ is on a bench script's import path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# Records the moments the progress line ("Epoch 2/200 · batch ...") changes, in the page's own clock.
WATCH_PROGRESS = """() => {
    window.__updates = [];
    let last = '';
    const look = () => {
        const line = [...document.querySelectorAll('p')].map(p => p.innerText).find(t => t.startsWith('Epoch ')) || '';
        if (line && line !== last) { last = line; window.__updates.push([performance.now() / 1000, line]); }
    };
    new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def epoch_rows(artifacts: Path) -> pd.DataFrame:
    histories = list((artifacts / "runs").glob("*/history.csv"))
    return pd.read_csv(histories[0]) if histories else pd.DataFrame(columns=["epoch", "seconds"])


def wait_for_epochs(artifacts: Path, count: int, timeout: float = 900) -> pd.DataFrame:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = epoch_rows(artifacts)
        if len(rows) >= count:
            return rows
        time.sleep(1)
    raise SystemExit(f"the training did not reach {count} epochs in {timeout:.0f} s")


def images_per_s(rows: pd.DataFrame, images: int) -> float:
    return statistics.median(images / seconds for seconds in rows["seconds"])


def start_training(page, url: str, subset: int) -> None:
    page.goto(f"{url}/train")
    page.get_by_text("Quick demo", exact=True).click()
    page.get_by_role("combobox", name="Architecture").wait_for()  # only without the quick demo
    for label, value in (("Epochs", "500"), ("Train subset (0 = all images)", str(subset))):
        field = page.get_by_role("spinbutton", name=label, disabled=False)  # not the quick demo's disabled twin
        field.fill(value)
        field.press("Enter")
    page.get_by_text("10% of train").click()
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Training now").wait_for(timeout=120_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a local CIFAR-10 copy")
    parser.add_argument("--tabs", type=int, default=30, help="viewers to open (default 30; 0: the training's own drift between the phases)")
    parser.add_argument("--subset", type=int, default=5000, help="training images (default 5,000: epochs of a few seconds)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs measured in each phase (default 3)")
    parser.add_argument("--page", choices=("train", "runs"), default="train",
                        help="the page the viewers open (default train; runs: a page with nothing live, what any tab of the app "
                        "costs its browser)")
    parser.add_argument("--browsers", choices=("normal", "idle"), default="normal",
                        help="the browsers' CPU priority (default normal; idle: SCHED_IDLE, see measure.idle_priority_chromium)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    train_images = int(args.subset * 0.9)  # the holdout takes 10%
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        artifacts = Path(folder) / "artifacts"
        server, url = start_app({"CIFAR10_DATA": args.data, "CIFAR_CNN_ARTIFACTS": str(artifacts)}, Path(folder) / "server.log")
        chromium = idle_priority_chromium(Path(folder)) if args.browsers == "idle" else CHROMIUM
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            trainer = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
            trainer.set_default_timeout(120_000)
            start_training(trainer, url, args.subset)
            trainer.goto(f"{url}/runs")  # the trainer's own tab leaves the Train page: the first phase has no viewer
            warm = 2  # the first epochs compile and fill caches
            alone = wait_for_epochs(artifacts, warm + args.epochs).iloc[warm:warm + args.epochs]

            viewers = []
            for _ in range(args.tabs):
                page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
                page.set_default_timeout(180_000)
                page.goto(f"{url}/{args.page}")
                viewers.append(page)
            for page in viewers:
                (page.get_by_text("Training now") if args.page == "train" else page.get_by_role("heading", name="Runs")).first.wait_for()
                page.evaluate(WATCH_PROGRESS)
            first = len(epoch_rows(artifacts)) + 1  # the epoch in progress had part of its time without every viewer
            wait_for_epochs(artifacts, first)
            for page in viewers:  # the gaps count from here: not while the other tabs were still loading
                page.evaluate("() => { window.__updates = []; }")
            server_started, browsers_started, clock_started = cpu_seconds(server.pid), processes_cpu_seconds("chrom"), time.monotonic()
            watched = wait_for_epochs(artifacts, first + args.epochs).iloc[first:first + args.epochs]
            elapsed = time.monotonic() - clock_started
            server_share = (cpu_seconds(server.pid) - server_started) / elapsed
            browsers_share = (processes_cpu_seconds("chrom") - browsers_started) / elapsed
            gaps, batch_gaps = ([], []) if args.page == "train" and viewers else ([0.0], [0.0])  # nothing live: runs page, --tabs 0
            for page in viewers if args.page == "train" else ():
                updates = page.evaluate("() => window.__updates")
                gaps.append(max((b[0] - a[0] for a, b in zip(updates, updates[1:])), default=float("inf")))
                # Between two lines that name a batch of the same epoch: at an epoch's end no batch comes while the
                # network is validated and its epoch recorded, whoever watches.
                batch_gaps.append(max((b[0] - a[0] for a, b in zip(updates, updates[1:]) if " · batch " in a[1]
                                       and " · batch " in b[1] and a[1].split(" ·")[0] == b[1].split(" ·")[0]), default=float("inf")))
            trainer.goto(f"{url}/train")
            trainer.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").click()  # not the header's Stop of a script run
        finally:
            browser.close()
            stop_app(server)

    alone_rate, watched_rate = images_per_s(alone, train_images), images_per_s(watched, train_images)
    result = {
        "cpu": cpu_flags(), "cores": os.cpu_count(), "tabs": args.tabs, "page": args.page, "browsers": args.browsers, "train_images": train_images,
        "alone_images_per_s": round(alone_rate), "with_viewers_images_per_s": round(watched_rate),
        "ratio": round(watched_rate / alone_rate, 3),
        "longest_gap_between_updates_s": round(max(gaps), 2), "median_tab_longest_gap_s": round(statistics.median(gaps), 2),
        "longest_gap_while_batches_come_s": round(max(batch_gaps), 2),
        "server_cpu_share": round(server_share, 3), "server_ms_per_tab_s": round(1000 * server_share / max(args.tabs, 1), 1),
        "browsers_cpu_share": round(browsers_share, 3), "browser_ms_per_tab_s": round(1000 * browsers_share / (args.tabs + 1), 1),
    }
    print(f"{args.tabs} viewers: {watched_rate:,.0f} images/s against {alone_rate:,.0f} alone (ratio {result['ratio']}); "
          f"longest gap between two updates in any tab {result['longest_gap_between_updates_s']} s; the server used "
          f"{server_share:.2f} CPUs, {result['server_ms_per_tab_s']} ms per tab per second; the browsers {browsers_share:.2f} CPUs, "
          f"{result['browser_ms_per_tab_s']} ms per tab per second ({args.browsers}-priority browsers; {cpu_flags()})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
