"""The data loader: every source and layout, every kind of bad data, the safe unpickler and the cache."""

import os
import pickle
import re
import shutil
import sys
import tarfile
import types

import numpy as np
import pytest
from PIL import Image
from synthetic_data import (
    expected_arrays,
    make_tar,
    make_zip,
    official_rows,
    pattern_image,
    write_image_folder,
    write_official_batches,
)

from cifar_cnn.data import CIFAR10_CLASSES, DataError, image_folder, load_dataset

CLASSES = ("cat", "dog", "frog")


@pytest.fixture
def tree(tmp_path):
    return write_image_folder(tmp_path / "tree", CLASSES, n_train=4, n_test=2)


@pytest.fixture
def keras_cifar10(monkeypatch):
    """A stand-in for the `keras` module (importing the real one takes seconds); set its `load_data`."""
    monkeypatch.delenv("CIFAR10_DATA", raising=False)
    cifar10 = types.SimpleNamespace(load_data=None)
    monkeypatch.setitem(sys.modules, "keras", types.SimpleNamespace(datasets=types.SimpleNamespace(cifar10=cifar10)))
    return cifar10


def assert_is_the_tree(dataset):
    assert dataset.class_names == CLASSES and dataset.num_classes == 3
    for split, count in (("train", 4), ("test", 2)):
        images, labels = expected_arrays(CLASSES, count)
        np.testing.assert_array_equal(getattr(dataset, f"x_{split}"), images)
        np.testing.assert_array_equal(getattr(dataset, f"y_{split}"), labels)
    assert dataset.x_train.dtype == np.uint8 and dataset.y_train.dtype == np.int64 and dataset.y_test.dtype == np.int64
    assert dataset.notes == ()


def cache_files(cache_dir):
    return sorted(cache_dir.iterdir()) if cache_dir.exists() else []


# ------------------------------------------------------------------ every source and layout


def test_image_folder(tree, cache_dir):
    dataset = load_dataset(tree, cache_dir=cache_dir)
    assert_is_the_tree(dataset)
    assert dataset.source == str(tree.resolve())


def test_image_folder_one_level_down(tree, cache_dir):
    assert_is_the_tree(load_dataset(tree.parent, cache_dir=cache_dir))


@pytest.mark.parametrize("name", ["tree.tar", "tree.tar.gz", "tree.tgz"])
def test_tar_archives_of_an_image_tree(tree, tmp_path, cache_dir, name):
    assert_is_the_tree(load_dataset(make_tar(tree, tmp_path / name), cache_dir=cache_dir))


def test_zip_of_an_image_tree(tree, tmp_path, cache_dir):
    assert_is_the_tree(load_dataset(make_zip(tree, tmp_path / "tree.zip"), cache_dir=cache_dir))


def test_archive_member_order_does_not_change_the_dataset(tree, tmp_path, cache_dir):
    assert_is_the_tree(load_dataset(make_zip(tree, tmp_path / "tree.zip", reverse_order=True), cache_dir=cache_dir))


def test_image_tree_at_the_top_of_an_archive(tree, tmp_path, cache_dir):
    archive = tmp_path / "flat.tar.gz"
    with tarfile.open(archive, "w:gz") as packed:
        for split in ("train", "test"):
            packed.add(tree / split, arcname=split)
    assert_is_the_tree(load_dataset(archive, cache_dir=cache_dir))


def test_jpeg_tree_decodes_close_to_the_original(tmp_path, cache_dir):
    tree = write_image_folder(tmp_path / "jpeg", CLASSES, n_train=2, n_test=1, ext="jpg")
    dataset = load_dataset(tree, cache_dir=cache_dir)
    images, labels = expected_arrays(CLASSES, 2)
    np.testing.assert_array_equal(dataset.y_train, labels)
    assert np.abs(dataset.x_train.astype(int) - images).mean() < 20  # lossy, but the same pictures


def check_official(dataset):
    assert dataset.x_train.shape == (30, 32, 32, 3) and dataset.x_test.shape == (6, 32, 32, 3)
    assert dataset.class_names == tuple(f"class{index}" for index in range(10))
    # data_batch_1 image 0 is pattern_image(0, 0); only the right channel-planar -> NHWC transpose gives it back.
    np.testing.assert_array_equal(dataset.x_train[0], pattern_image(0, 0))
    np.testing.assert_array_equal(dataset.x_train[6 * 4 + 5], pattern_image(9, 405))  # data_batch_5, last image
    np.testing.assert_array_equal(dataset.x_test[1], pattern_image(6, 501))
    assert dataset.y_train[:7].tolist() == [0, 1, 2, 3, 4, 5, 1] and dataset.y_train.dtype == np.int64


def test_official_batches_folder_and_its_parent(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official")
    assert b"numpy.core.multiarray\n_reconstruct" in (folder / "data_batch_1").read_bytes()  # as in the real files
    check_official(load_dataset(folder, cache_dir=cache_dir))
    check_official(load_dataset(folder.parent, cache_dir=cache_dir))


def test_official_batches_pickled_by_numpy_2(tmp_path, cache_dir):
    check_official(load_dataset(write_official_batches(tmp_path / "official", legacy_numpy_names=False), cache_dir=cache_dir))


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


def test_environment_variable_naming_a_missing_path(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DATA", str(tmp_path / "gone"))
    with pytest.raises(DataError, match="gone.*CIFAR10_DATA.*does not exist"):
        load_dataset(cache_dir=cache_dir)


def test_default_download_through_keras(keras_cifar10, cache_dir):
    x = np.arange(4 * 32 * 32 * 3, dtype=np.uint8).reshape(4, 32, 32, 3)
    y = np.array([[1], [2], [3], [9]], dtype=np.uint8)  # Keras gives (N, 1) labels
    keras_cifar10.load_data = lambda: ((x, y), (x[:2], y[:2]))
    dataset = load_dataset(cache_dir=cache_dir)
    assert dataset.class_names == CIFAR10_CLASSES and dataset.source == "Keras CIFAR-10 download"
    assert dataset.y_train.tolist() == [1, 2, 3, 9] and dataset.y_train.dtype == np.int64 and dataset.y_test.shape == (2,)
    np.testing.assert_array_equal(dataset.x_train, x)


def test_failed_download_says_how_to_use_a_local_copy(keras_cifar10, cache_dir):
    def offline():
        raise OSError("Temporary failure in name resolution")

    keras_cifar10.load_data = offline
    with pytest.raises(DataError) as error:
        load_dataset(cache_dir=cache_dir)
    message = str(error.value)
    assert "failed" in message and "name resolution" in message
    assert "--data PATH" in message and "CIFAR10_DATA=PATH" in message and "cifar-10-python.tar.gz" in message and ".zip" in message
    assert cache_files(cache_dir) == []


@pytest.mark.slow
def test_importing_the_data_package_does_not_import_tensorflow():
    import subprocess

    code = "import sys, cifar_cnn.data; print(sorted(m for m in ('keras', 'tensorflow', 'streamlit') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ------------------------------------------------------------------ bad data


def test_missing_path(tmp_path, cache_dir):
    with pytest.raises(DataError, match="nope does not exist"):
        load_dataset(tmp_path / "nope", cache_dir=cache_dir)


def test_unknown_folder_layout(tmp_path, cache_dir):
    (tmp_path / "stuff" / "a").mkdir(parents=True)
    (tmp_path / "stuff" / "b").mkdir()
    with pytest.raises(DataError, match="stuff is not a dataset folder.*cifar-10-python.tar.gz.*train/<class>"):
        load_dataset(tmp_path / "stuff", cache_dir=cache_dir)


def test_a_plain_file_is_not_a_dataset(tmp_path, cache_dir):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="notes.txt is neither a folder nor an archive.*Accepted"):
        load_dataset(tmp_path / "notes.txt", cache_dir=cache_dir)


def test_an_archive_with_no_dataset_in_it(tmp_path, cache_dir):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hello")
    with pytest.raises(DataError, match="docs.tar.gz holds neither CIFAR-10 batches nor"):
        load_dataset(make_tar(tmp_path / "docs", tmp_path / "docs.tar.gz"), cache_dir=cache_dir)


def test_missing_test_folder(tree, cache_dir):
    shutil.rmtree(tree / "test")
    with pytest.raises(DataError, match="tree has no test/ folder"):
        load_dataset(tree, cache_dir=cache_dir)


def test_archive_missing_its_test_folder(tree, tmp_path, cache_dir):
    shutil.rmtree(tree / "test")
    with pytest.raises(DataError, match="tree.zip has no test/<class>/ folders"):
        load_dataset(make_zip(tree, tmp_path / "tree.zip"), cache_dir=cache_dir)


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


def test_an_archive_holding_two_trees(tree, tmp_path, cache_dir):
    shutil.copytree(tree, tmp_path / "bundle" / "copy1")
    shutil.copytree(tree, tmp_path / "bundle" / "copy2")
    with pytest.raises(DataError, match="more than one train/ and test/ tree.*copy1/.*copy2/"):
        load_dataset(make_tar(tmp_path / "bundle", tmp_path / "bundle.tar"), cache_dir=cache_dir)


def test_an_image_that_does_not_decode(tree, cache_dir):
    (tree / "train" / "cat" / "0001.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"train/cat/0001.png could not be decoded"):
        load_dataset(tree, cache_dir=cache_dir)


def test_an_image_in_an_archive_that_does_not_decode(tree, tmp_path, cache_dir):
    data = (tree / "test" / "frog" / "0001.png").read_bytes()
    (tree / "test" / "frog" / "0001.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"tree.tar.gz:tree/test/frog/0001.png could not be decoded"):
        load_dataset(make_tar(tree, tmp_path / "tree.tar.gz"), cache_dir=cache_dir)


def test_official_batch_of_wrong_image_size(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official", row_length=64 * 64 * 3)
    with pytest.raises(DataError, match=r"data_batch_1 in .*shape \(6, 12288\), not rows of 3072 values"):
        load_dataset(folder, cache_dir=cache_dir)


def test_official_folder_missing_a_batch(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official")
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match="has no data_batch_3"):
        load_dataset(folder, cache_dir=cache_dir)


def test_official_batch_with_labels_out_of_range(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official", num_classes=12)  # batches.meta names 12 classes
    meta = {b"label_names": [f"class{index}".encode() for index in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    with pytest.raises(DataError, match="labels outside 0..9"):
        load_dataset(folder, cache_dir=cache_dir)


@pytest.mark.parametrize("name", ["tree.tar.gz", "tree.zip"])
def test_truncated_archive(tree, tmp_path, cache_dir, name):
    archive = make_zip(tree, tmp_path / name) if name.endswith(".zip") else make_tar(tree, tmp_path / name)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=f"{name} is truncated or corrupt"):
        load_dataset(archive, cache_dir=cache_dir)
    assert cache_files(cache_dir) == []


def test_plain_tar_cut_between_two_members(tree, tmp_path, cache_dir):
    """tarfile itself would stop quietly there and hand over part of the dataset."""
    archive = make_tar(tree, tmp_path / "tree.tar")
    with tarfile.open(archive) as packed:
        cut = packed.getmembers()[10].offset  # a header boundary, halfway through
    archive.write_bytes(archive.read_bytes()[:cut])
    with pytest.raises(DataError, match="tree.tar is truncated or corrupt"):
        load_dataset(archive, cache_dir=cache_dir)


def test_truncated_official_archive(tmp_path, cache_dir):
    archive = make_tar(write_official_batches(tmp_path / "official"), tmp_path / "cifar-10-python.tar.gz")
    data = archive.read_bytes()
    archive.write_bytes(data[: int(len(data) * 0.8)])
    with pytest.raises(DataError, match="cifar-10-python.tar.gz is truncated or corrupt"):
        load_dataset(archive, cache_dir=cache_dir)


def test_a_file_named_zip_that_is_not_one(tmp_path, cache_dir):
    (tmp_path / "data.zip").write_bytes(b"PK\x03\x04 but then nothing a zip needs" * 10)
    with pytest.raises(DataError, match="data.zip is truncated or corrupt"):
        load_dataset(tmp_path / "data.zip", cache_dir=cache_dir)


# Names a person could not read, or that display as something they are not (U+202E turns "cat" + "gpj.exe" around).
UNREADABLE_NAMES = ["   ", "ca\u202et", "two\nlines", "zero\u200bwidth", "tab\there"]


@pytest.mark.parametrize("name", UNREADABLE_NAMES)
def test_class_folders_with_unreadable_names_are_refused(tree, cache_dir, name):
    for split in ("train", "test"):
        (tree / split / "frog").rename(tree / split / name)
    with pytest.raises(DataError) as error:
        load_dataset(tree, cache_dir=cache_dir)
    message = str(error.value)
    assert f"the class name {name!r}" in message and "rename that folder" in message
    assert cache_files(cache_dir) == []


def test_class_folders_with_unreadable_names_in_an_archive_are_refused(tree, tmp_path, cache_dir):
    for split in ("train", "test"):
        (tree / split / "dog").rename(tree / split / "do\u202eg")
    with pytest.raises(DataError, match=r"tree.zip: the class name 'do\\u202eg' holds U\+202E \(RIGHT-TO-LEFT OVERRIDE\)"):
        load_dataset(make_zip(tree, tmp_path / "tree.zip"), cache_dir=cache_dir)


def write_label_names(folder, names):
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))


@pytest.mark.parametrize("name", ["", *UNREADABLE_NAMES, "nul\x00"])
def test_official_label_names_that_are_unreadable_are_refused(tmp_path, cache_dir, name):
    folder = write_official_batches(tmp_path / "official")
    # Bytes, as in the real file; but an empty one as text: Python 3 pickles b"" as a call of bytes(), which the loader refuses.
    write_label_names(folder, [f"class{index}".encode() for index in range(9)] + [name.encode() if name else name])
    with pytest.raises(DataError) as error:
        load_dataset(folder, cache_dir=cache_dir)
    message = str(error.value)
    assert f"batches.meta in {folder}: the class name {name!r}" in message and "Fix label_names in batches.meta" in message


@pytest.mark.parametrize("names, words", [
    ([b"cat", b"\xff\xfe"], "not UTF-8 text"),
    ([b"cat", b"dog", b"cat"], "the class name 'cat' appears twice"),
])
def test_official_label_names_that_are_not_text_or_repeat_are_refused(tmp_path, cache_dir, names, words):
    folder = write_official_batches(tmp_path / "official", num_classes=3)
    write_label_names(folder, names)
    with pytest.raises(DataError, match=f"batches.meta in .*{words}"):
        load_dataset(folder, cache_dir=cache_dir)


@pytest.mark.parametrize("labels, shown", [
    ([0.5, 1, 2, 3, 4, 5], "float64, for example 0.5"),
    ([0, 1, 2, 3, 4, 5.0], "float64, for example 0.0"),  # whole, but a float all the same: which class would 2.5 have been?
    (["0", 1, 2, 3, 4, 5], "<U21, for example '0'"),
])
def test_official_labels_that_are_not_integers_are_refused(tmp_path, cache_dir, labels, shown):
    """np.asarray(labels, dtype=np.int64) would make 0.5 a 0 without a word."""
    folder = write_official_batches(tmp_path / "official")
    batch = pickle.loads((folder / "data_batch_4").read_bytes(), encoding="bytes")
    batch[b"labels"] = labels
    (folder / "data_batch_4").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=f"data_batch_4 in .* has labels that are not integers \\(of type {re.escape(shown)}\\)"):
        load_dataset(folder, cache_dir=cache_dir)


@pytest.mark.parametrize("bad_labels, words", [(np.array([[1], [10]]), "outside 0..9"), (np.array([[1.0], [0.5]]), "not integers")])
def test_keras_download_labels_are_checked_too(keras_cifar10, cache_dir, bad_labels, words):
    x = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    keras_cifar10.load_data = lambda: ((x, np.array([[1], [2]])), (x, bad_labels))
    with pytest.raises(DataError, match=f"test split of Keras CIFAR-10 download.* {words}"):
        load_dataset(cache_dir=cache_dir)


# ------------------------------------------------------------------ images that need converting


def test_other_sizes_are_resized_and_the_loader_says_so(tree, cache_dir):
    Image.fromarray(pattern_image(0, 0, size=64)[:48]).save(tree / "train" / "cat" / "0000.png")  # 64 wide, 48 high
    Image.fromarray(pattern_image(1, 0, size=20)).save(tree / "train" / "dog" / "0000.png")
    dataset = load_dataset(tree, cache_dir=cache_dir)
    assert dataset.x_train.shape == (12, 32, 32, 3)
    assert dataset.notes == ("Resized 2 images that were not 32x32 to 32x32 (first: train/cat/0000.png was 64x48).",)
    np.testing.assert_array_equal(dataset.x_train[1], pattern_image(0, 1))  # the others untouched


def test_grayscale_rgba_and_palette_images_become_rgb(tree, cache_dir):
    image = Image.fromarray(pattern_image(0, 1))
    image.convert("RGBA").save(tree / "train" / "cat" / "0001.png")
    image.convert("P").save(tree / "train" / "cat" / "0002.png")
    image.convert("L").save(tree / "train" / "cat" / "0003.png")
    dataset = load_dataset(tree, cache_dir=cache_dir)
    np.testing.assert_array_equal(dataset.x_train[1], pattern_image(0, 1))  # opaque RGBA: the same pixels
    np.testing.assert_array_equal(dataset.x_train[2], np.asarray(image.convert("P").convert("RGB")))
    gray = dataset.x_train[3]
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    assert dataset.notes == ("Converted 3 images that were not RGB to RGB (first: train/cat/0001.png was RGBA).",)


def test_transparent_pixels_become_white(tree, cache_dir):
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)  # black, fully transparent...
    rgba[:16, :, :] = (200, 10, 10, 255)  # ...but for an opaque red top half
    Image.fromarray(rgba, "RGBA").save(tree / "train" / "cat" / "0000.png")
    pixels = load_dataset(tree, cache_dir=cache_dir).x_train[0]
    assert (pixels[:16] == (200, 10, 10)).all() and (pixels[16:] == 255).all()


def test_stray_files_are_ignored(tree, cache_dir):
    (tree / "train" / "cat" / "Thumbs.db").write_bytes(b"junk")
    (tree / "train" / "cat" / ".hidden.png").write_bytes(b"junk")
    (tree / "train" / "cat" / "notes.txt").write_text("about cats")
    (tree / "train" / ".ipynb_checkpoints").mkdir()
    (tree / "README.txt").write_text("about")
    assert_is_the_tree(load_dataset(tree, cache_dir=cache_dir))


def test_stray_files_in_an_archive_are_ignored(tree, tmp_path, cache_dir):
    (tree / "test" / "dog" / ".DS_Store").write_bytes(b"junk")
    (tree / "test" / "dog" / "._0000.png").write_bytes(b"macOS resource fork")
    assert_is_the_tree(load_dataset(make_zip(tree, tmp_path / "tree.zip"), cache_dir=cache_dir))


# ------------------------------------------------------------------ the restricted unpickler


class RunsCode:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official")
    marker = tmp_path / "pwned"
    with open(folder / "data_batch_2", "wb") as file:
        pickle.dump({b"data": RunsCode(marker), b"labels": [0]}, file, protocol=2)
    pickle.loads((folder / "data_batch_2").read_bytes())  # the payload works when unpickled without restriction...
    assert marker.exists()
    marker.unlink()

    with pytest.raises(DataError) as error:
        load_dataset(folder, cache_dir=cache_dir)
    message = str(error.value)
    assert "data_batch_2" in message and f"{os.system.__module__}.system" in message and "refused" in message
    assert not marker.exists()  # ...and never ran under the loader
    assert cache_files(cache_dir) == []


def test_pickles_asking_for_builtins_are_refused(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official")
    marker = tmp_path / "pwned"

    class Eval:
        def __reduce__(self):
            return (eval, (f"open({str(marker)!r}, 'w')",))

    (folder / "test_batch").write_bytes(pickle.dumps(Eval(), protocol=4))
    with pytest.raises(DataError, match="test_batch in .* asks to run builtins.eval"):
        load_dataset(folder, cache_dir=cache_dir)
    assert not marker.exists()


def test_allowed_globals_cannot_be_bent_to_other_uses(tmp_path, cache_dir):
    """`_codecs.encode` is allowed for latin-1 bytes only."""
    folder = write_official_batches(tmp_path / "official")

    class Rot13:
        def __reduce__(self):
            import _codecs

            return (_codecs.encode, ("text", "rot13"))

    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": Rot13(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match="data_batch_1 in .* is not a readable CIFAR-10 batch.*rot13"):
        load_dataset(folder, cache_dir=cache_dir)


def test_malicious_pickle_inside_an_archive(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official")
    marker = tmp_path / "pwned"
    (folder / "test_batch").write_bytes(pickle.dumps(RunsCode(marker), protocol=2))
    with pytest.raises(DataError, match="test_batch in .*cifar-10-python.tar.gz asks to run .*system"):
        load_dataset(make_tar(folder, tmp_path / "cifar-10-python.tar.gz"), cache_dir=cache_dir)
    assert not marker.exists()


def test_official_rows_helper_is_channel_planar():
    images = np.stack([pattern_image(3, 7)])
    rows = official_rows(images)
    assert rows.shape == (1, 3072)
    assert rows[0, 0] == images[0, 0, 0, 0] and rows[0, 1] == images[0, 0, 1, 0] and rows[0, 1024] == images[0, 0, 0, 1]


# ------------------------------------------------------------------ the cache


def refuse_to_decode(monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(image_folder, "decode", no_decoding)


def test_second_load_comes_from_the_cache(tree, cache_dir, monkeypatch):
    first = load_dataset(tree, cache_dir=cache_dir)
    assert [file.suffix for file in cache_files(cache_dir)] == [".npz"]
    refuse_to_decode(monkeypatch)
    second = load_dataset(tree, cache_dir=cache_dir)
    assert_is_the_tree(second)
    assert second.source == first.source


def test_cache_keeps_notes_and_serves_an_archive(tree, tmp_path, cache_dir, monkeypatch):
    Image.fromarray(pattern_image(0, 0, size=40)).save(tree / "train" / "cat" / "0000.png")
    archive = make_tar(tree, tmp_path / "tree.tar.gz")
    first = load_dataset(archive, cache_dir=cache_dir)
    refuse_to_decode(monkeypatch)
    second = load_dataset(archive, cache_dir=cache_dir)
    assert second.notes == first.notes and len(second.notes) == 1
    np.testing.assert_array_equal(second.x_train, first.x_train)


def touch_later(path):
    """Move the modification time on, as a later edit would (two writes within one clock tick can share one)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_a_changed_folder_is_decoded_again(tree, cache_dir):
    load_dataset(tree, cache_dir=cache_dir)
    Image.fromarray(pattern_image(2, 9)).save(tree / "train" / "cat" / "0003.png")
    touch_later(tree / "train" / "cat" / "0003.png")
    dataset = load_dataset(tree, cache_dir=cache_dir)
    np.testing.assert_array_equal(dataset.x_train[3], pattern_image(2, 9))
    assert len(cache_files(cache_dir)) == 1  # replaced, not piled up


def test_a_file_replaced_by_one_of_the_same_size_is_decoded_again(tmp_path, cache_dir):
    folder = write_official_batches(tmp_path / "official")
    check_official(load_dataset(folder, cache_dir=cache_dir))
    first, second = folder / "data_batch_1", folder / "data_batch_2"
    assert first.stat().st_size == second.stat().st_size  # only the modification time tells them apart
    first.write_bytes(second.read_bytes())
    touch_later(first)
    dataset = load_dataset(folder, cache_dir=cache_dir)
    np.testing.assert_array_equal(dataset.x_train[0], pattern_image(1, 100))  # data_batch_2's first image


def test_a_changed_archive_is_decoded_again(tree, tmp_path, cache_dir):
    archive = make_tar(tree, tmp_path / "data.tar.gz")
    assert load_dataset(archive, cache_dir=cache_dir).class_names == CLASSES
    other = write_image_folder(tmp_path / "other", ("ant", "bee"), n_train=1, n_test=1)
    make_tar(other, archive)
    dataset = load_dataset(archive, cache_dir=cache_dir)
    assert dataset.class_names == ("ant", "bee") and len(dataset.x_train) == 2
    assert len(cache_files(cache_dir)) == 1


def test_a_corrupt_cache_file_is_rebuilt(tree, cache_dir, monkeypatch):
    load_dataset(tree, cache_dir=cache_dir)
    [cached] = cache_files(cache_dir)
    cached.write_bytes(cached.read_bytes()[:5000])  # cut short, like a crash mid-write by some other tool
    decoded = []
    original = image_folder.decode
    monkeypatch.setattr(image_folder, "decode", lambda file: decoded.append(file) or original(file))
    assert_is_the_tree(load_dataset(tree, cache_dir=cache_dir))
    assert len(decoded) == 18
    assert cache_files(cache_dir) == [cached] and cached.stat().st_size > 5000


def test_a_failed_load_writes_nothing_to_the_cache(tree, cache_dir):
    (tree / "test" / "dog" / "0000.png").write_bytes(b"broken")
    with pytest.raises(DataError):
        load_dataset(tree, cache_dir=cache_dir)
    assert cache_files(cache_dir) == []


def test_an_unwritable_cache_costs_a_note_not_the_load(tree, tmp_path):
    not_a_folder = tmp_path / "cache-is-a-file"
    not_a_folder.write_text("")
    dataset = load_dataset(tree, cache_dir=not_a_folder)
    assert dataset.x_train.shape == (12, 32, 32, 3)
    assert len(dataset.notes) == 1 and dataset.notes[0].startswith("Could not write the cache file")


def test_progress_is_reported(tree, tmp_path, cache_dir):
    for source in (tree, make_tar(tree, tmp_path / "tree.tar.gz")):
        seen = []
        load_dataset(source, cache_dir=cache_dir, progress=lambda fraction, message, seen=seen: seen.append((fraction, message)))
        fractions = [fraction for fraction, _ in seen]
        assert len(seen) >= 2 and fractions[-1] == 1.0 and fractions == sorted(fractions)
        assert all(0 <= fraction <= 1 and message for fraction, message in seen)


def test_tar_members_are_read_in_one_pass(tree, tmp_path, cache_dir, monkeypatch):
    """A .tar.gz read out of order decompresses again and again; make sure members are read in order."""
    archive = make_tar(tree, tmp_path / "tree.tar.gz")
    positions = []
    original = tarfile.TarFile.extractfile

    def recording(self, member):
        positions.append(member.offset)
        return original(self, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", recording)
    load_dataset(archive, cache_dir=cache_dir)
    assert positions == sorted(positions) and len(positions) == 18


def rewrite_cache(cache_file, **changes):
    """Change arrays in a cache file and keep its fingerprint, as damage or tampering would."""
    with np.load(cache_file, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays.update(changes)
    with open(cache_file, "wb") as stream:
        np.savez(stream, **arrays)


@pytest.mark.parametrize("changes", [
    {"y_train": np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 7])},  # class 7 of 3
    {"y_test": np.array([0, 0, 1, 1, 2, -1])},
    {"class_names": np.array(["cat", "do\u202eg", "frog"])},
    {"class_names": np.array(["cat", "", "frog"])},
])
def test_a_cache_file_with_labels_or_names_the_source_would_refuse_is_decoded_again(tree, cache_dir, changes):
    load_dataset(tree, cache_dir=cache_dir)
    [cached] = cache_files(cache_dir)
    rewrite_cache(cached, **changes)
    assert_is_the_tree(load_dataset(tree, cache_dir=cache_dir))


@pytest.mark.parametrize("empty", ["no rows", "no bytes"])
def test_an_empty_test_batch_says_the_test_set_is_empty(tmp_path, empty):
    folder = write_official_batches(tmp_path, n_per_batch=4)
    if empty == "no rows":
        batch = {b"batch_label": b"test", b"labels": [], b"data": np.zeros((0, 3072), np.uint8), b"filenames": []}
        (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    else:
        (folder / "test_batch").write_bytes(b"")
    with pytest.raises(DataError) as error:
        load_dataset(folder, cache_dir=tmp_path / "cache")
    message = str(error.value)
    assert "test_batch" in message and ("test set is empty" in message or "empty file" in message)
    assert "unpickl" not in message.lower() and "asks to run" not in message and "EOFError" not in message
