"""Plotly figures shared by the app and the CLI's HTML export.

The seed notebook's three charts: loss per epoch, accuracy per epoch (train
and validation), and the confusion matrix.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cifar_cnn.evaluation import normalize_rows


def plotly_text(text: object) -> str:
    """`text` for a Plotly label: Plotly renders a subset of HTML there (links among it) and decodes entities."""
    return html.escape(str(text), quote=False)


def _curve_figure(history: pd.DataFrame, column: str, title: str, y_title: str) -> go.Figure:
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=history["epoch"], y=history[column], mode="lines+markers", name="train"))
    validation = f"val_{column}"
    if validation in history and history[validation].notna().any():
        figure.add_trace(go.Scatter(x=history["epoch"], y=history[validation], mode="lines+markers", name="validation"))
    figure.update_layout(title=title, xaxis_title="epoch", yaxis_title=y_title, hovermode="x unified", margin=dict(t=50, b=40))
    figure.update_xaxes(tick0=1, dtick=max(1, len(history) // 10) if len(history) else 1)
    return figure


def loss_figure(history: pd.DataFrame) -> go.Figure:
    """Training and validation loss per epoch."""
    return _curve_figure(history, "loss", "Loss vs epoch", "cross-entropy loss")


def accuracy_figure(history: pd.DataFrame) -> go.Figure:
    """Training and validation accuracy per epoch."""
    figure = _curve_figure(history, "accuracy", "Accuracy vs epoch", "accuracy")
    figure.update_yaxes(tickformat=".0%")
    return figure


def confusion_figure(matrix: np.ndarray, class_names: list[str] | tuple[str, ...], normalized: bool = False) -> go.Figure:
    """A heatmap of the confusion matrix: rows are true classes, columns predicted ones.

    Hover shows true class, predicted class, count and the share of the row.
    Clicking a `go.Heatmap` cell selects nothing in Streamlit (streamlit issue
    8760), so an invisible marker sits on every cell centre: clicking a cell
    selects its marker, whose `customdata` starts with (true index, predicted index).
    """
    names = [plotly_text(name) for name in class_names]
    shares = normalize_rows(matrix)
    shown = shares if normalized else matrix
    size = len(names)
    true_index, predicted_index = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    hover = "true: %{y}<br>predicted: %{x}<br>count: %{customdata[2]}<br>share of row: %{customdata[3]:.1f}%<extra></extra>"
    figure = go.Figure()
    figure.add_trace(
        go.Heatmap(
            z=shown,
            x=names,
            y=names,
            colorscale="Blues",
            text=np.vectorize(lambda v: f"{v:.0%}" if normalized else f"{int(v)}")(shown),
            texttemplate="%{text}",
            hoverinfo="skip",  # the markers below answer hovers and clicks
            colorbar=dict(title="share" if normalized else "count"),
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[names[j] for j in predicted_index.ravel()],
            y=[names[i] for i in true_index.ravel()],
            customdata=np.stack([true_index.ravel(), predicted_index.ravel(), matrix.ravel(), shares.ravel() * 100], axis=-1),
            mode="markers",
            marker=dict(size=30, symbol="square", opacity=0),
            hovertemplate=hover,
            showlegend=False,
            name="cells",
        )
    )
    figure.update_layout(
        xaxis_title="predicted class",
        yaxis_title="true class",
        yaxis=dict(autorange="reversed", scaleanchor="x", constrain="domain"),
        xaxis=dict(constrain="domain"),
        margin=dict(t=20, b=40),
        clickmode="event+select",
        # Square cells and a generous hover distance: a click anywhere in a cell picks its own centre.
        hoverdistance=200,
        dragmode=False,
        height=160 + 50 * size,
    )
    return figure


def write_html(figures: list[go.Figure], path: Path, title: str = "cifar-cnn") -> None:
    """Save figures as one self-contained HTML page (plotly.js embedded, works offline)."""
    parts = [figure.to_html(full_html=False, include_plotlyjs=(index == 0)) for index, figure in enumerate(figures)]
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>{''.join(parts)}</body></html>"
    path.write_text(page, encoding="utf-8")


def smooth(values: list[float] | np.ndarray, weight: float = 0.9) -> np.ndarray:
    """Exponential moving average, debiased at the start (as TensorBoard smooths)."""
    return pd.Series(values, dtype=float).ewm(alpha=1 - weight, adjust=True).mean().to_numpy()


MAX_POINTS_PER_CURVE = 1500  # enough for the eye; keeps a 200-epoch chart light to redraw every second


def live_curve_figure(batches: list[dict] | tuple, epochs: list[dict] | tuple, steps_per_epoch: int, metric: str = "loss") -> go.Figure:
    """One metric while training runs: every batch (faint), smoothed, per epoch, and validation.

    The x axis counts epochs, so batch 30 of 60 in epoch 2 sits at 1.5.
    """
    figure = go.Figure()
    if batches:
        x = np.array([(row["epoch"] - 1) + row["batch"] / max(steps_per_epoch, 1) for row in batches])
        values = np.array([row[metric] for row in batches], dtype=float)
        smoothed = smooth(values)
        keep = slice(None, None, -(-len(x) // MAX_POINTS_PER_CURVE))
        figure.add_trace(go.Scatter(x=x[keep], y=values[keep], mode="lines", name="train, per batch",
                                    line=dict(width=1, color="rgba(31,119,180,0.25)")))
        figure.add_trace(go.Scatter(x=x[keep], y=smoothed[keep], mode="lines", name="train, smoothed", line=dict(color="rgb(31,119,180)")))
    if epochs:
        x = [row["epoch"] for row in epochs]
        figure.add_trace(go.Scatter(x=x, y=[row[metric] for row in epochs], mode="markers", name="train, per epoch",
                                    marker=dict(size=9, color="rgb(31,119,180)", symbol="diamond")))
        figure.add_trace(go.Scatter(x=x, y=[row[f"val_{metric}"] for row in epochs], mode="lines+markers", name="validation",
                                    marker=dict(size=9), line=dict(color="rgb(255,127,14)")))
    figure.update_layout(
        title="Loss" if metric == "loss" else "Accuracy",
        xaxis_title="epoch",
        yaxis_title="cross-entropy loss" if metric == "loss" else "accuracy",
        margin=dict(t=40, b=40),
        height=340,
        legend=dict(orientation="h", y=-0.25),
        uirevision=metric,  # keep the user's zoom while the chart refreshes
    )
    if metric == "accuracy":
        figure.update_yaxes(tickformat=".0%")
    return figure


def runs_overlay_figure(histories: dict[str, pd.DataFrame], column: str, title: str) -> go.Figure:
    """One line per run, for comparing runs on the same metric."""
    figure = go.Figure()
    for name, history in histories.items():
        figure.add_trace(go.Scatter(x=history["epoch"], y=history[column], mode="lines+markers", name=plotly_text(name)))
    figure.update_layout(title=title, xaxis_title="epoch", yaxis_title=column, margin=dict(t=50, b=40), legend=dict(orientation="h", y=-0.25))
    if "accuracy" in column:
        figure.update_yaxes(tickformat=".0%")
    return figure


def class_balance_figure(class_names: list[str] | tuple[str, ...], train_counts: np.ndarray, test_counts: np.ndarray) -> go.Figure:
    """Train and test images per class, side by side."""
    figure = go.Figure()
    names = [plotly_text(name) for name in class_names]
    figure.add_trace(go.Bar(x=names, y=train_counts, name="train"))
    figure.add_trace(go.Bar(x=names, y=test_counts, name="test"))
    figure.update_layout(barmode="group", title="Images per class", yaxis_title="images", margin=dict(t=50, b=40))
    return figure


def top_k_figure(probabilities: np.ndarray, class_names: list[str] | tuple[str, ...], true_class: int | None = None, k: int = 5) -> go.Figure:
    """The k most probable classes as horizontal bars, most probable on top; the true class in green."""
    order = np.argsort(-probabilities, kind="stable")[:k][::-1]
    colours = ["#2ca02c" if index == true_class else "#1f77b4" for index in order]
    figure = go.Figure(
        go.Bar(
            x=probabilities[order],
            y=[plotly_text(class_names[index]) for index in order],
            orientation="h",
            marker_color=colours,
            text=[f"{probabilities[index]:.1%}" for index in order],
            textposition="auto",
            hovertemplate="%{y}: %{x:.2%}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"Top {k} classes" + (" (true class in green)" if true_class is not None else ""),
        xaxis=dict(range=[0, 1], tickformat=".0%"),
        margin=dict(t=40, b=30, l=10, r=10),
        height=260,
    )
    return figure
