"""Plotly figures of what is inside a model (no Streamlit)."""

from __future__ import annotations

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from cifar_cnn.inside.embeddings import Projection
from cifar_cnn.plots import plotly_text


def embedding_figure(projection: Projection, labels: np.ndarray, class_names) -> go.Figure:
    """The projected test images as points, one colour per true class; a cross marks an image the model got wrong.

    Each point's customdata is its test-image index (the page opens the image on click)."""
    palette = plotly.colors.qualitative.Plotly + plotly.colors.qualitative.Dark24
    true = labels[projection.indices]
    figure = go.Figure()
    for class_index, name in enumerate(class_names):
        mask = np.flatnonzero(true == class_index)
        if not len(mask):
            continue
        mask = mask[np.argsort(projection.predicted[mask] != class_index, kind="stable")]  # right first: the legend shows a dot
        wrong = projection.predicted[mask] != class_index
        figure.add_trace(go.Scattergl(
            x=projection.points[mask, 0], y=projection.points[mask, 1], mode="markers", name=plotly_text(name),
            customdata=projection.indices[mask],
            text=[f"predicted {plotly_text(class_names[p])}" if 0 <= p < len(class_names) else f"predicted {p}"
                  for p in projection.predicted[mask]],
            marker=dict(color=palette[class_index % len(palette)], size=np.where(wrong, 8, 5),
                        symbol=np.where(wrong, "x", "circle"), opacity=0.75),
            hovertemplate=f"test image #%{{customdata}}<br>true {plotly_text(name)}, %{{text}}<extra></extra>",
        ))
    wrong_share = float(np.mean(projection.predicted != true)) if len(true) else 0.0
    figure.update_layout(
        title=f"{projection.method} of layer {plotly_text(projection.layer)}: {len(true):,} test images, "
              f"crosses: the {wrong_share:.0%} the model gets wrong",
        xaxis=dict(showticklabels=False, title=None), yaxis=dict(showticklabels=False, title=None, scaleanchor="x"),
        legend_title_text="true class", height=560, margin=dict(t=50, b=10, l=10, r=10),
    )
    return figure
