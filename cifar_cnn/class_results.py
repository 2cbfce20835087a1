"""What a class's runs say together: a leaderboard, and their settings as numbers for a chart.

    leaderboard(runs)      # one row per run, best test accuracy first
    settings_frame(runs)   # the runs with a test accuracy, their settings as numbers (for `plots.class_settings_figure`)

Owners' and runs' names are user text: escape them where they are shown (`cifar_cnn.ui.text.plain` on a page,
`cifar_cnn.plots.plotly_text` in a chart); `st.dataframe` shows a frame's cells as they are.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import pandas as pd

from cifar_cnn import runs as run_files
from cifar_cnn.runs import Run

NO_OWNER = "—"  # a run trained with no name typed in (the CLI, or a laptop with no teacher key)

LEADERBOARD_COLUMNS = ["place", "owner", "training", "test accuracy", "run", "name", "architecture", "learning rate", "batch size", "optimizer", "epochs",
                       "images", "train accuracy", "seconds", "state"]

# What a projector's 1280 pixels show of the leaderboard without scrolling sideways; the rest is one click away.
LEADERBOARD_AT_A_GLANCE = ["place", "owner", "training", "test accuracy"]

# The settings the chart puts on its axes, in the order it draws them; test accuracy comes last, where the eye ends.
SETTING_COLUMNS = ["architecture code", "optimizer code", "log10 learning rate", "batch size", "epochs", "train images"]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _config(run: Run) -> dict[str, Any]:
    return run.config if isinstance(run.config, dict) else {}


def accuracy_of(run: Run) -> float | None:
    """The run's measured test accuracy, or None (still running, failed before the end, damaged)."""
    value = run.metrics.get("test_accuracy") if isinstance(run.metrics, dict) else None
    return float(value) if _number(value) else None


def owner(run: Run) -> str:
    name = _config(run).get("owner")
    return name if isinstance(name, str) and name.strip() else NO_OWNER


def _images(config: dict[str, Any]) -> int | None:
    images = config.get("train_images", config.get("subset"))
    return int(images) if _number(images) else None


def _ranking_key(run: Run) -> tuple:
    # Runs with an accuracy are ranked by it (a stopped run keeps the accuracy it reached); the others follow, the
    # damaged ones last, since a teacher reads the table for results and then for what went wrong.
    accuracy = accuracy_of(run)
    group = 0 if accuracy is not None else (2 if run.state == run_files.DAMAGED else 1)
    return group, -(accuracy or 0.0)


def leaderboard(runs: Iterable[Run]) -> pd.DataFrame:
    """One row per run, best test accuracy first, then the runs without one (running, failed), damaged runs last.

    Columns: place (1, 2, ... for ranked runs, None for the rest), owner (NO_OWNER for none), training (the run in a
    few words), test accuracy (a share of 1), run (its id), name,
    the main settings, epochs (done against the plan), images (trained on), train accuracy,
    seconds (training time) and state. Missing values are None: a damaged run's config may hold nothing."""
    ordered = sorted(runs, key=_ranking_key)  # stable: equal runs keep the listing's order (newest first)
    rows = []
    for place, run in enumerate(ordered, start=1):
        config = _config(run)
        metrics = run.metrics if isinstance(run.metrics, dict) else {}
        accuracy = accuracy_of(run)
        train_accuracy = metrics.get("train_accuracy")
        rows.append({
            "place": place if accuracy is not None else None,
            "owner": owner(run),
            "training": _training_label(run, config),
            "run": run.run_id,
            "name": config.get("name") if isinstance(config.get("name"), str) else "",
            "architecture": config.get("arch") if isinstance(config.get("arch"), str) else None,
            "learning rate": config.get("learning_rate") if _number(config.get("learning_rate")) else None,
            "batch size": config.get("batch_size") if _number(config.get("batch_size")) else None,
            "optimizer": config.get("optimizer") if isinstance(config.get("optimizer"), str) else None,
            "epochs": run.progress,
            "images": _images(config),
            "train accuracy": float(train_accuracy) if _number(train_accuracy) else None,
            "test accuracy": accuracy,
            "seconds": run.duration_s,
            "state": run.state,
        })
    frame = pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS)
    # Whole numbers that may be missing: pandas' nullable integers, or a missing one turns the column into 64.0, 512.0.
    for column in ("place", "batch size", "images"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _training_label(run: Run, config: dict) -> str:
    """A run in a few words: its name where it has one, else its network, learning rate and length."""
    name = config.get("name")
    if isinstance(name, str) and name.strip():
        return " ".join(name.split())
    parts = [config.get("arch") if isinstance(config.get("arch"), str) else "unknown network"]
    if _number(config.get("learning_rate")):
        parts.append(f"lr {config['learning_rate']:g}")
    minutes, epochs = config.get("minutes"), run.epochs_done
    parts.append(f"{minutes:g} min" if _number(minutes) and minutes > 0 else f"{epochs} epoch{'' if epochs == 1 else 's'}")
    return " · ".join(parts)


def _codes(values: list[str]) -> tuple[list[int], list[str]]:
    names = sorted(set(values))
    return [names.index(value) for value in values], names


def settings_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """The runs that have a test accuracy, one row each, best first: their settings as numbers for a chart.

    Numeric columns: "log10 learning rate", "learning rate", "batch size", "epochs" (done), "train images", "test
    accuracy", and "architecture code" and "optimizer code", which number the names in "architecture" and "optimizer"
    in alphabetical order (the axis labels). Text for labels: "owner", "run", "name", "label" (the name, else the id).
    A run whose config lacks a setting gets NaN there, so one old run does not hide the others."""
    rows = []
    for run in sorted(runs, key=_ranking_key):
        accuracy = accuracy_of(run)
        if accuracy is None:
            continue
        config = _config(run)
        rate = config.get("learning_rate")
        name = config.get("name") if isinstance(config.get("name"), str) else ""
        rows.append({
            "owner": owner(run),
            "training": _training_label(run, config),
            "run": run.run_id,
            "name": name,
            "label": name.strip() or run.run_id,
            "architecture": config.get("arch") if isinstance(config.get("arch"), str) else "unknown",
            "optimizer": config.get("optimizer") if isinstance(config.get("optimizer"), str) else "unknown",
            "learning rate": float(rate) if _number(rate) and rate > 0 else math.nan,
            "batch size": float(config["batch_size"]) if _number(config.get("batch_size")) else math.nan,
            "epochs": float(run.epochs_done),
            "train images": float(_images(config)) if _images(config) is not None else math.nan,
            "test accuracy": accuracy,
        })
    columns = ["owner", "run", "name", "label", "architecture", "optimizer", "learning rate", "batch size", "epochs",
               "train images", "test accuracy"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["log10 learning rate"] = [math.log10(rate) if rate > 0 else math.nan for rate in frame["learning rate"]]
    frame["architecture code"], frame["optimizer code"] = _codes(list(frame["architecture"]))[0], _codes(list(frame["optimizer"]))[0]
    for column in ("learning rate", "batch size", "epochs", "train images", "test accuracy", "log10 learning rate"):
        frame[column] = frame[column].astype(float)
    for column in ("architecture code", "optimizer code"):
        frame[column] = frame[column].astype(int)
    return frame


def category_names(frame: pd.DataFrame, column: str) -> list[str]:
    """The names that `<column> code` numbers: code i is names[i]."""
    return sorted(set(frame[column]))
