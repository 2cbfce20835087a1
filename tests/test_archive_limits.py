"""Hostile archives: what a few MB can unpack to is bounded, and what cannot be read is named, not dumped."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from synthetic_archives import write_tar_gz_bomb, write_zip_bomb
from synthetic_data import make_tar, make_zip, write_image_folder

from cifar_cnn.data import DataError, UnpackLimits, load_dataset
from cifar_cnn.data.archive import MAX_MEMBER_ENV, MAX_UNPACKED_ENV, read_archive

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LIMIT_VARIABLES = (MAX_MEMBER_ENV, MAX_UNPACKED_ENV)


@pytest.fixture(autouse=True)
def default_limits(monkeypatch):
    for variable in LIMIT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def tree(tmp_path):
    return write_image_folder(tmp_path / "tree", ("cat", "dog", "frog"), n_train=4, n_test=2)


def pack(kind: str, folder: Path, destination: Path) -> Path:
    return make_zip(folder, destination.with_suffix(".zip")) if kind == "zip" else make_tar(folder, destination.with_suffix(".tar.gz"))


def bomb(kind: str, folder: Path, member: str, megabytes: int) -> Path:
    if kind == "zip":
        return write_zip_bomb(folder / "bomb.zip", member, megabytes)
    return write_tar_gz_bomb(folder / "bomb.tar.gz", member, megabytes)


# Peak memory is a whole process', so the load runs in a child of its own. It reports VmHWM, the peak of its
# own memory: getrusage's ru_maxrss would carry over the peak of the test runner it was forked from (700 MB
# once TensorFlow is imported), as Linux keeps it across exec.
PEAK_MEMORY = """
import re, sys
from cifar_cnn.data import DataError, load_dataset
try:
    load_dataset(sys.argv[1], cache_dir=sys.argv[2])
    print("loaded")
except DataError as error:
    print(f"DataError: {error}")
with open("/proc/self/status") as status:
    print(int(re.search(r"VmHWM:\\s*(\\d+) kB", status.read()).group(1)) // 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from Linux's /proc/self/status")
@pytest.mark.parametrize("kind, member", [("zip", "bomb/train/cat/0000.png"), ("tar.gz", "cifar-10-batches-py/data_batch_1")])
def test_an_archive_unpacking_to_gigabytes_is_refused_in_bounded_memory(kind, member, tmp_path):
    archive = bomb(kind, tmp_path, member, megabytes=1536)
    assert archive.stat().st_size < 2 * 1024 * 1024
    environment = {name: value for name, value in os.environ.items() if name not in LIMIT_VARIABLES}
    done = subprocess.run([sys.executable, "-c", PEAK_MEMORY, str(archive), str(tmp_path / "cache")], check=False, capture_output=True,
                          text=True, cwd=PROJECT_ROOT, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    message, peak_mb = done.stdout.strip().splitlines()
    assert int(peak_mb) < 500, f"peak memory {peak_mb} MB: {message}"
    assert message.startswith("DataError: ") and member in message and "64 MB" in message and MAX_MEMBER_ENV in message


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_member_past_the_member_limit_is_refused_by_name(kind, tmp_path, monkeypatch):
    """Not read whole and then reported as an image that "could not be decoded", or as a MemoryError."""
    monkeypatch.setenv(MAX_MEMBER_ENV, "1")
    archive = bomb(kind, tmp_path, "data/train/cat/0000.png", megabytes=3)
    with pytest.raises(DataError) as error:
        load_dataset(archive, cache_dir=tmp_path / "cache")
    message = str(error.value)
    assert f"{archive}:data/train/cat/0000.png unpacks to more than 1 MB" in message
    assert f"{MAX_MEMBER_ENV}=2" in message  # how to raise it
    assert "decoded" not in message and "MemoryError" not in message


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_an_archive_past_the_total_limit_is_refused(kind, tree, tmp_path, monkeypatch):
    archive = pack(kind, tree, tmp_path / "tree")
    load_dataset(archive, cache_dir=tmp_path / "cache")  # within the defaults
    monkeypatch.setenv(MAX_UNPACKED_ENV, "0.02")  # 20 KB; the 18 images hold about 55 KB
    with pytest.raises(DataError) as error:
        load_dataset(archive, cache_dir=tmp_path / "other-cache")
    message = str(error.value)
    assert f"{archive} unpacks to more than 0.02 MB (reached at tree/" in message and f"{MAX_UNPACKED_ENV}=1" in message


def test_limits_as_an_argument(tree, tmp_path):
    archive = make_zip(tree, tmp_path / "tree.zip")
    assert len(read_archive(archive, lambda fraction, message: None).images) == 18
    with pytest.raises(DataError, match="tree.zip unpacks to more than 0.01 MB"):
        read_archive(archive, lambda fraction, message: None, UnpackLimits(total_mb=0.01))


def test_a_limit_that_is_not_a_number_is_refused(tree, tmp_path, monkeypatch):
    monkeypatch.setenv(MAX_MEMBER_ENV, "lots")
    with pytest.raises(DataError, match=f"{MAX_MEMBER_ENV}='lots' is not a size in megabytes"):
        load_dataset(make_zip(tree, tmp_path / "tree.zip"), cache_dir=tmp_path / "cache")


def test_a_zip_member_compressed_with_bzip2_is_refused(tree, tmp_path):
    """zipfile unpacks such a member in one call however large it grows, so no limit could stop it."""
    archive = tmp_path / "tree.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_BZIP2) as packed:
        for path in sorted(tree.rglob("*.png")):
            packed.write(path, path.relative_to(tree.parent))
    with pytest.raises(DataError, match=r"tree.zip:tree/test/cat/0000.png is compressed with method 12 \(bzip2\).*deflate"):
        load_dataset(archive, cache_dir=tmp_path / "cache")


def test_a_file_in_an_archive_that_is_no_image_is_named_without_object_reprs(tree, tmp_path):
    (tree / "train" / "dog" / "0002.png").write_bytes(b"this is a text file, not a picture\n" * 20)
    with pytest.raises(DataError) as error:
        load_dataset(make_zip(tree, tmp_path / "tree.zip"), cache_dir=tmp_path / "cache")
    message = str(error.value)
    assert f"{tmp_path / 'tree.zip'}:tree/train/dog/0002.png could not be decoded as an image" in message
    assert " object at 0x" not in message and "<_io." not in message


def test_an_image_too_large_for_memory_is_named_not_reported_as_undecodable(tree, tmp_path, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(Image, "open", out_of_memory)
    with pytest.raises(DataError) as error:
        load_dataset(make_zip(tree, tmp_path / "tree.zip"), cache_dir=tmp_path / "cache")
    message = str(error.value)
    assert f"{tmp_path / 'tree.zip'}:tree/test/cat/0000.png (" in message and "too large to decode" in message
    assert "could not be decoded" not in message
