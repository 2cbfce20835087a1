"""Plotly figures of what is inside a model (no Streamlit)."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from cifar_cnn.inside import pictures
from cifar_cnn.inside.embeddings import Projection
from cifar_cnn.plots import class_colour, plotly_text

SELECTED_COLOUR = "rgb(255,75,75)"  # Streamlit's red, as the confusion matrix frames its open cell


def channel_grid_figure(maps: np.ndarray, channels, selected: int | None = None, columns: int = 8, tile: int = 64) -> go.Figure:
    """`pictures.feature_grid` of `channels` as a figure whose maps can be clicked, the `selected` channel framed.

    Streamlit reports no click on an image (or a heat map, streamlit issue 8760), so an invisible square marker sits on
    every map: a click anywhere on a map selects its marker, whose `customdata` is (channel, its strongest value)."""
    channels = [int(channel) for channel in channels]
    grid = pictures.feature_grid(maps, channels, columns=columns, tile=tile)
    boxes = pictures.grid_boxes(maps.shape[:2], len(channels), columns=columns, tile=tile)
    height, width = grid.shape[:2]
    png = io.BytesIO()
    Image.fromarray(grid).save(png, format="PNG")
    figure = go.Figure(go.Image(source="data:image/png;base64," + base64.b64encode(png.getvalue()).decode(), hoverinfo="skip"))
    strongest = maps.reshape(-1, maps.shape[-1]).max(axis=0) if maps.size else np.zeros(maps.shape[-1])
    figure.add_trace(go.Scatter(
        x=[(left + right - 1) / 2 for _, left, _, right in boxes], y=[(top + bottom - 1) / 2 for top, _, bottom, _ in boxes],
        customdata=[[channel, float(strongest[channel])] for channel in channels], mode="markers", showlegend=False,
        marker=dict(size=max(right - left for _, left, _, right in boxes) if boxes else 1, symbol="square", opacity=0),
        hovertemplate="channel #%{customdata[0]}: strongest value %{customdata[1]:.2f}<br>click to look at it<extra></extra>",
        name="channels",
    ))
    if selected is not None and int(selected) in channels:
        top, left, bottom, right = boxes[channels.index(int(selected))]
        figure.add_shape(type="rect", x0=left - 1.5, x1=right + 0.5, y0=top - 1.5, y1=bottom + 0.5,
                         line=dict(color=SELECTED_COLOUR, width=3), name="selected channel")
    figure.update_layout(
        width=width, height=height, margin=dict(l=0, r=0, t=0, b=0), showlegend=False, dragmode=False,
        clickmode="event+select", hovermode="closest", hoverdistance=max(width, height),
        xaxis=dict(visible=False, range=[-0.5, width - 0.5], fixedrange=True),
        yaxis=dict(visible=False, range=[height - 0.5, -0.5], fixedrange=True, scaleanchor="x"),
    )
    return figure


def embedding_figure(projection: Projection, labels: np.ndarray, class_names) -> go.Figure:
    """The projected test images as points, one colour per true class; a cross marks an image the model got wrong.

    Each point's customdata is its test-image index (the page opens the image on click)."""
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
            marker=dict(color=class_colour(class_index), size=np.where(wrong, 8, 5),
                        symbol=np.where(wrong, "x", "circle"), opacity=0.75),
            hovertemplate=f"test image #%{{customdata}}<br>true {plotly_text(name)}, %{{text}}<extra></extra>",
        ))
    wrong_share = float(np.mean(projection.predicted != true)) if len(true) else 0.0
    figure.update_layout(
        title=f"{projection.method} of layer {plotly_text(projection.layer)}: {len(true):,} test images, "
              f"crosses: the {wrong_share:.0%} the model gets wrong",
        xaxis=dict(showticklabels=False, title=None), yaxis=dict(showticklabels=False, title=None, scaleanchor="x"),
        # The title sits left and the plot below it with room: Plotly's toolbar, top right, covered a centred title.
        title_x=0, title_xanchor="left", title_y=0.98, title_yanchor="top",
        legend_title_text="true class", height=580, margin=dict(t=80, b=10, l=10, r=10),
    )
    return figure
