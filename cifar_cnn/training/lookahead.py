"""Lookahead (Zhang et al. 2019) as airbench94 uses it: slow weights that trail the trained ones.

Every `period` steps the slow weights move a share of the way towards the
trained ("fast") weights, and training restarts from the slow weights. The
share kept (`decay`) grows with the cube of the progress through training, so
early training runs as if there were no lookahead and the end of training
averages over ever more steps; when training ends the model keeps the slow
weights.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

# airbench94's settings: every 5 steps, keeping at most 0.95 per step of the slow weights.
PERIOD = 5
MAX_DECAY = 0.95**PERIOD


class Lookahead(keras.callbacks.Callback):
    """Keeps slow copies of the trainable weights.

    `progress()` gives the share of training done, from 0 to 1 (a time budget's share used); without it,
    the share is the steps made out of `total_steps`.
    """

    def __init__(self, progress: Callable[[], float] | None = None, *, total_steps: int | None = None,
                 period: int = PERIOD, max_decay: float = MAX_DECAY):
        super().__init__()
        if progress is None and not total_steps:
            raise ValueError("Lookahead needs a progress function or a number of steps.")
        self.progress = progress or (lambda: self.steps / total_steps)
        self.period, self.max_decay = period, max_decay
        self.steps = 0
        self.slow = []

    def decay(self) -> float:
        return self.max_decay * min(1.0, max(0.0, self.progress())) ** 3

    def on_train_begin(self, logs=None):
        self.slow = [keras.ops.copy(variable.value) for variable in self.model.trainable_variables]

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps % self.period == 0:
            self._pull(self.decay())

    def on_train_end(self, logs=None):
        self._pull(1.0)

    def _pull(self, decay: float) -> None:
        """Move the slow weights (1 - decay) of the way to the trained ones, then set the trained ones to them."""
        moved = []
        for slow, variable in zip(self.slow, self.model.trainable_variables):
            slow = slow + (1.0 - decay) * (variable.value - slow)
            # The variable gets its own copy: on a GPU, JAX hands the variables' buffers to the next training
            # step to overwrite, which would delete the slow weights if they shared one.
            variable.assign(keras.ops.copy(slow))
            moved.append(slow)
        self.slow = moved
