"""The live charts are built once per update, whoever watches."""

from cifar_cnn.training.live import LiveHistory
from cifar_cnn.ui.live_figures import SharedLiveFigures


def live_history_with_batches(count: int) -> LiveHistory:
    live = LiveHistory()
    live.start(total_epochs=2, steps_per_epoch=10, batch_size=4)
    live.begin_epoch(1)
    for batch in range(1, count + 1):
        live.add_batch({"step": batch, "epoch": 1, "batch": batch, "loss": 2.0 / batch, "accuracy": 0.1 * batch}, images_per_s=100.0)
    return live


def test_thirty_viewers_of_one_update_share_one_build():
    shared, live = SharedLiveFigures(), live_history_with_batches(3)
    seen = [shared.for_snapshot("job", live.snapshot()) for _ in range(30)]
    assert shared.builds == 1
    assert all(figures is seen[0] for figures in seen)
    assert list(seen[0]["loss"].data[0].y) == [2.0, 1.0, 0.6667]  # the rows they were built from, to 4 decimals


def test_a_new_batch_rebuilds_the_figures_once():
    shared, live = SharedLiveFigures(), live_history_with_batches(3)
    before = shared.for_snapshot("job", live.snapshot())
    live.add_batch({"step": 4, "epoch": 1, "batch": 4, "loss": 0.5, "accuracy": 0.4}, images_per_s=100.0)
    after = [shared.for_snapshot("job", live.snapshot()) for _ in range(5)]
    assert shared.builds == 2 and after[0] is not before
    assert list(after[0]["loss"].data[0].y)[-1] == 0.5


def test_another_job_never_gets_the_previous_jobs_figures():
    shared = SharedLiveFigures()
    first, second = live_history_with_batches(3), live_history_with_batches(3)  # the same row counts
    assert shared.for_snapshot("first", first.snapshot()) is not shared.for_snapshot("second", second.snapshot())
