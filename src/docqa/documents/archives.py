"""What a ZIP archive (an Office file, an e-book) unpacks to, measured by unpacking it, not by what it declares.

An archive's directory says how large each part is once unpacked, and a crafted one says little
where a part unpacks to gigabytes. Python's ``zipfile`` cuts a part at its declared size, but it
hands a bzip2 or LZMA decompressor each block of packed bytes whole, and one block of those can
unpack to gigabytes before anything is cut. So each part is streamed here through its own
decompressor, a block of output at a time, and the count stops as soon as the part passes its
declared size or the archive its limit: the check costs the time to unpack what the limit allows,
and never more memory than a block.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zipfile
import zlib
from collections.abc import Iterator

_BLOCK = 2**16  # packed bytes fed, and unpacked bytes taken, at a time
_LOCAL_HEADER = b"PK\x03\x04"
_LOCAL_HEADER_BYTES = 30
_ENCRYPTED = 0x1
_FAILURES = (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError, struct.error)


def unpacking_problem(data: bytes, archive: zipfile.ZipFile, limit: int) -> str | None:
    """Why the parts of ``archive`` (opened on ``data``) must not be unpacked, or None: a part unpacks
    to more than it declares, or all of them to more than ``limit`` bytes. Raises ``zipfile.BadZipFile``
    for a part that cannot be unpacked."""
    left = limit
    for member in archive.infolist():
        cap = min(left, member.file_size) + 1  # one byte past the smaller bound is enough to know
        unpacked = _unpacked_bytes(data, member, cap)
        if unpacked > member.file_size:
            return f"its part {member.filename} unpacks to more than the {member.file_size:,} bytes it declares"
        left -= unpacked
        if left < 0:
            return f"its parts unpack to more than {limit // 2**20} MB"
    return None


def _unpacked_bytes(data: bytes, member: zipfile.ZipInfo, cap: int) -> int:
    """How many bytes ``member`` unpacks to, counted up to ``cap`` at most."""
    packed = _packed(data, member)
    try:
        if member.compress_type == zipfile.ZIP_STORED:
            return min(len(packed), cap)
        if member.compress_type == zipfile.ZIP_DEFLATED:
            return _inflated_bytes(packed, cap)
        if member.compress_type == zipfile.ZIP_BZIP2:
            return _streamed_bytes(bz2.BZ2Decompressor(), _blocks(packed), cap)
        if member.compress_type == zipfile.ZIP_LZMA:
            # As zipfile writes it: version (2 bytes), size of the properties (2), properties, raw LZMA1.
            (size,) = struct.unpack("<H", packed[2:4])
            filters = [lzma._decode_filter_properties(lzma.FILTER_LZMA1, bytes(packed[4 : 4 + size]))]  # type: ignore[attr-defined]
            decompressor = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters)
            return _streamed_bytes(decompressor, _blocks(packed[4 + size :]), cap)
    except _FAILURES as error:
        raise zipfile.BadZipFile(f"part {member.filename} cannot be unpacked ({error})") from error
    raise zipfile.BadZipFile(f"part {member.filename} uses compression method {member.compress_type}")


def _packed(data: bytes, member: zipfile.ZipInfo) -> memoryview:
    """The packed bytes of ``member``, found through its local header."""
    if member.flag_bits & _ENCRYPTED:
        raise zipfile.BadZipFile(f"part {member.filename} is encrypted")
    start = member.header_offset
    header = data[start : start + _LOCAL_HEADER_BYTES]
    if len(header) < _LOCAL_HEADER_BYTES or header[:4] != _LOCAL_HEADER:
        raise zipfile.BadZipFile(f"bad local header for part {member.filename}")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start += _LOCAL_HEADER_BYTES + name_length + extra_length
    return memoryview(data)[start : start + member.compress_size]


def _blocks(packed: memoryview) -> Iterator[bytes]:
    for start in range(0, len(packed), _BLOCK):
        yield bytes(packed[start : start + _BLOCK])


def _inflated_bytes(packed: memoryview, cap: int) -> int:
    decompressor = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as in ZIP archives
    count = 0
    for block in _blocks(packed):
        pending = block
        while pending and count < cap:
            count += len(decompressor.decompress(pending, _BLOCK))
            pending = decompressor.unconsumed_tail
        if count >= cap or decompressor.eof:
            return count
    return count + len(decompressor.flush())


def _streamed_bytes(
    decompressor: bz2.BZ2Decompressor | lzma.LZMADecompressor, blocks: Iterator[bytes], cap: int
) -> int:
    """Bytes unpacked by a bzip2 or LZMA ``decompressor`` from ``blocks``, up to ``cap``."""
    count = 0
    for block in blocks:
        count += len(decompressor.decompress(block, _BLOCK))
        while count < cap and not decompressor.eof and not decompressor.needs_input:
            count += len(decompressor.decompress(b"", _BLOCK))
        if count >= cap or decompressor.eof:
            break
    return count
