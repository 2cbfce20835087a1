"""The running job's live charts, built once per update and shared by every viewer.

Every open Train tab redraws its live panel every second. Built per tab, the two
figures cost about 50 ms of the server's time each second (with 30 tabs, more than
a CPU core taken from the training); built once per new batch and handed to
every tab, they cost that once.
"""

from __future__ import annotations

import threading

import plotly.graph_objects as go
import streamlit as st

from cifar_cnn import plots
from cifar_cnn.training.live import LiveHistory, LiveSnapshot

METRICS = ("loss", "accuracy")


class SharedLiveFigures:
    """The latest (loss, accuracy) figures of one live history, rebuilt only when its snapshot has new rows."""

    def __init__(self):
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._live: LiveHistory | None = None  # held, so that its id cannot pass to a later job's history
        self._figures: dict[str, go.Figure] = {}
        self.builds = 0  # how many times the figures were built: what sharing saves, for tests and benches

    def for_snapshot(self, live: LiveHistory, snapshot: LiveSnapshot) -> dict[str, go.Figure]:
        key = (id(live), len(snapshot.batches), len(snapshot.epochs), snapshot.steps_per_epoch)
        with self._lock:  # one tab builds, the others wait for its figures instead of building their own
            if key != self._key:
                self._figures = {metric: plots.live_curve_figure(snapshot.batches, snapshot.epochs, snapshot.steps_per_epoch, metric)
                                 for metric in METRICS}
                self._key, self._live = key, live
                self.builds += 1
            return self._figures


@st.cache_resource
def shared_live_figures() -> SharedLiveFigures:
    return SharedLiveFigures()
