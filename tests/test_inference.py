import keras
import numpy as np
from keras import layers

from cifar_cnn.inference import predict


def left_half_is_brighter() -> keras.Model:
    """Class 0 when the left half is brighter than the right, by construction: mirror-sensitive."""
    inputs = keras.Input((32, 32, 3), dtype="uint8")
    x = layers.Rescaling(1 / 255)(inputs)
    left = layers.Lambda(lambda t: keras.ops.mean(t[:, :, :16], axis=(1, 2, 3)) - keras.ops.mean(t[:, :, 16:], axis=(1, 2, 3)))(x)
    logits = layers.Lambda(lambda d: keras.ops.stack([10 * d, -10 * d], axis=-1))(left)
    return keras.Model(inputs, layers.Softmax()(logits))


def test_flip_tta_averages_an_image_and_its_mirror():
    image = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    image[:, :, :16] = 200
    model = left_half_is_brighter()
    plain = predict(model, image)
    mirrored = predict(model, image[:, :, ::-1].copy())
    assert plain[0, 0] > 0.9 and mirrored[0, 0] < 0.1
    np.testing.assert_allclose(predict(model, image, flip_tta=True), (plain + mirrored) / 2, rtol=1e-5)
