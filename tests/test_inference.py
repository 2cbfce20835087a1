import keras
import numpy as np
from keras import layers

from cifar_cnn.inference import describe_tta, predict, shifted, tta_views


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


def test_shifted_moves_the_image_and_mirrors_the_uncovered_edge():
    image = np.arange(16, dtype=np.uint8).reshape(1, 4, 4, 1)
    down_right = shifted(image, 1, 1)[0, :, :, 0]
    np.testing.assert_array_equal(down_right[1:, 1:], image[0, :3, :3, 0])  # pixel (r, c) moved to (r+1, c+1)
    np.testing.assert_array_equal(down_right[0, 1:], image[0, 1, :3, 0])  # the new top row mirrors row 1
    up_left = shifted(image, -1, -1)[0, :, :, 0]
    np.testing.assert_array_equal(up_left[:3, :3], image[0, 1:, 1:, 0])
    np.testing.assert_array_equal(shifted(image, 0, 0), image)


def test_shift_tta_averages_the_shifted_views_and_with_flip_their_mirrors_too():
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    assert len(tta_views(images)) == 1
    assert len(tta_views(images, shift_tta=True)) == 3
    assert len(tta_views(images, flip_tta=True, shift_tta=True)) == 6
    model = left_half_is_brighter()
    views = [shifted(images, 1, 1), shifted(images, -1, -1), images]
    views += [view[:, :, ::-1].copy() for view in views]
    expected = np.mean([predict(model, view) for view in views], axis=0)
    np.testing.assert_allclose(predict(model, images, flip_tta=True, shift_tta=True), expected, rtol=1e-5, atol=1e-7)


def test_describe_tta():
    assert describe_tta() == ""
    assert describe_tta(flip_tta=True) == "flip test-time augmentation"
    assert describe_tta(flip_tta=True, shift_tta=True) == "flip and 1-pixel shift test-time augmentation"


def test_a_few_images_and_many_get_the_same_probabilities():
    from cifar_cnn.inference import FEW_IMAGES
    from cifar_cnn.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("tiny_cnn", 3)
    images = np.random.default_rng(0).integers(0, 256, (FEW_IMAGES + 8, 32, 32, 3), dtype=np.uint8)
    one_by_one = np.concatenate([predict(model, images[i : i + 1]) for i in range(4)])  # the direct call
    np.testing.assert_allclose(one_by_one, predict(model, images)[:4], atol=1e-5)  # model.predict over all of them
