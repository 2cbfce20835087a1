"""Process-wide resources: the loaded datasets (the training queue is in `cifar_cnn.ui.classroom`).

`st.cache_resource` keeps one copy per server process, shared by every
browser tab and rerun: the dataset arrays are loaded once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st

from cifar_cnn.data import Dataset, load_dataset, source_key
from cifar_cnn.paths import default_cache_dir


# Decoded datasets the process keeps (the least recently used goes first): CIFAR-10 takes about 180 MB,
# and visitors may type any number of paths.
MAX_DATASETS = 2


@st.cache_resource
def _loaded_datasets() -> tuple[OrderedDict[tuple, Dataset], threading.Lock]:
    return OrderedDict(), threading.Lock()


def load_dataset_with_progress(source: str | None) -> Dataset:
    """Load (once per process and source, however its path is spelled) with a progress bar; raises DataError
    with the library's message.

    Not a cached function: a failed load must not be cached, and the progress
    bar must show while the first load runs.
    """
    datasets, lock = _loaded_datasets()
    key = source_key(source)
    dataset = _recall(datasets, key)  # without the lock: a tab loading another dataset must not hold up this one
    if dataset is not None:
        return dataset
    with lock:  # two tabs opening at once load the data once
        dataset = _recall(datasets, key)
        if dataset is not None:
            return dataset
        bar = st.progress(0.0, text="Loading the dataset...")
        try:
            dataset = load_dataset(
                source or None, cache_dir=default_cache_dir(), progress=lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0), text=message)
            )
        finally:
            bar.empty()
        datasets[key] = dataset
        while len(datasets) > MAX_DATASETS:
            datasets.popitem(last=False)
        return dataset


def _recall(datasets: OrderedDict[tuple, Dataset], key: tuple) -> Dataset | None:
    """The dataset kept under `key`, now the most recently used; None when it is not kept (or was just dropped)."""
    try:
        datasets.move_to_end(key)
        return datasets[key]
    except KeyError:
        return None
