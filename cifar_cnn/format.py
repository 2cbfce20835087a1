"""Short human-readable strings for numbers the pages show."""

from __future__ import annotations

import math
import time
from datetime import datetime

from cifar_cnn.training.live import FINISHING, VALIDATING


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def about(seconds: float) -> str:
    """A rounded duration for an estimate: "under a minute", "about 3 min", "about 1 h 10 min"."""
    minutes = round(max(0.0, seconds) / 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min" if hours else f"about {minutes} min"


def estimated_start(seconds: float | None, now: float | None = None) -> str:
    """When a waiting training should start, as a clock time and a duration: "at 10:42, in about 3 min"."""
    if seconds is None or not math.isfinite(seconds):
        return "not known yet"
    if seconds < 15:
        return "any moment now"
    at = datetime.fromtimestamp((time.time() if now is None else now) + seconds)
    return f"at {at:%H:%M}, in {about(seconds)}"


def percent(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1%}"


def progress_line(snapshot, config) -> str:
    """A running training's progress line: its epoch and batch, or the work between epochs and after the last, when no
    batch comes for seconds and the curves pause (`snapshot`: a `LiveSnapshot`; `config`: its `TrainConfig`)."""
    epoch = max(snapshot.epoch, 1)
    of_epochs = "" if config.minutes else f"/{snapshot.total_epochs or config.epochs}"
    if snapshot.phase == FINISHING:
        return f"Epoch {epoch}{of_epochs} done · measuring train and test accuracy and saving the model..."
    if snapshot.phase == VALIDATING:
        # No time left here: it would grow while no batch comes, and the line should change only when the work does.
        return f"Epoch {epoch}{of_epochs} · all {snapshot.steps_per_epoch} batches done · validating and recording the epoch..."
    return (f"Epoch {epoch}{of_epochs} · batch {snapshot.batch}/{snapshot.steps_per_epoch or '?'}"
            f" · {snapshot.images_per_s:,.0f} images/s · {duration(snapshot.seconds_left)} left")


def one_epoch_in_words(epoch: dict) -> str:
    """What a one-epoch run's history says, in words: a curve needs two epochs."""
    def measured(name: str, as_percent: bool) -> str | None:
        value = epoch.get(name)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        return f"{value:.1%}" if as_percent else f"{value:.3f}"

    training = [part for part in (f"loss {measured('loss', False)}" if measured("loss", False) else None,
                                  f"accuracy {measured('accuracy', True)}" if measured("accuracy", True) else None) if part]
    validation = [part for part in (f"loss {measured('val_loss', False)}" if measured("val_loss", False) else None,
                                    f"accuracy {measured('val_accuracy', True)}" if measured("val_accuracy", True) else None) if part]
    said = "No curves: this run trained for one epoch, and a curve needs two."
    if training:
        said += f" Its training batches averaged {' and '.join(training)} (dropout and augmentation on)"
        said += f"; the validation after it: {' and '.join(validation)}." if validation else "."
    return said + " The Train page showed it batch by batch while it ran."
