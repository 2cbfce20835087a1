import keras
import numpy as np
import pytest

from cifar_cnn.training.budget import SCHEDULE_RESOLUTION, schedule_over_budget
from cifar_cnn.training.schedules import OneCycle, tabulate


def test_one_cycle_is_keras_cosine_decay_with_warmup():
    reference = keras.optimizers.schedules.CosineDecay(0.04, decay_steps=80, warmup_target=0.4, warmup_steps=20)
    ours = OneCycle(0.4, warmup_steps=20, total_steps=100)
    for step in (0, 1, 10, 19, 20, 21, 50, 99, 100, 150):
        assert float(ours(step)) == pytest.approx(float(reference(step)), rel=1e-5, abs=1e-7)


def test_a_table_holds_the_rate_at_every_step_from_one_call():
    table = tabulate(OneCycle(1.0, warmup_steps=2, total_steps=4), 4)
    np.testing.assert_allclose(table, [0.1, 0.55, 1.0, 0.5, 0.0], atol=1e-6)


def test_a_budget_reads_the_schedule_by_the_share_of_time_used():
    by_share = schedule_over_budget(OneCycle(1.0, warmup_steps=SCHEDULE_RESOLUTION // 5, total_steps=SCHEDULE_RESOLUTION))
    assert by_share(0.0) == pytest.approx(0.1)
    assert by_share(0.2) == pytest.approx(1.0)
    assert by_share(0.6) == pytest.approx(0.5, abs=1e-4)
    assert by_share(1.0) == pytest.approx(0.0, abs=1e-6) and by_share(1.5) == by_share(1.0)


def test_a_warmup_as_long_as_the_schedule_is_refused():
    with pytest.raises(ValueError, match="warm-up"):
        OneCycle(1.0, warmup_steps=10, total_steps=10)
