"""The pages' short texts: durations, percentages, a running training's progress line."""

from cifar_cnn.training import TrainConfig
from cifar_cnn.training.live import FINISHING, TRAINING, VALIDATING, LiveSnapshot
from cifar_cnn import format


def snapshot(phase: str, batch: int = 7) -> LiveSnapshot:
    return LiveSnapshot(batches=(), epochs=(), epoch=3, batch=batch, total_epochs=10, steps_per_epoch=20, batch_size=32,
                        images_per_s=1234.0, elapsed_s=50.0, stop_requested=False, run_dir=None, phase=phase)


def test_durations_and_percentages():
    assert format.duration(75) == "1:15" and format.duration(3725) == "1:02:05" and format.duration(None) == "-"
    assert format.percent(0.4567) == "45.7%" and format.percent(float("nan")) == "-"


def test_the_progress_line_says_the_batch_while_training():
    line = format.progress_line(snapshot(TRAINING), TrainConfig(epochs=10))
    assert line == "Epoch 3/10 · batch 7/20 · 1,234 images/s · 2:43 left"  # 47 of 200 batches in 50 s: 163 s more


def test_the_progress_line_says_why_no_batch_comes_between_epochs_and_after_the_last():
    validating = format.progress_line(snapshot(VALIDATING, batch=20), TrainConfig(epochs=10))
    assert validating == "Epoch 3/10 · all 20 batches done · validating and recording the epoch..."
    finishing = format.progress_line(snapshot(FINISHING, batch=20), TrainConfig(epochs=10))
    assert finishing == "Epoch 3/10 done · measuring train and test accuracy and saving the model..."


def test_a_time_budget_has_no_number_of_epochs_in_the_line():
    assert format.progress_line(snapshot(TRAINING), TrainConfig(minutes=5.0)).startswith("Epoch 3 · batch 7/20 ·")


def test_an_estimated_start_is_a_clock_time_and_a_rounded_duration():
    from datetime import datetime

    now = datetime(2026, 12, 7, 10, 39, 10).timestamp()
    assert format.estimated_start(170, now) == "at 10:42, in about 3 min"
    assert format.estimated_start(4000, now) == "at 11:45, in about 1 h 7 min"
    assert format.estimated_start(25, now) == "at 10:39, in under a minute"
    assert format.estimated_start(5, now) == "any moment now"
    assert format.estimated_start(None, now) == "not known yet"


def test_a_one_epoch_history_is_told_in_words():
    from cifar_cnn.format import one_epoch_in_words

    said = one_epoch_in_words({"epoch": 1, "loss": 1.23456, "accuracy": 0.4567, "val_loss": 1.1, "val_accuracy": 0.5})
    assert said.startswith("No curves: this run trained for one epoch, and a curve needs two.")
    assert "loss 1.235 and accuracy 45.7%" in said and "validation after it: loss 1.100 and accuracy 50.0%" in said
    assert "nan" not in one_epoch_in_words({"epoch": 1, "loss": float("nan"), "accuracy": 0.1})
