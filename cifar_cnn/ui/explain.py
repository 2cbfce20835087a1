"""One image, explained: the model's top-5 classes and Grad-CAM heat maps."""

from __future__ import annotations

import numpy as np
import streamlit as st

from cifar_cnn import plots, runs
from cifar_cnn.gradcam import overlay
from cifar_cnn.images import enlarge
from cifar_cnn.ui import cached
from cifar_cnn.ui.text import plain


def show_explanation(run: runs.Run, image: np.ndarray, probabilities: np.ndarray, class_names, true_class: int | None = None) -> None:
    """Top-5 bar chart, then Grad-CAM for the predicted class (and the true class when it differs)."""
    predicted = int(np.argmax(probabilities))
    left, right = st.columns([1, 2])
    left.image(enlarge(image, 6), caption="What the model sees (32x32, enlarged)")
    right.plotly_chart(plots.top_k_figure(probabilities, class_names, true_class), key=f"top5-{id(image)}")

    try:
        explain = cached.gradcam(run)
    except runs.RunError as error:
        st.error(f"No Grad-CAM: {plain(error)}")
        return
    wanted = [(predicted, "predicted")]
    if true_class is not None and true_class != predicted:
        wanted.append((true_class, "true"))
    columns = st.columns(len(wanted))
    for column, (class_index, role) in zip(columns, wanted):
        heat = explain(image, class_index)
        column.image(
            enlarge(overlay(image, heat), 6),
            caption=f"Grad-CAM, {role} class {plain(class_names[class_index])} ({probabilities[class_index]:.1%}): "
            "red areas raised its score most",
        )
    st.caption(f"Grad-CAM uses the last convolutional layer ({plain(explain.layer_name)}), so the map is coarse.")
