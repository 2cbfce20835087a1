"""Runs described for people: a label that says what was trained and how well, and the settings in which runs differ.

    describe(run)               # "seed_cnn · 2,000 images · 3 epochs · test 26.2%"
    describe_all(runs)          # one label per run, made unique where two runs read the same
    differing_settings(runs)    # a table of only the settings whose values differ between the runs

The labels hold user-controlled text (a run's name): escape them where they are shown
(`cifar_cnn.ui.text.plain` on a page, `cifar_cnn.plots.plotly_text` in a chart).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable

import pandas as pd

from cifar_cnn.runs import Run

SEPARATOR = " · "
# Settings that say which run it is rather than how it was trained, or that the label already says better.
NOT_SETTINGS = ("name", "owner", "class_names")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def test_measurement(metrics: dict | None, config: dict | None) -> str:
    """How a run's test accuracy was measured, e.g. "flip test-time augmentation", "plainly, test-time augmentation
    to follow"; "" for a plain measurement nobody asked more of. Runs older than metrics.json's "test_tta" used
    the TTA their config names."""
    metrics = metrics if isinstance(metrics, dict) else {}
    config = config if isinstance(config, dict) else {}
    from cifar_cnn.inference import describe_tta

    used = metrics.get("test_tta")
    if not isinstance(used, str):
        used = describe_tta(bool(config.get("flip_tta")), bool(config.get("shift_tta")))
    pending = metrics.get("pending") if isinstance(metrics.get("pending"), list) else []
    if any("augmentation" in item for item in pending):
        return f"{used}, more to follow" if used else "plainly; test-time augmentation follows when the queue is free"
    return used


def accuracy_line(metrics: dict | None, config: dict | None) -> str:
    """"Train accuracy 71.2% (5,000 training images), test accuracy 70.4% (flip test-time augmentation)", saying what
    was not measured."""
    metrics = metrics if isinstance(metrics, dict) else {}
    train, test = metrics.get("train_accuracy"), metrics.get("test_accuracy")
    images = metrics.get("train_accuracy_images")
    train_part = (f"Train accuracy {train:.1%}" + (f" ({int(images):,} training images)" if _number(images) else "")
                  if _number(train) else "Train accuracy not measured")
    how = test_measurement(metrics, config)
    test_part = f"test accuracy {test:.1%}" + (f" ({how})" if how else "") if _number(test) else "test accuracy not measured"
    return f"{train_part}, {test_part}"


def describe(run: Run) -> str:
    """What was trained, on how many images, for how long, and how well, e.g.
    "seed_cnn · 2,000 images · 3 epochs · test 26.2%", with the run's name first where it has one."""
    config = run.config if isinstance(run.config, dict) else {}
    parts = []
    name = config.get("name")
    if isinstance(name, str) and name.strip():
        parts.append(" ".join(name.split()))
    parts.append(str(config.get("arch") or "unknown network"))
    images = config.get("train_images", config.get("subset"))
    if _number(images):
        parts.append(f"{int(images):,} image{'' if images == 1 else 's'}")
    epochs = run.epochs_done
    minutes = config.get("minutes")
    parts.append(f"{epochs} epoch{'' if epochs == 1 else 's'}" + (f" in {minutes:g} min" if _number(minutes) and minutes > 0 else ""))
    accuracy = (run.metrics or {}).get("test_accuracy") if isinstance(run.metrics, dict) else None
    if run.state != "completed":
        parts.append(str(run.state))
    if _number(accuracy):
        parts.append(f"test {accuracy:.1%}")
    return SEPARATOR.join(parts)


def describe_all(runs: Iterable[Run]) -> list[str]:
    """`describe` of each run; where several runs read the same, each gets its start time (or, failing that, its id)."""
    runs = list(runs)
    labels = [describe(run) for run in runs]
    for label in set(labels):
        same = [index for index, other in enumerate(labels) if other == label]
        if len(same) < 2:
            continue
        started = [_started(runs[index]) for index in same]
        unique_times = len(set(started)) == len(started) and None not in started
        for index, time in zip(same, started):
            labels[index] = f"{label}{SEPARATOR}{time if unique_times else runs[index].run_id}"
    return labels


def _started(run: Run) -> str | None:
    stamp = run.status.get("started_at") if isinstance(run.status, dict) else None
    if not _number(stamp):
        return None
    return f"started {datetime.fromtimestamp(stamp):%Y-%m-%d %H:%M:%S}"


def _shown(value: Any) -> str:
    """A setting's value as a table cell: text as it is, numbers as Python writes them, the rest as JSON."""
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _number(value):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return json.dumps(value, sort_keys=True)


def differing_settings(runs: Iterable[Run]) -> pd.DataFrame:
    """One row per run (its label in the column "run"), one column per setting whose value is not the same in
    every run, named in words ("learning rate"); values as text, "not recorded" where a run's config lacks the
    setting. No setting columns when all the runs were trained alike."""
    runs = list(runs)
    configs = [run.config if isinstance(run.config, dict) else {} for run in runs]
    keys: list[str] = []
    for config in configs:
        keys += [key for key in config if key not in keys and key not in NOT_SETTINGS]
    missing = object()
    table = {"run": describe_all(runs)}
    for key in keys:
        values = [config.get(key, missing) for config in configs]
        if len({json.dumps(value, sort_keys=True, default=repr) if value is not missing else "\0" for value in values}) > 1:
            table[key.replace("_", " ")] = ["not recorded" if value is missing else _shown(value) for value in values]
    return pd.DataFrame(table)
