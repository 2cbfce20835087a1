import keras
import numpy as np
import pytest

from cifar_cnn.training.budget import TimeBudget
from cifar_cnn.training.live import LiveHistory
from cifar_cnn.training import TrainConfig, train
from synthetic_arrays import make_dataset


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def attached(budget: TimeBudget) -> TimeBudget:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    budget.set_model(model)
    return budget


def test_the_budget_stops_training_when_its_time_is_up_and_sets_the_rate_by_the_share_used():
    clock = FakeClock()
    budget = attached(TimeBudget(1.0, schedule=lambda share: 1 - share, clock=clock))
    budget.on_train_batch_begin(0)
    assert float(budget.model.optimizer.learning_rate.numpy()) == pytest.approx(1.0)
    clock.now += 30
    budget.on_train_batch_end(0)
    assert not budget.model.stop_training
    budget.on_train_batch_begin(1)
    assert float(budget.model.optimizer.learning_rate.numpy()) == pytest.approx(0.5)
    clock.now += 30
    budget.on_train_batch_end(1)
    assert budget.model.stop_training


def test_validation_time_does_not_count_as_training():
    clock = FakeClock()
    budget = attached(TimeBudget(1.0, clock=clock))
    budget.on_train_batch_begin(0)
    clock.now += 20
    budget.on_test_begin()
    clock.now += 500
    assert budget.training_seconds() == pytest.approx(20)
    budget.on_test_end()
    clock.now += 10
    assert budget.training_seconds() == pytest.approx(30)
    assert budget.fraction_used() == pytest.approx(0.5)


def test_an_epoch_cap_that_comes_first_drives_the_schedule():
    clock = FakeClock()
    budget = attached(TimeBudget(60.0, schedule=lambda share: share, total_steps=4, clock=clock))
    for step in range(3):
        budget.on_train_batch_begin(step)
        budget.on_train_batch_end(step)
    budget.on_train_batch_begin(3)
    assert float(budget.model.optimizer.learning_rate.numpy()) == pytest.approx(0.75)


@pytest.fixture(scope="module")
def dataset():
    return make_dataset(n_train=200, n_test=40)


class RateRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rates: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate.numpy()))


def test_training_for_minutes_stops_on_time_with_the_schedule_run_down(dataset, tmp_path):
    recorder, live = RateRecorder(), LiveHistory()
    config = TrainConfig(arch="tiny_cnn", epochs=1000, minutes=0.1, batch_size=20, optimizer="sgd", learning_rate=0.1, schedule="one_cycle")
    result = train(config, dataset, runs_dir=tmp_path, live=live, callbacks=[recorder])
    assert result.state == "completed", result.message
    epochs_done = len(live.epoch_rows)
    assert 1 <= epochs_done < 1000
    assert max(recorder.rates) == pytest.approx(0.1, rel=0.05)
    assert recorder.rates[-1] < 0.01  # the one-cycle schedule ended with the time
    assert live.snapshot().fraction_done == 1.0


def test_an_epoch_cap_ends_a_long_budget_with_the_schedule_finished(dataset, tmp_path):
    recorder = RateRecorder()
    config = TrainConfig(arch="tiny_cnn", epochs=2, minutes=60, batch_size=20, optimizer="sgd", learning_rate=0.1, schedule="one_cycle")
    result = train(config, dataset, runs_dir=tmp_path, callbacks=[recorder])
    assert result.state == "completed", result.message
    assert len(recorder.rates) == 2 * 10
    assert recorder.rates[-1] < 0.01
    assert np.argmax(recorder.rates) in range(2, 6)  # warm-up over the first 20% of the steps
