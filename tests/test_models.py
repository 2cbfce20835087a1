import keras
import numpy as np
import pytest
from keras import layers

from cifar_cnn.models import ARCHITECTURES, build_model, initialize_whitening, last_conv_layer_name, seed_cnn


def layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


def test_seed_cnn_follows_the_seed_notebook():
    model = seed_cnn(num_classes=10)
    types = layer_types(model)
    conv_positions = [i for i, name in enumerate(types) if name == "Conv2D"]
    assert len(conv_positions) == 4
    for position in conv_positions:
        assert types[position + 1 : position + 4] == ["MaxPooling2D", "Dropout", "BatchNormalization"]
    dense_positions = [i for i, name in enumerate(types) if name == "Dense"]
    assert len(dense_positions) == 4  # 3 hidden + softmax
    for position in dense_positions[:3]:
        assert types[position + 1 : position + 3] == ["Dropout", "BatchNormalization"]
    assert types.index("Flatten") < dense_positions[0]
    output = model.layers[-1]
    assert output.units == 10 and output.activation.__name__ == "softmax"
    assert [model.get_layer(f"conv{i}").filters for i in range(1, 5)] == [32, 64, 128, 256]
    assert [model.get_layer(f"dense{i}").units for i in range(1, 4)] == [512, 256, 128]


def test_seed_cnn_options_change_the_network():
    model = seed_cnn(num_classes=4, filters=(8, 8, 16, 16), dense_units=(32, 16, 8), conv_dropout=0.1, dense_dropout=0.3)
    assert model.output_shape == (None, 4)
    assert model.get_layer("conv3").filters == 16
    assert model.get_layer("dense2").units == 16
    assert model.get_layer("conv_dropout1").rate == 0.1
    assert model.get_layer("dense_dropout1").rate == 0.3


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_takes_raw_uint8_images(name):
    model = build_model(name, num_classes=3)
    assert model.input.dtype == "uint8"
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert isinstance(model.get_layer(last_conv_layer_name(model)), layers.Conv2D)


def test_scaling_lives_inside_the_model():
    model = build_model("tiny_cnn", num_classes=2)
    scale = model.get_layer("scale_to_unit")
    assert float(keras.ops.max(scale(np.full((1, 32, 32, 3), 255, dtype=np.uint8)))) == pytest.approx(1.0)


def test_unknown_architecture_names_the_choices():
    with pytest.raises(ValueError, match="seed_cnn"):
        build_model("resnet9000", num_classes=10)


def test_fast_cnn_follows_airbench():
    model = build_model("fast_cnn", num_classes=10)
    whitening = model.get_layer("whiten")
    assert whitening.kernel_size == (2, 2) and whitening.filters == 24 and not whitening.trainable
    batchnorms = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    assert len(batchnorms) == 6 and not any(layer.scale for layer in batchnorms)
    assert {layer.momentum for layer in batchnorms} == {0.6}
    assert {layer.epsilon for layer in batchnorms} == {1e-5}  # Keras' 1e-3 damps the last, low-variance BatchNorm
    assert [model.get_layer(f"group{g}_conv2").filters for g in (1, 2, 3)] == [64, 128, 256]
    assert model.output_shape == (None, 10)


def test_a_whitening_stride_of_2_halves_the_resolution_and_the_whitening_still_sets():
    model = build_model("fast_cnn", num_classes=10, widths=(8, 16, 32), whitening_stride=2)
    assert model.get_layer("whiten").output.shape[1:3] == (16, 16)
    initialize_whitening(model, np.random.default_rng(0).integers(0, 256, (50, 32, 32, 3), dtype=np.uint8))
    assert model.predict(np.zeros((2, 32, 32, 3), np.uint8), verbose=0).shape == (2, 10)


def test_fast_cnn_convs_start_as_identity_on_their_first_channels():
    kernel = keras.ops.convert_to_numpy(build_model("fast_cnn", num_classes=10).get_layer("group2_conv1").kernel)
    channels = kernel.shape[2]  # 64 in, 128 out
    assert kernel.shape[3] > channels
    identity = np.zeros((3, 3, channels, channels), dtype=np.float32)
    identity[1, 1, np.arange(channels), np.arange(channels)] = 1
    np.testing.assert_array_equal(kernel[..., :channels], identity)
    assert np.abs(kernel[..., channels:]).sum() > 0  # the other filters keep their random start


def test_whitening_decorrelates_the_pixel_patches():
    rng = np.random.default_rng(0)
    # Strongly correlated images: a smooth random field plus a little noise, per colour channel.
    smooth = rng.normal(size=(200, 8, 8, 1)).repeat(4, axis=1).repeat(4, axis=2)
    images = np.clip(128 + 40 * smooth + rng.normal(0, 8, (200, 32, 32, 3)), 0, 255).astype(np.uint8)
    model = build_model("fast_cnn", num_classes=10)
    whitening = model.get_layer("whiten")
    scaled = images.astype(np.float32) / 255

    def output_covariance():
        outputs = keras.ops.convert_to_numpy(whitening(scaled))[..., :12].reshape(-1, 12)
        return outputs.mean(axis=0), np.cov(outputs, rowvar=False)

    _, before = output_covariance()
    assert np.abs(before - np.eye(12)).max() > 0.5
    initialize_whitening(model, images, epsilon=1e-9)  # the default epsilon damps the faintest directions on purpose
    mean, after = output_covariance()
    np.testing.assert_allclose(after, np.eye(12), atol=0.05)
    np.testing.assert_allclose(mean, 0, atol=0.01)
    kernel = keras.ops.convert_to_numpy(whitening.kernel)
    np.testing.assert_allclose(kernel[..., 12:], -kernel[..., :12])


def test_initialize_whitening_leaves_models_without_whitening_alone():
    model = build_model("tiny_cnn", num_classes=3)
    before = [keras.ops.convert_to_numpy(weight) for weight in model.weights]
    initialize_whitening(model, np.zeros((4, 32, 32, 3), dtype=np.uint8))
    for old, new in zip(before, model.weights):
        np.testing.assert_array_equal(old, keras.ops.convert_to_numpy(new))


def test_forward_flops_count_each_weight_use_as_a_multiply_and_an_add():
    import keras

    from cifar_cnn.models import forward_flops

    inputs = keras.Input((8, 8, 3))
    hidden = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 8*8 places * 4 filters * 27 weights
    hidden = keras.layers.BatchNormalization()(hidden)
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(hidden))  # 256 inputs * 10 units
    assert forward_flops(keras.Model(inputs, outputs)) == 2 * (8 * 8 * 4 * 27 + 256 * 10)
