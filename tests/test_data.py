import os
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cifar_cnn.data import CIFAR10_CLASSES, DataError, load_dataset
from cifar_cnn.data import cache as data_cache
from cifar_cnn.data import image_folder
from synthetic_data import expected_arrays, make_tar, make_zip, official_rows, pattern_image, write_image_folder, write_official_batches

CLASSES = ("cat", "dog", "frog")


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def tree(tmp_path):
    return write_image_folder(tmp_path / "tree", CLASSES, n_train=4, n_test=2)


def assert_is_the_tree(dataset):
    assert dataset.class_names == CLASSES
    for split, count in (("train", 4), ("test", 2)):
        images, labels = expected_arrays(CLASSES, count)
        np.testing.assert_array_equal(getattr(dataset, f"x_{split}"), images)
        np.testing.assert_array_equal(getattr(dataset, f"y_{split}"), labels)
    assert dataset.x_train.dtype == np.uint8 and dataset.y_train.dtype == np.int64


# ------------------------------------------------------------------ every source and layout


def test_image_folder(tree, cache_dir):
    assert_is_the_tree(load_dataset(tree, cache_dir=cache_dir))


def test_image_folder_one_level_down(tree, tmp_path, cache_dir):
    assert_is_the_tree(load_dataset(tree.parent, cache_dir=cache_dir))


@pytest.mark.parametrize("name", ["tree.tar", "tree.tar.gz", "tree.tgz"])
def test_tar_archives_of_an_image_tree(tree, tmp_path, cache_dir, name):
    assert_is_the_tree(load_dataset(make_tar(tree, tmp_path / name), cache_dir=cache_dir))


def test_zip_of_an_image_tree(tree, tmp_path, cache_dir):
    assert_is_the_tree(load_dataset(make_zip(tree, tmp_path / "tree.zip"), cache_dir=cache_dir))


def test_jpeg_tree_decodes_close_to_the_original(tmp_path, cache_dir):
    tree = write_image_folder(tmp_path / "jpeg", CLASSES, n_train=2, n_test=1, ext="jpg")
    dataset = load_dataset(tree, cache_dir=cache_dir)
    images, labels = expected_arrays(CLASSES, 2)
    np.testing.assert_array_equal(dataset.y_train, labels)
    assert np.abs(dataset.x_train.astype(int) - images).mean() < 20  # lossy, but the same pictures


def check_official(dataset):
    assert dataset.x_train.shape == (30, 32, 32, 3) and dataset.x_test.shape == (6, 32, 32, 3)
    assert dataset.class_names == tuple(f"class{index}" for index in range(10))
    # data_batch_1's first image has label 0 and index 0: NHWC after the channel-planar transpose
    np.testing.assert_array_equal(dataset.x_train[0], pattern_image(0, 0))
    np.testing.assert_array_equal(dataset.x_test[1], pattern_image(6, 501))
    assert dataset.y_train[:3].tolist() == [0, 1, 2]


def test_official_batches_folder_and_its_parent(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official")
    check_official(load_dataset(folder, cache_dir=cache_dir))
    check_official(load_dataset(folder.parent, cache_dir=cache_dir))


def test_official_tar_gz(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official")
    check_official(load_dataset(make_tar(folder, tmp_path / "cifar-10-python.tar.gz"), cache_dir=cache_dir))


def test_official_without_meta_uses_cifar10_names(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official")
    (folder / "batches.meta").unlink()
    assert load_dataset(folder, cache_dir=cache_dir).class_names == CIFAR10_CLASSES


def test_environment_variable_names_the_source(tree, cache_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DATA", str(tree))
    assert_is_the_tree(load_dataset(cache_dir=cache_dir))


def test_default_download_through_keras(monkeypatch):
    import keras

    monkeypatch.delenv("CIFAR10_DATA", raising=False)
    x = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    y = np.array([[1], [2], [3], [4]], dtype=np.uint8)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: ((x, y), (x[:2], y[:2])))
    dataset = load_dataset()
    assert dataset.class_names == CIFAR10_CLASSES
    assert dataset.y_train.tolist() == [1, 2, 3, 4] and dataset.y_train.dtype == np.int64


def test_failed_download_says_how_to_use_a_local_copy(monkeypatch):
    import keras

    def offline():
        raise OSError("Temporary failure in name resolution")

    monkeypatch.delenv("CIFAR10_DATA", raising=False)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(DataError) as error:
        load_dataset()
    message = str(error.value)
    assert "name resolution" in message and "--data PATH" in message and "CIFAR10_DATA" in message


# ------------------------------------------------------------------ bad data


def test_missing_path(tmp_path, cache_dir):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "nope", cache_dir=cache_dir)


def test_unknown_layout(tmp_path, cache_dir):
    (tmp_path / "stuff" / "a").mkdir(parents=True)
    (tmp_path / "stuff" / "b").mkdir()
    with pytest.raises(DataError, match="not a dataset folder.*cifar-10-python.tar.gz"):
        load_dataset(tmp_path / "stuff", cache_dir=cache_dir)


def test_a_plain_file_is_not_a_dataset(tmp_path, cache_dir):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="notes.txt"):
        load_dataset(tmp_path / "notes.txt", cache_dir=cache_dir)


def test_missing_test_folder(tree, cache_dir):
    shutil.rmtree(tree / "test")
    with pytest.raises(DataError, match="no test/ folder"):
        load_dataset(tree, cache_dir=cache_dir)


def test_empty_class_folder(tree, cache_dir):
    for file in (tree / "test" / "dog").iterdir():
        file.unlink()
    (tree / "test" / "dog" / ".DS_Store").write_bytes(b"junk")
    with pytest.raises(DataError, match="test/dog/ has no images"):
        load_dataset(tree, cache_dir=cache_dir)


def test_train_and_test_classes_differ(tree, cache_dir):
    (tree / "test" / "frog").rename(tree / "test" / "toad")
    with pytest.raises(DataError, match="only in train: frog; only in test: toad"):
        load_dataset(tree, cache_dir=cache_dir)


def test_an_image_that_does_not_decode(tree, cache_dir):
    (tree / "train" / "cat" / "0001.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"train/cat/0001.png could not be decoded"):
        load_dataset(tree, cache_dir=cache_dir)


def test_official_batch_of_wrong_image_size(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official", row_length=64 * 64 * 3)
    with pytest.raises(DataError, match="data_batch_1.*not 3072"):
        load_dataset(folder, cache_dir=cache_dir)


def test_official_folder_missing_a_batch(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official")
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match="no data_batch_3"):
        load_dataset(folder, cache_dir=cache_dir)


@pytest.mark.parametrize("name", ["tree.tar.gz", "tree.zip"])
def test_truncated_archive(tree, tmp_path, cache_dir, name):
    archive = make_tar(tree, tmp_path / name) if name.endswith("gz") else make_zip(tree, tmp_path / name)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=f"{name}.*(truncated or corrupt|holds neither)"):
        load_dataset(archive, cache_dir=cache_dir)
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def test_truncated_official_archive(tmp_path, cache_dir):
    archive = make_tar(write_official_batches(tmp_path / "official"), tmp_path / "cifar-10-python.tar.gz")
    data = archive.read_bytes()
    archive.write_bytes(data[: int(len(data) * 0.8)])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_dataset(archive, cache_dir=cache_dir)


def test_other_sizes_are_resized_and_the_loader_says_so(tree, cache_dir):
    Image.fromarray(pattern_image(0, 0, size=64)).save(tree / "train" / "cat" / "0000.png")
    Image.fromarray(pattern_image(1, 0, size=20)[..., 0], mode="L").save(tree / "train" / "dog" / "0000.png")
    dataset = load_dataset(tree, cache_dir=cache_dir)
    assert dataset.x_train.shape == (12, 32, 32, 3)
    assert len(dataset.notes) == 1 and "Resized 2 images" in dataset.notes[0] and "64x64" in dataset.notes[0]


def test_rgba_and_palette_images_become_rgb(tree, cache_dir):
    image = Image.fromarray(pattern_image(0, 1))
    image.convert("RGBA").save(tree / "train" / "cat" / "0001.png")
    image.convert("P").save(tree / "train" / "cat" / "0002.png")
    dataset = load_dataset(tree, cache_dir=cache_dir)
    np.testing.assert_array_equal(dataset.x_train[1], pattern_image(0, 1))
    assert dataset.x_train[2].shape == (32, 32, 3)


def test_stray_files_are_ignored(tree, cache_dir):
    (tree / "train" / "cat" / "Thumbs.db").write_bytes(b"junk")
    (tree / "train" / "cat" / ".hidden.png").write_bytes(b"junk")
    (tree / "README.txt").write_text("about")
    assert_is_the_tree(load_dataset(tree, cache_dir=cache_dir))


# ------------------------------------------------------------------ the restricted unpickler


class RunsCode:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official")
    marker = tmp_path / "pwned"
    with open(folder / "data_batch_2", "wb") as file:
        pickle.dump({b"data": RunsCode(marker), b"labels": [0]}, file, protocol=2)
    with pytest.raises(DataError) as error:
        load_dataset(folder, cache_dir=cache_dir)
    assert "data_batch_2" in str(error.value) and "system" in str(error.value) and "refused" in str(error.value)
    assert not marker.exists()
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def test_pickles_asking_for_builtins_are_refused(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official")
    marker = tmp_path / "pwned"
    class Eval:
        def __reduce__(self):
            return (eval, (f"open({str(marker)!r}, 'w')",))

    (folder / "test_batch").write_bytes(pickle.dumps(Eval(), protocol=4))
    with pytest.raises(DataError, match="builtins.eval"):
        load_dataset(folder, cache_dir=cache_dir)
    assert not marker.exists()


def test_official_rows_round_trip():
    images = np.stack([pattern_image(3, 7)])
    rows = official_rows(images)
    assert rows.shape == (1, 3072)
    assert rows[0, 0] == images[0, 0, 0, 0] and rows[0, 1024] == images[0, 0, 0, 1]


# ------------------------------------------------------------------ the cache


def test_second_load_comes_from_the_cache(tree, cache_dir, monkeypatch):
    first = load_dataset(tree, cache_dir=cache_dir)
    assert len(list(cache_dir.glob("*.npz"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(image_folder, "decode", no_decoding)
    second = load_dataset(tree, cache_dir=cache_dir)
    np.testing.assert_array_equal(second.x_train, first.x_train)
    assert second.class_names == first.class_names and second.source == first.source


def test_a_changed_source_is_decoded_again(tree, cache_dir):
    load_dataset(tree, cache_dir=cache_dir)
    Image.fromarray(pattern_image(2, 9)).save(tree / "train" / "cat" / "0003.png")
    os.utime(tree / "train" / "cat" / "0003.png", ns=(1, 1))
    dataset = load_dataset(tree, cache_dir=cache_dir)
    np.testing.assert_array_equal(dataset.x_train[3], pattern_image(2, 9))


def test_a_corrupt_cache_file_is_rebuilt(tree, cache_dir):
    load_dataset(tree, cache_dir=cache_dir)
    cached = next(cache_dir.glob("*.npz"))
    cached.write_bytes(b"garbage")
    assert_is_the_tree(load_dataset(tree, cache_dir=cache_dir))
    assert data_cache.read(cached) is not None


def test_a_failed_load_writes_nothing_to_the_cache(tree, cache_dir):
    (tree / "test" / "dog" / "0000.png").write_bytes(b"broken")
    with pytest.raises(DataError):
        load_dataset(tree, cache_dir=cache_dir)
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def test_progress_is_reported(tree, cache_dir):
    seen = []
    load_dataset(tree, cache_dir=cache_dir, progress=lambda fraction, message: seen.append((fraction, message)))
    assert seen and seen[-1][0] == 1.0 and all(0 <= fraction <= 1 for fraction, _ in seen)


def test_tar_members_are_read_in_one_pass(tree, tmp_path, cache_dir, monkeypatch):
    """A .tar.gz read out of order decompresses again and again; make sure members come in order."""
    archive = make_tar(tree, tmp_path / "tree.tar.gz")
    positions = []
    original = tarfile.TarFile.extractfile

    def recording(self, member):
        positions.append(member.offset)
        return original(self, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", recording)
    load_dataset(archive, cache_dir=cache_dir)
    assert positions == sorted(positions) and len(positions) == 18
