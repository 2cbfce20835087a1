"""The running job's live charts, built once per update and shared by every viewer.

Every open Train tab redraws its live panel every second. Built per tab, the two
figures cost about 50 ms of the server's time each second (with 30 tabs, more than
a CPU core taken from the training); built once per new batch and handed to
every tab, they cost that once.
"""

from __future__ import annotations

import collections
import threading

import plotly.graph_objects as go
import streamlit as st

from cifar_cnn import plots
from cifar_cnn.training.live import LiveSnapshot

METRICS = ("loss", "accuracy")
KEEP_JOBS = 64  # jobs whose figures are kept: more than a class runs at once


class SharedLiveFigures:
    """The latest (loss, accuracy) figures of each live job, rebuilt only when its snapshot has new rows.

    Keyed by the job's id: in a class, every student's tab follows its own job, and each job's figures are built
    once per update however many tabs show them."""

    def __init__(self, keep: int = KEEP_JOBS):
        self._lock = threading.Lock()
        self._keep = keep
        self._built: collections.OrderedDict[str, tuple[tuple, dict[str, go.Figure]]] = collections.OrderedDict()
        self.builds = 0  # how many times figures were built: what sharing saves, for tests and benches

    def for_snapshot(self, job_id: str, snapshot: LiveSnapshot) -> dict[str, go.Figure]:
        key = (len(snapshot.batches), len(snapshot.epochs), snapshot.steps_per_epoch)
        with self._lock:  # one tab builds, the others wait for its figures instead of building their own
            built = self._built.get(job_id)
            if built is None or built[0] != key:
                figures = {metric: plots.live_curve_figure(snapshot.batches, snapshot.epochs, snapshot.steps_per_epoch, metric)
                           for metric in METRICS}
                built = self._built[job_id] = (key, figures)
                self.builds += 1
            self._built.move_to_end(job_id)
            while len(self._built) > self._keep:
                self._built.popitem(last=False)
            return built[1]


@st.cache_resource
def shared_live_figures() -> SharedLiveFigures:
    return SharedLiveFigures()
