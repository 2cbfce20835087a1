"""Galleries of test images for the Evaluate page: paged grids, cell selection, image detail."""

from __future__ import annotations


import numpy as np
import streamlit as st

from cifar_cnn import runs
from cifar_cnn.data import Dataset
from cifar_cnn.images import enlarge
from cifar_cnn.ui.explain import show_explanation
from cifar_cnn.ui.scroll import scroll_to
from cifar_cnn.ui.text import plain

CELL_KEY = "selected_cell"  # (true class, predicted class) of the open confusion-matrix cell
DETAIL_KEY = "detail_image"  # test-set index of the image to explain
CELL_ANCHOR = "cell-images"  # the id of the open cell's heading, scrolled to when a cell is chosen
_SCROLL_KEY = "_scroll_to_cell"
PAGE_SIZE = 24
COLUMNS = 8


def dataset_mismatch(run: runs.Run, dataset: Dataset | None, labels: np.ndarray) -> str | None:
    """Why the loaded dataset's test images cannot be shown for this run, or None if they can."""
    if dataset is None:
        return "No dataset loaded, so images cannot be shown: choose the run's data source in the sidebar."
    problem = runs.dataset_mismatch(run, dataset, labels)
    return f"{problem}: choose its data source in the sidebar to see the images." if problem else None


def select_cell(true_class: int, predicted_class: int) -> None:
    st.session_state[CELL_KEY] = (int(true_class), int(predicted_class))
    st.session_state["cell_page"] = 1
    st.session_state[_SCROLL_KEY] = True


def scroll_to_the_cell_once() -> None:
    """Bring the chosen cell's images into view after a click: they open below the matrix, off-screen on a projector."""
    if not st.session_state.pop(_SCROLL_KEY, False):
        return
    scroll_to(CELL_ANCHOR)


def select_clicked_cell() -> None:
    """on_select callback of the confusion-matrix chart: the clicked marker carries (true, predicted)."""
    event = st.session_state.get("confusion_chart")
    points = event.selection.points if event else []
    for point in points:
        cell = point.get("customdata")
        if isinstance(cell, dict):  # the browser sends a typed array as {"0": ..., "1": ...}
            cell = [cell[key] for key in sorted(cell, key=int)]
        if isinstance(cell, (list, tuple)) and len(cell) >= 2:
            select_cell(int(cell[0]), int(cell[1]))
            return


def request_detail(index: int) -> None:
    st.session_state[DETAIL_KEY] = int(index)


def paged_gallery(indices: np.ndarray, probabilities: np.ndarray, labels: np.ndarray, class_names, dataset: Dataset | None, key: str) -> None:
    if len(indices) == 0:
        st.info("No images here.")
        return
    pages = -(-len(indices) // PAGE_SIZE)
    page = 1
    if pages > 1:
        page = st.number_input(f"Page (of {pages})", 1, pages, key=f"{key}_page")
    shown = indices[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    for row_start in range(0, len(shown), COLUMNS):
        columns = st.columns(COLUMNS)
        for column, index in zip(columns, shown[row_start : row_start + COLUMNS]):
            true_class, predicted_class = int(labels[index]), int(np.argmax(probabilities[index]))
            caption = f"\\#{index} {plain(class_names[true_class])} {probabilities[index, true_class]:.0%}"
            if predicted_class != true_class:
                caption += f" · {plain(class_names[predicted_class])} {probabilities[index, predicted_class]:.0%}"
            with column:
                if dataset is not None:
                    st.image(enlarge(dataset.x_test[index], 3), caption=caption)
                else:
                    st.caption(caption)
                st.button("Inspect", key=f"{key}-inspect-{index}", on_click=request_detail, args=(index,),
                          disabled=dataset is None, help="Top-5 classes and Grad-CAM for this image")


def show_requested_detail(run: runs.Run, probabilities: np.ndarray, labels: np.ndarray, class_names, dataset: Dataset | None) -> None:
    """Open the detail dialog for the image an Inspect button asked for (once per click)."""
    index = st.session_state.pop(DETAIL_KEY, None)
    if index is None or dataset is None:
        return

    @st.dialog(f"Test image \\#{index}: true class {plain(class_names[int(labels[index])])}", width="large")
    def detail():
        show_explanation(run, dataset.x_test[index], probabilities[index], class_names, true_class=int(labels[index]))

    detail()
