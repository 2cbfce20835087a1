"""What a viewer's browser tab costs the machine it runs on, by how the tab redraws a live training.

    python bench/browser_cost.py [--tabs 30] [--seconds 30]

`bench/viewers.py` runs its Chromium tabs on the machine that trains, so its ratio counts their rendering too. This
bench measures that rendering alone, without a training, for three kinds of page that show the same live data (two
curves of 400 points, which a thread rewrites every second as a training's snapshot would change):

- streamlit_idle: a Streamlit page that never reruns (the least a tab of the app costs: its websocket and React);
- svg_polling: a page that fetches the snapshot every 1.5 s and redraws two SVG polylines itself;
- plotly_polling: the same page drawing the two charts with Plotly.react (Plotly's own figure, legend and axes), as
  the app's live charts are drawn, but without Streamlit's rerun around them.

Each kind opens `--tabs` tabs (each its own browser context), waits 10 s, then sums the CPU time of every Chromium
process over `--seconds`. Prints ms of CPU per tab per second for each kind; the last line is a JSON object.
For the app itself (a fragment rerun every 1.5 s with its progress line, two Plotly charts and the watch set), see
bench/RESULTS.md: about 60 ms per tab per second for the progress line alone and 190 to 240 with the charts.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import plotly

from measure import cpu_flags, processes_cpu_seconds, start_app, stop_app  # bench/ is on a bench script's import path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
POINTS = 400  # the live curves' most points each (plots.MAX_POINTS_PER_CURVE)

POLLING = """<!doctype html><html><head>{head}</head><body>
<div id="progress"></div><div style="display:flex"><div id="loss" {box}></div><div id="accuracy" {box}></div></div>
<script>
let seen = null;
async function tick() {{
  const data = await (await fetch('live.json', {{cache: 'no-cache'}})).json();
  if (data.update === seen) return;
  seen = data.update;
  document.getElementById('progress').textContent = `update ${{data.update}}`;
  for (const metric of ['loss', 'accuracy']) draw(metric, data[metric]);
}}
{draw}
setInterval(tick, 1500);
</script></body></html>"""

SVG_DRAW = """function draw(metric, values) {
  const box = document.getElementById(metric);
  if (!box.firstChild) box.innerHTML = '<svg width="500" height="380"><polyline fill="none" stroke="steelblue"/></svg>';
  const low = Math.min(...values), high = Math.max(...values);
  const points = values.map((value, i) => `${(i / values.length * 500).toFixed(1)},${(380 - (value - low) / (high - low + 1e-9) * 380).toFixed(1)}`);
  box.querySelector('polyline').setAttribute('points', points.join(' '));
}"""

PLOTLY_DRAW = """function draw(metric, values) {
  const x = values.map((value, i) => i / 100);
  const traces = [
    {x, y: values, mode: 'lines', name: 'training, each', line: {width: 1, color: 'rgba(31,119,180,0.25)'}},
    {x, y: values.map(value => value * 0.98), mode: 'lines', name: 'training, smoothed', line: {color: 'rgb(31,119,180)'}},
    {x: [1, 2, 3], y: values.slice(0, 3), mode: 'markers', name: 'training batches, mean of the epoch', marker: {size: 9, symbol: 'diamond'}},
    {x: [1, 2, 3], y: values.slice(3, 6), mode: 'lines+markers', name: 'validation', marker: {size: 9}},
  ];
  const layout = {title: {text: metric}, xaxis: {title: {text: 'epoch'}}, margin: {t: 40, b: 40}, height: 380,
                  legend: {orientation: 'h', y: -0.3}, uirevision: metric};
  Plotly.react(metric, traces, layout, {displaylogo: false});
}"""

IDLE_APP = 'import streamlit as st\nst.title("Train")\nst.write("A page that does not rerun.")\n'


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_pages(folder: Path) -> str:
    """Write the two polling pages and Plotly's script into `folder`, serve it, and rewrite `live.json` every second."""
    (folder / "svg.html").write_text(POLLING.format(head="", box="", draw=SVG_DRAW))
    (folder / "plotly.html").write_text(POLLING.format(head='<script src="plotly.min.js"></script>',
                                                      box='style="width:500px;height:380px"', draw=PLOTLY_DRAW))
    shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", folder / "plotly.min.js")

    def rewrite_snapshot():
        update = 0
        while True:
            update += 1
            count = min(update * 10, POINTS)
            snapshot = {"update": update,
                        "loss": [round(2 * math.exp(-i / 150) + 0.05 * math.sin(i + update), 4) for i in range(count)],
                        "accuracy": [round(1 - math.exp(-i / 150) + 0.02 * math.cos(i + update), 4) for i in range(count)]}
            (folder / "live.tmp").write_text(json.dumps(snapshot))
            os.replace(folder / "live.tmp", folder / "live.json")
            time.sleep(1.0)

    threading.Thread(target=rewrite_snapshot, daemon=True).start()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def start_idle_streamlit(folder: Path) -> tuple[subprocess.Popen, str]:
    script = folder / "idle_app.py"
    script.write_text(IDLE_APP)
    return start_app({}, folder / "streamlit.log", script=script)


def tab_cost(playwright, url: str, tabs: int, seconds: float) -> float:
    """Chromium's CPU milliseconds per tab per second with `tabs` tabs open on `url`."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        for _ in range(tabs):
            page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
            page.goto(url)
        time.sleep(10)  # every tab loaded and drawing
        before, started = processes_cpu_seconds("chrom"), time.monotonic()
        time.sleep(seconds)
        return 1000 * (processes_cpu_seconds("chrom") - before) / (time.monotonic() - started) / tabs
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tabs", type=int, default=30, help="tabs per kind of page (default 30)")
    parser.add_argument("--seconds", type=float, default=30, help="how long each kind is measured (default 30)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        pages = serve_pages(Path(folder))
        streamlit, streamlit_url = start_idle_streamlit(Path(folder))
        try:
            costs = {kind: round(tab_cost(playwright, url, args.tabs, args.seconds), 1) for kind, url in
                     (("streamlit_idle", streamlit_url), ("svg_polling", f"{pages}/svg.html"),
                      ("plotly_polling", f"{pages}/plotly.html"))}
        finally:
            stop_app(streamlit)
    for kind, cost in costs.items():
        print(f"{kind}: {cost} ms of CPU per tab per second ({args.tabs} tabs; {cpu_flags()}, {os.cpu_count()} cores)")
    print(json.dumps({"cpu": cpu_flags(), "cores": os.cpu_count(), "tabs": args.tabs,
                      **{f"{kind}_ms_per_tab_s": cost for kind, cost in costs.items()}}))


if __name__ == "__main__":
    main()
