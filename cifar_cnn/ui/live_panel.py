"""The Train page's live panels: a custom component that draws the live feed (cifar_cnn/live_feed.py) in the browser.

A panel reruns its fragment only when the feed says the page must change (a training started or ended, the line
moved, Stop was pressed): between those, progress, curves and guesses arrive as server-sent events, drawn by
live_panel.js without a Streamlit rerun, so that a class's 30 tabs cost the training little.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit import config

from cifar_cnn import live_feed
from cifar_cnn.ui.watch_set import watch_set_data

_HERE = Path(__file__).parent
_component = st.components.v2.component(
    "cifar_cnn_live_panel", html='<div class="cc-live"></div>', css=(_HERE / "live_panel.css").read_text(),
    js=(_HERE / "live_panel.js").read_text(), isolate_styles=False)
LOST = ("The live view lost its connection to the server: reload the page. (It needs the app started with "
        "`streamlit run streamlit_app.py`.)")


def _mount(key: str, **data) -> None:
    feed = live_feed.url_path(config.get_option("server.baseUrlPath"))
    _component(data={"feed": feed, "lost": LOST, **data}, key=key, on_changed_change=lambda: None)


def training_panel(job, dataset, scroll: bool = False) -> None:
    """Progress, loss and accuracy curves and the watch set of the running `job`, updated from the feed; the fragment
    around it reruns when the job ends or someone presses its Stop. `scroll`: bring the panel into view."""
    _mount(f"live_{job.job_id}", mode="training", job=job.job_id, starting=live_feed.STARTING_LINE,
           drawn={"state": job.state, "stopping": job.stop_requested}, watch_set=watch_set_data(dataset), scroll=scroll)


def rerun_when_the_queue_changes(key: str, at_least_every_s: float | None = None) -> None:
    """Nothing to see: reruns the fragment around it when the queue changes (a job queued, started, ended or stopped),
    and at least every `at_least_every_s` (estimates of start times drift)."""
    _mount(key, mode="watch", job="", drawn={"queue": live_feed.FEED.queue_version()}, refresh_after_s=at_least_every_s)
