"""The one-cycle learning rate: a linear warm-up from a tenth of the peak, then a cosine down to zero.

The same curve as `keras.optimizers.schedules.CosineDecay(initial, decay_steps, warmup_target=peak,
warmup_steps=...)`, written with elementwise operations only. Keras' version picks its branch with
`ops.cond`, which JAX compiles afresh on every call outside a compiled step: a time budget, which sets
the rate from Python before every batch, then spent a quarter of a second per batch on an H100. This
one evaluates a whole vector of steps in one call, so a budget can tabulate it once (`tabulate`).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="cifar_cnn")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        super().__init__()
        if not 0 < warmup_steps < total_steps:
            raise ValueError(f"The warm-up ({warmup_steps} steps) must be shorter than the schedule ({total_steps}) and positive.")
        self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps

    def __call__(self, step):
        step = ops.minimum(ops.cast(step, "float32"), float(self.total_steps))
        start = self.peak / 10
        warming = start + (self.peak - start) * step / self.warmup_steps
        decayed_share = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        cooling = self.peak * 0.5 * (1.0 + ops.cos(math.pi * decayed_share))
        return ops.where(step < self.warmup_steps, warming, cooling)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}


def tabulate(schedule: keras.optimizers.schedules.LearningRateSchedule, steps: int) -> np.ndarray:
    """The schedule's rate at steps 0..`steps`, computed in one call."""
    return ops.convert_to_numpy(schedule(np.arange(steps + 1, dtype=np.float32))).astype(np.float64)
