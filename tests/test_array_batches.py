"""The NumPy batches that feed Keras on JAX or PyTorch (no TensorFlow there); they run under any backend."""

import keras
import numpy as np

from cifar_cnn.array_batches import EvaluationBatches, TrainingBatches, crop_and_flip


def numbered_images(count: int) -> np.ndarray:
    """Image i holds i in every pixel of channel 0 and the pixel's position in channels 1 and 2."""
    images = np.zeros((count, 32, 32, 3), np.uint8)
    images[..., 0] = np.arange(count)[:, None, None] + 1
    images[..., 1] = np.arange(32)[None, :, None] + 1
    images[..., 2] = np.arange(32)[None, None, :] + 1
    return images


def test_a_crop_is_the_padded_image_seen_through_a_window_at_the_given_offset():
    images = numbered_images(3)
    out = crop_and_flip(images, rows=np.array([0, 2, 4]), cols=np.array([4, 2, 1]), flip=np.array([False, False, True]), padding=2)
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    np.testing.assert_array_equal(out[0], padded[0, 0:32, 4:36])
    np.testing.assert_array_equal(out[1], images[1])  # offset (2, 2) is no shift
    np.testing.assert_array_equal(out[2], padded[2, 4:36, 1:33][:, ::-1])
    assert out[0, 0, 0, 0] == 0 and out[0, 2, 0, 0] == 1  # two rows of zero padding on top


def test_every_image_comes_once_per_epoch_with_its_own_label():
    images = numbered_images(10)
    batches = TrainingBatches(images, np.arange(10), batch_size=4, augment=True, seed=0, crop_padding=2)
    assert len(batches) == 3
    labels = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert sorted(labels) == list(range(10))
    for i in range(len(batches)):
        batch_images, batch_labels = batches[i]
        # channel 0 (the image's number) survives the crop wherever it is not padding
        assert all(set(np.unique(image[..., 0])) - {0} == {label + 1} for image, label in zip(batch_images, batch_labels))


def test_the_same_seed_gives_the_same_batches_and_each_epoch_another_order():
    images = numbered_images(64)
    first = TrainingBatches(images, np.arange(64), batch_size=16, augment=True, seed=5)
    second = TrainingBatches(images, np.arange(64), batch_size=16, augment=True, seed=5)
    np.testing.assert_array_equal(first[2][0], second[2][0])
    distinct_crops = {image.tobytes() for image in first[0][0]}
    assert len(distinct_crops) > 8  # each image its own offset, not one per batch
    before = np.concatenate([first[i][1] for i in range(4)])
    first.on_epoch_end()
    after = np.concatenate([first[i][1] for i in range(4)])
    assert sorted(before) == sorted(after) and list(before) != list(after)


def flipped_per_label(batches: TrainingBatches) -> dict[int, bool]:
    """For images bright only in their left column: which labels came out mirrored this epoch."""
    return {int(label): bool(image[0, -1, 0] > 0) for i in range(len(batches)) for image, label in zip(*batches[i])}


def test_alternating_flips_mirror_each_image_every_other_epoch():
    images = np.zeros((40, 32, 32, 3), np.uint8)
    images[:, :, 0, :] = 255
    batches = TrainingBatches(images, np.arange(40), batch_size=16, augment=True, seed=0, crop_padding=0, alternate_flips=True)
    epochs = []
    for _ in range(3):
        epochs.append(flipped_per_label(batches))
        batches.on_epoch_end()
    assert 10 <= sum(epochs[0].values()) <= 30
    assert all(epochs[1][label] != epochs[0][label] and epochs[2][label] == epochs[0][label] for label in range(40))


def test_without_augmentation_images_are_unchanged():
    images = numbered_images(8)
    batch_images, labels = TrainingBatches(images, np.arange(8), batch_size=8, augment=False, seed=0)[0]
    np.testing.assert_array_equal(batch_images, images[labels])


def test_a_model_trains_and_predicts_on_them():
    keras.utils.set_random_seed(0)
    images = np.zeros((64, 32, 32, 3), np.uint8)
    labels = np.arange(64) % 2
    images[labels == 1] = 200
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(TrainingBatches(images, labels, 16, augment=True, seed=0, crop_padding=2, workers=2), epochs=5, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    probabilities = model.predict(EvaluationBatches(images, batch_size=10), verbose=0)
    assert probabilities.shape == (64, 2) and (probabilities.argmax(axis=1) == labels).all()


def test_dropping_the_remainder_leaves_out_a_last_smaller_batch_and_other_images_each_epoch():
    images = numbered_images(10)
    batches = TrainingBatches(images, np.arange(10), batch_size=4, augment=False, seed=0, drop_remainder=True)
    assert len(batches) == 2
    first = np.concatenate([batches[i][1] for i in range(2)])
    assert len(set(first)) == 8
    left_out = set()
    for _ in range(10):
        batches.on_epoch_end()
        left_out |= set(range(10)) - set(np.concatenate([batches[i][1] for i in range(2)]))
    assert len(left_out) > 2  # not the same two images every epoch
    assert len(TrainingBatches(images[:3], np.arange(3), batch_size=4, augment=False, seed=0, drop_remainder=True)) == 1
