import keras
import numpy as np
import pytest

from cifar_cnn.training.lookahead import MAX_DECAY, Lookahead


def small_model() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    return model


def weights(model: keras.Model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(variable) for variable in model.trainable_variables]


def test_a_pull_moves_the_slow_weights_part_way_and_restarts_training_from_them():
    model = small_model()
    lookahead = Lookahead(progress=lambda: 1.0)
    lookahead.set_model(model)
    lookahead.slow = [np.zeros(variable.shape, "float32") for variable in model.trainable_variables]
    for variable in model.trainable_variables:
        variable.assign(np.ones(variable.shape, "float32"))
    lookahead._pull(0.75)
    for fast, slow in zip(weights(model), lookahead.slow):
        np.testing.assert_allclose(fast, 0.25)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(slow), 0.25)


def test_decay_grows_with_the_cube_of_progress():
    progress = {"share": 0.0}
    lookahead = Lookahead(progress=lambda: progress["share"])
    assert lookahead.decay() == 0.0
    progress["share"] = 0.5
    assert lookahead.decay() == pytest.approx(MAX_DECAY / 8)
    progress["share"] = 1.0
    assert lookahead.decay() == pytest.approx(MAX_DECAY)


def test_training_pulls_every_period_steps_and_ends_on_the_slow_weights():
    rng = np.random.default_rng(0)
    images, labels = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 3, 64)
    model = small_model()
    pulls = []
    lookahead = Lookahead(progress=lambda: pulls.append(1) or 1.0, period=3)
    model.fit(images, labels, batch_size=8, epochs=2, callbacks=[lookahead], verbose=0)  # 16 steps
    assert len(pulls) == 16 // 3
    for fast, slow in zip(weights(model), lookahead.slow):
        np.testing.assert_array_equal(fast, keras.ops.convert_to_numpy(slow))
