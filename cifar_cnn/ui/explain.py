"""One image, explained: the model's top-5 classes and Grad-CAM heat maps."""

from __future__ import annotations

import numpy as np
import streamlit as st

from cifar_cnn import gradcam, plots, runs
from cifar_cnn.images import enlarge
from cifar_cnn.ui import cached
from cifar_cnn.ui.text import plain

SCALE = 8  # every picture of an explanation is the 32x32 image enlarged this much...
WIDTH = 32 * SCALE  # ...and shown at exactly this many pixels: the maps of a row are the same size, whatever their captions
# The colours gradcam.overlay paints, in words (tests/test_explain.py checks the words against the pixels).
COLOUR_KEY = "Yellow: raised its score most; orange: less; red: a little; no tint: not at all."
LEGEND_CAPTION = "weak → strong: how much an area raised the score (on a grey pixel)"


def empty_map_note(class_name: str) -> str:
    return f"The map is empty: nothing in this image raised the score of {plain(class_name)}."


def show_explanation(run: runs.Run, image: np.ndarray, probabilities: np.ndarray, class_names, true_class: int | None = None) -> None:
    """Top-5 bar chart, then Grad-CAM for the predicted class (and the true class when it differs)."""
    predicted = int(np.argmax(probabilities))
    left, right = st.columns([1, 2])
    left.image(enlarge(image, SCALE), width=WIDTH, caption="What the model sees (32x32, enlarged)")
    right.plotly_chart(plots.top_k_figure(probabilities, class_names, true_class), key=f"top5-{id(image)}")

    try:
        explain = cached.gradcam(run)
    except runs.RunError as error:
        st.error(f"No Grad-CAM: {plain(error)}")
        return
    wanted = [(predicted, "predicted")]
    if true_class is not None and true_class != predicted:
        wanted.append((true_class, "true"))
    columns = st.columns(2)  # two equal columns even for one map, so one map is as big as each of two
    for column, (class_index, role) in zip(columns, wanted):
        heat = explain(image, class_index)
        with column:
            st.image(
                enlarge(gradcam.overlay(image, heat), SCALE),
                width=WIDTH,
                caption=f"Grad-CAM, {role} class {plain(class_names[class_index])} ({probabilities[class_index]:.1%})",
            )
            if gradcam.is_empty(heat):
                st.info(empty_map_note(class_names[class_index]))
    st.image(gradcam.legend(WIDTH), width=WIDTH, caption=LEGEND_CAPTION)
    st.caption(f"{COLOUR_KEY} Grad-CAM uses the last convolutional layer ({plain(explain.layer_name)}), so the map is coarse.")
