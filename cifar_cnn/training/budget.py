"""Training for a wall-clock budget instead of a number of epochs.

`TimeBudget` is a Keras callback that stops training once `minutes` of
training have passed (or the epoch cap comes first), and drives the learning rate by the share of the budget
used, so a one-cycle schedule ends exactly when the time does: no guess of
how many epochs fit, no budget left unused. Validation passes (and the
BatchNorm re-estimation before them) do not count as training time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import keras

from cifar_cnn.training.schedules import tabulate

# The one-cycle schedule is a Keras schedule over steps; a time budget evaluates it at this many steps per budget.
SCHEDULE_RESOLUTION = 10_000


class TimeBudget(keras.callbacks.Callback):
    """Stops training after `minutes` of it; sets the learning rate to `schedule(share of the budget used)` before each batch.

    `schedule` maps a share in [0, 1] to a learning rate; None leaves the optimizer's rate alone.
    """

    def __init__(self, minutes: float, schedule: Callable[[float], float] | None = None, *, total_steps: int | None = None,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.seconds = minutes * 60
        self.schedule = schedule
        self.total_steps = total_steps  # the epoch cap in steps: the schedule follows whichever runs out first
        self.clock = clock
        self.steps = 0  # batches trained
        self._started: float | None = None  # first batch
        self._paused_at: float | None = None
        self._paused_seconds = 0.0

    def training_seconds(self) -> float:
        """Seconds of training so far: since the first batch, less the time spent validating."""
        if self._started is None:
            return 0.0
        now = self._paused_at if self._paused_at is not None else self.clock()
        return now - self._started - self._paused_seconds

    def fraction_used(self) -> float:
        """The share of the budget used: of the time, or of `total_steps` where that is further along."""
        steps = self.steps / self.total_steps if self.total_steps else 0.0
        return min(1.0, max(self.training_seconds() / self.seconds, steps))

    def on_train_batch_begin(self, batch, logs=None):
        if self._started is None:
            self._started = self.clock()
        if self.schedule is not None:
            self.model.optimizer.learning_rate.assign(self.schedule(self.fraction_used()))

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.training_seconds() >= self.seconds:
            self.model.stop_training = True

    def on_test_begin(self, logs=None):
        if self._started is not None and self._paused_at is None:
            wait_for_training_steps(self.model)
            self._paused_at = self.clock()

    def on_test_end(self, logs=None):
        if self._paused_at is not None:
            self._paused_seconds += self.clock() - self._paused_at
            self._paused_at = None


def wait_for_training_steps(model: keras.Model) -> None:
    """Return once the device has finished every training step launched so far.

    On a GPU (JAX or TensorFlow) a batch's step is queued and runs while Python launches the next one, so
    the host's clock runs ahead of the training: a clock that stops at validation without waiting
    would count the last steps of the epoch as validation time. Reading back a weight waits for them."""
    if model.trainable_variables:
        keras.ops.convert_to_numpy(model.trainable_variables[0])


def schedule_over_budget(step_schedule: keras.optimizers.schedules.LearningRateSchedule) -> Callable[[float], float]:
    """A schedule built over `SCHEDULE_RESOLUTION` steps, as a function of the share of the budget used.

    Tabulated once: evaluating a Keras schedule before every batch costs a device round trip each time."""
    table = tabulate(step_schedule, SCHEDULE_RESOLUTION)
    return lambda fraction: float(table[round(min(1.0, max(0.0, fraction)) * SCHEDULE_RESOLUTION)])
