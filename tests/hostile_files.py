"""Hostile files built in the test: archives whose parts swell or lie about their size, pages too large to
render, pages of tiny tags. The adversarial benchmark builds the same files at full size."""

from __future__ import annotations

import io
import random
import struct
import zipfile

from PIL import Image

FILLER = b"<p>x</p>"  # the smallest element: a parser builds a node of ~100 bytes for each 8 bytes of it
_BLOCK = 2**20


def swollen_archive(
    data: bytes, part_suffix: str, unpacked_bytes: int, filler: bytes = FILLER, before: bytes = b"</"
) -> bytes:
    """The ZIP archive ``data`` (a docx, pptx, odt or epub) with ``unpacked_bytes`` of ``filler`` put
    before the last ``before`` (the closing tag of the root) of its first part whose name ends with
    ``part_suffix``; each part deflated."""
    source = zipfile.ZipFile(io.BytesIO(data))
    target = source_part(source, part_suffix)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for member in source.infolist():
            content = source.read(member)
            if member.filename != target:
                out.writestr(member, content, compress_type=zipfile.ZIP_DEFLATED)
                continue
            close = content.rindex(before)
            with out.open(member.filename, "w", force_zip64=True) as part:
                part.write(content[:close])
                block = filler * (_BLOCK // len(filler))
                for _ in range(unpacked_bytes // len(block)):
                    part.write(block)
                part.write(content[close:])
    return buffer.getvalue()


def lying_archive(data: bytes, part_suffix: str, unpacked_bytes: int, compression: int) -> bytes:
    """The ZIP archive ``data`` whose part ending in ``part_suffix`` holds ``unpacked_bytes`` of spaces
    packed by ``compression`` (``zipfile.ZIP_BZIP2`` or ``ZIP_LZMA``), while the archive declares
    that it unpacks to 1,000 bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    target = source_part(source, part_suffix)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for member in source.infolist():
            if member.filename != target:
                out.writestr(member.filename, source.read(member), compress_type=zipfile.ZIP_DEFLATED)
                continue
            info = zipfile.ZipInfo(member.filename)
            info.compress_type = compression
            with out.open(info, "w", force_zip64=unpacked_bytes >= 2**31) as part:
                block = b" " * _BLOCK
                for _ in range(unpacked_bytes // _BLOCK):
                    part.write(block)
    return declared_size(buffer.getvalue(), target, 1000)


def declared_size(data: bytes, name: str, size: int) -> bytes:
    """``data`` with the unpacked size of the part ``name`` declared as ``size``, in its local header
    and in the central directory (a ZIP64 extra field, if any, is left as it is)."""
    out = bytearray(data)
    archive = zipfile.ZipFile(io.BytesIO(data))
    member = archive.getinfo(name)
    struct.pack_into("<L", out, member.header_offset + 22, size)
    position = out.index(b"PK\x01\x02")
    while out[position : position + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack_from("<3H", out, position + 28)
        if out[position + 46 : position + 46 + name_length] == name.encode():
            struct.pack_into("<L", out, position + 24, size)
            _patch_zip64(out, position + 46 + name_length, extra_length, size)
        position += 46 + name_length + extra_length + comment_length
    _patch_zip64(out, member.header_offset + 30 + len(name.encode()), len(member.extra), size)
    return bytes(out)


def _patch_zip64(out: bytearray, start: int, length: int, size: int) -> None:
    """Declare ``size`` in a ZIP64 extra field among the extra fields at ``start``."""
    end = start + length
    while start + 4 <= end:
        kind, field_length = struct.unpack_from("<2H", out, start)
        if kind == 1 and field_length >= 8:
            struct.pack_into("<Q", out, start + 4, size)
        start += 4 + field_length


def source_part(archive: zipfile.ZipFile, part_suffix: str) -> str:
    return next(name for name in archive.namelist() if name.endswith(part_suffix))


def large_page_pdf(points: float) -> bytes:
    """A PDF of one ``points`` by ``points`` page that holds only a small image: a scan to be read by OCR."""
    image = Image.new("L", (64, 64), color=255)
    buffer = io.BytesIO()
    image.save(buffer, "PDF", resolution=64 * 72 / points)
    return buffer.getvalue()


def noise_page_pdf(points: float, pixels: int = 400) -> bytes:
    """A PDF of one ``points``-square page of black and white noise: seconds of Tesseract per page."""
    chooser = random.Random(1)
    image = Image.frombytes("L", (pixels, pixels), bytes(chooser.choice((0, 255)) for _ in range(pixels * pixels)))
    buffer = io.BytesIO()
    image.save(buffer, "PDF", resolution=pixels * 72 / points)
    return buffer.getvalue()


def tiny_tags_html(size: int) -> bytes:
    """An HTML page of ``size`` bytes of tiny tags."""
    return b"<html><body>" + b"<b>x</b>" * (size // 8) + b"</body></html>"
