import numpy as np
import tensorflow as tf

from cifar_cnn.pipeline import random_crop_and_flip, training_dataset


def numbered_images(count: int) -> np.ndarray:
    """Images whose pixel (r, c) holds r * 32 + c (mod 256 per channel layout), easy to locate after a crop."""
    grid = (np.arange(32)[:, None] * 8 + np.arange(32)[None, :]) % 256
    return np.repeat(grid[None, :, :, None], count, axis=0).repeat(3, axis=3).astype(np.uint8) + 1


def test_crop_and_flip_keeps_shape_and_dtype():
    images = tf.constant(numbered_images(8))
    augmented = random_crop_and_flip(images, tf.constant([1, 2], dtype=tf.int64))
    assert augmented.shape == images.shape and augmented.dtype == tf.uint8


def test_each_image_gets_its_own_crop():
    images = tf.constant(numbered_images(64))
    augmented = random_crop_and_flip(images, tf.constant([7, 7], dtype=tf.int64)).numpy()
    distinct = {augmented[i].tobytes() for i in range(64)}
    assert len(distinct) > 20  # Keras' RandomCrop would give 1 (or 2 with flips)


def test_same_seed_same_augmentation():
    images = tf.constant(numbered_images(16))
    seed = tf.constant([3, 4], dtype=tf.int64)
    np.testing.assert_array_equal(random_crop_and_flip(images, seed), random_crop_and_flip(images, seed))


def test_crop_is_a_shifted_window_of_the_padded_image():
    image = numbered_images(1)
    augmented = random_crop_and_flip(tf.constant(image), tf.constant([5, 9], dtype=tf.int64)).numpy()[0]
    padded = np.pad(image[0], ((4, 4), (4, 4), (0, 0)))
    windows = [padded[r : r + 32, c : c + 32] for r in range(9) for c in range(9)]
    assert any(np.array_equal(augmented, w) or np.array_equal(augmented, w[:, ::-1]) for w in windows)


def test_training_dataset_covers_every_image_once_per_epoch():
    images = numbered_images(10)
    labels = np.arange(10)
    dataset = training_dataset(images, labels, batch_size=4, augment=True, seed=0)
    seen = np.concatenate([batch_labels.numpy() for _, batch_labels in dataset])
    assert sorted(seen) == list(range(10))


def test_zero_crop_padding_only_flips():
    images = numbered_images(8)
    dataset = training_dataset(images, np.arange(8), batch_size=8, augment=True, seed=0, crop_padding=0)
    augmented, labels = next(iter(dataset))
    for image, label in zip(augmented.numpy(), labels.numpy()):
        assert np.array_equal(image, images[label]) or np.array_equal(image, images[label][:, ::-1])


def flipped_per_label(dataset) -> dict[int, bool]:
    """For one epoch of images that are bright only in their left column: which labels came out mirrored."""
    return {int(label): bool(image[0, -1, 0] > 0) for images, labels in dataset for image, label in zip(images.numpy(), labels.numpy())}


def test_alternating_flips_mirror_each_image_every_other_epoch():
    images = np.zeros((40, 32, 32, 3), np.uint8)
    images[:, :, 0, :] = 255
    dataset = training_dataset(images, np.arange(40), batch_size=16, augment=True, seed=0, crop_padding=0, alternate_flips=True)
    epochs = [flipped_per_label(dataset) for _ in range(3)]
    assert sorted(epochs[0]) == list(range(40))
    assert 10 <= sum(epochs[0].values()) <= 30  # the first epoch flips at random
    assert all(epochs[1][label] != epochs[0][label] and epochs[2][label] == epochs[0][label] for label in range(40))


def test_independent_flips_repeat_some_images_the_same_way():
    images = np.zeros((40, 32, 32, 3), np.uint8)
    images[:, :, 0, :] = 255
    dataset = training_dataset(images, np.arange(40), batch_size=16, augment=True, seed=0, crop_padding=0)
    first, second = flipped_per_label(dataset), flipped_per_label(dataset)
    assert any(first[label] == second[label] for label in range(40))
