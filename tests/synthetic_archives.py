"""Archive bombs: a zip or tar.gz of about 1 KB per MB of zeros it unpacks to, built in well under a second.

Compressing gigabytes of zeros would take a test many seconds; instead one MB of zeros is compressed once,
ending in a full flush (a byte-aligned point after which nothing refers back), and that piece is repeated:
still one valid deflate stream. The checksums are right too, so that only a size limit can stop the archive.
"""

from __future__ import annotations

import struct
import tarfile
import time
import zlib
from pathlib import Path

MB = 1024 * 1024
_ZEROS = bytes(MB)


def write_zip_bomb(destination: Path, member: str, megabytes: int) -> Path:
    """A zip whose one member, `member`, is deflated and unpacks to `megabytes` MB of zeros."""
    data, crc, size = _deflated(b"", megabytes, b"")
    name = member.encode()
    assert size < 2**32, "no zip64 fields written here"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data), size, len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    destination.write_bytes(local + data + central + end)
    return destination


def write_tar_gz_bomb(destination: Path, member: str, megabytes: int) -> Path:
    """A .tar.gz whose one member, `member`, is `megabytes` MB of zeros."""
    info = tarfile.TarInfo(member)
    info.size, info.mtime = megabytes * MB, int(time.time())
    # The member's header, its zeros (whole 512-byte blocks: no padding), then the end-of-archive blocks.
    data, crc, size = _deflated(info.tobuf(format=tarfile.GNU_FORMAT), megabytes, bytes(tarfile.RECORDSIZE))
    gzip_header = b"\x1f\x8b\x08\x00" + struct.pack("<I", info.mtime) + b"\x02\xff"
    destination.write_bytes(gzip_header + data + struct.pack("<II", crc, size % 2**32))
    return destination


def _deflated(prefix: bytes, megabytes: int, suffix: bytes) -> tuple[bytes, int, int]:
    """Raw deflate data of `prefix`, `megabytes` MB of zeros and `suffix`; with the CRC-32 and size of what it unpacks to."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    piece = compressor.compress(_ZEROS) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(suffix) + compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    for _ in range(megabytes):
        crc = zlib.crc32(_ZEROS, crc)
    crc = zlib.crc32(suffix, crc)
    return head + piece * megabytes + tail, crc, len(prefix) + megabytes * MB + len(suffix)
