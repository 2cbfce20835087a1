"""The live-metrics callback: one row per batch on a CPU, fewer rows holding the mean of their batches on a GPU; the watch
set's guesses in the live state, in process and through the Ray relay."""

import pickle

import keras
import pytest

from cifar_cnn.classroom import relay
from cifar_cnn.training.live import FINISHING, TRAINING, VALIDATING, LiveHistory, LiveMetrics, WatchGuesses


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


GUESSES = WatchGuesses(epoch=1, indices=(0, 3, 1, 4), labels=(0, 0, 1, 1), predicted=(0, 1, 1, 1))


def test_the_watch_sets_guesses_are_in_the_snapshot_once_an_epoch_set_them():
    live = LiveHistory()
    assert live.snapshot().watch is None
    live.set_watch(GUESSES)
    later = WatchGuesses(epoch=2, indices=GUESSES.indices, labels=GUESSES.labels, predicted=(0, 0, 1, 1))
    live.set_watch(later)
    assert live.snapshot().watch == later


class FakeRelay:
    """The LiveRelay actor without Ray: `push.remote` keeps each update as Ray would carry it (pickled), or fails
    when told to; the test makes `ray.get` hand back what it is given."""

    def __init__(self):
        self.push, self.updates, self.fail_next = self, [], False

    def remote(self, job_id, update):
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("relay unreachable")
        self.updates.append(pickle.loads(pickle.dumps(update)))
        return False  # no stop asked for


@pytest.fixture
def fake_relay(monkeypatch):
    monkeypatch.setattr(relay.ray, "get", lambda reference, timeout=None: reference)
    return FakeRelay()


def mirror_of(updates: list[dict]) -> relay.LiveMirror:
    """The app's mirror after draining the relay, which merges a job's updates into one."""
    merged = updates[0]
    for update in updates[1:]:
        merged = relay.merge_updates(merged, update)
    mirror = relay.LiveMirror()
    mirror.apply(merged)
    return mirror


def test_the_watch_sets_guesses_reach_the_apps_mirror_through_the_relay(fake_relay):
    worker = relay.RelayedLiveHistory(fake_relay, "job-1", worker={"pid": 1, "host": "worker"})
    worker.start(total_epochs=2, steps_per_epoch=5, batch_size=10)  # sends at once
    assert mirror_of(fake_relay.updates).snapshot().watch is None
    worker.set_watch(GUESSES)
    worker.close()  # sends what is new
    assert mirror_of(fake_relay.updates).snapshot().watch == GUESSES


def test_a_failed_send_does_not_lose_the_watch_sets_guesses(fake_relay):
    worker = relay.RelayedLiveHistory(fake_relay, "job-1", worker={"pid": 1, "host": "worker"})
    worker.start(total_epochs=2, steps_per_epoch=5, batch_size=10)
    worker.set_watch(GUESSES)
    fake_relay.fail_next = True
    worker.close()  # this send fails...
    worker.add_batch({"step": 1, "epoch": 2, "batch": 1, "loss": 1.0, "accuracy": 0.5}, images_per_s=100.0)
    worker.close()  # ...the next one carries the guesses all the same
    assert len(fake_relay.updates) == 2 and mirror_of(fake_relay.updates).snapshot().watch == GUESSES


def test_the_phase_says_validating_after_an_epochs_last_batch_until_the_next_epoch():
    live, clock = LiveHistory(), FakeClock()
    callback = LiveMetrics(live, 2, 40, 10, clock=clock)
    run_epoch(callback, clock, [4.0, 3.0, 2.0], seconds_per_batch=0.01)  # 3 of the epoch's 4 batches
    assert live.snapshot().phase == TRAINING
    callback.on_train_batch_end(3, {"loss": 2.0, "accuracy": 0.5})
    assert live.snapshot().phase == VALIDATING  # fit validates now: no batch for a while
    callback.on_epoch_end(0, {"loss": 2.0, "accuracy": 0.5, "val_loss": 2.1, "val_accuracy": 0.4})
    assert live.snapshot().phase == VALIDATING
    callback.on_epoch_begin(1)
    assert live.snapshot().phase == TRAINING


def test_the_phase_reaches_the_apps_mirror_through_the_relay(fake_relay):
    worker = relay.RelayedLiveHistory(fake_relay, "job-1", worker={"pid": 1, "host": "worker"})
    worker.start(total_epochs=1, steps_per_epoch=5, batch_size=10)
    worker.begin_epoch(1)
    worker.set_phase(VALIDATING)
    worker.close()
    assert mirror_of(fake_relay.updates).snapshot().phase == VALIDATING
    worker.set_phase(FINISHING)
    worker.close()
    assert mirror_of(fake_relay.updates).snapshot().phase == FINISHING
