"""What one tab's live panel costs its browser, by Chromium process: no Streamlit, no training, no data.

    python bench/panel_cost.py [--tabs 10] [--seconds 30] [--panel draw|receive|none]

Serves a blank page holding the Train page's live panel (cifar_cnn/ui/live_panel.js and its CSS) and a made-up live
feed that sends, every live_feed.REFRESH_S, the update of a training that has run a few epochs (curves of 400 points,
built by plots.live_curve_series as the app builds them), then opens `--tabs` headless Chromium tabs on it, each its
own browser session, and measures the CPU time of the browser's processes over `--seconds`:
`--panel draw` as on the Train page, `receive` the same stream with nothing drawn (a panel that follows no training),
`none` the page without a panel (what an idle tab costs). The differences say what receiving an update and drawing
it cost, apart from the rest of a Streamlit page (bench/viewers.py measures the whole). The last line is a JSON
object; `ms_per_tab_s` is CPU milliseconds per tab per second, by process type.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from measure import cpu_flags  # bench/ is on a bench script's import path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from cifar_cnn import live_feed, plots  # noqa: E402

UI = ROOT / "cifar_cnn" / "ui"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
PAGE = """<!doctype html><html><head><style>{css}</style></head><body><div style="width: 1200px"><div id="host">
<div class="cc-live"></div></div></div><script type="module">
import mount from './live_panel.js';
window.mountPanel = data => mount({{data, parentElement: document.getElementById('host'), setTriggerValue: () => {{}}}});
window.ready = true;
</script></body></html>"""
PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
STEPS_PER_EPOCH = 70  # 4,500 images in batches of 64, as in bench/viewers.py
BATCH_S = 0.07  # about 1,000 images/s


class MadeUpTraining:
    """Batches that keep coming, from epoch 6 on (the first five are done): the curves a viewer receives mid-training."""

    def __init__(self):
        self.batches, self.epochs = [], []
        for _ in range(5 * STEPS_PER_EPOCH):
            self.add_batch()

    def add_batch(self) -> None:
        count = len(self.batches)
        epoch, batch = count // STEPS_PER_EPOCH + 1, count % STEPS_PER_EPOCH + 1
        wobble = math.sin(count * 0.7) * 0.1
        self.batches.append({"epoch": epoch, "batch": batch, "loss": 2 * math.exp(-count / 300) + 0.3 + wobble,
                             "accuracy": 0.7 - 0.4 * math.exp(-count / 300) + wobble})
        if batch == STEPS_PER_EPOCH:
            self.epochs.append({"epoch": epoch, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.45})

    def run(self) -> None:
        while True:
            time.sleep(BATCH_S)
            self.add_batch()

    def update(self) -> dict:
        batches, epochs = list(self.batches), list(self.epochs)
        return {"state": "running", "stopping": False, "fraction": len(batches) / (500 * STEPS_PER_EPOCH),
                "line": f"Epoch {batches[-1]['epoch']}/500 · batch {batches[-1]['batch']}/{STEPS_PER_EPOCH} · 1,000 images/s",
                "charts": {metric: plots.live_curve_series(batches, epochs, STEPS_PER_EPOCH, metric) for metric in ("loss", "accuracy")},
                "watch": {"epoch": len(epochs), "indices": list(range(8)), "labels": list(range(8)), "predicted": list(range(8))}}


def serve(training: MadeUpTraining) -> ThreadingHTTPServer:
    page = PAGE.format(css=(UI / "live_panel.css").read_text()).encode()
    script = (UI / "live_panel.js").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/feed"):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    self.wfile.write(f"retry: {live_feed.RECONNECT_MS}\n\n".encode())
                    for count in range(int(live_feed.STREAM_S / live_feed.REFRESH_S)):
                        data = json.dumps({"": {"queue": "q"}, "job1": training.update()}, separators=(",", ":"))
                        self.wfile.write(f"id: q.{count}\ndata: {data}\n\n".encode())
                        self.wfile.flush()
                        time.sleep(live_feed.REFRESH_S)
                except OSError:  # the tab closed
                    pass
                return
            body, kind = {"/page.html": (page, "text/html"), "/live_panel.js": (script, "text/javascript")}.get(self.path, (b"", ""))
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", kind or "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return False


def browser_cpu_by_process_type() -> dict[str, float]:
    """CPU seconds so far of this script's Chromium processes, by their --type (the main one: "browser"), and of
    Playwright's driver ("playwright")."""
    seconds: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid() or not descends_from(int(entry.name), os.getpid()):
            continue
        try:
            stat, command = (entry / "stat").read_text(), (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # it ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        kind = re.search(rb"--type=(\S+)", command)
        name = "playwright" if "chrom" not in stat[:stat.rindex(")")] else kind.group(1).decode() if kind else "browser"
        seconds[name] = seconds.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tabs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--panel", choices=("draw", "receive", "none"), default="draw")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    training = MadeUpTraining()
    threading.Thread(target=training.run, daemon=True).start()
    server = serve(training)
    url = f"http://127.0.0.1:{server.server_port}"
    data = {"feed": f"{url}/feed", "mode": "training" if args.panel == "draw" else "watch", "job": "job1" if args.panel == "draw" else "",
            "lost": "lost", "starting": "Starting...", "drawn": {"state": "running", "stopping": False, "queue": "q"},
            "watch_set": {"pictures": [PIXEL] * 8, "indices": list(range(8)), "truths": list(range(8)),
                          "names": [str(label) for label in range(10)], "explanation": "", "before_first": "", "mismatch": ""}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        for _ in range(args.tabs):
            page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
            page.goto(f"{url}/page.html")
            page.wait_for_function("() => window.ready")
            if args.panel != "none":
                page.evaluate("data => window.mountPanel(data)", data)
        time.sleep(5)  # every tab has drawn its first update
        before, started = browser_cpu_by_process_type(), time.monotonic()
        time.sleep(args.seconds)
        after, elapsed = browser_cpu_by_process_type(), time.monotonic() - started
        browser.close()
    server.shutdown()

    by_type = {kind: round(1000 * (after[kind] - before.get(kind, 0.0)) / elapsed / args.tabs, 2) for kind in sorted(after)}
    chromium = sum(value for kind, value in by_type.items() if kind != "playwright")
    result = {"cpu": cpu_flags(), "cores": os.cpu_count(), "tabs": args.tabs, "panel": args.panel, "refresh_s": live_feed.REFRESH_S,
              "update_bytes": len(json.dumps(training.update())), "ms_per_tab_s": by_type, "chromium_ms_per_tab_s": round(chromium, 2)}
    print(f"{args.tabs} tabs, panel {args.panel}: Chromium {chromium:.1f} ms per tab per second ({cpu_flags()})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
