"""The live-metrics callback: one row per batch on a CPU, fewer rows holding the mean of their batches on a GPU."""

import keras
import pytest

from cifar_cnn.training.live import LiveHistory, LiveMetrics


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def run_epoch(callback: LiveMetrics, clock: FakeClock, batch_losses: list[float], seconds_per_batch: float) -> None:
    """Feed the callback Keras-style logs: the running mean over the epoch's images, all batches of 10 images."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    for batch, _ in enumerate(batch_losses):
        clock.now += seconds_per_batch
        running = sum(batch_losses[: batch + 1]) / (batch + 1)
        callback.on_train_batch_end(batch, {"loss": running, "accuracy": 0.5})


def test_every_batch_is_a_row_when_reading_is_not_limited():
    live, clock = LiveHistory(), FakeClock()
    losses = [4.0, 3.0, 2.0, 1.0]
    run_epoch(LiveMetrics(live, 1, 40, 10, clock=clock), clock, losses, seconds_per_batch=0.01)
    rows = live.snapshot().batches
    assert [row["batch"] for row in rows] == [1, 2, 3, 4]
    assert [row["loss"] for row in rows] == pytest.approx(losses)


def test_a_read_interval_makes_each_row_the_mean_of_the_batches_since_the_last():
    live, clock = LiveHistory(), FakeClock()
    losses = [8.0, 6.0, 4.0, 2.0, 1.0, 1.0, 3.0, 5.0]
    # 0.1 s per batch and a read at most every 0.25 s: batches 3, 6 and the epoch's last (8) are read
    run_epoch(LiveMetrics(live, 1, 80, 10, read_interval_s=0.25, clock=clock), clock, losses, seconds_per_batch=0.1)
    rows = live.snapshot().batches
    assert [row["batch"] for row in rows] == [3, 6, 8]
    assert [row["loss"] for row in rows] == pytest.approx([6.0, 4 / 3, 4.0])
    assert rows[-1]["step"] == 8


def test_a_stop_request_is_honoured_between_reads():
    live, clock = LiveHistory(), FakeClock()
    callback = LiveMetrics(live, 1, 80, 10, read_interval_s=10.0, clock=clock)
    run_epoch(callback, clock, [1.0], seconds_per_batch=0.1)
    assert not getattr(callback.model, "stop_training", False)
    live.request_stop()
    callback.on_train_batch_end(1, {"loss": 1.0, "accuracy": 0.5})
    assert callback.model.stop_training and live.snapshot().batches == ()
