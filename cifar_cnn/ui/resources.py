"""Process-wide resources: loaded datasets and the training-job registry.

`st.cache_resource` keeps one copy per server process, shared by every
browser tab and rerun: the dataset arrays are loaded once, and a training job
started in one tab shows in every other.
"""

from __future__ import annotations

import threading

import streamlit as st

from cifar_cnn.data import Dataset, load_dataset
from cifar_cnn.jobs import JobRunner
from cifar_cnn.paths import default_cache_dir, default_runs_dir


@st.cache_resource
def job_runner() -> JobRunner:
    return JobRunner(default_runs_dir())


@st.cache_resource
def _loaded_datasets() -> tuple[dict[str, Dataset], threading.Lock]:
    return {}, threading.Lock()


def load_dataset_with_progress(source: str | None) -> Dataset:
    """Load (once per process) with a progress bar; raises DataError with the library's message.

    Not a cached function: a failed load must not be cached, and the progress
    bar must show while the first load runs.
    """
    datasets, lock = _loaded_datasets()
    key = source or ""
    if key in datasets:
        return datasets[key]
    with lock:  # two tabs opening at once load the data once
        if key not in datasets:
            bar = st.progress(0.0, text="Loading the dataset...")
            try:
                datasets[key] = load_dataset(
                    source or None, cache_dir=default_cache_dir(), progress=lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0), text=message)
                )
            finally:
                bar.empty()
    return datasets[key]
