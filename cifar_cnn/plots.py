"""Plotly figures shared by the app and the CLI's HTML export.

The seed notebook's three charts: loss per epoch, accuracy per epoch (train
and validation), and the confusion matrix.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go

from cifar_cnn.evaluation import normalize_rows


def plotly_text(text: object) -> str:
    """`text` for a Plotly label: Plotly renders a subset of HTML there (links among it) and decodes entities."""
    return html.escape(str(text), quote=False)


# What each curve measures, in the charts' legends and in one line of help under them: "why is validation above
# training?" is the first question a class asks, and the answer is that the training curve is measured on
# batches with dropout and augmentation on, while the model is still changing.
TRAINING_CURVE = "training batches (dropout and augmentation on)"
VALIDATION_CURVE = "validation (after each epoch, without them)"
FINAL_EVALUATION = "final evaluation of the training images (without them)"
CURVES_HELP = (
    "The training curve is measured on the training batches while the model learns, with dropout and augmentation "
    "switched on, so it sits below the validation curve and below the final evaluation, which see clean images and the "
    "whole network."
)
LIVE_CURVES_HELP = CURVES_HELP + " Each faint point is one batch; the solid line smooths them."


def _curve_figure(history: pd.DataFrame, column: str, title: str, y_title: str, final: float | None = None) -> go.Figure:
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=history["epoch"], y=history[column], mode="lines+markers", name=TRAINING_CURVE))
    validation = f"val_{column}"
    if validation in history and history[validation].notna().any():
        figure.add_trace(go.Scatter(x=history["epoch"], y=history[validation], mode="lines+markers", name=VALIDATION_CURVE))
    if final is not None and len(history):
        figure.add_trace(go.Scatter(x=[history["epoch"].iloc[-1]], y=[final], mode="markers", name=FINAL_EVALUATION,
                                    marker=dict(size=13, symbol="star", color="rgb(44,160,44)")))
    figure.update_layout(title=title, xaxis_title="epoch", yaxis_title=y_title, hovermode="x unified", margin=dict(t=50, b=40),
                         legend=dict(orientation="h", y=-0.3))
    figure.update_xaxes(tick0=1, dtick=max(1, len(history) // 10) if len(history) else 1)
    return figure


def loss_figure(history: pd.DataFrame, metrics: dict | None = None) -> go.Figure:
    """Training and validation loss per epoch, and the final evaluation's training loss where `metrics` has it."""
    return _curve_figure(history, "loss", "Loss vs epoch", "cross-entropy loss", (metrics or {}).get("train_loss"))


def accuracy_figure(history: pd.DataFrame, metrics: dict | None = None) -> go.Figure:
    """Training and validation accuracy per epoch, and the final evaluation's training accuracy where `metrics` has it."""
    figure = _curve_figure(history, "accuracy", "Accuracy vs epoch", "accuracy", (metrics or {}).get("train_accuracy"))
    figure.update_yaxes(tickformat=".0%")
    return figure


def confusion_figure(matrix: np.ndarray, class_names: list[str] | tuple[str, ...], normalized: bool = False,
                     selected: tuple[int, int] | None = None) -> go.Figure:
    """A heatmap of the confusion matrix: rows are true classes, columns predicted ones.

    Hover shows true class, predicted class, count and the share of the row.
    Clicking a `go.Heatmap` cell selects nothing in Streamlit (streamlit issue
    8760), so an invisible marker sits on every cell centre: clicking a cell
    selects its marker, whose `customdata` starts with (true index, predicted index). The `selected`
    cell (true index, predicted index), whose images the page shows, is framed.
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
    if selected is not None:
        true_class, predicted_class = selected
        # Category axes place cell k at k, so the frame runs from k - 0.5 to k + 0.5.
        figure.add_shape(type="rect", x0=predicted_class - 0.5, x1=predicted_class + 0.5, y0=true_class - 0.5, y1=true_class + 0.5,
                         line=dict(color="rgb(255,75,75)", width=4), name="selected cell")
    return figure


def write_html(figures: list[go.Figure], path: Path, title: str = "cifar-cnn") -> None:
    """Save figures as one self-contained HTML page (plotly.js embedded, works offline)."""
    parts = [figure.to_html(full_html=False, include_plotlyjs=(index == 0)) for index, figure in enumerate(figures)]
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>{''.join(parts)}</body></html>"
    path.write_text(page, encoding="utf-8")


def smooth(values: list[float] | np.ndarray, weight: float = 0.9) -> np.ndarray:
    """Exponential moving average, debiased at the start (as TensorBoard smooths)."""
    return pd.Series(values, dtype=float).ewm(alpha=1 - weight, adjust=True).mean().to_numpy()


# About one point per pixel of a live chart's width: every viewer's tab receives the curves at each update.
MAX_POINTS_PER_CURVE = 400
LIVE_DECIMALS = 4  # a loss or an accuracy to 4 decimals is more than a chart shows, and its JSON half as long


def live_curve_series(batches: list[dict] | tuple, epochs: list[dict] | tuple, steps_per_epoch: int, metric: str = "loss") -> dict:
    """One metric while training runs, as plain lists for the live panel to draw in the browser: every batch (faint),
    smoothed, the mean of each epoch's batches, and validation.

    The x axis counts epochs, so batch 30 of 60 in epoch 2 sits at 1.5. Every viewer's tab receives these at each
    update: at most MAX_POINTS_PER_CURVE points a curve, LIVE_DECIMALS decimals each.
    """
    series = {"title": "Loss" if metric == "loss" else "Accuracy",
              "y_title": "cross-entropy loss" if metric == "loss" else "accuracy", "percent": metric == "accuracy",
              # Short: a legend under a third of the page. LIVE_CURVES_HELP, under the charts, says what each measures.
              "names": {"batch": "training, each batch", "smoothed": "training, smoothed", "epoch": "training, epoch mean",
                        "validation": "validation"},
              "batch_x": [], "batch_y": [], "smoothed_y": [], "epoch_x": [], "epoch_y": [], "validation_y": []}
    if batches:
        x = np.array([(row["epoch"] - 1) + row["batch"] / max(steps_per_epoch, 1) for row in batches])
        values = np.array([row[metric] for row in batches], dtype=float)
        keep = slice(None, None, -(-len(x) // MAX_POINTS_PER_CURVE))
        series |= {"batch_x": _rounded(x[keep]), "batch_y": _rounded(values[keep]), "smoothed_y": _rounded(smooth(values)[keep])}
    if epochs:
        series |= {"epoch_x": [int(row["epoch"]) for row in epochs], "epoch_y": _rounded([row[metric] for row in epochs]),
                   "validation_y": _rounded([row[f"val_{metric}"] for row in epochs])}
    return series


def batch_curves_figure(series: dict) -> go.Figure:
    """A finished training's curves as the live panel drew them (`live_curve_series`): every batch faint, smoothed,
    each epoch's mean and validation."""
    names = series["names"]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=series["batch_x"], y=series["batch_y"], mode="markers", name=names["batch"],
                                marker=dict(size=3, color="rgba(31,119,180,0.25)")))
    figure.add_trace(go.Scatter(x=series["batch_x"], y=series["smoothed_y"], mode="lines", name=names["smoothed"],
                                line=dict(color="rgb(31,119,180)")))
    if series["epoch_x"]:
        figure.add_trace(go.Scatter(x=series["epoch_x"], y=series["epoch_y"], mode="markers", name=names["epoch"],
                                    marker=dict(size=8, color="rgb(31,119,180)", symbol="diamond")))
        figure.add_trace(go.Scatter(x=series["epoch_x"], y=series["validation_y"], mode="lines+markers", name=names["validation"],
                                    line=dict(color="rgb(255,127,14)")))
    figure.update_layout(title=series["title"], xaxis_title="epoch", yaxis_title=series["y_title"], height=320,
                         margin=dict(t=40, b=30, l=10, r=10), legend=dict(orientation="h", y=-0.3))
    if series["percent"]:
        figure.update_yaxes(tickformat=".0%")
    return figure


def _rounded(values) -> list[float | None]:
    """JSON-ready: LIVE_DECIMALS decimals, and None (a gap in the line) for a NaN or infinite loss."""
    return [round(float(value), LIVE_DECIMALS) if math.isfinite(value) else None for value in np.asarray(values, dtype=float)]


# One colour per class wherever a class has one: Tableau's 10, chosen to be told apart (Plotly's default 10 has two
# near purples), then more for datasets of more classes.
CLASS_PALETTE = plotly.colors.qualitative.T10 + plotly.colors.qualitative.Alphabet


def class_colour(class_index: int) -> str:
    return CLASS_PALETTE[class_index % len(CLASS_PALETTE)]


# Distinct colours for the runs of a comparison (Streamlit's own chart theme starts with two blues), then dashes past ten.
RUN_COLOURS = plotly.colors.qualitative.D3
RUN_DASHES = ("solid", "dash", "dot")
HISTORY_COLUMN_WORDS = {"loss": "training loss", "accuracy": "training accuracy", "val_loss": "validation loss",
                        "val_accuracy": "validation accuracy", "seconds": "seconds per epoch"}


def runs_overlay_figure(histories: dict[str, pd.DataFrame], column: str, title: str) -> go.Figure:
    """One line per run, for comparing runs on the same metric; `histories` maps each run's label to its history.

    Every run has its own colour (and, past ten runs, its own dash), so the legend tells them apart."""
    figure = go.Figure()
    for index, (name, history) in enumerate(histories.items()):
        colour, dash = RUN_COLOURS[index % len(RUN_COLOURS)], RUN_DASHES[index // len(RUN_COLOURS) % len(RUN_DASHES)]
        figure.add_trace(go.Scatter(x=history["epoch"], y=history[column], mode="lines+markers", name=plotly_text(name),
                                    line=dict(color=colour, dash=dash), marker=dict(color=colour)))
    figure.update_layout(title=title, xaxis_title="epoch", yaxis_title=HISTORY_COLUMN_WORDS.get(column, column.replace("_", " ")),
                         margin=dict(t=50, b=40), legend=dict(orientation="h", y=-0.25))
    longest = max((len(history) for history in histories.values()), default=0)
    figure.update_xaxes(tick0=1, dtick=max(1, longest // 10))  # whole epochs, not 1.5
    if "accuracy" in column:
        figure.update_yaxes(tickformat=".0%")
    return figure


# The Class page's two charts of `class_results.settings_frame`, and what the scatter's points may be coloured by.
CLASS_SCATTER, CLASS_PARALLEL = "learning rate vs accuracy", "all settings"
CLASS_CHARTS = (CLASS_SCATTER, CLASS_PARALLEL)
CLASS_COLOURS = ("optimizer", "architecture", "batch size", "epochs", "train images", "owner")
_CATEGORIES = ("optimizer", "architecture", "owner")
_MAX_TICKS = 8  # labelled values on one axis; more overlap


def class_settings_figure(frame: pd.DataFrame, colour_by: str = "optimizer", chart: str = CLASS_SCATTER) -> go.Figure:
    """The class's runs (`class_results.settings_frame`) against their test accuracy.

    CLASS_SCATTER: learning rate (log scale) against test accuracy, one point per run coloured by `colour_by` (one of
    CLASS_COLOURS). CLASS_PARALLEL: parallel coordinates of every setting and test accuracy, one line per run coloured
    by its accuracy; with fewer than 2 runs there is nothing to connect, so it draws the scatter. With no runs, an
    empty chart that says so. Names (owners, runs, architectures) are escaped: Plotly renders HTML in labels."""
    if colour_by not in CLASS_COLOURS:
        raise ValueError(f"colour_by must be one of {', '.join(CLASS_COLOURS)}, not {colour_by!r}")
    if chart not in CLASS_CHARTS:
        raise ValueError(f"chart must be one of {', '.join(CLASS_CHARTS)}, not {chart!r}")
    if frame.empty:
        figure = go.Figure()
        figure.add_annotation(text="No run of the class has a test accuracy yet", showarrow=False, x=0.5, y=0.5,
                              xref="paper", yref="paper")
        figure.update_layout(xaxis_visible=False, yaxis_visible=False, margin=dict(t=30, b=30), height=300)
        return figure
    if chart == CLASS_PARALLEL and len(frame) >= 2:
        return _class_parallel_figure(frame)
    return _class_scatter_figure(frame, colour_by)


def _class_hover(frame: pd.DataFrame) -> list[str]:
    return [f"{plotly_text(row.label)}<br>owner: {plotly_text(row.owner)}<br>learning rate {row.learning_rate:g} · "
            f"test {row.test_accuracy:.1%}" for row in frame.rename(columns=lambda name: name.replace(" ", "_")).itertuples()]


def _class_scatter_figure(frame: pd.DataFrame, colour_by: str) -> go.Figure:
    figure = go.Figure()
    hover = pd.Series(_class_hover(frame), index=frame.index)
    marker = dict(size=12, line=dict(width=1, color="white"))
    if colour_by in _CATEGORIES:
        for index, category in enumerate(sorted(set(frame[colour_by]))):
            rows = frame[frame[colour_by] == category]
            figure.add_trace(go.Scatter(x=rows["learning rate"], y=rows["test accuracy"], mode="markers", name=plotly_text(category),
                                        text=hover[rows.index], hovertemplate="%{text}<extra></extra>",
                                        marker={**marker, "color": RUN_COLOURS[index % len(RUN_COLOURS)]}))
        figure.update_layout(legend=dict(title=dict(text=colour_by)))
    else:
        figure.add_trace(go.Scatter(x=frame["learning rate"], y=frame["test accuracy"], mode="markers", text=hover,
                                    hovertemplate="%{text}<extra></extra>", showlegend=False,
                                    marker={**marker, "color": frame[colour_by], "colorscale": "Viridis", "showscale": True,
                                            "colorbar": dict(title=dict(text=colour_by))}))
    figure.update_layout(title="Test accuracy against learning rate", xaxis_title="learning rate (log scale)",
                         yaxis_title="test accuracy", margin=dict(t=50, b=40))
    figure.update_xaxes(type="log", exponentformat="none")  # 0.0001, not Plotly's "100µ"
    rates = _spaced_ticks(sorted(rate for rate in set(frame["learning rate"].dropna()) if rate > 0))
    if len(rates) <= _MAX_TICKS:  # the rates the class chose, as they typed them, not the 2, 3, ..., 9 between decades
        figure.update_xaxes(tickvals=rates, ticktext=[f"{rate:g}" for rate in rates])
    figure.update_yaxes(tickformat=".0%", range=[0, 1.04])  # accuracy is 0 to 100%: one run alone drew an axis to 200%
    return figure


def _spaced_ticks(rates: list[float], across: int = 8) -> list[float]:
    """The rates to label on a log axis, at least 1/`across` of its width apart (0.4 and 0.5 overlapped at 1280 pixels):
    the smallest and the largest always, those between where they fit."""
    if len(rates) < 3:
        return rates
    low, high = math.log10(rates[0]), math.log10(rates[-1])
    gap = (high - low) / across
    kept = [rates[0]]
    for rate in rates[1:-1]:
        if math.log10(rate) - math.log10(kept[-1]) >= gap and high - math.log10(rate) >= gap:
            kept.append(rate)
    return [*kept, rates[-1]]


def _category_axis(frame: pd.DataFrame, column: str) -> dict:
    names = sorted(set(frame[column]))
    # Unescaped, unlike every other label: parcoords writes tick labels as plain text (d3's axis), so markup shows as its
    # characters and an escaped name would show "&lt;" (checked in Chromium with plotly 7.1). Its axis titles do render HTML.
    return dict(label=column, values=frame[f"{column} code"], tickvals=list(range(len(names))),
                ticktext=[str(name) for name in names], range=[-0.5, len(names) - 0.5])


def _number_axis(frame: pd.DataFrame, column: str) -> dict:
    axis = dict(label=column, values=frame[column])
    values = sorted(set(frame[column].dropna()))
    if len(values) <= _MAX_TICKS:  # the values the runs used, not 1.8, 1.85, ... around an axis where all have 2
        axis |= dict(tickvals=values, ticktext=[f"{value:g}" for value in values])
    if len(values) == 1:
        axis["range"] = [values[0] - 1, values[0] + 1]
    return axis


def _class_parallel_figure(frame: pd.DataFrame) -> go.Figure:
    rates = sorted(set(frame["log10 learning rate"].dropna()))
    rate_axis = dict(label="learning rate", values=frame["log10 learning rate"])
    if len(rates) <= _MAX_TICKS:
        rate_axis |= dict(tickvals=rates, ticktext=[f"{10 ** rate:.2g}" for rate in rates])
    else:  # the axis keeps its log10 numbers, which the label then says
        rate_axis["label"] = "learning rate (log10)"
    dimensions = [_category_axis(frame, "architecture"), _category_axis(frame, "optimizer"), rate_axis]
    dimensions += [_number_axis(frame, column) for column in ("batch size", "epochs", "train images") if frame[column].notna().any()]
    dimensions.append(dict(label="test accuracy", values=frame["test accuracy"], tickformat=".0%"))
    figure = go.Figure(go.Parcoords(dimensions=dimensions,
                                    line=dict(color=frame["test accuracy"], colorscale="Viridis", showscale=True,
                                              colorbar=dict(title=dict(text="test accuracy"), tickformat=".0%"))))
    figure.update_layout(title="Every run's settings and test accuracy (one line per run; drag along an axis to pick runs)",
                         margin=dict(t=110, b=40, l=60, r=60))
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
