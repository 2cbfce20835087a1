"""When will a waiting training start? A replay of the first-in, first-out line on the places that free up.

Each running job frees its place when its time left is up; each waiting job, in line order, takes the first place
free and holds it for as long as it is expected to train, plus the overhead the queue has measured. A job's speed is
the one seen for its architecture and batch size; until one like it has run, a first guess from its arithmetic
(`guessed_images_per_s`). A duration that cannot be guessed at all makes that job's start, and every later one's,
unknown.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence


def estimated_starts(running_seconds_left: Sequence[float | None], waiting_durations: Sequence[float | None],
                     concurrency: int) -> list[float | None]:
    """Seconds from now until each waiting job starts (None where it cannot be told), in line order.

    `running_seconds_left`: the time left of each running job (None: unknown). `waiting_durations`: how long each
    waiting job is expected to take, in line order. `concurrency`: how many jobs run at once; running jobs beyond it
    (after the teacher lowered it) must end before anyone starts."""
    places = [_known(seconds) for seconds in running_seconds_left]  # when each busy place frees up
    heapq.heapify(places)
    now = 0.0
    starts: list[float | None] = []
    for duration in waiting_durations:
        while len(places) >= max(1, concurrency):
            now = max(now, heapq.heappop(places))  # first in, first out: never before the job ahead of it
        starts.append(now if math.isfinite(now) else None)
        heapq.heappush(places, now + _known(duration))
    return starts


def _known(seconds: float | None) -> float:
    return math.inf if seconds is None or not math.isfinite(seconds) else max(0.0, float(seconds))


# A first guess of a training's speed, before the queue has seen one like it: its arithmetic (a forward and a backward
# pass cost about three forward passes) plus a fixed cost per image (reading, augmenting, the step's own cost),
# at this many operations per second per CPU of the job. Fitted to two trainings on 2 cores without AVX-512
# (bench/RESULTS.md, "A class round"): fast_cnn (40 MFLOPs forward, batch 256) at 480 images/s, tiny_cnn (1 MFLOP,
# batch 64) at about 5,000. The first job of any kind then corrects the rate for the machine at hand.
GUESS_FLOPS_PER_CPU_S = 3.1e10
IMAGE_COST_FLOPS = 9e6


def guessed_images_per_s(forward_flops: float, cpus: float, flops_per_cpu_s: float = GUESS_FLOPS_PER_CPU_S) -> float:
    """Training images per second a job of this arithmetic should reach on `cpus` CPUs."""
    return max(1.0, cpus) * flops_per_cpu_s / (3 * forward_flops + IMAGE_COST_FLOPS)


def expected_seconds(epochs: int, minutes: float | None, images_per_epoch: int, images_per_s: float | None,
                     overhead_s: float) -> float | None:
    """How long a training is expected to take: its time budget, or its epochs at the speed seen for its kind of
    training (None when no speed is known), whichever ends first, plus the start-up and final evaluation overhead."""
    by_epochs = epochs * images_per_epoch / images_per_s if images_per_s else None
    budget = minutes * 60 if minutes else None
    known = [seconds for seconds in (by_epochs, budget) if seconds is not None]
    return min(known) + overhead_s if known else None
