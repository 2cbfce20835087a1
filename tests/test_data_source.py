"""The path a visitor types: one decoded copy per dataset however the path is spelled, a bounded number of
them in memory, and paths the system refuses answered with a message (CLI, core and sidebar), not a traceback."""

import os
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from synthetic_data import make_tar, write_image_folder

from cifar_cnn.cli import main
from cifar_cnn.data import DataError, load_dataset, source_key
from cifar_cnn.ui import resources

APP = str(Path(__file__).resolve().parent.parent / "overview.py")
TOO_LONG = "/tmp/" + "a" * 5000
NAME_TOO_LONG = "/tmp/" + "b" * 300 + "/data"  # a 300-byte folder name, in a path of ordinary length


@pytest.fixture
def tree(tmp_path):
    return write_image_folder(tmp_path / "data" / "x", ("cat", "dog"), n_train=2, n_test=1)


@pytest.fixture
def app_resources(tmp_path, monkeypatch):
    """The app's process-wide caches emptied, its artifacts in `tmp_path`, and every call of the core loader counted."""
    monkeypatch.setenv("CIFAR_CNN_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.delenv("CIFAR10_DATA", raising=False)
    loads = []
    original = resources.load_dataset

    def counting(source, **kwargs):
        loads.append(source)
        return original(source, **kwargs)

    monkeypatch.setattr(resources, "load_dataset", counting)
    st.cache_resource.clear()
    yield loads
    st.cache_resource.clear()


def spellings(path: Path) -> list[str]:
    parent, name = str(path.parent), path.name
    return [f"{parent}/{name}", f"{parent}/{name}/", f"{parent}//{name}", f"{parent}/./{name}", f"{parent}/../{path.parent.name}/{name}"]


def test_every_spelling_of_a_path_has_one_source_key(tree, tmp_path):
    (tmp_path / "link").symlink_to(tree)
    keys = {source_key(spelling) for spelling in [*spellings(tree), str(tmp_path / "link")]}
    assert len(keys) == 1


def test_a_changed_archive_gets_another_source_key(tree, tmp_path):
    archive = make_tar(tree, tmp_path / "x.tar")
    before = source_key(archive)
    make_tar(write_image_folder(tmp_path / "other", ("ant", "bee"), n_train=1, n_test=1), archive)
    stat = archive.stat()
    os.utime(archive, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # a later edit, in case both fell in one clock tick
    assert source_key(archive) != before


def test_the_app_decodes_a_dataset_once_whatever_the_spelling_of_its_path(tree, app_resources):
    datasets = [resources.load_dataset_with_progress(spelling) for spelling in spellings(tree)]
    assert len(app_resources) == 1, app_resources
    assert all(dataset is datasets[0] for dataset in datasets)


def test_the_app_keeps_the_two_datasets_used_last(tmp_path, app_resources):
    a, b, c = (write_image_folder(tmp_path / name, ("cat", "dog"), n_train=1, n_test=1) for name in "abc")
    for path in (a, b, a, c):  # a was used after b: b goes when c comes
        resources.load_dataset_with_progress(str(path))
    assert app_resources == [str(a), str(b), str(c)]
    resources.load_dataset_with_progress(str(a))
    resources.load_dataset_with_progress(str(b))
    assert app_resources == [str(a), str(b), str(c), str(b)]


@pytest.mark.parametrize("path", [TOO_LONG, NAME_TOO_LONG])
def test_a_path_too_long_for_the_system_is_a_data_error(path, tmp_path):
    with pytest.raises(DataError, match="is too long for this system") as error:
        load_dataset(path, cache_dir=tmp_path / "cache")
    assert len(str(error.value)) < 500  # the path is shortened, not repeated in full


def test_a_path_too_long_for_the_system_on_the_command_line(tmp_path, capsys):
    code = main(["train", "--data", TOO_LONG, "--epochs", "1", "--artifacts", str(tmp_path)])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: The path /tmp/aaa") and "too long" in lines[0] and len(lines[0]) < 500
    assert "Traceback" not in captured.err + captured.out


def test_a_path_too_long_for_the_system_in_the_sidebar(tree, app_resources, monkeypatch):
    monkeypatch.setenv("CIFAR10_DATA", str(tree))
    app = AppTest.from_file(APP, default_timeout=90)
    app.run()
    assert not app.exception, app.exception
    app.text_input(key="data_path").set_value(TOO_LONG).run()
    assert not app.exception, app.exception
    assert any("is too long for this system" in error.value for error in app.error), [error.value for error in app.error]
