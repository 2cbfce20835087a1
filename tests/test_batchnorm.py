import warnings

import keras
import numpy as np
import pytest
from keras import layers

from cifar_cnn.training.batchnorm import recalibrate_batchnorm
from cifar_cnn.models import build_model


def dropout_then_batchnorm() -> keras.Model:
    inputs = keras.Input((8,))
    x = layers.Dense(16, activation="relu")(inputs)
    x = layers.Dropout(0.5)(x)
    x = layers.BatchNormalization(name="first")(x)
    x = layers.Dense(16, activation="relu")(x)
    x = layers.BatchNormalization(name="second")(x)
    return keras.Model(inputs, layers.Dense(2, activation="softmax")(x))


def test_statistics_match_the_inputs_inference_will_see():
    keras.utils.set_random_seed(0)
    model = dropout_then_batchnorm()
    data = np.random.default_rng(0).normal(2.0, 3.0, (512, 8)).astype("float32")
    assert recalibrate_batchnorm(model, data) == 2
    for name in ("first", "second"):
        norm = model.get_layer(name)
        seen = keras.ops.convert_to_numpy(keras.Model(model.inputs, norm.input)(data, training=False))
        np.testing.assert_allclose(norm.moving_mean.numpy(), seen.mean(axis=0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(norm.moving_variance.numpy(), seen.var(axis=0), rtol=1e-3, atol=1e-5)


def test_normalized_activations_have_unit_scale_after_recalibration():
    keras.utils.set_random_seed(1)
    model = dropout_then_batchnorm()
    data = np.random.default_rng(1).normal(5.0, 10.0, (1024, 8)).astype("float32")
    recalibrate_batchnorm(model, data)
    normalized = keras.ops.convert_to_numpy(keras.Model(model.inputs, model.get_layer("second").output)(data, training=False))
    assert np.abs(normalized.mean(axis=0)).max() < 1e-3
    active = normalized.std(axis=0) > 0
    assert normalized.std(axis=0)[active] == pytest.approx(1.0, abs=0.01)


def test_a_model_without_batchnorm_is_left_alone():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Dense(2)(inputs))
    before = [weight.copy() for weight in model.get_weights()]
    assert recalibrate_batchnorm(model, np.ones((10, 4), dtype="float32")) == 0
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_recalibrating_a_library_model_raises_no_warning():
    model = build_model("fast_cnn", num_classes=10, widths=(8, 8, 8))
    images = np.random.default_rng(2).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras warned about the input's structure on every batch
        recalibrate_batchnorm(model, images)


def test_recalibration_leaves_dropout_and_momentum_as_they_were():
    model = dropout_then_batchnorm()
    recalibrate_batchnorm(model, np.random.default_rng(3).normal(size=(64, 8)).astype("float32"))
    assert [layer.rate for layer in model.layers if isinstance(layer, layers.Dropout)] == [0.5]
    assert [layer.momentum for layer in model.layers if isinstance(layer, layers.BatchNormalization)] == [0.99, 0.99]
